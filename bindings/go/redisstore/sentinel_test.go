package redisstore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
	"github.com/cotter-sdk/cotter/bindings/go/redisstore"
	"github.com/redis/go-redis/v9"
)

// A failover client (Sentinel) is a redis.UniversalClient too: two replicas share a session through it, one
// refresh grant per expiry. The sentinel (redis-server --sentinel) watches a master started here.
func TestSentinelFailoverClient(t *testing.T) {
	e := startEmulator(t)
	dir := t.TempDir()
	master := freePort(t)
	m := startRedis(t, dir, "--port", strconv.Itoa(master), "--logfile", filepath.Join(dir, "master.log"))
	m.port = master
	waitPing(t, m.admin())
	sentinel := freePort(t)
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\nsentinel monitor cotter 127.0.0.1 %d 1\n",
		sentinel, dir, filepath.Join(dir, "sentinel.log"), master)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The config file comes first (and must be writable: a sentinel rewrites it).
	cmd := exec.Command("redis-server", conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup((&redisServer{cmd: cmd}).kill)
	sc := redis.NewSentinelClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(sentinel)})
	defer sc.Close()
	giveUp := time.Now().Add(time.Minute) // a hang guard
	for {
		if addr, err := sc.GetMasterAddrByName(context.Background(), "cotter").Result(); err == nil && len(addr) == 2 {
			break
		}
		if time.Now().After(giveUp) {
			t.Fatal("the sentinel never named the master")
		}
		time.Sleep(20 * time.Millisecond)
	}

	var clock devClock
	var sessions []*cotter.Session
	tok := e.loginToken("sentinel@example.com")
	for i := 0; i < 2; i++ {
		rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "cotter", SentinelAddrs: []string{"127.0.0.1:" + strconv.Itoa(sentinel)}})
		t.Cleanup(func() { _ = rdb.Close() })
		st, err := cotter.NewSharedStore(redisstore.New(rdb), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		c := newClient(t, e.info.BaseURL, e.info.WorkerURL, e.info.APIKeyID, e.info.APISecretKey)
		initial := tok
		if i > 0 {
			initial = nil // the second replica loads what the first stored
		}
		sessions = append(sessions, newSession(t, c, st, "sentinel", &clock, initial))
	}
	before, _ := e.grants()
	clock.advance(e, 7200)
	var got []string
	for _, s := range sessions {
		at, err := s.AccessToken(context.Background())
		if err != nil || !isJWT(at) {
			t.Fatalf("through the failover client: %v", err)
		}
		got = append(got, at)
	}
	after, revoked := e.grants()
	if got[0] != got[1] || after-before != 1 || revoked != 0 {
		t.Fatalf("same token %v, %d grants (want 1), %d revoked", got[0] == got[1], after-before, revoked)
	}
	admin := m.admin()
	defer admin.Close()
	if keys, _ := admin.Exists(context.Background(), "cotter:{sentinel}:tokens").Result(); keys != 1 {
		t.Fatal("the tokens are not on the master the sentinel names")
	}
}

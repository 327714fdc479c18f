package cotter_test

// The shared store's Go layer against a real redis-server (started here, over a Unix socket in a temp dir): the
// library's hiredis adapter, a Go adapter (a few lines of RESP over the socket: this module does not depend on
// go-redis; bindings/go/redisstore tests the go-redis adapter, clusters and several processes), option errors,
// lifetimes in any order, and what an adapter's failure becomes.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// startRedis runs redis-server on a Unix socket only (no TCP port) and SIGKILLs it at cleanup.
func startRedis(t *testing.T) (sock string, kill func()) {
	t.Helper()
	dir := t.TempDir()
	sock = filepath.Join(dir, "redis.sock")
	cmd := exec.Command("redis-server", "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start redis-server: %v", err)
	}
	kill = func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	giveUp := time.Now().Add(time.Minute) // a hang guard, not a timing
	for {
		if reply, err := resp(sock, "PING"); err == nil && string(reply[0]) == "PONG" {
			return sock, kill
		}
		if time.Now().After(giveUp) {
			t.Fatal("redis-server did not answer PING")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// resp sends one command on a new connection and reads its reply: an array of bulk strings and integers, or one
// of them, flattened; an error reply becomes an error.
func resp(sock string, args ...string) ([][]byte, error) {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	n := 1
	if line[0] == '*' {
		n, _ = strconv.Atoi(line[1:])
		line = ""
	}
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		if line == "" {
			if line, err = r.ReadString('\n'); err != nil {
				return nil, err
			}
			line = strings.TrimSuffix(line, "\r\n")
		}
		switch line[0] {
		case '-':
			return nil, errors.New(line[1:])
		case '+', ':':
			out = append(out, []byte(line[1:]))
		case '$':
			size, _ := strconv.Atoi(line[1:])
			buf := make([]byte, size+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, err
			}
			out = append(out, buf[:size])
		default:
			return nil, fmt.Errorf("unexpected reply %q", line)
		}
		line = ""
	}
	return out, nil
}

// respAdapter is a SharedStoreAdapter over resp: EVALSHA, on NOSCRIPT EVAL. It counts its evals.
type respAdapter struct {
	sock  string
	evals *atomic.Int64
}

func (a respAdapter) Eval(script, sha1 string, keys, args []string) ([][]byte, error) {
	a.evals.Add(1)
	argv := append(append([]string{"EVALSHA", sha1, strconv.Itoa(len(keys))}, keys...), args...)
	reply, err := resp(a.sock, argv...)
	if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
		argv[0], argv[1] = "EVAL", script
		reply, err = resp(a.sock, argv...)
	}
	return reply, err
}

// sharedClock follows the emulator's dev clock (real time plus the offset the test advanced).
type sharedClock struct{ offset atomic.Int64 }

func (c *sharedClock) now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()) * time.Second)
}

func (c *sharedClock) advance(e *emulator, seconds int64) {
	e.dev("POST", "/clock", map[string]any{"advance_seconds": seconds})
	c.offset.Add(seconds)
}

func refreshGrants(e *emulator) int {
	n, _ := e.dev("GET", "/stats", nil)["handled"].(map[string]any)[refreshRoute].(float64)
	return int(n)
}

func sharedSession(t *testing.T, c *cotter.Client, st *cotter.SharedStore, id string, clock *sharedClock, initial *cotter.Token) *cotter.Session {
	t.Helper()
	s, err := cotter.NewSession(c, cotter.SessionOptions{SharedStore: st, SharedSessionID: id, Clock: clock.now}, initial)
	if err != nil {
		t.Fatalf("session %s: %v", id, err)
	}
	return s
}

// Two clients (two replicas) share a session through each kind of store: one refresh per expiry, the other
// replica adopts it; the Go adapter's store releases its registry entry once the store and its sessions are
// closed, whichever closes first.
func TestSharedStoreReplicas(t *testing.T) {
	e := startEmulator(t)
	sock, _ := startRedis(t)
	var evals atomic.Int64
	var clock sharedClock // one for every subtest: the emulator's clock keeps its offset
	stores := map[string]func() (*cotter.SharedStore, error){
		"hiredis": func() (*cotter.SharedStore, error) {
			return cotter.NewHiredisStore(&cotter.HiredisOptions{UnixSocket: sock, ConnectTimeout: 5 * time.Second,
				CommandTimeout: 10 * time.Second}, &cotter.SharedStoreOptions{KeyPrefix: "hiredis", LeaseTTL: 20 * time.Second, Wait: 50 * time.Millisecond})
		},
		"go adapter": func() (*cotter.SharedStore, error) {
			return cotter.NewSharedStore(respAdapter{sock, &evals}, &cotter.SharedStoreOptions{KeyPrefix: "go"})
		},
	}
	for name, newStore := range stores {
		for _, storeFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/store closed first=%v", name, storeFirst), func(t *testing.T) {
				registered := cotter.RegisteredCallbacks()
				a, b := e.client(t), e.client(t)
				st1, err := newStore()
				if err != nil {
					t.Fatal(err)
				}
				st2, err := newStore()
				if err != nil {
					t.Fatal(err)
				}
				id := fmt.Sprintf("replicas-%d", time.Now().UnixNano())
				s1 := sharedSession(t, a, st1, id, &clock, e.loginToken(t, id+"@example.com"))
				s2 := sharedSession(t, b, st2, id, &clock, nil) // loads what replica 1 stored
				if storeFirst {
					_ = st1.Close()
					_ = st2.Close()
				}
				t1, err1 := s1.AccessToken(context.Background())
				t2, err2 := s2.AccessToken(context.Background())
				if err1 != nil || err2 != nil || t1 != t2 {
					t.Fatalf("before expiry: %v %v, same token %v", err1, err2, t1 == t2)
				}
				before := refreshGrants(e)
				clock.advance(e, 7200)
				n1, err1 := s1.AccessToken(context.Background())
				n2, err2 := s2.AccessToken(context.Background())
				if err1 != nil || err2 != nil || n1 != n2 || n1 == t1 {
					t.Fatalf("after expiry: %v %v, same token %v, new %v", err1, err2, n1 == n2, n1 != t1)
				}
				if got := refreshGrants(e) - before; got != 1 {
					t.Fatalf("%d refresh grants for one shared session, want 1", got)
				}
				_ = s1.Close()
				_ = s2.Close()
				if !storeFirst {
					_ = st1.Close()
					_ = st2.Close()
				}
				// The library releases both adapters once the last use is gone, on whichever thread drops it (the
				// I/O thread may still hold a finished operation for a moment): poll, with a hang guard only.
				for giveUp := time.Now().Add(time.Minute); cotter.RegisteredCallbacks() != registered; time.Sleep(time.Millisecond) {
					if time.Now().After(giveUp) {
						t.Fatalf("%d registered callbacks after closing everything, want %d", cotter.RegisteredCallbacks(), registered)
					}
				}
			})
		}
	}
	if evals.Load() == 0 {
		t.Fatal("the Go adapter never ran")
	}
}

func TestSharedStoreOptionErrors(t *testing.T) {
	e := startEmulator(t)
	c := e.client(t)
	var evals atomic.Int64
	adapter := respAdapter{"/nonexistent", &evals}
	bad := map[string]*cotter.SharedStoreOptions{
		"lease too short": {LeaseTTL: 50 * time.Millisecond},
		"lease too long":  {LeaseTTL: time.Hour},
		"negative lease":  {LeaseTTL: -time.Second},
		"sub-millisecond": {LeaseTTL: time.Microsecond},
		"wait too long":   {Wait: time.Minute},
		"prefix with {":   {KeyPrefix: "a{b"},
		"prefix with NUL": {KeyPrefix: "a\x00b"},
	}
	for name, o := range bad {
		_, err := cotter.NewSharedStore(adapter, o)
		wantCode(t, err, cotter.ErrInvalid)
		_, err = cotter.NewHiredisStore(nil, o)
		wantCode(t, err, cotter.ErrInvalid)
		_ = name
	}
	_, err := cotter.NewSharedStore(nil, nil)
	wantCode(t, err, cotter.ErrInvalid)
	for _, r := range []*cotter.HiredisOptions{{Port: 70000}, {Port: 1 << 40}, {Port: -1}, {ConnectTimeout: time.Hour},
		{CommandTimeout: -time.Second}, {Password: "a\x00b"}} {
		_, err := cotter.NewHiredisStore(r, nil)
		wantCode(t, err, cotter.ErrInvalid)
	}
	if evals.Load() != 0 {
		t.Fatal("creating stores contacted Redis")
	}
	st, err := cotter.NewSharedStore(adapter, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A shared store needs an id, a valid one, and excludes a token file.
	for _, o := range []cotter.SessionOptions{{SharedStore: st}, {SharedStore: st, SharedSessionID: "a}b"},
		{SharedStore: st, SharedSessionID: "x", TokenFile: filepath.Join(t.TempDir(), "tokens.json")}} {
		_, err := cotter.NewSession(c, o, nil)
		wantCode(t, err, cotter.ErrInvalid)
	}
	_ = st.Close()
	_ = st.Close() // twice is fine
	_, err = cotter.NewSession(c, cotter.SessionOptions{SharedStore: st, SharedSessionID: "x"}, nil)
	wantCode(t, err, cotter.ErrInvalid)
}

// failingAdapter wraps a real one and fails in the way asked.
type failingAdapter struct {
	respAdapter
	mode string
}

func (a failingAdapter) Eval(script, sha1 string, keys, args []string) ([][]byte, error) {
	switch a.mode {
	case "echo args": // a careless adapter quoting its command (tokens included) in its error
		return nil, fmt.Errorf("EVALSHA %s %v failed", sha1, args)
	case "quote args": // the same, escaped: the JSON token set's quotes become \"
		return nil, fmt.Errorf("EVALSHA %s %q failed", sha1, args)
	case "panic":
		panic("adapter bug")
	case "not an array":
		return [][]byte{[]byte("bogus")}, nil
	}
	return a.respAdapter.Eval(script, sha1, keys, args)
}

// An adapter's failure is ErrSharedUnavailable for that step, with no token in the message, and never a crash.
func TestSharedStoreAdapterFailures(t *testing.T) {
	e := startEmulator(t)
	sock, _ := startRedis(t)
	c := e.client(t)
	var evals atomic.Int64
	for _, mode := range []string{"echo args", "quote args", "panic", "not an array"} {
		t.Run(mode, func(t *testing.T) {
			st, err := cotter.NewSharedStore(failingAdapter{respAdapter{sock, &evals}, mode}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tok := e.loginToken(t, "failing@example.com")
			_, err = cotter.NewSession(c, cotter.SessionOptions{SharedStore: st, SharedSessionID: "failing"}, tok)
			if err == nil {
				t.Fatal("a session stored through a failing adapter")
			}
			wantCode(t, err, cotter.ErrSharedUnavailable)
			if leaksToken(err.Error(), tok) {
				t.Fatalf("the error message holds a piece of a token: %v", err)
			}
			t.Logf("%v", err)
		})
	}
}

// leaksToken: message holds any 24 characters of a token (a JWT's header is left out: every JWT shares it; the
// library caps a message, so a whole token never fits).
func leaksToken(message string, tok *cotter.Token) bool {
	for _, secret := range []string{tok.AccessToken(), tok.RefreshToken(), tok.IDToken()} {
		if i := strings.IndexByte(secret, '.'); i >= 0 {
			secret = secret[i+1:]
		}
		for i := 0; i+24 <= len(secret); i += 8 {
			if strings.Contains(message, secret[i:i+24]) {
				return true
			}
		}
	}
	return false
}

// The options reach the store: keys carry KeyPrefix, and the lease lives LeaseTTL, which also bounds the refresh
// (3/4 of it) of a server that holds the refresh far longer (30 s).
func TestSharedStoreOptionsApplied(t *testing.T) {
	e := startEmulator(t)
	sock, _ := startRedis(t)
	c := e.client(t)
	var evals atomic.Int64
	var clock sharedClock
	st, err := cotter.NewSharedStore(respAdapter{sock, &evals}, &cotter.SharedStoreOptions{KeyPrefix: "applied", LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := sharedSession(t, c, st, "lease", &clock, e.loginToken(t, "lease@example.com"))
	defer s.Close()
	if n, err := resp(sock, "EXISTS", "applied:{lease}:tokens"); err != nil || string(n[0]) != "1" {
		t.Fatalf("no applied:{lease}:tokens key: %q %v", n, err)
	}
	e.fault(map[string]any{"route": refreshRoute, "latency_ms": 30000})
	clock.advance(e, 7200)
	result := make(chan error, 1)
	go func() {
		_, err := s.AccessToken(context.Background())
		result <- err
	}()
	// The lease appears while the refresh is held; its TTL is the option's (the default is 10 s).
	giveUp := time.Now().Add(time.Minute) // a hang guard
	for {
		pttl, err := resp(sock, "PTTL", "applied:{lease}:lease")
		if err != nil {
			t.Fatal(err)
		}
		if ms, _ := strconv.Atoi(string(pttl[0])); ms > 0 {
			if ms > 1000 {
				t.Fatalf("the lease lives %d ms, LeaseTTL is 1 s", ms)
			}
			break
		}
		if time.Now().After(giveUp) {
			t.Fatal("no lease was taken")
		}
		time.Sleep(time.Millisecond)
	}
	err = <-result
	wantCode(t, err, cotter.ErrTimeout) // abandoned at 3/4 of the lease, long before the server answers
	if got := refreshGrants(e); got != 0 {
		t.Fatalf("%d refreshes granted", got)
	}
}

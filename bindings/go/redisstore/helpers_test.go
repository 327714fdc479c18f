package redisstore_test

// Real processes for the tests: the emulator (node), redis-server (standalone over a Unix socket in a temp dir,
// or a 3-master cluster on free TCP ports), and this test binary re-executed as a fleet replica.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
	"github.com/cotter-sdk/cotter/bindings/go/redisstore"
	"github.com/redis/go-redis/v9"
)

const refreshRoute = "POST /api/v0/token/:api_key_id"

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// ---- the emulator -----------------------------------------------------------------------------------------------

type emulator struct {
	t    testing.TB
	info struct {
		BaseURL      string `json:"base_url"`
		WorkerURL    string `json:"worker_url"`
		APIKeyID     string `json:"api_key_id"`
		APISecretKey string `json:"api_secret_key"`
		DevURL       string `json:"dev_url"`
		DevToken     string `json:"dev_token"`
	}
}

// startEmulator spawns the emulator; a shell holds it and stops it when its stdin closes (at cleanup, or when a
// crashed test binary's pipe closes).
func startEmulator(t testing.TB) *emulator {
	t.Helper()
	script := `node "$0" --port 0 "$@" </dev/null & pid=$!; trap 'kill $pid 2>/dev/null; wait $pid' EXIT; cat >/dev/null`
	cmd := exec.Command("sh", "-c", script, filepath.Join(repoRoot(), "emulator/bin/cotter-emulator.js"))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start the emulator: %v", err)
	}
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		t.Fatalf("emulator did not start: %v", err)
	}
	e := &emulator{t: t}
	if err := json.Unmarshal(line, &e.info); err != nil {
		t.Fatalf("emulator line %q: %v", line, err)
	}
	return e
}

func (e *emulator) dev(method, path string, body any) map[string]any {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.info.DevURL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Cotter-Dev-Token", e.info.DevToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("dev %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		e.t.Fatalf("dev %s %s: %d %s", method, path, resp.StatusCode, data)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		e.t.Fatalf("dev %s %s: %v", method, path, err)
	}
	return m
}

// grants is the number of refreshes the emulator handled, and the refresh families it revoked.
func (e *emulator) grants() (handled, revoked int) {
	stats := e.dev("GET", "/stats", nil)
	h, _ := stats["handled"].(map[string]any)[refreshRoute].(float64)
	r, _ := stats["refresh_families_revoked"].(float64)
	return int(h), int(r)
}

func (e *emulator) loginToken(identifier string) *cotter.Token {
	e.t.Helper()
	b, _ := json.Marshal(e.dev("POST", "/login", map[string]any{"identifier": identifier})["oauth_token"])
	tok, err := cotter.TokenFromJSON(b)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = tok.Close() })
	return tok
}

func (e *emulator) env() []string {
	return []string{"T_BASE_URL=" + e.info.BaseURL, "T_WORKER_URL=" + e.info.WorkerURL, "T_KEY=" + e.info.APIKeyID,
		"T_SECRET=" + e.info.APISecretKey}
}

func newClient(t testing.TB, base, worker, key, secret string) *cotter.Client {
	c, err := cotter.NewClient(cotter.ClientOptions{APIKeyID: key, APISecretKey: secret, BaseURL: base,
		WorkerURL: worker, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ---- the sessions' clock follows the emulator's dev clock: real time plus the offset the test advanced ---------

type devClock struct{ offset atomic.Int64 } // seconds

func (c *devClock) now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()) * time.Second)
}

// advance moves the emulator's dev clock and the sessions' clock together.
func (c *devClock) advance(e *emulator, seconds int64) {
	e.dev("POST", "/clock", map[string]any{"advance_seconds": seconds})
	c.offset.Add(seconds)
}

// ---- Redis ------------------------------------------------------------------------------------------------------

type redisServer struct {
	cmd  *exec.Cmd
	sock string // standalone: its Unix socket (no TCP port)
	port int    // cluster node: its TCP port
}

// startRedis starts redis-server (no persistence) with extra args and stops it (SIGKILL) at cleanup.
func startRedis(t testing.TB, dir string, args ...string) *redisServer {
	t.Helper()
	base := []string{"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--bind", "127.0.0.1"}
	cmd := exec.Command("redis-server", append(base, args...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start redis-server: %v", err)
	}
	r := &redisServer{cmd: cmd}
	t.Cleanup(r.kill)
	return r
}

// startStandalone: a Unix socket only, so a killed server leaves a socket file that refuses connections.
func startStandalone(t testing.TB) *redisServer {
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	r := startRedis(t, dir, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700", "--logfile", filepath.Join(dir, "redis.log"))
	r.sock = sock
	waitPing(t, r.admin())
	return r
}

func (r *redisServer) admin() *redis.Client {
	if r.sock != "" {
		return redis.NewClient(&redis.Options{Network: "unix", Addr: r.sock, ReadTimeout: 30 * time.Second})
	}
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(r.port), ReadTimeout: 30 * time.Second})
}

// kill: SIGKILL, no clean shutdown (nothing saved; a Unix socket file stays and refuses connections).
func (r *redisServer) kill() {
	if r.cmd.Process != nil && r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		_ = r.cmd.Wait()
	}
}

// waitPing polls until the server answers (a hang guard of a minute, never a timing).
func waitPing(t testing.TB, c *redis.Client) {
	t.Helper()
	defer c.Close()
	giveUp := time.Now().Add(time.Minute)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(giveUp) {
			t.Fatal("redis-server did not answer PING")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort is a TCP port nobody listens on now (the cluster's bus port is this + 10000).
func freePort(t testing.TB) int {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if port+10000 < 65536 {
			return port
		}
	}
}

// startCluster starts 3 masters (no replicas), joins them with redis-cli --cluster create and waits until every
// node says cluster_state:ok.
func startCluster(t testing.TB) []*redisServer {
	t.Helper()
	dir := t.TempDir()
	var nodes []*redisServer
	var addrs []string
	for i := 0; i < 3; i++ {
		port := freePort(t)
		p := strconv.Itoa(port)
		r := startRedis(t, dir, "--port", p, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes-"+p+".conf"),
			"--logfile", filepath.Join(dir, "redis-"+p+".log"))
		r.port = port
		waitPing(t, r.admin())
		nodes = append(nodes, r)
		addrs = append(addrs, "127.0.0.1:"+p)
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	giveUp := time.Now().Add(2 * time.Minute)
	for _, n := range nodes {
		c := n.admin()
		for {
			info, _ := c.ClusterInfo(context.Background()).Result()
			if strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(giveUp) {
				t.Fatalf("the cluster never reached cluster_state:ok: %s", info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = c.Close()
	}
	return nodes
}

// clientFor opens the go-redis client a spec names: "unix:<path>" or "cluster:<addr>,<addr>,...".
func clientFor(spec string, readTimeout time.Duration) (redis.UniversalClient, error) {
	switch {
	case strings.HasPrefix(spec, "unix:"):
		return redis.NewClient(&redis.Options{Network: "unix", Addr: strings.TrimPrefix(spec, "unix:"), ReadTimeout: readTimeout}), nil
	case strings.HasPrefix(spec, "cluster:"):
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(strings.TrimPrefix(spec, "cluster:"), ","),
			ReadTimeout: readTimeout}), nil
	}
	return nil, fmt.Errorf("unknown redis spec %q", spec)
}

func specOf(nodes []*redisServer) string {
	if len(nodes) == 1 && nodes[0].sock != "" {
		return "unix:" + nodes[0].sock
	}
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(n.port))
	}
	return "cluster:" + strings.Join(addrs, ",")
}

// scriptCalls is EVALSHA + EVAL calls summed over nodes, since their last CONFIG RESETSTAT.
func scriptCalls(t testing.TB, nodes []*redisServer) int {
	n := 0
	for _, node := range nodes {
		c := node.admin()
		info, err := c.Info(context.Background(), "commandstats").Result()
		_ = c.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\n") {
			for _, name := range []string{"cmdstat_evalsha:calls=", "cmdstat_eval:calls="} {
				if strings.HasPrefix(line, name) {
					v, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(line, name), ",", 2)[0])
					n += v
				}
			}
		}
	}
	return n
}

func resetStats(t testing.TB, nodes []*redisServer) {
	for _, node := range nodes {
		c := node.admin()
		if err := c.ConfigResetStat(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
}

// newStore is a shared store over go-redis for spec; the client closes at cleanup, after the store's users.
func newStore(t testing.TB, spec string, opts *cotter.SharedStoreOptions) *cotter.SharedStore {
	t.Helper()
	rdb, err := clientFor(spec, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := cotter.NewSharedStore(redisstore.New(rdb), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newSession(t testing.TB, c *cotter.Client, st *cotter.SharedStore, id string, clock *devClock, initial *cotter.Token) *cotter.Session {
	t.Helper()
	s, err := cotter.NewSession(c, cotter.SessionOptions{SharedStore: st, SharedSessionID: id, Clock: clock.now}, initial)
	if err != nil {
		t.Fatalf("session %s: %v", id, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// isJWT: a non-empty string with two dots.
func isJWT(s string) bool { return strings.Count(s, ".") == 2 && len(s) > 4 }

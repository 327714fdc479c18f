package redisstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
	"github.com/cotter-sdk/cotter/bindings/go/redisstore"
)

const (
	sessions   = 20 // spread over the cluster's slots by their ids
	processes  = 3
	goroutines = 4
	rounds     = 3
)

// TestMain runs this binary as a replica when the parent test asks for one (T_MODE).
func TestMain(m *testing.M) {
	switch os.Getenv("T_MODE") {
	case "replica":
		os.Exit(replicaMain())
	case "exit-in-flight":
		os.Exit(exitInFlightMain())
	case "holder":
		os.Exit(holderMain())
	case "exit-waiting":
		os.Exit(exitWaitingMain())
	}
	os.Exit(m.Run())
}

// replicaMain is one replica of the fleet: a client, a store over go-redis and the sessions fleet-0..N-1 loaded
// from the store. For each line "round <clock offset>" on stdin, `goroutines` goroutines get every session's
// access token (each starting on a different one); it answers "done <failures>".
func replicaMain() int {
	c, err := cotter.NewClient(cotter.ClientOptions{APIKeyID: os.Getenv("T_KEY"), APISecretKey: os.Getenv("T_SECRET"),
		BaseURL: os.Getenv("T_BASE_URL"), WorkerURL: os.Getenv("T_WORKER_URL"), Timeout: 30 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 2
	}
	defer c.Close()
	rdb, err := clientFor(os.Getenv("T_REDIS"), 10*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer rdb.Close()
	st, err := cotter.NewSharedStore(redisstore.New(rdb), &cotter.SharedStoreOptions{KeyPrefix: os.Getenv("T_PREFIX")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "store:", err)
		return 2
	}
	var clock devClock
	var ss []*cotter.Session
	for i := 0; i < sessions; i++ {
		s, err := cotter.NewSession(c, cotter.SessionOptions{SharedStore: st, SharedSessionID: fmt.Sprintf("fleet-%d", i), Clock: clock.now}, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "session:", err)
			return 2
		}
		defer s.Close()
		ss = append(ss, s)
	}
	_ = st.Close() // the sessions keep it
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		var offset int64
		if _, err := fmt.Sscanf(in.Text(), "round %d", &offset); err != nil {
			break
		}
		clock.offset.Store(offset)
		var wg sync.WaitGroup
		var mu sync.Mutex
		failures := 0
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < sessions; i++ {
					k := (i + g*7) % sessions
					at, err := ss[k].AccessToken(context.Background())
					if err != nil || !isJWT(at) {
						fmt.Fprintf(os.Stderr, "replica %d: session %d: %v\n", os.Getpid(), k, err)
						mu.Lock()
						failures++
						mu.Unlock()
					}
				}
			}(g)
		}
		wg.Wait()
		fmt.Printf("done %d\n", failures)
	}
	return 0
}

type replica struct {
	cmd *exec.Cmd
	to  io.WriteCloser
	out *bufio.Reader
}

func startReplica(t *testing.T, env []string) *replica {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	to, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = to.Close(); _ = cmd.Wait() })
	return &replica{cmd: cmd, to: to, out: bufio.NewReader(out)}
}

// contention seeds `sessions` sessions in the store at spec, then runs `rounds` rounds in which every session's
// access token has expired (dev clock) and `processes` replicas x `goroutines` goroutines want it at once: exactly
// one refresh grant per session per round, no family revoked. A last round on valid tokens runs 0 scripts.
func contention(t *testing.T, e *emulator, nodes []*redisServer, prefix string) {
	spec := specOf(nodes)
	var clock devClock
	c := newClient(t, e.info.BaseURL, e.info.WorkerURL, e.info.APIKeyID, e.info.APISecretKey)
	seed := newStore(t, spec, &cotter.SharedStoreOptions{KeyPrefix: prefix})
	for i := 0; i < sessions; i++ {
		newSession(t, c, seed, fmt.Sprintf("fleet-%d", i), &clock, e.loginToken(fmt.Sprintf("fleet%d@example.com", i)))
	}
	env := append(e.env(), "T_MODE=replica", "T_REDIS="+spec, "T_PREFIX="+prefix)
	var reps []*replica
	for p := 0; p < processes; p++ {
		reps = append(reps, startReplica(t, env))
	}
	for round := 0; round <= rounds; round++ {
		cached := round == rounds
		if !cached {
			clock.advance(e, 3600) // every access token (1 h) has expired
		}
		before, _ := e.grants()
		resetStats(t, nodes)
		for _, r := range reps {
			fmt.Fprintf(r.to, "round %d\n", clock.offset.Load())
		}
		for i, r := range reps {
			line, err := r.out.ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "done 0" {
				t.Fatalf("round %d: replica %d answered %q (%v)", round, i, line, err)
			}
		}
		after, revoked := e.grants()
		scripts := scriptCalls(t, nodes)
		want := sessions
		if cached {
			want = 0
		}
		if after-before != want {
			t.Errorf("round %d: %d refresh grants for %d sessions, want %d", round, after-before, sessions, want)
		}
		if revoked != 0 {
			t.Errorf("round %d: %d refresh families revoked", round, revoked)
		}
		if cached && scripts != 0 {
			t.Errorf("cached round: %d Redis scripts, want 0", scripts)
		}
		if !cached && scripts < 2*sessions {
			t.Errorf("round %d: %d Redis scripts for %d refreshes: fewer than acquire+save each", round, scripts, sessions)
		}
		t.Logf("round %d: %d grants, %d scripts", round, after-before, scripts)
	}
}

// (a) + (b): several processes and goroutines share sessions through a standalone Redis (*redis.Client).
func TestContentionStandalone(t *testing.T) {
	e := startEmulator(t)
	contention(t, e, []*redisServer{startStandalone(t)}, "standalone")
}

// (d): the same through a 3-master cluster (*redis.ClusterClient); the sessions' keys land on several masters.
func TestContentionCluster(t *testing.T) {
	e := startEmulator(t)
	nodes := startCluster(t)
	contention(t, e, nodes, "clustered")
	used := 0
	for _, n := range nodes {
		c := n.admin()
		if keys, _ := c.DBSize(context.Background()).Result(); keys > 0 {
			used++
		}
		_ = c.Close()
	}
	if used < 2 {
		t.Errorf("the sessions' keys sit on %d of 3 masters: the test did not spread them over slots", used)
	}
}

// (c): Redis down. A valid cached access token is still served (no round trip); a needed refresh fails with
// ErrSharedUnavailable (never a local refresh), whose message holds no token.
func TestRedisDown(t *testing.T) {
	e := startEmulator(t)
	r := startStandalone(t)
	var clock devClock
	c := newClient(t, e.info.BaseURL, e.info.WorkerURL, e.info.APIKeyID, e.info.APISecretKey)
	st := newStore(t, "unix:"+r.sock, nil)
	tok := e.loginToken("down@example.com")
	s := newSession(t, c, st, "down", &clock, tok)
	first, err := s.AccessToken(context.Background())
	if err != nil || !isJWT(first) {
		t.Fatalf("before: %q %v", first, err)
	}
	r.kill()
	again, err := s.AccessToken(context.Background())
	if err != nil || again != first {
		t.Fatalf("a valid cached token with Redis down: %v", err)
	}
	before, _ := e.grants()
	clock.advance(e, 3600)
	_, err = s.AccessToken(context.Background())
	if !errors.Is(err, cotter.ErrSharedUnavailable) {
		t.Fatalf("a refresh with Redis down: %v, want ErrSharedUnavailable", err)
	}
	var ce *cotter.Error
	if !errors.As(err, &ce) || ce.Name != "COTTER_ESHARED_UNAVAILABLE" {
		t.Fatalf("error %#v", err)
	}
	refresh := tok.RefreshToken()
	if strings.Contains(err.Error(), first) || (refresh != "" && strings.Contains(err.Error(), refresh)) {
		t.Fatalf("the error message holds a token: %v", err)
	}
	if after, _ := e.grants(); after != before {
		t.Fatalf("%d refreshes reached the server with Redis down", after-before)
	}
}

// exitInFlightMain: a replica whose refresh waits on a paused Redis returns from main while the eval is in
// flight; the process must exit 0 at once (no crash, no hang in the library's threads).
func exitInFlightMain() int {
	c, err := cotter.NewClient(cotter.ClientOptions{APIKeyID: os.Getenv("T_KEY"), APISecretKey: os.Getenv("T_SECRET"),
		BaseURL: os.Getenv("T_BASE_URL"), WorkerURL: os.Getenv("T_WORKER_URL")})
	if err != nil {
		return 2
	}
	rdb, err := clientFor(os.Getenv("T_REDIS"), time.Minute) // the eval stays in flight
	if err != nil {
		return 2
	}
	started := make(chan struct{}, 1)
	st, err := cotter.NewSharedStore(signalling{redisstore.New(rdb), started}, nil)
	if err != nil {
		return 2
	}
	var clock devClock
	clock.offset.Store(3600) // the stored token has expired: a call needs the store
	go func() {
		// Under CLIENT PAUSE WRITE every script waits (none is flagged no-writes), loading the session included.
		s, err := cotter.NewSession(c, cotter.SessionOptions{SharedStore: st, SharedSessionID: "exit", Clock: clock.now}, nil)
		if err == nil {
			_, _ = s.AccessToken(context.Background())
		}
	}()
	<-started
	fmt.Println("in flight")
	return 0
}

// signalling reports its first eval, then runs it.
type signalling struct {
	*redisstore.Adapter
	started chan struct{}
}

func (a signalling) Eval(script, sha1 string, keys, args []string) ([][]byte, error) {
	select {
	case a.started <- struct{}{}:
	default:
	}
	return a.Adapter.Eval(script, sha1, keys, args)
}

func TestExitWithEvalInFlight(t *testing.T) {
	e := startEmulator(t)
	r := startStandalone(t)
	var clock devClock
	c := newClient(t, e.info.BaseURL, e.info.WorkerURL, e.info.APIKeyID, e.info.APISecretKey)
	newSession(t, c, newStore(t, "unix:"+r.sock, nil), "exit", &clock, e.loginToken("exit@example.com"))
	admin := r.admin()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), e.env()...), "T_MODE=exit-in-flight", "T_REDIS=unix:"+r.sock)
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	// Pause every client but this admin connection's own later commands (none) for longer than the test.
	if err := admin.Do(context.Background(), "CLIENT", "PAUSE", "30000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	_ = admin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	err := cmd.Wait()
	if strings.TrimSpace(line) != "in flight" || err != nil {
		t.Fatalf("the replica printed %q and ended with %v", line, err)
	}
}

// holderMain: one refresh of session "killed", which the emulator holds until this process is SIGKILLed (its
// budget, 3/4 of the 5 s lease, would end it otherwise: the test passes either way).
func holderMain() int {
	c, err := cotter.NewClient(cotter.ClientOptions{APIKeyID: os.Getenv("T_KEY"), APISecretKey: os.Getenv("T_SECRET"),
		BaseURL: os.Getenv("T_BASE_URL"), WorkerURL: os.Getenv("T_WORKER_URL")})
	if err != nil {
		return 2
	}
	rdb, err := clientFor(os.Getenv("T_REDIS"), 10*time.Second)
	if err != nil {
		return 2
	}
	st, err := cotter.NewSharedStore(redisstore.New(rdb), &cotter.SharedStoreOptions{LeaseTTL: 5 * time.Second})
	if err != nil {
		return 2
	}
	var clock devClock
	offset, _ := strconv.ParseInt(os.Getenv("T_OFFSET"), 10, 64)
	clock.offset.Store(offset)
	s, err := cotter.NewSession(c, cotter.SessionOptions{SharedStore: st, SharedSessionID: "killed", Clock: clock.now}, nil)
	if err != nil {
		return 2
	}
	_, _ = s.AccessToken(context.Background())
	return 3
}

// A replica SIGKILLed while it holds the lease mid-refresh loses nothing: another replica waits the lease out,
// re-reads and refreshes with the stored refresh token (the killed request was never handled): one grant, no
// family revoked.
func TestKilledLeaseHolder(t *testing.T) {
	e := startEmulator(t)
	r := startStandalone(t)
	var clock devClock
	c := newClient(t, e.info.BaseURL, e.info.WorkerURL, e.info.APIKeyID, e.info.APISecretKey)
	s := newSession(t, c, newStore(t, "unix:"+r.sock, &cotter.SharedStoreOptions{LeaseTTL: 5 * time.Second}), "killed",
		&clock, e.loginToken("killed@example.com"))
	clock.advance(e, 7200)
	e.dev("POST", "/faults", map[string]any{"route": refreshRoute, "latency_ms": 30000}) // the next refresh only
	arrived := func() int {
		n, _ := e.dev("GET", "/stats", nil)["requests"].(map[string]any)[refreshRoute].(float64)
		return int(n)
	}
	arrived0 := arrived()
	handled0, _ := e.grants()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), e.env()...), "T_MODE=holder", "T_REDIS=unix:"+r.sock,
		"T_OFFSET="+strconv.FormatInt(clock.offset.Load(), 10))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	giveUp := time.Now().Add(time.Minute) // a hang guard
	for arrived() == arrived0 {
		if time.Now().After(giveUp) {
			t.Fatal("the holder's refresh never reached the emulator")
		}
		time.Sleep(5 * time.Millisecond)
	}
	admin := r.admin()
	held, _ := admin.Exists(context.Background(), "cotter:{killed}:lease").Result()
	_ = admin.Close()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if held != 1 {
		t.Log("the holder had already given its lease up (its budget ended first): the outcome is the same")
	}
	at, err := s.AccessToken(context.Background())
	handled1, revoked := e.grants()
	if err != nil || !isJWT(at) {
		t.Fatalf("after the holder died: %v", err)
	}
	if handled1-handled0 != 1 || revoked != 0 {
		t.Fatalf("%d refreshes handled (want 1: the killed one never was), %d families revoked", handled1-handled0, revoked)
	}
}

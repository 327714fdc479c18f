package redisstore_test

// Waiters woken by the holder's `…:changed` message (Adapter.Wait): a contended refresh whose holder's save is
// held by the test until every loser waits, on a standalone Redis and a cluster; a subscriber connection
// killed under a waiter; a process that exits with waits pending.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
	"github.com/cotter-sdk/cotter/bindings/go/redisstore"
)

// gated runs the store's scripts, and holds the next save (the script that fences and publishes) until let go:
// the holder keeps the lease as long as the test wants.
type gated struct {
	*redisstore.Adapter
	mu      sync.Mutex
	hold    bool
	held    chan struct{} // closed when a save is being held
	release chan struct{} // closed to let it go
}

func (g *gated) holdNextSave() {
	g.mu.Lock()
	g.hold, g.held, g.release = true, make(chan struct{}), make(chan struct{})
	g.mu.Unlock()
}

func (g *gated) Eval(script, sha1 string, keys, args []string) ([][]byte, error) {
	g.mu.Lock()
	hold := g.hold && strings.Contains(script, "'fenced'")
	var held, release chan struct{}
	if hold {
		g.hold, held, release = false, g.held, g.release
	}
	g.mu.Unlock()
	if hold {
		close(held)
		<-release
	}
	return g.Adapter.Eval(script, sha1, keys, args)
}

// stretched passes Eval on, and while long is set gives each Wait a minute instead of the library's bound
// (5 ms doubling up to 100 ms): then only a message (or a failure) ends a wait, whatever the machine's speed.
// It counts what ended each wait.
type stretched struct {
	*redisstore.Adapter
	long                           atomic.Bool
	evals, woken, timedOut, failed atomic.Int64
}

func (s *stretched) Eval(script, sha1 string, keys, args []string) ([][]byte, error) {
	s.evals.Add(1)
	return s.Adapter.Eval(script, sha1, keys, args)
}

func (s *stretched) Wait(ctx context.Context, channel string) error {
	if s.long.Load() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
	}
	err := s.Adapter.Wait(ctx, channel)
	switch {
	case err == nil:
		s.woken.Add(1)
	case errors.Is(err, context.DeadlineExceeded):
		s.timedOut.Add(1)
	default:
		s.failed.Add(1)
	}
	return err
}

// wakeLog counts the sessions' debug lines about their waits (core/token/session.cpp).
type wakeLog struct{ woken, timedOut, failed atomic.Int64 }

func (w *wakeLog) log(_ cotter.LogLevel, message string) {
	switch {
	case strings.Contains(message, "woken by the store's message"):
		w.woken.Add(1)
	case strings.Contains(message, "no message within"):
		w.timedOut.Add(1)
	case strings.Contains(message, "wait for the store's message failed"):
		w.failed.Add(1)
	}
}

// eventually polls cond until it holds (a hang guard of a minute, never a timing).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	giveUp := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(giveUp) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// numsub is PUBSUB NUMSUB of channel summed over the nodes (a cluster's subscriber sits on any one of them).
func numsub(t *testing.T, nodes []*redisServer, channel string) int64 {
	var n int64
	for _, node := range nodes {
		c := node.admin()
		m, err := c.PubSubNumSub(context.Background(), channel).Result()
		_ = c.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += m[channel]
	}
	return n
}

func publish(t *testing.T, nodes []*redisServer, channel string) {
	c := nodes[0].admin()
	defer c.Close()
	if err := c.Publish(context.Background(), channel, "0").Err(); err != nil {
		t.Fatal(err)
	}
}

const losers = 3

type woken struct {
	e        *emulator
	nodes    []*redisServer
	clock    devClock
	id       string
	channel  string
	gate     *gated
	holder   *cotter.Session
	adapters [losers]*stretched
	losers   [losers]*cotter.Session
	log      wakeLog
}

// setupWoken: a holder (its store over the gate) and `losers` sessions of the same id, each on a store (and a
// go-redis client, so a subscriber connection) of its own.
func setupWoken(t *testing.T, e *emulator, nodes []*redisServer, id string) *woken {
	w := &woken{e: e, nodes: nodes, id: id, channel: "cotter:{" + id + "}:changed"}
	spec := specOf(nodes)
	open := func() *redisstore.Adapter {
		rdb, err := clientFor(spec, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rdb.Close() })
		return redisstore.New(rdb)
	}
	store := func(a cotter.SharedStoreAdapter) *cotter.SharedStore {
		st, err := cotter.NewSharedStore(a, &cotter.SharedStoreOptions{LeaseTTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	ch := newClient(t, e.info.BaseURL, e.info.WorkerURL, e.info.APIKeyID, e.info.APISecretKey)
	w.gate = &gated{Adapter: open()}
	w.holder = newSession(t, ch, store(w.gate), id, &w.clock, e.loginToken(id+"@example.com"))
	cl, err := cotter.NewClient(cotter.ClientOptions{APIKeyID: e.info.APIKeyID, APISecretKey: e.info.APISecretKey,
		BaseURL: e.info.BaseURL, WorkerURL: e.info.WorkerURL, Timeout: 30 * time.Second, Log: w.log.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	for i := range w.losers {
		w.adapters[i] = &stretched{Adapter: open()}
		w.losers[i] = newSession(t, cl, store(w.adapters[i]), id, &w.clock, nil)
	}
	return w
}

func (w *woken) wokenByMessage() (n int64) {
	for _, a := range w.adapters {
		n += redisstore.WokenByMessage(a.Adapter)
	}
	return n
}

// round: every token expired; the holder refreshes and its save is held; the losers start, find the lease
// busy and wait; `during` runs once each loser's wait is pending and its channel subscribed; then the save
// goes. Every loser ends with the holder's new token, from one grant. Returns the scripts Redis ran.
func (w *woken) round(t *testing.T, during func()) int {
	t.Helper()
	w.clock.advance(w.e, 3600)
	before, _ := w.e.grants()
	w.gate.holdNextSave()
	type result struct {
		token string
		err   error
	}
	hc := make(chan result, 1)
	go func() { at, err := w.holder.AccessToken(context.Background()); hc <- result{at, err} }()
	<-w.gate.held
	resetStats(t, w.nodes)
	var lc [losers]chan result
	for i, s := range w.losers {
		lc[i] = make(chan result, 1)
		go func(s *cotter.Session, c chan result) {
			at, err := s.AccessToken(context.Background())
			c <- result{at, err}
		}(s, lc[i])
	}
	eventually(t, "every loser waits on the channel, subscribed", func() bool {
		for _, a := range w.adapters {
			if redisstore.Waiters(a.Adapter, w.channel) != 1 {
				return false
			}
		}
		return numsub(t, w.nodes, w.channel) == losers
	})
	if during != nil {
		during()
	}
	close(w.gate.release)
	h := <-hc
	if h.err != nil || !isJWT(h.token) {
		t.Fatalf("the holder: %v", h.err)
	}
	for i := range lc {
		if l := <-lc[i]; l.err != nil || l.token != h.token {
			t.Fatalf("loser %d: %v (the holder's new token: %v)", i, l.err, l.token == h.token)
		}
	}
	after, revoked := w.e.grants()
	if after-before != 1 || revoked != 0 {
		t.Fatalf("%d refresh grants (want 1), %d families revoked", after-before, revoked)
	}
	return scriptCalls(t, w.nodes)
}

// wokenByMessage: round 1 stretches each wait to a minute, so only the holder's message can end them: each
// loser is woken by it (the adapter counts completions by message), and runs exactly 2 scripts (busy, then
// fresh). Round 2 keeps the library's bounds (5 ms doubling up to 100 ms): a loser may read again at each
// bound, so the test publishes on the channel by hand, while the save is still held, until a message wakes a
// waiting loser; the outcome is the same and no wait failed. The channel stays subscribed after each round.
func wokenByMessage(t *testing.T, nodes []*redisServer) {
	e := startEmulator(t)
	w := setupWoken(t, e, nodes, "woken")
	for _, a := range w.adapters {
		a.long.Store(true)
	}
	woken0 := w.wokenByMessage()
	var evals0 [losers]int64
	for i, a := range w.adapters {
		evals0[i] = a.evals.Load()
	}
	scripts := w.round(t, nil)
	if n := w.wokenByMessage() - woken0; n != losers {
		t.Errorf("round 1: %d waits completed by a message, want %d", n, losers)
	}
	for i, a := range w.adapters {
		if a.woken.Load() != 1 || a.timedOut.Load() != 0 || a.failed.Load() != 0 {
			t.Errorf("round 1: loser %d: %d woken, %d timed out, %d failed (want 1, 0, 0)", i, a.woken.Load(), a.timedOut.Load(), a.failed.Load())
		}
		if n := a.evals.Load() - evals0[i]; n != 2 {
			t.Errorf("round 1: loser %d ran %d scripts, want 2 (busy, then fresh)", i, n)
		}
	}
	if scripts < 2*losers+1 { // and the holder's save (EVALSHA, the first time also EVAL after NOSCRIPT)
		t.Errorf("round 1: %d scripts, fewer than each loser's busy and fresh and the holder's save", scripts)
	}
	if w.log.woken.Load() != losers || w.log.failed.Load() != 0 {
		t.Errorf("round 1: the sessions logged %d wake-ups by message and %d failed waits (want %d, 0)", w.log.woken.Load(), w.log.failed.Load(), losers)
	}
	if n := numsub(t, nodes, w.channel); n != losers {
		t.Errorf("after round 1: %d connections subscribed to the channel, want %d (it lingers)", n, losers)
	}
	for _, a := range w.adapters {
		a.long.Store(false)
	}
	woken1 := w.log.woken.Load()
	scripts = w.round(t, func() {
		eventually(t, "a message woke a waiting loser", func() bool {
			publish(t, nodes, w.channel)
			return w.log.woken.Load() > woken1
		})
	})
	if w.log.failed.Load() != 0 {
		t.Errorf("round 2: %d failed waits", w.log.failed.Load())
	}
	if scripts < 2*losers+1 {
		t.Errorf("round 2: %d scripts, fewer than each loser's busy and fresh and the holder's save", scripts)
	}
	if n := numsub(t, nodes, w.channel); n != losers {
		t.Errorf("after round 2: %d connections subscribed to the channel, want %d", n, losers)
	}
	t.Logf("round 2: %d scripts, %d wake-ups by message, %d bounds passed", scripts, w.log.woken.Load()-woken1, w.log.timedOut.Load())
}

func TestWaitersWokenByMessage(t *testing.T) { wokenByMessage(t, []*redisServer{startStandalone(t)}) }

// The same through a 3-master cluster (*redis.ClusterClient): each adapter's subscriber connection sits on some
// node, and the holder's PUBLISH (in its save script, on the node of the session's slot) reaches every node.
func TestWaitersWokenByMessageCluster(t *testing.T) { wokenByMessage(t, startCluster(t)) }

// A subscriber connection killed (CLIENT KILL TYPE pubsub) under a pending wait fails that wait; the session
// reads again, waits again on a new connection, and gets the holder's token.
func TestWaitSubscriberKilled(t *testing.T) {
	e := startEmulator(t)
	r := startStandalone(t)
	nodes := []*redisServer{r}
	w := setupWoken(t, e, nodes, "killed-sub")
	for _, a := range w.adapters {
		a.long.Store(true)
	}
	w.round(t, func() {
		admin := r.admin()
		defer admin.Close()
		if n, err := admin.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Result(); err != nil || n != losers {
			t.Fatalf("CLIENT KILL TYPE pubsub: %d %v", n, err)
		}
		eventually(t, "every killed wait failed", func() bool {
			for _, a := range w.adapters {
				if a.failed.Load() == 0 {
					return false
				}
			}
			return true
		})
		// Each loser polls, finds the lease busy, and waits again on a connection made again.
		eventually(t, "every loser waits again, subscribed again", func() bool {
			for _, a := range w.adapters {
				if redisstore.Waiters(a.Adapter, w.channel) != 1 {
					return false
				}
			}
			return numsub(t, nodes, w.channel) == losers
		})
	})
	if w.log.failed.Load() < losers {
		t.Errorf("the sessions logged %d failed waits, want at least %d", w.log.failed.Load(), losers)
	}
	for i, a := range w.adapters {
		if a.woken.Load() != 1 {
			t.Errorf("loser %d: %d waits woken by the message after the kill, want 1", i, a.woken.Load())
		}
	}
}

// A wait on a closed client fails at once (not at its deadline), as a wait without Redis does.
func TestWaitClosedClient(t *testing.T) {
	r := startStandalone(t)
	rdb, _ := clientFor("unix:"+r.sock, 10*time.Second)
	a := redisstore.New(rdb)
	_ = rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Wait(ctx, "cotter:{closed}:changed"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait on a closed client: %v", err)
	}
	r.kill()
	rdb2, _ := clientFor("unix:"+r.sock, 10*time.Second)
	defer rdb2.Close()
	if err := redisstore.New(rdb2).Wait(ctx, "cotter:{down}:changed"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait with Redis down: %v", err)
	}
}

// The adapter closes its subscriber connection once no channel has waiters or lingers, and makes one again
// for the next wait.
func TestWaitIdleConnectionClosed(t *testing.T) {
	r := startStandalone(t)
	rdb, _ := clientFor("unix:"+r.sock, 10*time.Second)
	defer rdb.Close()
	a := redisstore.New(rdb)
	redisstore.SetLinger(a, time.Millisecond)
	nodes := []*redisServer{r}
	for i := 0; i < 2; i++ {
		done := make(chan error, 1)
		go func() { done <- a.Wait(context.Background(), "cotter:{idle}:changed") }()
		eventually(t, "the wait is subscribed", func() bool { return numsub(t, nodes, "cotter:{idle}:changed") == 1 })
		eventually(t, "a message ends the wait", func() bool {
			publish(t, nodes, "cotter:{idle}:changed")
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				return true
			default:
				return false
			}
		})
		eventually(t, "the idle connection is closed", func() bool {
			return !redisstore.Subscribed(a) && numsub(t, nodes, "cotter:{idle}:changed") == 0
		})
	}
}

// exitWaitingMain: a replica whose refresh waits for a lease held by nobody alive returns from main while its
// wait is pending (stretched to a minute); the process must exit 0 at once.
func exitWaitingMain() int {
	c, err := cotter.NewClient(cotter.ClientOptions{APIKeyID: os.Getenv("T_KEY"), APISecretKey: os.Getenv("T_SECRET"),
		BaseURL: os.Getenv("T_BASE_URL"), WorkerURL: os.Getenv("T_WORKER_URL")})
	if err != nil {
		return 2
	}
	rdb, err := clientFor(os.Getenv("T_REDIS"), time.Minute)
	if err != nil {
		return 2
	}
	a := &stretched{Adapter: redisstore.New(rdb)}
	a.long.Store(true)
	st, err := cotter.NewSharedStore(a, nil)
	if err != nil {
		return 2
	}
	var clock devClock
	offset, _ := strconv.ParseInt(os.Getenv("T_OFFSET"), 10, 64)
	clock.offset.Store(offset)
	s, err := cotter.NewSession(c, cotter.SessionOptions{SharedStore: st, SharedSessionID: "exit-wait", Clock: clock.now}, nil)
	if err != nil {
		return 2
	}
	go func() { _, _ = s.AccessToken(context.Background()) }()
	for redisstore.Waiters(a.Adapter, "cotter:{exit-wait}:changed") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("waiting")
	return 0
}

func TestExitWithWaitPending(t *testing.T) {
	e := startEmulator(t)
	r := startStandalone(t)
	var clock devClock
	c := newClient(t, e.info.BaseURL, e.info.WorkerURL, e.info.APIKeyID, e.info.APISecretKey)
	newSession(t, c, newStore(t, "unix:"+r.sock, nil), "exit-wait", &clock, e.loginToken("exit-wait@example.com"))
	admin := r.admin()
	err := admin.Set(context.Background(), "cotter:{exit-wait}:lease", "a-dead-replica", 10*time.Minute).Err()
	_ = admin.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), e.env()...), "T_MODE=exit-waiting", "T_REDIS=unix:"+r.sock, "T_OFFSET=7200")
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	err = cmd.Wait()
	if strings.TrimSpace(line) != "waiting" || err != nil {
		t.Fatalf("the replica printed %q and ended with %v", line, err)
	}
}

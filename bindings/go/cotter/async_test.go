package cotter_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// The asynchronous path (issue 12): many calls in flight on few threads, the per-host connection cap,
// cancellation at every stage, deadlines as call timeouts, objects closed with calls in flight. Time is the
// emulator's business (latency faults, 30 s holds) and every wait is for an event (the server saw a request,
// a call started); no test reads a clock to decide.

const (
	userRoute   = "GET /api/v0/user/:id"
	lookupRoute = "GET /api/v0/user"
)

// osThreads is the number of OS threads of this process (Threads in /proc/self/status).
func osThreads(t *testing.T) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(data), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "Threads: %d", &n); err == nil {
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// waitCallsInFlight returns once n calls of this package are in flight (started, not completed): a call
// counted there has passed its `_start`. Polls an in-process counter; the minute is a hang guard only.
func waitCallsInFlight(t *testing.T, n int64) {
	t.Helper()
	giveUp := time.Now().Add(time.Minute)
	for cotter.CallsInFlight() < n {
		if time.Now().After(giveUp) {
			t.Fatalf("%d calls in flight, not %d", cotter.CallsInFlight(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// noCallsLeft checks that every call completed and released its registry entry (hooks of objects still
// open stay: callbacks is the count before the test's objects existed, plus what they register).
func noCallsLeft(t *testing.T) {
	t.Helper()
	if n := cotter.CallsInFlight(); n != 0 {
		t.Fatalf("%d calls still in flight", n)
	}
}

// 1,000 goroutines call at once, each request held 200 ms by the server: all complete, through at most
// the cap of 100 connections, and the process runs them on a handful of OS threads (a thread per call
// would be 1,000).
func TestThousandConcurrentCallsOnFewThreads(t *testing.T) {
	const calls, capConns = 1000, 100
	emu := startEmulator(t)
	o := emu.clientOptions()
	o.MaxHostConnections = capConns
	o.Timeout = time.Minute
	c, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := c.UserCreate(ctx, "many@example.com")
	if err != nil {
		t.Fatal(err)
	}
	registered := cotter.RegisteredCallbacks()
	emu.fault(map[string]any{"route": userRoute, "latency_ms": 200, "count": calls})
	connsBefore := emu.connections()
	threadsBefore := osThreads(t)

	var wg sync.WaitGroup
	var returned atomic.Int64
	errs := make(chan error, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.UserGet(ctx, u.ID)
			if err == nil && got.ID != u.ID {
				err = fmt.Errorf("got user %q", got.ID)
			}
			returned.Add(1)
			errs <- err
		}()
	}
	// Every call has started (it is in flight or has returned); most wait in the client's queue behind the
	// cap, ten server round trips deep. A blocking design would have a thread parked in C for each of them.
	giveUp := time.Now().Add(time.Minute) // a hang guard only
	for cotter.CallsInFlight()+returned.Load() < calls {
		if time.Now().After(giveUp) {
			t.Fatalf("%d calls in flight, %d returned", cotter.CallsInFlight(), returned.Load())
		}
		time.Sleep(time.Millisecond)
	}
	during, inFlight := osThreads(t), cotter.CallsInFlight()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	after := osThreads(t)
	t.Logf("OS threads: %d before, %d with %d calls in flight, %d after", threadsBefore, during, inFlight, after)
	// Tolerant: Go's runtime adds a thread when a goroutine's (short) cgo call is descheduled by a busy OS for
	// longer than sysmon waits before handing its P to another thread: 2 more threads on an idle machine, up
	// to ~50 more under -race on a loaded one. One thread per call would be 1,000 more.
	if during > threadsBefore+200 {
		t.Fatalf("%d OS threads with %d calls in flight (%d before)", during, inFlight, threadsBefore)
	}
	if n := emu.requests(userRoute); n != calls {
		t.Fatalf("the server saw %d requests, want %d", n, calls)
	}
	if n := emu.connections() - connsBefore; n > capConns {
		t.Fatalf("%d connections for a cap of %d", n, capConns)
	}
	if s, _ := c.Stats(); s.Connections > capConns+1 { // +1: the UserCreate's, made before
		t.Fatalf("%+v: more connections than the cap", s)
	}
	noCallsLeft(t)
	if n := cotter.RegisteredCallbacks(); n != registered {
		t.Fatalf("%d callback ids registered after the calls, %d before", n, registered)
	}
}

// A call queued behind the per-host cap (one connection, held by the server for 30 s) is cancelled
// before it ever reaches the server; then the held one is cancelled; the freed connection serves the next.
func TestCancelQueuedAndWaitingCalls(t *testing.T) {
	emu := startEmulator(t)
	o := emu.clientOptions()
	o.MaxHostConnections = 1
	o.Timeout = 2 * hold
	c, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := c.UserCreate(ctx, "queued@example.com")
	if err != nil {
		t.Fatal(err)
	}
	emu.fault(map[string]any{"route": userRoute, "latency_ms": hold.Milliseconds()})
	base := cotter.CallsInFlight()

	heldCtx, cancelHeld := context.WithCancel(ctx)
	defer cancelHeld()
	held := make(chan error, 1)
	go func() {
		_, err := c.UserGet(heldCtx, u.ID)
		held <- err
	}()
	emu.waitRequests(userRoute, 1) // it holds the only connection
	queuedCtx, cancelQueued := context.WithCancel(ctx)
	defer cancelQueued()
	queued := make(chan error, 1)
	go func() {
		_, err := c.UserGetByIdentifier(queuedCtx, "queued@example.com")
		queued <- err
	}()
	waitCallsInFlight(t, base+2) // started: with the connection taken, it waits in the client's queue
	cancelQueued()
	if err := <-queued; !errors.Is(err, context.Canceled) || !errors.Is(err, cotter.ErrCanceled) {
		t.Fatalf("queued call: %v", err)
	}
	if n := emu.requests(lookupRoute); n != 0 {
		t.Fatalf("the server saw %d requests of the cancelled queued call", n)
	}
	select {
	case err := <-held:
		t.Fatalf("the held call ended with the queued one: %v", err)
	default:
	}
	cancelHeld()
	if err := <-held; !errors.Is(err, context.Canceled) {
		t.Fatalf("held call: %v", err)
	}
	if n := emu.requests(userRoute); n != 1 {
		t.Fatalf("the server saw %d requests of the held call", n)
	}
	// The held connection was closed: the cap lets the next call open a new one at once.
	if g, err := c.UserGet(ctx, u.ID); err != nil || g.ID != u.ID {
		t.Fatal(g, err)
	}
	if s, _ := c.Stats(); s.Connections != 2 {
		t.Fatalf("%+v", s)
	}
	noCallsLeft(t)
}

// Cancelled while the response body is arriving (one byte a minute): the call ends with the context's
// error, and the connection is not reused half-read: the next call on the one-connection client gets a
// clean answer.
func TestCancelMidBody(t *testing.T) {
	emu := startEmulator(t)
	o := emu.clientOptions()
	o.MaxHostConnections = 1
	o.Timeout = 2 * hold
	c, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	emu.fault(map[string]any{"route": lookupRoute, "slow_drip": true, "chunk_bytes": 1, "interval_ms": 60000})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := c.UserGetByIdentifier(cctx, "drip@example.com")
		done <- err
	}()
	emu.waitRequests(lookupRoute, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !errors.Is(err, cotter.ErrCanceled) {
		t.Fatal(err)
	}
	_, err = c.UserGetByIdentifier(ctx, "drip@example.com")
	wantCode(t, err, cotter.ErrNotFound)
	if n := emu.requests(lookupRoute); n != 2 {
		t.Fatalf("the server saw %d requests, want 2", n)
	}
	noCallsLeft(t)
}

// deadlineOnly has a deadline but never ends by itself (Done is nil): only the library's timer, set from
// the deadline through timeout_ms, can end a call made with it.
type deadlineOnly struct {
	context.Context
	at time.Time
}

func (d deadlineOnly) Deadline() (time.Time, bool) { return d.at, true }

// A context's deadline becomes the call's timeout: with a context that cannot end by itself, the library
// ends the call the server holds for 30 s (client Timeout 60 s), and the error is context.DeadlineExceeded
// (and ErrTimeout). A real deadline context gives the same error. So does a session's wait for its refresh.
func TestDeadlineBecomesTheCallTimeout(t *testing.T) {
	emu := startEmulator(t)
	o := emu.clientOptions()
	o.Timeout = 2 * hold
	c, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := c.UserCreate(ctx, "deadline@example.com")
	if err != nil {
		t.Fatal(err)
	}
	emu.fault(map[string]any{"route": userRoute, "latency_ms": hold.Milliseconds(), "count": 2})
	_, err = c.UserGet(deadlineOnly{ctx, time.Now().Add(200 * time.Millisecond)}, u.ID)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cotter.ErrTimeout) {
		t.Fatalf("deadline as timeout_ms: %v", err)
	}
	x, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = c.UserGet(x, u.ID)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cotter.ErrTimeout) {
		t.Fatalf("deadline context: %v", err)
	}
	if n := emu.requests(userRoute); n > 2 {
		t.Fatalf("the server saw %d requests for 2 calls", n)
	}

	// A session's refresh held by the server: the waiter gives up at the deadline (the refresh goes on).
	s := newSession(t, c, cotter.SessionOptions{}, emu.loginToken(t, "deadline@example.com"))
	emu.fault(map[string]any{"route": refreshRoute, "latency_ms": hold.Milliseconds()})
	_, err = s.Refresh(deadlineOnly{ctx, time.Now().Add(200 * time.Millisecond)})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cotter.ErrTimeout) {
		t.Fatalf("session deadline: %v", err)
	}
	noCallsLeft(t)
}

// blocker holds the only connection of a one-connection client: a call the server holds 30 s. Calls
// started after it wait in the client's queue until release cancels it, so a test knows they are all in
// flight at once, and then lets them run to their normal end.
type blocker struct {
	cancel context.CancelFunc
	done   chan error
}

func block(t *testing.T, emu *emulator, c *cotter.Client, userID string) *blocker {
	t.Helper()
	before := emu.requests(userRoute)
	emu.fault(map[string]any{"route": userRoute, "latency_ms": hold.Milliseconds()})
	x, cancel := context.WithCancel(ctx)
	b := &blocker{cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := c.UserGet(x, userID)
		b.done <- err
	}()
	emu.waitRequests(userRoute, before+1)
	return b
}

func (b *blocker) release(t *testing.T) {
	t.Helper()
	b.cancel()
	if err := <-b.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the blocking call: %v", err)
	}
}

// Closing a client does not stop its calls: 50 calls in flight complete normally after Close. Calls in
// flight on a closed client still end with their context. A session (with storage and change hooks)
// closed, and its client too, while its refresh is in flight: the refresh completes, and the new tokens
// reach the storage and the change callback (the hooks stay registered until then).
func TestCloseWithCallsInFlight(t *testing.T) {
	emu := startEmulator(t)
	registered := cotter.RegisteredCallbacks()
	live := cotter.LiveObjects()
	oneConn := emu.clientOptions()
	oneConn.MaxHostConnections = 1
	oneConn.Timeout = 2 * hold

	// 1. Calls complete normally after Close: 50 wait behind a held call, the client is closed, the held
	// call is cancelled, and the 50 then run.
	const n = 50
	c, err := cotter.NewClient(oneConn)
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.UserCreate(ctx, "closing@example.com")
	if err != nil {
		t.Fatal(err)
	}
	base := cotter.CallsInFlight()
	b := block(t, emu, c, u.ID)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			g, err := c.UserGetByIdentifier(ctx, "closing@example.com")
			if err == nil && g.ID != u.ID {
				err = fmt.Errorf("got %q", g.ID)
			}
			errs <- err
		}()
	}
	waitCallsInFlight(t, base+1+n)
	c.Close()
	if n := emu.requests(lookupRoute); n != 0 {
		t.Fatalf("%d of the queued calls were sent past the cap", n)
	}
	b.release(t)
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.UserGet(ctx, u.ID); !errors.Is(err, cotter.ErrInvalid) {
		t.Fatalf("a call on a closed client: %v", err)
	}

	// 2. Held calls of a closed client end with their context.
	c2 := emu.client(t)
	emu.fault(map[string]any{"route": userRoute, "latency_ms": hold.Milliseconds(), "count": 20})
	before := emu.requests(userRoute)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := 0; i < 20; i++ {
		go func() {
			_, err := c2.UserGet(cctx, u.ID)
			errs <- err
		}()
	}
	emu.waitRequests(userRoute, before+20)
	c2.Close()
	cancel()
	for i := 0; i < 20; i++ {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}

	// 3. A session and its client closed while the session's refresh waits behind a held call.
	c3, err := cotter.NewClient(oneConn)
	if err != nil {
		t.Fatal(err)
	}
	store := &memoryStorage{}
	changed := make(chan string, 4)
	s, err := cotter.NewSession(c3, cotter.SessionOptions{Storage: store, OnTokensChanged: func(ti *cotter.TokenInfo) {
		if ti != nil {
			changed <- ti.RefreshToken
		}
	}}, emu.loginToken(t, "closing@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	base = cotter.CallsInFlight()
	b = block(t, emu, c3, u.ID)
	refreshed := make(chan *cotter.Token, 1)
	go func() {
		tok, err := s.Refresh(ctx)
		if err != nil {
			t.Error(err)
		}
		refreshed <- tok
	}()
	waitCallsInFlight(t, base+2)
	c3.Close() // the client first: the session keeps it alive
	s.Close()
	b.release(t)
	tok := <-refreshed
	if tok == nil {
		t.FailNow()
	}
	defer tok.Close()
	if got := <-changed; got != tok.RefreshToken() {
		t.Fatal("OnTokensChanged did not get the new tokens")
	}
	store.mu.Lock()
	saved := string(store.json)
	store.mu.Unlock()
	if !strings.Contains(saved, tok.RefreshToken()) {
		t.Fatal("the new tokens did not reach the storage after Close")
	}

	// 4. A verifier closed with its key-set fetch in flight: the fetch completes.
	v, err := cotter.NewVerifier(emu.verifierOptions())
	if err != nil {
		t.Fatal(err)
	}
	emu.fault(map[string]any{"route": jwksRoute, "latency_ms": 300})
	fetched := make(chan error, 1)
	go func() { fetched <- v.Refresh(ctx) }()
	emu.waitRequests(jwksRoute, 1)
	v.Close()
	if err := <-fetched; err != nil {
		t.Fatal(err)
	}

	noCallsLeft(t)
	tok.Close()
	if n := cotter.RegisteredCallbacks(); n != registered {
		t.Fatalf("%d callback ids registered after closing everything, %d before", n, registered)
	}
	if n := cotter.LiveObjects(); n > live+1 { // +1: the login token, closed at cleanup
		t.Fatalf("%d live objects, %d before", n, live)
	}
}

// A call that must wait, made from a hook on the client's I/O thread, fails with ErrInvalid at once
// instead of blocking the thread that would complete it; a call that completes at once (a valid token)
// works there.
func TestCallsFromACallback(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	tok := emu.loginToken(t, "hook@example.com")
	type outcome struct {
		access     string
		accessErr  error
		refreshErr error
	}
	got := make(chan outcome, 1)
	var session atomic.Pointer[cotter.Session] // read by the hook on the I/O thread
	var once sync.Once
	s := newSession(t, c, cotter.SessionOptions{OnTokensChanged: func(ti *cotter.TokenInfo) {
		once.Do(func() {
			s := session.Load()
			var o outcome
			o.access, o.accessErr = s.AccessToken(ctx) // valid: answered at once
			_, o.refreshErr = s.Refresh(ctx)           // would wait for this very thread
			got <- o
		})
	}}, nil)
	session.Store(s)
	if err := s.SetToken(tok); err != nil { // the change runs the hook on the I/O thread
		t.Fatal(err)
	}
	o := <-got
	if o.accessErr != nil || o.access != tok.AccessToken() {
		t.Fatalf("AccessToken from the hook: %q, %v", o.access, o.accessErr)
	}
	wantCode(t, o.refreshErr, cotter.ErrInvalid)
	if n := emu.requests(refreshRoute); n != 0 {
		t.Fatalf("the refresh refused in the hook was sent (%d)", n)
	}
	noCallsLeft(t)
}

// Every method of a closed object fails with ErrInvalid ("use of a closed ..."), sends nothing, and leaves
// no call or callback behind; Close twice is fine; a session outlives the Close of its client.
func TestUseAfterClose(t *testing.T) {
	emu := startEmulator(t)
	registered := cotter.RegisteredCallbacks()
	o := emu.clientOptions()
	o.Log = func(cotter.LogLevel, string) {}
	c, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	tok := emu.loginToken(t, "closed@example.com")
	s, err := cotter.NewSession(c, cotter.SessionOptions{Storage: &memoryStorage{}}, tok)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	// The session keeps the C client: it still refreshes.
	fresh, err := s.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := cotter.TokenFromJSON([]byte(`{"access_token":"a.b.c"}`))
	stale.Close()
	if err := s.SetToken(stale); !errors.Is(err, cotter.ErrInvalid) || !strings.Contains(err.Error(), "closed Token") {
		t.Fatalf("SetToken with a closed token: %v", err)
	}
	s.Close()
	v, err := cotter.NewVerifier(emu.verifierOptions())
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	before := totalRequests(emu)
	for name, call := range networkCalls(c, s, v, fresh.RefreshToken(), fresh.AccessToken(), "someone") {
		if err := call(ctx); !errors.Is(err, cotter.ErrInvalid) || !strings.Contains(err.Error(), "closed") {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if err := s.SetToken(fresh); !errors.Is(err, cotter.ErrInvalid) {
		t.Fatalf("SetToken on a closed session: %v", err)
	}
	fresh.Close()
	if n := totalRequests(emu) - before; n != 0 {
		t.Fatalf("%d requests sent by closed objects", n)
	}
	noCallsLeft(t)
	if n := cotter.RegisteredCallbacks(); n != registered {
		t.Fatalf("%d callback ids registered, %d before", n, registered)
	}
}

// Verifications on a fresh remote verifier share one key-set fetch, but a context cancelled in one of them
// (a client of the middleware hanging up) ends only that one: the others get their verdict when the fetch
// completes. (The cancel normally lands within the server's 2 s hold; if the machine stalls past it, the
// cancelled one succeeds too, and the test still checks the others.)
func TestCancelledVerifyDoesNotFailTheOthers(t *testing.T) {
	emu := startEmulator(t)
	v := emu.verifier(t)
	access := emu.accessToken(nil, 600)
	emu.fault(map[string]any{"route": jwksRoute, "latency_ms": 2000})
	base := cotter.CallsInFlight()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	live, stopLive := context.WithCancel(ctx) // cancellable, so it takes the asynchronous fetch too
	defer stopLive()
	cancelled := make(chan error, 1)
	go func() {
		_, err := v.Verify(cctx, access)
		cancelled <- err
	}()
	emu.waitRequests(jwksRoute, 1)
	others := make(chan error, 3)
	var returned atomic.Int64
	for i := 0; i < 3; i++ {
		go func() {
			c, err := v.Verify(live, access)
			if err == nil && c.Subject == "" {
				err = errors.New("no claims")
			}
			returned.Add(1)
			others <- err
		}()
	}
	giveUp := time.Now().Add(time.Minute) // a hang guard only
	for cotter.CallsInFlight()+returned.Load() < base+4 {
		if time.Now().After(giveUp) {
			t.Fatal("the verifications did not start")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-cancelled; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled verification: %v", err)
	}
	for i := 0; i < 3; i++ {
		if err := <-others; err != nil {
			t.Fatalf("a verification sharing the fetch: %v", err)
		}
	}
	if n := emu.requests(jwksRoute); n != 1 {
		t.Fatalf("%d key-set fetches, want 1", n)
	}
	noCallsLeft(t)
}

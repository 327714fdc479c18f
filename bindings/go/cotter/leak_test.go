package cotter_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
	"github.com/cotter-sdk/cotter/bindings/go/cotter/internal/cmem"
)

// Objects nobody closes are freed by their finalizers (the safety net): the count of live C objects
// goes back down by as many as were forgotten.
func TestFinalizersFreeForgottenObjects(t *testing.T) {
	emu := startEmulator(t)
	tok := emu.loginToken(t, "final@example.com")
	const n = 50
	// Objects that earlier tests forgot are finalized first, so that they cannot change the count below:
	// rounds of GC that each wait for the finalizers they queued, until a round frees nothing. (Waiting a few
	// milliseconds instead could see a still count while the finalizer goroutine had not run yet.)
	before := cotter.LiveObjects()
	for i := 0; i < 50; i++ {
		finalizeGarbage()
		now := cotter.LiveObjects()
		if now == before && i > 0 {
			break
		}
		before = now
	}
	func() {
		for i := 0; i < n; i++ {
			c, err := cotter.NewClient(emu.clientOptions())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cotter.NewVerifier(emu.verifierOptions()); err != nil {
				t.Fatal(err)
			}
			if _, err := cotter.TokenFromJSON([]byte(`{"access_token":"a.b.c"}`)); err != nil {
				t.Fatal(err)
			}
			if _, err := cotter.NewSession(c, cotter.SessionOptions{}, tok); err != nil {
				t.Fatal(err)
			}
			if _, err := cotter.NewSharedStore(unusedAdapter{}, nil); err != nil { // Redis is not contacted
				t.Fatal(err)
			}
		}
	}()
	if got := cotter.LiveObjects() - before; got != 5*n {
		t.Fatalf("%d live objects after creating %d", got, 5*n)
	}
	// A session's finalizer runs first; its client becomes unreachable one cycle later. Each round below
	// completes the finalizers of its GC, so a few rounds suffice; no clock is involved.
	for i := 0; i < 20 && cotter.LiveObjects() > before; i++ {
		finalizeGarbage()
	}
	if left := cotter.LiveObjects() - before; left > 0 {
		t.Fatalf("%d of %d forgotten objects not freed by their finalizers", left, 5*n)
	}
}

// unusedAdapter is a shared store's adapter that no test runs.
type unusedAdapter struct{}

func (unusedAdapter) Eval(string, string, []string, []string) ([][]byte, error) {
	return nil, errors.New("not used")
}

func init() {
	// The heap profiler keeps records of sampled allocation sites in off-heap runtime memory, which grows
	// over a long loop (hundreds of KiB of the resident set). No test here profiles: switch it off.
	runtime.MemProfileRate = 0
}

// settle runs pending finalizers of earlier tests, so that counts and the resident set stand still, and
// has both allocators (Go's and malloc) hand their free memory back: the resident set then shows what is
// allocated, not what an allocator keeps for later.
func settle() {
	for i := 0; i < 3; i++ {
		finalizeGarbage()
	}
	debug.FreeOSMemory()
	cmem.Trim()
}

// finalizeGarbage runs a GC and returns once every finalizer that GC queued has run. The finalizer goroutine
// takes the whole queue at a time and runs all of it before taking more: a sentinel queued by a second GC
// therefore runs only after the batch of the first. (A fixed sleep after runtime.GC could end before the
// finalizer goroutine got a CPU on a loaded machine.)
func finalizeGarbage() {
	for i := 0; i < 2; i++ {
		ran := make(chan struct{})
		queueSentinel(ran)
		runtime.GC()
		select {
		case <-ran:
		case <-time.After(time.Minute): // a hang guard only
			panic("finalizeGarbage: the sentinel was not finalized within a minute")
		}
	}
}

type sentinel struct {
	p   *int // has pointers and is not tiny: the tiny allocator could tie it to a live object
	pad [64]byte
}

//go:noinline
func queueSentinel(ran chan struct{}) {
	s := &sentinel{}
	runtime.SetFinalizer(s, func(*sentinel) { close(ran) })
}

type leakFixture struct {
	emu                           *emulator
	jwks, access, expired, badSig string
	tokenJSON, identityTokenJSON  string
	socialUser                    string
	plain, cached                 *cotter.Verifier
}

// offlineRound: 10 verifications (valid with claims; expired, bad signature or verdict only in turn;
// malformed; 7 cache hits), and every 10th round every object that needs no network.
func (f *leakFixture) offlineRound(t *testing.T, i int) {
	v := f.plain
	if i%50 == 0 {
		// With callbacks: their cgo handles are released on Close too.
		own, err := cotter.NewVerifier(cotter.VerifierOptions{Audience: f.emu.info.APIKeyID, JWKSJSON: f.jwks,
			Clock: time.Now, Log: func(cotter.LogLevel, string) {}})
		if err != nil {
			t.Fatal(err)
		}
		defer own.Close()
		v = own
	}
	if c, err := v.Verify(ctx, f.access); err != nil || c.Subject == "" || len(c.JSON) == 0 {
		t.Fatal(c, err)
	}
	switch i % 3 {
	case 0:
		_, err := f.plain.Verify(ctx, f.expired)
		wantCode(t, err, cotter.ErrJWTExpired)
	case 1:
		_, err := f.plain.Verify(ctx, f.badSig)
		wantCode(t, err, cotter.ErrJWTSignature)
	default:
		if err := f.plain.Check(ctx, f.access); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.plain.Verify(ctx, "x.y.z")
	wantCode(t, err, cotter.ErrJWTMalformed)
	for j := 0; j < 7; j++ {
		if c, err := f.cached.Verify(ctx, f.access); err != nil || c.Identifier == "" {
			t.Fatal(c, err)
		}
	}
	if i%10 != 0 {
		return
	}
	tok, err := cotter.TokenFromJSON([]byte(f.tokenJSON))
	if err != nil || tok.RefreshToken() == "" {
		t.Fatal(err)
	}
	if _, err := tok.JSON(); err != nil {
		t.Fatal(err)
	}
	tok.Close()
	_, err = cotter.TokenFromJSON([]byte("[1]"))
	wantCode(t, err, cotter.ErrProtocol)
	p, err := cotter.NewPKCE()
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := cotter.PKCEChallengeOf(p.Verifier); err != nil || ch != p.Challenge {
		t.Fatal(ch, err)
	}
	if r, err := cotter.ParseLoginRedirect("code=c&state=s&challenge_id=1", "s"); err != nil || r.ChallengeID != 1 {
		t.Fatal(r, err)
	}
	_, err = cotter.ParseLoginRedirect("code=c&state=s", "t")
	wantCode(t, err, cotter.ErrState)
	if _, err := cotter.LoginURL(cotter.LoginURLOptions{APIKeyID: f.emu.info.APIKeyID, RedirectURL: redirectURL,
		State: p.State, CodeChallenge: p.Challenge}); err != nil {
		t.Fatal(err)
	}
	if err := cotter.IdentityTokenVerify(f.identityTokenJSON, f.emu.info.APIKeyID, f.emu.info.IdentityPublicKey, timeZero); err != nil {
		t.Fatal(err)
	}
}

// networkRound: a client of its own and every object only the network gives, all through the asynchronous
// path. With cancellable set, the calls take a cancellable context (the wait selects on it too). Every round
// also cancels a call the server holds (its deadline passes): the cancellation path frees everything too.
func (f *leakFixture) networkRound(t *testing.T, refreshToken *string, i int, cancellable bool) {
	cctx := context.Background()
	if cancellable {
		var cancel context.CancelFunc
		cctx, cancel = context.WithCancel(cctx)
		defer cancel()
	}
	o := f.emu.clientOptions()
	o.Log = func(cotter.LogLevel, string) {}
	c, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, err := c.Refresh(cctx, *refreshToken)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	*refreshToken = tok.RefreshToken()
	who := fmt.Sprintf("leak-%06d@example.com", i)
	u, err := c.UserCreate(cctx, who)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := c.UserGet(cctx, u.ID); err != nil || g.ID != u.ID {
		t.Fatal(g, err)
	}
	if _, err := c.UserGetByIdentifier(cctx, who); err != nil {
		t.Fatal(err)
	}
	if list, err := c.UserList(cctx, 0); err != nil || len(list) == 0 {
		t.Fatal(err)
	}
	_, err = c.UserGet(cctx, "00000000-0000-4000-8000-00000000abcd")
	if e := wantCode(t, err, cotter.ErrNotFound); e.HTTPStatus != 404 {
		t.Fatalf("%+v", e)
	}
	if list, err := c.SocialTokensList(cctx, f.socialUser); err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	if st, err := c.SocialTokenGet(cctx, "GITHUB", f.socialUser); err != nil || st.AccessToken == "" {
		t.Fatal(err)
	}
	if ok, _, err := c.VerifyRemote(cctx, tok.AccessToken()); !ok || err != nil {
		t.Fatal(ok, err)
	}
	s, err := cotter.NewSession(c, cotter.SessionOptions{}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if at, err := s.AccessToken(cctx); err != nil || at == "" {
		t.Fatal(err)
	}
	cur, err := s.Token(cctx)
	if err != nil {
		t.Fatal(err)
	}
	cur.Close()
	s.Close()
	// A session with every hook: custom storage, change callback, clock.
	hooked, err := cotter.NewSession(c, cotter.SessionOptions{Storage: &memoryStorage{}, Clock: time.Now,
		OnTokensChanged: func(*cotter.TokenInfo) {}}, tok)
	if err != nil {
		t.Fatal(err)
	}
	if at, err := hooked.AccessToken(cctx); err != nil || at == "" {
		t.Fatal(err)
	}
	hooked.Close()
	f.emu.fault(map[string]any{"route": userRoute, "latency_ms": hold.Milliseconds()})
	x, cancel := context.WithTimeout(cctx, 20*time.Millisecond)
	_, err = c.UserGet(x, u.ID)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	f.emu.dev("DELETE", "/faults", nil) // unused when the deadline came before the request reached the server
	if i%10 == 0 {
		p, _ := cotter.NewPKCE()
		q := logInThroughThePage(t, f.emu, p, fmt.Sprintf("page-%06d@example.com", i))
		r, err := cotter.ParseLoginRedirect(q, p.State)
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.GetIdentity(cctx, r.Code, r.ChallengeID, p.Verifier, redirectURL)
		if err != nil || id.Token == nil || id.UserID == "" {
			t.Fatal(id, err)
		}
		id.Token.Close()
	}
}

// Every kind of object created and freed over and over, and 1,000,000 tokens verified: the anonymous
// resident set (what a leak grows) grows by less than 1 MiB between the end of the warm-up and the end,
// and every C object is freed.
// Under -race (whose shadow memory grows with any allocation) a short run checks the object count only.
func TestLeakLoop(t *testing.T) {
	verifications, warmRounds, netWarm, netRounds := 1_000_000, 20_000, 150, 200
	if raceEnabled || testing.Short() {
		verifications, warmRounds, netWarm, netRounds = 20_000, 500, 3, 10
	}
	const perRound = 10
	emu := startEmulator(t)
	jwks := emu.jwks()
	access := emu.accessToken(nil, 3600)
	bad := []byte(access)
	n := len(bad) - 10 // a signature character (not the last: its low bits must stay zero)
	if bad[n] == 'A' {
		bad[n] = 'B'
	} else {
		bad[n] = 'A'
	}
	login := emu.login("leak@example.com")
	setup := emu.client(t)
	social, err := setup.UserCreate(ctx, "social@example.com")
	if err != nil {
		t.Fatal(err)
	}
	emu.dev("POST", "/social_tokens", map[string]any{"user_id": social.ID, "identity_provider": "GITHUB",
		"tokens": map[string]any{"access_token": "gho_leak"}})
	f := &leakFixture{emu: emu, jwks: string(jwks), access: access, expired: emu.accessToken(nil, -120),
		badSig: string(bad), tokenJSON: jsonString(login["oauth_token"]), socialUser: social.ID,
		identityTokenJSON: jsonString(emu.dev("POST", "/identity_token", map[string]any{"identifier": "leak@example.com"})["identity_token"])}
	if f.plain, err = cotter.NewVerifier(cotter.VerifierOptions{Audience: emu.info.APIKeyID, JWKSJSON: f.jwks}); err != nil {
		t.Fatal(err)
	}
	defer f.plain.Close()
	if f.cached, err = cotter.NewVerifier(cotter.VerifierOptions{Audience: emu.info.APIKeyID, JWKSJSON: f.jwks, TokenCacheSize: 64}); err != nil {
		t.Fatal(err)
	}
	defer f.cached.Close()
	refresh := login["oauth_token"].(map[string]any)["refresh_token"].(string)

	// The network warm-up is long enough for the user list to reach its full page of 50 (fixed-width names):
	// the library's per-thread parse buffers grow to the largest response seen. The measured loop makes
	// every C call from one locked OS thread, as a C or Rust loop would: a goroutine's call may run on any
	// of Go's threads, and a thread's first calls allocate its own buffers (hundreds of KiB, once per
	// thread, not a leak) and glibc arena. (Network calls do their work on each client's I/O thread.)
	// Cancellable contexts run in the warm-up.
	// A small GC target keeps the Go heap (part of the resident set) from drifting with GC pacing.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	settle()
	liveBefore := cotter.LiveObjects()
	registeredBefore := cotter.RegisteredCallbacks()
	for i := 0; i < warmRounds; i++ {
		f.offlineRound(t, i)
	}
	for i := 0; i < netWarm; i++ {
		f.networkRound(t, &refresh, i, i%2 == 0)
	}
	settle()
	before, anonBefore := rssKiB(t)
	cBefore := cmem.InUse()
	var m1, m2 runtime.MemStats
	runtime.ReadMemStats(&m1)
	rounds := verifications / perRound
	every := (rounds - warmRounds) / netRounds
	for i := warmRounds; i < rounds; i++ {
		f.offlineRound(t, i)
		if i%every == 0 {
			f.networkRound(t, &refresh, i, false)
		}
	}
	settle()
	after, anonAfter := rssKiB(t)
	cAfter := cmem.InUse()
	runtime.ReadMemStats(&m2)
	t.Logf("%d verifications, %d network rounds in %.1f s; RSS %d -> %d KiB, anonymous %d -> %d KiB, "+
		"C heap in use %d -> %d KiB, live Go heap %d -> %d KiB, Go heap %d -> %d KiB, Go runtime %d -> %d KiB (race detector: %v)",
		verifications, netRounds, time.Since(start).Seconds(), before, after, anonBefore, anonAfter,
		cBefore>>10, cAfter>>10, m1.HeapAlloc>>10, m2.HeapAlloc>>10, (m1.HeapSys-m1.HeapReleased)>>10, (m2.HeapSys-m2.HeapReleased)>>10,
		(m1.Sys-m1.HeapReleased)>>10, (m2.Sys-m2.HeapReleased)>>10, raceEnabled)
	// Objects malloc'd and never freed, whatever the allocators keep around. libcurl's and OpenSSL's
	// process-wide caches still settle by some bytes per request; one leaked result object per network
	// round would add more than 256 KiB.
	// Go values kept alive by mistake (a handle table, a cache): the live Go heap after a collection.
	if grown := int64(m2.HeapAlloc) - int64(m1.HeapAlloc); grown >= 256<<10 {
		t.Fatalf("the live Go heap grew by %d bytes (%d -> %d)", grown, m1.HeapAlloc, m2.HeapAlloc)
	}
	if grown := cAfter - cBefore; grown >= 256<<10 {
		t.Fatalf("the C heap grew by %d bytes of allocations never freed", grown)
	}
	if live := cotter.LiveObjects() - liveBefore; live > 0 {
		t.Fatalf("%d C objects still live after every Close", live)
	}
	if n := cotter.RegisteredCallbacks() - registeredBefore; n != 0 || cotter.CallsInFlight() != 0 {
		t.Fatalf("%d callback ids left registered, %d calls in flight", n, cotter.CallsInFlight())
	}
	if grown := anonAfter - anonBefore; !raceEnabled && grown >= 1024 {
		t.Fatalf("anonymous RSS grew by %d KiB (from %d KiB)", grown, anonBefore)
	}
}

package cotter_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// hold is how long the emulator holds a request in the tests of cancellation and deadlines: far longer than
// any call may take. A call that returns at all before the hold ends was stopped by its context; none of
// these tests reads a clock.
const hold = 30 * time.Second

// Cancelling the context stops the request itself: the call returns before the server's 30 s hold ends,
// with an error that is both context.Canceled and ErrCanceled; the server saw the request once; and the
// connection was closed, not reused half-read (the next call, on a client of one connection, opens a new
// one at once instead of queueing behind the held request).
func TestContextCancellationStopsTheRequest(t *testing.T) {
	emu := startEmulator(t)
	o := emu.clientOptions()
	o.Timeout = 2 * hold // only the context can end the call
	o.MaxHostConnections = 1
	c, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rt := emu.loginToken(t, "ctx@example.com").RefreshToken()
	emu.fault(map[string]any{"route": refreshRoute, "latency_ms": hold.Milliseconds()})

	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		tok *cotter.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := c.Refresh(cctx, rt)
		done <- result{tok, err}
	}()
	emu.waitRequests(refreshRoute, 1)
	cancel()
	r := <-done
	if r.tok != nil || !errors.Is(r.err, context.Canceled) || !errors.Is(r.err, cotter.ErrCanceled) {
		t.Fatalf("got %v, %v", r.tok, r.err)
	}
	if n := emu.requests(refreshRoute); n != 1 {
		t.Fatalf("the server saw %d requests", n)
	}
	// The held request's connection was closed: the next call needs a new one. (The refresh token was not
	// used by the server, which never got to handle it.)
	tok, err := c.Refresh(ctx, rt)
	if err != nil {
		t.Fatal(err)
	}
	tok.Close()
	if s, _ := c.Stats(); s.Connections != 2 || s.Requests != 2 {
		t.Fatalf("%+v: the cancelled request's connection was reused", s)
	}

	// An already-cancelled context sends nothing.
	dead, cancel2 := context.WithCancel(context.Background())
	cancel2()
	before := emu.requests(refreshRoute)
	_, err = c.Refresh(dead, rt)
	if !errors.Is(err, context.Canceled) || emu.requests(refreshRoute) != before {
		t.Fatal(err)
	}
	v := emu.verifier(t)
	if _, err := v.Verify(dead, "x"); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// networkCalls is every method that takes a context, bound to one set of objects.
func networkCalls(c *cotter.Client, s *cotter.Session, v *cotter.Verifier, rt, access, userID string) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"Client.GrantIdentityToken": func(x context.Context) error { _, err := c.GrantIdentityToken(x, `{}`); return err },
		"Client.GrantEventToken":    func(x context.Context) error { _, err := c.GrantEventToken(x, `{}`); return err },
		"Client.Refresh":            func(x context.Context) error { _, err := c.Refresh(x, rt); return err },
		"Client.Logout":             func(x context.Context) error { return c.Logout(x, "not-a-refresh-token") },
		"Client.CustomClaims": func(x context.Context) error {
			_, err := c.CustomClaims(x, access, `{"a":1}`, "")
			return err
		},
		"Client.GetIdentity": func(x context.Context) error {
			_, err := c.GetIdentity(x, "code", 1, "verifier-verifier-verifier-verifier-verifier", redirectURL)
			return err
		},
		"Client.VerifyRemote":        func(x context.Context) error { _, _, err := c.VerifyRemote(x, access); return err },
		"Client.UserCreate":          func(x context.Context) error { _, err := c.UserCreate(x, "ctx@example.com"); return err },
		"Client.UserGetByIdentifier": func(x context.Context) error { _, err := c.UserGetByIdentifier(x, "ctx@example.com"); return err },
		"Client.UserGet":             func(x context.Context) error { _, err := c.UserGet(x, userID); return err },
		"Client.UserList":            func(x context.Context) error { _, err := c.UserList(x, 0); return err },
		"Client.SocialTokensList":    func(x context.Context) error { _, err := c.SocialTokensList(x, userID); return err },
		"Client.SocialTokenGet":      func(x context.Context) error { _, err := c.SocialTokenGet(x, "GITHUB", userID); return err },
		"Client.SocialTokenDelete":   func(x context.Context) error { return c.SocialTokenDelete(x, "GITHUB", userID) },
		"Session.Refresh":            func(x context.Context) error { _, err := s.Refresh(x); return err },
		"Session.AccessToken":        func(x context.Context) error { _, err := s.AccessToken(x); return err },
		"Session.Token":              func(x context.Context) error { _, err := s.Token(x); return err },
		"Session.Logout":             func(x context.Context) error { return s.Logout(x) },
		"Verifier.Refresh":           func(x context.Context) error { return v.Refresh(x) },
		"Verifier.Verify":            func(x context.Context) error { _, err := v.Verify(x, access); return err },
		"Verifier.Check":             func(x context.Context) error { return v.Check(x, access) },
	}
}

func totalRequests(emu *emulator) int {
	n := 0
	for _, v := range emu.dev("GET", "/stats", nil)["requests"].(map[string]any) {
		n += int(v.(float64))
	}
	return n
}

// Every method that takes a context returns context.Canceled for a context already done, without sending
// anything; and every method that reaches the network returns at the context's deadline while the
// server is slow.
func TestEveryNetworkCallHonoursCancellation(t *testing.T) {
	const slowServer = 5 * time.Second
	emu := startEmulator(t)
	c := emu.client(t)
	tok := emu.loginToken(t, "calls@example.com")
	s := newSession(t, c, cotter.SessionOptions{}, tok)
	u, err := c.UserCreate(ctx, "calls@example.com")
	if err != nil {
		t.Fatal(err)
	}
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	before := totalRequests(emu)
	for name, call := range networkCalls(c, s, emu.verifier(t), tok.RefreshToken(), tok.AccessToken(), u.ID) {
		if err := call(dead); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v", name, err)
		}
	}
	if n := totalRequests(emu) - before; n != 0 {
		t.Fatalf("%d requests sent with cancelled contexts", n)
	}

	// Slow server: each call that sends a request is held for 30 s and has a 100 ms deadline. A fresh
	// verifier (its key set not fetched yet) makes Verify and Check reach the network too. The session's
	// token is valid, so AccessToken and Token answer from memory: they are left out. The clients' Timeout
	// (60 s) is longer than the hold: only the deadline can end these calls before the server answers.
	o := emu.clientOptions()
	o.Timeout = 2 * hold
	slow, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	calls := networkCalls(slow, nil, nil, tok.RefreshToken(), tok.AccessToken(), u.ID)
	delete(calls, "Session.AccessToken")
	delete(calls, "Session.Token")
	for name, call := range calls {
		if strings.HasPrefix(name, "Session.") {
			// A session of its own: Session.Logout would leave the others without tokens.
			ss := newSession(t, slow, cotter.SessionOptions{}, emu.loginToken(t, "slow@example.com"))
			call = networkCalls(slow, ss, nil, "", "", "")[name]
		}
		if strings.HasPrefix(name, "Verifier.") {
			v := emu.verifier(t) // fresh: the first use fetches the key set
			call = map[string]func(context.Context) error{
				"Verifier.Refresh": func(x context.Context) error { return v.Refresh(x) },
				"Verifier.Verify":  func(x context.Context) error { _, err := v.Verify(x, tok.AccessToken()); return err },
				"Verifier.Check":   func(x context.Context) error { return v.Check(x, tok.AccessToken()) },
			}[name]
		}
		// A fault the previous call's request never reached (its deadline came first) is cleared.
		emu.dev("DELETE", "/faults", nil)
		emu.fault(map[string]any{"route": "*", "latency_ms": hold.Milliseconds(), "count": 5})
		before := totalRequests(emu)
		x, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err := call(x)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, cotter.ErrTimeout) {
			t.Errorf("%s against a slow server: %v", name, err)
		}
		if n := totalRequests(emu) - before; n > 1 {
			t.Errorf("%s: the server saw %d requests", name, n)
		}
	}
}

package cotter_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// A cancelled context returns at once; the C call finishes in the background and Close waits for it.
func TestContextCancellationReturnsAtOnce(t *testing.T) {
	emu := startEmulator(t)
	c, err := cotter.NewClient(emu.clientOptions())
	if err != nil {
		t.Fatal(err)
	}
	rt := emu.loginToken(t, "ctx@example.com").RefreshToken()
	// The server answers no sooner than `latency` after the request left, which is after `start`: both checks
	// below compare against that, with seconds to spare either way. (They used to be "Refresh within 500 ms"
	// and "Close took 500 ms or more", measured from Close itself: a Refresh slowed by load to 1 s left Close
	// less than 500 ms to wait, and the check failed although Close had waited.)
	const latency = 4 * time.Second
	emu.fault(map[string]any{"route": refreshRoute, "latency_ms": latency.Milliseconds()})

	cctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	tok, err := c.Refresh(cctx, rt)
	if !errors.Is(err, context.DeadlineExceeded) || tok != nil {
		t.Fatalf("got %v, %v", tok, err)
	}
	if d := time.Since(start); d >= latency/2 {
		t.Fatalf("returned after %v: it waited for the server, not for the 100 ms deadline", d)
	}
	// Close waits for the request still running in the background instead of freeing under it.
	c.Close()
	if d := time.Since(start); d < latency/2 {
		t.Fatalf("Close returned %v after the request left, before the server (%v) could have answered", d, latency)
	}

	// An already-cancelled context sends nothing.
	c2 := emu.client(t)
	dead, cancel2 := context.WithCancel(context.Background())
	cancel2()
	before := emu.requests(refreshRoute)
	_, err = c2.Refresh(dead, rt)
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

	// Slow server: each call that sends a request gets a 5 s delay and a 100 ms deadline. A fresh
	// verifier (its key set not fetched yet) makes Verify and Check reach the network too. The session's
	// token is valid, so AccessToken and Token answer from memory: they are left out.
	slow := emu.client(t)
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
		// Several delays: the previous call's request, still on its way in the background, may take one.
		// The server holds each for 5 s; the bound below is half of that (it was 1 s against 1.5 s, which a
		// loaded 2-core machine under -race could reach).
		emu.dev("DELETE", "/faults", nil)
		emu.fault(map[string]any{"route": "*", "latency_ms": slowServer.Milliseconds(), "count": 5})
		x, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		err := call(x)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s against a slow server: %v", name, err)
		}
		if d := time.Since(start); d >= slowServer/2 {
			t.Errorf("%s returned after %v", name, d)
		}
	}
}

package cotter_test

import (
	"context"
	"errors"
	"io"
	"runtime"
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
	emu.fault(map[string]any{"route": refreshRoute, "latency_ms": 1500})

	cctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	tok, err := c.Refresh(cctx, rt)
	if !errors.Is(err, context.DeadlineExceeded) || tok != nil {
		t.Fatalf("got %v, %v", tok, err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("returned after %v", d)
	}
	// Close waits for the request still running in the background instead of freeing under it.
	start = time.Now()
	c.Close()
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("Close returned after %v, before the in-flight request finished", d)
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

// Objects nobody closes are freed by their finalizers (the safety net), without crashing.
func TestFinalizersFreeForgottenObjects(t *testing.T) {
	emu := startEmulator(t)
	for i := 0; i < 50; i++ {
		c, err := cotter.NewClient(emu.clientOptions())
		if err != nil {
			t.Fatal(err)
		}
		v, _ := cotter.NewVerifier(emu.verifierOptions())
		tok, _ := cotter.TokenFromJSON([]byte(`{"access_token":"a.b.c"}`))
		_, _, _ = c, v, tok
	}
	runtime.GC()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
}

// Create/free loops do not grow the heap outside Go (C allocations freed by Close).
func TestLeakLoop(t *testing.T) {
	emu := startEmulator(t)
	resp, err := emu.http.Get(emu.info.JWKSURL)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	access := emu.accessToken(nil, 600)
	tokJSON := []byte(jsonString(emu.login("leak@example.com")["oauth_token"]))
	round := func(n int) {
		for i := 0; i < n; i++ {
			tok, err := cotter.TokenFromJSON(tokJSON)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = tok.JSON()
			tok.Close()
			v, err := cotter.NewVerifier(cotter.VerifierOptions{Audience: emu.info.APIKeyID, JWKSJSON: string(jwks)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, access); err != nil {
				t.Fatal(err)
			}
			_, _ = v.Verify(ctx, "x.y.z")
			v.Close()
			_, _ = cotter.NewPKCE()
		}
	}
	round(1000)
	before := rssKiB(t)
	round(10000)
	runtime.GC()
	if grown := rssKiB(t) - before; grown > 16*1024 {
		t.Fatalf("RSS grew by %d KiB over 10,000 rounds", grown)
	}
}

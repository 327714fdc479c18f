package cotter_test

import (
	"context"
	"errors"
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

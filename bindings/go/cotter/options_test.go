package cotter_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

const jwksRoute = "GET /api/v0/token/jwks"

// Each verifier option reaches the library: its effect is seen, or a bad value is refused by it.
func TestVerifierOptionsReachTheLibrary(t *testing.T) {
	emu := startEmulator(t)
	access := emu.accessToken(nil, 600)
	newVerifier := func(edit func(*cotter.VerifierOptions)) (*cotter.Verifier, error) {
		o := emu.verifierOptions()
		edit(&o)
		v, err := cotter.NewVerifier(o)
		if err == nil {
			t.Cleanup(func() { v.Close() })
		}
		return v, err
	}

	// A body cap below the key set's size: the fetch fails.
	small, err := newVerifier(func(o *cotter.VerifierOptions) { o.JWKSMaxBytes = 100 })
	if err != nil {
		t.Fatal(err)
	}
	_, err = small.Verify(ctx, access)
	wantCode(t, err, cotter.ErrJWKSUnavailable)

	// A fetch timeout shorter than the server's delay (30 s). Ignored, the default 5 s timeout would end the
	// fetch instead: the bound lies between the two with seconds to spare. (It was 1.5 s against a 2 s delay,
	// within reach of a loaded 2-core machine under -race.)
	emu.fault(map[string]any{"route": jwksRoute, "latency_ms": 30000})
	hasty, err := newVerifier(func(o *cotter.VerifierOptions) { o.JWKSTimeout = 200 * time.Millisecond })
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = hasty.Verify(ctx, access)
	wantCode(t, err, cotter.ErrJWKSUnavailable)
	if d := time.Since(start); d >= 2500*time.Millisecond {
		t.Fatalf("JWKS timeout of 200 ms took %v", d)
	}
	emu.dev("DELETE", "/faults", nil)

	// Keys that are never fresh for long are fetched again; long-lived ones are not (the cooldown, which
	// spaces every automatic fetch, is shortened for both).
	for _, c := range []struct {
		maxAge time.Duration
		want   int
	}{{time.Millisecond, 2}, {time.Hour, 1}} {
		v, err := newVerifier(func(o *cotter.VerifierOptions) { o.JWKSMaxAge, o.JWKSCooldown = c.maxAge, time.Millisecond })
		if err != nil {
			t.Fatal(err)
		}
		before := emu.requests(jwksRoute)
		for i := 0; i < 2; i++ {
			if _, err := v.Verify(ctx, access); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := emu.requests(jwksRoute) - before; n != c.want {
			t.Fatalf("JWKSMaxAge %v: %d fetches for two verifications 20 ms apart, want %d", c.maxAge, n, c.want)
		}
	}

	// Out-of-range values are the library's to refuse.
	for name, edit := range map[string]func(*cotter.VerifierOptions){
		"JWKSMaxAge":   func(o *cotter.VerifierOptions) { o.JWKSMaxAge = 8 * 24 * time.Hour },
		"JWKSMaxBytes": func(o *cotter.VerifierOptions) { o.JWKSMaxBytes = 65 << 20 },
		"JWKSTimeout":  func(o *cotter.VerifierOptions) { o.JWKSTimeout = 121 * time.Second },
		"Leeway":       func(o *cotter.VerifierOptions) { o.Leeway = 301 * time.Second },
	} {
		if _, err := newVerifier(edit); !errors.Is(err, cotter.ErrInvalid) {
			t.Errorf("%s out of range: %v", name, err)
		}
	}
}

// Each client option reaches the library: retries and their backoff cap, the connect timeout.
func TestClientOptionsReachTheLibrary(t *testing.T) {
	emu := startEmulator(t)
	o := emu.clientOptions()
	o.MaxRetries = 2
	// Capped by RetryMax, two retries wait at most 1 ms each. Uncapped, the first wait would be drawn from
	// [0, 1 h] and, being longer than the 10 s timeout left (>99.7%), the 503 would be returned at once: the
	// UserGet below would fail. No clock is read. (It was a 10 s base and "done within 2 s".)
	o.RetryBase = time.Hour
	o.RetryMax = time.Millisecond
	c, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := c.UserCreate(ctx, "retry@example.com")
	if err != nil {
		t.Fatal(err)
	}
	emu.fault(map[string]any{"route": "GET /api/v0/user/:id", "status": 503, "count": 2})
	if _, err := c.UserGet(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Stats(); s.Retries != 2 {
		t.Fatalf("%+v", s)
	}
	emu.fault(map[string]any{"route": "GET /api/v0/user/:id", "status": 503, "count": 3})
	_, err = c.UserGet(ctx, u.ID)
	if e := wantCode(t, err, cotter.ErrHTTP); e.HTTPStatus != 503 {
		t.Fatalf("%+v", e)
	}

	for name, edit := range map[string]func(*cotter.ClientOptions){
		"ConnectTimeout": func(o *cotter.ClientOptions) { o.ConnectTimeout = -time.Millisecond },
		"RetryMax":       func(o *cotter.ClientOptions) { o.RetryMax = -time.Millisecond },
	} {
		o := emu.clientOptions()
		edit(&o)
		if _, err := cotter.NewClient(o); !errors.Is(err, cotter.ErrInvalid) {
			t.Errorf("%s out of range: %v", name, err)
		}
	}
}

// The credentials are what ClientOptions says: Go asks the library not to read $COTTER_API_KEY_ID or
// $COTTER_API_SECRET_KEY (from_environment = 0), so an empty key id fails whatever the environment holds.
func TestTheEnvironmentNeverSuppliesCredentials(t *testing.T) {
	t.Setenv("COTTER_API_KEY_ID", "from-env")
	_, err := cotter.NewClient(cotter.ClientOptions{BaseURL: "http://127.0.0.1:9/api/v0"})
	var e *cotter.Error
	if !errors.As(err, &e) || e.Code != cotter.CodeInvalid || e.Message != "api_key_id (your Cotter API key id) is required" {
		t.Fatalf("NewClient without APIKeyID: %v", err)
	}
}

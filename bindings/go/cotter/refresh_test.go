package cotter_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

func TestRefreshRotatesAndOldTokenNeedsReauth(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	if c.BaseURL() != emu.info.BaseURL || c.APIKeyID() != emu.info.APIKeyID {
		t.Fatalf("BaseURL %q, APIKeyID %q", c.BaseURL(), c.APIKeyID())
	}
	first := emu.loginToken(t, "bob@example.com")
	oldRT := first.RefreshToken()
	second, err := c.Refresh(ctx, oldRT)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	info := second.Info()
	if info.AccessToken == first.AccessToken() || info.RefreshToken == oldRT || info.TokenType != "Bearer" ||
		info.ExpiresIn != 3600 || info.IDToken == "" || info.AuthMethod == "" {
		t.Fatalf("refreshed %+v", info)
	}
	if d := info.AccessTokenExpiresAt - time.Now().Unix() - 3600; d < -60 || d > 60 {
		t.Fatalf("exp %d", info.AccessTokenExpiresAt)
	}
	if s := info.String() + second.String(); strings.Contains(s, info.AccessToken) || strings.Contains(s, info.RefreshToken) {
		t.Fatal("String() shows a token")
	}
	_, err = c.Refresh(ctx, oldRT)
	e := wantCode(t, err, cotter.ErrReauth)
	if e.HTTPStatus != 400 || !strings.Contains(e.OAuthErrorDescription, "not valid") || strings.Contains(e.Error(), oldRT) {
		t.Fatalf("%+v", e)
	}
	if err := c.Logout(ctx, info.RefreshToken); err != nil {
		t.Fatal(err)
	}
	_, err = c.Refresh(ctx, info.RefreshToken)
	wantCode(t, err, cotter.ErrReauth)
	if err := c.Logout(ctx, ""); err != nil {
		t.Fatal(err)
	}
}

// A wrong API key id is cotter.ErrCredentials, a configuration error, never ErrReauth: the emulator answers it
// with 401 "API_KEY_ID is not valid", and "not valid" was read as a dead refresh token. The refresh token is not
// spent, and a session asks the server again on the next call instead of remembering the token as rejected.
func TestWrongAPIKeyIDIsErrCredentials(t *testing.T) {
	emu := startEmulator(t)
	o := emu.clientOptions()
	o.APIKeyID = "0e0e0e0e-0000-4000-8000-00000000bad3"
	wrong, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	tok := emu.loginToken(t, "creds@example.com")
	_, err = wrong.Refresh(ctx, tok.RefreshToken())
	e := wantCode(t, err, cotter.ErrCredentials)
	if e.HTTPStatus != 401 || errors.Is(err, cotter.ErrReauth) || strings.Contains(e.Error(), "log in again") {
		t.Fatalf("%+v", e)
	}
	_, err = wrong.UserCreate(ctx, "creds@example.com")
	wantCode(t, err, cotter.ErrCredentials)
	o = emu.clientOptions()
	o.APISecretKey = "wrong-secret-value"
	badSecret, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer badSecret.Close()
	_, err = badSecret.UserList(ctx, 0)
	if e := wantCode(t, err, cotter.ErrCredentials); strings.Contains(e.Error(), "wrong-secret-value") {
		t.Fatal("the message shows the secret")
	}

	s, err := cotter.NewSession(wrong, cotter.SessionOptions{}, tok)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 2; i++ {
		_, err = s.Refresh(ctx)
		if e := wantCode(t, err, cotter.ErrCredentials); e.HTTPStatus != 401 {
			t.Fatalf("attempt %d did not ask the server: %+v", i, e)
		}
	}
	fresh, err := emu.client(t).Refresh(ctx, tok.RefreshToken())
	if err != nil {
		t.Fatal("the refresh token was spent:", err)
	}
	fresh.Close()
}

func TestIdentityAndEventTokenGrants(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	id := emu.dev("POST", "/identity_token", map[string]any{"identifier": "carol@example.com"})["identity_token"]
	tok, err := c.GrantIdentityToken(ctx, jsonString(id))
	if err != nil {
		t.Fatal(err)
	}
	tok.Close()
	ev := emu.dev("POST", "/event_token", map[string]any{"identifier": "carol@example.com"})["event_token"]
	tok, err = c.GrantEventToken(ctx, jsonString(ev))
	if err != nil || tok.RefreshToken() == "" {
		t.Fatal(err)
	}
	tok.Close()

	noSecret, _ := cotter.NewClient(cotter.ClientOptions{APIKeyID: emu.info.APIKeyID, BaseURL: emu.info.BaseURL})
	defer noSecret.Close()
	_, err = noSecret.GrantEventToken(ctx, jsonString(ev))
	wantCode(t, err, cotter.ErrInvalid)
	wrong, _ := cotter.NewClient(cotter.ClientOptions{APIKeyID: emu.info.APIKeyID, APISecretKey: "wrong", BaseURL: emu.info.BaseURL})
	defer wrong.Close()
	_, err = wrong.GrantEventToken(ctx, jsonString(ev))
	if e := wantCode(t, err, cotter.ErrCredentials); e.HTTPStatus != 401 {
		t.Fatalf("%+v", e)
	}
	forged := id.(map[string]any)
	forged["receiver"] = "00000000-0000-4000-8000-000000000000"
	_, err = c.GrantIdentityToken(ctx, jsonString(forged))
	wantCode(t, err, cotter.ErrOAuth)
}

func TestCustomClaims(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	v := emu.verifier(t)
	tok := emu.loginToken(t, "dave@example.com")
	cc, err := c.CustomClaims(ctx, tok.AccessToken(), `{"role":"admin","tier":3}`, tok.RefreshToken())
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(ctx, cc.Token)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	_ = json.Unmarshal(claims.JSON, &p)
	if p["role"] != "admin" || p["tier"] != float64(3) || cc.RefreshToken == "" {
		t.Fatalf("%s %q", claims.JSON, cc.RefreshToken)
	}
	only, err := c.CustomClaims(ctx, tok.AccessToken(), `{"x":1}`, "")
	if err != nil || only.RefreshToken != "" {
		t.Fatal(err, only)
	}
	_, err = c.CustomClaims(ctx, tok.AccessToken(), `{"sub":"me"}`, "")
	wantCode(t, err, cotter.ErrOAuth)
}

func TestSequentialCallsReuseOneConnection(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	rt := emu.loginToken(t, "erin@example.com").RefreshToken()
	before := emu.connections()
	for i := 0; i < 10; i++ {
		tok, err := c.Refresh(ctx, rt)
		if err != nil {
			t.Fatal(err)
		}
		rt = tok.RefreshToken()
		tok.Close()
	}
	s, err := c.Stats()
	if err != nil || s.Requests != 10 || s.Connections != 1 || s.Retries != 0 {
		t.Fatalf("%+v %v", s, err)
	}
	if n := emu.connections() - before; n != 1 {
		t.Fatalf("%d connections at the emulator", n)
	}
}

func TestFaultsMapToDistinctCodes(t *testing.T) {
	emu := startEmulator(t)
	// Two clients: `c` with a 20 s timeout, so that a stalled emulator on a loaded machine cannot turn the
	// other faults into ErrTimeout, and `hasty` with the 800 ms budget for the one case where time runs out.
	o := emu.clientOptions()
	o.Timeout = 20 * time.Second
	o.MaxRetries = cotter.NoRetries
	o.MaxResponseBytes = 64 << 10
	c, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	o.Timeout = 800 * time.Millisecond
	hasty, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer hasty.Close()
	rt := emu.loginToken(t, "frank@example.com").RefreshToken()
	route := "POST /api/v0/token/:api_key_id"

	emu.fault(map[string]any{"route": route, "status": 503})
	_, err = c.Refresh(ctx, rt)
	if e := wantCode(t, err, cotter.ErrHTTP); e.HTTPStatus != 503 {
		t.Fatalf("%+v", e)
	}
	emu.fault(map[string]any{"route": route, "status": 429, "retry_after": 7})
	_, err = c.Refresh(ctx, rt)
	if e := wantCode(t, err, cotter.ErrHTTP); e.RetryAfter != 7*time.Second {
		t.Fatalf("%+v", e)
	}
	emu.fault(map[string]any{"route": route, "status": 400,
		"body": map[string]any{"error": "invalid_request", "error_description": "the request was refused"}})
	_, err = c.Refresh(ctx, rt)
	if e := wantCode(t, err, cotter.ErrOAuth); e.HTTPStatus != 400 || e.OAuthError != "invalid_request" ||
		e.OAuthErrorDescription != "the request was refused" {
		t.Fatalf("%+v", e)
	}
	// The server would answer after 30 s: ErrTimeout is the 800 ms budget, and the bound cannot be reached
	// by a loaded machine (it was 3 s against a 3 s delay).
	emu.fault(map[string]any{"route": route, "latency_ms": 30000})
	start := time.Now()
	_, err = hasty.Refresh(ctx, rt)
	wantCode(t, err, cotter.ErrTimeout)
	if time.Since(start) >= 10*time.Second {
		t.Fatalf("timeout took %v", time.Since(start))
	}
	// A client of its own, so the request opens a fresh connection: on a reused one, libcurl transparently
	// resends a request whose connection died before any response byte (the server cannot have acted on it),
	// and the resend succeeds. `c` still holds its keep-alive connection here (1 run in ~30 failed that way).
	o.Timeout = 20 * time.Second
	fresh, err := cotter.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	emu.fault(map[string]any{"route": route, "reset": true})
	_, err = fresh.Refresh(ctx, rt)
	wantCode(t, err, cotter.ErrNetwork)
	emu.fault(map[string]any{"route": route, "non_json": true})
	_, err = c.Refresh(ctx, rt)
	wantCode(t, err, cotter.ErrProtocol)
	emu.fault(map[string]any{"route": route, "oversized": true, "size_bytes": 1_000_000})
	_, err = c.Refresh(ctx, rt)
	wantCode(t, err, cotter.ErrProtocol)
	tok, err := c.Refresh(ctx, rt) // the faults never reached the handler: still valid
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
}

func TestTLS(t *testing.T) {
	emu := startEmulator(t, "--tls")
	if emu.info.CAFile == nil || !strings.HasPrefix(emu.info.BaseURL, "https://") {
		t.Fatalf("%+v", emu.info)
	}
	c := emu.client(t)
	if u, err := c.UserCreate(ctx, "heidi@example.com"); err != nil || u.Identifier != "heidi@example.com" {
		t.Fatal(u, err)
	}
	untrusted, _ := cotter.NewClient(cotter.ClientOptions{APIKeyID: emu.info.APIKeyID, BaseURL: emu.info.BaseURL,
		CAFile: "/etc/ssl/certs/ca-certificates.crt", MaxRetries: cotter.NoRetries})
	defer untrusted.Close()
	_, err := untrusted.UserCreate(ctx, "heidi@example.com")
	wantCode(t, err, cotter.ErrTLS)
	if err := emu.verifier(t).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestBadArgumentsAndTokenJSON(t *testing.T) {
	emu := startEmulator(t)
	for _, o := range []cotter.ClientOptions{{}, {APIKeyID: "k", BaseURL: "ftp://example.com"}, {APIKeyID: "k\x00"}} {
		_, err := cotter.NewClient(o)
		wantCode(t, err, cotter.ErrInvalid)
	}
	c := emu.client(t)
	_, err := c.Refresh(ctx, "a\x00b")
	wantCode(t, err, cotter.ErrInvalid)
	for _, j := range []string{"[1,2]", `{"access_token":5}`, "{", ""} {
		_, err := cotter.TokenFromJSON([]byte(j))
		wantCode(t, err, cotter.ErrProtocol)
	}
	if strings.Contains(c.String(), emu.info.APISecretKey) {
		t.Fatal("String() shows the secret")
	}
	tok := emu.loginToken(t, "ivan@example.com")
	js, err := tok.JSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := cotter.TokenFromJSON(js)
	if err != nil || back.Info() != tok.Info() {
		t.Fatal(err)
	}
	back.Close()
	back.Close() // twice is fine
	if back.AccessToken() != "" {
		t.Fatal("closed token still readable")
	}
	c.Close()
	_, err = c.Refresh(ctx, "x")
	wantCode(t, err, cotter.ErrInvalid)
}

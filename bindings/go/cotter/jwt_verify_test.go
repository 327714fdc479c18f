package cotter_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

var ctx = context.Background()

func withHeader(token, header string) string {
	_, rest, _ := strings.Cut(token, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + rest
}

func kidOf(t *testing.T, token string) string {
	h, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	var m map[string]any
	if err := json.Unmarshal(h, &m); err != nil {
		t.Fatal(err)
	}
	return m["kid"].(string)
}

func TestVerifyAccessAndIDTokens(t *testing.T) {
	emu := startEmulator(t)
	v := emu.verifier(t)
	body := emu.login("alice@example.com")
	oauth := body["oauth_token"].(map[string]any)
	user := body["user"].(map[string]any)
	c, err := v.Verify(ctx, oauth["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != user["ID"] || c.Issuer != "https://www.cotter.app" || c.Identifier != "alice@example.com" ||
		c.Type != "client_access_token" || c.Scope != "access" || len(c.Audience) != 1 || c.Audience[0] != emu.info.APIKeyID ||
		c.JTI == "" || c.ClientUserID == "" || c.AuthenticationMethod == "" || c.ExpiresAt-c.IssuedAt != 3600 ||
		c.NotBefore != 0 || c.KeyID != kidOf(t, oauth["access_token"].(string)) {
		t.Fatalf("claims %+v", c)
	}
	var payload map[string]any
	if err := json.Unmarshal(c.JSON, &payload); err != nil || payload["sub"] != user["ID"] {
		t.Fatalf("payload %s: %v", c.JSON, err)
	}
	id, err := v.Verify(ctx, oauth["id_token"].(string))
	if err != nil || id.Type != "client_id_token" || id.AuthTime == "" {
		t.Fatalf("id token %+v %v", id, err)
	}
	if err := v.Check(ctx, oauth["access_token"].(string)); err != nil {
		t.Fatal(err)
	}
}

// RFC 7519 §2: a NumericDate may have a fraction. It is valid, compared as a number, and ExpiresAt/IssuedAt report
// it floored (the payload JSON keeps it as signed).
func TestVerifyNumericDateWithAFraction(t *testing.T) {
	emu := startEmulator(t)
	v := emu.verifier(t)
	now := time.Now().Unix()
	token := emu.accessToken(map[string]any{"exp": float64(now+600) + 0.5, "iat": float64(now-60) - 0.25}, 600)
	c, err := v.Verify(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if c.ExpiresAt != now+600 || c.IssuedAt != now-61 {
		t.Fatalf("exp %d iat %d, want %d %d", c.ExpiresAt, c.IssuedAt, now+600, now-61)
	}
	var payload map[string]any
	if err := json.Unmarshal(c.JSON, &payload); err != nil || payload["exp"] != float64(now+600)+0.5 {
		t.Fatalf("payload %s: %v", c.JSON, err)
	}
	_, err = v.Verify(ctx, emu.accessToken(map[string]any{"exp": float64(now-600) + 0.5}, 600))
	wantCode(t, err, cotter.ErrJWTExpired)
	_, err = v.Verify(ctx, emu.accessToken(map[string]any{"exp": -0.5}, 600))
	wantCode(t, err, cotter.ErrJWTClaimType)
}

func TestVerifyStaticJWKS(t *testing.T) {
	emu := startEmulator(t)
	jwks := emu.jwks()
	v, err := cotter.NewVerifier(cotter.VerifierOptions{Audience: emu.info.APIKeyID, JWKSJSON: string(jwks)})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	before := emu.requests("GET /api/v0/token/jwks")
	if _, err := v.Verify(ctx, emu.accessToken(nil, 600)); err != nil {
		t.Fatal(err)
	}
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if emu.requests("GET /api/v0/token/jwks") != before {
		t.Fatal("a static key set was fetched")
	}
}

func TestEveryClassOfBadToken(t *testing.T) {
	emu := startEmulator(t)
	v := emu.verifier(t)
	good := emu.accessToken(nil, 600)
	kid := kidOf(t, good)
	tampered := []byte(good)
	i := len(tampered) - 10
	if tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	future := time.Now().Unix() + 3600
	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"garbage", "not-a-jwt", cotter.ErrJWTMalformed},
		{"empty", "", cotter.ErrJWTMalformed},
		{"four segments", good + ".x", cotter.ErrJWTMalformed},
		{"NUL inside", good[:20] + "\x00" + good[21:], cotter.ErrJWTMalformed},
		{"a megabyte of dots", strings.Repeat(".", 1<<20), cotter.ErrJWTMalformed}, // golang-jwt CVE-2025-30204
		{"a megabyte token", good + strings.Repeat("A", 1<<20), cotter.ErrJWTMalformed},
		{"alg none", withHeader(good, `{"alg":"none","kid":"k"}`), cotter.ErrJWTAlg},
		{"alg HS256", withHeader(good, fmt.Sprintf(`{"alg":"HS256","kid":%q}`, kid)), cotter.ErrJWTAlg},
		{"jku", withHeader(good, fmt.Sprintf(`{"alg":"ES256","kid":%q,"jku":"http://x"}`, kid)), cotter.ErrJWTHeader},
		{"crit", withHeader(good, fmt.Sprintf(`{"alg":"ES256","kid":%q,"crit":["exp"]}`, kid)), cotter.ErrJWTCrit},
		{"duplicate", withHeader(good, fmt.Sprintf(`{"alg":"ES256","alg":"ES256","kid":%q}`, kid)), cotter.ErrJWTDuplicate},
		{"signature", string(tampered), cotter.ErrJWTSignature},
		{"expired", emu.accessToken(nil, -120), cotter.ErrJWTExpired},
		{"audience", emu.accessToken(map[string]any{"aud": "someone-else"}, 600), cotter.ErrJWTAudience},
		{"issuer", emu.accessToken(map[string]any{"iss": "https://evil.example"}, 600), cotter.ErrJWTIssuer},
		{"no exp", emu.accessToken(map[string]any{"exp": nil}, 600), cotter.ErrJWTMissingClaim},
		{"exp string", emu.accessToken(map[string]any{"exp": "tomorrow"}, 600), cotter.ErrJWTClaimType},
		{"nbf future", emu.accessToken(map[string]any{"nbf": future}, 7200), cotter.ErrJWTNotYetValid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			claims, err := v.Verify(ctx, c.token)
			if claims != nil {
				t.Fatal("claims returned for a bad token")
			}
			wantCode(t, err, c.want)
		})
	}
	o := emu.verifierOptions()
	o.JWKSCooldown = time.Millisecond
	fast, err := cotter.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	_, err = fast.Verify(ctx, withHeader(good, `{"alg":"ES256","kid":"no-such-kid"}`))
	wantCode(t, err, cotter.ErrJWTKeyNotFound)

	// The token's kid selects a key that may not verify ES256 (its JWK says ES384).
	var set map[string][]map[string]any
	if err := json.Unmarshal(emu.jwks(), &set); err != nil || len(set["keys"]) == 0 {
		t.Fatal(set, err)
	}
	for _, k := range set["keys"] {
		k["alg"] = "ES384"
	}
	mismatched, err := cotter.NewVerifier(cotter.VerifierOptions{Audience: emu.info.APIKeyID, JWKSJSON: jsonString(set)})
	if err != nil {
		t.Fatal(err)
	}
	defer mismatched.Close()
	_, err = mismatched.Verify(ctx, good)
	wantCode(t, err, cotter.ErrJWTKeyMismatch)
}

func TestKeySetErrorsAndBadOptions(t *testing.T) {
	emu := startEmulator(t)
	for _, o := range []cotter.VerifierOptions{
		{Audience: "a", JWKSJSON: "{not json"},
	} {
		_, err := cotter.NewVerifier(o)
		wantCode(t, err, cotter.ErrJWKSInvalid)
	}
	for _, o := range []cotter.VerifierOptions{
		{JWKSURL: emu.info.JWKSURL},
		{Audience: "a"},
		{Audience: "a", JWKSURL: "http://example.com/jwks"},
		{Audience: "a\x00b", JWKSURL: emu.info.JWKSURL},
		{Audience: "a", JWKSURL: emu.info.JWKSURL, Leeway: 301 * time.Second},
	} {
		_, err := cotter.NewVerifier(o)
		wantCode(t, err, cotter.ErrInvalid)
	}
	dead, err := cotter.NewVerifier(cotter.VerifierOptions{Audience: emu.info.APIKeyID,
		JWKSURL: "http://127.0.0.1:9/jwks", JWKSTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	_, err = dead.Verify(ctx, emu.accessToken(nil, 600))
	wantCode(t, err, cotter.ErrJWKSUnavailable)
	wantCode(t, dead.Refresh(ctx), cotter.ErrJWKSUnavailable)

	// Closed objects refuse politely.
	dead.Close()
	_, err = dead.Verify(ctx, "x")
	wantCode(t, err, cotter.ErrInvalid)
}

func TestClockAndLogCallbacks(t *testing.T) {
	emu := startEmulator(t)
	token := emu.accessToken(nil, 600)
	var mu sync.Mutex
	var logs []string
	o := emu.verifierOptions()
	o.Clock = func() time.Time { return time.Unix(4_000_000_000, 0) }
	o.Log = func(_ cotter.LogLevel, msg string) { mu.Lock(); logs = append(logs, msg); mu.Unlock() }
	v, err := cotter.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	_, err = v.Verify(ctx, token)
	wantCode(t, err, cotter.ErrJWTExpired)
	mu.Lock()
	for _, m := range logs {
		if strings.Contains(m, token) {
			t.Fatal("a log message contains the token")
		}
	}
	mu.Unlock()
	o.Clock = func() time.Time { return time.Unix(1_000_000_000, 0) }
	o.Log = nil
	past, _ := cotter.NewVerifier(o)
	defer past.Close()
	_, err = past.Verify(ctx, token)
	wantCode(t, err, cotter.ErrJWTNotYetValid)
}

func TestOneVerifierManyGoroutines(t *testing.T) {
	emu := startEmulator(t)
	v := emu.verifier(t)
	tokens := []string{emu.accessToken(nil, 600), emu.accessToken(nil, 600)}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(tok string) {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				if c, err := v.Verify(ctx, tok); err != nil || c.Subject == "" {
					t.Error(err)
					return
				}
			}
		}(tokens[i%2])
	}
	wg.Wait()
	if n := emu.requests("GET /api/v0/token/jwks"); n != 1 {
		t.Fatalf("%d JWKS fetches, want 1 shared by every goroutine", n)
	}
}

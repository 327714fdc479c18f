package cotter_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

func TestMiddlewareAcceptsValidTokensOnly(t *testing.T) {
	emu := startEmulator(t)
	v := emu.verifier(t)
	mux := http.NewServeMux()
	mux.Handle("/me", cotter.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, ok := cotter.ClaimsFromContext(r.Context())
		if !ok {
			http.Error(w, "no claims", 500)
			return
		}
		fmt.Fprintf(w, `{"sub":%q,"identifier":%q}`, claims.Subject, claims.Identifier)
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(auth string) (int, string, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/me", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
	}
	login := emu.login("gopher@example.com")
	access := login["oauth_token"].(map[string]any)["access_token"].(string)
	for _, c := range []struct{ auth, wantInHeader string }{
		{"", `Bearer realm="api"`},
		{"Basic abc", `Bearer realm="api"`},
		{"Bearer not-a-jwt", "COTTER_EJWT_MALFORMED"},
		{"Bearer " + emu.accessToken(nil, -60), "COTTER_EJWT_EXPIRED"},
		{"Bearer " + emu.accessToken(map[string]any{"aud": "another-project"}, 600), "COTTER_EJWT_AUDIENCE"},
	} {
		status, www, _ := get(c.auth)
		if status != 401 || !strings.Contains(www, c.wantInHeader) {
			t.Fatalf("%q: %d %q", c.auth, status, www)
		}
	}
	status, _, body := get("Bearer " + access)
	var me map[string]string
	if status != 200 || json.Unmarshal([]byte(body), &me) != nil || me["sub"] != login["user"].(map[string]any)["ID"] ||
		me["identifier"] != "gopher@example.com" {
		t.Fatalf("%d %s", status, body)
	}

	// A verifier that cannot fetch the key set answers 503 (retry later), not 401: the token may be fine.
	emu.fault(map[string]any{"route": "GET /api/v0/token/jwks", "status": 503, "count": 3})
	fresh := httptest.NewServer(cotter.Middleware(emu.verifier(t))(http.NotFoundHandler()))
	defer fresh.Close()
	req, _ := http.NewRequest("GET", fresh.URL, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "10" || resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("key set unavailable: %d %v", resp.StatusCode, resp.Header)
	}
}

// Options that could never be right fail when the handler is built, with Node's requireAuth sentences: a scope or
// token type that is empty, holds a space (or a quote or backslash, which scope="..." could not carry), a negative
// Retry-After. Validate gives the same error without building anything.
func TestMiddlewareOptionsAreValidated(t *testing.T) {
	cases := []struct {
		name string
		opts cotter.MiddlewareOptions
		want string
	}{
		{"a scope with a space", cotter.MiddlewareOptions{RequiredScopes: []string{"read write"}}, "NewMiddleware: RequiredScopes must be a list of words"},
		{"an empty scope", cotter.MiddlewareOptions{RequiredScopes: []string{"read", ""}}, "NewMiddleware: RequiredScopes must be a list of words"},
		{"a scope with a tab", cotter.MiddlewareOptions{RequiredScopes: []string{"read\twrite"}}, "NewMiddleware: RequiredScopes must be a list of words"},
		{"a scope with a quote", cotter.MiddlewareOptions{RequiredScopes: []string{`a"b`}}, "NewMiddleware: RequiredScopes must be a list of words"},
		{"a scope with a backslash", cotter.MiddlewareOptions{RequiredScopes: []string{`a\b`}}, "NewMiddleware: RequiredScopes must be a list of words"},
		{"an empty token type", cotter.MiddlewareOptions{TokenTypes: []string{""}}, "NewMiddleware: TokenTypes must be a list of words"},
		{"a token type with a space", cotter.MiddlewareOptions{TokenTypes: []string{"access token"}}, "NewMiddleware: TokenTypes must be a list of words"},
		{"a negative Retry-After", cotter.MiddlewareOptions{RetryAfterSeconds: -1}, "NewMiddleware: RetryAfterSeconds must be a non-negative integer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.opts.Validate()
			var e *cotter.Error
			if !errors.As(err, &e) || e.Code != cotter.CodeInvalid || e.Message != c.want {
				t.Fatalf("Validate() = %v, want COTTER_EINVAL %q", err, c.want)
			}
			defer func() {
				if r := recover(); r == nil || !errors.Is(r.(error), cotter.ErrInvalid) || r.(error).Error() != err.Error() {
					t.Fatalf("NewMiddleware: recovered %v, want a panic with %v", r, err)
				}
			}()
			cotter.NewMiddleware(nil, c.opts)
		})
	}
	ok := cotter.MiddlewareOptions{RequiredScopes: []string{"read:messages", "access"}, TokenTypes: []string{"*"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
}

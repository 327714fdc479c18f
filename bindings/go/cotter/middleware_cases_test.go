package cotter_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// middlewareCase is one row of tests/fixtures/middleware/cases.json, the table the Node and Rust middleware run too.
type middlewareCase struct {
	Name  string `json:"name"`
	Token *struct {
		Kind   string         `json:"kind"`
		Claims map[string]any `json:"claims"`
		TTL    *int           `json:"ttl"`
	} `json:"token"`
	Authorization []string `json:"authorization"`
	Options       struct {
		Realm          string   `json:"realm"`
		TokenTypes     []string `json:"tokenTypes"`
		RequiredScopes []string `json:"requiredScopes"`
		AuthRequired   *bool    `json:"authRequired"`
		ClaimCheck     *struct {
			Claim  string `json:"claim"`
			Equals any    `json:"equals"`
		} `json:"claimCheck"`
	} `json:"options"`
	Status          int     `json:"status"`
	WWWAuthenticate string  `json:"www_authenticate"`
	Error           *string `json:"error"`
	Auth            bool    `json:"auth"`
}

func loadMiddlewareCases(t *testing.T) []middlewareCase {
	raw, err := os.ReadFile(filepath.Join(repoRoot(), "tests", "fixtures", "middleware", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Cases []middlewareCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Cases) < 30 {
		t.Fatalf("only %d cases", len(table.Cases))
	}
	return table.Cases
}

// options turns the fixture's options into MiddlewareOptions, recording the *AuthError the handler got.
func (c *middlewareCase) options(seen **cotter.AuthError) cotter.MiddlewareOptions {
	o := cotter.MiddlewareOptions{
		Realm: c.Options.Realm, TokenTypes: c.Options.TokenTypes, RequiredScopes: c.Options.RequiredScopes,
		AuthOptional: c.Options.AuthRequired != nil && !*c.Options.AuthRequired,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err *cotter.AuthError) {
			*seen = err
			cotter.WriteAuthError(w, r, err)
		},
	}
	if cc := c.Options.ClaimCheck; cc != nil {
		// Any claim, custom ones included, read from the verified payload.
		o.ClaimCheck = func(claims *cotter.Claims) bool {
			var payload map[string]any
			return json.Unmarshal(claims.JSON, &payload) == nil && payload[cc.Claim] == cc.Equals
		}
	}
	return o
}

func TestMiddlewareSharedTable(t *testing.T) {
	emu := startEmulator(t)
	v := emu.verifier(t)
	for _, c := range loadMiddlewareCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			var seen *cotter.AuthError
			srv := httptest.NewServer(cotter.NewMiddleware(v, c.options(&seen))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, ok := cotter.ClaimsFromContext(r.Context())
				fmt.Fprintf(w, `{"auth":%v}`, ok)
			})))
			defer srv.Close()

			token := ""
			if c.Token != nil {
				ttl := 600
				if c.Token.TTL != nil {
					ttl = *c.Token.TTL
				}
				claims := c.Token.Claims
				if claims == nil {
					claims = map[string]any{}
				}
				minted := emu.dev("POST", "/access_token", map[string]any{"identifier": "mw@example.com", "claims": claims, "ttl": ttl})
				token = minted[map[string]string{"access": "access_token", "id": "id_token"}[c.Token.Kind]].(string)
			}
			req, _ := http.NewRequest("GET", srv.URL, nil)
			for _, line := range c.Authorization {
				req.Header.Add("Authorization", strings.ReplaceAll(line, "{token}", token))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.Status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.Status, body)
			}
			www := resp.Header.Get("WWW-Authenticate")
			if c.Status == 200 {
				if want := fmt.Sprintf(`{"auth":%v}`, c.Auth); string(body) != want || www != "" || seen != nil {
					t.Fatalf("body %s (want %s), WWW-Authenticate %q", body, want, www)
				}
				return
			}
			if www != c.WWWAuthenticate {
				t.Fatalf("WWW-Authenticate\n got %s\nwant %s", www, c.WWWAuthenticate)
			}
			var answer map[string]string
			if err := json.Unmarshal(body, &answer); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			want := ""
			if c.Error != nil {
				want = *c.Error
			}
			if answer["error"] != want || (token != "" && strings.Contains(string(body), token)) {
				t.Fatalf("body %s, want error %q", body, want)
			}
			// The error the handler got: the same status, code and challenge; a rejected token's *Error inside.
			if seen == nil || seen.Status != c.Status || seen.Code != want || seen.WWWAuthenticate != c.WWWAuthenticate {
				t.Fatalf("AuthError %+v", seen)
			}
			var cerr *cotter.Error
			if strings.Contains(c.WWWAuthenticate, "COTTER_EJWT_") != errors.As(seen, &cerr) {
				t.Fatalf("AuthError %+v: the verifier's error must be wrapped exactly for rejected tokens", seen)
			}
			if want == "insufficient_scope" && strings.Join(seen.Scopes, " ") != strings.Join(c.Options.RequiredScopes, " ") {
				t.Fatalf("scopes %v", seen.Scopes)
			}
		})
	}
}

package cotter_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// Argument mistakes show the library's own sentence (tests/fixtures/argument_errors.json, shared with the C,
// Python, Node and Rust tests): the package passes values through and the core refuses them, so every language
// shows the same text and code. Go's zero values mean "default", so the two mistakes that are a zero
// (jwks_timeout_ms 0, timeout_ms 0) cannot be made from Go; every other one is.
func TestArgumentErrorsShowTheLibraryMessage(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(repoRoot(), "tests/fixtures/argument_errors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var messages map[string]string
	if err := json.Unmarshal(text, &messages); err != nil {
		t.Fatal(err)
	}
	const jwks = `{"keys":[]}`
	const url = "http://127.0.0.1:9/token/jwks" // never contacted: a remote key set is fetched on first use
	verifier := func(o cotter.VerifierOptions) error {
		v, err := cotter.NewVerifier(o)
		if err == nil {
			v.Close()
		}
		return err
	}
	client := func(o cotter.ClientOptions) (*cotter.Client, error) {
		o.APIKeyID = "key"
		o.BaseURL = "http://127.0.0.1:9"
		return cotter.NewClient(o)
	}
	shared, err := client(cotter.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	cases := map[string]func() error{
		"verifier_two_key_sources": func() error { return verifier(cotter.VerifierOptions{Audience: "key", JWKSJSON: jwks, JWKSURL: url}) },
		"verifier_no_key_source":   func() error { return verifier(cotter.VerifierOptions{Audience: "key"}) },
		"verifier_no_audience":     func() error { return verifier(cotter.VerifierOptions{JWKSURL: url}) },
		"verifier_leeway_301": func() error {
			return verifier(cotter.VerifierOptions{Audience: "key", JWKSURL: url, Leeway: 301 * time.Second})
		},
		"client_max_retries_11": func() error {
			c, err := client(cotter.ClientOptions{MaxRetries: 11})
			if err == nil {
				c.Close()
			}
			return err
		},
		"session_refresh_margin_86401": func() error {
			s, err := cotter.NewSession(shared, cotter.SessionOptions{RefreshMargin: 86401 * time.Second}, nil)
			if err == nil {
				s.Close()
			}
			return err
		},
	}
	var names []string
	for name := range cases {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want, ok := messages[name]
		if !ok {
			t.Fatalf("the fixture has no %s", name)
		}
		e := wantCode(t, cases[name](), cotter.ErrInvalid)
		if e.Message != want {
			t.Errorf("%s: message %q, want %q", name, e.Message, want)
		}
		if e.Error() != "COTTER_EINVAL: "+want {
			t.Errorf("%s: Error() %q", name, e.Error())
		}
	}
}

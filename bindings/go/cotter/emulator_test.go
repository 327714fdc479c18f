package cotter_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// emulatorInfo is the JSON line the emulator prints when ready.
type emulatorInfo struct {
	BaseURL           string  `json:"base_url"`
	LoginURL          string  `json:"login_url"`
	JWKSURL           string  `json:"jwks_url"`
	APIKeyID          string  `json:"api_key_id"`
	APISecretKey      string  `json:"api_secret_key"`
	IdentityPublicKey string  `json:"identity_public_key"`
	WorkerURL         string  `json:"worker_url"`
	DevURL            string  `json:"dev_url"`
	DevToken          string  `json:"dev_token"`
	CAFile            *string `json:"ca_file"`
}

type emulator struct {
	t    testing.TB
	info emulatorInfo
	http *http.Client
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// startEmulator spawns `node emulator/bin/cotter-emulator.js --port 0 [args]` and stops it at cleanup.
// A shell holds it and stops it when its stdin closes, so it never outlives a crashed test binary.
func startEmulator(t testing.TB, args ...string) *emulator {
	t.Helper()
	script := `node "$0" --port 0 "$@" </dev/null & pid=$!; trap 'kill $pid 2>/dev/null; wait $pid' EXIT; cat >/dev/null`
	cmd := exec.Command("sh", append([]string{"-c", script, filepath.Join(repoRoot(), "emulator/bin/cotter-emulator.js")}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot start the emulator (is node installed?): %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		t.Fatalf("emulator did not start: %v", err)
	}
	e := &emulator{t: t, http: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if err := json.Unmarshal(line, &e.info); err != nil {
		t.Fatalf("emulator JSON line %q: %v", line, err)
	}
	return e
}

func (e *emulator) origin() string { return e.info.DevURL[:len(e.info.DevURL)-len("/dev")] }

// jwks returns the emulator's JWKS document as served at /token/jwks.
func (e *emulator) jwks() []byte {
	e.t.Helper()
	resp, err := e.http.Get(e.info.JWKSURL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d %v", e.info.JWKSURL, resp.StatusCode, err)
	}
	return body
}

func (e *emulator) dev(method, path string, body any) map[string]any {
	e.t.Helper()
	var v any
	e.devInto(method, path, body, &v)
	m, _ := v.(map[string]any)
	return m
}

func (e *emulator) devInto(method, path string, body any, out any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.info.DevURL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Cotter-Dev-Token", e.info.DevToken) // the dev API's token, from the JSON line
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("dev %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		e.t.Fatalf("dev %s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		e.t.Fatalf("dev %s %s: %v", method, path, err)
	}
}

func (e *emulator) fault(f map[string]any) { e.dev("POST", "/faults", f) }

func (e *emulator) requests(route string) int {
	stats := e.dev("GET", "/stats", nil)
	n, _ := stats["requests"].(map[string]any)[route].(float64)
	return int(n)
}

// waitRequests returns once the server has seen n requests of route (counted when they arrive, before any
// injected latency): a test cancels "after the server saw it" in order, not after a guessed delay. It polls
// /dev/stats; the minute is a hang guard only.
func (e *emulator) waitRequests(route string, n int) {
	e.t.Helper()
	giveUp := time.Now().Add(time.Minute)
	for got := e.requests(route); got < n; got = e.requests(route) {
		if time.Now().After(giveUp) {
			e.t.Fatalf("the server saw %d requests of %s, not %d", got, route, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *emulator) connections() int {
	return int(e.dev("GET", "/stats", nil)["connections"].(float64))
}

func (e *emulator) clientOptions() cotter.ClientOptions {
	o := cotter.ClientOptions{APIKeyID: e.info.APIKeyID, APISecretKey: e.info.APISecretKey,
		BaseURL: e.info.BaseURL, WorkerURL: e.info.WorkerURL, Timeout: 10 * time.Second}
	if e.info.CAFile != nil {
		o.CAFile = *e.info.CAFile
	}
	return o
}

func (e *emulator) client(t testing.TB) *cotter.Client {
	c, err := cotter.NewClient(e.clientOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (e *emulator) verifierOptions() cotter.VerifierOptions {
	o := cotter.VerifierOptions{Audience: e.info.APIKeyID, JWKSURL: e.info.JWKSURL}
	if e.info.CAFile != nil {
		o.CAFile = *e.info.CAFile
	}
	return o
}

func (e *emulator) verifier(t testing.TB) *cotter.Verifier {
	v, err := cotter.NewVerifier(e.verifierOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// login returns a get_identity body for identifier, without the page.
func (e *emulator) login(identifier string) map[string]any {
	return e.dev("POST", "/login", map[string]any{"identifier": identifier})
}

func (e *emulator) loginToken(t testing.TB, identifier string) *cotter.Token {
	b, _ := json.Marshal(e.login(identifier)["oauth_token"])
	tok, err := cotter.TokenFromJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tok.Close() })
	return tok
}

// accessToken mints an access token with claim overrides and a lifetime (negative: already expired).
func (e *emulator) accessToken(claims map[string]any, ttl int) string {
	if claims == nil {
		claims = map[string]any{}
	}
	return e.dev("POST", "/access_token", map[string]any{"identifier": "minted@example.com", "claims": claims, "ttl": ttl})["access_token"].(string)
}

// wantCode fails unless err is a *cotter.Error with code (matched through errors.Is and errors.As).
func wantCode(t testing.TB, err error, sentinel error) *cotter.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("expected %v, got success", sentinel)
	}
	var ce *cotter.Error
	if !asError(err, &ce) {
		t.Fatalf("expected *cotter.Error %v, got %T %v", sentinel, err, err)
	}
	if !isError(err, sentinel) {
		t.Fatalf("expected %v, got %v", sentinel, err)
	}
	if ce.Name != cotter.StatusName(ce.Code) {
		t.Fatalf("error name %q for code %d", ce.Name, ce.Code)
	}
	return ce
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return string(b)
}

// rssKiB is the resident set of this process (VmRSS), and its anonymous part (RssAnon: heap, stacks,
// mappings; not the pages of the executable and shared libraries, which are read in as code first runs).
func rssKiB(t testing.TB) (total, anon int64) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(data), "\n") {
		var v int64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &v); err == nil {
			total = v
		} else if _, err := fmt.Sscanf(line, "RssAnon: %d kB", &v); err == nil {
			anon = v
		}
	}
	if total == 0 || anon == 0 {
		t.Fatalf("no VmRSS/RssAnon in /proc/self/status")
	}
	return total, anon
}

package cotter_test

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

const refreshRoute = "POST /api/v0/token/:api_key_id"

// testClock moves the session's clock and the emulator's dev clock together.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()) * time.Second)
}

func (c *testClock) advance(emu *emulator, secs int64) {
	c.offset.Add(secs)
	emu.dev("POST", "/clock", map[string]any{"advance_seconds": secs})
}

func newSession(t *testing.T, c *cotter.Client, o cotter.SessionOptions, initial *cotter.Token) *cotter.Session {
	t.Helper()
	s, err := cotter.NewSession(c, o, initial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSessionRefreshesWhenDue(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	tok := emu.loginToken(t, "sam@example.com")
	clock := &testClock{}
	var changes atomic.Int32
	s := newSession(t, c, cotter.SessionOptions{RefreshMargin: time.Minute, Clock: clock.now,
		OnTokensChanged: func(ti *cotter.TokenInfo) {
			if ti != nil && ti.AccessToken != "" {
				changes.Add(1)
			}
		}}, tok)
	if at, err := s.AccessToken(ctx); err != nil || at != tok.AccessToken() || emu.requests(refreshRoute) != 0 {
		t.Fatal(err)
	}
	clock.advance(emu, 3600-30)
	fresh, err := s.AccessToken(ctx)
	if err != nil || fresh == tok.AccessToken() || emu.requests(refreshRoute) != 1 {
		t.Fatal(err, emu.requests(refreshRoute))
	}
	if again, _ := s.AccessToken(ctx); again != fresh || emu.requests(refreshRoute) != 1 {
		t.Fatal("refreshed a valid token")
	}
	if changes.Load() < 1 {
		t.Fatal("no change callback")
	}
	forced, err := s.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer forced.Close()
	cur, _ := s.Token(ctx)
	defer cur.Close()
	if cur.AccessToken() != forced.AccessToken() || emu.requests(refreshRoute) != 2 {
		t.Fatal("Token() after Refresh()")
	}
}

func TestSessionManyGoroutinesShareOneRefresh(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	tok := emu.loginToken(t, "tina@example.com")
	clock := &testClock{}
	clock.advance(emu, 7200)
	s := newSession(t, c, cotter.SessionOptions{Clock: clock.now}, tok)
	var wg sync.WaitGroup
	got := make([]string, 32)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], _ = s.AccessToken(ctx)
		}(i)
	}
	wg.Wait()
	for _, g := range got {
		if g == "" || g != got[0] {
			t.Fatal("goroutines got different or no tokens")
		}
	}
	if n := emu.requests(refreshRoute); n != 1 {
		t.Fatalf("%d refreshes for 32 concurrent callers, want 1", n)
	}
}

func TestSessionTokenFile(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	file := filepath.Join(t.TempDir(), "tokens.json")
	tok := emu.loginToken(t, "uma@example.com")
	first := newSession(t, c, cotter.SessionOptions{TokenFile: file}, tok)
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatal(st, err)
	}
	rotated, err := first.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rotated.Close()
	second := newSession(t, c, cotter.SessionOptions{TokenFile: file}, nil)
	cur, err := second.Token(ctx)
	if err != nil || cur.RefreshToken() != rotated.RefreshToken() {
		t.Fatal(err)
	}
	cur.Close()
	os.WriteFile(file, []byte("{corrupt"), 0o600)
	_, err = cotter.NewSession(c, cotter.SessionOptions{TokenFile: file}, nil)
	wantCode(t, err, cotter.ErrStorage)
}

type memoryStorage struct {
	mu    sync.Mutex
	json  []byte
	saves int
	fail  bool
}

func (m *memoryStorage) Load() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return nil, errors.New("keychain locked")
	}
	return m.json, nil
}

func (m *memoryStorage) Save(json []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves++
	m.json = json
	return nil
}

func (m *memoryStorage) Delete() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.json = nil
	return nil
}

func TestSessionCustomStorageLogoutReauth(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	store := &memoryStorage{}
	tok := emu.loginToken(t, "victor@example.com")
	s := newSession(t, c, cotter.SessionOptions{Storage: store}, tok)
	if store.saves < 1 || len(store.json) == 0 {
		t.Fatal("nothing saved")
	}
	again := newSession(t, c, cotter.SessionOptions{Storage: store}, nil)
	if cur, err := again.Token(ctx); err != nil || cur.RefreshToken() != tok.RefreshToken() {
		t.Fatal(err)
	}
	if err := s.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if store.json != nil {
		t.Fatal("logout kept the stored tokens")
	}
	_, err := s.AccessToken(ctx)
	wantCode(t, err, cotter.ErrReauth)
	if err := s.SetToken(tok); err != nil {
		t.Fatal(err)
	}
	if at, err := s.AccessToken(ctx); err != nil || at != tok.AccessToken() {
		t.Fatal(err)
	}
	_, err = cotter.NewSession(c, cotter.SessionOptions{Storage: &memoryStorage{fail: true}}, nil)
	wantCode(t, err, cotter.ErrUser)
}

func TestSessionTransportErrorsKeepTokens(t *testing.T) {
	emu := startEmulator(t)
	o := emu.clientOptions()
	o.MaxRetries = cotter.NoRetries
	c, _ := cotter.NewClient(o)
	defer c.Close()
	body := emu.login("wendy@example.com")
	tok, _ := cotter.TokenFromJSON([]byte(jsonString(body["oauth_token"])))
	defer tok.Close()
	s := newSession(t, c, cotter.SessionOptions{}, tok)
	emu.fault(map[string]any{"route": refreshRoute, "status": 503})
	_, err := s.Refresh(ctx)
	wantCode(t, err, cotter.ErrHTTP)
	// A reset may have lost a rotation's answer: the session sends the refresh once more, so the fault is
	// injected for both attempts.
	emu.fault(map[string]any{"route": refreshRoute, "reset": true, "count": 2})
	_, err = s.Refresh(ctx)
	wantCode(t, err, cotter.ErrNetwork)
	if at, err := s.AccessToken(ctx); err != nil || at != tok.AccessToken() {
		t.Fatal("tokens lost after transport errors", err)
	}
	emu.dev("POST", "/expire_tokens", map[string]any{"user_id": body["user"].(map[string]any)["ID"], "refresh_tokens": true})
	_, err = s.Refresh(ctx)
	wantCode(t, err, cotter.ErrReauth)
}

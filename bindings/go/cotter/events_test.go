package cotter_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

// Trusted-device events (spec §2.11) against the emulator: a pending event for a user with an enrolled device,
// polled; and the errors. (Approving needs the device's signature: tests/python/test_events.py and
// tests/node/trusted_device.test.js sign with a real key and collect the tokens.)
func TestEvents(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	u, err := c.UserCreate(ctx, "go-device@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// No trusted device yet: the API refuses with its reason.
	_, err = c.EventCreatePending(ctx, u.ID, "LOGIN", "")
	if e := wantCode(t, err, cotter.ErrOAuth); !strings.Contains(e.Error(), "trusted device") {
		t.Fatal(e)
	}
	// Enrol a device key (RFC 8032 test 1 public key) with the secret, as a server would.
	body := []byte(`{"method":"TRUSTED_DEVICE","enrolled":true,"algorithm":"ED25519","code":"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}`)
	req, _ := http.NewRequest("PUT", emu.info.BaseURL+"/user/"+u.ID, bytes.NewReader(body))
	req.Header.Set("API_KEY_ID", emu.info.APIKeyID)
	req.Header.Set("API_SECRET_KEY", emu.info.APISecretKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := emu.http.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(resp, err)
	}
	resp.Body.Close()

	p, err := cotter.NewPKCE()
	if err != nil {
		t.Fatal(err)
	}
	type event struct {
		ID       int64
		New      bool
		Approved bool
		Event    string
		Token    json.RawMessage `json:"oauth_token"`
	}
	decode := func(raw json.RawMessage, err error) event {
		t.Helper()
		var ev event
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err, string(raw))
		}
		return ev
	}
	ev := decode(c.EventCreatePending(ctx, u.ID, "LOGIN", p.Challenge))
	if ev.ID <= 0 || !ev.New || ev.Approved || ev.Event != "LOGIN" {
		t.Fatalf("%+v", ev)
	}
	polled := decode(c.EventGet(ctx, ev.ID, p.Verifier))
	if polled.ID != ev.ID || !polled.New || polled.Token != nil { // not approved: no tokens
		t.Fatalf("%+v", polled)
	}
	if again := decode(c.EventGet(ctx, ev.ID, "")); again.ID != ev.ID {
		t.Fatalf("%+v", again)
	}

	_, err = c.EventGet(ctx, ev.ID+1000, "")
	wantCode(t, err, cotter.ErrNotFound)
	_, err = c.EventCreatePending(ctx, "no-such-user", "LOGIN", "")
	wantCode(t, err, cotter.ErrNotFound)
	_, err = c.EventGet(ctx, 0, "")
	wantCode(t, err, cotter.ErrInvalid)
	_, err = c.EventGet(ctx, ev.ID, "short")
	wantCode(t, err, cotter.ErrInvalid)
	_, err = c.EventCreatePending(ctx, u.ID, "", "")
	wantCode(t, err, cotter.ErrInvalid)
	_, err = c.EventCreatePending(ctx, u.ID, "LOGIN", "not a challenge")
	wantCode(t, err, cotter.ErrInvalid)
}

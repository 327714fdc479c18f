package cotter_test

import (
	"testing"
	"time"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

var timeZero time.Time

func TestIdentityTokens(t *testing.T) {
	emu := startEmulator(t)
	key := emu.info.IdentityPublicKey
	it := emu.dev("POST", "/identity_token", map[string]any{"identifier": "walter@example.com"})["identity_token"].(map[string]any)
	text := jsonString(it)
	if err := cotter.IdentityTokenVerify(text, emu.info.APIKeyID, key, timeZero); err != nil {
		t.Fatal(err)
	}
	wantCode(t, cotter.IdentityTokenVerify(text, "another-key-id", key, timeZero), cotter.ErrLegacyClaim)
	wantCode(t, cotter.IdentityTokenVerify(text, emu.info.APIKeyID, key, time.Now().Add(365*24*time.Hour)), cotter.ErrLegacyClaim)
	forged := map[string]any{}
	for k, v := range it {
		forged[k] = v
	}
	forged["identifier"] = "eve@example.com"
	wantCode(t, cotter.IdentityTokenVerify(jsonString(forged), emu.info.APIKeyID, key, timeZero), cotter.ErrLegacySignature)
	wantCode(t, cotter.IdentityTokenVerify(text, emu.info.APIKeyID, "", timeZero), cotter.ErrLegacySignature) // Cotter's key
	wantCode(t, cotter.IdentityTokenVerify("[]", emu.info.APIKeyID, key, timeZero), cotter.ErrProtocol)
	wantCode(t, cotter.IdentityTokenVerify(text, emu.info.APIKeyID, "not base64!", timeZero), cotter.ErrInvalid)
	if cotter.LegacyPublicKey != "qqOaiQGjGsxBMgI5rdAasaACRiJthOqadmefjY5mS/c=" {
		t.Fatal(cotter.LegacyPublicKey)
	}
}

func TestEventTokens(t *testing.T) {
	emu := startEmulator(t)
	key := emu.info.IdentityPublicKey
	ev := emu.dev("POST", "/event_token", map[string]any{"identifier": "walter@example.com"})["event_token"].(map[string]any)
	if err := cotter.EventTokenVerify(jsonString(ev), emu.info.APIKeyID, key); err != nil {
		t.Fatal(err)
	}
	wantCode(t, cotter.EventTokenVerify(jsonString(ev), "another-key-id", key), cotter.ErrLegacyClaim)
	denied := emu.dev("POST", "/event_token", map[string]any{"identifier": "walter@example.com", "approved": false})["event_token"]
	wantCode(t, cotter.EventTokenVerify(jsonString(denied), emu.info.APIKeyID, key), cotter.ErrLegacyClaim)
	ev["event"] = "LOGOUT"
	wantCode(t, cotter.EventTokenVerify(jsonString(ev), emu.info.APIKeyID, key), cotter.ErrLegacySignature)
}

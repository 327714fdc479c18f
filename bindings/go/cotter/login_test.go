package cotter_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

const redirectURL = "http://localhost:8080/callback"

// logInThroughThePage drives the emulator's login page like a browser without JavaScript and returns
// the redirect's query string.
func logInThroughThePage(t *testing.T, emu *emulator, p *cotter.PKCE, identifier string) string {
	t.Helper()
	u, err := cotter.LoginURL(cotter.LoginURLOptions{LoginURL: emu.info.LoginURL, APIKeyID: emu.info.APIKeyID,
		RedirectURL: redirectURL, State: p.State, CodeChallenge: p.Challenge, AuthMethod: "OTP"})
	if err != nil {
		t.Fatal(err)
	}
	_, query, _ := strings.Cut(u, "?")
	post := func(path, form string) *http.Response {
		resp, err := emu.http.Post(emu.origin()+path, "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	post("/app/identifier", query+"&identifier="+url.QueryEscape(identifier))
	var mail []map[string]any
	emu.devInto("GET", "/mailbox?to="+url.QueryEscape(identifier), nil, &mail)
	msg := mail[len(mail)-1]
	resp := post("/app/otp", "sid="+msg["session"].(string)+"&otp="+msg["otp"].(string))
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.HasPrefix(loc, redirectURL) {
		t.Fatalf("%d %q", resp.StatusCode, loc)
	}
	_, q, _ := strings.Cut(loc, "?")
	return q
}

func TestPKCE(t *testing.T) {
	a, err := cotter.NewPKCE()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cotter.NewPKCE()
	if len(a.Verifier) != 43 || len(a.State) != 22 || a.Verifier == b.Verifier || a.State == b.State {
		t.Fatalf("%#v %#v", a, b)
	}
	if ch, err := cotter.PKCEChallengeOf(a.Verifier); err != nil || ch != a.Challenge {
		t.Fatal(ch, err)
	}
	// Known answer from an independent implementation (Python hashlib + base64url).
	if ch, _ := cotter.PKCEChallengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWjOEjXk"); ch != "VYFANLqdx_HDV6BqEhluZJ63rtrIPROSSFdB3P6G83I" {
		t.Fatal(ch)
	}
	if strings.Contains(a.String()+a.GoString(), a.Verifier) {
		t.Fatal("String() shows the verifier")
	}
}

func TestLoginURLEncodesEveryParameter(t *testing.T) {
	u, err := cotter.LoginURL(cotter.LoginURLOptions{APIKeyID: "key id", RedirectURL: "http://localhost:8080/cb?x=1&y=2",
		State: "s/t", CodeChallenge: "abc", IdentifierType: "PHONE", Input: "+1 555 0100"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"https://js.cotter.app/app?", "redirect_url=http%3A%2F%2Flocalhost%3A8080%2Fcb%3Fx%3D1%26y%3D2",
		"api_key=key%20id", "type=PHONE"} {
		if !strings.Contains(u, want) {
			t.Fatalf("%s lacks %s", u, want)
		}
	}
	_, err = cotter.LoginURL(cotter.LoginURLOptions{APIKeyID: "k"})
	wantCode(t, err, cotter.ErrInvalid)
}

func TestFullLoginThroughTheEmulatorPage(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	p, _ := cotter.NewPKCE()
	r, err := cotter.ParseLoginRedirect(logInThroughThePage(t, emu, p, "judy@example.com"), p.State)
	if err != nil || r.ChallengeID <= 0 {
		t.Fatal(r, err)
	}
	id, err := c.GetIdentity(ctx, r.Code, r.ChallengeID, p.Verifier, redirectURL)
	if err != nil {
		t.Fatal(err)
	}
	defer id.Token.Close()
	if id.Identifier != "judy@example.com" || id.IdentifierType != "EMAIL" || id.UserID == "" || id.Token == nil {
		t.Fatalf("%+v", id)
	}
	claims, err := emu.verifier(t).Verify(ctx, id.Token.AccessToken())
	if err != nil || claims.Subject != id.UserID {
		t.Fatal(claims, err)
	}
	var body map[string]any
	if err := json.Unmarshal(id.JSON, &body); err != nil {
		t.Fatal(err)
	}
	if err := cotter.IdentityTokenVerify(id.IdentityTokenJSON, emu.info.APIKeyID, emu.info.IdentityPublicKey, timeZero); err != nil {
		t.Fatal(err)
	}
	// The generated Identity (capi/abi.json records): the user object as sent, and no Identity Token when printed.
	var user map[string]any
	if err := json.Unmarshal([]byte(id.UserJSON), &user); err != nil || user["ID"] != id.UserID {
		t.Fatal(user, err)
	}
	var it map[string]any
	if err := json.Unmarshal([]byte(id.IdentityTokenJSON), &it); err != nil || it["signature"] == nil {
		t.Fatal(it, err)
	}
	if s := fmt.Sprintf("%v %+v %#v", *id, id, *id); strings.Contains(s, it["signature"].(string)) {
		t.Fatal("printing an Identity shows its Identity Token")
	}
	_, err = c.GetIdentity(ctx, r.Code, r.ChallengeID, p.Verifier, redirectURL) // single use
	wantCode(t, err, cotter.ErrOAuth)
}

func TestLoginRejections(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	p, _ := cotter.NewPKCE()
	q := logInThroughThePage(t, emu, p, "mallory@example.com")
	_, err := cotter.ParseLoginRedirect(q, "another-state")
	wantCode(t, err, cotter.ErrState)
	_, err = cotter.ParseLoginRedirect("?error=access_denied&state=x", "x")
	wantCode(t, err, cotter.ErrState)
	_, err = cotter.ParseLoginRedirect("state=x&challenge_id=1", "x")
	wantCode(t, err, cotter.ErrProtocol)
	r, err := cotter.ParseLoginRedirect("?"+q, p.State)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := cotter.NewPKCE()
	_, err = c.GetIdentity(ctx, r.Code, r.ChallengeID, other.Verifier, redirectURL)
	wantCode(t, err, cotter.ErrOAuth)
}

package cotter_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cotter-sdk/cotter/bindings/go/cotter"
)

func TestUsers(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	u, err := c.UserCreate(ctx, "Oscar@Example.com")
	if err != nil || u.Identifier != "oscar@example.com" || u.Issuer != emu.info.APIKeyID || u.ID == "" ||
		u.CreatedAt == "" || !strings.Contains(string(u.JSON), u.ID) {
		t.Fatalf("%+v %v", u, err)
	}
	if g, err := c.UserGetByIdentifier(ctx, "oscar@example.com"); err != nil || g.ID != u.ID {
		t.Fatal(g, err)
	}
	if g, err := c.UserGet(ctx, u.ID); err != nil || g.Identifier != u.Identifier {
		t.Fatal(g, err)
	}
	_, err = c.UserGetByIdentifier(ctx, "nobody@example.com")
	wantCode(t, err, cotter.ErrNotFound)
	_, err = c.UserGet(ctx, "00000000-0000-4000-8000-00000000abcd")
	if e := wantCode(t, err, cotter.ErrNotFound); e.HTTPStatus != 404 {
		t.Fatalf("%+v", e)
	}
	// The list is newest first by creation time in milliseconds, ties in ID order: on a fast machine two
	// users created in one millisecond came out in random order. The emulator's clock moves 1 s before each.
	for i := 0; i < 3; i++ {
		emu.dev("POST", "/clock", map[string]any{"advance_seconds": 1})
		if _, err := c.UserCreate(ctx, fmt.Sprintf("u%d@example.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.UserList(ctx, 0)
	if err != nil || len(page) != 4 || page[0].Identifier != "u2@example.com" || page[1].Identifier != "u1@example.com" ||
		page[2].Identifier != "u0@example.com" || page[3].Identifier != "oscar@example.com" {
		t.Fatalf("%+v %v", page, err)
	}
	if next, err := c.UserList(ctx, 1); err != nil || len(next) != 0 {
		t.Fatal(next, err)
	}
	// The server's paging facts.
	if p, err := c.UserListPage(ctx, 0); err != nil || len(p.Users) != 4 || p.Total != 4 || p.HasMore != 0 {
		t.Fatalf("%+v %v", p, err)
	}
}

func TestSocialTokens(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	u, _ := c.UserCreate(ctx, "peggy@example.com")
	emu.dev("POST", "/social_tokens", map[string]any{"user_id": u.ID, "identity_provider": "GITHUB", "provider_username": "peggy",
		"tokens": map[string]any{"access_token": "gho_secret", "scope": "read:user", "token_type": "bearer"}})
	emu.dev("POST", "/social_tokens", map[string]any{"user_id": u.ID, "identity_provider": "GOOGLE"})
	list, err := c.SocialTokensList(ctx, u.ID)
	if err != nil || len(list) != 2 {
		t.Fatal(list, err)
	}
	gh, err := c.SocialTokenGet(ctx, "github", u.ID)
	if err != nil || gh.Provider != "GITHUB" || gh.AccessToken != "gho_secret" || gh.Scope != "read:user" ||
		gh.TokenType != "bearer" || gh.ProviderUsername != "peggy" || gh.UserID != u.ID {
		t.Fatalf("%+v %v", gh, err)
	}
	if s := fmt.Sprintf("%v %+v %#v", gh, *gh, list); strings.Contains(s, "gho_secret") {
		t.Fatal("formatting shows the provider token: " + s)
	}
	if err := c.SocialTokenDelete(ctx, "GITHUB", u.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.SocialTokenGet(ctx, "GITHUB", u.ID)
	wantCode(t, err, cotter.ErrNotFound)
	wantCode(t, c.SocialTokenDelete(ctx, "GITHUB", u.ID), cotter.ErrNotFound)
}

func TestVerifyRemote(t *testing.T) {
	emu := startEmulator(t)
	c := emu.client(t)
	tok := emu.loginToken(t, "trent@example.com")
	if ok, reason, err := c.VerifyRemote(ctx, tok.AccessToken()); !ok || reason != "" || err != nil {
		t.Fatal(ok, reason, err)
	}
	if ok, reason, err := c.VerifyRemote(ctx, emu.accessToken(nil, -60)); ok || reason == "" || err != nil {
		t.Fatal(ok, reason, err)
	}
}

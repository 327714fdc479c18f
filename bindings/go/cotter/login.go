package cotter

/*
#include <stdlib.h>
#include <stdint.h>
#include <cotter.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// PKCE is a fresh PKCE verifier (32 random bytes, base64url), its S256 challenge and a state.
type PKCE struct {
	Verifier  string // keep it secret until GetIdentity
	Challenge string
	State     string
}

// String hides the verifier.
func (p PKCE) String() string {
	return fmt.Sprintf("PKCE{Challenge:%q State:%q}", p.Challenge, p.State)
}

// GoString hides the verifier from %#v too.
func (p PKCE) GoString() string { return p.String() }

// NewPKCE generates a verifier, its challenge and a state.
func NewPKCE() (*PKCE, error) {
	var out *C.cotter_pkce
	var cerr *C.cotter_error
	if err := check(C.cotter_pkce_new(&out, &cerr), cerr); err != nil {
		return nil, err
	}
	defer C.cotter_pkce_free(out)
	return &PKCE{
		Verifier:  goString(C.cotter_pkce_verifier(out)),
		Challenge: goString(C.cotter_pkce_challenge(out)),
		State:     goString(C.cotter_pkce_state(out)),
	}, nil
}

// PKCEChallengeOf is base64url_nopad(SHA-256(verifier)).
func PKCEChallengeOf(verifier string) (string, error) {
	v, err := cString(verifier, "verifier")
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(v))
	var buf C.cotter_buf
	var cerr *C.cotter_error
	if err := check(C.cotter_pkce_challenge_of(&buf, v, &cerr), cerr); err != nil {
		return "", err
	}
	return bufString(&buf), nil
}

// LoginURLOptions are the parameters of the hosted login page. APIKeyID, RedirectURL, State and
// CodeChallenge are required.
type LoginURLOptions struct {
	LoginURL       string // default https://js.cotter.app/app
	APIKeyID       string
	RedirectURL    string
	State          string
	CodeChallenge  string
	IdentifierType string // EMAIL (default) or PHONE
	AuthMethod     string // OTP, MAGIC_LINK or ""
	Input          string // a prefilled identifier (sends the code at once)
	CotterUserID   string
}

// LoginURL builds the hosted-login URL, every parameter percent-encoded.
func LoginURL(opts LoginURLOptions) (string, error) {
	var o C.cotter_login_url_options
	o.version = C.COTTER_LOGIN_URL_OPTIONS_VERSION
	var cs cStrings
	defer cs.free()
	var err error
	set := func(dst **C.char, s, what string) {
		if err == nil {
			*dst, err = cs.add(s, what, true)
		}
	}
	set(&o.login_url, opts.LoginURL, "LoginURL")
	set(&o.api_key_id, opts.APIKeyID, "APIKeyID")
	set(&o.redirect_url, opts.RedirectURL, "RedirectURL")
	set(&o.state, opts.State, "State")
	set(&o.code_challenge, opts.CodeChallenge, "CodeChallenge")
	set(&o.identifier_type, opts.IdentifierType, "IdentifierType")
	set(&o.auth_method, opts.AuthMethod, "AuthMethod")
	set(&o.input, opts.Input, "Input")
	set(&o.cotter_user_id, opts.CotterUserID, "CotterUserID")
	o.from_environment = 0 // the page is the one given (else Cotter's), whatever $COTTER_LOGIN_URL holds
	if err != nil {
		return "", err
	}
	var buf C.cotter_buf
	var cerr *C.cotter_error
	if err := check(C.cotter_login_url(&buf, &o, &cerr), cerr); err != nil {
		return "", err
	}
	return bufString(&buf), nil
}

// LoginRedirect is what a login redirect carried.
type LoginRedirect struct {
	Code        string // the authorization code (a secret until exchanged)
	ChallengeID int64
}

// ParseLoginRedirect checks a redirect's query string (with or without '?') against the expected state
// and extracts the code and challenge id. Errors: ErrState (wrong state, or the redirect carries
// `error`), ErrProtocol (fields missing or malformed).
func ParseLoginRedirect(query, expectedState string) (*LoginRedirect, error) {
	var cs cStrings
	defer cs.free()
	q, err := cs.add(query, "query", false)
	if err != nil {
		return nil, err
	}
	s, err := cs.add(expectedState, "expectedState", false)
	if err != nil {
		return nil, err
	}
	var code C.cotter_buf
	var id C.int64_t
	var cerr *C.cotter_error
	if err := check(C.cotter_login_redirect_parse(&code, &id, q, s, &cerr), cerr); err != nil {
		return nil, err
	}
	return &LoginRedirect{Code: bufString(&code), ChallengeID: int64(id)}, nil
}

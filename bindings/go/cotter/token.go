package cotter

/*
#include <stdlib.h>
#include <cotter.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Token is Cotter's oauth_token set (access, ID and refresh token), owned by C memory that is wiped when
// freed. Immutable and safe for concurrent use. Close it when done (a finalizer is only a safety net).
type Token struct {
	g   guard
	ptr *C.cotter_token
}

// TokenInfo is a copy of a token set's fields.
type TokenInfo struct {
	AccessToken  string
	IDToken      string
	RefreshToken string
	TokenType    string
	AuthMethod   string
	ExpiresIn    int64 // seconds, as received
	// AccessTokenExpiresAt is the access token's `exp`, read WITHOUT verification: for scheduling a
	// refresh, never for authorisation. 0 when unreadable.
	AccessTokenExpiresAt int64
}

// String hides the tokens.
func (t TokenInfo) String() string {
	return fmt.Sprintf("TokenInfo{TokenType:%q AuthMethod:%q ExpiresIn:%d}", t.TokenType, t.AuthMethod, t.ExpiresIn)
}

// GoString hides the tokens from %#v too.
func (t TokenInfo) GoString() string { return t.String() }

func newToken(p *C.cotter_token) *Token {
	t := &Token{ptr: p}
	track(&t.g, t, (*Token).Close)
	return t
}

// TokenFromJSON parses an oauth_token JSON object (e.g. a token file of Cotter's Python SDK).
// Errors: ErrProtocol (not an object, no string access_token), ErrInvalid.
func TokenFromJSON(json []byte) (*Token, error) {
	var out *C.cotter_token
	var cerr *C.cotter_error
	p := C.CString(string(json)) // with its length: bytes after a NUL still count
	defer C.free(unsafe.Pointer(p))
	if err := check(C.cotter_token_from_json(&out, p, C.size_t(len(json)), &cerr), cerr); err != nil {
		return nil, err
	}
	return newToken(out), nil
}

// Close frees (and wipes) the token set. Safe to call more than once.
func (t *Token) Close() error {
	t.g.close(func() {
		C.cotter_token_free(t.ptr)
		t.ptr = nil
		runtime.SetFinalizer(t, nil)
	})
	return nil
}

// Info copies the token set's fields.
func (t *Token) Info() TokenInfo {
	if !t.g.enter() {
		return TokenInfo{}
	}
	defer t.g.leave()
	return *tokenInfoOf(t.ptr)
}

// AccessToken is the access token (a JWT).
func (t *Token) AccessToken() string { return t.Info().AccessToken }

// RefreshToken is the refresh token (rotated by Cotter on every use).
func (t *Token) RefreshToken() string { return t.Info().RefreshToken }

// IDToken is the ID token (a JWT).
func (t *Token) IDToken() string { return t.Info().IDToken }

// JSON is the six-key oauth_token JSON that Cotter's SDKs store. It holds secrets.
func (t *Token) JSON() ([]byte, error) {
	if !t.g.enter() {
		return nil, errClosed("Token")
	}
	defer t.g.leave()
	var buf C.cotter_buf
	var cerr *C.cotter_error
	if err := check(C.cotter_token_to_json(&buf, t.ptr, &cerr), cerr); err != nil {
		return nil, err
	}
	return []byte(bufString(&buf)), nil
}

// String hides the tokens.
func (t *Token) String() string { return t.Info().String() }

// tokenFromPtr copies a borrowed C token into an owned Token (through JSON, the only copy the ABI has).
func tokenFromPtr(p *C.cotter_token) (*Token, error) {
	var buf C.cotter_buf
	var cerr *C.cotter_error
	if err := check(C.cotter_token_to_json(&buf, p, &cerr), cerr); err != nil {
		return nil, err
	}
	return TokenFromJSON([]byte(bufString(&buf)))
}

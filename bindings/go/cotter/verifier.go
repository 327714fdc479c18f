package cotter

/*
#include <stdlib.h>
#include <stdint.h>
#include <cotter.h>
extern void cotterGoLog(int level, char *message, void *payload);
extern int64_t cotterGoClock(void *payload);
*/
import "C"

import (
	"context"
	"runtime"
	"time"
	"unsafe"
)

// VerifierOptions configures NewVerifier. Zero values keep the library defaults (cotter.h).
type VerifierOptions struct {
	Audience       string        // required: your API key id; `aud` must contain it
	Issuer         string        // default "https://www.cotter.app"
	Leeway         time.Duration // clock skew for exp/nbf/iat; default 5s, at most 300s; use NoLeeway for 0
	JWKSJSON       string        // a static JWKS document (no network)
	JWKSURL        string        // a remote JWKS (https, or http to loopback), fetched on first use
	CAFile         string        // PEM CA bundle for the JWKS fetch; default the system store
	JWKSMaxAge     time.Duration // default 10 min
	JWKSCooldown   time.Duration // minimum time between fetches triggered by unknown kids; default 30 s
	JWKSTimeout    time.Duration // total timeout of one JWKS fetch; default 5 s
	JWKSMaxBytes   int           // default 1 MiB
	TokenCacheSize int           // verified-token cache entries; default 0 (off)
	Clock          ClockFunc     // pins the clock; called on the verifying thread
	Log            LogFunc
}

// NoLeeway asks for a leeway of zero (the zero Duration means "default").
const NoLeeway time.Duration = -1

// Verifier verifies Cotter's ES256 access and ID tokens. Safe for concurrent use; Close it when done.
type Verifier struct {
	g       guard
	ptr     *C.cotter_jwt_verifier
	handles []cHandle
}

// Claims are the verified claims of one token, copied out of the library.
type Claims struct {
	Subject              string
	Issuer               string
	Audience             []string
	Identifier           string
	AuthenticationMethod string
	Scope                string
	Type                 string // client_access_token or client_id_token
	ClientUserID         string
	JTI                  string
	AuthTime             string // ID tokens
	KeyID                string // kid of the key that verified the token
	ExpiresAt            int64  // Unix seconds; 0 when absent
	IssuedAt             int64
	NotBefore            int64
	JSON                 []byte // the whole payload as signed (custom claims live here)
}

// NewVerifier creates a verifier. Errors: ErrInvalid (bad options), ErrJWKSInvalid, ErrNoMemory.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	var o C.cotter_jwt_verifier_options
	if rc := C.cotter_jwt_verifier_options_init(&o, C.COTTER_JWT_VERIFIER_OPTIONS_VERSION); rc != C.COTTER_OK {
		return nil, errorFromCode(Code(rc))
	}
	var cs cStrings
	defer cs.free()
	var err error
	set := func(dst **C.char, s, what string) {
		if err == nil {
			*dst, err = cs.add(s, what, true)
		}
	}
	set(&o.audience, opts.Audience, "Audience")
	set(&o.issuer, opts.Issuer, "Issuer")
	set(&o.jwks_json, opts.JWKSJSON, "JWKSJSON")
	set(&o.jwks_url, opts.JWKSURL, "JWKSURL")
	set(&o.ca_file, opts.CAFile, "CAFile")
	if err != nil {
		return nil, err
	}
	switch {
	case opts.Leeway == NoLeeway:
		o.leeway_seconds = 0
	case opts.Leeway != 0:
		o.leeway_seconds = C.int64_t(opts.Leeway / time.Second)
	}
	if opts.JWKSMaxAge != 0 {
		o.jwks_max_age_ms = C.int64_t(opts.JWKSMaxAge / time.Millisecond)
	}
	if opts.JWKSCooldown != 0 {
		o.jwks_cooldown_ms = C.int64_t(opts.JWKSCooldown / time.Millisecond)
	}
	if opts.JWKSTimeout != 0 {
		o.jwks_timeout_ms = C.int64_t(opts.JWKSTimeout / time.Millisecond)
	}
	if opts.JWKSMaxBytes != 0 {
		o.jwks_max_bytes = C.size_t(opts.JWKSMaxBytes)
	}
	if opts.TokenCacheSize != 0 {
		o.token_cache_size = C.size_t(opts.TokenCacheSize)
	}
	v := &Verifier{}
	if opts.Clock != nil {
		h := newCHandle(opts.Clock)
		v.handles = append(v.handles, h)
		o.clock = C.cotter_clock_fn(C.cotterGoClock)
		o.clock_payload = h.ptr()
	}
	if opts.Log != nil {
		h := newCHandle(opts.Log)
		v.handles = append(v.handles, h)
		o.log = C.cotter_log_fn(C.cotterGoLog)
		o.log_payload = h.ptr()
	}
	var cerr *C.cotter_error
	if err := check(C.cotter_jwt_verifier_new(&v.ptr, &o, &cerr), cerr); err != nil {
		v.releaseHandles()
		return nil, err
	}
	track(&v.g, v, (*Verifier).Close)
	return v, nil
}

func (v *Verifier) releaseHandles() {
	for i := range v.handles {
		v.handles[i].release()
	}
	v.handles = nil
}

// Close frees the verifier after in-flight verifications finish. Safe to call more than once.
func (v *Verifier) Close() error {
	v.g.close(func() {
		C.cotter_jwt_verifier_free(v.ptr)
		v.ptr = nil
		v.releaseHandles()
		runtime.SetFinalizer(v, nil)
	})
	return nil
}

// Verify checks a compact JWS (structure, header policy, ES256 signature, then iss, aud, exp, nbf, iat)
// and returns its claims. It may fetch the remote key set (bounded by JWKSTimeout; the verifier's
// timeout cannot be shortened per call, so ctx only stops the wait).
// Errors: ErrJWT* per class of bad token, ErrJWKSUnavailable, ErrJWKSInvalid, ErrInvalid, or ctx.Err().
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	return blocking(ctx, func() (*Claims, error) { return v.verify(token, true) }, nil)
}

// Check is Verify without building claims: only the verdict.
func (v *Verifier) Check(ctx context.Context, token string) error {
	_, err := blocking(ctx, func() (*Claims, error) { return v.verify(token, false) }, nil)
	return err
}

func (v *Verifier) verify(token string, wantClaims bool) (*Claims, error) {
	if !v.g.enter() {
		return nil, errClosed("Verifier")
	}
	defer v.g.leave()
	// Passed with its length, so a NUL byte inside is part of the (malformed) token, not an end.
	p := C.CString(token)
	defer C.free(unsafe.Pointer(p))
	var cerr *C.cotter_error
	if !wantClaims {
		return nil, check(C.cotter_jwt_verify(nil, v.ptr, p, C.size_t(len(token)), &cerr), cerr)
	}
	var out *C.cotter_claims
	if err := check(C.cotter_jwt_verify(&out, v.ptr, p, C.size_t(len(token)), &cerr), cerr); err != nil {
		return nil, err
	}
	defer C.cotter_claims_free(out)
	return claimsOf(out), nil
}

func claimsOf(c *C.cotter_claims) *Claims {
	var n C.size_t
	js := C.cotter_claims_json(c, &n)
	cl := &Claims{
		Subject:              goString(C.cotter_claims_sub(c)),
		Issuer:               goString(C.cotter_claims_iss(c)),
		Identifier:           goString(C.cotter_claims_identifier(c)),
		AuthenticationMethod: goString(C.cotter_claims_authentication_method(c)),
		Scope:                goString(C.cotter_claims_scope(c)),
		Type:                 goString(C.cotter_claims_type(c)),
		ClientUserID:         goString(C.cotter_claims_client_user_id(c)),
		JTI:                  goString(C.cotter_claims_jti(c)),
		AuthTime:             goString(C.cotter_claims_auth_time(c)),
		KeyID:                goString(C.cotter_claims_kid(c)),
		ExpiresAt:            int64(C.cotter_claims_exp(c)),
		IssuedAt:             int64(C.cotter_claims_iat(c)),
		NotBefore:            int64(C.cotter_claims_nbf(c)),
		JSON:                 C.GoBytes(unsafe.Pointer(js), C.int(n)),
	}
	count := int(C.cotter_claims_audience_count(c))
	for i := 0; i < count; i++ {
		cl.Audience = append(cl.Audience, goString(C.cotter_claims_audience(c, C.size_t(i))))
	}
	return cl
}

// Refresh fetches the remote key set now (not before the cooldown); a no-op for a static key set.
func (v *Verifier) Refresh(ctx context.Context) error {
	_, err := blocking(ctx, func() (struct{}, error) {
		if !v.g.enter() {
			return struct{}{}, errClosed("Verifier")
		}
		defer v.g.leave()
		var cerr *C.cotter_error
		return struct{}{}, check(C.cotter_jwt_verifier_refresh(v.ptr, &cerr), cerr)
	}, nil)
	return err
}

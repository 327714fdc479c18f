package cotter

/*
#include <stdlib.h>
#include <stdint.h>
#include <cotter.h>
#include "trampolines.h"
*/
import "C"

import (
	"context"
	"runtime"
	"sync/atomic"
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
	Log            LogFunc       // on the verifying thread, or the key set's I/O thread for fetches
}

// NoLeeway asks for a leeway of zero (the zero Duration means "default").
const NoLeeway time.Duration = -1

// Verifier verifies Cotter's ES256 access and ID tokens. Safe for concurrent use; Close it when done.
//
// Verification itself is CPU work on the calling goroutine. A remote key set (JWKSURL) is fetched on first
// use through the asynchronous path, so that the context can end that wait (see Verify).
type Verifier struct {
	g      guard
	ptr    *C.cotter_jwt_verifier
	remote bool        // JWKSURL: the first use fetches the key set
	keys   atomic.Bool // a fetch succeeded: verifications find keys without waiting for the network
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
	o := cAlloc[C.cotter_jwt_verifier_options]()
	if o == nil {
		return nil, errorFromCode(CodeNoMemory)
	}
	defer C.free(unsafe.Pointer(o))
	if rc := C.cotter_jwt_verifier_options_init(o, C.COTTER_JWT_VERIFIER_OPTIONS_VERSION); rc != C.COTTER_OK {
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
	// The audience and CA file are what opts says, whatever $COTTER_API_KEY_ID / $COTTER_CA_FILE hold.
	o.from_environment = 0
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
	v := &Verifier{remote: opts.JWKSURL != ""}
	if opts.Clock != nil {
		o.clock = C.cotter_clock_fn(C.cotter_go_clock)
		C.cotter_go_set_payload(&o.clock_payload, v.g.register(opts.Clock))
	}
	if opts.Log != nil {
		o.log = C.cotter_log_fn(C.cotter_go_log)
		C.cotter_go_set_payload(&o.log_payload, v.g.register(opts.Log))
	}
	var cerr *C.cotter_error
	if err := check(C.cotter_jwt_verifier_new(&v.ptr, o, &cerr), cerr); err != nil {
		v.g.forget()
		return nil, err
	}
	track(&v.g, v, (*Verifier).Close)
	return v, nil
}

// Close frees the verifier once the verifications in progress return; a key-set fetch in flight goes on
// until it completes (it keeps the C verifier alive). Safe to call more than once.
func (v *Verifier) Close() error {
	v.g.close(func() {
		C.cotter_jwt_verifier_free(v.ptr)
		v.ptr = nil
		runtime.SetFinalizer(v, nil)
	})
	return nil
}

// Verify checks a compact JWS (structure, header policy, ES256 signature, then iss, aud, exp, nbf, iat)
// and returns its claims. On a remote verifier's first use, with a ctx that can end, it first fetches the
// key set, and ctx can end that wait (with the keys unreachable, every token then gets ErrJWKSUnavailable).
// Later refetches (keys past their max age, an unknown kid) run inside the verification, bounded by
// JWKSTimeout: ctx does not shorten them.
// Errors: ErrJWT* per class of bad token, ErrJWKSUnavailable, ErrJWKSInvalid, ErrInvalid, or the context's.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if err := v.ready(ctx); err != nil {
		return nil, err
	}
	return v.verify(token, true)
}

// Check is Verify without building claims: only the verdict.
func (v *Verifier) Check(ctx context.Context, token string) error {
	if err := v.ready(ctx); err != nil {
		return err
	}
	_, err := v.verify(token, false)
	return err
}

// ready fetches a remote key set before its first use through the asynchronous path, when ctx can end the
// wait. (With a context that cannot end, such as context.Background(), the verification fetches it inline:
// there is nothing to cancel, and the fetch is bounded by JWKSTimeout.)
func (v *Verifier) ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return contextError(err)
	}
	if !v.remote || ctx.Done() == nil || v.keys.Load() {
		return nil
	}
	return v.Refresh(ctx)
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
		err := check(C.cotter_jwt_verify(nil, v.ptr, p, C.size_t(len(token)), &cerr), cerr)
		if err == nil {
			v.keys.Store(true)
		}
		return nil, err
	}
	var out *C.cotter_claims
	if err := check(C.cotter_jwt_verify(&out, v.ptr, p, C.size_t(len(token)), &cerr), cerr); err != nil {
		return nil, err
	}
	v.keys.Store(true) // a verified token: the keys are there
	defer C.cotter_claims_free(out)
	return claimsOf(out), nil
}

func claimsOf(c *C.cotter_claims) *Claims {
	var n C.size_t
	js := C.cotter_claims_json(c, &n)
	cl := claimFieldsOf(c) // the fields of one C getter each (getters_gen.go)
	cl.JSON = C.GoBytes(unsafe.Pointer(js), C.int(n))
	count := int(C.cotter_claims_audience_count(c))
	for i := 0; i < count; i++ {
		cl.Audience = append(cl.Audience, goString(C.cotter_claims_audience(c, C.size_t(i))))
	}
	return cl
}

// Refresh fetches the remote key set now (not before the cooldown); a no-op for a static key set.
// Concurrent refreshes (and first verifications) share one fetch: a ctx that ends stops this wait only, and
// the fetch stops when nothing waits for it any more. A ctx deadline is this wait's budget.
func (v *Verifier) Refresh(ctx context.Context) error {
	_, err := run(ctx, &v.g, "Verifier", 0, func(*cStrings) (startFunc, error) {
		return func(o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
			return C.cotter_jwt_verifier_refresh_start(out, v.ptr, o, e)
		}, nil
	}, waitResult)
	if err == nil {
		v.keys.Store(true)
	}
	return err
}

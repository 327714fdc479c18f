package cotter

/*
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <cotter.h>
#include "trampolines.h"
*/
import "C"

import (
	"context"
	"runtime"
	"time"
	"unsafe"
)

// ClientOptions configures NewClient. Zero values keep the library defaults (cotter.h).
type ClientOptions struct {
	APIKeyID           string        // required; sent as API_KEY_ID
	APISecretKey       string        // needed by server-side calls; copied by the library, wiped on Close, never logged
	BaseURL            string        // default $COTTER_BASE_URL, else https://www.cotter.app/api/v0
	WorkerURL          string        // serverless verify endpoint
	CAFile             string        // PEM CA bundle; default the system store (TLS verification is always on)
	ConnectTimeout     time.Duration // default 10 s
	Timeout            time.Duration // total per call (queueing and retries included), default 30 s; a ctx deadline shortens it
	MaxRetries         int           // retries of GET/DELETE on network errors, 429, 5xx; default 2; NoRetries for 0
	RetryBase          time.Duration // first backoff, default 200 ms
	RetryMax           time.Duration // backoff cap, default 5 s
	MaxResponseBytes   int           // default 8 MiB
	MaxHostConnections int           // open connections per host; further calls queue; default 0 = no cap
	Log                LogFunc       // called on the client's I/O thread
}

// NoRetries asks for zero retries (the zero value means "default").
const NoRetries = -1

// Client is a connection to Cotter's API (or a compatible server such as the emulator). Safe for
// concurrent use. Its calls run on the client's own I/O thread, without a thread per call: any number of
// goroutines may call at once (see docs/go.md, "Concurrency").
//
// Every network method takes a context: when it is cancelled or its deadline passes, the request stops (the
// method returns an error for which errors.Is(err, context.Canceled) or context.DeadlineExceeded holds); a
// deadline sooner than Timeout becomes the call's timeout.
type Client struct {
	g       guard
	ptr     *C.cotter_client
	timeout time.Duration // the effective Timeout: a later ctx deadline does not lengthen a call
}

// ClientStats are a client's counters.
type ClientStats struct {
	Requests    uint64 // HTTP requests sent, retries included
	Connections uint64 // new TCP connections opened
	Retries     uint64 // automatic retries performed
}

// NewClient creates a client. Errors: ErrInvalid (missing key id, bad URL, bad option), ErrNoMemory, ErrInternal.
func NewClient(opts ClientOptions) (*Client, error) {
	o := cAlloc[C.cotter_client_options]()
	if o == nil {
		return nil, errorFromCode(CodeNoMemory)
	}
	defer C.free(unsafe.Pointer(o))
	if rc := C.cotter_client_options_init(o, C.COTTER_CLIENT_OPTIONS_VERSION); rc != C.COTTER_OK {
		return nil, errorFromCode(Code(rc))
	}
	var cs cStrings
	defer cs.free()
	var err error
	set := func(dst **C.char, s, what string, optional bool) {
		if err == nil {
			*dst, err = cs.add(s, what, optional)
		}
	}
	set(&o.api_key_id, opts.APIKeyID, "APIKeyID", false)
	set(&o.api_secret_key, opts.APISecretKey, "APISecretKey", true)
	set(&o.base_url, opts.BaseURL, "BaseURL", true)
	set(&o.worker_url, opts.WorkerURL, "WorkerURL", true)
	set(&o.ca_file, opts.CAFile, "CAFile", true)
	if err != nil {
		return nil, err
	}
	// The credentials are what opts says: an empty APISecretKey is none, whatever the environment holds.
	o.from_environment = 0
	if opts.ConnectTimeout != 0 {
		o.connect_timeout_ms = C.int64_t(opts.ConnectTimeout / time.Millisecond)
	}
	if opts.Timeout != 0 {
		o.timeout_ms = C.int64_t(opts.Timeout / time.Millisecond)
	}
	switch {
	case opts.MaxRetries == NoRetries:
		o.max_retries = 0
	case opts.MaxRetries != 0:
		o.max_retries = C.int(opts.MaxRetries)
	}
	if opts.RetryBase != 0 {
		o.retry_base_ms = C.int64_t(opts.RetryBase / time.Millisecond)
	}
	if opts.RetryMax != 0 {
		o.retry_max_ms = C.int64_t(opts.RetryMax / time.Millisecond)
	}
	if opts.MaxResponseBytes != 0 {
		o.max_response_bytes = C.size_t(opts.MaxResponseBytes)
	}
	o.max_host_connections = C.long(opts.MaxHostConnections)
	c := &Client{timeout: time.Duration(o.timeout_ms) * time.Millisecond}
	if opts.Log != nil {
		o.log = C.cotter_log_fn(C.cotter_go_log)
		C.cotter_go_set_payload(&o.log_payload, c.g.register(opts.Log))
	}
	var cerr *C.cotter_error
	rc := C.cotter_client_new(&c.ptr, o, &cerr)
	if opts.APISecretKey != "" && o.api_secret_key != nil {
		// Our copy of the secret: wipe it before it goes back to the allocator.
		C.memset(unsafe.Pointer(o.api_secret_key), 0, C.size_t(len(opts.APISecretKey)))
	}
	if err := check(rc, cerr); err != nil {
		c.g.forget()
		return nil, err
	}
	track(&c.g, c, (*Client).Close)
	return c, nil
}

// Close frees the client handle (the secret is wiped once nothing uses the client any more). Calls in flight
// go on and complete normally, and sessions on the client keep working: they keep the C client alive. Close
// does not wait for them. Safe to call more than once.
func (c *Client) Close() error {
	c.g.close(func() {
		C.cotter_client_free(c.ptr)
		c.ptr = nil
		runtime.SetFinalizer(c, nil)
	})
	return nil
}

// String never shows the secret.
func (c *Client) String() string { return "cotter.Client{BaseURL:" + c.BaseURL() + "}" }

// BaseURL is the effective API base URL.
func (c *Client) BaseURL() string {
	if !c.g.enter() {
		return ""
	}
	defer c.g.leave()
	return goString(C.cotter_client_base_url(c.ptr))
}

// APIKeyID is the API key id the client sends.
func (c *Client) APIKeyID() string {
	if !c.g.enter() {
		return ""
	}
	defer c.g.leave()
	return goString(C.cotter_client_api_key_id(c.ptr))
}

// JWKSURL is where the client's API publishes its key set (the library's rule: BaseURL + "/token/jwks"), for
// VerifierOptions.JWKSURL.
func (c *Client) JWKSURL() (string, error) {
	if !c.g.enter() {
		return "", errClosed("Client")
	}
	defer c.g.leave()
	base, err := cString(goString(C.cotter_client_base_url(c.ptr)), "BaseURL")
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(base))
	var buf C.cotter_buf
	var cerr *C.cotter_error
	if err := check(C.cotter_jwks_url(&buf, base, &cerr), cerr); err != nil {
		return "", err
	}
	return bufString(&buf), nil
}

// Stats reads the client's counters.
func (c *Client) Stats() (ClientStats, error) {
	if !c.g.enter() {
		return ClientStats{}, errClosed("Client")
	}
	defer c.g.leave()
	var s C.cotter_client_stats
	if rc := C.cotter_client_stats_get(&s, c.ptr); rc != C.COTTER_OK {
		return ClientStats{}, errorFromCode(Code(rc))
	}
	return ClientStats{Requests: uint64(s.requests), Connections: uint64(s.connections), Retries: uint64(s.retries)}, nil
}

// clientStart starts one call on the C client handle (under the client's guard).
type clientStart func(p *C.cotter_client, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int

// clientCall runs one call of the client (see run): prepare converts the arguments into cs and returns the start.
func clientCall[T any](ctx context.Context, c *Client, prepare func(cs *cStrings) (clientStart, error), take takeFunc[T]) (T, error) {
	return run(ctx, &c.g, "Client", c.timeout, func(cs *cStrings) (startFunc, error) {
		start, err := prepare(cs)
		if err != nil {
			return nil, err
		}
		return func(o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
			return start(c.ptr, o, out, e)
		}, nil
	}, take)
}

// oneArg is the start function of the operations that take one string.
type oneArg func(out **C.cotter_call, p *C.cotter_client, a *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int

// withString runs a call of one string argument (optional: "" passes NULL).
func withString[T any](ctx context.Context, c *Client, arg, what string, optional bool, fn oneArg, take takeFunc[T]) (T, error) {
	return clientCall(ctx, c, func(cs *cStrings) (clientStart, error) {
		a, err := cs.add(arg, what, optional)
		if err != nil {
			return nil, err
		}
		return func(p *C.cotter_client, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
			return fn(out, p, a, o, e)
		}, nil
	}, take)
}

// GrantIdentityToken exchanges an Identity Token (JSON) for a token set. Needs the secret; never retried.
func (c *Client) GrantIdentityToken(ctx context.Context, identityTokenJSON string) (*Token, error) {
	return withString(ctx, c, identityTokenJSON, "identityTokenJSON", false,
		func(out **C.cotter_call, p *C.cotter_client, a *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_grant_identity_token_start(out, p, a, o, e)
		}, takeToken)
}

// GrantEventToken exchanges an Event Token (JSON) for a token set. Needs the secret; never retried.
func (c *Client) GrantEventToken(ctx context.Context, eventTokenJSON string) (*Token, error) {
	return withString(ctx, c, eventTokenJSON, "eventTokenJSON", false,
		func(out **C.cotter_call, p *C.cotter_client, a *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_grant_event_token_start(out, p, a, o, e)
		}, takeToken)
}

// Refresh exchanges a refresh token for a new token set. Cotter rotates refresh tokens: the old one is
// invalid afterwards. Never retried automatically. Errors: ErrReauth when the server rejects the token.
// A refresh cancelled after it was sent may still have rotated the token on the server.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	return withString(ctx, c, refreshToken, "refreshToken", false,
		func(out **C.cotter_call, p *C.cotter_client, a *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_refresh_start(out, p, a, o, e)
		}, takeToken)
}

// Logout ends the server session of refreshToken ("" for none).
func (c *Client) Logout(ctx context.Context, refreshToken string) error {
	_, err := withString(ctx, c, refreshToken, "refreshToken", true,
		func(out **C.cotter_call, p *C.cotter_client, a *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_logout_start(out, p, a, o, e)
		}, waitResult)
	return err
}

// CustomClaims is the result of Client.CustomClaims.
type CustomClaims struct {
	Token        string // the new access token carrying the claims
	RefreshToken string // the refresh token that keeps them ("" unless one was passed in)
}

// CustomClaims gets a new access token with customAttributesJSON (a JSON object) as top-level claims;
// with refreshToken, also a refresh token that keeps them.
func (c *Client) CustomClaims(ctx context.Context, accessToken, customAttributesJSON, refreshToken string) (*CustomClaims, error) {
	return clientCall(ctx, c, func(cs *cStrings) (clientStart, error) {
		tok, err := cs.add(accessToken, "accessToken", false)
		if err != nil {
			return nil, err
		}
		attrs, err := cs.add(customAttributesJSON, "customAttributesJSON", false)
		if err != nil {
			return nil, err
		}
		rt, err := cs.add(refreshToken, "refreshToken", true)
		if err != nil {
			return nil, err
		}
		return func(p *C.cotter_client, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
			return C.cotter_client_custom_claims_start(out, p, tok, attrs, rt, o, e)
		}, nil
	}, func(call *C.cotter_call, cerr **C.cotter_error) (*CustomClaims, C.int) {
		var tokOut, rtOut C.cotter_buf
		if rc := C.cotter_call_take_custom_claims(&tokOut, &rtOut, call, cerr); rc != C.COTTER_OK {
			return nil, rc
		}
		return &CustomClaims{Token: bufString(&tokOut), RefreshToken: bufString(&rtOut)}, C.COTTER_OK
	})
}

// GetIdentity exchanges a PKCE login's authorization code for the user's identity and token set.
func (c *Client) GetIdentity(ctx context.Context, authorizationCode string, challengeID int64, codeVerifier, redirectURL string) (*Identity, error) {
	return clientCall(ctx, c, func(cs *cStrings) (clientStart, error) {
		code, err := cs.add(authorizationCode, "authorizationCode", false)
		if err != nil {
			return nil, err
		}
		ver, err := cs.add(codeVerifier, "codeVerifier", false)
		if err != nil {
			return nil, err
		}
		red, err := cs.add(redirectURL, "redirectURL", false)
		if err != nil {
			return nil, err
		}
		return func(p *C.cotter_client, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
			return C.cotter_client_get_identity_start(out, p, code, C.int64_t(challengeID), ver, red, o, e)
		}, nil
	}, takeRecord[Identity])
}

// VerifyRemote asks Cotter's serverless verifier (WorkerURL) about an access token: valid, or the
// worker's reason. err is set only when the call itself failed.
func (c *Client) VerifyRemote(ctx context.Context, accessToken string) (valid bool, reason string, err error) {
	type verdict struct {
		valid  bool
		reason string
	}
	v, err := withString(ctx, c, accessToken, "accessToken", false,
		func(out **C.cotter_call, p *C.cotter_client, a *C.char, o *C.cotter_call_options, e **C.cotter_error) C.int {
			return C.cotter_client_verify_remote_start(out, p, a, o, e)
		}, func(call *C.cotter_call, cerr **C.cotter_error) (verdict, C.int) {
			var ok C.int
			var reason C.cotter_buf
			if rc := C.cotter_call_take_verify_remote(&ok, &reason, call, cerr); rc != C.COTTER_OK {
				return verdict{}, rc
			}
			return verdict{ok != 0, bufString(&reason)}, C.COTTER_OK
		})
	return v.valid, v.reason, err
}

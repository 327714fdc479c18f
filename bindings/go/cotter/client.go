package cotter

/*
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <cotter.h>
extern void cotterGoLog(int level, char *message, void *payload);
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
	APIKeyID         string        // required; sent as API_KEY_ID
	APISecretKey     string        // needed by server-side calls; copied by the library, wiped on Close, never logged
	BaseURL          string        // default $COTTER_BASE_URL, else https://www.cotter.app/api/v0
	WorkerURL        string        // serverless verify endpoint
	CAFile           string        // PEM CA bundle; default the system store (TLS verification is always on)
	ConnectTimeout   time.Duration // default 10 s
	Timeout          time.Duration // total per request, default 30 s: bounds a call that outlives its ctx
	MaxRetries       int           // retries of GET/DELETE on network errors, 429, 5xx; default 2; NoRetries for 0
	RetryBase        time.Duration // first backoff, default 200 ms
	RetryMax         time.Duration // backoff cap, default 5 s
	MaxResponseBytes int           // default 8 MiB
	Log              LogFunc
}

// NoRetries asks for zero retries (the zero value means "default").
const NoRetries = -1

// Client is a connection to Cotter's API (or a compatible server such as the emulator). Safe for
// concurrent use; close it when done (after the sessions that use it).
//
// Every network method takes a context: when it is done before the response, the method returns
// ctx.Err() at once and the request finishes in the background, bounded by Timeout. The C ABI has no
// per-call timeout, so a ctx deadline shorter than Timeout only shortens the wait, not the request.
type Client struct {
	g   guard
	ptr *C.cotter_client
	log cHandle
}

// ClientStats are a client's counters.
type ClientStats struct {
	Requests    uint64 // HTTP requests sent, retries included
	Connections uint64 // new TCP connections opened
	Retries     uint64 // automatic retries performed
}

// NewClient creates a client. Errors: ErrInvalid (missing key id, bad URL), ErrNoMemory, ErrInternal.
func NewClient(opts ClientOptions) (*Client, error) {
	var o C.cotter_client_options
	if rc := C.cotter_client_options_init(&o, C.COTTER_CLIENT_OPTIONS_VERSION); rc != C.COTTER_OK {
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
	c := &Client{}
	if opts.Log != nil {
		c.log = newCHandle(opts.Log)
		o.log = C.cotter_log_fn(C.cotterGoLog)
		o.log_payload = c.log.ptr()
	}
	var cerr *C.cotter_error
	rc := C.cotter_client_new(&c.ptr, &o, &cerr)
	if opts.APISecretKey != "" && o.api_secret_key != nil {
		// Our copy of the secret: wipe it before it goes back to the allocator.
		C.memset(unsafe.Pointer(o.api_secret_key), 0, C.size_t(len(opts.APISecretKey)))
	}
	if err := check(rc, cerr); err != nil {
		c.log.release()
		return nil, err
	}
	track(&c.g, c, (*Client).Close)
	return c, nil
}

// Close frees the client (wiping the secret) after in-flight requests finish. Close the sessions that
// use the client first. Safe to call more than once.
func (c *Client) Close() error {
	c.g.close(func() {
		C.cotter_client_free(c.ptr)
		c.ptr = nil
		c.log.release()
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

// do runs one blocking call on the client under its guard (see blocking for ctx).
func clientCall[T any](ctx context.Context, c *Client, call func(p *C.cotter_client, cs *cStrings) (T, error), release func(T)) (T, error) {
	return blocking(ctx, func() (T, error) {
		var zero T
		if !c.g.enter() {
			return zero, errClosed("Client")
		}
		defer c.g.leave()
		var cs cStrings
		defer cs.free()
		return call(c.ptr, &cs)
	}, release)
}

func closeToken(t *Token) { _ = t.Close() }

func (c *Client) grant(ctx context.Context, json, what string,
	fn func(**C.cotter_token, *C.cotter_client, *C.char, **C.cotter_error) C.int) (*Token, error) {
	return clientCall(ctx, c, func(p *C.cotter_client, cs *cStrings) (*Token, error) {
		j, err := cs.add(json, what, false)
		if err != nil {
			return nil, err
		}
		var out *C.cotter_token
		var cerr *C.cotter_error
		if err := check(fn(&out, p, j, &cerr), cerr); err != nil {
			return nil, err
		}
		return newToken(out), nil
	}, closeToken)
}

// GrantIdentityToken exchanges an Identity Token (JSON) for a token set. Needs the secret; never retried.
func (c *Client) GrantIdentityToken(ctx context.Context, identityTokenJSON string) (*Token, error) {
	return c.grant(ctx, identityTokenJSON, "identityTokenJSON",
		func(o **C.cotter_token, p *C.cotter_client, j *C.char, e **C.cotter_error) C.int {
			return C.cotter_client_grant_identity_token(o, p, j, e)
		})
}

// GrantEventToken exchanges an Event Token (JSON) for a token set. Needs the secret; never retried.
func (c *Client) GrantEventToken(ctx context.Context, eventTokenJSON string) (*Token, error) {
	return c.grant(ctx, eventTokenJSON, "eventTokenJSON",
		func(o **C.cotter_token, p *C.cotter_client, j *C.char, e **C.cotter_error) C.int {
			return C.cotter_client_grant_event_token(o, p, j, e)
		})
}

// Refresh exchanges a refresh token for a new token set. Cotter rotates refresh tokens: the old one is
// invalid afterwards. Never retried automatically. Errors: ErrReauth when the server rejects the token.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Token, error) {
	return c.grant(ctx, refreshToken, "refreshToken",
		func(o **C.cotter_token, p *C.cotter_client, j *C.char, e **C.cotter_error) C.int {
			return C.cotter_client_refresh(o, p, j, e)
		})
}

// Logout ends the server session of refreshToken ("" for none).
func (c *Client) Logout(ctx context.Context, refreshToken string) error {
	_, err := clientCall(ctx, c, func(p *C.cotter_client, cs *cStrings) (struct{}, error) {
		rt, err := cs.add(refreshToken, "refreshToken", true)
		if err != nil {
			return struct{}{}, err
		}
		var cerr *C.cotter_error
		return struct{}{}, check(C.cotter_client_logout(p, rt, &cerr), cerr)
	}, nil)
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
	return clientCall(ctx, c, func(p *C.cotter_client, cs *cStrings) (*CustomClaims, error) {
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
		var tokOut, rtOut C.cotter_buf
		var cerr *C.cotter_error
		if err := check(C.cotter_client_custom_claims(&tokOut, &rtOut, p, tok, attrs, rt, &cerr), cerr); err != nil {
			return nil, err
		}
		return &CustomClaims{Token: bufString(&tokOut), RefreshToken: bufString(&rtOut)}, nil
	}, nil)
}

// Identity is the result of GetIdentity: the user and their token set.
type Identity struct {
	Identifier        string // email or phone
	IdentifierType    string // EMAIL or PHONE
	UserID            string
	IdentityTokenJSON string // the Identity Token object, for GrantIdentityToken / IdentityTokenVerify
	JSON              []byte // the whole response (holds tokens)
	Token             *Token // nil if the server sent none; Close it
}

// GetIdentity exchanges a PKCE login's authorization code for the user's identity and token set.
func (c *Client) GetIdentity(ctx context.Context, authorizationCode string, challengeID int64, codeVerifier, redirectURL string) (*Identity, error) {
	return clientCall(ctx, c, func(p *C.cotter_client, cs *cStrings) (*Identity, error) {
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
		var out *C.cotter_identity
		var cerr *C.cotter_error
		if err := check(C.cotter_client_get_identity(&out, p, code, C.int64_t(challengeID), ver, red, &cerr), cerr); err != nil {
			return nil, err
		}
		defer C.cotter_identity_free(out)
		var n C.size_t
		js := C.cotter_identity_json(out, &n)
		id := &Identity{
			Identifier:        goString(C.cotter_identity_identifier(out)),
			IdentifierType:    goString(C.cotter_identity_identifier_type(out)),
			UserID:            goString(C.cotter_identity_user_id(out)),
			IdentityTokenJSON: goString(C.cotter_identity_identity_token_json(out)),
			JSON:              C.GoBytes(unsafe.Pointer(js), C.int(n)),
		}
		if t := C.cotter_identity_token(out); t != nil {
			if id.Token, err = tokenFromPtr(t); err != nil {
				return nil, err
			}
		}
		return id, nil
	}, func(id *Identity) {
		if id.Token != nil {
			_ = id.Token.Close()
		}
	})
}

// VerifyRemote asks Cotter's serverless verifier (WorkerURL) about an access token: valid, or the
// worker's reason. err is set only when the call itself failed.
func (c *Client) VerifyRemote(ctx context.Context, accessToken string) (valid bool, reason string, err error) {
	type verdict struct {
		valid  bool
		reason string
	}
	v, err := clientCall(ctx, c, func(p *C.cotter_client, cs *cStrings) (verdict, error) {
		tok, err := cs.add(accessToken, "accessToken", false)
		if err != nil {
			return verdict{}, err
		}
		var ok C.int
		var reason C.cotter_buf
		var cerr *C.cotter_error
		if err := check(C.cotter_client_verify_remote(&ok, &reason, p, tok, &cerr), cerr); err != nil {
			return verdict{}, err
		}
		return verdict{ok != 0, bufString(&reason)}, nil
	}, nil)
	return v.valid, v.reason, err
}

package cotter

/*
#include <stdlib.h>
#include <stdint.h>
#include <cotter.h>
extern int64_t cotterGoClock(void *payload);
extern int cotterGoLoad(cotter_buf *out, void *payload);
extern int cotterGoSave(char *json, size_t len, void *payload);
extern void cotterGoTokensChanged(cotter_token *token, void *payload);
*/
import "C"

import (
	"context"
	"runtime"
	"time"
)

// Storage is custom token storage (keychain, database...). Its methods run on the goroutine (thread)
// that triggers the change; an error fails the session call with ErrUser.
type Storage interface {
	Load() ([]byte, error) // the stored oauth_token JSON, or nil when nothing is stored
	Save(json []byte) error
	Delete() error
}

// SessionOptions configures NewSession. At most one storage: TokenFile or Storage; neither keeps the
// tokens in memory only.
type SessionOptions struct {
	RefreshMargin   time.Duration    // refresh when the access token expires within this; default 30 s
	TokenFile       string           // six-key oauth_token JSON, mode 0600, atomic replace, locked across processes
	Storage         Storage          // custom storage
	OnTokensChanged func(*TokenInfo) // after every change of the token set (nil after logout)
	Clock           ClockFunc        // pins the clock, for tests
}

// sessionHooks is what the C callbacks of one session reach through their payload.
type sessionHooks struct {
	storage  Storage
	onChange func(*TokenInfo)
}

// Session keeps one user's token set valid: AccessToken refreshes when the access token expires within
// the margin, and concurrent callers share one refresh. Safe for concurrent use. Close it before its
// Client.
type Session struct {
	g       guard
	ptr     *C.cotter_session
	client  *Client // kept reachable: the C session uses the C client
	handles []cHandle
}

// NewSession creates a session on client. initial (copied; may be nil) replaces what storage holds;
// without it the session loads from storage. Errors: ErrInvalid, ErrStorage (unreadable or corrupt
// file), ErrUser (a storage hook failed), ErrNoMemory.
func NewSession(client *Client, opts SessionOptions, initial *Token) (*Session, error) {
	var o C.cotter_session_options
	if rc := C.cotter_session_options_init(&o, C.COTTER_SESSION_OPTIONS_VERSION); rc != C.COTTER_OK {
		return nil, errorFromCode(Code(rc))
	}
	var cs cStrings
	defer cs.free()
	var err error
	if o.token_file, err = cs.add(opts.TokenFile, "TokenFile", true); err != nil {
		return nil, err
	}
	if opts.RefreshMargin != 0 {
		o.refresh_margin_seconds = C.int64_t(opts.RefreshMargin / time.Second)
	}
	s := &Session{client: client}
	if opts.Storage != nil || opts.OnTokensChanged != nil {
		hooks := &sessionHooks{storage: opts.Storage, onChange: opts.OnTokensChanged}
		h := newCHandle(hooks)
		s.handles = append(s.handles, h)
		if opts.Storage != nil {
			o.load = C.cotter_session_load_fn(C.cotterGoLoad)
			o.save = C.cotter_session_save_fn(C.cotterGoSave)
			o.storage_payload = h.ptr()
		}
		if opts.OnTokensChanged != nil {
			o.on_tokens_changed = C.cotter_tokens_changed_fn(C.cotterGoTokensChanged)
			o.on_tokens_changed_payload = h.ptr()
		}
	}
	if opts.Clock != nil {
		h := newCHandle(opts.Clock)
		s.handles = append(s.handles, h)
		o.clock = C.cotter_clock_fn(C.cotterGoClock)
		o.clock_payload = h.ptr()
	}
	if !client.g.enter() {
		s.releaseHandles()
		return nil, errClosed("Client")
	}
	defer client.g.leave()
	var init *C.cotter_token
	if initial != nil {
		if !initial.g.enter() {
			s.releaseHandles()
			return nil, errClosed("Token")
		}
		defer initial.g.leave()
		init = initial.ptr
	}
	var cerr *C.cotter_error
	if err := check(C.cotter_session_new(&s.ptr, client.ptr, &o, init, &cerr), cerr); err != nil {
		s.releaseHandles()
		return nil, err
	}
	track(&s.g, s, (*Session).Close)
	return s, nil
}

func (s *Session) releaseHandles() {
	for i := range s.handles {
		s.handles[i].release()
	}
	s.handles = nil
}

// Close frees the session after in-flight calls finish. Safe to call more than once.
func (s *Session) Close() error {
	s.g.close(func() {
		C.cotter_session_free(s.ptr)
		s.ptr = nil
		s.releaseHandles()
		runtime.SetFinalizer(s, nil)
		runtime.KeepAlive(s.client)
	})
	return nil
}

func sessionCall[T any](ctx context.Context, s *Session, call func(p *C.cotter_session) (T, error), release func(T)) (T, error) {
	return blocking(ctx, func() (T, error) {
		var zero T
		if !s.g.enter() {
			return zero, errClosed("Session")
		}
		defer s.g.leave()
		return call(s.ptr)
	}, release)
}

// AccessToken returns a valid access token, refreshed first when needed.
// Errors: ErrReauth (log in again), transport errors (tokens kept), ErrStorage, ErrUser, ctx.Err().
func (s *Session) AccessToken(ctx context.Context) (string, error) {
	return sessionCall(ctx, s, func(p *C.cotter_session) (string, error) {
		var buf C.cotter_buf
		var cerr *C.cotter_error
		if err := check(C.cotter_session_get_access_token(&buf, p, &cerr), cerr); err != nil {
			return "", err
		}
		return bufString(&buf), nil
	}, nil)
}

// Token returns the current token set, refreshed first when needed. Close it when done.
func (s *Session) Token(ctx context.Context) (*Token, error) {
	return sessionCall(ctx, s, func(p *C.cotter_session) (*Token, error) {
		var out *C.cotter_token
		var cerr *C.cotter_error
		if err := check(C.cotter_session_get_token(&out, p, &cerr), cerr); err != nil {
			return nil, err
		}
		return newToken(out), nil
	}, closeToken)
}

// Refresh refreshes now, whatever the expiry, and returns the new set. Close it when done.
func (s *Session) Refresh(ctx context.Context) (*Token, error) {
	return sessionCall(ctx, s, func(p *C.cotter_session) (*Token, error) {
		var out *C.cotter_token
		var cerr *C.cotter_error
		if err := check(C.cotter_session_refresh(&out, p, &cerr), cerr); err != nil {
			return nil, err
		}
		return newToken(out), nil
	}, closeToken)
}

// SetToken replaces the token set (e.g. after a login) and stores it.
func (s *Session) SetToken(token *Token) error {
	_, err := sessionCall(context.Background(), s, func(p *C.cotter_session) (struct{}, error) {
		if !token.g.enter() {
			return struct{}{}, errClosed("Token")
		}
		defer token.g.leave()
		var cerr *C.cotter_error
		return struct{}{}, check(C.cotter_session_set_token(p, token.ptr, &cerr), cerr)
	}, nil)
	return err
}

// Logout ends the server session (best effort) and deletes the stored tokens.
func (s *Session) Logout(ctx context.Context) error {
	_, err := sessionCall(ctx, s, func(p *C.cotter_session) (struct{}, error) {
		var cerr *C.cotter_error
		return struct{}{}, check(C.cotter_session_logout(p, &cerr), cerr)
	}, nil)
	return err
}

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
	"time"
	"unsafe"
)

// Storage is custom token storage (keychain, database...). Load may run on the goroutine that calls
// NewSession; later calls run on the client's I/O thread, one at a time: they should be quick (every call
// of the client waits behind them) and must not call the package's network methods. An error fails the
// session call with ErrUser.
type Storage interface {
	Load() ([]byte, error) // the stored oauth_token JSON, or nil when nothing is stored
	Save(json []byte) error
	Delete() error
}

// SessionOptions configures NewSession. At most one storage: TokenFile, Storage or SharedStore; none keeps
// the tokens in memory only.
type SessionOptions struct {
	RefreshMargin   time.Duration    // refresh when the access token expires within this; default 30 s
	TokenFile       string           // six-key oauth_token JSON, mode 0600, atomic replace, locked across processes
	Storage         Storage          // custom storage
	OnTokensChanged func(*TokenInfo) // after every change of the token set (nil after logout), on the I/O thread
	Clock           ClockFunc        // pins the clock, for tests

	// SharedStore shares the session with a fleet through Redis (docs/go.md, "Sessions shared by a fleet");
	// the session keeps it alive. SharedSessionID is the session's id in the store, the same on every replica
	// (1..200 printable ASCII without { }); required with SharedStore.
	SharedStore     *SharedStore
	SharedSessionID string
}

// sessionHooks is what the C callbacks of one session reach through their payload.
type sessionHooks struct {
	storage  Storage
	onChange func(*TokenInfo)
}

// Session keeps one user's token set valid: AccessToken refreshes when the access token expires within
// the margin, and concurrent callers share one refresh. Safe for concurrent use. It keeps its client's C
// object alive: Close the two in any order.
type Session struct {
	g   guard
	ptr *C.cotter_session
}

// NewSession creates a session on client. initial (copied; may be nil) replaces what storage holds;
// without it the session loads from storage. Errors: ErrInvalid, ErrStorage (unreadable or corrupt
// file), ErrUser (a storage hook failed), ErrNoMemory, ErrSharedUnavailable (a SharedStore: Redis could not
// be read or written for the first load or store).
func NewSession(client *Client, opts SessionOptions, initial *Token) (*Session, error) {
	o := cAlloc[C.cotter_session_options]()
	if o == nil {
		return nil, errorFromCode(CodeNoMemory)
	}
	defer C.free(unsafe.Pointer(o))
	if rc := C.cotter_session_options_init(o, C.COTTER_SESSION_OPTIONS_VERSION); rc != C.COTTER_OK {
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
	if o.shared_session_id, err = cs.add(opts.SharedSessionID, "SharedSessionID", true); err != nil {
		return nil, err
	}
	if opts.SharedStore != nil {
		if !opts.SharedStore.g.enter() {
			return nil, errClosed("SharedStore")
		}
		defer opts.SharedStore.g.leave() // the C session takes its own reference to the store
		o.shared_store = opts.SharedStore.ptr
	}
	s := &Session{}
	if opts.Storage != nil || opts.OnTokensChanged != nil {
		id := s.g.register(&sessionHooks{storage: opts.Storage, onChange: opts.OnTokensChanged})
		if opts.Storage != nil {
			o.load = C.cotter_session_load_fn(C.cotter_go_load)
			o.save = C.cotter_session_save_fn(C.cotter_go_save)
			C.cotter_go_set_payload(&o.storage_payload, id)
		}
		if opts.OnTokensChanged != nil {
			o.on_tokens_changed = C.cotter_tokens_changed_fn(C.cotter_go_tokens_changed)
			C.cotter_go_set_payload(&o.on_tokens_changed_payload, id)
		}
	}
	if opts.Clock != nil {
		o.clock = C.cotter_clock_fn(C.cotter_go_clock)
		C.cotter_go_set_payload(&o.clock_payload, s.g.register(opts.Clock))
	}
	if !client.g.enter() {
		s.g.forget()
		return nil, errClosed("Client")
	}
	defer client.g.leave()
	var init *C.cotter_token
	if initial != nil {
		if !initial.g.enter() {
			s.g.forget()
			return nil, errClosed("Token")
		}
		defer initial.g.leave()
		init = initial.ptr
	}
	var cerr *C.cotter_error
	if err := check(C.cotter_session_new(&s.ptr, client.ptr, o, init, &cerr), cerr); err != nil {
		s.g.forget()
		return nil, err
	}
	// The C session keeps the C client alive, and the client's log callback with it.
	client.g.hold()
	s.g.parent = &client.g
	track(&s.g, s, (*Session).Close)
	return s, nil
}

// Close frees the session handle. Calls in flight complete normally (they keep the C session alive), and the
// storage and change hooks stay reachable until they have. Safe to call more than once.
func (s *Session) Close() error {
	s.g.close(func() {
		C.cotter_session_free(s.ptr)
		s.ptr = nil
		runtime.SetFinalizer(s, nil)
	})
	return nil
}

// sessionCall runs one call of the session (see run). A ctx deadline bounds the wait for the session's
// refresh; the refresh itself is bounded by the client's Timeout.
func sessionCall[T any](ctx context.Context, s *Session,
	start func(p *C.cotter_session, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int, take takeFunc[T]) (T, error) {
	return run(ctx, &s.g, "Session", 0, func(*cStrings) (startFunc, error) {
		return func(o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
			return start(s.ptr, o, out, e)
		}, nil
	}, take)
}

// AccessToken returns a valid access token, refreshed first when needed (a still-valid token comes at once,
// without a wait). Errors: ErrReauth (log in again), transport errors (tokens kept), ErrStorage, ErrUser,
// ErrSharedUnavailable (a shared store's Redis was needed and could not be used; nothing refreshed), and
// the context's (a refresh already sent is not undone: the session stores its tokens when they arrive).
func (s *Session) AccessToken(ctx context.Context) (string, error) {
	return sessionCall(ctx, s, func(p *C.cotter_session, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
		return C.cotter_session_get_access_token_start(out, p, o, e)
	}, takeString)
}

// Token returns the current token set, refreshed first when needed. Close it when done.
func (s *Session) Token(ctx context.Context) (*Token, error) {
	return sessionCall(ctx, s, func(p *C.cotter_session, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
		return C.cotter_session_get_token_start(out, p, o, e)
	}, takeToken)
}

// Refresh refreshes now, whatever the expiry, and returns the new set. Close it when done.
func (s *Session) Refresh(ctx context.Context) (*Token, error) {
	return sessionCall(ctx, s, func(p *C.cotter_session, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
		return C.cotter_session_refresh_start(out, p, o, e)
	}, takeToken)
}

// SetToken replaces the token set (e.g. after a login) and stores it. It waits for the session's
// operation in progress, if any (a refresh), then runs the storage hook.
func (s *Session) SetToken(token *Token) error {
	closed := false
	_, err := sessionCall(context.Background(), s, func(p *C.cotter_session, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
		if !token.g.enter() {
			closed = true
			return C.COTTER_EINVAL
		}
		defer token.g.leave() // the library copies the token before the start returns
		return C.cotter_session_set_token_start(out, p, token.ptr, o, e)
	}, waitResult)
	if closed {
		return errClosed("Token")
	}
	return err
}

// Logout ends the server session (best effort) and deletes the stored tokens.
func (s *Session) Logout(ctx context.Context) error {
	_, err := sessionCall(ctx, s, func(p *C.cotter_session, o *C.cotter_call_options, out **C.cotter_call, e **C.cotter_error) C.int {
		return C.cotter_session_logout_start(out, p, o, e)
	}, waitResult)
	return err
}

package cotter

/*
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cotter.h>
#include "trampolines.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// SharedStoreAdapter runs the shared store's Lua scripts on your Redis client (docs/go.md, "Sessions shared by
// a fleet (Redis)"; the package redisstore implements it over go-redis).
//
// Eval runs `EVALSHA sha1 len(keys) keys... args...` and, on a NOSCRIPT error, `EVAL script ...`, and returns
// the reply array flattened to byte strings (integers as their decimal text), or an error (not connected,
// timed out, an error reply). Each call runs on a goroutine of its own, so it may block for its round trip;
// calls run concurrently. The store gives Eval no context: bound each round trip with your client's own
// timeouts (a call that never returns holds its session's operation). An error's text may reach an error
// message: args hold tokens, and the package removes any of them from the text, but do not add them.
type SharedStoreAdapter interface {
	Eval(script, sha1 string, keys, args []string) ([][]byte, error)
}

// SharedStoreWaiter is what an adapter adds to wake a replica that found the refresh lease held as soon as
// the holder saves (docs/shared-sessions.md, "Waiters"); without it such a replica polls. NewSharedStore uses
// it when the adapter has it.
//
// Wait returns nil when a message arrived on the Redis pub/sub channel (`<prefix>:{<id>}:changed`) after the
// call started, ctx.Err() once ctx's deadline passed (the library's bound: the polling schedule, 5 ms doubling
// up to SharedStoreOptions.Wait), or any other error when it cannot wait (not connected, the subscription
// lost). It must return when ctx is done. Each call runs on a goroutine of its own (it may block); calls run
// concurrently, many on one channel: complete every waiter of a channel on each of its messages, on one
// subscriber connection for the store. Messages published before the subscription is active may be missed:
// the deadline bounds what that costs. Whatever it returns, the library reads the store again: a wake-up is a
// hint, never the data. A pending Wait keeps the store alive.
type SharedStoreWaiter interface {
	Wait(ctx context.Context, channel string) error
}

// SharedStoreOptions configures a shared store; the zero value means the defaults.
type SharedStoreOptions struct {
	KeyPrefix string        // first part of every key (`<prefix>:{<session id>}:...`); "" = "cotter"
	LeaseTTL  time.Duration // lifetime of the refresh lease (100 ms..10 min); a refresh gets 3/4 of it; 0 = 10 s
	Wait      time.Duration // longest single wait of a replica that found the lease held (1 ms..10 s); 0 = 100 ms
}

// HiredisOptions says where the library's own hiredis adapter connects (NewHiredisStore); the zero value
// means 127.0.0.1:6379 with 2 s timeouts.
type HiredisOptions struct {
	Host           string        // "" = 127.0.0.1; ignored with UnixSocket
	Port           int           // 0 = 6379
	UnixSocket     string        // a Unix socket path instead of Host and Port
	Password       string        // sent with AUTH after connecting; never logged
	ConnectTimeout time.Duration // 0 = 2 s
	CommandTimeout time.Duration // bound of one round trip; 0 = 2 s
}

// SharedStore is where sessions shared by a fleet keep their tokens, their refresh lease and their version
// (docs/shared-sessions.md). Give it to sessions through SessionOptions.SharedStore; they keep it alive, so
// Close it whenever you no longer create sessions with it. Safe for concurrent use; any number of sessions,
// of any clients, may share one.
type SharedStore struct {
	g   guard
	ptr *C.cotter_shared_store
}

// millis converts an optional duration: 0 keeps the default; anything else is passed on (a negative or too
// small value is the library's EINVAL, never silently a default).
func millis(d time.Duration) (C.int64_t, bool) {
	if d == 0 {
		return 0, false
	}
	ms := d.Milliseconds()
	if ms == 0 {
		ms = -1 // below a millisecond: out of range, not "default"
	}
	return C.int64_t(ms), true
}

// storeOptions fills C options (C memory, freed by the caller) from opts (nil = defaults).
func storeOptions(opts *SharedStoreOptions, cs *cStrings) (*C.cotter_shared_store_options, error) {
	o, err := cInit(func(o *C.cotter_shared_store_options) C.int {
		return C.cotter_shared_store_options_init(o, C.COTTER_SHARED_STORE_OPTIONS_VERSION)
	})
	if err != nil || opts == nil {
		return o, err
	}
	if o.key_prefix, err = cs.add(opts.KeyPrefix, "KeyPrefix", true); err != nil {
		C.free(unsafe.Pointer(o))
		return nil, err
	}
	if ms, ok := millis(opts.LeaseTTL); ok {
		o.lease_ttl_ms = ms
	}
	if ms, ok := millis(opts.Wait); ok {
		o.wait_ms = ms
	}
	return o, nil
}

// storeNew is what differs between NewSharedStore and NewHiredisStore: it fills in the rest of its C arguments
// (strings through cs, freed once it returns) and calls its cotter_shared_store_new* function, whose status it
// returns; an error means a bad argument (nothing was called).
type storeNew func(o *C.cotter_shared_store_options, cs *cStrings, out **C.cotter_shared_store, e **C.cotter_error) (C.int, error)

// newStore makes a store: its C options from opts, then create.
func newStore(opts *SharedStoreOptions, create storeNew) (*SharedStore, error) {
	var cs cStrings
	defer cs.free()
	o, err := storeOptions(opts, &cs)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(o))
	s := &SharedStore{}
	var cerr *C.cotter_error
	rc, err := create(o, &cs, &s.ptr, &cerr)
	if err != nil {
		return nil, err
	}
	if err := check(rc, cerr); err != nil {
		return nil, err
	}
	track(&s.g, s, (*SharedStore).Close)
	return s, nil
}

// NewSharedStore makes a store over your Redis client's adapter (see SharedStoreAdapter, and SharedStoreWaiter
// for an adapter that also waits for the holder's message; opts nil = defaults).
// Redis is not contacted here. Errors: ErrInvalid (nil adapter, an option out of range, a bad KeyPrefix),
// ErrNoMemory.
func NewSharedStore(adapter SharedStoreAdapter, opts *SharedStoreOptions) (*SharedStore, error) {
	if adapter == nil {
		return nil, &Error{Code: CodeInvalid, Name: "COTTER_EINVAL", Message: "NewSharedStore: adapter is nil", RetryAfter: -1}
	}
	return newStore(opts, func(o *C.cotter_shared_store_options, _ *cStrings, out **C.cotter_shared_store, e **C.cotter_error) (C.int, error) {
		a, err := cInit(func(a *C.cotter_shared_store_adapter) C.int {
			return C.cotter_shared_store_adapter_init(a, C.COTTER_SHARED_STORE_ADAPTER_VERSION)
		})
		if err != nil {
			return 0, err
		}
		defer C.free(unsafe.Pointer(a))
		// The adapter stays in the registry until the library releases it (the store and its last session gone).
		id := callbacks.add(adapter)
		a.eval = C.cotter_shared_store_eval_fn(C.cotter_go_store_eval)
		a.release = C.cotter_shared_store_release_fn(C.cotter_go_store_release)
		if _, ok := adapter.(SharedStoreWaiter); ok {
			a.wait = C.cotter_shared_store_wait_fn(C.cotter_go_store_wait)
		}
		C.cotter_go_set_payload(&a.payload, C.uintptr_t(id))
		rc := C.cotter_shared_store_new(out, a, o, e)
		if rc != C.COTTER_OK {
			callbacks.remove(id) // not created: release is never called
		}
		return rc, nil
	})
}

// NewHiredisStore makes a store over the adapter that ships in the library: hiredis, one connection and one
// thread per store, connected on first use and again after a failure (redis nil = 127.0.0.1:6379). No TLS,
// Sentinel or Cluster: for those use NewSharedStore with your client (package redisstore). Redis is not
// contacted here. Errors: ErrInvalid (an option out of range), ErrNoMemory.
func NewHiredisStore(redis *HiredisOptions, opts *SharedStoreOptions) (*SharedStore, error) {
	return newStore(opts, func(o *C.cotter_shared_store_options, cs *cStrings, out **C.cotter_shared_store, e **C.cotter_error) (C.int, error) {
		r, err := cInit(func(r *C.cotter_hiredis_options) C.int {
			return C.cotter_hiredis_options_init(r, C.COTTER_HIREDIS_OPTIONS_VERSION)
		})
		if err != nil {
			return 0, err
		}
		defer C.free(unsafe.Pointer(r))
		if redis != nil {
			if r.host, err = cs.add(redis.Host, "Host", true); err != nil {
				return 0, err
			}
			if redis.Port != 0 {
				r.port = C.int(redis.Port)
				if redis.Port != int(r.port) { // does not fit a C int: out of range all the same
					r.port = -1
				}
			}
			if r.unix_socket, err = cs.add(redis.UnixSocket, "UnixSocket", true); err != nil {
				return 0, err
			}
			if r.password, err = cs.add(redis.Password, "Password", true); err != nil {
				return 0, err
			}
			if ms, ok := millis(redis.ConnectTimeout); ok {
				r.connect_timeout_ms = ms
			}
			if ms, ok := millis(redis.CommandTimeout); ok {
				r.command_timeout_ms = ms
			}
		}
		return C.cotter_shared_store_new_hiredis(out, r, o, e), nil
	})
}

// Close frees the store handle. Sessions using it keep it alive; the adapter is released after the last one.
// Safe to call more than once.
func (s *SharedStore) Close() error {
	s.g.close(func() {
		C.cotter_shared_store_free(s.ptr)
		s.ptr = nil
		runtime.SetFinalizer(s, nil)
	})
	return nil
}

// evalsInFlight counts the adapter evals started and not yet completed (tests read it).
var evalsInFlight atomic.Int64

// startEval runs one eval of the adapter registered as id on a goroutine of its own and completes it through
// done, exactly once. The strings are copied here: the library's are borrowed for the call only.
func startEval(id uintptr, script, sha1 string, keys, args []string, done C.cotter_shared_store_done_fn, doneCtx unsafe.Pointer) C.int {
	v, ok := callbacks.get(id)
	if !ok {
		return 1 // released: cannot happen while the library still calls, but never crash on it
	}
	adapter := v.(SharedStoreAdapter)
	evalsInFlight.Add(1)
	go func() {
		defer evalsInFlight.Add(-1)
		items, err := callAdapter(adapter, script, sha1, keys, args)
		completeEval(done, doneCtx, items, err, args)
	}()
	return 0
}

// waitsInFlight counts the adapter waits started and not yet completed (tests read it).
var waitsInFlight atomic.Int64

// startWait runs one Wait of the adapter registered as id on a goroutine of its own, bounded by timeoutMs
// through its context, and completes it through done, exactly once.
func startWait(id uintptr, channel string, timeoutMs int64, done C.cotter_shared_store_wait_done_fn, doneCtx unsafe.Pointer) C.int {
	v, ok := callbacks.get(id)
	if !ok {
		return 1 // released: cannot happen while the library still calls; not started, the waiter polls
	}
	waiter, ok := v.(SharedStoreWaiter)
	if !ok {
		return 1
	}
	waitsInFlight.Add(1)
	go func() {
		defer waitsInFlight.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutMs)*time.Millisecond)
		err := callWaiter(ctx, waiter, channel)
		cancel()
		C.cotter_go_store_wait_done(done, doneCtx, waitStatus(err))
	}()
	return 0
}

// waitStatus is what a Wait's result tells the library: a message, the bound passed, or a failed wait.
func waitStatus(err error) C.int {
	switch {
	case err == nil:
		return C.COTTER_OK
	case errors.Is(err, context.DeadlineExceeded):
		return C.COTTER_ETIMEOUT
	default:
		return C.COTTER_ESHARED_UNAVAILABLE
	}
}

// callWaiter calls Wait; a panic is a failed wait (it must not take the process down from the store's side).
func callWaiter(ctx context.Context, waiter SharedStoreWaiter, channel string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the Redis adapter's Wait panicked: %v", r)
		}
	}()
	return waiter.Wait(ctx, channel)
}

// callAdapter calls Eval; a panic becomes an error (it must not take the process down from the store's side).
func callAdapter(adapter SharedStoreAdapter, script, sha1 string, keys, args []string) (items [][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			items, err = nil, fmt.Errorf("the Redis adapter panicked: %v", r)
		}
	}()
	return adapter.Eval(script, sha1, keys, args)
}

// redact removes every script argument (they hold tokens and lease owners) from an adapter's error text, and
// the string values of a JSON argument (the token set) too, which an adapter quoting its command escapes.
func redact(message string, args []string) string {
	secrets := append([]string(nil), args...)
	for _, a := range args {
		var set map[string]any
		if strings.HasPrefix(a, "{") && json.Unmarshal([]byte(a), &set) == nil {
			for _, v := range set {
				if s, ok := v.(string); ok {
					secrets = append(secrets, s)
				}
			}
		}
	}
	for _, a := range secrets {
		if len(a) >= 8 { // short ones are versions and counts: harmless, and too common to cut out
			message = strings.ReplaceAll(message, a, "[redacted]")
		}
	}
	return message
}

// completeEval hands the reply (copied into C memory: the library reads it during the call) or the error to
// the library's done.
func completeEval(done C.cotter_shared_store_done_fn, doneCtx unsafe.Pointer, items [][]byte, err error, args []string) {
	if err != nil {
		msg := C.CString(redact(err.Error(), args))
		defer C.free(unsafe.Pointer(msg))
		C.cotter_go_store_done(done, doneCtx, C.COTTER_ESHARED_UNAVAILABLE, nil, nil, 0, msg)
		return
	}
	n := len(items)
	if n == 0 {
		C.cotter_go_store_done(done, doneCtx, C.COTTER_OK, nil, nil, 0, nil)
		return
	}
	total := 0
	for _, it := range items {
		total += len(it)
	}
	// One block: n pointers, n lengths, then the bytes.
	ptrSize, lenSize := C.size_t(unsafe.Sizeof((*C.char)(nil))), C.size_t(unsafe.Sizeof(C.size_t(0)))
	block := C.malloc(C.size_t(n)*(ptrSize+lenSize) + C.size_t(total) + 1)
	if block == nil {
		msg := C.CString("out of memory copying the Redis reply")
		defer C.free(unsafe.Pointer(msg))
		C.cotter_go_store_done(done, doneCtx, C.COTTER_ESHARED_UNAVAILABLE, nil, nil, 0, msg)
		return
	}
	defer C.free(block)
	ptrs := unsafe.Slice((**C.char)(block), n)
	lens := unsafe.Slice((*C.size_t)(unsafe.Add(block, uintptr(C.size_t(n)*ptrSize))), n)
	data := unsafe.Add(block, uintptr(C.size_t(n)*(ptrSize+lenSize)))
	at := uintptr(0)
	for i, it := range items {
		ptrs[i] = (*C.char)(unsafe.Add(data, at))
		lens[i] = C.size_t(len(it))
		if len(it) > 0 {
			C.memcpy(unsafe.Add(data, at), unsafe.Pointer(&it[0]), C.size_t(len(it)))
		}
		at += uintptr(len(it))
	}
	C.cotter_go_store_done(done, doneCtx, C.COTTER_OK, (**C.char)(block), (*C.size_t)(unsafe.Add(block, uintptr(C.size_t(n)*ptrSize))), C.size_t(n), nil)
}

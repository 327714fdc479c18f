package cotter

/*
#include <stdint.h>
#include <stdlib.h>
#include <cotter.h>
#include "trampolines.h"
*/
import "C"

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
	"unsafe"
)

// Every network operation runs through run: its `_start` function returns at once, the library completes the
// call on the client's I/O thread and the done callback (cotterGoCallDone) closes a channel. The calling
// goroutine parks on that channel and on ctx.Done(): no OS thread waits, and a context that ends cancels the
// C call (the request stops; its connection is closed, never reused half-read), whose completion then comes
// promptly. Only after the completion is the result taken and the call freed.

// callsInFlight counts the calls started and not yet completed and freed (tests read it).
var callsInFlight atomic.Int64

// maxCallTimeout is the largest cotter_call_options.timeout_ms (one day).
const maxCallTimeout = 86400000 * time.Millisecond

// slack: a call that timed out this close to the context's deadline ran out of the deadline's budget.
const slack = 10 * time.Millisecond

// budget is the part of a context's deadline that a call gets as its timeout_ms.
type budget struct {
	ms       int64     // 0: the object's own timeout (no deadline, or a later one)
	deadline time.Time // zero without a deadline
}

// budgetOf turns ctx's deadline into a call budget. limit is the object's own timeout (a client's Timeout;
// 0 when it has none to keep): a later deadline leaves it in force rather than lengthening the request.
func budgetOf(ctx context.Context, limit time.Duration) budget {
	dl, ok := ctx.Deadline()
	if !ok {
		return budget{}
	}
	left := time.Until(dl)
	if (limit > 0 && left >= limit) || left > maxCallTimeout {
		return budget{deadline: dl}
	}
	// Rounded up, plus one: the library's timer never fires before the context's own.
	ms := int64((left+time.Millisecond-1)/time.Millisecond) + 1
	if ms < 1 {
		ms = 1
	}
	return budget{ms: ms, deadline: dl}
}

// contextError is the error of a call that ended because its context did: errors.Is(err, context.Canceled)
// (or context.DeadlineExceeded) holds, and so does errors.Is(err, ErrCanceled) (or ErrTimeout).
func contextError(cause error) error {
	code := CodeCanceled
	if errors.Is(cause, context.DeadlineExceeded) {
		code = CodeTimeout
	}
	return &Error{Code: code, Name: StatusName(code), Message: cause.Error(), RetryAfter: -1, context: cause}
}

// failure is the error of a completed call with status rc: the context's, when the call ended because of it.
func (b budget) failure(ctx context.Context, rc C.int, cerr *C.cotter_error) error {
	code := Code(rc)
	if code == CodeCanceled || code == CodeTimeout {
		if err := ctx.Err(); err != nil {
			if cerr != nil {
				C.cotter_error_free(cerr)
			}
			return contextError(err)
		}
		// The library's timer (the deadline's budget) fired a moment before Go's.
		if code == CodeTimeout && b.ms > 0 && !time.Now().Add(slack).Before(b.deadline) {
			if cerr != nil {
				C.cotter_error_free(cerr)
			}
			return contextError(context.DeadlineExceeded)
		}
	}
	return errorFromC(rc, cerr)
}

// startFunc runs one `_start` function with the call options, under the object's guard.
type startFunc func(opts *C.cotter_call_options, out **C.cotter_call, cerr **C.cotter_error) C.int

// takeFunc reads the result of a completed call (a cotter_call_take_* function, or cotter_call_wait).
type takeFunc[T any] func(call *C.cotter_call, cerr **C.cotter_error) (T, C.int)

// run starts one asynchronous call on the object of g and waits for it or for ctx (see the top of this file).
// limit is the object's own timeout (see budgetOf). prepare converts the arguments into C strings that live
// until run returns (an error there, such as a NUL byte in a string, fails before anything starts) and returns
// the start function.
func run[T any](ctx context.Context, g *guard, what string, limit time.Duration,
	prepare func(*cStrings) (startFunc, error), take takeFunc[T]) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, contextError(err) // nothing is sent
	}
	var cs cStrings
	defer cs.free()
	start, err := prepare(&cs)
	if err != nil {
		return zero, err
	}
	b := budgetOf(ctx, limit)
	done := make(chan struct{})
	id := callbacks.add(done)
	defer callbacks.remove(id)
	opts := cAlloc[C.cotter_call_options]()
	if opts == nil {
		return zero, errorFromCode(CodeNoMemory)
	}
	defer C.free(unsafe.Pointer(opts))
	if rc := C.cotter_call_options_init(opts, C.COTTER_CALL_OPTIONS_VERSION); rc != C.COTTER_OK {
		return zero, errorFromCode(Code(rc))
	}
	opts.done = C.cotter_call_done_fn(C.cotter_go_call_done)
	C.cotter_go_set_payload(&opts.done_payload, C.uintptr_t(id))
	opts.timeout_ms = C.int64_t(b.ms)

	if !g.enter() {
		return zero, errClosed(what)
	}
	g.hold() // the object's callbacks stay registered until this call has completed
	var call *C.cotter_call
	var cerr *C.cotter_error
	rc := start(opts, &call, &cerr)
	g.leave()
	if rc != C.COTTER_OK {
		g.drop()
		return zero, errorFromC(rc, cerr) // a bad argument: nothing started, no callback
	}
	callsInFlight.Add(1)
	defer callsInFlight.Add(-1)
	defer g.drop()
	defer C.cotter_call_free(call)

	if C.cotter_call_is_done(call) == 0 { // else it completed inline (a session's still-valid token)
		if C.cotter_go_in_callback() != 0 {
			// Inside a hook, on the I/O thread: the completion could only come from the thread this would block.
			// Freeing the call (deferred) cancels it; its completion later finds its id gone.
			return zero, &Error{Code: CodeInvalid, Name: "COTTER_EINVAL", RetryAfter: -1,
				Message: "a call that must wait cannot be made from a callback of the library (it runs on the client's I/O thread)"}
		}
		select {
		case <-done:
		case <-ctx.Done():
			C.cotter_call_cancel(call)
			<-done // comes promptly: the call completes with COTTER_ECANCELED (or its result, if that won)
		}
	}
	cerr = nil
	v, rc := take(call, &cerr)
	if rc != C.COTTER_OK {
		return zero, b.failure(ctx, rc, cerr)
	}
	if cerr != nil {
		C.cotter_error_free(cerr)
	}
	return v, nil
}

// waitResult is the taker of calls without a result (logout, deletes, set_token, the JWKS refresh).
func waitResult(call *C.cotter_call, cerr **C.cotter_error) (struct{}, C.int) {
	return struct{}{}, C.cotter_call_wait(call, cerr)
}

func takeToken(call *C.cotter_call, cerr **C.cotter_error) (*Token, C.int) {
	var out *C.cotter_token
	if rc := C.cotter_call_take_token(&out, call, cerr); rc != C.COTTER_OK {
		return nil, rc
	}
	return newToken(out), C.COTTER_OK
}

func takeString(call *C.cotter_call, cerr **C.cotter_error) (string, C.int) {
	var buf C.cotter_buf
	if rc := C.cotter_call_take_buf(&buf, call, cerr); rc != C.COTTER_OK {
		return "", rc
	}
	return bufString(&buf), C.COTTER_OK
}

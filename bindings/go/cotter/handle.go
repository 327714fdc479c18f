package cotter

// #include <stdlib.h>
import "C"

import (
	"context"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"unsafe"
)

// cHandle is a Go value passed to C as a callback `payload`: C memory holding a cgo.Handle, so that no Go
// pointer is ever stored in C. Freed by release.
type cHandle struct {
	cell unsafe.Pointer
}

func newCHandle(v any) cHandle {
	cell := C.malloc(C.size_t(unsafe.Sizeof(cgo.Handle(0))))
	*(*cgo.Handle)(cell) = cgo.NewHandle(v)
	return cHandle{cell: cell}
}

func (h cHandle) ptr() unsafe.Pointer { return h.cell }

func (h *cHandle) release() {
	if h.cell != nil {
		(*(*cgo.Handle)(h.cell)).Delete()
		C.free(h.cell)
		h.cell = nil
	}
}

// handleValue reads the Go value behind a payload.
func handleValue(payload unsafe.Pointer) any {
	return (*(*cgo.Handle)(payload)).Value()
}

// liveObjects counts the C objects owned by Go values (Client, Verifier, Session, Token) and not freed yet.
// Tests read it to prove that Close, and the finalizers when Close is forgotten, free every one.
var liveObjects atomic.Int64

// track registers a value that owns a C object: counted until its guard frees it, and given a finalizer
// that calls Close (a safety net only: C memory is invisible to the Go GC, so it runs late or never).
func track[T any](g *guard, obj *T, closer func(*T) error) {
	g.tracked = true
	liveObjects.Add(1)
	runtime.SetFinalizer(obj, closer)
}

// guard serialises Close against in-flight calls: calls hold it shared for the whole C call (which may
// outlive the Go method when its context is cancelled), Close holds it exclusively to free the C object.
type guard struct {
	mu      sync.RWMutex
	closed  bool
	tracked bool // counted in liveObjects
}

// enter takes the shared lock; false when the object is closed (the lock is then not held).
func (g *guard) enter() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

func (g *guard) leave() { g.mu.RUnlock() }

// close runs free once, after every in-flight call has finished.
func (g *guard) close(free func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed = true
		free()
		if g.tracked {
			liveObjects.Add(-1)
		}
	}
}

func errClosed(what string) error {
	return &Error{Code: CodeInvalid, Name: "COTTER_EINVAL", Message: "use of a closed " + what, RetryAfter: -1}
}

// blocking runs a blocking C call. With a context that can be cancelled the call runs on its own goroutine:
// when ctx is done first, blocking returns ctx.Err() at once, and the C call finishes in the background
// (bounded by the object's configured timeout); release then frees a result nobody will read.
func blocking[T any](ctx context.Context, call func() (T, error), release func(T)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if ctx.Done() == nil { // context.Background(): nothing to race against
		return call()
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.err == nil && release != nil {
				release(r.v)
			}
		}()
		return zero, ctx.Err()
	}
}

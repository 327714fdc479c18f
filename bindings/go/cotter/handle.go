package cotter

/*
#include <stdint.h>
#include <stdlib.h>
#include <cotter.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// registry holds the Go values that C calls back into (log, clock and storage hooks, a call's completion).
// C gets an integer id as its `payload`, never a Go pointer (cgo's rule) and never a pointer to memory that
// could be freed under it: a callback whose id was removed finds nothing and does nothing harmful.
type registry struct {
	m     sync.Map // uintptr -> any
	next  atomic.Uintptr
	count atomic.Int64
}

// callbacks is the package's one registry.
var callbacks registry

func (r *registry) add(v any) uintptr {
	id := r.next.Add(1)
	r.m.Store(id, v)
	r.count.Add(1)
	return id
}

func (r *registry) get(id uintptr) (any, bool) { return r.m.Load(id) }

func (r *registry) remove(id uintptr) {
	if _, ok := r.m.LoadAndDelete(id); ok {
		r.count.Add(-1)
	}
}

// cAlloc allocates a zeroed T in C memory (free with C.free), nil when out of memory. Options structs that carry
// registry ids live there: an id in a pointer field of Go memory would look like a bad pointer to the Go runtime.
func cAlloc[T any]() *T {
	var zero T
	return (*T)(C.calloc(1, C.size_t(unsafe.Sizeof(zero))))
}

// cInit allocates a T in C memory (free with C.free) and fills it with its cotter_*_init function (init).
func cInit[T any](init func(*T) C.int) (*T, error) {
	p := cAlloc[T]()
	if p == nil {
		return nil, errorFromCode(CodeNoMemory)
	}
	if rc := init(p); rc != C.COTTER_OK {
		C.free(unsafe.Pointer(p))
		return nil, errorFromCode(Code(rc))
	}
	return p, nil
}

// liveObjects counts the C objects owned by Go values (Client, Verifier, Session, Token) and not freed yet.
// Tests read it to prove that Close, and the finalizers when Close is forgotten, free every one.
var liveObjects atomic.Int64

// track registers a value that owns a C object: counted until its guard frees it, and given a finalizer
// that calls Close (a safety net only: C memory is invisible to the Go GC, so it runs late or never).
func track[T any](g *guard, obj *T, closer func(*T) error) {
	g.tracked = true
	g.users.Store(1)
	liveObjects.Add(1)
	runtime.SetFinalizer(obj, closer)
}

// guard serialises Close against the moments a C function uses the object's handle (a `_start` call, a
// verification, a getter): those hold it shared, Close holds it exclusively to free the handle. An
// asynchronous call holds it only while it starts: the C call then keeps the C object alive by itself.
//
// It also decides when the object's callbacks (ids) leave the registry: the C object may outlive Close (its
// calls in flight and, for a client, its sessions keep it alive) and call them until then, so they stay while
// the Go object is open, a call started through it is in flight, or (for a client) a session uses it.
type guard struct {
	mu      sync.RWMutex
	closed  bool
	tracked bool // counted in liveObjects

	users  atomic.Int64 // 1 while open, +1 per call in flight, +1 per session (a client's)
	ids    []uintptr    // registry entries of the object's callbacks; set before the object is shared
	parent *guard       // a session's client: the session is one of its users
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

// hold adds a user of the callbacks. Only between enter and leave: the object is open, so users > 0.
func (g *guard) hold() { g.users.Add(1) }

// drop ends one use; the last one removes the callbacks from the registry.
func (g *guard) drop() {
	if g.users.Add(-1) != 0 {
		return
	}
	g.forget()
	if g.parent != nil {
		g.parent.drop()
	}
}

// forget removes the callbacks from the registry (at the last drop, or when creating the C object failed).
func (g *guard) forget() {
	for _, id := range g.ids {
		callbacks.remove(id)
	}
	g.ids = nil
}

// register adds a callback of the object to the registry and returns its id (for a payload field).
func (g *guard) register(v any) C.uintptr_t {
	id := callbacks.add(v)
	g.ids = append(g.ids, id)
	return C.uintptr_t(id)
}

// close runs free once, after the handle's current users leave, then ends the object's own use of its
// callbacks (calls in flight may keep them a little longer).
func (g *guard) close(free func()) {
	g.mu.Lock()
	first := !g.closed
	if first {
		g.closed = true
		free()
		if g.tracked {
			liveObjects.Add(-1)
		}
	}
	g.mu.Unlock()
	if first && g.tracked {
		g.drop()
	}
}

func errClosed(what string) error {
	return &Error{Code: CodeInvalid, Name: "COTTER_EINVAL", Message: "use of a closed " + what, RetryAfter: -1}
}

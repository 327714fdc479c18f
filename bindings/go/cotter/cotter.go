// Package cotter is the Go package of cotter, the native SDK for Cotter's passwordless-login token API.
//
// It calls libcotter's C ABI (capi/include/cotter.h) through cgo and finds the library with pkg-config
// (`PKG_CONFIG_PATH=<cmake build dir>` for a build tree; see docs/go.md).
//
//   - Every network call takes a context.Context and runs on libcotter's asynchronous path: the calling
//     goroutine waits on a channel, never an OS thread in C, so thousands of calls may be in flight at once.
//     A cancelled context stops the request (errors.Is(err, context.Canceled)); a deadline becomes the
//     call's timeout (errors.Is(err, context.DeadlineExceeded)). See docs/go.md.
//   - Errors are *Error values with the C status Code, its Name, the HTTP status and the server's error
//     fields; errors.Is(err, cotter.ErrJWTExpired) works with the sentinel of every code.
//   - Objects own C memory: call Close (or Free) when done. A finalizer frees what is forgotten, as a
//     safety net only.
//   - Client, Verifier, Session, Token and Claims are safe for concurrent use, as cotter.h says. Objects may
//     be closed in any order: a session keeps its client's C object alive, a call in flight its object.
//   - Secrets (tokens, the API secret) never appear in String/GoString output or error messages.
package cotter

/*
#cgo pkg-config: cotter
#include <stdlib.h>
#include <cotter.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// The major version these bindings were written for; the ABI is stable within a major version.
const abiMajor = C.COTTER_VERSION_MAJOR

func init() {
	// A libcotter with another major version has another ABI: refuse to run rather than corrupt memory.
	if loaded := int(C.cotter_version_number()); loaded/10000 != abiMajor {
		panic(fmt.Sprintf("cotter: libcotter %d is not ABI-compatible with this package (major %d)", loaded, abiMajor))
	}
}

// Version is "MAJOR.MINOR.PATCH" of the loaded libcotter.
func Version() string { return C.GoString(C.cotter_version_string()) }

// VersionNumber is COTTER_VERSION_NUMBER of the loaded libcotter (major*10000 + minor*100 + patch).
func VersionNumber() int { return int(C.cotter_version_number()) }

// StatusName is the stable name of a status code, e.g. "COTTER_EJWT_SIGNATURE" ("COTTER_EUNKNOWN" for others).
func StatusName(code Code) string { return C.GoString(C.cotter_status_name(C.int(code))) }

// StatusDescribe is a short English description of a status code.
func StatusDescribe(code Code) string { return C.GoString(C.cotter_status_describe(C.int(code))) }

// GlobalInit takes one reference on the library's global state (libcurl's). Optional: objects initialise
// lazily. Pair each successful call with GlobalShutdown.
func GlobalInit() error {
	if rc := C.cotter_global_init(); rc != C.COTTER_OK {
		return errorFromCode(Code(rc))
	}
	return nil
}

// GlobalShutdown drops one reference taken by GlobalInit.
func GlobalShutdown() { C.cotter_global_shutdown() }

// cString copies s into C memory (free with C.free). A NUL byte inside is a caller error, never a truncation.
func cString(s, what string) (*C.char, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, &Error{Code: CodeInvalid, Name: "COTTER_EINVAL", Message: what + " contains a NUL byte"}
		}
	}
	return C.CString(s), nil
}

// cStrings converts several strings at once; "" becomes NULL when its entry in optional is true.
type cStrings struct{ ptrs []*C.char }

func (cs *cStrings) add(s, what string, optional bool) (*C.char, error) {
	if optional && s == "" {
		return nil, nil
	}
	p, err := cString(s, what)
	if err != nil {
		return nil, err
	}
	cs.ptrs = append(cs.ptrs, p)
	return p, nil
}

func (cs *cStrings) free() {
	for _, p := range cs.ptrs {
		C.free(unsafe.Pointer(p))
	}
	cs.ptrs = nil
}

// goString copies a borrowed C string; "" for NULL.
func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// bufString copies a cotter_buf's bytes and disposes the buffer (wiping them).
func bufString(b *C.cotter_buf) string {
	defer C.cotter_buf_dispose(b)
	if b.ptr == nil {
		return ""
	}
	return C.GoStringN(b.ptr, C.int(b.len))
}

package cotter

/*
#include <stdint.h>
#include <string.h>
#include <cotter.h>
*/
import "C"

import (
	"time"
	"unsafe"
)

// LogLevel is the level of a library log message.
type LogLevel int

// Log levels of cotter_log_fn.
const (
	LogDebug   LogLevel = C.COTTER_LOG_DEBUG
	LogInfo    LogLevel = C.COTTER_LOG_INFO
	LogWarning LogLevel = C.COTTER_LOG_WARNING
	LogError   LogLevel = C.COTTER_LOG_ERROR
)

// LogFunc receives the library's log messages (never secrets): a client's on its I/O thread, a verifier's on
// the verifying goroutine's thread or the key set's I/O thread. It must return quickly and not call the
// package's network methods.
type LogFunc func(level LogLevel, message string)

// ClockFunc returns the current time; set it to pin the clock in tests and tools.
type ClockFunc func() time.Time

// The exported functions that the C trampolines (trampolines.c) call with a registry id. They must not panic
// into C, so panics are recovered (the log message is dropped; the clock falls back to the system time; a
// storage hook reports failure). An id no longer registered (the object was closed and its last call ended)
// gets the same fallbacks.

//export cotterGoCallDone
func cotterGoCallDone(id C.uintptr_t) {
	// Exactly once per call; the waiting goroutine removes the id only after this, or after giving up on it.
	if v, ok := callbacks.get(uintptr(id)); ok {
		close(v.(chan struct{}))
	}
}

//export cotterGoLog
func cotterGoLog(level C.int, message *C.char, id C.uintptr_t) {
	defer func() { _ = recover() }()
	if v, ok := callbacks.get(uintptr(id)); ok {
		v.(LogFunc)(LogLevel(level), C.GoString(message))
	}
}

//export cotterGoClock
func cotterGoClock(id C.uintptr_t) (now C.int64_t) {
	defer func() {
		if recover() != nil {
			now = C.int64_t(time.Now().Unix())
		}
	}()
	if v, ok := callbacks.get(uintptr(id)); ok {
		return C.int64_t(v.(ClockFunc)().Unix())
	}
	return C.int64_t(time.Now().Unix())
}

func storageOf(id C.uintptr_t) (*sessionHooks, bool) {
	v, ok := callbacks.get(uintptr(id))
	if !ok {
		return nil, false
	}
	return v.(*sessionHooks), true
}

//export cotterGoLoad
func cotterGoLoad(out *C.cotter_buf, id C.uintptr_t) (rc C.int) {
	defer func() {
		if recover() != nil {
			rc = 1
		}
	}()
	hooks, ok := storageOf(id)
	if !ok {
		return 1
	}
	data, err := hooks.storage.Load()
	if err != nil {
		return 1
	}
	if data == nil {
		return 0
	}
	// The library disposes the buffer, so it must come from its allocator.
	if C.cotter_buf_alloc(out, C.size_t(len(data))) != C.COTTER_OK {
		return 1
	}
	if len(data) > 0 {
		C.memcpy(unsafe.Pointer(out.ptr), unsafe.Pointer(&data[0]), C.size_t(len(data)))
	}
	return 0
}

//export cotterGoSave
func cotterGoSave(json *C.char, length C.size_t, id C.uintptr_t) (rc C.int) {
	defer func() {
		if recover() != nil {
			rc = 1
		}
	}()
	hooks, ok := storageOf(id)
	if !ok {
		return 1
	}
	var err error
	if json == nil {
		err = hooks.storage.Delete()
	} else {
		err = hooks.storage.Save(C.GoBytes(unsafe.Pointer(json), C.int(length)))
	}
	if err != nil {
		return 1
	}
	return 0
}

//export cotterGoTokensChanged
func cotterGoTokensChanged(token *C.cotter_token, id C.uintptr_t) {
	defer func() { _ = recover() }()
	hooks, ok := storageOf(id)
	if !ok {
		return
	}
	if token == nil {
		hooks.onChange(nil)
		return
	}
	hooks.onChange(tokenInfoOf(token))
}

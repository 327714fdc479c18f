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

// LogFunc receives the library's log messages (never secrets), on the thread doing the work.
type LogFunc func(level LogLevel, message string)

// ClockFunc returns the current time; set it to pin the clock in tests and tools.
type ClockFunc func() time.Time

// The C trampolines: each finds its Go function through the payload handle. They must not panic into C,
// so panics are recovered (the log message is dropped; the clock falls back to the system time; a
// storage hook reports failure).

//export cotterGoLog
func cotterGoLog(level C.int, message *C.char, payload unsafe.Pointer) {
	defer func() { _ = recover() }()
	handleValue(payload).(LogFunc)(LogLevel(level), C.GoString(message))
}

//export cotterGoClock
func cotterGoClock(payload unsafe.Pointer) (now C.int64_t) {
	defer func() {
		if recover() != nil {
			now = C.int64_t(time.Now().Unix())
		}
	}()
	return C.int64_t(handleValue(payload).(ClockFunc)().Unix())
}

//export cotterGoLoad
func cotterGoLoad(out *C.cotter_buf, payload unsafe.Pointer) (rc C.int) {
	defer func() {
		if recover() != nil {
			rc = 1
		}
	}()
	data, err := handleValue(payload).(*sessionHooks).storage.Load()
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
func cotterGoSave(json *C.char, length C.size_t, payload unsafe.Pointer) (rc C.int) {
	defer func() {
		if recover() != nil {
			rc = 1
		}
	}()
	storage := handleValue(payload).(*sessionHooks).storage
	var err error
	if json == nil {
		err = storage.Delete()
	} else {
		err = storage.Save(C.GoBytes(unsafe.Pointer(json), C.int(length)))
	}
	if err != nil {
		return 1
	}
	return 0
}

//export cotterGoTokensChanged
func cotterGoTokensChanged(token *C.cotter_token, payload unsafe.Pointer) {
	defer func() { _ = recover() }()
	hooks := handleValue(payload).(*sessionHooks)
	if token == nil {
		hooks.onChange(nil)
		return
	}
	hooks.onChange(tokenInfoOf(token))
}

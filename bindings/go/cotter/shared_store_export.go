package cotter

/*
#include <stddef.h>
#include <stdint.h>
#include <cotter.h>
*/
import "C"

import "unsafe"

// The exported side of a shared store's adapter (trampolines.c calls these with the adapter's registry id).

func goStrings(p **C.char, n C.size_t) []string {
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i, s := range unsafe.Slice(p, n) {
		out[i] = C.GoString(s)
	}
	return out
}

//export cotterGoStoreEval
func cotterGoStoreEval(id C.uintptr_t, script, sha1 *C.char, keys **C.char, nkeys C.size_t, args **C.char, nargs C.size_t,
	done C.cotter_shared_store_done_fn, doneCtx unsafe.Pointer) (rc C.int) {
	defer func() {
		if recover() != nil {
			rc = 1 // not started: the library fails the step with ESHARED_UNAVAILABLE
		}
	}()
	return startEval(uintptr(id), C.GoString(script), C.GoString(sha1), goStrings(keys, nkeys), goStrings(args, nargs), done, doneCtx)
}

//export cotterGoStoreRelease
func cotterGoStoreRelease(id C.uintptr_t) { callbacks.remove(uintptr(id)) }

//export cotterGoStoreWait
func cotterGoStoreWait(id C.uintptr_t, channel *C.char, timeoutMs C.int64_t, done C.cotter_shared_store_wait_done_fn,
	doneCtx unsafe.Pointer) (rc C.int) {
	defer func() {
		if recover() != nil {
			rc = 1 // not started: the waiter polls
		}
	}()
	return startWait(uintptr(id), C.GoString(channel), int64(timeoutMs), done, doneCtx)
}

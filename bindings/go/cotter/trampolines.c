// The callbacks libcotter calls (see trampolines.h): each turns its payload back into the registry id.
#include "trampolines.h"

#include "_cgo_export.h"

static __thread int depth;  // callbacks running on this thread

int cotter_go_in_callback(void) { return depth; }

void cotter_go_log(int level, const char *message, void *payload) {
    ++depth;
    cotterGoLog(level, (char *)message, (uintptr_t)payload);
    --depth;
}

int64_t cotter_go_clock(void *payload) {
    ++depth;
    const int64_t now = cotterGoClock((uintptr_t)payload);
    --depth;
    return now;
}

int cotter_go_load(cotter_buf *out, void *payload) {
    ++depth;
    const int rc = cotterGoLoad(out, (uintptr_t)payload);
    --depth;
    return rc;
}

int cotter_go_save(const char *json, size_t len, void *payload) {
    ++depth;
    const int rc = cotterGoSave((char *)json, len, (uintptr_t)payload);
    --depth;
    return rc;
}

void cotter_go_tokens_changed(const cotter_token *token, void *payload) {
    ++depth;
    cotterGoTokensChanged((cotter_token *)token, (uintptr_t)payload);
    --depth;
}

void cotter_go_call_done(cotter_call *call, void *payload) {
    (void)call;  // the waiting goroutine has the handle
    cotterGoCallDone((uintptr_t)payload);
}

int cotter_go_store_eval(void *payload, const char *script, const char *sha1, const char **keys, size_t key_count,
                         const char **args, size_t arg_count, cotter_shared_store_done_fn done, void *done_ctx) {
    // Not a callback in cotter_go_in_callback's sense: it only copies the strings and starts a goroutine.
    return cotterGoStoreEval((uintptr_t)payload, (char *)script, (char *)sha1, (char **)keys, key_count,
                             (char **)args, arg_count, done, done_ctx);
}

int cotter_go_store_wait(void *payload, const char *channel, int64_t timeout_ms, cotter_shared_store_wait_done_fn done,
                         void *done_ctx) {
    // Like eval: copies the channel and starts a goroutine.
    return cotterGoStoreWait((uintptr_t)payload, (char *)channel, timeout_ms, done, done_ctx);
}

void cotter_go_store_release(void *payload) { cotterGoStoreRelease((uintptr_t)payload); }

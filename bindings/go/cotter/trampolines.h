/* C side of the callbacks: libcotter calls these with its `void *payload`, which for this package is never a
 * pointer but the integer id of a Go value in the package's registry (callbacks.go). They pass the id on to the
 * exported Go functions as an integer, so that no Go frame ever holds a non-pointer in a pointer variable. */
#ifndef COTTER_GO_TRAMPOLINES_H
#define COTTER_GO_TRAMPOLINES_H

#include <stdint.h>
#include <cotter.h>

void cotter_go_log(int level, const char *message, void *payload);
int64_t cotter_go_clock(void *payload);
int cotter_go_load(cotter_buf *out, void *payload);
int cotter_go_save(const char *json, size_t len, void *payload);
void cotter_go_tokens_changed(const cotter_token *token, void *payload);
void cotter_go_call_done(cotter_call *call, void *payload);

/* A shared store's adapter (shared_store.go): eval and wait hand their work to a goroutine and return at once;
 * release removes the adapter from the registry. */
int cotter_go_store_eval(void *payload, const char *script, const char *sha1, const char **keys, size_t key_count,
                         const char **args, size_t arg_count, cotter_shared_store_done_fn done, void *done_ctx);
int cotter_go_store_wait(void *payload, const char *channel, int64_t timeout_ms, cotter_shared_store_wait_done_fn done,
                         void *done_ctx);
void cotter_go_store_release(void *payload);

/* Completes one eval (Go cannot call a C function pointer itself). */
static inline void cotter_go_store_done(cotter_shared_store_done_fn done, void *done_ctx, int status,
                                        const char **items, const size_t *lens, size_t count, const char *message) {
    done(done_ctx, status, items, lens, count, message);
}

/* Completes one wait. */
static inline void cotter_go_store_wait_done(cotter_shared_store_wait_done_fn done, void *done_ctx, int status) {
    done(done_ctx, status);
}

/* Non-zero while the calling thread runs one of the callbacks above (on the client's I/O thread, or inline).
 * A goroutine running a callback is locked to its thread, so from Go this says "I am inside a callback". */
int cotter_go_in_callback(void);

/* Stores `id` in a payload field. The options structs that carry ids live in C memory (cAlloc): an id in a
 * pointer field of Go memory would look like a bad pointer to the Go runtime. */
static inline void cotter_go_set_payload(void **field, uintptr_t id) { *field = (void *)id; }

#endif

/**
 * @file call.cpp
 * @brief C ABI: cotter_call (see call.hpp and the "Asynchronous calls" section of cotter.h).
 */
#include "call.hpp"

#include "client_objects.hpp"

namespace tk = cotter::core::token;
using cotter::capi::fill_buf;
using cotter::capi::report;

namespace cotter::capi {

int check_call_options(const cotter_call_options *opts, cotter_error **out_error) noexcept {
    if (!opts) return COTTER_OK;
    if (opts->version != COTTER_CALL_OPTIONS_VERSION)
        return report(out_error, COTTER_EINVAL, "call options: unknown version (use cotter_call_options_init)");
    const auto &timeout = cotter::core::options::call::timeout_ms_range;
    if (!cotter::core::options::in_range(timeout, opts->timeout_ms)) return report(out_error, COTTER_EINVAL, timeout.message);
    return COTTER_OK;
}

int64_t call_timeout_ms(const cotter_call_options *opts) noexcept {
    return opts && opts->timeout_ms > 0 ? opts->timeout_ms : -1;
}

cotter_call *new_call(const cotter_call_options *opts, call_keep keep, const cotter::core::http::transport *io) {
    auto *call = new cotter_call();
    if (opts) {
        call->fn = opts->done;
        call->payload = opts->done_payload;
    }
    call->keep = std::move(keep.object);
    call->use = std::move(keep.use);
    call->io = io;
    return call;
}

void release_call(cotter_call *call) noexcept {
    if (call->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete call;
}

void complete_call(cotter_call *call, int status, cotter::core::error_info *err, cotter_call::result &&value) noexcept {
    std::function<void()> cancel;
    {
        std::lock_guard<std::mutex> lock(call->mu);
        if (call->done) return;  // exactly once, whatever the core does
        try {
            call->value = std::move(value);
            if (err) call->err = std::move(*err);
        } catch (...) {
            status = COTTER_ENOMEM;
        }
        if (status == COTTER_OK) {
            call->err = cotter::core::error_info{};
        } else {
            if (status > 0) status = COTTER_EINTERNAL;
            call->err.code = status;
            if (call->err.message.empty()) call->err.message = cotter_status_describe(status);
        }
        call->status = status;
        call->done = true;
        cancel.swap(call->cancel);
    }
    // Outside the lock: a waiter woken under it would at once block on the mutex this thread still holds (a futex
    // wait and wake, and often a context switch, per blocking call). The pending reference keeps `call` alive.
    call->cv.notify_all();
    cancel = nullptr;  // may own the session or a transfer: released outside the lock
    if (call->fn) call->fn(call, call->payload);
    release_call(call);
}

}  // namespace cotter::capi

namespace {

/// Waits for the call (unless that would deadlock), then hands its result to `fill` when the status is OK.
template <class T, class Fill>
int take(cotter_call *call, cotter_error **out_error, const char *what, Fill &&fill) {
    COTTER_CHECK_ARG(call != nullptr, "call must not be NULL", out_error);
    std::unique_lock<std::mutex> lock(call->mu);
    if (!call->done) {
        if (call->io && call->io->on_io_thread())
            return report(out_error, COTTER_EINVAL,
                          "cannot wait for a call on the client's I/O thread (from a completion callback): it would "
                          "wait for itself");
        call->cv.wait(lock, [&] { return call->done; });
    }
    if (call->status != COTTER_OK) {
        cotter::core::error_info e = call->err;
        lock.unlock();
        return report(out_error, std::move(e));
    }
    if (call->taken) return report(out_error, COTTER_EINVAL, "the result of this call was already taken");
    T *v = std::get_if<T>(&call->value);
    if (!v) return report(out_error, COTTER_EINVAL, (std::string("this call does not produce ") + what).c_str());
    const int rc = fill(*v);
    if (rc == COTTER_OK) {
        call->taken = true;
        call->value = std::monostate{};
    }
    return rc;
}

}  // namespace

extern "C" {

COTTER_API int cotter_call_options_init(cotter_call_options *opts, unsigned int version) noexcept {
    if (!opts || version != COTTER_CALL_OPTIONS_VERSION) return COTTER_EINVAL;
    *opts = cotter_call_options COTTER_CALL_OPTIONS_INIT;
    return COTTER_OK;
}

COTTER_API void cotter_call_cancel(cotter_call *call) noexcept {
    if (!call) return;
    std::function<void()> cancel;
    try {
        std::lock_guard<std::mutex> lock(call->mu);
        if (!call->done) cancel = call->cancel;
    } catch (...) {
        return;
    }
    if (cancel) cancel();
}

COTTER_API int cotter_call_is_done(const cotter_call *call) noexcept {
    if (!call) return 0;
    std::lock_guard<std::mutex> lock(const_cast<cotter_call *>(call)->mu);
    return call->done ? 1 : 0;
}

COTTER_API int cotter_call_wait(cotter_call *call, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out_error);
    COTTER_API_BEGIN
    COTTER_CHECK_ARG(call != nullptr, "call must not be NULL", out_error);
    std::unique_lock<std::mutex> lock(call->mu);
    if (!call->done) {
        if (call->io && call->io->on_io_thread())
            return report(out_error, COTTER_EINVAL,
                          "cannot wait for a call on the client's I/O thread (from a completion callback): it would "
                          "wait for itself");
        call->cv.wait(lock, [&] { return call->done; });
    }
    if (call->status == COTTER_OK) return COTTER_OK;
    cotter::core::error_info e = call->err;
    lock.unlock();
    return report(out_error, std::move(e));
    COTTER_API_END(out_error)
}

COTTER_API void cotter_call_free(cotter_call *call) noexcept {
    if (!call) return;
    cotter_call_cancel(call);
    // The handle's end is the call's last use of its object's callbacks (hooks.hpp), whether or not the cancelled
    // call has completed yet: once every handle is freed, no log, clock or storage hook runs again. Dropped outside
    // the lock: ending the last use waits for a callback running on another thread.
    std::shared_ptr<cotter::capi::hook_gate::use> use;
    {
        std::lock_guard<std::mutex> lock(call->mu);
        use.swap(call->use);
    }
    use.reset();
    cotter::capi::release_call(call);
}

COTTER_API int cotter_call_take_token(cotter_token **out, cotter_call *call, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CLEAR_OUT(out_error);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_API_BEGIN
    return take<tk::token_set>(call, out_error, "a token set", [&](tk::token_set &t) -> int {
        *out = new cotter_token{std::move(t)};
        return COTTER_OK;
    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_call_take_buf(cotter_buf *out, cotter_call *call, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CLEAR_OUT(out_error);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_API_BEGIN
    return take<cotter::core::secret_string>(call, out_error, "a string", [&](cotter::core::secret_string &s) -> int {
        return fill_buf(out, s.str()) == COTTER_OK ? COTTER_OK : report(out_error, COTTER_ENOMEM, "out of memory");
    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_call_take_custom_claims(cotter_buf *token_out, cotter_buf *refresh_token_out, cotter_call *call,
                                              cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(token_out);
    COTTER_CLEAR_OUT(refresh_token_out);
    COTTER_CLEAR_OUT(out_error);
    COTTER_CHECK_ARG(token_out != nullptr, "token_out must not be NULL", out_error);
    COTTER_API_BEGIN
    return take<tk::custom_claims_result>(call, out_error, "custom claims", [&](tk::custom_claims_result &r) -> int {
        if (fill_buf(token_out, r.token.str()) != COTTER_OK) return report(out_error, COTTER_ENOMEM, "out of memory");
        if (refresh_token_out && !r.refresh_token.empty() &&
            fill_buf(refresh_token_out, r.refresh_token.str()) != COTTER_OK) {
            cotter_buf_dispose(token_out);
            return report(out_error, COTTER_ENOMEM, "out of memory");
        }
        return COTTER_OK;
    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_call_take_verify_remote(int *valid_out, cotter_buf *reason_out, cotter_call *call,
                                              cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(valid_out);
    COTTER_CLEAR_OUT(reason_out);
    COTTER_CLEAR_OUT(out_error);
    COTTER_CHECK_ARG(valid_out != nullptr, "valid_out must not be NULL", out_error);
    COTTER_API_BEGIN
    return take<tk::verify_result>(call, out_error, "a verification verdict", [&](tk::verify_result &r) -> int {
        if (reason_out && !r.valid && fill_buf(reason_out, r.reason) != COTTER_OK)
            return report(out_error, COTTER_ENOMEM, "out of memory");
        *valid_out = r.valid ? 1 : 0;
        return COTTER_OK;
    });
    COTTER_API_END(out_error)
}

}  // extern "C"

/**
 * @file call.hpp
 * @brief The cotter_call object behind every `_start` function: one generic completion (status, error, a result
 * of one of a few types), a done callback, cancellation, a blocking wait, and two references (the caller's handle
 * and the pending completion) so that free, cancel and completion may happen in any order on any thread.
 */
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <variant>
#include <vector>

#include "api.hpp"
#include "hooks.hpp"
#include "http/http.hpp"
#include "token/client.hpp"

struct cotter_call {
    using result = std::variant<std::monostate,                                // no result (logout, delete, set...)
                                cotter::core::token::token_set,                // take_token
                                cotter::core::secret_string,                   // take_buf (records as JSON)
                                cotter::core::token::custom_claims_result,     // take_custom_claims
                                cotter::core::token::verify_result>;           // take_verify_remote

    std::mutex mu;
    std::condition_variable cv;
    bool done = false;                       // guarded by mu
    bool taken = false;                      // guarded by mu
    int status = COTTER_OK;                  // guarded by mu; set once
    cotter::core::error_info err;            // guarded by mu
    result value;                            // guarded by mu
    std::function<void()> cancel;            // guarded by mu; dropped at completion
    cotter_call_done_fn fn = nullptr;
    void *payload = nullptr;
    std::shared_ptr<void> keep;              // what the call uses (client, session, verifier), alive until it completes
    std::shared_ptr<cotter::capi::hook_gate::use> use;  // guarded by mu: its object's callbacks, until the handle is freed
    const cotter::core::http::transport *io = nullptr;  // whose I/O thread completes the call (waiting there deadlocks)
    // The caller's handle + the pending completion + start_call until it returns (a call may complete, and its
    // callback free the handle, before the `_start` function has returned).
    std::atomic<int> refs{3};
};

namespace cotter::capi {

/// Range-checks `opts` (NULL = defaults). Returns COTTER_OK or reports COTTER_EINVAL.
int check_call_options(const cotter_call_options *opts, cotter_error **out_error) noexcept;

/// The call's budget for the core: -1 (the default) when `opts` gives none.
int64_t call_timeout_ms(const cotter_call_options *opts) noexcept;

/// Drops one reference; the last one deletes the call.
void release_call(cotter_call *call) noexcept;

/// A new call (three references: see cotter_call::refs) that keeps `keep` (hooks.hpp) and is completed on `io`'s
/// thread.
cotter_call *new_call(const cotter_call_options *opts, call_keep keep, const cotter::core::http::transport *io);

/// Completes the call once: stores the outcome, wakes waiters, runs the callback, drops the pending reference.
void complete_call(cotter_call *call, int status, cotter::core::error_info *err, cotter_call::result &&value) noexcept;

/// Completes `call` from a core outcome, converting the value with `convert(T&&) -> cotter_call::result`.
template <class T, class Convert>
std::function<void(cotter::core::token::outcome<T> &&)> completer(cotter_call *call, Convert convert) {
    return [call, convert = std::move(convert)](cotter::core::token::outcome<T> &&o) mutable {
        if (o.code != COTTER_OK) {
            complete_call(call, o.code, &o.err, cotter_call::result{});
            return;
        }
        cotter_call::result r;
        try {
            r = convert(std::move(o.value));
        } catch (...) {
            cotter::core::error_info e;
            e.code = COTTER_ENOMEM;
            e.message = "out of memory";
            complete_call(call, COTTER_ENOMEM, &e, cotter_call::result{});
            return;
        }
        complete_call(call, COTTER_OK, nullptr, std::move(r));
    };
}

/// Identity conversion for results stored as they come.
struct as_is {
    template <class T>
    cotter_call::result operator()(T &&v) const {
        return cotter_call::result(std::forward<T>(v));
    }
};

/// Conversion for a record that crosses the ABI as JSON (capi/abi.json `records`): its checked `json`, taken with
/// cotter_call_take_buf (a secret_string: wiped, as the record may hold tokens).
struct record_json {
    template <class T>
    cotter_call::result operator()(T &&record) const {
        return cotter_call::result(cotter::core::secret_string(std::move(record.json)));
    }
};

/// Runs `start(done)` for a new call, which it returns through `out`. `start` returns something with cancel()
/// (the core's call handle) or a session waiter id wrapped by the caller. If `start` throws (a bad argument,
/// before anything started), the call is discarded and the exception propagates to the ABI barrier.
template <class T, class Start, class Convert = as_is>
int start_call(cotter_call **out, const cotter_call_options *opts, call_keep keep,
               const cotter::core::http::transport *io, Start &&start, Convert convert = Convert{}) {
    cotter_call *call = new_call(opts, std::move(keep), io);
    std::function<void()> cancel;
    try {
        cancel = start(completer<T>(call, std::move(convert)));
    } catch (...) {
        delete call;  // its completion was never handed out
        throw;
    }
    {
        std::lock_guard<std::mutex> lock(call->mu);
        if (!call->done) call->cancel = std::move(cancel);
    }
    *out = call;
    release_call(call);  // start_call's own reference
    return COTTER_OK;
}

/// The blocking forms: `rc` is what the `_start` function returned for `*call`; on success take the result with
/// `take(call)` (which waits), then free the call.
template <class Take>
int finish_blocking(int rc, cotter_call **call, Take &&take) noexcept {
    if (rc != COTTER_OK) return rc;
    rc = take(*call);
    cotter_call_free(*call);
    return rc;
}

}  // namespace cotter::capi

// Checks the call options argument of a `_start` function.
#define COTTER_CHECK_CALL_OPTIONS(opts, out_error)                                                       \
    do {                                                                                                 \
        if (int rc_ = ::cotter::capi::check_call_options((opts), (out_error)); rc_ != COTTER_OK) return rc_; \
    } while (0)

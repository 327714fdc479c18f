/**
 * @file session.hpp
 * @brief A token set kept valid: refresh when the access token expires within a margin, one refresh at a time
 * however many callers ask (single-flight, the outcome shared), re-read shared storage under its lock before
 * refreshing (so processes sharing a token file refresh once), never lose tokens on a transport error.
 *
 * Event-driven: the operations that change the set (refresh, set, logout) are queued and run one at a time on the
 * client's I/O thread. A caller asking for tokens gets them at once when they are fresh (its callback runs inline,
 * on its own thread); otherwise it waits for the refresh in flight, or starts one. Storage hooks and the
 * tokens-changed callback run on the I/O thread, in order. A waiter that gives up (cancel, timeout) only stops
 * waiting: a refresh that was sent goes on and its new tokens are stored, since the old refresh token is dead.
 * A refresh whose answer may have been lost (reset, cut short, garbled, timed out) is sent once more with the same
 * token: within a server's reuse grace window that returns the current set instead of logging the user out.
 *
 * Thread-safety: thread-safe. The blocking forms fail with COTTER_EINVAL on the I/O thread (from a callback), where
 * waiting would block the operation waited for; reading a fresh token from there is fine.
 */
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "common/error.hpp"
#include "common/options.hpp"
#include "token/client.hpp"
#include "token/shared_store.hpp"
#include "token/storage.hpp"

namespace cotter::core::token {

/// Defaults and ranges: those of cotter_session_options (common/options.hpp, from capi/abi.json).
struct session_options {
    int64_t refresh_margin_seconds = options::session::refresh_margin_seconds;
    std::unique_ptr<storage> store;                            // null = memory
    std::function<void(const token_set *)> on_tokens_changed;  // null set = logged out
    std::function<int64_t()> clock;                            // Unix seconds; null = system clock
    /// Shared by a fleet through Redis (docs/shared-sessions.md): refreshes take the store's lease, read and save
    /// there; `store` stays memory. Null = not shared.
    std::shared_ptr<shared_store> shared;
    std::string shared_id;
};

using tokens_ptr = std::shared_ptr<const token_set>;

class session : public std::enable_shared_from_this<session> {
public:
    /// `initial` (may be null) replaces what storage holds; without it the session loads from storage (on the
    /// calling thread). The session keeps `c` alive.
    static std::shared_ptr<session> create(std::shared_ptr<client> c, session_options options, const token_set *initial);

    /// The current set, refreshed first when it expires within the margin (or always, with `force`; a refresh
    /// already in flight is joined). Returns a waiter id for cancel_wait(), or 0 when `done` already ran inline.
    uint64_t tokens_async(bool force, done_fn<tokens_ptr> done, int64_t timeout_ms = -1);
    /// Replaces the set and stores it.
    uint64_t set_async(const token_set &t, done_fn<nothing> done, int64_t timeout_ms = -1);
    /// Ends the server session (best effort) and deletes the stored tokens.
    uint64_t logout_async(done_fn<nothing> done, int64_t timeout_ms = -1);
    /// Stops waiting: `done` runs with COTTER_ECANCELED unless it already ran. A refresh that was sent goes on.
    void cancel_wait(uint64_t id);

    // The blocking forms.
    secret_string access_token();
    tokens_ptr tokens();
    tokens_ptr refresh_now();
    void set(const token_set &t);
    void logout();

    /// The I/O thread's transport (where operations and completions run).
    const http::transport &io() const noexcept { return client_->transport(); }

    session(std::shared_ptr<client> c, session_options options);  // use create()

private:
    struct waiter;
    struct op;

    bool fresh(const token_set &t, int64_t now) const;
    int64_t now() const;
    uint64_t enqueue(int kind, bool force, const token_set *value, done_fn<nothing> done_nothing,
                     done_fn<tokens_ptr> done_tokens, int64_t timeout_ms);
    void end_wait(uint64_t id, int code, const char *message);
    void run_next();
    void execute(const std::shared_ptr<op> &o);
    void execute_refresh(const std::shared_ptr<op> &o);
    void send_refresh(const std::shared_ptr<op> &o, secret_string used, bool retried);
    void execute_set(const std::shared_ptr<op> &o);
    void execute_logout(const std::shared_ptr<op> &o);
    // The shared-store forms (docs/shared-sessions.md). Redis answers on the adapter's thread; every step goes on
    // on the I/O thread (on_io).
    void on_io(const std::shared_ptr<op> &o, std::function<void()> step);
    void shared_acquire(const std::shared_ptr<op> &o, int attempt);
    void shared_wait(const std::shared_ptr<op> &o, int attempt, int64_t lease_pttl_ms);
    void shared_poll(const std::shared_ptr<op> &o, int attempt, int64_t bound);
    /// A waiter's n-th look again: 5 ms, doubling up to `bound` (a poll's delay, or a wait's timeout).
    static int64_t poll_delay(int attempt, int64_t bound);
    void shared_log(const std::string &message) const noexcept;
    void shared_leased(const std::shared_ptr<op> &o, lease_outcome &&l);
    void shared_save(const std::shared_ptr<op> &o, const std::string &owner, const std::string &version, tokens_ptr next);
    void shared_release(const std::string &owner);
    void shared_adopt(const shared_state &s);
    void shared_set(const std::shared_ptr<op> &o);
    void shared_logout(const std::shared_ptr<op> &o);
    void finish(const std::shared_ptr<op> &o, const error_info *err, const error_info *first_err = nullptr);
    void publish(tokens_ptr t);  // I/O thread, during an operation
    template <class T>
    T wait_blocking(const char *what, const std::function<uint64_t(done_fn<T>)> &start);

    std::shared_ptr<client> client_;
    session_options options_;

    mutable std::mutex state_mutex_;
    tokens_ptr tokens_;                        // guarded by state_mutex_
    std::deque<std::shared_ptr<op>> ops_;      // guarded; the front one runs when busy_
    bool busy_ = false;                        // guarded
    uint64_t next_waiter_id_ = 1;              // guarded
    // I/O thread only (operations run there one at a time).
    secret_string rejected_refresh_token_;
    std::unique_ptr<storage_lock> storage_lock_;
    std::string shared_version_;  // the store's version of tokens_ (I/O thread; set on the creating thread first)
};

}  // namespace cotter::core::token

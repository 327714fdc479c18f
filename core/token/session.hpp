/**
 * @file session.hpp
 * @brief A token set kept valid: refresh when the access token expires within a margin, one refresh at a time
 * however many threads ask (single-flight, the outcome shared), re-read shared storage under its lock before
 * refreshing (so processes sharing a token file refresh once), never lose tokens on a transport error.
 *
 * Thread-safety: thread-safe. The tokens-changed callback runs on the thread that made the change, while the
 * session's refresh lock is held (so callbacks see changes in order); it must not call refresh, set or logout on
 * the same session (such a call fails with COTTER_EINVAL instead of deadlocking); reading a fresh token is fine.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <atomic>
#include <mutex>
#include <thread>

#include "common/error.hpp"
#include "token/client.hpp"
#include "token/storage.hpp"

namespace cotter::core::token {

struct session_options {
    int64_t refresh_margin_seconds = 30;
    std::unique_ptr<storage> store;                            // null = memory
    std::function<void(const token_set *)> on_tokens_changed;  // null set = logged out
    std::function<int64_t()> clock;                            // Unix seconds; null = system clock
};

class session {
public:
    /// `initial` (may be null) replaces what storage holds; without it the session loads from storage.
    session(client &c, session_options options, const token_set *initial);

    /// The current access token, refreshed first when it expires within the margin.
    secret_string access_token();
    /// The current set, refreshed first when needed.
    std::shared_ptr<const token_set> tokens();
    /// Refreshes now whatever the expiry (joins a refresh already in flight).
    std::shared_ptr<const token_set> refresh_now();
    /// Replaces the set and stores it.
    void set(const token_set &t);
    /// Ends the server session (best effort) and deletes the stored tokens.
    void logout();

private:
    struct flight_outcome {
        uint64_t count = 0;  // flights completed
        bool ok = true;
        error_info err;
    };

    std::shared_ptr<const token_set> ensure(bool force);
    bool fresh(const token_set &t, int64_t now) const;
    int64_t now() const;
    void publish(std::shared_ptr<const token_set> t);  // under refresh_mutex_

    client &client_;
    session_options options_;
    /// Takes refresh_mutex_, refusing a re-entrant call from the tokens-changed callback (which runs under it and
    /// would otherwise deadlock) with COTTER_EINVAL.
    class flight_lock;
    std::mutex refresh_mutex_;  // single flight: held for a whole re-read/refresh/store
    std::atomic<std::thread::id> flight_owner_{};
    mutable std::mutex state_mutex_;
    std::shared_ptr<const token_set> tokens_;  // guarded by state_mutex_
    flight_outcome outcome_;                   // guarded by state_mutex_
    secret_string rejected_refresh_token_;     // guarded by refresh_mutex_
};

}  // namespace cotter::core::token

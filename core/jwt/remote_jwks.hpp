/**
 * @file remote_jwks.hpp
 * @brief A remote JWKS kept fresh over core/http: max age (bounded Cache-Control), conditional refetch (ETag),
 * kid-miss refetch with a cooldown, single-flight fetches, last-good keys kept when a fetch fails.
 *
 * Thread-safety: thread-safe. The current key set is an immutable snapshot read without the lock; the lock only
 * guards fetch bookkeeping and is never held during network I/O.
 */
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "http/http.hpp"
#include "jwt/key_set.hpp"

namespace cotter::core::jwt {

struct remote_jwks_options {
    std::string url;
    std::string ca_file;
    int64_t max_age_ms = 600000;
    int64_t cooldown_ms = 30000;
    int64_t timeout_ms = 5000;
    size_t max_bytes = 1u << 20;
    std::function<void(int level, const std::string &message)> log;
};

class remote_jwks {
public:
    /// Throws error(COTTER_EINVAL) for a URL that is neither https nor http to a loopback host.
    explicit remote_jwks(remote_jwks_options options);
    ~remote_jwks();

    /// The newest snapshot without any fetch (may be null). Lock-free.
    std::shared_ptr<const key_set> snapshot() const;

    /// Keys to verify with: fresh ones, fetching first when there are none or they are stale (a stale set is
    /// still returned while another thread fetches or when the fetch fails). COTTER_EJWKS_UNAVAILABLE when no
    /// keys could ever be obtained.
    int current(int64_t now_ms, std::shared_ptr<const key_set> &out, error_info *err);

    /// A token's kid was not in `seen`: refetch once per cooldown (concurrent misses share one fetch) and return
    /// the newest snapshot, which is `seen` again when no refetch was allowed or it failed.
    std::shared_ptr<const key_set> on_kid_miss(const key_set *seen, int64_t now_ms);

    /// Fetches now unless a fetch happened within the cooldown. COTTER_OK, EJWKS_UNAVAILABLE or EJWKS_INVALID.
    int refresh(int64_t now_ms, error_info *err);

    /// The asynchronous form of refresh(): `done` runs once, with null on success or the error, on the I/O thread
    /// (or inline when no fetch is needed: within the cooldown, the last outcome is reported). Joins a fetch in
    /// flight. With timeout_ms > 0 the waiter gives up after that long (COTTER_ETIMEOUT, as cancel_wait()).
    /// Returns a waiter id for cancel_wait(), or 0 when `done` already ran inline.
    uint64_t refresh_async(int64_t now_ms, std::function<void(const error_info *)> done, int64_t timeout_ms = -1);
    /// This waiter stops waiting: its `done` runs with COTTER_ECANCELED (on the I/O thread) unless it already ran.
    /// The other waiters of the fetch are not affected; the fetch itself is cancelled when nobody waits for it any
    /// more (neither another asynchronous waiter nor a thread blocked in current()/refresh()/on_kid_miss()).
    void cancel_wait(uint64_t id) { end_wait(id, COTTER_ECANCELED, "the call was cancelled"); }

    const http::transport &transport() const noexcept { return transport_; }

    /// Completed fetch attempts (successful or not).
    uint64_t fetch_count() const noexcept { return fetches_.load(); }

private:
    // Runs one fetch; `lock` is held on entry and exit, released during I/O. Returns the fetch's status.
    int fetch_locked(std::unique_lock<std::mutex> &lock, int64_t now_ms);
    http::request make_request(std::shared_ptr<const key_set> &previous, std::string &etag);
    int absorb(int rc, http::response &resp, const error_info &transport_err,
               const std::shared_ptr<const key_set> &previous, const std::string &etag,
               std::shared_ptr<const key_set> &out, int64_t &max_age_ms, error_info &err);
    void end_wait(uint64_t id, int code, const char *message);
    // Blocks on fetch_done_ until no fetch is in flight, counted in sync_waiting_ (`lock` held).
    void wait_for_fetch(std::unique_lock<std::mutex> &lock);
    // Stores a fetch's outcome and wakes waiters; `lock` is unlocked on entry and locked on exit.
    void record(std::unique_lock<std::mutex> &lock, int rc, std::shared_ptr<const key_set> fetched, int64_t max_age_ms,
                const error_info &err, int64_t now_ms);
    void log(int level, const std::string &message) const;

    remote_jwks_options options_;

    std::shared_ptr<const key_set> keys_;       // read with std::atomic_load, replaced with std::atomic_store
    std::atomic<int64_t> fresh_until_ms_{0};
    std::atomic<uint64_t> fetches_{0};

    std::mutex mu_;
    std::condition_variable fetch_done_;
    bool fetching_ = false;
    bool fetched_once_ = false;
    std::atomic<int64_t> last_fetch_ms_{0};  // written under mu_; read lock-free on the hot path
    error_info last_error_;
    std::string etag_;  // of the response that produced keys_, for If-None-Match
    struct async_waiter {
        uint64_t id;
        std::function<void(const error_info *)> done;
    };
    // Guarded by mu_: the asynchronous waiters of the fetch in flight; the handle of that fetch when it is an
    // asynchronous one; its generation (a fetch cancelled because nobody waited any more is ignored when its
    // completion arrives); the threads blocked on fetch_done_.
    std::vector<async_waiter> async_waiters_;
    uint64_t next_waiter_id_ = 1;
    http::transfer_handle async_fetch_;
    uint64_t fetch_generation_ = 0;
    int sync_waiting_ = 0;
    // Waiter timers hold a weak reference: one may fall due on the I/O thread in the same loop turn in which a
    // completion destroyed this object (the transport then detaches its thread instead of joining it).
    std::shared_ptr<char> alive_ = std::make_shared<char>(0);

    // Last: destroyed first, so requests it completes on destruction still find everything above.
    http::transport transport_;
};

}  // namespace cotter::core::jwt

/**
 * @file http.hpp
 * @brief The one HTTP layer of the core (libcurl). Used by the token client and by the remote JWKS fetcher.
 *
 * Event-driven: a `transport` owns one I/O thread that drives every request through libcurl's multi interface
 * (the design of node-libcurl and undici), so a request in flight costs a socket and a few hundred bytes, never a
 * thread. Requests share the multi handle's connection cache (keep-alive reuse across concurrent requests, an
 * optional per-host cap) and multiplex over one TLS connection when the server speaks HTTP/2. Submission, timers
 * and cancellation reach the thread through a locked queue and curl_multi_wakeup().
 *
 * Why one I/O thread per transport (per client) and not one per process: its lifetime is the client's (nothing
 * runs after the last client is freed, no global state to tear down at exit or after fork), a slow completion in
 * one client never delays another, and the connection cap is per client. A process normally has one client.
 *
 * Thread-safety: a `transport` is thread-safe. Completions, posted tasks and timers run on its I/O thread, one at
 * a time; they must not block (a blocking perform() from the I/O thread fails with COTTER_EINVAL, since it would
 * wait for itself).
 */
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/options.hpp"

namespace cotter::core::http {

struct header {
    std::string name;   // as sent/received; compare case-insensitively
    std::string value;
};

struct request {
    std::string method = "GET";          // GET, POST, DELETE, PUT
    std::string url;
    std::vector<header> headers;         // may hold secrets (API_SECRET_KEY): never logged, wiped when done
    std::string body;                    // sent as-is (JSON); empty = no body; wiped when done
    bool idempotent = false;             // only idempotent requests are retried automatically
    int64_t timeout_ms = -1;             // total budget, retries and queueing included; -1 = the transport's default
};

struct response {
    long status = 0;
    std::string body;                    // capacity includes simdjson::SIMDJSON_PADDING: parse without copying
    std::vector<header> headers;         // of the final response
    std::string effective_url;
    int64_t retry_after = -1;            // Retry-After in seconds (delta or HTTP-date), -1 = absent

    /// Case-insensitive header lookup; nullptr when absent.
    const std::string *find_header(const std::string &name) const;
};

using log_fn = std::function<void(int level, const std::string &message)>;

/// Defaults and ranges: those of cotter_client_options (common/options.hpp, from capi/abi.json).
struct transport_options {
    std::string ca_file;                 // empty = system store; TLS verification is always on
    int64_t connect_timeout_ms = options::client::connect_timeout_ms;
    int64_t timeout_ms = options::client::timeout_ms;
    size_t max_response_bytes = options::client::max_response_bytes;
    bool allow_plain_http_to_loopback = true;   // http:// only to 127.0.0.0/8, ::1, localhost
    bool allow_plain_http = false;              // anywhere (tests/dev only; off by default)
    int max_retries = options::client::max_retries;  // idempotent requests only
    int64_t retry_base_ms = options::client::retry_base_ms;
    int64_t retry_max_ms = options::client::retry_max_ms;
    long max_host_connections = 0;              // open connections per host; 0 = no cap. Extra requests queue.
    std::string user_agent;                     // default "cotter/<version> libcurl/<v>"
    log_fn log;                                 // runs on the I/O thread; messages never include header values or bodies
};

struct transport_stats {
    uint64_t requests = 0;      // attempts sent, retries included
    uint64_t connections = 0;   // new connections opened
    uint64_t retries = 0;
    uint64_t in_flight = 0;     // requests started and not yet completed
    uint64_t easy_handles = 0;  // libcurl easy handles created (finished ones are reset and reused, up to 64 kept)
};

/// Runs exactly once per started request, on the I/O thread, with COTTER_OK when a complete response arrived
/// (whatever its HTTP status) or the error status and details. `resp` and `err` may be moved from.
using completion = std::function<void(int rc, response &resp, error_info &err)>;

class transfer;
struct loop;

/// A started request. Holding it does not keep the request alive or the transport; it only lets you cancel.
class transfer_handle {
public:
    transfer_handle() = default;
    explicit transfer_handle(std::shared_ptr<transfer> t) : t_(std::move(t)) {}
    /// Cancels the request if it has not completed: it completes with COTTER_ECANCELED. A request that is queued,
    /// connecting, waiting or mid-body stops at once (its connection is closed, never reused half-read); one whose
    /// response already arrived completes normally. Thread-safe; idempotent.
    void cancel() const;
    explicit operator bool() const noexcept { return static_cast<bool>(t_); }

private:
    std::shared_ptr<transfer> t_;
};

class transport {
public:
    /// Validates the options (COTTER_EINVAL). The I/O thread starts with the first request.
    explicit transport(transport_options options);
    /// Requests still in flight complete with COTTER_ECANCELED; pending timers and tasks are dropped. When called on
    /// the I/O thread itself (the last owner was released by a completion), the thread finishes on its own.
    ~transport();
    transport(const transport &) = delete;
    transport &operator=(const transport &) = delete;

    /// Starts the request (never follows redirects). Throws error(COTTER_EINVAL) for a malformed URL, a scheme that
    /// is not allowed (https, or http to a loopback host) or a bad header, before anything is sent. Otherwise `done`
    /// runs exactly once, on the I/O thread (never inside this call), with COTTER_OK when a complete response arrived,
    /// whatever its HTTP status, or COTTER_ENETWORK / ETIMEOUT / ETLS / EPROTOCOL (body over the cap) / ECANCELED.
    /// Idempotent requests are retried on network errors, 429 and 5xx with exponential backoff and full jitter,
    /// honouring Retry-After, within the request's total budget.
    transfer_handle start(request req, completion done);

    /// The blocking form: start() and wait. COTTER_EINVAL (instead of a deadlock) when called on the I/O thread.
    int perform(const request &req, response &resp, error_info *err);

    /// Runs `fn` on the I/O thread soon (never inside this call).
    void post(std::function<void()> fn);
    /// Runs `fn` on the I/O thread after `delay_ms`. Returns an id for cancel_timer() (never 0).
    uint64_t schedule(int64_t delay_ms, std::function<void()> fn);
    /// Drops a timer that has not fired; true when it was dropped (its function will never run). Thread-safe.
    bool cancel_timer(uint64_t id);

    /// Whether the calling thread is this transport's I/O thread.
    bool on_io_thread() const noexcept;

    transport_stats stats() const;
    const transport_options &options() const noexcept { return options_; }

private:
    std::shared_ptr<loop> running_loop();

    transport_options options_;
    mutable std::mutex loop_mutex_;
    std::shared_ptr<loop> loop_;  // created lazily, and again in a forked child (the parent's thread is not there)
};

/// True when `url` is http(s) and its host is a loopback address or "localhost".
bool is_loopback_url(const std::string &url);

}  // namespace cotter::core::http

/**
 * @file http.hpp
 * @brief The one HTTP layer of the core (libcurl). Used by the token client and by the remote JWKS fetcher.
 *
 * Thread-safety: a `transport` is thread-safe. A request borrows a CURL easy handle from a LIFO pool (libcurl
 * forbids using one handle on two threads at once); each handle keeps its keep-alive connections, so
 * sequential requests to one host reuse one TCP connection. DNS and TLS sessions are shared through a locked
 * CURLSH. The connection cache is deliberately not in the CURLSH: libcurl documents sharing it between
 * concurrent threads as unsupported.
 */
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace cotter::core::http {

struct header {
    std::string name;   // as sent/received; compare case-insensitively
    std::string value;
};

struct request {
    std::string method = "GET";          // GET, POST, DELETE, PUT
    std::string url;
    std::vector<header> headers;         // may hold secrets (API_SECRET_KEY): never logged
    std::string body;                    // sent as-is (JSON); empty = no body
    bool idempotent = false;             // only idempotent requests are retried automatically
    int64_t timeout_ms = -1;             // -1 = the transport's default
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

struct transport_options {
    std::string ca_file;                 // empty = system store; TLS verification is always on
    int64_t connect_timeout_ms = 10000;
    int64_t timeout_ms = 30000;
    size_t max_response_bytes = 8u << 20;
    bool allow_plain_http_to_loopback = true;   // http:// only to 127.0.0.0/8, ::1, localhost
    bool allow_plain_http = false;              // anywhere (tests/dev only; off by default)
    int max_retries = 2;                        // idempotent requests only
    int64_t retry_base_ms = 200;
    int64_t retry_max_ms = 5000;
    std::string user_agent;                     // default "cotter/<version> libcurl/<v>"
    log_fn log;                                 // messages never include header values or bodies
};

struct transport_stats {
    uint64_t requests = 0;
    uint64_t connections = 0;
    uint64_t retries = 0;
};

class transport {
public:
    explicit transport(transport_options options);
    ~transport();
    transport(const transport &) = delete;
    transport &operator=(const transport &) = delete;

    /// Performs the request (never follows redirects). Returns COTTER_OK when a complete response arrived,
    /// whatever its HTTP status; otherwise COTTER_ENETWORK / ETIMEOUT / ETLS / EPROTOCOL (body over the cap)
    /// / EINVAL (URL scheme not allowed) with details in *err. Retries idempotent requests on network errors,
    /// 429 and 5xx with exponential backoff and full jitter, honouring Retry-After.
    int perform(const request &req, response &resp, error_info *err);

    transport_stats stats() const;
    const transport_options &options() const noexcept { return options_; }

private:
    struct impl;
    transport_options options_;
    std::unique_ptr<impl> impl_;
};

/// True when `url` is http(s) and its host is a loopback address or "localhost".
bool is_loopback_url(const std::string &url);

}  // namespace cotter::core::http

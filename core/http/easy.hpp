/**
 * @file easy.hpp
 * @brief Internal to core/http: what one attempt on one libcurl easy handle needs (URL policy, headers, options,
 * callbacks, result mapping). The event loop in transport.cpp drives attempts; nothing else includes this.
 */
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "http/http.hpp"

namespace cotter::core::http::detail {

using clock_type = std::chrono::steady_clock;

/// Scheme and host of a URL, parsed by libcurl's own URL parser (the one that will be used to connect).
struct url_parts {
    std::string scheme;
    std::string host;
    std::string without_query;  // scheme://host[:port]/path, for log and error messages (queries may hold PII)
};

bool parse_url(const std::string &url, url_parts &out);
bool is_loopback_host(const std::string &host);

/// Parses `url` and applies the scheme policy (https; http only to loopback unless allowed everywhere).
/// Throws error(COTTER_EINVAL).
url_parts checked_url(const std::string &url, const transport_options &opt);

/// The request's header list plus our fixed headers. Throws error(COTTER_EINVAL) for a header with CR/LF or a
/// colon in its name. Free with free_headers(), which wipes the lines (they may hold API_SECRET_KEY).
curl_slist *build_headers(const request &req);
void free_headers(curl_slist *list) noexcept;

/// Per-transfer state that libcurl's callbacks write into; reused by every attempt of the transfer.
struct attempt_state {
    response *resp = nullptr;
    size_t max_bytes = 0;
    bool too_big = false;
    CURL *handle = nullptr;             // the handle of this attempt (CURLOPT_PREREQFUNCTION asks it what was sent)
    int sends = 0;                      // CURLOPT_PREREQFUNCTION calls: a second one is libcurl re-sending
    bool replay_refused = false;
    char errbuf[CURL_ERROR_SIZE] = {0};
};

/// Sets every option of one attempt on a freshly reset handle, and clears the response fields (the body keeps its
/// capacity). `budget_ms` is what is left of the request's total timeout.
void configure(CURL *h, const transport_options &opt, const request &req, curl_slist *headers, int64_t budget_ms,
               attempt_state &st);

/// After the attempt: fills status, Retry-After and effective URL into the response and returns COTTER_OK, or maps
/// libcurl's result to a status with a message naming the method and URL (never the query) in `err`.
int conclude(CURL *h, CURLcode rc, const transport_options &opt, const request &req, const url_parts &url,
             attempt_state &st, error_info &err);

/// Drops the references to the transfer's memory from a handle before it goes back to the pool.
void detach(CURL *h) noexcept;

bool is_retryable_status(long status);

/// Full jitter (AWS architecture blog): a uniform delay in [0, min(cap, base * 2^attempt)].
int64_t backoff_ms(int attempt, int64_t base, int64_t cap);

}  // namespace cotter::core::http::detail

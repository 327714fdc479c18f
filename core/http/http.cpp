/**
 * @file http.cpp
 * @brief The libcurl transport: a pool of easy handles, a locked share handle (DNS, TLS sessions), strict
 * per-request options (no redirects, http/https only, TLS verification on), a response size cap, and retries
 * with exponential backoff and full jitter for idempotent requests.
 *
 * Why a pool of easy handles rather than a shared connection cache: libcurl documents that sharing the
 * connection cache (CURL_LOCK_DATA_CONNECT) "is not supported between multiple concurrent threads". Each easy
 * handle keeps its own connection cache instead, and the pool is LIFO, so sequential requests (from any
 * thread) get the same handle back and reuse its keep-alive connection; concurrent requests use different
 * handles. A handle is only ever used by one thread at a time. DNS and TLS sessions, which libcurl does
 * support sharing across threads, go through the CURLSH with one mutex per data kind.
 */
#include "http/http.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "common/global.hpp"
#include "cotter.h"

namespace cotter::core::http {
namespace {

using clock_type = std::chrono::steady_clock;

constexpr size_t k_max_idle_handles = 32;       // idle easy handles kept for reuse (each holds its connections)
constexpr size_t k_max_response_headers = 256;  // headers beyond this are dropped (libcurl caps their size)

std::string ascii_lower(std::string s) {
    for (char &c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

bool iequals(const std::string &a, const std::string &b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

/// Scheme and host of a URL, parsed by libcurl's own URL parser (the one that will be used to connect).
struct url_parts {
    std::string scheme;
    std::string host;
    std::string without_query;  // scheme://host[:port]/path, for log and error messages (queries may hold PII)
};

bool parse_url(const std::string &url, url_parts &out) {
    CURLU *u = curl_url();
    if (!u) return false;
    bool ok = false;
    // Only http and https can pass the checks below; CURLU_NON_SUPPORT_SCHEME lets us name the bad scheme.
    if (curl_url_set(u, CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK) {
        char *scheme = nullptr, *host = nullptr, *port = nullptr, *path = nullptr;
        if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
            out.scheme = ascii_lower(scheme);
            out.host = ascii_lower(host);
            out.without_query = out.scheme + "://" + host;
            if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port) out.without_query += ":" + std::string(port);
            if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && path) out.without_query += path;
            ok = true;
        }
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_free(path);
    }
    curl_url_cleanup(u);
    return ok;
}

bool is_loopback_host(const std::string &host) {
    if (host == "localhost" || host == "[::1]") return true;
    unsigned char addr[4];
    return inet_pton(AF_INET, host.c_str(), addr) == 1 && addr[0] == 127;
}

/// State shared with libcurl's callbacks during one attempt.
struct transfer_state {
    response *resp = nullptr;
    size_t max_bytes = 0;
    bool too_big = false;
};

size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
    auto *st = static_cast<transfer_state *>(userdata);
    const size_t n = size * nmemb;
    if (n > st->max_bytes - std::min(st->max_bytes, st->resp->body.size())) {
        st->too_big = true;
        return 0;  // makes libcurl abort with CURLE_WRITE_ERROR
    }
    try {
        st->resp->body.append(data, n);
    } catch (...) {
        return 0;
    }
    return n;
}

size_t on_header(char *data, size_t size, size_t nitems, void *userdata) {
    auto *st = static_cast<transfer_state *>(userdata);
    const size_t n = size * nitems;
    try {
        std::string line(data, n);
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
        if (line.compare(0, 5, "HTTP/") == 0) {
            st->resp->headers.clear();  // a new (final or interim) response starts: keep only the last one's
            return n;
        }
        const size_t colon = line.find(':');
        if (colon == std::string::npos || st->resp->headers.size() >= k_max_response_headers) return n;
        std::string name = line.substr(0, colon);
        size_t v = colon + 1;
        while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
        std::string value = line.substr(v);
        // Pre-size the body from Content-Length (bounded by the cap) to avoid regrowth on large lists.
        if (iequals(name, "content-length")) {
            char *end = nullptr;
            const unsigned long long cl = std::strtoull(value.c_str(), &end, 10);
            if (end && *end == '\0' && cl > 0)
                st->resp->body.reserve(static_cast<size_t>(std::min<unsigned long long>(cl, st->max_bytes)) +
                                       simdjson::SIMDJSON_PADDING);
        }
        st->resp->headers.push_back({std::move(name), std::move(value)});
    } catch (...) {
        return 0;
    }
    return n;
}

/// The request body, fed to libcurl by on_read_body.
struct upload_state {
    const std::string *body;
    size_t offset;
};

size_t on_read_body(char *buffer, size_t size, size_t nitems, void *userdata) {
    auto *up = static_cast<upload_state *>(userdata);
    const size_t n = std::min(size * nitems, up->body->size() - up->offset);
    if (n) std::memcpy(buffer, up->body->data() + up->offset, n);
    up->offset += n;
    return n;
}

int on_seek_body(void *userdata, curl_off_t offset, int origin) {
    auto *up = static_cast<upload_state *>(userdata);
    if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > up->body->size()) return CURL_SEEKFUNC_FAIL;
    up->offset = static_cast<size_t>(offset);
    return CURL_SEEKFUNC_OK;
}

/// Wipes and frees a header list (it may hold API_SECRET_KEY).
void free_headers(curl_slist *list) noexcept {
    for (curl_slist *p = list; p; p = p->next)
        if (p->data) OPENSSL_cleanse(p->data, std::strlen(p->data));
    curl_slist_free_all(list);
}

struct slist_guard {
    curl_slist *list = nullptr;
    ~slist_guard() { free_headers(list); }
    void append(const std::string &line) {
        curl_slist *next = curl_slist_append(list, line.c_str());
        if (!next) throw std::bad_alloc();
        list = next;
    }
};

int map_curl_error(CURLcode rc, bool too_big) {
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return COTTER_ETIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
        return COTTER_ETLS;
    case CURLE_WRITE_ERROR:
        return too_big ? COTTER_EPROTOCOL : COTTER_ENETWORK;
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_TOO_MANY_REDIRECTS:
        return COTTER_EPROTOCOL;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return COTTER_EINVAL;
    case CURLE_OUT_OF_MEMORY:
        return COTTER_ENOMEM;
    case CURLE_SEND_FAIL_REWIND:
        return COTTER_ENETWORK;  // the connection died after a non-idempotent request was sent
    default:
        return COTTER_ENETWORK;  // connect refused, reset, partial body, nothing received, HTTP/2 errors...
    }
}

bool is_retryable_status(long status) {
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

int64_t ms_until(clock_type::time_point deadline) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
}

/// Full jitter (AWS architecture blog): a uniform delay in [0, min(cap, base * 2^attempt)].
int64_t backoff_ms(int attempt, int64_t base, int64_t cap) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    int64_t ceiling = std::max<int64_t>(base, 0);
    for (int i = 0; i < attempt && ceiling < cap; ++i) ceiling *= 2;
    ceiling = std::min(ceiling, std::max<int64_t>(cap, 0));
    if (ceiling <= 0) return 0;
    return std::uniform_int_distribution<int64_t>(0, ceiling)(rng);
}

}  // namespace

const std::string *response::find_header(const std::string &name) const {
    for (const auto &h : headers)
        if (iequals(h.name, name)) return &h.value;
    return nullptr;
}

bool is_loopback_url(const std::string &url) {
    url_parts parts;
    if (!parse_url(url, parts)) return false;
    return (parts.scheme == "http" || parts.scheme == "https") && is_loopback_host(parts.host);
}

struct transport::impl {
    CURLSH *share = nullptr;
    std::array<std::mutex, CURL_LOCK_DATA_LAST> share_locks;
    std::mutex pool_mutex;
    std::vector<CURL *> idle;  // LIFO: the most recently used handle (with its warm connection) comes back first
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> connections{0};
    std::atomic<uint64_t> retries{0};

    static void lock_cb(CURL *, curl_lock_data data, curl_lock_access, void *userptr) {
        auto *self = static_cast<impl *>(userptr);
        self->share_locks[static_cast<size_t>(data) % self->share_locks.size()].lock();
    }
    static void unlock_cb(CURL *, curl_lock_data data, void *userptr) {
        auto *self = static_cast<impl *>(userptr);
        self->share_locks[static_cast<size_t>(data) % self->share_locks.size()].unlock();
    }

    CURL *acquire() {
        {
            std::lock_guard<std::mutex> lock(pool_mutex);
            if (!idle.empty()) {
                CURL *h = idle.back();
                idle.pop_back();
                return h;
            }
        }
        CURL *h = curl_easy_init();
        if (!h) throw std::bad_alloc();
        curl_easy_setopt(h, CURLOPT_SHARE, share);  // kept across curl_easy_reset()
        return h;
    }

    void release(CURL *h) noexcept {
        {
            std::lock_guard<std::mutex> lock(pool_mutex);
            if (idle.size() < k_max_idle_handles) {
                try {
                    idle.push_back(h);
                    return;
                } catch (...) {
                }
            }
        }
        curl_easy_cleanup(h);
    }

    ~impl() {
        for (CURL *h : idle) curl_easy_cleanup(h);
        if (share) curl_share_cleanup(share);
    }
};

transport::transport(transport_options options) : options_(std::move(options)), impl_(std::make_unique<impl>()) {
    if (int rc = global_ensure(); rc != COTTER_OK) fail(rc, "libcurl global initialisation failed");
    if (options_.user_agent.empty()) {
        const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
        options_.user_agent = std::string("cotter/") + cotter_version_string() + " libcurl/" + (v ? v->version : "?");
    }
    if (options_.connect_timeout_ms <= 0 || options_.timeout_ms <= 0) fail(COTTER_EINVAL, "timeouts must be positive");
    if (options_.max_response_bytes == 0) fail(COTTER_EINVAL, "max_response_bytes must be positive");
    if (options_.max_retries < 0 || options_.retry_base_ms < 0 || options_.retry_max_ms < 0)
        fail(COTTER_EINVAL, "retry settings must not be negative");
    impl_->share = curl_share_init();
    if (!impl_->share) throw std::bad_alloc();
    curl_share_setopt(impl_->share, CURLSHOPT_LOCKFUNC, &impl::lock_cb);
    curl_share_setopt(impl_->share, CURLSHOPT_UNLOCKFUNC, &impl::unlock_cb);
    curl_share_setopt(impl_->share, CURLSHOPT_USERDATA, impl_.get());
    curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

transport::~transport() = default;

transport_stats transport::stats() const {
    transport_stats s;
    s.requests = impl_->requests.load();
    s.connections = impl_->connections.load();
    s.retries = impl_->retries.load();
    return s;
}

namespace {

void log_line(const log_fn &log, int level, const std::string &message) noexcept {
    if (!log) return;
    try {
        log(level, message);
    } catch (...) {
        // A log sink must not break a request.
    }
}

/// Retry-After in seconds (delta-seconds or HTTP-date, parsed by libcurl), -1 when absent; capped at a day.
int64_t retry_after_seconds(CURL *h) {
    curl_off_t seconds = -1;
    if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &seconds) != CURLE_OK || seconds < 0) return -1;
    return static_cast<int64_t>(std::min<curl_off_t>(seconds, 24 * 3600));
}

/// One attempt on one easy handle. Returns COTTER_OK when a complete response arrived.
int attempt(CURL *h, const transport_options &opt, const request &req, const url_parts &url, int64_t budget_ms,
            response &resp, error_info *err, uint64_t &new_connections) {
    curl_easy_reset(h);
    // Reset field by field: the body keeps its capacity (callers may lend a reusable buffer).
    resp.status = 0;
    resp.body.clear();
    resp.headers.clear();
    resp.effective_url.clear();
    resp.retry_after = -1;
    transfer_state st;
    st.resp = &resp;
    st.max_bytes = opt.max_response_bytes;
    char errbuf[CURL_ERROR_SIZE] = {0};
    upload_state upload{&req.body, 0};

    slist_guard headers;
    bool has_content_type = false;
    for (const auto &hd : req.headers) {
        if (hd.name.find_first_of(":\r\n") != std::string::npos || hd.value.find_first_of("\r\n") != std::string::npos)
            return set_error(err, COTTER_EINVAL, "invalid request header");
        if (iequals(hd.name, "content-type")) has_content_type = true;
        headers.append(hd.name + ": " + hd.value);
    }
    if (!req.body.empty() && !has_content_type) headers.append("Content-Type: application/json");
    headers.append("Expect:");  // no 100-continue round trip for larger bodies
    headers.append("Accept: application/json");

    curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!opt.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opt.ca_file.c_str());
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(opt.connect_timeout_ms, budget_ms)));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(budget_ms));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, opt.user_agent.c_str());
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // decoded bytes still go through the size cap
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(opt.max_response_bytes));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.list);

    if (req.method == "GET") {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (req.method == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (req.method == "POST" || req.method == "PUT" || req.method == "DELETE" || req.method == "PATCH") {
        if (req.method == "POST" || !req.body.empty()) {
            // The body goes through a read callback rather than CURLOPT_POSTFIELDS so that libcurl cannot
            // silently re-send it: libcurl retries a request on a fresh connection when a reused one dies
            // before any response byte, which for a refresh that did reach the server would replay a rotated
            // token. Without a seek callback that replay needs a rewind and fails (CURLE_SEND_FAIL_REWIND);
            // idempotent requests get the seek callback and keep libcurl's transparent retry.
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
            curl_easy_setopt(h, CURLOPT_READFUNCTION, &on_read_body);
            curl_easy_setopt(h, CURLOPT_READDATA, &upload);
            if (req.idempotent) {
                curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, &on_seek_body);
                curl_easy_setopt(h, CURLOPT_SEEKDATA, &upload);
            }
        }
        if (req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    } else {
        return set_error(err, COTTER_EINVAL, "unsupported HTTP method");
    }

    const CURLcode rc = curl_easy_perform(h);
    long connects = 0;
    if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
        new_connections += static_cast<uint64_t>(connects);
    // Drop the references to our stack objects: the handle goes back to the pool.
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);

    if (rc != CURLE_OK) {
        const int code = map_curl_error(rc, st.too_big);
        std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        if (rc == CURLE_FILESIZE_EXCEEDED || st.too_big)
            detail = "response body exceeds " + std::to_string(opt.max_response_bytes) + " bytes";
        if (rc == CURLE_SEND_FAIL_REWIND)
            detail = "the connection was lost after the request was sent (not re-sent: it is not idempotent)";
        if (err) {
            err->code = code;
            err->message = std::string(cotter_status_describe(code)) + ": " + detail + " (" + req.method + " " +
                           url.without_query + ")";
            err->http_status = 0;
            long status = 0;
            if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status > 0)
                err->http_status = static_cast<int>(status);
        }
        return code;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
    resp.retry_after = retry_after_seconds(h);
    char *effective = nullptr;
    if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &effective) == CURLE_OK && effective) resp.effective_url = effective;
    // simdjson parses in place when the buffer has SIMDJSON_PADDING spare bytes.
    resp.body.reserve(resp.body.size() + simdjson::SIMDJSON_PADDING);
    return COTTER_OK;
}

}  // namespace

int transport::perform(const request &req, response &resp, error_info *err) {
    url_parts url;
    if (!parse_url(req.url, url)) return set_error(err, COTTER_EINVAL, "malformed URL");
    if (url.scheme != "https") {
        const bool plain_ok = url.scheme == "http" &&
                              (options_.allow_plain_http ||
                               (options_.allow_plain_http_to_loopback && is_loopback_host(url.host)));
        if (!plain_ok)
            return set_error(err, COTTER_EINVAL,
                             "URL scheme '" + url.scheme + "' not allowed (https, or http to a loopback host)");
    }

    const int64_t total_ms = req.timeout_ms > 0 ? req.timeout_ms : options_.timeout_ms;
    const auto deadline = clock_type::now() + std::chrono::milliseconds(total_ms);
    const int max_attempts = req.idempotent ? 1 + options_.max_retries : 1;

    CURL *h = impl_->acquire();
    struct release_guard {
        impl *pool;
        CURL *h;
        ~release_guard() { pool->release(h); }
    } guard{impl_.get(), h};

    for (int attempt_no = 0;; ++attempt_no) {
        const int64_t budget = std::max<int64_t>(ms_until(deadline), 1);  // the backoff below leaves time
        error_info attempt_err;
        uint64_t new_connections = 0;
        const auto started = clock_type::now();
        impl_->requests.fetch_add(1, std::memory_order_relaxed);
        const int rc = attempt(h, options_, req, url, budget, resp, &attempt_err, new_connections);
        impl_->connections.fetch_add(new_connections, std::memory_order_relaxed);
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started).count();
        if (options_.log) {
            log_line(options_.log, COTTER_LOG_DEBUG,
                     req.method + " " + url.without_query + " -> " +
                         (rc == COTTER_OK ? std::to_string(resp.status) : std::string(cotter_status_name(rc))) +
                         " (" + std::to_string(elapsed) + " ms)");
        }

        // Only idempotent requests are retried: a grant or a refresh that reached the server may have been
        // executed (a refresh rotates the token), so repeating it could lose the session.
        const bool retryable = (rc == COTTER_ENETWORK) || (rc == COTTER_OK && is_retryable_status(resp.status));
        if (!retryable || attempt_no + 1 >= max_attempts) {
            if (rc != COTTER_OK && err) *err = std::move(attempt_err);
            return rc;
        }
        int64_t delay = backoff_ms(attempt_no, options_.retry_base_ms, options_.retry_max_ms);
        if (rc == COTTER_OK && resp.retry_after >= 0) delay = std::max(delay, resp.retry_after * 1000);  // the server knows best when it is busy
        if (delay >= ms_until(deadline)) {
            // Waiting would overrun the total timeout: report this attempt's outcome now.
            if (rc != COTTER_OK && err) *err = std::move(attempt_err);
            return rc;
        }
        log_line(options_.log, COTTER_LOG_INFO,
                 "retrying " + req.method + " " + url.without_query + " in " + std::to_string(delay) + " ms (" +
                     (rc == COTTER_OK ? "HTTP " + std::to_string(resp.status) : attempt_err.message) + ")");
        impl_->retries.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    }
}

}  // namespace cotter::core::http

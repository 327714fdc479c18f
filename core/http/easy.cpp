/**
 * @file easy.cpp
 * @brief One libcurl easy handle, one attempt: URL policy (http/https only, plain http only to loopback), strict
 * options (no redirects, TLS verification on), the response size cap, header and body callbacks, and the mapping of
 * libcurl's result to a cotter status. transport.cpp drives these attempts on its event loop.
 */
#include "http/easy.hpp"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "common/status.hpp"

namespace cotter::core::http {
namespace {

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

using detail::attempt_state;

size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
    auto *st = static_cast<attempt_state *>(userdata);
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
    auto *st = static_cast<attempt_state *>(userdata);
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

/// CURLOPT_PREREQFUNCTION: runs each time the request is about to be sent on a connection. libcurl sends a request
/// again, on a fresh connection, when a reused one died before any response byte arrived (multi.c's "Connection
/// died, retrying a fresh connect"): for a refresh that reached the server that would replay a rotated token. A
/// second call is that replay: refused once any byte of the request has left (CURLINFO_REQUEST_SIZE counts what
/// was written; a request that could not be written at all never reached the server and may go again).
int on_before_send(void *clientp, char *, char *, int, int) {
    auto *st = static_cast<attempt_state *>(clientp);
    if (st->sends++ == 0) return CURL_PREREQFUNC_OK;
    long sent = -1;
    if (curl_easy_getinfo(st->handle, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent == 0) return CURL_PREREQFUNC_OK;
    st->replay_refused = true;
    return CURL_PREREQFUNC_ABORT;
}

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
    case CURLE_ABORTED_BY_CALLBACK:  // on_before_send() refused to re-send a request that is not idempotent
        return COTTER_ENETWORK;  // the connection died after a non-idempotent request was sent
    default:
        return COTTER_ENETWORK;  // connect refused, reset, partial body, nothing received, HTTP/2 errors...
    }
}

/// Retry-After in seconds (delta-seconds or HTTP-date, parsed by libcurl), -1 when absent; capped at a day.
int64_t retry_after_seconds(CURL *h) {
    curl_off_t seconds = -1;
    if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &seconds) != CURLE_OK || seconds < 0) return -1;
    return static_cast<int64_t>(std::min<curl_off_t>(seconds, 24 * 3600));
}

}  // namespace

const std::string *response::find_header(const std::string &name) const {
    for (const auto &h : headers)
        if (iequals(h.name, name)) return &h.value;
    return nullptr;
}

bool is_loopback_url(const std::string &url) {
    detail::url_parts parts;
    if (!detail::parse_url(url, parts)) return false;
    return (parts.scheme == "http" || parts.scheme == "https") && detail::is_loopback_host(parts.host);
}

namespace detail {

bool parse_url(const std::string &url, url_parts &out) {
    CURLU *u = curl_url();
    if (!u) return false;
    bool ok = false;
    // Only http and https can pass the policy; CURLU_NON_SUPPORT_SCHEME lets us name the bad scheme.
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

url_parts checked_url(const std::string &url, const transport_options &opt) {
    url_parts parts;
    if (!parse_url(url, parts)) fail(COTTER_EINVAL, "malformed URL");
    if (parts.scheme != "https") {
        const bool plain_ok = parts.scheme == "http" &&
                              (opt.allow_plain_http || (opt.allow_plain_http_to_loopback && is_loopback_host(parts.host)));
        if (!plain_ok)
            fail(COTTER_EINVAL, "URL scheme '" + parts.scheme + "' not allowed (https, or http to a loopback host)");
    }
    return parts;
}

void free_headers(curl_slist *list) noexcept {
    for (curl_slist *p = list; p; p = p->next)
        if (p->data) OPENSSL_cleanse(p->data, std::strlen(p->data));
    curl_slist_free_all(list);
}

curl_slist *build_headers(const request &req) {
    struct guard {
        curl_slist *list = nullptr;
        ~guard() { free_headers(list); }
        void append(const std::string &line) {
            curl_slist *next = curl_slist_append(list, line.c_str());
            if (!next) throw std::bad_alloc();
            list = next;
        }
    } headers;
    bool has_content_type = false;
    for (const auto &hd : req.headers) {
        if (hd.name.find_first_of(":\r\n") != std::string::npos || hd.value.find_first_of("\r\n") != std::string::npos)
            fail(COTTER_EINVAL, "invalid request header");
        if (iequals(hd.name, "content-type")) has_content_type = true;
        std::string line = hd.name + ": " + hd.value;
        headers.append(line);
        OPENSSL_cleanse(line.data(), line.size());
    }
    if (!req.body.empty() && !has_content_type) headers.append("Content-Type: application/json");
    headers.append("Expect:");  // no 100-continue round trip for larger bodies
    headers.append("Accept: application/json");
    curl_slist *out = headers.list;
    headers.list = nullptr;
    return out;
}

void configure(CURL *h, const transport_options &opt, const request &req, curl_slist *headers, int64_t budget_ms,
               attempt_state &st) {
    // Reset field by field: the body keeps its capacity.
    response &resp = *st.resp;
    resp.status = 0;
    resp.body.clear();
    resp.headers.clear();
    resp.effective_url.clear();
    resp.retry_after = -1;
    st.too_big = false;
    st.handle = h;
    st.sends = 0;
    st.replay_refused = false;
    st.errbuf[0] = '\0';

    curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    // Over TLS, wait for a connection that is being set up to learn whether it multiplexes (HTTP/2) instead of
    // opening one connection per concurrent request. Plain HTTP/1.1 never multiplexes, so it would only wait.
    if (req.url.compare(0, 8, "https://") == 0) curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
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
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, st.errbuf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

    if (req.method == "GET") {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (req.method == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (req.method == "POST" || req.method == "PUT" || req.method == "DELETE" || req.method == "PATCH") {
        if (req.method == "POST" || !req.body.empty()) {
            // CURLOPT_POSTFIELDS (not copied: the transfer owns req.body until the handle is retired) lets libcurl
            // write the head and a small body in one send(), and spares each handle the 64 KB upload buffer a read
            // callback needs. A body makes a request one that libcurl would re-send by itself after a reused
            // connection died; unless the request is idempotent, on_before_send() refuses that second send.
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.c_str());
            if (!req.idempotent) {
                curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, &on_before_send);
                curl_easy_setopt(h, CURLOPT_PREREQDATA, &st);
            }
        }
        if (req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    } else {
        fail(COTTER_EINVAL, "unsupported HTTP method");
    }
}

int conclude(CURL *h, CURLcode rc, const transport_options &opt, const request &req, const url_parts &url,
             attempt_state &st, error_info &err) {
    response &resp = *st.resp;
    if (rc != CURLE_OK) {
        const int code = map_curl_error(rc, st.too_big);
        std::string detail = st.errbuf[0] ? st.errbuf : curl_easy_strerror(rc);
        if (rc == CURLE_FILESIZE_EXCEEDED || st.too_big)
            detail = "response body exceeds " + std::to_string(opt.max_response_bytes) + " bytes";
        if (rc == CURLE_SEND_FAIL_REWIND || (rc == CURLE_ABORTED_BY_CALLBACK && st.replay_refused))
            detail = "the connection was lost after the request was sent (not re-sent: it is not idempotent)";
        err.code = code;
        err.message = std::string(status_describe(code)) + ": " + detail + " (" + req.method + " " +
                      url.without_query + ")";
        err.http_status = 0;
        long status = 0;
        if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status > 0)
            err.http_status = static_cast<int>(status);
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

void detach(CURL *h) noexcept {
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, nullptr);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, nullptr);
    curl_easy_setopt(h, CURLOPT_PREREQDATA, nullptr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);
    curl_easy_setopt(h, CURLOPT_PRIVATE, nullptr);
}

bool is_retryable_status(long status) {
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

int64_t backoff_ms(int attempt, int64_t base, int64_t cap) {
    thread_local std::minstd_rand rng{std::random_device{}()};
    int64_t ceiling = std::max<int64_t>(base, 0);
    for (int i = 0; i < attempt && ceiling < cap; ++i) ceiling *= 2;
    ceiling = std::min(ceiling, std::max<int64_t>(cap, 0));
    if (ceiling <= 0) return 0;
    return std::uniform_int_distribution<int64_t>(0, ceiling)(rng);
}

}  // namespace detail
}  // namespace cotter::core::http

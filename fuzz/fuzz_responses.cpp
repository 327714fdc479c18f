/**
 * @file fuzz_responses.cpp
 * @brief Every response parser of the client, through the real client (C ABI -> core -> libcurl): a loopback
 * HTTP server inside this process answers each request with the fuzz input (status, optional Retry-After,
 * body). Covers token responses (grants, refresh), get_identity, custom claims, user, user list, social tokens,
 * the worker verify and every error body. Invariants: documented codes only, an out-object exactly when OK,
 * every getter readable, every record handed over as JSON in its checked shape, and no secret (API secret, refresh token, code, verifier) in any error text even when
 * the server echoes it.
 */
#include <arpa/inet.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include <simdjson.h>

#include "cotter.h"
#include "fuzz_support.hpp"

namespace {

constexpr const char *k_secret = "fuzz-secret-0123456789";
constexpr const char *k_refresh = "rt-secret-abcdef";
constexpr const char *k_code = "code-secret-4242";
constexpr const char *k_verifier = "verifier-secret-abcdefghijklmnopqrstuvwxyz0123456";

std::mutex g_mutex;
std::string g_response;  // the whole HTTP response the server sends next

/// One connection at a time, keep-alive: read a request (headers + Content-Length body), send g_response.
void serve(int listener) {
    for (;;) {
        const int fd = accept(listener, nullptr, nullptr);
        if (fd < 0) continue;
        std::string buf;
        char chunk[8192];
        for (;;) {
            size_t head_end;
            while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
                const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
                if (n <= 0) goto closed;
                buf.append(chunk, static_cast<size_t>(n));
            }
            size_t body_len = 0;
            for (const char *name : {"Content-Length:", "content-length:"}) {
                const size_t at = buf.find(name);
                if (at != std::string::npos && at < head_end) body_len = std::strtoul(buf.c_str() + at + 15, nullptr, 10);
            }
            while (buf.size() < head_end + 4 + body_len) {
                const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
                if (n <= 0) goto closed;
                buf.append(chunk, static_cast<size_t>(n));
            }
            buf.erase(0, head_end + 4 + body_len);
            std::string resp;
            {
                std::lock_guard<std::mutex> lock(g_mutex);
                resp = g_response;
            }
            for (size_t off = 0; off < resp.size();) {
                const ssize_t n = send(fd, resp.data() + off, resp.size() - off, MSG_NOSIGNAL);
                if (n <= 0) goto closed;
                off += static_cast<size_t>(n);
            }
        }
    closed:
        close(fd);
    }
}

cotter_client *g_client;

void start() {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(bind(listener, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0 && listen(listener, 16) == 0);
    socklen_t len = sizeof addr;
    getsockname(listener, reinterpret_cast<sockaddr *>(&addr), &len);
    std::thread(serve, listener).detach();

    const std::string base = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    const std::string api = base + "/api/v0", worker = base + "/verify";
    cotter_client_options o;
    FUZZ_CHECK(cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) == COTTER_OK);
    o.api_key_id = "7a1b2c3d-0000-4000-8000-00000000a11d";
    o.api_secret_key = k_secret;
    o.base_url = api.c_str();
    o.worker_url = worker.c_str();
    o.max_retries = 0;  // a 5xx or 429 would otherwise sleep between attempts
    o.timeout_ms = 5000;
    FUZZ_CHECK(cotter_client_new(&g_client, &o, nullptr) == COTTER_OK);
}

bool documented(int rc) {
    return rc == COTTER_OK || rc == COTTER_EOAUTH || rc == COTTER_EHTTP || rc == COTTER_EPROTOCOL ||
           rc == COTTER_EREAUTH || rc == COTTER_ECREDENTIALS || rc == COTTER_ENOTFOUND || rc == COTTER_ENOMEM;
}

/// The API secret goes with every call; the refresh token, code and verifier only with some. A server echoing
/// a secret the call did send must never get it into an error text (a server echoing one it never got is no leak).
void no_secret(const char *text, int call) {
    if (!text) return;
    FUZZ_CHECK(std::strstr(text, k_secret) == nullptr);
    if (call == 2 || call == 3 || call == 4) FUZZ_CHECK(std::strstr(text, k_refresh) == nullptr);
    if (call == 5) FUZZ_CHECK(std::strstr(text, k_code) == nullptr && std::strstr(text, k_verifier) == nullptr);
}

void read_str(const char *s) {
    if (s) (void)std::strlen(s);
}

void read_token(const cotter_token *t) {
    if (!t) return;
    read_str(cotter_token_access_token(t));
    read_str(cotter_token_id_token(t));
    read_str(cotter_token_refresh_token(t));
    read_str(cotter_token_token_type(t));
    read_str(cotter_token_auth_method(t));
    (void)cotter_token_expires_in(t);
    (void)cotter_token_access_token_expires_at(t);
    cotter_buf json = COTTER_BUF_INIT;
    FUZZ_CHECK(cotter_token_to_json(&json, t, nullptr) == COTTER_OK);
    cotter_buf_dispose(&json);
}

/// A record handed over as JSON (capi/abi.json `records`) is the checked shape: it parses, its required members
/// are there with their types, and an oauth_token in it is one the library reads back.
simdjson::dom::element record(simdjson::dom::parser &parser, const cotter_buf &b) {
    FUZZ_CHECK(b.ptr && std::strlen(b.ptr) == b.len);
    simdjson::dom::element doc;
    FUZZ_CHECK(parser.parse(b.ptr, b.len).get(doc) == simdjson::SUCCESS);
    return doc;
}

void check_user(simdjson::dom::element u) {
    std::string_view id;
    FUZZ_CHECK(u.is_object() && u["ID"].get_string().get(id) == simdjson::SUCCESS && !id.empty());
    simdjson::dom::array enrolled;
    if (u["enrolled"].get_array().get(enrolled) == simdjson::SUCCESS)
        for (auto m : enrolled) FUZZ_CHECK(m.is_string() || m.is_null());
}

void check_social(simdjson::dom::element t) {
    std::string_view provider;
    FUZZ_CHECK(t.is_object() && t["identity_provider"].get_string().get(provider) == simdjson::SUCCESS);
    simdjson::dom::element tokens;
    if (t["tokens"].get(tokens) == simdjson::SUCCESS) FUZZ_CHECK(tokens.is_object() || tokens.is_null());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_client) start();
    FuzzedDataProvider in(data, size);
    static const int statuses[] = {200, 201, 204, 400, 401, 403, 404, 409, 429, 500, 503};
    const int call = in.ConsumeIntegralInRange<int>(0, 12);
    const int status = statuses[in.ConsumeIntegralInRange<size_t>(0, sizeof statuses / sizeof *statuses - 1)];
    std::string retry_after = in.ConsumeBool() ? in.ConsumeRandomLengthString(12) : "";
    for (char &c : retry_after)
        if (c == '\r' || c == '\n' || c == '\0') c = ' ';
    const std::string body = in.ConsumeRemainingBytesAsString();
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        g_response = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n";
        if (!retry_after.empty()) g_response += "Retry-After: " + retry_after + "\r\n";
        if (status == 204) g_response += "\r\n";  // no body allowed
        else g_response += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }

    cotter_error *err = nullptr;
    int rc = COTTER_OK;
    switch (call) {
    case 0: case 1: case 2: {
        cotter_token *t = nullptr;
        rc = call == 0   ? cotter_client_grant_identity_token(&t, g_client, "{\"identifier\":\"a\"}", &err)
             : call == 1 ? cotter_client_grant_event_token(&t, g_client, "{\"event\":\"LOGIN\"}", &err)
                         : cotter_client_refresh(&t, g_client, k_refresh, &err);
        FUZZ_CHECK((rc == COTTER_OK) == (t != nullptr));
        read_token(t);
        cotter_token_free(t);
        break;
    }
    case 3: rc = cotter_client_logout(g_client, k_refresh, &err); break;
    case 4: {
        cotter_buf tok = COTTER_BUF_INIT, rt = COTTER_BUF_INIT;
        rc = cotter_client_custom_claims(&tok, &rt, g_client, "a.b.c", "{\"role\":\"admin\"}", k_refresh, &err);
        FUZZ_CHECK((rc == COTTER_OK) == (tok.ptr != nullptr));
        cotter_buf_dispose(&tok);
        cotter_buf_dispose(&rt);
        break;
    }
    case 5: {
        cotter_buf id = COTTER_BUF_INIT;
        rc = cotter_client_get_identity(&id, g_client, k_code, 42, k_verifier, "http://localhost:8080", &err);
        FUZZ_CHECK((rc == COTTER_OK) == (id.ptr != nullptr));
        if (id.ptr) {
            simdjson::dom::parser parser;
            simdjson::dom::element doc = record(parser, id);
            FUZZ_CHECK(doc.is_object());
            simdjson::dom::element oauth;
            if (doc["oauth_token"].get(oauth) == simdjson::SUCCESS && !oauth.is_null()) {
                const std::string text = simdjson::minify(oauth);
                cotter_token *t = nullptr;
                FUZZ_CHECK(cotter_token_from_json(&t, text.data(), text.size(), nullptr) == COTTER_OK);
                read_token(t);
                cotter_token_free(t);
            }
            for (const char *key : {"identifier", "user", "token"}) {
                simdjson::dom::element v;
                if (doc[key].get(v) == simdjson::SUCCESS) FUZZ_CHECK(v.is_object() || v.is_null());
            }
        }
        cotter_buf_dispose(&id);
        break;
    }
    case 6: case 7: case 8: {
        cotter_buf u = COTTER_BUF_INIT;
        rc = call == 6   ? cotter_client_user_create(&u, g_client, "a@example.com", &err)
             : call == 7 ? cotter_client_user_get_by_identifier(&u, g_client, "a@example.com", &err)
                         : cotter_client_user_get(&u, g_client, "0b1c2d3e-0000-4000-8000-000000000001", &err);
        FUZZ_CHECK((rc == COTTER_OK) == (u.ptr != nullptr));
        if (u.ptr) {
            simdjson::dom::parser parser;
            check_user(record(parser, u));
        }
        cotter_buf_dispose(&u);
        break;
    }
    case 9: {
        cotter_buf l = COTTER_BUF_INIT;
        rc = cotter_client_user_list(&l, g_client, 1, &err);
        FUZZ_CHECK((rc == COTTER_OK) == (l.ptr != nullptr));
        if (l.ptr) {
            simdjson::dom::parser parser;
            simdjson::dom::element page = record(parser, l);
            simdjson::dom::array users;
            FUZZ_CHECK(page["users"].get_array().get(users) == simdjson::SUCCESS);
            for (auto u : users) check_user(u);
            FUZZ_CHECK(page["total"].is_null() || page["total"].is_int64());
            FUZZ_CHECK(page["has_more"].is_null() || page["has_more"].is_bool());
        }
        cotter_buf_dispose(&l);
        break;
    }
    case 10: {
        cotter_buf l = COTTER_BUF_INIT;
        rc = cotter_client_social_tokens_list(&l, g_client, "0b1c2d3e-0000-4000-8000-000000000001", &err);
        FUZZ_CHECK((rc == COTTER_OK) == (l.ptr != nullptr));
        if (l.ptr) {
            simdjson::dom::parser parser;
            simdjson::dom::array rows;
            FUZZ_CHECK(record(parser, l).get_array().get(rows) == simdjson::SUCCESS);
            for (auto row : rows) check_social(row);
        }
        cotter_buf_dispose(&l);
        break;
    }
    case 11: {
        cotter_buf t = COTTER_BUF_INIT;
        rc = cotter_client_social_token_get(&t, g_client, "GITHUB", "0b1c2d3e-0000-4000-8000-000000000001", &err);
        FUZZ_CHECK((rc == COTTER_OK) == (t.ptr != nullptr));
        if (t.ptr) {
            simdjson::dom::parser parser;
            check_social(record(parser, t));
        }
        cotter_buf_dispose(&t);
        break;
    }
    default: {
        int valid = -1;
        cotter_buf reason = COTTER_BUF_INIT;
        rc = cotter_client_verify_remote(&valid, &reason, g_client, "a.b.c", &err);
        if (rc == COTTER_OK) FUZZ_CHECK(valid == 0 || valid == 1);
        cotter_buf_dispose(&reason);
        break;
    }
    }
    if (!documented(rc)) std::fprintf(stderr, "call %d status %d -> %s\n", call, status, cotter_status_name(rc));
    FUZZ_CHECK(documented(rc));
    FUZZ_CHECK((rc == COTTER_OK) == (err == nullptr));
    if (err) {
        FUZZ_CHECK(cotter_error_code(err) == rc);
        no_secret(cotter_error_message(err), call);
        no_secret(cotter_error_oauth_error(err), call);
        no_secret(cotter_error_oauth_error_description(err), call);
        if (rc == COTTER_EOAUTH || rc == COTTER_EHTTP || rc == COTTER_ECREDENTIALS)
            FUZZ_CHECK(cotter_error_http_status(err) == status);
    }
    cotter_error_free(err);
    return 0;
}

/**
 * @file client.cpp
 * @brief Cotter API calls and the one response-to-error mapping (see docs/client.md, "Errors").
 */
#include "token/client.hpp"

#include <cstdlib>

#include "json/writer.hpp"
#include "token/parse.hpp"
#include "token/url.hpp"

namespace cotter::core::token {
namespace {

constexpr const char *k_default_worker_url = "https://worker.cotter.app/verify";
constexpr const char *k_nil_user_id = "00000000-0000-0000-0000-000000000000";
constexpr size_t k_max_error_text = 1024;   // server `msg` kept in an error
constexpr size_t k_max_enrolled = 64;
constexpr size_t k_max_list_items = 100000;

std::string env_or(const char *name, const char *fallback) {
    const char *v = std::getenv(name);
    return v && *v ? std::string(v) : std::string(fallback);
}

/// Wipes a string that held tokens when the scope ends (request and response bodies).
struct wipe_on_exit {
    std::string &s;
    ~wipe_on_exit() { wipe(s); }
};

/// A response whose body buffer is this thread's spare: a large body (a 1,000-entry list is ~400 KB) would
/// otherwise be a fresh mmap, page faults and munmap on every call. The body is wiped (it may hold tokens)
/// before the buffer goes back.
struct pooled_response : http::response {
    static constexpr size_t k_keep_bytes = 4u << 20;
    static std::string &spare() {
        thread_local std::string s;
        return s;
    }
    pooled_response() { body.swap(spare()); }
    ~pooled_response() {
        wipe(body);
        if (body.capacity() <= k_keep_bytes) body.swap(spare());
    }
    pooled_response(const pooled_response &) = delete;
    pooled_response &operator=(const pooled_response &) = delete;
};

/// Removes every occurrence of the secrets we sent from server text before it reaches an error message.
void redact(std::string &text, const std::vector<const std::string *> &secrets) {
    for (const std::string *s : secrets) {
        if (!s || s->size() < 4) continue;
        for (size_t pos; (pos = text.find(*s)) != std::string::npos;) text.replace(pos, s->size(), "[redacted]");
    }
}

std::string cap_text(std::string s) {
    if (s.size() > k_max_error_text) {
        s.resize(k_max_error_text);
        // Do not leave half a UTF-8 sequence at the end.
        while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
        if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80)) s.pop_back();
        s += "...";
    }
    for (char &c : s)
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    return s;
}

std::string strip_trailing_slash(std::string s) {
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

void check_url(const std::string &url, const char *what) {
    const bool https = url.rfind("https://", 0) == 0;
    const bool http = url.rfind("http://", 0) == 0;
    if (!https && !(http && http::is_loopback_url(url)))
        fail(COTTER_EINVAL, std::string(what) + " must be https (or http to a loopback host)");
}

}  // namespace

struct client::call_spec {
    const char *method = "GET";
    std::string url;
    std::string body;               // wiped after the call
    bool with_secret = false;       // sends API_SECRET_KEY (required for this call)
    bool idempotent = false;        // retried automatically on network errors, 429 and 5xx
    bool refresh = false;           // a rejected refresh token (invalid_grant, "not valid") is COTTER_EREAUTH
    bool not_found_on_404 = false;  // 404 means COTTER_ENOTFOUND
    const char *what = "";          // e.g. "POST /token/:api_key_id", for messages
    std::vector<const std::string *> secrets;  // redacted from any server text
};

client::client(client_options o)
    : api_key_id_(std::move(o.api_key_id)),
      api_secret_key_(std::move(o.api_secret_key)),
      base_url_(strip_trailing_slash(o.base_url.empty() ? env_or("COTTER_BASE_URL", COTTER_DEFAULT_BASE_URL)
                                                        : std::move(o.base_url))),
      worker_url_(o.worker_url.empty() ? env_or("COTTER_WORKER_URL", k_default_worker_url) : std::move(o.worker_url)),
      transport_(std::move(o.http)) {
    if (api_key_id_.empty()) fail(COTTER_EINVAL, "api_key_id is required");
    if (api_key_id_.size() > 256 || api_key_id_.find_first_of("\r\n/?#") != std::string::npos)
        fail(COTTER_EINVAL, "api_key_id is malformed");
    if (api_secret_key_.size() > 4096 || api_secret_key_.str().find_first_of("\r\n") != std::string::npos)
        fail(COTTER_EINVAL, "api_secret_key is malformed");
    check_url(base_url_, "base_url");
    check_url(worker_url_, "worker_url");
}

void client::call(const call_spec &spec, http::response &resp) {
    if (spec.with_secret && api_secret_key_.empty())
        fail(COTTER_EINVAL, std::string(spec.what) + " needs the API secret key (api_secret_key)");
    http::request req;
    req.method = spec.method;
    req.url = spec.url;
    req.idempotent = spec.idempotent;
    req.headers.push_back({"API_KEY_ID", api_key_id_});
    if (spec.with_secret) req.headers.push_back({"API_SECRET_KEY", api_secret_key_.str()});
    req.body = spec.body;
    wipe_on_exit wipe_body{req.body};
    struct wipe_headers {
        std::vector<http::header> &h;
        ~wipe_headers() {
            for (auto &x : h) wipe(x.value);
        }
    } wipe_hdrs{req.headers};

    error_info err;
    const int rc = transport_.perform(req, resp, &err);
    if (rc != COTTER_OK) {
        wipe(resp.body);
        err.code = rc;
        throw error(std::move(err));
    }
    if (resp.status >= 200 && resp.status <= 299) return;

    // A non-2xx answer: read Cotter's {"msg","type"} or RFC 6749's {"error","error_description"} if present.
    error_info info;
    info.http_status = static_cast<int>(resp.status);
    info.retry_after = resp.retry_after;
    std::string msg, type, oerr, odesc;
    try {
        simdjson::dom::element doc = parse_document(resp.body, "error body");
        simdjson::dom::object obj;
        if (doc.get_object().get(obj) == simdjson::SUCCESS) {
            for (auto field : obj) {
                std::string_view sv;
                if (field.value.get_string().get(sv) != simdjson::SUCCESS) continue;
                if (field.key == "msg") msg = sv;
                else if (field.key == "type") type = sv;
                else if (field.key == "error") oerr = sv;
                else if (field.key == "error_description") odesc = sv;
            }
        }
    } catch (const error &) {
        // Not a JSON error body: an HTTP-level failure.
    }
    wipe(resp.body);
    std::vector<const std::string *> secrets = spec.secrets;
    secrets.push_back(&api_secret_key_.str());
    const bool has_error_body = !msg.empty() || !oerr.empty();
    info.oauth_error = cap_text(!oerr.empty() ? oerr : type);
    info.oauth_error_description = cap_text(!msg.empty() ? msg : odesc);
    redact(info.oauth_error, secrets);
    redact(info.oauth_error_description, secrets);

    // Whose fault a 4xx is, by status and the structured answer, in this order (docs/client.md, "Errors"):
    //  1. our API key id or secret was refused: 401 (how Cotter and the emulator answer a wrong API_KEY_ID or
    //     API_SECRET_KEY), a 403 whose text names one of those headers, or RFC 6749 `invalid_client`. A
    //     configuration error: never "log in again", even on a refresh ("API_KEY_ID is not valid" says "not valid");
    //  2. on a refresh, RFC 6749 `invalid_grant` or Cotter's "not valid" (spec §2.3, §7.6): the refresh token is dead;
    //  3. any other 4xx with an error body is the API's answer to this request.
    const auto names_credential = [&](const std::string &text) {
        return text.find("API_KEY_ID") != std::string::npos || text.find("API_SECRET_KEY") != std::string::npos;
    };
    const bool client_error = resp.status >= 400 && resp.status <= 499 && resp.status != 429;
    if (spec.not_found_on_404 && resp.status == 404) {
        info.code = COTTER_ENOTFOUND;
    } else if (resp.status == 401 || (client_error && oerr == "invalid_client") ||
               (resp.status == 403 && names_credential(info.oauth_error_description))) {
        info.code = COTTER_ECREDENTIALS;
    } else if (client_error && has_error_body) {
        info.code = COTTER_EOAUTH;
        if (spec.refresh && (oerr == "invalid_grant" || info.oauth_error_description.find("not valid") != std::string::npos))
            info.code = COTTER_EREAUTH;
    } else {
        info.code = COTTER_EHTTP;
    }
    info.message = std::string(spec.what) + ": HTTP " + std::to_string(resp.status);
    if (info.code == COTTER_EREAUTH) info.message += ": the refresh token was rejected; log in again";
    if (info.code == COTTER_ECREDENTIALS) info.message += ": the API key id or secret was rejected; check the configuration";
    if (!info.oauth_error_description.empty()) info.message += ": " + info.oauth_error_description;
    throw error(std::move(info));
}

token_set client::grant(const char *grant_type, const std::string &token_json) {
    const std::string field = grant_type;
    if (field != "identity_token" && field != "event_token") fail(COTTER_EINVAL, "unknown grant type");
    json::writer w;
    w.begin_object().key("grant_type").value(field).key(field).raw(token_json, true).end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = base_url_ + "/token";
    spec.body = w.take();
    spec.with_secret = true;
    spec.what = field == "identity_token" ? "POST /token (identity_token grant)" : "POST /token (event_token grant)";
    pooled_response resp;
    call(spec, resp);
    return token_set::from_json(resp.body, "token response");
}

token_set client::refresh(const std::string &refresh_token) {
    if (refresh_token.empty()) fail(COTTER_EREAUTH, "no refresh token: log in again");
    json::writer w;
    w.begin_object().key("grant_type").value("refresh_token").key("refresh_token").value(refresh_token).end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = base_url_ + "/token/" + percent_encode(api_key_id_);
    spec.body = w.take();
    spec.refresh = true;
    spec.what = "POST /token/:api_key_id (refresh)";
    spec.secrets = {&refresh_token};
    pooled_response resp;
    call(spec, resp);
    token_set t = token_set::from_json(resp.body, "refresh response");
    // Cotter's early API did not rotate refresh tokens; keep the one we have when none comes back.
    if (t.refresh_token.empty()) t.refresh_token = secret_string(refresh_token);
    return t;
}

void client::logout(const std::string &refresh_token) {
    call_spec spec;
    spec.method = "DELETE";
    spec.url = base_url_ + "/token/" + percent_encode(api_key_id_);
    if (!refresh_token.empty()) {
        json::writer w;
        w.begin_object().key("refresh_token").value(refresh_token).end_object();
        spec.body = w.take();
    }
    spec.idempotent = true;  // revoking twice is harmless
    spec.what = "DELETE /token/:api_key_id (logout)";
    spec.secrets = {&refresh_token};
    pooled_response resp;
    call(spec, resp);
    wipe(resp.body);
}

custom_claims_result client::custom_claims(const std::string &token, const std::string &attributes_json,
                                           const std::string &refresh_token) {
    if (token.empty()) fail(COTTER_EINVAL, "token is required");
    json::writer w;
    w.begin_object().key("token").value(token).key("custom_attributes").raw(attributes_json, true);
    if (!refresh_token.empty()) w.key("refresh_token").value(refresh_token);
    w.end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = base_url_ + "/token/custom";
    spec.body = w.take();
    spec.with_secret = true;
    spec.what = "POST /token/custom";
    spec.secrets = {&token, &refresh_token};
    pooled_response resp;
    call(spec, resp);
    custom_claims_result out;
    std::string rt, rtn;
    for_each_member(parse_document(resp.body, "custom claims response"), "custom claims response",
                    [&](std::string_view key, simdjson::dom::element v) {
                        if (key == "token") out.token = secret_string(read_string(v, "token", k_max_token_bytes));
                        else if (key == "refresh_token") rt = read_string(v, "refresh_token", k_max_token_bytes);
                        else if (key == "refresh_tokenn") rtn = read_string(v, "refresh_tokenn", k_max_token_bytes);
                        else return false;
                        return true;
                    });
    if (out.token.empty()) protocol_error("no \"token\" string in the custom claims response");
    // Cotter's docs spell it `refresh_tokenn`; accept either, preferring the correct spelling.
    out.refresh_token = secret_string(!rt.empty() ? std::move(rt) : std::move(rtn));
    wipe(rt);
    wipe(rtn);
    return out;
}

identity client::get_identity(const std::string &code, int64_t challenge_id, const std::string &verifier,
                              const std::string &redirect_url) {
    if (code.empty() || verifier.empty() || redirect_url.empty()) fail(COTTER_EINVAL, "code, verifier and redirect URL are required");
    json::writer w;
    w.begin_object()
        .key("code_verifier").value(verifier)
        .key("authorization_code").value(code)
        .key("challenge_id").value(challenge_id)  // an integer, as every Cotter SDK sends it
        .key("redirect_url").value(redirect_url)
        .end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = base_url_ + "/verify/get_identity?oauth_token=true";
    spec.body = w.take();
    spec.what = "POST /verify/get_identity";
    spec.secrets = {&code, &verifier};
    pooled_response resp;
    call(spec, resp);
    identity id;
    id.json = secret_string(resp.body);
    simdjson::dom::element doc = parse_document(resp.body, "get_identity response");
    for_each_member(doc, "get_identity response", [&](std::string_view key, simdjson::dom::element v) {
        if (key == "oauth_token") {
            if (v.is_null()) return true;
            id.token = token_set::from_element(v, "get_identity oauth_token");
            id.has_token = true;
        } else if (key == "identifier") {
            if (v.is_null()) return true;
            for_each_member(v, "get_identity identifier", [&](std::string_view k, simdjson::dom::element x) {
                if (k == "identifier") id.identifier = read_string(x, "identifier.identifier");
                else if (k == "identifier_type") id.identifier_type = read_string(x, "identifier.identifier_type", 64);
                else return false;
                return true;
            });
        } else if (key == "token") {
            if (v.is_null()) return true;
            if (!v.is_object()) protocol_error("\"token\" is not an object in the get_identity response");
            id.identity_token_json = read_raw(v, "token", 64 * 1024);
        } else if (key == "user") {
            if (v.is_null()) return true;
            simdjson::dom::element uid;
            if (v.is_object() && v["ID"].get(uid) == simdjson::SUCCESS) id.user_id = read_string(uid, "user.ID", 256);
        } else {
            return false;
        }
        return true;
    });
    return id;
}

user parse_user(simdjson::dom::element obj) {
    user u;
    for_each_member(obj, "user object", [&](std::string_view key, simdjson::dom::element v) {
        if (key == "ID") u.id = read_string(v, "ID", 256);
        else if (key == "issuer") u.issuer = read_string(v, "issuer", 256);
        else if (key == "client_user_id") u.client_user_id = read_string(v, "client_user_id");
        else if (key == "identifier") u.identifier = read_string(v, "identifier");
        else if (key == "default_method") u.default_method = read_string(v, "default_method", 256);
        else if (key == "created_at") u.created_at = read_string(v, "created_at", 256);
        else if (key == "enrolled") {
            if (v.is_null()) return true;
            simdjson::dom::array arr;
            if (v.get_array().get(arr) != simdjson::SUCCESS) protocol_error("\"enrolled\" is not an array");
            for (auto item : arr) {
                if (u.enrolled.size() >= k_max_enrolled) protocol_error("too many \"enrolled\" methods");
                u.enrolled.push_back(read_string(item, "enrolled[]", 256));
            }
        } else {
            return false;
        }
        return true;
    });
    if (u.id.empty()) protocol_error("user object without \"ID\"");
    u.json = read_raw(obj, "user", 1024 * 1024);
    return u;
}

user client::user_create(const std::string &identifier) {
    if (identifier.empty()) fail(COTTER_EINVAL, "identifier is required");
    json::writer w;
    w.begin_object().key("identifier").value(identifier).end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = base_url_ + "/user/create";
    spec.body = w.take();
    spec.what = "POST /user/create";
    pooled_response resp;
    call(spec, resp);
    return parse_user(parse_document(resp.body, "user response"));
}

user client::user_get_by_identifier(const std::string &identifier) {
    if (identifier.empty()) fail(COTTER_EINVAL, "identifier is required");
    call_spec spec;
    spec.url = base_url_ + "/user?identifier=" + percent_encode(identifier);
    spec.idempotent = true;
    spec.what = "GET /user?identifier=";
    pooled_response resp;
    call(spec, resp);
    user u = parse_user(parse_document(resp.body, "user response"));
    // Cotter answers an unknown identifier with 200 and the all-zero UUID.
    if (u.id == k_nil_user_id) fail(COTTER_ENOTFOUND, "no user with this identifier");
    return u;
}

user client::user_get(const std::string &user_id) {
    if (user_id.empty()) fail(COTTER_EINVAL, "user id is required");
    call_spec spec;
    spec.url = base_url_ + "/user/" + percent_encode(user_id);
    spec.idempotent = true;
    spec.with_secret = !api_secret_key_.empty();  // older endpoints wanted it; harmless to send when we have it
    spec.not_found_on_404 = true;
    spec.what = "GET /user/:id";
    pooled_response resp;
    call(spec, resp);
    return parse_user(parse_document(resp.body, "user response"));
}

std::vector<user> client::user_list(unsigned int page) {
    call_spec spec;
    spec.url = base_url_ + "/user/list?page=" + std::to_string(page);
    spec.idempotent = true;
    spec.with_secret = true;
    spec.what = "GET /user/list";
    pooled_response resp;
    call(spec, resp);
    simdjson::dom::element doc = parse_document(resp.body, "user list response", false);
    // The wrapper is undocumented: accept a bare array or {"users": [...]}.
    simdjson::dom::array arr;
    if (doc.get_array().get(arr) != simdjson::SUCCESS) {
        simdjson::dom::element users;
        if (!doc.is_object() || doc["users"].get(users) != simdjson::SUCCESS || users.get_array().get(arr) != simdjson::SUCCESS)
            protocol_error("user list response has no \"users\" array");
    }
    std::vector<user> out;
    out.reserve(arr.size());
    for (auto item : arr) {
        if (out.size() >= k_max_list_items) protocol_error("user list too long");
        out.push_back(parse_user(item));
    }
    return out;
}

namespace {
/// Fills `t` from one row. The row's JSON goes to `pool` (NUL-terminated, located by offset/length) when given,
/// else to t.json.
void parse_social_token(simdjson::dom::element obj, social_token &t, std::string *pool = nullptr) {
    for_each_member(obj, "social token", [&](std::string_view key, simdjson::dom::element v) {
        if (key == "identity_provider") t.provider = read_string(v, "identity_provider", 64);
        else if (key == "provider_user_id") t.provider_user_id = read_string(v, "provider_user_id", 256);
        else if (key == "provider_username") t.provider_username = read_string(v, "provider_username", 256);
        else if (key == "user_id") t.user_id = read_string(v, "user_id", 256);
        else if (key == "tokens") {
            if (v.is_null()) return true;
            for_each_member(v, "social token tokens", [&](std::string_view k, simdjson::dom::element x) {
                if (k == "access_token") t.access_token = secret_string(read_string(x, "tokens.access_token", k_max_token_bytes));
                else if (k == "scope") t.scope = read_string(x, "tokens.scope");
                else if (k == "token_type") t.token_type = read_string(x, "tokens.token_type", 64);
                else return false;
                return true;
            });
        } else {
            return false;
        }
        return true;
    });
    if (t.provider.empty()) protocol_error("social token without \"identity_provider\"");
    if (pool) {
        t.json_offset = pool->size();
        append_raw(obj, *pool);
        t.json_length = pool->size() - t.json_offset;
        pool->push_back('\0');
    } else {
        t.json = secret_string(read_raw(obj, "social token", 1024 * 1024));
    }
}

std::string checked_provider(const std::string &provider) {
    if (provider.empty() || provider.size() > 64) fail(COTTER_EINVAL, "provider is required (e.g. GITHUB)");
    return percent_encode(provider);
}
}  // namespace

std::vector<social_token> client::social_tokens_list(const std::string &user_id) {
    std::vector<social_token> out;
    secret_string pool;
    social_tokens_list(
        user_id, [&](size_t n) { out.reserve(n); }, [&]() -> social_token & { return out.emplace_back(); }, pool);
    for (auto &t : out) t.json = secret_string(pool.str().substr(t.json_offset, t.json_length));
    return out;
}

void client::social_tokens_list(const std::string &user_id, const std::function<void(size_t)> &reserve,
                                const std::function<social_token &()> &add, secret_string &json_pool) {
    if (user_id.empty()) fail(COTTER_EINVAL, "user id is required");
    call_spec spec;
    spec.url = base_url_ + "/oauth/token/list/" + percent_encode(user_id);
    spec.idempotent = true;
    spec.with_secret = true;
    spec.not_found_on_404 = true;
    spec.what = "GET /oauth/token/list/:cotter_user_id";
    pooled_response resp;
    call(spec, resp);
    // Lists are large: duplicates are checked per row for the members we read (for_each_member), not tree-wide.
    simdjson::dom::element doc = parse_document(resp.body, "social token list", false);
    simdjson::dom::array arr;
    if (doc.get_array().get(arr) != simdjson::SUCCESS) protocol_error("social token list is not a JSON array");
    const size_t n = arr.size();
    if (n > k_max_list_items) protocol_error("social token list too long");
    reserve(n);
    std::string pool;
    pool.reserve(resp.body.size() + n);  // minified rows are no longer than the body, plus one NUL each
    for (auto item : arr) parse_social_token(item, add(), &pool);
    json_pool = secret_string(std::move(pool));
}

social_token client::social_token_get(const std::string &provider, const std::string &user_id) {
    if (user_id.empty()) fail(COTTER_EINVAL, "user id is required");
    call_spec spec;
    spec.url = base_url_ + "/oauth/token/" + checked_provider(provider) + "/" + percent_encode(user_id);
    spec.idempotent = true;
    spec.with_secret = true;
    spec.not_found_on_404 = true;
    spec.what = "GET /oauth/token/:provider/:cotter_user_id";
    pooled_response resp;
    call(spec, resp);
    social_token t;
    parse_social_token(parse_document(resp.body, "social token"), t);
    return t;
}

void client::social_token_delete(const std::string &provider, const std::string &user_id) {
    if (user_id.empty()) fail(COTTER_EINVAL, "user id is required");
    call_spec spec;
    spec.method = "DELETE";
    spec.url = base_url_ + "/oauth/token/" + checked_provider(provider) + "/" + percent_encode(user_id);
    spec.idempotent = true;
    spec.with_secret = true;
    spec.not_found_on_404 = true;
    spec.what = "DELETE /oauth/token/:provider/:cotter_user_id";
    pooled_response resp;
    call(spec, resp);
    wipe(resp.body);
}

verify_result client::verify_remote(const std::string &access_token) {
    if (access_token.empty()) fail(COTTER_EINVAL, "access token is required");
    json::writer w;
    w.begin_object().key("oauth_token").begin_object().key("access_token").value(access_token).end_object().end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = worker_url_;
    spec.body = w.take();
    spec.idempotent = true;  // verification has no side effect
    spec.what = "POST <worker>/verify";
    spec.secrets = {&access_token};
    pooled_response resp;
    call(spec, resp);
    verify_result out;
    bool has_success = false;
    for_each_member(parse_document(resp.body, "verify response"), "verify response",
                    [&](std::string_view key, simdjson::dom::element v) {
                        if (key == "success") {
                            if (v.get_bool().get(out.valid) != simdjson::SUCCESS) protocol_error("\"success\" is not a boolean");
                            has_success = true;
                        } else if (key == "reason") {
                            out.reason = cap_text(read_string(v, "reason"));
                        } else {
                            return false;
                        }
                        return true;
                    });
    if (!has_success) protocol_error("verify response without \"success\"");
    redact(out.reason, {&access_token});
    return out;
}

}  // namespace cotter::core::token

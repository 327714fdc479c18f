/**
 * @file client.cpp
 * @brief The client's construction and the one response-to-error mapping every call shares (see docs/client.md,
 * "Errors"). The calls themselves live in grants.cpp, users.cpp and social.cpp.
 */
#include "token/client.hpp"

#include "common/constants.hpp"
#include "common/environment.hpp"
#include "common/options.hpp"
#include "token/call_util.hpp"
#include "token/parse.hpp"

namespace cotter::core::token {
namespace {

constexpr const char *k_default_worker_url = "https://worker.cotter.app/verify";

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

std::string effective_base_url(std::string base_url) {
    std::string url = strip_trailing_slash(base_url.empty() ? env_or("COTTER_BASE_URL", k_default_base_url)
                                                            : std::move(base_url));
    check_url(url, "base_url");
    return url;
}

std::string jwks_url_of(std::string base_url) { return effective_base_url(std::move(base_url)) + "/token/jwks"; }

namespace {

std::shared_ptr<const client::config> make_config(client_options &o) {
    options::check(options::client::from_environment_range, o.from_environment);
    // The one place the credentials' environment variables are read, and only when the caller asked for it: a
    // NULL secret must not silently become whatever $COTTER_API_SECRET_KEY holds.
    if (o.from_environment) {
        if (o.api_key_id.empty()) o.api_key_id = env_or("COTTER_API_KEY_ID", "");
        if (o.api_secret_key.empty()) o.api_secret_key = secret_string(env_or("COTTER_API_SECRET_KEY", ""));
    }
    auto c = std::make_shared<client::config>();
    c->api_key_id = std::move(o.api_key_id);
    c->api_secret_key = std::move(o.api_secret_key);
    c->base_url = effective_base_url(std::move(o.base_url));
    c->worker_url = o.worker_url.empty() ? env_or("COTTER_WORKER_URL", k_default_worker_url) : std::move(o.worker_url);
    if (c->api_key_id.empty())
        fail(COTTER_EINVAL, o.from_environment ? "api_key_id (your Cotter API key id) is required: pass it or set "
                                                 "COTTER_API_KEY_ID"
                                               : "api_key_id (your Cotter API key id) is required");
    if (c->api_key_id.size() > 256 || c->api_key_id.find_first_of("\r\n/?#") != std::string::npos)
        fail(COTTER_EINVAL, "api_key_id is malformed");
    if (c->api_secret_key.size() > 4096 || c->api_secret_key.str().find_first_of("\r\n") != std::string::npos)
        fail(COTTER_EINVAL, "api_secret_key is malformed");
    check_url(c->worker_url, "worker_url");
    return c;
}

}  // namespace

namespace detail {

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

void redact(std::string &text, const std::vector<secret_string> &secrets) {
    for (const secret_string &s : secrets) {
        if (s.size() < 4) continue;
        for (size_t pos; (pos = text.find(s.str())) != std::string::npos;) text.replace(pos, s.size(), "[redacted]");
    }
}

}  // namespace detail

client::client(client_options o) : config_(make_config(o)), transport_(std::move(o.http)) {}

void check_response(const client::config &cfg, const client::call_spec &spec, int rc, http::response &resp,
                    error_info &err) {
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
    const bool has_error_body = !msg.empty() || !oerr.empty();
    info.oauth_error = detail::cap_text(!oerr.empty() ? oerr : type);
    info.oauth_error_description = detail::cap_text(!msg.empty() ? msg : odesc);
    detail::redact(info.oauth_error, spec.secrets);
    detail::redact(info.oauth_error_description, spec.secrets);
    detail::redact(info.oauth_error, {cfg.api_secret_key});
    detail::redact(info.oauth_error_description, {cfg.api_secret_key});

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

}  // namespace cotter::core::token

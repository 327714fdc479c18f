/**
 * @file pkce.cpp
 * @brief PKCE values, the hosted-login URL and the login-redirect parser.
 */
#include "token/pkce.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <charconv>
#include <vector>

#include "common/base64.hpp"
#include "common/constants.hpp"
#include "common/environment.hpp"
#include "common/error.hpp"
#include "common/options.hpp"
#include "token/url.hpp"

namespace cotter::core::token {
namespace {

secret_string random_base64url(size_t bytes) {
    unsigned char buf[64];
    if (bytes > sizeof buf || RAND_bytes(buf, static_cast<int>(bytes)) != 1)
        fail(COTTER_EINTERNAL, "the OpenSSL random generator failed");
    secret_string out(base64::url_encode(buf, bytes));
    OPENSSL_cleanse(buf, sizeof buf);
    return out;
}

void require(const std::string &v, const char *name) {
    if (v.empty()) fail(COTTER_EINVAL, std::string(name) + " is required");
    if (v.size() > 4096) fail(COTTER_EINVAL, std::string(name) + " is too long");
}

}  // namespace

std::string pkce_challenge(const std::string &verifier) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(verifier.data()), verifier.size(), digest);
    return base64::url_encode(digest, sizeof digest);
}

pkce pkce::generate() {
    pkce p;
    p.verifier = random_base64url(32);
    p.challenge = pkce_challenge(p.verifier.str());
    p.state = random_base64url(16);
    return p;
}

std::string login_url(const login_url_params &p) {
    options::check(options::login_url::from_environment_range, p.from_environment);
    require(p.api_key_id, "api_key_id");
    require(p.redirect_url, "redirect_url");
    require(p.state, "state");
    require(p.code_challenge, "code_challenge");
    const std::string type = p.identifier_type.empty() ? "EMAIL" : p.identifier_type;
    if (type != "EMAIL" && type != "PHONE") fail(COTTER_EINVAL, "identifier_type must be EMAIL or PHONE");
    if (!p.auth_method.empty() && p.auth_method != "OTP" && p.auth_method != "MAGIC_LINK")
        fail(COTTER_EINVAL, "auth_method must be OTP or MAGIC_LINK");
    std::string url = p.login_url;
    if (p.from_environment) fill_from_env(url, "COTTER_LOGIN_URL");
    if (url.empty()) url = k_default_login_url;
    if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) fail(COTTER_EINVAL, "login_url must be http(s)");
    if (url.find('#') != std::string::npos) fail(COTTER_EINVAL, "login_url must not have a fragment");
    url += url.find('?') == std::string::npos ? '?' : '&';
    auto add = [&url, first = true](const char *name, const std::string &value) mutable {
        if (!first) url += '&';
        first = false;
        url += name;
        url += '=';
        url += percent_encode(value);
    };
    add("api_key", p.api_key_id);
    add("redirect_url", p.redirect_url);
    add("type", type);
    add("state", p.state);
    add("code_challenge", p.code_challenge);
    if (!p.auth_method.empty()) add("auth_method", p.auth_method);
    if (!p.input.empty()) {
        add("direct_login", "true");
        add("input", p.input);
    }
    if (!p.cotter_user_id.empty()) add("cotter_user_id", p.cotter_user_id);
    return url;
}

login_redirect parse_login_redirect(const std::string &query, const std::string &expected_state) {
    if (expected_state.empty()) fail(COTTER_EINVAL, "expected_state is required");
    std::string_view q = query;
    // Accept a whole URL too: take what follows the first '?'.
    if (const size_t at = q.find('?'); at != std::string_view::npos) q = q.substr(at + 1);
    if (q.size() > 16 * 1024) fail(COTTER_EPROTOCOL, "login redirect query too long");
    std::vector<std::pair<std::string, std::string>> pairs;
    struct wipe_pairs {  // the values include the authorization code
        std::vector<std::pair<std::string, std::string>> &p;
        ~wipe_pairs() {
            for (auto &kv : p) wipe(kv.second);
        }
    } wiper{pairs};
    if (!parse_query(q, pairs)) fail(COTTER_EPROTOCOL, "malformed login redirect query");
    const std::string *state = nullptr, *code = nullptr, *challenge = nullptr, *err = nullptr, *err_desc = nullptr;
    for (const auto &[name, value] : pairs) {
        const std::string **slot = name == "state"               ? &state
                                   : name == "code"              ? &code
                                   : name == "challenge_id"      ? &challenge
                                   : name == "error"             ? &err
                                   : name == "error_description" ? &err_desc
                                                                 : nullptr;
        if (!slot) continue;
        if (*slot) fail(COTTER_EPROTOCOL, "login redirect repeats the '" + name + "' parameter");
        *slot = &value;
    }
    // The state is checked first, in constant time: a forged redirect learns nothing from what follows.
    if (!state || !constant_time_equal(*state, expected_state))
        fail(COTTER_ESTATE, "login redirect state does not match (possible CSRF or a stale login)");
    if (err) {
        error_info info;
        info.code = COTTER_ESTATE;
        info.oauth_error = err->substr(0, 256);
        if (err_desc) info.oauth_error_description = err_desc->substr(0, 1024);
        info.message = "login was rejected: " + info.oauth_error;
        throw error(std::move(info));
    }
    if (!code || code->empty()) fail(COTTER_EPROTOCOL, "login redirect has no code");
    if (code->size() > 4096) fail(COTTER_EPROTOCOL, "login redirect code too long");
    if (!challenge || challenge->empty()) fail(COTTER_EPROTOCOL, "login redirect has no challenge_id");
    login_redirect out;
    const auto res = std::from_chars(challenge->data(), challenge->data() + challenge->size(), out.challenge_id);
    if (res.ec != std::errc() || res.ptr != challenge->data() + challenge->size() || out.challenge_id < 0 ||
        (*challenge)[0] == '-' || (*challenge)[0] == '+')
        fail(COTTER_EPROTOCOL, "login redirect challenge_id is not a non-negative integer");
    out.code = secret_string(*code);
    return out;
}

}  // namespace cotter::core::token

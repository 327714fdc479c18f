/**
 * @file pkce.hpp
 * @brief PKCE (RFC 7636, S256) for Cotter's hosted login, the login URL (spec §2.9) and the redirect parser.
 */
#pragma once

#include <cstdint>
#include <string>

#include "common/secure.hpp"

namespace cotter::core::token {

struct pkce {
    secret_string verifier;   // base64url of 32 random bytes (43 chars)
    std::string challenge;    // base64url(SHA-256(verifier))
    secret_string state;      // base64url of 16 random bytes (22 chars)

    /// Fresh random values from OpenSSL's RAND_bytes. Throws COTTER_EINTERNAL if the CSPRNG fails.
    static pkce generate();
};

/// base64url_nopad(SHA-256(verifier)).
std::string pkce_challenge(const std::string &verifier);

struct login_url_params {
    std::string login_url;  // empty = COTTER_DEFAULT_LOGIN_URL (from_environment: $COTTER_LOGIN_URL first)
    std::string api_key_id, redirect_url, state, code_challenge;
    std::string identifier_type;  // empty = EMAIL
    std::string auth_method;      // empty = none
    std::string input;            // non-empty sets direct_login=true
    std::string cotter_user_id;
    /// 1: an empty login_url is read from $COTTER_LOGIN_URL (Cotter's Python SDK did); 0: never. Range 0..1.
    long from_environment = 0;
};

/// The hosted-login URL with every parameter percent-encoded (RFC 3986). Throws COTTER_EINVAL on bad values.
std::string login_url(const login_url_params &p);

struct login_redirect {
    secret_string code;
    int64_t challenge_id = 0;
};

/// Checks the redirect's query against `expected_state` (constant time) and extracts code and challenge_id.
/// COTTER_ESTATE on a state mismatch or an `error` parameter; COTTER_EPROTOCOL on missing/malformed fields.
login_redirect parse_login_redirect(const std::string &query, const std::string &expected_state);

}  // namespace cotter::core::token

/**
 * @file token_set.hpp
 * @brief Cotter's `oauth_token` object (access_token, id_token, refresh_token, token_type, auth_method,
 * expires_in): parsing, the six-key JSON the old Python SDK wrote, and the unverified `exp` used only to
 * schedule refreshes. Tokens are secret_strings: wiped when the set is destroyed.
 */
#pragma once

#include <cstdint>
#include <string>

#include "common/secure.hpp"

namespace cotter::core::token {

struct token_set {
    secret_string access_token;
    secret_string id_token;
    secret_string refresh_token;
    std::string token_type;
    std::string auth_method;
    int64_t expires_in = 0;
    /// `exp` of the access token read WITHOUT verification (scheduling only); 0 when unreadable.
    int64_t access_expires_at = 0;

    /// Parses `oauth_token` JSON text (a token file, a response body). `access_token` is required; the rest may
    /// be absent. Throws COTTER_EPROTOCOL (with `what` naming the source) when the shape is wrong. (The form
    /// that reads an already parsed element is token_set_from_element in token/parse.hpp: simdjson stays out of
    /// this header, which most of the library and its tests include.)
    static token_set from_json(const std::string &json, const char *what);

    /// The six-key JSON (absent strings omitted, expires_in always present), as Cotter's Python SDK stores it.
    /// The result holds tokens: the caller wipes it.
    std::string to_json() const;
};

/// `exp` of a compact JWS read without verifying anything (0 when it cannot be read). Only for scheduling.
int64_t unverified_exp(const std::string &jwt);

}  // namespace cotter::core::token

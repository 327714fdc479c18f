/**
 * @file claims.hpp
 * @brief The verified claims of one token. Built only after the signature and every claim check passed;
 * immutable and shared (the verified-token cache hands out the same object).
 */
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cotter::core::jwt {

struct optional_string {
    std::string value;
    bool present = false;
    const char *c_str_or_null() const noexcept { return present ? value.c_str() : nullptr; }
};

struct claims {
    std::string payload_json;  // byte for byte as signed
    optional_string sub, iss, identifier, authentication_method, scope, type, client_user_id, jti, auth_time, kid;
    std::vector<std::string> audiences;
    int64_t exp = 0, iat = 0, nbf = 0;
};

}  // namespace cotter::core::jwt

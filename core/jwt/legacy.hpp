/**
 * @file legacy.hpp
 * @brief Cotter's older Ed25519-signed Identity and Event tokens (spec §4): message layouts and verification.
 */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace cotter::core::jwt::legacy {

/// `identifier + identifier_type + receiver + expire_at` (spec §4.1): no separators, no braces.
std::string identity_message(std::string_view identifier, std::string_view identifier_type, std::string_view receiver,
                             std::string_view expire_at);

/// `client_user_id + issuer + event + timestamp + method + new + approved`, booleans as true/false (spec §4.2).
std::string event_message(std::string_view client_user_id, std::string_view issuer, std::string_view event,
                          std::string_view timestamp, std::string_view method, bool is_new, bool approved);

/// Verifies a detached Ed25519 signature (standard base64, 64 bytes) over `message` with a standard-base64 32-byte
/// public key. COTTER_OK, COTTER_ELEGACY_SIGNATURE, or COTTER_EINVAL for an unusable public key.
int verify_ed25519(std::string_view public_key_b64, std::string_view message, std::string_view signature_b64,
                   error_info *err);

/// cotter_identity_token_verify(): signature first, then receiver == api_key_id, then expire_at > now.
int verify_identity_token(std::string_view json, std::string_view api_key_id, std::string_view public_key_b64,
                          int64_t now, error_info *err);

/// cotter_event_token_verify(): signature first, then issuer == api_key_id and approved == true.
int verify_event_token(std::string_view json, std::string_view api_key_id, std::string_view public_key_b64,
                       error_info *err);

}  // namespace cotter::core::jwt::legacy

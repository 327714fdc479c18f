/**
 * @file es256.hpp
 * @brief ES256 (ECDSA P-256 + SHA-256) signature verification of a JWS signing input with a raw r||s signature.
 */
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>

namespace cotter::core::jwt::es256 {

constexpr size_t k_signature_bytes = 64;

/// True when r and s (big-endian halves of `sig`) are both in [1, n-1], n the P-256 group order. Checked before
/// OpenSSL sees the signature (CVE-2022-21449: r = s = 0 "psychic signatures").
bool scalars_in_range(const uint8_t sig[k_signature_bytes]) noexcept;

/// Verifies `sig` over SHA-256(`data`) with the P-256 public `key`. Returns 1 valid, 0 invalid, -1 on an OpenSSL
/// failure (allocation). Reuses a per-thread EVP_PKEY_CTX per key: setting one up costs more than the digest.
int verify(EVP_PKEY *key, const void *data, size_t len, const uint8_t sig[k_signature_bytes]) noexcept;

}  // namespace cotter::core::jwt::es256

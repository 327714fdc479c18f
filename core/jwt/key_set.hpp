/**
 * @file key_set.hpp
 * @brief A parsed JWKS: EC P-256 verification keys parsed once into EVP_PKEY, plus the kids of keys we refuse
 * to use (so a token selecting one fails with KEY_MISMATCH, not KEY_NOT_FOUND).
 */
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace cotter::core::jwt {

/// Caps on a key set document (jose and libjwt use similar bounds).
constexpr size_t k_max_keys = 64;
constexpr size_t k_max_kid_bytes = 256;

struct pkey_deleter {
    void operator()(EVP_PKEY *p) const noexcept { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

/// One JWK. Immutable once built; shared between key-set snapshots when a refetch returns the same key, so that
/// cached verifications tied to it stay valid.
struct jwk {
    std::string kid;
    bool has_kid = false;
    pkey_ptr pkey;                 // set only for a usable EC P-256 signature key
    std::string unusable_reason;   // why not, for keys we keep only to report KEY_MISMATCH
    std::string x, y;              // raw 32-byte coordinates (to recognise the same key across refetches)

    bool usable() const noexcept { return pkey != nullptr; }
};

struct key_set {
    std::vector<std::shared_ptr<const jwk>> keys;

    /// The key a token selects: by kid; for a kid-less token, the only ES256-capable key (or the only key).
    /// nullptr when none matches or the choice would be ambiguous.
    const std::shared_ptr<const jwk> *select(std::string_view kid, bool has_kid) const noexcept;
};

/// Parses a JWKS document. Returns COTTER_OK or COTTER_EJWKS_INVALID (with a reason in *err).
/// `previous` (may be null) lends identical keys to the new set so they keep their identity.
int parse_jwks(std::string_view json, const key_set *previous, std::shared_ptr<const key_set> &out,
               error_info *err);

}  // namespace cotter::core::jwt

/**
 * @file jwt_builder.hpp
 * @brief Test helper: keys (OpenSSL), JWKS documents and signed/tampered JWS tokens, built from raw JSON text so
 * tests can express any hostile header or payload byte for byte.
 */
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cotter::test {

std::string b64url(const std::string &bytes);
std::string b64std(const std::string &bytes);

/// An EC key pair on a named curve ("P-256", "P-384", "P-521", "secp256k1").
class ec_key {
public:
    explicit ec_key(const std::string &kid = "", const std::string &curve = "P-256");
    ~ec_key();
    ec_key(const ec_key &) = delete;
    ec_key &operator=(const ec_key &) = delete;

    const std::string &kid() const { return kid_; }
    const std::string &curve() const { return curve_; }
    EVP_PKEY *pkey() const { return pkey_; }
    /// Raw affine coordinates (big-endian, padded to the field size).
    const std::string &x() const { return x_; }
    const std::string &y() const { return y_; }
    /// The uncompressed point 04||x||y, the PEM and the DER SubjectPublicKeyInfo (for HS/ES confusion inputs).
    std::string uncompressed_point() const { return std::string(1, '\x04') + x_ + y_; }
    std::string public_pem() const;
    std::string public_der() const;

    /// The public JWK as JSON. `extra` is spliced in verbatim (e.g. `"use":"sig"`); the kid is included when
    /// non-empty.
    std::string jwk(const std::string &extra = "") const;

    /// ECDSA over SHA-256 (SHA-384/512 for the larger curves) of `data`: the DER signature, and raw r||s.
    std::string sign_der(const std::string &data, const EVP_MD *md = nullptr) const;
    std::string sign_raw(const std::string &data, const EVP_MD *md = nullptr) const;

private:
    std::string kid_, curve_, x_, y_;
    EVP_PKEY *pkey_ = nullptr;
};

/// {"keys":[...]} from JWK JSON texts.
std::string jwks(const std::vector<std::string> &jwk_texts);

/// Base64url-encodes header and payload as given (raw JSON text) and signs with ES256 (raw r||s).
std::string sign_es256(const ec_key &key, const std::string &header_json, const std::string &payload_json);
/// The `b64url(header).b64url(payload)` signing input.
std::string signing_input(const std::string &header_json, const std::string &payload_json);
/// signing_input + "." + b64url(signature bytes).
std::string with_signature(const std::string &signing_input, const std::string &signature);
/// HMAC-SHA-(256|384|512) token with an arbitrary secret (for alg-confusion inputs).
std::string sign_hmac(const std::string &alg, const std::string &secret, const std::string &header_json,
                      const std::string &payload_json);

/// A standard header {"alg":"ES256","kid":...,"typ":"JWT"} (kid omitted when empty).
std::string header_for(const std::string &kid);
/// A Cotter-like access-token payload valid at `now` for `audience`.
std::string payload_for(int64_t now, const std::string &audience, const std::string &issuer = "https://www.cotter.app");

/// An Ed25519 key pair for the older Identity/Event tokens.
class ed25519_key {
public:
    ed25519_key();
    ~ed25519_key();
    ed25519_key(const ed25519_key &) = delete;
    ed25519_key &operator=(const ed25519_key &) = delete;
    /// Standard base64 of the raw 32-byte public key.
    std::string public_b64() const;
    /// Standard base64 of the 64-byte detached signature of `message`.
    std::string sign_b64(const std::string &message) const;

private:
    EVP_PKEY *pkey_ = nullptr;
};

}  // namespace cotter::test

/**
 * @file test_keys.hpp
 * @brief Fixed test keys of the JWT and legacy-token fuzz targets, and an independent signer/oracle built on
 * OpenSSL alone (no cotter code), so that "accepted" can be checked against something cotter did not compute.
 *
 * The keys are fixed (test-only, never used anywhere else) so that the committed seed corpora stay validly
 * signed. ECDSA signatures are randomised: a token signed at start-up differs from a seed in its last segment.
 */
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"

namespace cotter_fuzz {

// P-256 keys "fuzz-k1" and "fuzz-k2" (the JWKS holds both; tokens may name either).
inline const char *const k_ec_pem[2] = {
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxXNkoc+Ripg/JzIs\n"
    "w2efrQvpCbWckHJky2zO51W5j2+hRANCAASK4CvMrO90qc8RxG1wJornYtkjpwXI\n"
    "+Qna45HeC/L3hNom8XKoSkoKRHfOMVsNcCNkF6QGUTgEyE897/9cEtzV\n"
    "-----END PRIVATE KEY-----\n",
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUUXSzORan/y6f/7j\n"
    "6ygS+84j+8EpJBpJk89pHRsHXq2hRANCAATl4uszH9pczE1CORbm6IjOI/phkuBR\n"
    "CjXzgMw7oah7EHxTv3niXObzQmh+uCz9cxJMpekMaw0XlD1av/jCfbrM\n"
    "-----END PRIVATE KEY-----\n",
};
inline const char *const k_ec_kid[2] = {"fuzz-k1", "fuzz-k2"};

// Ed25519 key of the legacy Identity/Event tokens.
inline const char *const k_ed25519_pem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIDi9g9zGVo4hZka4ccSHbAq0cD7y3QM2+CJm+DeUhRwi\n"
    "-----END PRIVATE KEY-----\n";

constexpr const char *k_audience = "7a1b2c3d-0000-4000-8000-00000000a11d";
constexpr const char *k_issuer = "https://www.cotter.app";
constexpr int64_t k_now = 1700000000;  // the fixed clock of every verifier in the fuzz targets

inline EVP_PKEY *load_private_key(const char *pem) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    FUZZ_CHECK(key != nullptr);
    return key;
}

inline EVP_PKEY *ec_key(int i) {
    static EVP_PKEY *keys[2] = {load_private_key(k_ec_pem[0]), load_private_key(k_ec_pem[1])};
    return keys[i];
}

inline EVP_PKEY *ed25519_key() {
    static EVP_PKEY *key = load_private_key(k_ed25519_pem);
    return key;
}

/// Unpadded base64url with OpenSSL's encoder.
inline std::string b64url(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(&out[0]),
                                  reinterpret_cast<const unsigned char *>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char &c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

/// Padded standard base64.
inline std::string b64std(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(&out[0]),
                                  reinterpret_cast<const unsigned char *>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

/// Strict base64url decode through OpenSSL: only the canonical spelling (re-encoding gives the same text).
inline bool b64url_decode(std::string_view text, std::string &out) {
    if (text.size() % 4 == 1) return false;
    std::string std_text(text);
    for (char &c : std_text) {
        if (c == '-') c = '+';
        else if (c == '_') c = '/';
        else if (c == '+' || c == '/' || c == '=') return false;
    }
    while (std_text.size() % 4) std_text.push_back('=');
    std::string buf(std_text.size() / 4 * 3 + 1, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char *>(&buf[0]),
                                  reinterpret_cast<const unsigned char *>(std_text.data()), static_cast<int>(std_text.size()));
    if (n < 0) return false;
    size_t len = static_cast<size_t>(n) - (std_text.size() - text.size());  // EVP_DecodeBlock counts padding as zeros
    buf.resize(len);
    if (b64url(buf) != text) return false;
    out = std::move(buf);
    return true;
}

/// The x and y coordinates (32 bytes each) of a P-256 key.
inline void ec_xy(EVP_PKEY *key, std::string &x, std::string &y) {
    BIGNUM *bx = nullptr, *by = nullptr;
    FUZZ_CHECK(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1);
    FUZZ_CHECK(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1);
    x.assign(32, '\0');
    y.assign(32, '\0');
    BN_bn2binpad(bx, reinterpret_cast<unsigned char *>(&x[0]), 32);
    BN_bn2binpad(by, reinterpret_cast<unsigned char *>(&y[0]), 32);
    BN_free(bx);
    BN_free(by);
}

/// The JWKS of both keys, as Cotter publishes it.
inline std::string test_jwks() {
    std::string out = "{\"keys\":[";
    for (int i = 0; i < 2; ++i) {
        std::string x, y;
        ec_xy(ec_key(i), x, y);
        if (i) out += ",";
        out += std::string("{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"use\":\"sig\",\"kid\":\"") + k_ec_kid[i] +
               "\",\"x\":\"" + b64url(x) + "\",\"y\":\"" + b64url(y) + "\"}";
    }
    return out + "]}";
}

/// ES256 over `signing_input` with key i: the JWS form (r || s, 32 bytes each).
inline std::string es256_sign(int i, std::string_view signing_input) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FUZZ_CHECK(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, ec_key(i)) == 1);
    size_t der_len = 0;
    FUZZ_CHECK(EVP_DigestSign(ctx, nullptr, &der_len, reinterpret_cast<const unsigned char *>(signing_input.data()),
                              signing_input.size()) == 1);
    std::vector<unsigned char> der(der_len);
    FUZZ_CHECK(EVP_DigestSign(ctx, der.data(), &der_len, reinterpret_cast<const unsigned char *>(signing_input.data()),
                              signing_input.size()) == 1);
    EVP_MD_CTX_free(ctx);
    const unsigned char *p = der.data();
    ECDSA_SIG *sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
    FUZZ_CHECK(sig != nullptr);
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char *>(&raw[0]), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char *>(&raw[32]), 32);
    ECDSA_SIG_free(sig);
    return raw;
}

/// Independent ES256 check of a JWS signature (r || s) with key i.
inline bool es256_verify(int i, std::string_view signing_input, std::string_view raw_sig) {
    if (raw_sig.size() != 64) return false;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(reinterpret_cast<const unsigned char *>(raw_sig.data()), 32, nullptr);
    BIGNUM *s = BN_bin2bn(reinterpret_cast<const unsigned char *>(raw_sig.data()) + 32, 32, nullptr);
    ECDSA_SIG_set0(sig, r, s);
    unsigned char *der = nullptr;
    const int der_len = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, ec_key(i)) == 1 &&
              EVP_DigestVerify(ctx, der, static_cast<size_t>(der_len),
                               reinterpret_cast<const unsigned char *>(signing_input.data()), signing_input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

/// A compact JWS of `payload_json` with key i (header names the kid unless `with_kid` is false).
inline std::string make_token(int i, const std::string &payload_json, bool with_kid = true) {
    const std::string header = with_kid ? std::string("{\"alg\":\"ES256\",\"kid\":\"") + k_ec_kid[i] + "\",\"typ\":\"JWT\"}"
                                        : std::string("{\"alg\":\"ES256\",\"typ\":\"JWT\"}");
    const std::string signing_input = b64url(header) + "." + b64url(payload_json);
    return signing_input + "." + b64url(es256_sign(i, signing_input));
}

/// The claim sets the valid tokens carry (all valid at k_now for k_audience and k_issuer).
inline std::vector<std::string> valid_payloads() {
    const std::string times = "\"iat\":1699999990,\"exp\":1700003600";
    return {
        std::string("{\"iss\":\"") + k_issuer + "\",\"aud\":\"" + k_audience + "\",\"sub\":\"user-1\"," + times +
            ",\"scope\":\"access\",\"type\":\"client_access_token\",\"identifier\":\"a@example.com\"}",
        std::string("{\"aud\":[\"other\",\"") + k_audience + "\"],\"iss\":\"" + k_issuer + "\",\"nbf\":1699999000," + times +
            ",\"sub\":\"user-2\",\"jti\":\"j-1\",\"auth_time\":\"1699999980\",\"custom\":{\"role\":[1,2.5,null,true]}}",
        std::string("{\"iss\":\"") + k_issuer + "\",\"aud\":\"" + k_audience + "\"," + times +
            ",\"client_user_id\":\"\\u00e9\\n\",\"authentication_method\":\"OTP\"}",
    };
}

/// Ed25519 signature (standard base64) over `message`.
inline std::string ed25519_sign_b64(std::string_view message) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FUZZ_CHECK(EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, ed25519_key()) == 1);
    unsigned char sig[64];
    size_t len = sizeof sig;
    FUZZ_CHECK(EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char *>(message.data()), message.size()) == 1);
    EVP_MD_CTX_free(ctx);
    return b64std(std::string_view(reinterpret_cast<const char *>(sig), len));
}

/// The Ed25519 public key in standard base64 (the `public_key_b64` argument of the legacy verifiers).
inline std::string ed25519_public_b64() {
    unsigned char pub[32];
    size_t len = sizeof pub;
    FUZZ_CHECK(EVP_PKEY_get_raw_public_key(ed25519_key(), pub, &len) == 1);
    return b64std(std::string_view(reinterpret_cast<const char *>(pub), len));
}

}  // namespace cotter_fuzz

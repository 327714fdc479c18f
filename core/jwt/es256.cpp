/**
 * @file es256.cpp
 * @brief ES256 verification: range check, raw→DER conversion, per-thread EVP_PKEY_CTX reuse.
 */
#include "jwt/es256.hpp"

#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>

namespace cotter::core::jwt::es256 {
namespace {

// The order n of the P-256 group (SEC 2, secp256r1), big-endian.
constexpr uint8_t k_order[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
                                 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
                                 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

bool in_range(const uint8_t *v) noexcept {
    bool nonzero = false;
    for (size_t i = 0; i < 32; ++i) nonzero |= v[i] != 0;
    return nonzero && std::memcmp(v, k_order, 32) < 0;
}

// A small per-thread map from key to a verification context initialised for it. The context holds a reference
// to its key, so a key's address cannot be reused by another key while an entry names it.
class ctx_cache {
public:
    ~ctx_cache() {
        for (auto &e : entries_)
            if (e.ctx) EVP_PKEY_CTX_free(e.ctx);
    }
    EVP_PKEY_CTX *get(EVP_PKEY *key) noexcept {
        for (auto &e : entries_)
            if (e.key == key) return e.ctx;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
        if (!ctx) return nullptr;
        if (EVP_PKEY_verify_init(ctx) <= 0 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0) {
            EVP_PKEY_CTX_free(ctx);
            return nullptr;
        }
        entry &slot = entries_[next_++ % entries_.size()];
        if (slot.ctx) EVP_PKEY_CTX_free(slot.ctx);
        slot = {key, ctx};
        return ctx;
    }

private:
    struct entry {
        EVP_PKEY *key = nullptr;
        EVP_PKEY_CTX *ctx = nullptr;
    };
    std::array<entry, 8> entries_{};
    size_t next_ = 0;
};

thread_local ctx_cache t_ctx_cache;

}  // namespace

bool scalars_in_range(const uint8_t sig[k_signature_bytes]) noexcept { return in_range(sig) && in_range(sig + 32); }

int verify(EVP_PKEY *key, const void *data, size_t len, const uint8_t sig[k_signature_bytes]) noexcept {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    if (!SHA256(static_cast<const unsigned char *>(data), len, digest)) return -1;

    // EVP_PKEY_verify takes a DER ECDSA-Sig-Value; build it from r||s with OpenSSL's own encoder.
    ECDSA_SIG *s = ECDSA_SIG_new();
    if (!s) return -1;
    BIGNUM *r_bn = BN_bin2bn(sig, 32, nullptr);
    BIGNUM *s_bn = BN_bin2bn(sig + 32, 32, nullptr);
    if (!r_bn || !s_bn || ECDSA_SIG_set0(s, r_bn, s_bn) != 1) {
        BN_free(r_bn);
        BN_free(s_bn);
        ECDSA_SIG_free(s);
        return -1;
    }
    unsigned char der[80];  // 2 + 2 * (2 + 33) = 72 at most
    unsigned char *p = der;
    const int der_len = i2d_ECDSA_SIG(s, &p);
    ECDSA_SIG_free(s);
    if (der_len <= 0 || der_len > static_cast<int>(sizeof der)) return -1;

    EVP_PKEY_CTX *ctx = t_ctx_cache.get(key);
    if (!ctx) return -1;
    const int rc = EVP_PKEY_verify(ctx, der, static_cast<size_t>(der_len), digest, sizeof digest);
    if (rc != 1) ERR_clear_error();  // a bad signature is an answer, not an error to leave on the thread's queue
    return rc == 1 ? 1 : 0;
}

}  // namespace cotter::core::jwt::es256

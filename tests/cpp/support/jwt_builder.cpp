/**
 * @file jwt_builder.cpp
 * @brief Test keys and tokens with OpenSSL (independent of the verifier's own code paths where it matters:
 * signatures are produced by OpenSSL and converted from DER with OpenSSL's ECDSA_SIG accessors).
 */
#include "support/jwt_builder.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <stdexcept>

#include "common/base64.hpp"

namespace cotter::test {
namespace {

[[noreturn]] void die(const char *what) { throw std::runtime_error(std::string("jwt_builder: ") + what); }

const char *openssl_group(const std::string &curve) {
    if (curve == "P-256") return "prime256v1";
    if (curve == "P-384") return "secp384r1";
    if (curve == "P-521") return "secp521r1";
    if (curve == "secp256k1") return "secp256k1";
    die("unknown curve");
}

size_t field_bytes(const std::string &curve) {
    if (curve == "P-384") return 48;
    if (curve == "P-521") return 66;
    return 32;
}

std::string bn_bytes(const BIGNUM *bn, size_t width) {
    std::string out(width, '\0');
    if (BN_bn2binpad(bn, reinterpret_cast<unsigned char *>(out.data()), static_cast<int>(width)) < 0) die("bn2binpad");
    return out;
}

const EVP_MD *default_md(const std::string &curve) {
    if (curve == "P-384") return EVP_sha384();
    if (curve == "P-521") return EVP_sha512();
    return EVP_sha256();
}

}  // namespace

std::string b64url(const std::string &bytes) { return core::base64::url_encode(bytes); }
std::string b64std(const std::string &bytes) { return core::base64::std_encode(bytes); }

ec_key::ec_key(const std::string &kid, const std::string &curve) : kid_(kid), curve_(curve) {
    pkey_ = EVP_EC_gen(openssl_group(curve));
    if (!pkey_) die("EVP_EC_gen");
    BIGNUM *bx = nullptr, *by = nullptr;
    if (!EVP_PKEY_get_bn_param(pkey_, OSSL_PKEY_PARAM_EC_PUB_X, &bx) ||
        !EVP_PKEY_get_bn_param(pkey_, OSSL_PKEY_PARAM_EC_PUB_Y, &by))
        die("get pub x/y");
    x_ = bn_bytes(bx, field_bytes(curve));
    y_ = bn_bytes(by, field_bytes(curve));
    BN_free(bx);
    BN_free(by);
}

ec_key::~ec_key() { EVP_PKEY_free(pkey_); }

std::string ec_key::public_pem() const {
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey_);
    char *data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
}

std::string ec_key::public_der() const {
    unsigned char *der = nullptr;
    int n = i2d_PUBKEY(pkey_, &der);
    if (n <= 0) die("i2d_PUBKEY");
    std::string out(reinterpret_cast<char *>(der), static_cast<size_t>(n));
    OPENSSL_free(der);
    return out;
}

std::string ec_key::jwk(const std::string &extra) const {
    std::string j = "{\"kty\":\"EC\",\"crv\":\"" + curve_ + "\",\"x\":\"" + b64url(x_) + "\",\"y\":\"" + b64url(y_) + "\"";
    if (!kid_.empty()) j += ",\"kid\":\"" + kid_ + "\"";
    if (!extra.empty()) j += "," + extra;
    return j + "}";
}

std::string ec_key::sign_der(const std::string &data, const EVP_MD *md) const {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = 0;
    if (EVP_DigestSignInit(ctx, nullptr, md ? md : default_md(curve_), nullptr, pkey_) != 1 ||
        EVP_DigestSign(ctx, nullptr, &n, reinterpret_cast<const unsigned char *>(data.data()), data.size()) != 1)
        die("DigestSign size");
    std::string sig(n, '\0');
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char *>(sig.data()), &n,
                       reinterpret_cast<const unsigned char *>(data.data()), data.size()) != 1)
        die("DigestSign");
    EVP_MD_CTX_free(ctx);
    sig.resize(n);
    return sig;
}

std::string ec_key::sign_raw(const std::string &data, const EVP_MD *md) const {
    const std::string der = sign_der(data, md);
    const unsigned char *p = reinterpret_cast<const unsigned char *>(der.data());
    ECDSA_SIG *sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    if (!sig) die("d2i_ECDSA_SIG");
    const size_t w = field_bytes(curve_);
    std::string out = bn_bytes(ECDSA_SIG_get0_r(sig), w) + bn_bytes(ECDSA_SIG_get0_s(sig), w);
    ECDSA_SIG_free(sig);
    return out;
}

std::string jwks(const std::vector<std::string> &jwk_texts) {
    std::string j = "{\"keys\":[";
    for (size_t i = 0; i < jwk_texts.size(); ++i) j += (i ? "," : "") + jwk_texts[i];
    return j + "]}";
}

std::string signing_input(const std::string &header_json, const std::string &payload_json) {
    return b64url(header_json) + "." + b64url(payload_json);
}

std::string with_signature(const std::string &input, const std::string &signature) {
    return input + "." + b64url(signature);
}

std::string sign_es256(const ec_key &key, const std::string &header_json, const std::string &payload_json) {
    const std::string input = signing_input(header_json, payload_json);
    return with_signature(input, key.sign_raw(input, EVP_sha256()));
}

std::string sign_hmac(const std::string &alg, const std::string &secret, const std::string &header_json,
                      const std::string &payload_json) {
    const EVP_MD *md = alg == "HS384" ? EVP_sha384() : alg == "HS512" ? EVP_sha512() : EVP_sha256();
    const std::string input = signing_input(header_json, payload_json);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const unsigned char empty = 0;
    if (!HMAC(md, secret.empty() ? static_cast<const void *>(&empty) : static_cast<const void *>(secret.data()), static_cast<int>(secret.size()),
              reinterpret_cast<const unsigned char *>(input.data()), input.size(), mac, &n))
        die("HMAC");
    return with_signature(input, std::string(reinterpret_cast<char *>(mac), n));
}

std::string header_for(const std::string &kid) {
    if (kid.empty()) return R"({"alg":"ES256","typ":"JWT"})";
    return R"({"alg":"ES256","kid":")" + kid + R"(","typ":"JWT"})";
}

std::string payload_for(int64_t now, const std::string &audience, const std::string &issuer) {
    return R"({"sub":"09efb1b-e50f-41fd-8530-88ffbcd80f59","client_user_id":"09efb1b-e50f-41fd-8530-88ffbcd80f59",)"
           R"("authentication_method":"OTP","type":"client_access_token","identifier":"putri@cotter.app",)"
           R"("scope":"access","aud":")" +
           audience + R"(","exp":)" + std::to_string(now + 3600) + R"(,"iat":)" + std::to_string(now) +
           R"(,"jti":"47fba8ba-0000-4000-a22c-a2b8b72e8b98","iss":")" + issuer + R"("})";
}

ed25519_key::ed25519_key() {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
    if (!ctx || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey_) != 1) die("ed25519 keygen");
    EVP_PKEY_CTX_free(ctx);
}

ed25519_key::~ed25519_key() { EVP_PKEY_free(pkey_); }

std::string ed25519_key::public_b64() const {
    unsigned char raw[32];
    size_t n = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(pkey_, raw, &n) != 1) die("raw public key");
    return b64std(std::string(reinterpret_cast<char *>(raw), n));
}

std::string ed25519_key::sign_b64(const std::string &message) const {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[64];
    size_t n = sizeof sig;
    if (EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pkey_) != 1 ||
        EVP_DigestSign(ctx, sig, &n, reinterpret_cast<const unsigned char *>(message.data()), message.size()) != 1)
        die("ed25519 sign");
    EVP_MD_CTX_free(ctx);
    return b64std(std::string(reinterpret_cast<char *>(sig), n));
}

}  // namespace cotter::test

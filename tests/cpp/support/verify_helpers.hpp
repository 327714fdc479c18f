/**
 * @file verify_helpers.hpp
 * @brief Test helper: RAII around the C ABI verifier with a pinned clock, so every test goes through the same
 * entry point applications use (argument checks, barrier, error objects).
 */
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "cotter.h"

namespace cotter::test {

constexpr const char *k_audience = "aaf7319d-8f91-4752-a23f-c43ba862d548";
constexpr int64_t k_now = 1700000000;

/// A clock the test moves: passed as clock_payload.
struct test_clock {
    std::atomic<int64_t> now{k_now};
    static int64_t read(void *payload) { return static_cast<test_clock *>(payload)->now.load(); }
};

struct verifier_deleter {
    void operator()(cotter_jwt_verifier *v) const noexcept { cotter_jwt_verifier_free(v); }
};
struct claims_deleter {
    void operator()(cotter_claims *c) const noexcept { cotter_claims_free(c); }
};
using verifier_ptr = std::unique_ptr<cotter_jwt_verifier, verifier_deleter>;
using claims_ptr = std::unique_ptr<cotter_claims, claims_deleter>;

/// Options with a static JWKS (or remote URL when `url` is set) and the clock.
inline cotter_jwt_verifier_options options_for(test_clock &clock, const std::string *jwks_json,
                                               const std::string *url = nullptr) {
    cotter_jwt_verifier_options o;
    if (cotter_jwt_verifier_options_init(&o, COTTER_JWT_VERIFIER_OPTIONS_VERSION) != COTTER_OK)
        throw std::runtime_error("options_init");
    o.audience = k_audience;
    if (jwks_json) o.jwks_json = jwks_json->c_str();
    if (url) o.jwks_url = url->c_str();
    o.clock = &test_clock::read;
    o.clock_payload = &clock;
    return o;
}

/// Creates a verifier; throws with the status name when creation fails.
inline verifier_ptr make_verifier(const cotter_jwt_verifier_options &o) {
    cotter_jwt_verifier *v = nullptr;
    cotter_error *e = nullptr;
    int rc = cotter_jwt_verifier_new(&v, &o, &e);
    if (rc != COTTER_OK) {
        std::string msg = std::string(cotter_status_name(rc)) + ": " + cotter_error_message(e);
        cotter_error_free(e);
        throw std::runtime_error(msg);
    }
    return verifier_ptr(v);
}

/// Status of creating a verifier (for tests of bad key sets and options).
inline int create_status(const cotter_jwt_verifier_options &o) {
    cotter_jwt_verifier *v = nullptr;
    int rc = cotter_jwt_verifier_new(&v, &o, nullptr);
    cotter_jwt_verifier_free(v);
    return rc;
}

/// Status of verifying `token`; checks on the way that failures carry an error object with the same code and
/// never return claims.
inline int verify_status(cotter_jwt_verifier *v, const std::string &token, claims_ptr *claims_out = nullptr) {
    cotter_claims *c = nullptr;
    cotter_error *e = nullptr;
    int rc = cotter_jwt_verify(&c, v, token.data(), token.size(), &e);
    if (rc != COTTER_OK) {
        if (c != nullptr) throw std::runtime_error("claims returned for a rejected token");
        if (e == nullptr || cotter_error_code(e) != rc) throw std::runtime_error("error object missing or wrong");
        cotter_error_free(e);
    } else if (e != nullptr || c == nullptr) {
        throw std::runtime_error("success without claims, or with an error object");
    }
    if (claims_out) claims_out->reset(c);
    else cotter_claims_free(c);
    return rc;
}

/// "COTTER_EJWT_ALG"-style name, for readable doctest failures.
inline std::string name_of(int status) { return cotter_status_name(status); }

}  // namespace cotter::test

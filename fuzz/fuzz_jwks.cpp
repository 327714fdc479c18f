/**
 * @file fuzz_jwks.cpp
 * @brief JWKS parsing (cotter_jwt_verifier_new with a static `jwks_json`) on arbitrary documents. Invariants:
 * documented codes only; a verifier built from a fuzzed key set accepts one of the harness's signed tokens only
 * when that key set really holds the signing key (its x and y, canonical base64url); nothing else changes what
 * verifies (a key is never made up from `d`, `n`, a wrong curve or a half-parsed member).
 */
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "jwt_check.hpp"

namespace {

struct signed_token {
    std::string token, x, y;
};
std::vector<signed_token> g_tokens;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    using namespace cotter_fuzz;
    const std::string payload = valid_payloads()[0];
    for (int k = 0; k < 2; ++k) {
        std::string x, y;
        ec_xy(ec_key(k), x, y);
        g_tokens.push_back({make_token(k, payload), b64url(x), b64url(y)});
        g_tokens.push_back({make_token(k, payload, /*with_kid=*/false), b64url(x), b64url(y)});
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    using namespace cotter_fuzz;
    const std::string jwks(reinterpret_cast<const char *>(data), size);
    cotter_jwt_verifier_options o;
    FUZZ_CHECK(cotter_jwt_verifier_options_init(&o, COTTER_JWT_VERIFIER_OPTIONS_VERSION) == COTTER_OK);
    o.audience = k_audience;
    o.jwks_json = jwks.c_str();  // embedded NULs end the document, as for any C caller
    o.clock = fixed_clock;
    cotter_jwt_verifier *v = nullptr;
    cotter_error *err = nullptr;
    const int rc = cotter_jwt_verifier_new(&v, &o, &err);
    FUZZ_CHECK(rc == COTTER_OK || rc == COTTER_EJWKS_INVALID || rc == COTTER_EINVAL || rc == COTTER_ENOMEM);
    FUZZ_CHECK((rc == COTTER_OK) == (v != nullptr) && (rc == COTTER_OK) == (err == nullptr));
    if (err) FUZZ_CHECK(cotter_error_code(err) == rc && cotter_error_message(err)[0] != '\0');
    cotter_error_free(err);
    if (!v) return 0;

    const std::string doc(jwks.c_str());
    for (const signed_token &t : g_tokens) {
        const int vr = cotter_jwt_verify(nullptr, v, t.token.data(), t.token.size(), nullptr);
        FUZZ_CHECK(jwt_harness::documented_status(vr));
        if (vr == COTTER_OK) FUZZ_CHECK(doc.find(t.x) != std::string::npos && doc.find(t.y) != std::string::npos);
    }
    cotter_jwt_verifier_free(v);
    return 0;
}

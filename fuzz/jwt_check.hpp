/**
 * @file jwt_check.hpp
 * @brief The verifier set-up and the acceptance invariants shared by fuzz_jwt_verify and fuzz_jwt_mutate.
 *
 * Every input is verified three times: by a verifier without the token cache, and twice by one with it (miss,
 * then hit). All three must agree. An accepted token must be one the harness signed: its signing input must be
 * byte-identical to one we signed and its signature must verify under OpenSSL alone (fuzz/test_keys.hpp).
 * Every failure must carry a documented status and an error object whose message does not echo the token.
 */
#pragma once

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cotter.h"
#include "test_keys.hpp"

namespace cotter_fuzz {

inline int64_t fixed_clock(void *) { return k_now; }

struct jwt_harness {
    cotter_jwt_verifier *plain = nullptr;
    cotter_jwt_verifier *cached = nullptr;
    std::vector<std::string> valid_tokens;        // signed at start-up: (payload, key) pairs
    std::set<std::string> signed_inputs;          // header.payload of every token we signed

    jwt_harness() {
        const std::string jwks = test_jwks();
        plain = make_verifier(jwks, 0);
        cached = make_verifier(jwks, 64);
        for (const std::string &payload : valid_payloads())
            for (int k = 0; k < 2; ++k) {
                std::string t = make_token(k, payload);
                signed_inputs.insert(t.substr(0, t.rfind('.')));
                valid_tokens.push_back(std::move(t));
            }
        // Controls: the harness is useless if the valid tokens do not verify.
        for (const std::string &t : valid_tokens) FUZZ_CHECK(check(t) == COTTER_OK);
    }

    static cotter_jwt_verifier *make_verifier(const std::string &jwks, size_t cache) {
        cotter_jwt_verifier_options o;
        FUZZ_CHECK(cotter_jwt_verifier_options_init(&o, COTTER_JWT_VERIFIER_OPTIONS_VERSION) == COTTER_OK);
        o.audience = k_audience;
        o.issuer = k_issuer;
        o.jwks_json = jwks.c_str();
        o.token_cache_size = cache;
        o.clock = fixed_clock;
        cotter_jwt_verifier *v = nullptr;
        FUZZ_CHECK(cotter_jwt_verifier_new(&v, &o, nullptr) == COTTER_OK && v);
        return v;
    }

    static bool documented_status(int rc) {
        return rc == COTTER_OK || (rc <= COTTER_EJWT_MALFORMED && rc >= COTTER_EJWT_MISSING_CLAIM) ||
               rc == COTTER_EJWKS_INVALID || rc == COTTER_EJWKS_UNAVAILABLE || rc == COTTER_EINVAL || rc == COTTER_ENOMEM;
    }

    /// Verifies `token` with every verifier, checks every invariant, and returns the common status.
    int check(std::string_view token) const {
        cotter_claims *claims = nullptr;
        cotter_error *err = nullptr;
        const int rc = cotter_jwt_verify(&claims, plain, token.data(), token.size(), &err);
        FUZZ_CHECK(documented_status(rc));
        if (rc == COTTER_OK) {
            FUZZ_CHECK(claims != nullptr && err == nullptr);
            check_accepted(token, claims);
        } else {
            FUZZ_CHECK(claims == nullptr && err != nullptr && cotter_error_code(err) == rc);
            const char *msg = cotter_error_message(err);
            FUZZ_CHECK(msg && msg[0]);
            // A message may quote short header values (a kid), never a token. Only token-shaped inputs are
            // checked: the fuzzer quickly learns to feed the static message texts back as input.
            if (token.size() >= 40 && std::count(token.begin(), token.end(), '.') == 2)
                FUZZ_CHECK(std::string_view(msg).find(token) == std::string_view::npos);
        }
        cotter_claims_free(claims);
        cotter_error_free(err);

        for (int round = 0; round < 2; ++round) {  // cache miss, then (for accepted tokens) a hit
            cotter_claims *c = nullptr;
            const int rc2 = cotter_jwt_verify(round ? &c : nullptr, cached, token.data(), token.size(), nullptr);
            FUZZ_CHECK(rc2 == rc);
            if (c) check_accepted(token, c);
            cotter_claims_free(c);
        }
        return rc;
    }

    void check_accepted(std::string_view token, const cotter_claims *claims) const {
        const size_t d1 = token.find('.'), d2 = token.rfind('.');
        FUZZ_CHECK(d1 != std::string_view::npos && d2 != d1 && token.find('.', d1 + 1) == d2);
        const std::string_view signing_input = token.substr(0, d2);
        FUZZ_CHECK(signed_inputs.count(std::string(signing_input)) == 1);
        std::string sig, payload;
        FUZZ_CHECK(b64url_decode(token.substr(d2 + 1), sig));
        FUZZ_CHECK(es256_verify(0, signing_input, sig) || es256_verify(1, signing_input, sig));
        // The claims are the signed payload, byte for byte.
        FUZZ_CHECK(b64url_decode(token.substr(d1 + 1, d2 - d1 - 1), payload));
        size_t len = 0;
        const char *json = cotter_claims_json(claims, &len);
        FUZZ_CHECK(json && std::string_view(json, len) == payload);
        FUZZ_CHECK(cotter_claims_exp(claims) == 1700003600);
        FUZZ_CHECK(cotter_claims_iss(claims) && std::strcmp(cotter_claims_iss(claims), k_issuer) == 0);
        bool has_aud = false;
        for (size_t i = 0; i < cotter_claims_audience_count(claims); ++i)
            has_aud = has_aud || std::strcmp(cotter_claims_audience(claims, i), k_audience) == 0;
        FUZZ_CHECK(has_aud);
        FUZZ_CHECK(cotter_claims_audience(claims, cotter_claims_audience_count(claims)) == nullptr);
        // Touch every getter (ASan checks the borrowed strings).
        for (const char *s : {cotter_claims_sub(claims), cotter_claims_identifier(claims),
                              cotter_claims_authentication_method(claims), cotter_claims_scope(claims),
                              cotter_claims_type(claims), cotter_claims_client_user_id(claims), cotter_claims_jti(claims),
                              cotter_claims_auth_time(claims), cotter_claims_kid(claims)})
            if (s) (void)std::strlen(s);
    }
};

}  // namespace cotter_fuzz

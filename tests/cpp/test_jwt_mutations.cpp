/**
 * @file test_jwt_mutations.cpp
 * @brief Property: no mutation of a valid token verifies. Every single-byte substitution, deletion and
 * insertion, and thousands of random multi-byte mutations, must be rejected with a JWT status (never OK, never a
 * crash or an internal error), with and without the token cache.
 */
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "support/jwt_builder.hpp"
#include "support/verify_helpers.hpp"

using namespace cotter::test;

namespace {

bool is_jwt_rejection(int rc) { return rc <= COTTER_EJWT_MALFORMED && rc >= COTTER_EJWT_MISSING_CLAIM; }

void check_all_mutations(size_t cache) {
    test_clock clock;
    ec_key key("k");
    const std::string set = jwks({key.jwk()});
    auto o = options_for(clock, &set);
    o.token_cache_size = cache;
    auto v = make_verifier(o);
    const std::string good = sign_es256(key, header_for("k"), payload_for(k_now, k_audience));
    REQUIRE(verify_status(v.get(), good) == COTTER_OK);
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n\x00\xff";
    size_t checked = 0, bad = 0;
    const auto expect_rejected = [&](const std::string &tok) {
        if (tok == good) return;
        const int rc = cotter_jwt_verify(nullptr, v.get(), tok.data(), tok.size(), nullptr);
        ++checked;
        if (!is_jwt_rejection(rc)) {
            ++bad;
            if (bad < 5) MESSAGE("mutation accepted or odd status " << cotter_status_name(rc) << ": " << tok);
        }
    };
    for (size_t i = 0; i < good.size(); ++i) {
        for (char c : alphabet) {
            std::string t = good;
            t[i] = c;
            expect_rejected(t);
        }
        expect_rejected(good.substr(0, i) + good.substr(i + 1));
        expect_rejected(good.substr(0, i) + "A" + good.substr(i));
    }
    std::mt19937 rng(12345);
    for (int n = 0; n < 5000; ++n) {
        std::string t = good;
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits; ++e) t[rng() % t.size()] = static_cast<char>(rng() & 0xff);
        expect_rejected(t);
    }
    CHECK(checked > 40000);
    CHECK(bad == 0);
    CHECK(verify_status(v.get(), good) == COTTER_OK);
}

}  // namespace

TEST_CASE("no mutation of a valid token verifies (token cache off)") { check_all_mutations(0); }
TEST_CASE("no mutation of a valid token verifies (token cache on)") { check_all_mutations(64); }

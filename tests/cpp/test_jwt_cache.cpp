/**
 * @file test_jwt_cache.cpp
 * @brief The verified-token cache: hits share the same claims, entries die at exp + leeway and with their key,
 * the cache is bounded (LRU), and only exact token bytes hit.
 */
#include <doctest/doctest.h>

#include <string>

#include "jwt/token_cache.hpp"
#include "jwt/verifier.hpp"
#include "support/http_server.hpp"
#include "support/jwt_builder.hpp"
#include "support/verify_helpers.hpp"

using namespace cotter::test;
namespace jwt = cotter::core::jwt;

namespace {

struct cache_fixture {
    ec_key key{"k1"};
    test_clock clock;
    std::string set = jwks({key.jwk()});
    cotter_jwt_verifier_options opts = options_for(clock, &set);
    cache_fixture() { opts.token_cache_size = 8; }
    std::string token(int64_t exp_in = 3600) const {
        return sign_es256(key, header_for("k1"),
                          R"({"iss":"https://www.cotter.app","aud":")" + std::string(k_audience) + R"(","sub":"u","exp":)" +
                              std::to_string(clock.now + exp_in) + "}");
    }
};

jwt::verifier_config config_for(test_clock &clock, const std::string &set, size_t cache) {
    jwt::verifier_config c;
    c.audience = k_audience;
    c.jwks_json = set;
    c.token_cache_size = cache;
    c.clock = [&clock] { return clock.now.load(); };
    return c;
}

}  // namespace

TEST_CASE("a hit returns the very same claims object (no copy)") {
    cache_fixture f;
    auto v = make_verifier(f.opts);
    const std::string tok = f.token();
    claims_ptr a, b;
    REQUIRE(verify_status(v.get(), tok, &a) == COTTER_OK);
    REQUIRE(verify_status(v.get(), tok, &b) == COTTER_OK);
    CHECK(a.get() != b.get());                                           // two handles...
    CHECK(cotter_claims_json(a.get(), nullptr) == cotter_claims_json(b.get(), nullptr));  // ...one shared object
    CHECK(std::string(cotter_claims_sub(b.get())) == "u");
    // Claims outlive the verifier and the cache.
    v.reset();
    CHECK(std::string(cotter_claims_sub(a.get())) == "u");
}

TEST_CASE("without the cache every verification builds its own claims") {
    cache_fixture f;
    f.opts.token_cache_size = 0;
    auto v = make_verifier(f.opts);
    const std::string tok = f.token();
    claims_ptr a, b;
    REQUIRE(verify_status(v.get(), tok, &a) == COTTER_OK);
    REQUIRE(verify_status(v.get(), tok, &b) == COTTER_OK);
    CHECK(cotter_claims_json(a.get(), nullptr) != cotter_claims_json(b.get(), nullptr));
}

TEST_CASE("an entry never outlives exp + leeway") {
    cache_fixture f;
    auto v = make_verifier(f.opts);
    const std::string tok = f.token(10);
    REQUIRE(verify_status(v.get(), tok) == COTTER_OK);
    f.clock.now += 14;  // exp + 4: still inside the 5 s leeway
    CHECK(verify_status(v.get(), tok) == COTTER_OK);
    f.clock.now += 1;  // exp + 5: expired
    CHECK(name_of(verify_status(v.get(), tok)) == "COTTER_EJWT_EXPIRED");
}

TEST_CASE("an entry dies with its key when a refetch rotates the key out") {
    cache_fixture f;
    ec_key next("k2");
    http_server server;
    server.respond_json(f.set);
    const std::string url = server.url();
    auto o = options_for(f.clock, nullptr, &url);
    o.token_cache_size = 8;
    o.jwks_max_age_ms = 1000;
    o.jwks_cooldown_ms = 1000;
    auto v = make_verifier(o);
    const std::string tok = f.token();
    REQUIRE(verify_status(v.get(), tok) == COTTER_OK);
    REQUIRE(verify_status(v.get(), tok) == COTTER_OK);
    SUBCASE("same key served again: the entry stays valid across the refetch") {
        f.clock.now += 2;
        CHECK(verify_status(v.get(), tok) == COTTER_OK);
        CHECK(server.requests() == 2);
    }
    SUBCASE("key removed: the cached token is rejected") {
        server.respond_json(jwks({next.jwk()}));
        f.clock.now += 2;
        CHECK(name_of(verify_status(v.get(), tok)) == "COTTER_EJWT_KEY_NOT_FOUND");
        CHECK(server.requests() == 2);
    }
}

TEST_CASE("the cache is bounded") {
    cache_fixture f;
    const std::string set = f.set;
    jwt::verifier v(config_for(f.clock, set, 4));
    for (int i = 0; i < 20; ++i) {
        f.clock.now += 1;
        REQUIRE(v.verify(f.token(), nullptr, nullptr) == COTTER_OK);
        CHECK(v.cached_tokens() <= 4);
    }
    CHECK(v.cached_tokens() == 4);
    jwt::verifier off(config_for(f.clock, set, 0));
    REQUIRE(off.verify(f.token(), nullptr, nullptr) == COTTER_OK);
    CHECK(off.cached_tokens() == 0);
}

TEST_CASE("failed verifications are never cached") {
    cache_fixture f;
    jwt::verifier v(config_for(f.clock, f.set, 8));
    std::string tok = f.token();
    tok[tok.size() - 3] = tok[tok.size() - 3] == 'A' ? 'B' : 'A';
    CHECK(v.verify(tok, nullptr, nullptr) == COTTER_EJWT_SIGNATURE);
    CHECK(v.cached_tokens() == 0);
}

TEST_CASE("token_cache: LRU order, exact-bytes keys, deadline and key checks") {
    ec_key k("k");
    std::shared_ptr<const jwt::key_set> ks;
    REQUIRE(jwt::parse_jwks(jwks({k.jwk()}), nullptr, ks, nullptr) == COTTER_OK);
    std::shared_ptr<const jwt::key_set> other;
    REQUIRE(jwt::parse_jwks(jwks({ec_key("k").jwk()}), nullptr, other, nullptr) == COTTER_OK);
    auto claims = std::make_shared<jwt::claims>();
    jwt::token_cache cache(2);
    const auto find = [&](const char *tok, int64_t now, const jwt::key_set &set) {
        std::shared_ptr<const jwt::claims> got;
        const bool hit = cache.find(tok, now, set, &got);
        CHECK(hit == (got != nullptr));
        return got;
    };
    cache.insert("A", claims, ks->keys[0], 100);
    cache.insert("B", claims, ks->keys[0], 100);
    CHECK(find("A", 0, *ks) == claims);  // A is now the most recent
    cache.insert("C", claims, ks->keys[0], 100);  // evicts B
    CHECK(find("B", 0, *ks) == nullptr);
    CHECK(find("A", 0, *ks) == claims);
    CHECK(cache.find("C", 0, *ks, nullptr));
    CHECK(find("C ", 0, *ks) == nullptr);
    CHECK(find("", 0, *ks) == nullptr);
    CHECK(find("A", 100, *ks) == nullptr);  // deadline reached: dropped
    CHECK(cache.size() == 1);
    CHECK(find("C", 0, *other) == nullptr);  // its key is not in this set: dropped
    CHECK(cache.size() == 0);
}

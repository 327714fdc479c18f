/**
 * @file test_jwt_concurrency.cpp
 * @brief Many threads on one shared verifier: remote JWKS with misses, rotation and refetches under load, with
 * and without the token cache. Run under TSan (label "concurrency").
 */
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/http_server.hpp"
#include "support/jwt_builder.hpp"
#include "support/verify_helpers.hpp"

using namespace cotter::test;

namespace {

void hammer(size_t cache_size) {
    test_clock clock;
    ec_key k1("k1"), k2("k2");
    http_server server;
    canned_response r;
    r.body = jwks({k1.jwk()});
    r.delay_ms = 20;
    server.respond(r);
    const std::string url = server.url();
    auto o = options_for(clock, nullptr, &url);
    o.token_cache_size = cache_size;
    o.jwks_cooldown_ms = 1000;
    o.jwks_max_age_ms = 2000;
    auto v = make_verifier(o);

    const std::string good1 = sign_es256(k1, header_for("k1"), payload_for(k_now, k_audience));
    const std::string good2 = sign_es256(k2, header_for("k2"), payload_for(k_now, k_audience));
    std::string bad = good1;
    bad[bad.size() - 4] = bad[bad.size() - 4] == 'A' ? 'B' : 'A';

    constexpr int threads = 8, rounds = 150;
    std::atomic<int> failures{0};
    std::atomic<bool> rotated{false};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < rounds; ++i) {
                claims_ptr c;
                int rc = verify_status(v.get(), good1, (i % 2) ? &c : nullptr);
                if (rc != COTTER_OK) failures++;
                if (c && std::string(cotter_claims_sub(c.get())) != "09efb1b-e50f-41fd-8530-88ffbcd80f59") failures++;
                if (verify_status(v.get(), bad) != COTTER_EJWT_SIGNATURE) failures++;
                // Random kids: misses, refetches limited by the cooldown.
                const std::string random = sign_es256(k1, header_for("r" + std::to_string(t * rounds + i)), payload_for(k_now, k_audience));
                if (i % 25 == 0 && verify_status(v.get(), random) != COTTER_EJWT_KEY_NOT_FOUND) failures++;
                // k2 verifies once rotated in and fetched; before that, KEY_NOT_FOUND is the only other answer.
                const int rc2 = verify_status(v.get(), good2);
                if (rc2 != COTTER_OK && rc2 != COTTER_EJWT_KEY_NOT_FOUND) failures++;
                if (t == 0 && i == rounds / 3) {
                    canned_response both;
                    both.body = jwks({k1.jwk(), k2.jwk()});
                    both.delay_ms = 20;
                    server.respond(both);
                    rotated = true;
                }
                if (t == 0 && i % 10 == 0) clock.now += 1;  // time moves: staleness and cooldowns expire
            }
        });
    }
    for (auto &th : pool) th.join();
    CHECK(failures.load() == 0);
    CHECK(rotated.load());
    // After the load, the rotated key is there for everyone.
    clock.now += 5;
    CHECK(verify_status(v.get(), good2) == COTTER_OK);
    // Fetches stayed bounded by time, not by the number of requests (~60 s of fake time, 1 s cooldown).
    CHECK(server.requests() <= 80);
}

}  // namespace

TEST_CASE("shared verifier, remote JWKS with misses and rotation, token cache off") { hammer(0); }
TEST_CASE("shared verifier, remote JWKS with misses and rotation, token cache on") { hammer(64); }

TEST_CASE("static JWKS, many threads, cache on, many distinct tokens") {
    test_clock clock;
    clock.now = k_now + 100;  // every token below is issued in the past
    ec_key k("k");
    const std::string set = jwks({k.jwk()});
    auto o = options_for(clock, &set);
    o.token_cache_size = 300;  // sharded
    auto v = make_verifier(o);
    std::vector<std::string> tokens;
    for (int i = 0; i < 64; ++i)
        tokens.push_back(sign_es256(k, header_for("k"), payload_for(k_now + i, k_audience)));
    std::atomic<int> failures{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 8; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < 400; ++i) {
                const std::string &tok = tokens[(t * 7 + i) % tokens.size()];
                if (cotter_jwt_verify(nullptr, v.get(), tok.data(), tok.size(), nullptr) != COTTER_OK) failures++;
            }
        });
    for (auto &th : pool) th.join();
    CHECK(failures.load() == 0);
}

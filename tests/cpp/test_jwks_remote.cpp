/**
 * @file test_jwks_remote.cpp
 * @brief Remote JWKS against a real local HTTP server through the real libcurl transport: lazy first fetch,
 * Cache-Control max-age bounded by jwks_max_age_ms, kid-miss refetch with cooldown, single-flight, last-good keys
 * across outages, refresh(), logging without secrets.
 */
#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/http_server.hpp"
#include "support/jwt_builder.hpp"
#include "support/verify_helpers.hpp"

using namespace cotter::test;

namespace {

struct log_sink {
    std::mutex mu;
    std::vector<std::string> lines;
    static void write(int level, const char *message, void *payload) {
        auto *self = static_cast<log_sink *>(payload);
        std::lock_guard<std::mutex> lock(self->mu);
        self->lines.push_back(std::to_string(level) + " " + message);
    }
    bool contains(const std::string &needle) {
        std::lock_guard<std::mutex> lock(mu);
        for (const auto &l : lines)
            if (l.find(needle) != std::string::npos) return true;
        return false;
    }
};

struct remote_fixture {
    ec_key key{"k1"};
    test_clock clock;
    http_server server;
    std::string url = server.url();
    log_sink logs;
    cotter_jwt_verifier_options opts = options_for(clock, nullptr, &url);

    remote_fixture() {
        server.respond_json(jwks({key.jwk()}));
        opts.log = &log_sink::write;
        opts.log_payload = &logs;
    }
    std::string token(const ec_key &k) const { return sign_es256(k, header_for(k.kid()), payload_for(clock.now, k_audience)); }
    std::string token() const { return token(key); }
};

}  // namespace

TEST_CASE("the first verification fetches lazily, then keys are reused while fresh") {
    remote_fixture f;
    auto v = make_verifier(f.opts);
    CHECK(f.server.requests() == 0);
    CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
    CHECK(f.server.requests() == 1);
    for (int i = 0; i < 20; ++i) CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
    f.clock.now += 599;  // default max age 600 s
    CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
    CHECK(f.server.requests() == 1);
    f.clock.now += 2;
    CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
    CHECK(f.server.requests() == 2);
}

TEST_CASE("Cache-Control max-age lowers the max age, never raises it") {
    remote_fixture f;
    SUBCASE("max-age=60 below jwks_max_age_ms") {
        f.server.respond_json(jwks({f.key.jwk()}), "public, max-age=60");
        f.opts.jwks_cooldown_ms = 1000;
        auto v = make_verifier(f.opts);
        CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
        f.clock.now += 59;
        CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
        CHECK(f.server.requests() == 1);
        f.clock.now += 2;
        CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
        CHECK(f.server.requests() == 2);
    }
    SUBCASE("max-age=86400 is capped by jwks_max_age_ms") {
        f.server.respond_json(jwks({f.key.jwk()}), "max-age=86400");
        f.opts.jwks_max_age_ms = 10000;
        f.opts.jwks_cooldown_ms = 1000;
        auto v = make_verifier(f.opts);
        CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
        f.clock.now += 11;
        CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
        CHECK(f.server.requests() == 2);
    }
    SUBCASE("no-store makes keys stale at once, but the cooldown still spaces fetches") {
        f.server.respond_json(jwks({f.key.jwk()}), "no-store");
        f.opts.jwks_cooldown_ms = 5000;
        auto v = make_verifier(f.opts);
        for (int i = 0; i < 10; ++i) CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
        CHECK(f.server.requests() == 1);
        f.clock.now += 6;
        for (int i = 0; i < 10; ++i) CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
        CHECK(f.server.requests() == 2);
    }
    SUBCASE("s-maxage is not max-age") {
        f.server.respond_json(jwks({f.key.jwk()}), "s-maxage=1");
        f.opts.jwks_cooldown_ms = 1000;
        auto v = make_verifier(f.opts);
        CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
        f.clock.now += 5;
        CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
        CHECK(f.server.requests() == 1);
    }
}

TEST_CASE("unknown kids: one refetch per cooldown, and a rotated-out key stops verifying") {
    remote_fixture f;
    ec_key next("k2");
    f.opts.jwks_cooldown_ms = 10000;
    auto v = make_verifier(f.opts);
    REQUIRE(verify_status(v.get(), f.token()) == COTTER_OK);
    f.server.respond_json(jwks({next.jwk()}));  // k1 rotated out, k2 in
    CHECK(verify_status(v.get(), f.token(next)) == COTTER_EJWT_KEY_NOT_FOUND);
    CHECK(f.server.requests() == 1);
    f.clock.now += 11;
    CHECK(verify_status(v.get(), f.token(next)) == COTTER_OK);
    CHECK(f.server.requests() == 2);
    CHECK(verify_status(v.get(), f.token()) == COTTER_EJWT_KEY_NOT_FOUND);  // within the cooldown again
    CHECK(f.server.requests() == 2);
}

TEST_CASE("single-flight: concurrent misses share one fetch") {
    remote_fixture f;
    canned_response slow;
    slow.body = jwks({f.key.jwk()});
    slow.delay_ms = 300;
    f.server.respond(slow);
    auto v = make_verifier(f.opts);
    const std::string tok = f.token();
    constexpr int n = 16;
    std::vector<int> results(n, -1000);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
        threads.emplace_back([&, i] { results[i] = cotter_jwt_verify(nullptr, v.get(), tok.data(), tok.size(), nullptr); });
    for (auto &t : threads) t.join();
    for (int r : results) CHECK(name_of(r) == "COTTER_OK");
    CHECK(f.server.requests() == 1);

    SUBCASE("and an unknown kid after the cooldown: one refetch for all threads") {
        ec_key next("k2");
        slow.body = jwks({f.key.jwk(), next.jwk()});
        f.server.respond(slow);
        f.clock.now += 31;
        const std::string tok2 = f.token(next);
        threads.clear();
        for (int i = 0; i < n; ++i)
            threads.emplace_back([&, i] { results[i] = cotter_jwt_verify(nullptr, v.get(), tok2.data(), tok2.size(), nullptr); });
        for (auto &t : threads) t.join();
        for (int r : results) CHECK(name_of(r) == "COTTER_OK");
        CHECK(f.server.requests() == 2);
    }
}

TEST_CASE("last-good keys survive failed refreshes, with a log message and no secrets logged") {
    remote_fixture f;
    f.opts.jwks_max_age_ms = 1000;
    f.opts.jwks_cooldown_ms = 1000;
    auto v = make_verifier(f.opts);
    const std::string tok = f.token();
    REQUIRE(verify_status(v.get(), tok) == COTTER_OK);
    canned_response down;
    down.status = 503;
    f.server.respond(down);
    for (int round = 0; round < 3; ++round) {
        f.clock.now += 2;
        CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
    }
    CHECK(f.server.requests() == 4);
    CHECK(f.logs.contains("last-good"));
    CHECK(f.logs.contains("HTTP 503"));
    CHECK_FALSE(f.logs.contains(tok.substr(0, 20)));
    // Recovery: the next refresh installs the server's keys again.
    f.server.respond_json(jwks({f.key.jwk()}));
    f.clock.now += 2;
    CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
    CHECK(f.server.requests() == 5);
}

TEST_CASE("no keys ever: COTTER_EJWKS_UNAVAILABLE, retried once per cooldown, recovering when the server does") {
    remote_fixture f;
    canned_response down;
    down.status = 500;
    f.server.respond(down);
    f.opts.jwks_cooldown_ms = 5000;
    auto v = make_verifier(f.opts);
    cotter_error *e = nullptr;
    const std::string tok = f.token();
    CHECK(name_of(cotter_jwt_verify(nullptr, v.get(), tok.data(), tok.size(), &e)) == "COTTER_EJWKS_UNAVAILABLE");
    CHECK(std::string(cotter_error_message(e)).find("HTTP 500") != std::string::npos);
    cotter_error_free(e);
    for (int i = 0; i < 5; ++i) CHECK(verify_status(v.get(), tok) == COTTER_EJWKS_UNAVAILABLE);
    CHECK(f.server.requests() == 1);
    f.server.respond_json(jwks({f.key.jwk()}));
    f.clock.now += 6;
    CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
    CHECK(f.server.requests() == 2);
}

TEST_CASE("a slow-drip server is cut off by the timeout") {
    remote_fixture f;
    canned_response drip;
    drip.body = jwks({f.key.jwk()});
    // One byte per 200 ms: the whole body would take ~30 s, so the 300 ms timeout is what ends the fetch, and
    // the bound cannot be reached by a loaded machine. (It was 20 ms per byte: ~3 s, the bound itself.)
    drip.drip_interval_ms = 200;
    REQUIRE(static_cast<int64_t>(drip.body.size()) * drip.drip_interval_ms > 20000);
    f.server.respond(drip);
    f.opts.jwks_timeout_ms = 300;
    auto v = make_verifier(f.opts);
    const auto start = std::chrono::steady_clock::now();
    CHECK(verify_status(v.get(), f.token()) == COTTER_EJWKS_UNAVAILABLE);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
    CHECK(f.server.requests() == 1);
}

TEST_CASE("a body over jwks_max_bytes is refused") {
    remote_fixture f;
    f.server.respond_json(jwks({f.key.jwk()}) + std::string(5000, ' '));
    f.opts.jwks_max_bytes = 4096;
    auto v = make_verifier(f.opts);
    CHECK(verify_status(v.get(), f.token()) == COTTER_EJWKS_UNAVAILABLE);
}

TEST_CASE("cotter_jwt_verifier_refresh") {
    remote_fixture f;
    f.opts.jwks_cooldown_ms = 1000;
    auto v = make_verifier(f.opts);
    cotter_error *e = nullptr;
    CHECK(cotter_jwt_verifier_refresh(v.get(), &e) == COTTER_OK);
    CHECK(e == nullptr);
    CHECK(f.server.requests() == 1);
    CHECK(cotter_jwt_verifier_refresh(v.get(), nullptr) == COTTER_OK);  // within the cooldown: no fetch
    CHECK(f.server.requests() == 1);
    f.server.respond_json("{\"keys\":7}");
    f.clock.now += 2;
    CHECK(name_of(cotter_jwt_verifier_refresh(v.get(), &e)) == "COTTER_EJWKS_INVALID");
    CHECK(cotter_error_code(e) == COTTER_EJWKS_INVALID);
    cotter_error_free(e);
    CHECK(f.server.requests() == 2);
    CHECK(verify_status(v.get(), f.token()) == COTTER_OK);  // last-good keys
    canned_response down;
    down.status = 502;
    f.server.respond(down);
    f.clock.now += 2;
    CHECK(name_of(cotter_jwt_verifier_refresh(v.get(), nullptr)) == "COTTER_EJWKS_UNAVAILABLE");
    CHECK(cotter_jwt_verifier_refresh(nullptr, nullptr) == COTTER_EINVAL);
    // Static key sets: a no-op.
    std::string set = jwks({f.key.jwk()});
    auto s = make_verifier(options_for(f.clock, &set));
    CHECK(cotter_jwt_verifier_refresh(s.get(), nullptr) == COTTER_OK);
}

TEST_CASE("malformed tokens never cause a fetch, with or without the token cache") {
    for (size_t cache : {size_t(0), size_t(16)}) {
        remote_fixture f;
        f.opts.token_cache_size = cache;
        auto v = make_verifier(f.opts);
        for (const char *bad : {"", "abc", "a.b", "a.b.c.d", "!!!.???.***"})
            CHECK(verify_status(v.get(), bad) == COTTER_EJWT_MALFORMED);
        CHECK(verify_status(v.get(), sign_es256(f.key, R"({"alg":"none"})", payload_for(k_now, k_audience))) == COTTER_EJWT_ALG);
        CHECK(f.server.requests() == 0);
    }
}

TEST_CASE("conditional refetch: If-None-Match with the last ETag, a 304 keeps the keys fresh") {
    remote_fixture f;
    canned_response r;
    r.body = jwks({f.key.jwk()});
    r.etag = "\"v1\"";
    f.server.respond(r);
    f.opts.jwks_max_age_ms = 1000;
    f.opts.jwks_cooldown_ms = 1000;
    auto v = make_verifier(f.opts);
    REQUIRE(verify_status(v.get(), f.token()) == COTTER_OK);
    CHECK(f.server.last_request().find("If-None-Match") == std::string::npos);  // nothing to match yet
    f.clock.now += 2;
    CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
    CHECK(f.server.requests() == 2);
    CHECK(f.server.not_modified() == 1);
    CHECK(f.server.last_request().find("If-None-Match: \"v1\"") != std::string::npos);
    // The 304 made the keys fresh again: no fetch within the max age.
    CHECK(verify_status(v.get(), f.token()) == COTTER_OK);
    CHECK(f.server.requests() == 2);
    SUBCASE("a changed set (new ETag) is downloaded and parsed") {
        ec_key next("k2");
        r.body = jwks({next.jwk()});
        r.etag = "\"v2\"";
        f.server.respond(r);
        f.clock.now += 2;
        CHECK(verify_status(v.get(), f.token(next)) == COTTER_OK);
        CHECK(f.server.not_modified() == 1);
        CHECK(verify_status(v.get(), f.token()) == COTTER_EJWT_KEY_NOT_FOUND);
    }
    SUBCASE("a 304 to an unconditional request is a failure") {
        canned_response odd;
        odd.status = 304;
        f.server.respond(odd);
        auto fresh = make_verifier(f.opts);  // no keys, no ETag: nothing was "not modified"
        CHECK(verify_status(fresh.get(), f.token()) == COTTER_EJWKS_UNAVAILABLE);
    }
}

/**
 * @file test_http_concurrency.cpp
 * @brief One transport shared by many threads (run under TSan: label "concurrency").
 */
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "http/http.hpp"
#include "support/emulator.hpp"

using namespace cotter::core;

TEST_CASE("16 threads x 20 requests on one transport: all succeed, counters add up, connections bounded") {
    cotter::test::emulator emu;
    http::transport_options o;
    o.retry_base_ms = 10;
    http::transport t(o);
    emu.reset_stats();
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 16; ++i)
        threads.emplace_back([&] {
            for (int j = 0; j < 20; ++j) {
                http::request r;
                r.url = emu.info().jwks_url;
                r.idempotent = true;
                http::response resp;
                if (t.perform(r, resp, nullptr) == COTTER_OK && resp.status == 200) ++ok;
            }
        });
    for (auto &th : threads) th.join();
    CHECK(ok == 320);
    CHECK(t.stats().requests == 320);
    CHECK(t.stats().connections <= 16);  // at most one per concurrently used handle
    CHECK(emu.route_requests("GET /api/v0/token/jwks") == 320);
    CHECK(emu.connections() == static_cast<int64_t>(t.stats().connections));
}

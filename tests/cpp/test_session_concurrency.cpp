/**
 * @file test_session_concurrency.cpp
 * @brief Single-flight refresh: 100 threads asking an expired session for an access token cause exactly one
 * refresh request (counted by the emulator); a failing refresh is shared too. Runs under TSan (label
 * "concurrency").
 */
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "support/client_fixture.hpp"
#include "token/session.hpp"

using namespace cotter::core;
using namespace cotter::core::token;
using cotter::test::client_options_for;
using cotter::test::emulator;

namespace {
/// Starts all threads at once so they really race.
struct start_gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
    void wait() {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [&] { return open; });
    }
    void release() {
        {
            std::lock_guard<std::mutex> lock(m);
            open = true;
        }
        cv.notify_all();
    }
};

token_set expired_login(emulator &emu, const std::string &who) {
    emu.dev_ok("POST", "/expire_tokens", R"({"next_access_ttl":-5,"count":1})");
    token_set t = token_set::from_json(emu.login_oauth_token(who), "test");
    REQUIRE(t.access_expires_at > 0);
    return t;
}
}  // namespace

TEST_CASE("100 threads on an expired session: one refresh request, one token for everyone") {
    emulator emu;
    auto c = std::make_shared<client>(client_options_for(emu, false));
    token_set t = expired_login(emu, "flight@example.com");
    std::atomic<int> changes{0};
    session_options so;
    so.on_tokens_changed = [&](const token_set *) { ++changes; };
    auto s = session::create(c, std::move(so), &t);
    emu.reset_stats();

    start_gate gate;
    std::vector<std::string> got(100);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 100; ++i)
        threads.emplace_back([&, i] {
            gate.wait();
            try {
                got[i] = s->access_token().str();
            } catch (...) {
                ++failures;
            }
        });
    gate.release();
    for (auto &th : threads) th.join();

    CHECK(failures == 0);
    CHECK(emu.route_requests("POST /api/v0/token/:api_key_id") == 1);
    CHECK(c->stats().requests == 1);
    CHECK(std::set<std::string>(got.begin(), got.end()).size() == 1);
    CHECK(got[0] != t.access_token.str());
    CHECK(changes == 1);
    // The new token is fresh: more calls cost nothing.
    for (int i = 0; i < 10; ++i) CHECK(s->access_token().str() == got[0]);
    CHECK(emu.route_requests("POST /api/v0/token/:api_key_id") == 1);
}

TEST_CASE("a failing refresh is shared by its waiters (no stampede) and tokens are kept") {
    emulator emu;
    auto o = client_options_for(emu, false);
    auto c = std::make_shared<client>(std::move(o));
    token_set t = expired_login(emu, "stampede@example.com");
    auto s = session::create(c, session_options{}, &t);
    emu.reset_stats();
    emu.fault(R"({"route":"POST /api/v0/token/:api_key_id","count":100,"status":503,"latency_ms":200})");

    start_gate gate;
    std::atomic<int> http_errors{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 50; ++i)
        threads.emplace_back([&] {
            gate.wait();
            try {
                s->access_token();
            } catch (const error &e) {
                if (e.code() == COTTER_EHTTP) ++http_errors;
            }
        });
    gate.release();
    for (auto &th : threads) th.join();
    CHECK(http_errors == 50);
    // Threads that queued behind the failing flight got its outcome; only late arrivals may start another.
    CHECK(emu.route_requests("POST /api/v0/token/:api_key_id") <= 3);
    emu.dev_ok("DELETE", "/faults");
    // Nothing was lost: the same refresh token still works.
    CHECK(s->access_token().str() != t.access_token.str());
}

TEST_CASE("threads reading a fresh session while another forces refreshes") {
    emulator emu;
    auto c = std::make_shared<client>(client_options_for(emu, false));
    token_set t = token_set::from_json(emu.login_oauth_token("readers@example.com"), "test");
    auto s = session::create(c, session_options{}, &t);
    std::atomic<bool> stop{false};
    std::atomic<int> reads{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < 8; ++i)
        readers.emplace_back([&] {
            while (!stop) {
                CHECK(!s->access_token().empty());
                ++reads;
            }
        });
    for (int i = 0; i < 10; ++i) s->refresh_now();
    stop = true;
    for (auto &th : readers) th.join();
    CHECK(reads > 0);
    CHECK(emu.route_requests("POST /api/v0/token/:api_key_id") == 10);
}

TEST_CASE("threads and two sessions sharing one token file: one refresh in all") {
    emulator emu;
    auto c = std::make_shared<client>(client_options_for(emu, false));
    char tmpl[] = "/tmp/cotter-conc-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string path = std::string(tmpl) + "/tokens.json";
    token_set t = expired_login(emu, "file-threads@example.com");
    session_options a_opts, b_opts;
    a_opts.store = std::make_unique<file_storage>(path);
    b_opts.store = std::make_unique<file_storage>(path);
    auto a = session::create(c, std::move(a_opts), &t);
    auto b = session::create(c, std::move(b_opts), nullptr);  // loads what `a` stored
    emu.reset_stats();
    start_gate gate;
    std::vector<std::string> got(40);
    std::vector<std::thread> threads;
    for (int i = 0; i < 40; ++i)
        threads.emplace_back([&, i] {
            gate.wait();
            try {
                got[i] = (i % 2 ? a : b)->access_token().str();
            } catch (...) {
            }
        });
    gate.release();
    for (auto &th : threads) th.join();
    CHECK(emu.route_requests("POST /api/v0/token/:api_key_id") == 1);
    CHECK(std::set<std::string>(got.begin(), got.end()).size() == 1);
    CHECK(!got[0].empty());
    std::system(("rm -rf '" + std::string(tmpl) + "'").c_str());
}

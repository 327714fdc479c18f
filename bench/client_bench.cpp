/**
 * @file client_bench.cpp
 * @brief Token-client CPU cost vs. peers, in one run: starts the emulator, seeds a user with 1,000 social-login
 * tokens, then measures the CPU time of THIS process (getrusage, user + system) for a chain of refresh grants and
 * for fetching the 1,000-entry social-token list through the C ABI; runs bench/client_peers.py (Python requests)
 * and bench/client_peers.mjs (Node fetch) against the same emulator and prints JSON lines
 * {"bench","ops_per_sec","baseline","ratio",...}, where ops_per_sec is calls per CPU-second of the client process
 * and ratio = ours / peer (3.0 means a third of the peer's CPU per call).
 *
 * Usage: client_bench [refreshes=2000] [lists=200]
 */
#include <sys/resource.h>

#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include "cotter.h"
#include "support/emulator.hpp"

namespace {

long minor_faults() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void check(int rc, cotter_error *err, const char *what) {
    if (rc == COTTER_OK) return;
    std::string msg = std::string(what) + ": " + cotter_status_name(rc) + " " + cotter_error_message(err);
    cotter_error_free(err);
    throw std::runtime_error(msg);
}

std::string refresh_token_of(cotter::test::emulator &emu, const std::string &who) {
    return cotter::test::json_string(emu.login_oauth_token(who), "refresh_token");
}

struct peer_result {
    double refresh_cpu = 0, list_cpu = 0;
    bool ok = false;
};

peer_result run_peer(const std::string &cmd) {
    peer_result r;
    FILE *p = popen(cmd.c_str(), "r");
    if (!p) return r;
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    if (pclose(p) != 0) return r;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    const size_t brace = out.rfind('{');
    if (brace == std::string::npos || parser.parse(out.substr(brace)).get(doc) != simdjson::SUCCESS) return r;
    if (doc["refresh_cpu_s"].get(r.refresh_cpu) != simdjson::SUCCESS || doc["list_cpu_s"].get(r.list_cpu) != simdjson::SUCCESS)
        return r;
    r.ok = true;
    return r;
}

void line(const char *bench, double ours_cpu, int ops, const char *baseline, const peer_result &peer, bool is_list) {
    const double ours = ops / ours_cpu;
    if (!peer.ok) {
        std::printf("{\"bench\":\"%s\",\"ops_per_sec\":%.1f,\"baseline\":\"%s\",\"ratio\":null,\"cpu_us_per_op\":%.1f,\"error\":\"peer failed\"}\n",
                    bench, ours, baseline, ours_cpu / ops * 1e6);
        return;
    }
    const double theirs = ops / (is_list ? peer.list_cpu : peer.refresh_cpu);
    std::printf("{\"bench\":\"%s\",\"ops_per_sec\":%.1f,\"baseline\":\"%s\",\"baseline_ops_per_sec\":%.1f,\"ratio\":%.2f,"
                "\"cpu_us_per_op\":%.1f,\"baseline_cpu_us_per_op\":%.1f,\"unit\":\"calls per CPU-second of the client process\"}\n",
                bench, ours, baseline, theirs, ours / theirs, ours_cpu / ops * 1e6, 1e6 / theirs);
}

std::string shell_quote(const std::string &s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

}  // namespace

int main(int argc, char **argv) try {
    const int refreshes = argc > 1 ? std::atoi(argv[1]) : 2000;
    const int lists = argc > 2 ? std::atoi(argv[2]) : 200;
    cotter::test::emulator emu;
    const auto &info = emu.info();

    // One user with 1,000 provider tokens (distinct provider names: one row per provider).
    const std::string user = emu.dev_ok("POST", "/users", R"({"identifier":"bench@example.com"})");
    const std::string user_id = cotter::test::json_string(user, "ID");
    for (int i = 0; i < 1000; ++i) {
        char body[256];
        std::snprintf(body, sizeof body,
                      R"({"user_id":"%s","identity_provider":"P%04d","provider_username":"user%d","tokens":{"access_token":"gho_%032d","scope":"repo,user","token_type":"bearer"}})",
                      user_id.c_str(), i, i, i);
        emu.dev_ok("POST", "/social_tokens", body);
    }

    cotter_client_options o;
    if (cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) != COTTER_OK) return 1;
    o.api_key_id = info.api_key_id.c_str();
    o.api_secret_key = info.api_secret_key.c_str();
    o.base_url = info.base_url.c_str();
    cotter_client *client = nullptr;
    cotter_error *err = nullptr;
    check(cotter_client_new(&client, &o, &err), err, "client_new");
    std::unique_ptr<cotter_client, void (*)(cotter_client *)> client_guard(client, cotter_client_free);

    // Ours: a refresh chain (each call uses the token the previous one returned).
    std::string rt = refresh_token_of(emu, "bench-ours@example.com");
    auto refresh = [&] {
        cotter_token *t = nullptr;
        check(cotter_client_refresh(&t, client, rt.c_str(), &err), err, "refresh");
        rt = cotter_token_refresh_token(t);
        cotter_token_free(t);
    };
    for (int i = 0; i < 20; ++i) refresh();
    double t0 = cpu_seconds();
    for (int i = 0; i < refreshes; ++i) refresh();
    const double our_refresh_cpu = cpu_seconds() - t0;

    // The list crosses the ABI as the JSON array the core checked (a cotter_buf). Its rows are counted once, outside
    // the measured loop: the peers' len(r.json()) is their parse, ours happened inside the call.
    auto list = [&](size_t *rows) {
        cotter_buf b = COTTER_BUF_INIT;
        check(cotter_client_social_tokens_list(&b, client, user_id.c_str(), &err), err, "social list");
        if (b.len < 2 || b.ptr[0] != '[') throw std::runtime_error("social list: not a JSON array");
        if (rows) {
            simdjson::dom::parser p;
            simdjson::dom::array arr;
            if (p.parse(b.ptr, b.len).get_array().get(arr) != simdjson::SUCCESS)
                throw std::runtime_error("social list: malformed JSON");
            *rows = arr.size();
        }
        cotter_buf_dispose(&b);
    };
    size_t rows = 0;
    list(&rows);
    if (rows != 1000) throw std::runtime_error("expected 1000 social tokens, got " + std::to_string(rows));
    for (int i = 0; i < 2; ++i) list(nullptr);
    const long faults0 = minor_faults();
    t0 = cpu_seconds();
    for (int i = 0; i < lists; ++i) list(nullptr);
    const double our_list_cpu = cpu_seconds() - t0;
    if (std::getenv("COTTER_BENCH_VERBOSE"))
        std::fprintf(stderr, "list: %.1f minor page faults per call\n", double(minor_faults() - faults0) / lists);

    auto config = [&](const std::string &who) {
        return std::string("{\"base_url\":\"") + info.base_url + "\",\"api_key_id\":\"" + info.api_key_id +
               "\",\"api_secret_key\":\"" + info.api_secret_key + "\",\"refresh_token\":\"" + refresh_token_of(emu, who) +
               "\",\"user_id\":\"" + user_id + "\",\"refreshes\":" + std::to_string(refreshes) +
               ",\"lists\":" + std::to_string(lists) + "}";
    };
    const std::string src = cotter::test::source_dir();
    const char *py = std::getenv("COTTER_BENCH_PYTHON");
    const peer_result requests_peer =
        run_peer(std::string(py && *py ? py : "python3") + " " + shell_quote(src + "/bench/client_peers.py") + " " +
                 shell_quote(config("bench-requests@example.com")));
    const peer_result fetch_peer =
        run_peer("node " + shell_quote(src + "/bench/client_peers.mjs") + " " + shell_quote(config("bench-fetch@example.com")));

    line("client_refresh_grant_vs_requests", our_refresh_cpu, refreshes, "python requests", requests_peer, false);
    line("client_refresh_grant_vs_fetch", our_refresh_cpu, refreshes, "node fetch", fetch_peer, false);
    line("client_social_list_1000_vs_requests", our_list_cpu, lists, "python requests", requests_peer, true);
    line("client_social_list_1000_vs_fetch", our_list_cpu, lists, "node fetch", fetch_peer, true);
    return 0;
} catch (const std::exception &e) {
    std::fprintf(stderr, "client_bench: %s\n", e.what());
    return 1;
}

/**
 * @file emulator.hpp
 * @brief C++ test helper: runs `node emulator/bin/cotter-emulator.js --port 0 [flags]` as a child process,
 * reads its one JSON line, talks to its dev API (libcurl directly, one keep-alive connection) and stops it
 * with SIGTERM.
 */
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace cotter::test {

/// The emulator's JSON line.
struct emulator_info {
    std::string base_url, login_url, jwks_url, api_key_id, api_secret_key, identity_public_key, worker_url, dev_url,
        dev_token, ca_file;
};

/// A dev API (or raw) answer.
struct dev_response {
    long status = 0;
    std::string body;
    std::string location;  // the Location header, for redirects (never followed)
};

class emulator {
public:
    /// Starts the emulator (throws std::runtime_error when it does not print its line within 20 s).
    explicit emulator(const std::vector<std::string> &flags = {});
    ~emulator();
    emulator(const emulator &) = delete;
    emulator &operator=(const emulator &) = delete;

    const emulator_info &info() const { return info_; }
    /// The root URL, e.g. "http://127.0.0.1:41234" (base_url without "/api/v0").
    std::string origin() const;

    /// A request to the dev API: `path` is relative to dev_url, e.g. "/stats". Throws on transport errors.
    dev_response dev(const std::string &method, const std::string &path, const std::string &json_body = "");
    /// As dev(), but throws std::runtime_error unless the status is 2xx; returns the body.
    std::string dev_ok(const std::string &method, const std::string &path, const std::string &json_body = "");

    /// Any request to the emulator (absolute URL), e.g. the login page's form posts. Not followed on redirects.
    dev_response raw(const std::string &method, const std::string &url, const std::string &body = "",
                     const std::string &content_type = "application/x-www-form-urlencoded");

    /// Runs the hosted login page (OTP) for `identifier` with the given PKCE challenge and state, and returns the
    /// redirect's query string ("code=...&state=...&challenge_id=...").
    std::string login_via_page(const std::string &identifier, const std::string &redirect_url,
                               const std::string &code_challenge, const std::string &state);

    /// Zeroes the request and connection counters.
    void reset_stats();
    /// Requests counted for a normalized route name such as "POST /api/v0/token/:api_key_id".
    int64_t route_requests(const std::string &route);
    /// Accepted TCP connections since the last reset (the dev helper's own keep-alive connection is open
    /// before the reset, so it is not counted).
    int64_t connections();
    /// Queues one fault (a JSON object, see emulator/README.md "Faults").
    void fault(const std::string &fault_json);

    /// A fresh user logged in through /dev/login: the `oauth_token` JSON object of the response.
    std::string login_oauth_token(const std::string &identifier);

    /// Sends SIGTERM and waits (also done by the destructor).
    void stop();

private:
    int pid_ = -1;
    emulator_info info_;
    std::mutex dev_mutex_;
    void *curl_ = nullptr;  // CURL*, one keep-alive connection for all dev calls
};

/// Reads a top-level string member of a JSON object ("" when absent); for test assertions.
std::string json_string(const std::string &json, const std::string &key);
/// Reads a top-level integer member (or `fallback`).
int64_t json_int(const std::string &json, const std::string &key, int64_t fallback = -1);
/// Returns the raw JSON of a top-level member ("" when absent).
std::string json_raw(const std::string &json, const std::string &key);

/// Makes libcurl (in this process) bypass any proxy for loopback addresses.
void ensure_no_proxy_for_loopback();

/// The source tree root (COTTER_SOURCE_DIR).
std::string source_dir();

}  // namespace cotter::test

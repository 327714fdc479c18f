/**
 * @file emulator.cpp
 * @brief Spawns the Cotter emulator for C++ tests and drives its dev API with plain libcurl (independent of
 * the transport under test).
 */
#include "support/emulator.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <stdexcept>

namespace cotter::test {

std::string source_dir() {
    const char *env = std::getenv("COTTER_SOURCE_DIR");
    if (env && *env) return env;
#ifdef COTTER_SOURCE_DIR
    return COTTER_SOURCE_DIR;
#else
    return ".";
#endif
}

void ensure_no_proxy_for_loopback() {
    const char *loopback = "127.0.0.1,localhost,::1";
    for (const char *name : {"NO_PROXY", "no_proxy"}) {
        const char *cur = std::getenv(name);
        std::string v = cur && *cur ? std::string(cur) + "," + loopback : loopback;
        setenv(name, v.c_str(), 1);
    }
}

namespace {
std::string get_string(simdjson::dom::element obj, const char *key) {
    std::string_view sv;
    if (obj[key].get(sv) != simdjson::SUCCESS) return "";
    return std::string(sv);
}

size_t collect(char *data, size_t size, size_t nmemb, void *userdata) {
    static_cast<std::string *>(userdata)->append(data, size * nmemb);
    return size * nmemb;
}

size_t collect_location(char *data, size_t size, size_t nmemb, void *userdata) {
    std::string line(data, size * nmemb);
    if (line.size() > 9 && (line.compare(0, 9, "Location:") == 0 || line.compare(0, 9, "location:") == 0)) {
        std::string v = line.substr(9);
        while (!v.empty() && (v.front() == ' ')) v.erase(0, 1);
        while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
        *static_cast<std::string *>(userdata) = v;
    }
    return size * nmemb;
}

std::string url_encode(const std::string &s) {
    std::string out;
    static const char hex[] = "0123456789ABCDEF";
    for (unsigned char c : s) {
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') out.push_back(static_cast<char>(c));
        else { out.push_back('%'); out.push_back(hex[c >> 4]); out.push_back(hex[c & 15]); }
    }
    return out;
}
}  // namespace

std::string json_string(const std::string &json, const std::string &key) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(json).get(doc) != simdjson::SUCCESS) return "";
    return get_string(doc, key.c_str());
}

int64_t json_int(const std::string &json, const std::string &key, int64_t fallback) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(json).get(doc) != simdjson::SUCCESS) return fallback;
    int64_t v;
    if (doc[key].get(v) != simdjson::SUCCESS) return fallback;
    return v;
}

std::string json_raw(const std::string &json, const std::string &key) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(json).get(doc) != simdjson::SUCCESS) return "";
    simdjson::dom::element v;
    if (doc[key].get(v) != simdjson::SUCCESS) return "";
    return simdjson::minify(v);
}

emulator::emulator(const std::vector<std::string> &flags) {
    ensure_no_proxy_for_loopback();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> args = {"node", source_dir() + "/emulator/bin/cotter-emulator.js", "--port", "0"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        // Only async-signal-safe calls between fork and exec. Die with the test process.
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(127);
        dup2(fds[1], STDOUT_FILENO);
        execvp("node", argv.data());
        _exit(127);
    }
    close(fds[1]);
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p{fds[0], POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
        char buf[4096];
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    if (line.find('\n') == std::string::npos) {
        stop();
        throw std::runtime_error("the emulator did not start (no JSON line)");
    }
    line.resize(line.find('\n'));
    info_.base_url = json_string(line, "base_url");
    info_.login_url = json_string(line, "login_url");
    info_.jwks_url = json_string(line, "jwks_url");
    info_.api_key_id = json_string(line, "api_key_id");
    info_.api_secret_key = json_string(line, "api_secret_key");
    info_.identity_public_key = json_string(line, "identity_public_key");
    info_.worker_url = json_string(line, "worker_url");
    info_.dev_url = json_string(line, "dev_url");
    info_.dev_token = json_string(line, "dev_token");
    info_.ca_file = json_string(line, "ca_file");
    if (info_.base_url.empty() || info_.dev_url.empty()) {
        stop();
        throw std::runtime_error("unexpected emulator line: " + line);
    }
    curl_ = curl_easy_init();
    if (!curl_) throw std::runtime_error("curl_easy_init failed");
}

emulator::~emulator() {
    stop();
    if (curl_) curl_easy_cleanup(static_cast<CURL *>(curl_));
}

void emulator::stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    // Give it a few seconds to close cleanly, then make sure it is gone.
    for (int i = 0; i < 100; ++i) {
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return;
        }
        usleep(50 * 1000);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
}

std::string emulator::origin() const {
    const std::string suffix = "/api/v0";
    std::string b = info_.base_url;
    if (b.size() >= suffix.size() && b.compare(b.size() - suffix.size(), suffix.size(), suffix) == 0)
        b.resize(b.size() - suffix.size());
    return b;
}

dev_response emulator::dev(const std::string &method, const std::string &path, const std::string &json_body) {
    std::lock_guard<std::mutex> lock(dev_mutex_);
    CURL *h = static_cast<CURL *>(curl_);
    dev_response out;
    const std::string url = info_.dev_url + path;
    curl_slist *headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers = curl_slist_append(headers, ("X-Cotter-Dev-Token: " + info_.dev_token).c_str());
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
    if (!info_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, info_.ca_file.c_str());
    if (method == "GET") {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, nullptr);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body.size()));
        curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, json_body.c_str());
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out.body);
    const CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) throw std::runtime_error(std::string("dev API request failed: ") + curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
    return out;
}

std::string emulator::dev_ok(const std::string &method, const std::string &path, const std::string &json_body) {
    dev_response r = dev(method, path, json_body);
    if (r.status < 200 || r.status > 299)
        throw std::runtime_error("dev API " + method + " " + path + " -> " + std::to_string(r.status) + ": " + r.body);
    return r.body;
}

dev_response emulator::raw(const std::string &method, const std::string &url, const std::string &body,
                           const std::string &content_type) {
    std::lock_guard<std::mutex> lock(dev_mutex_);
    CURL *h = curl_easy_init();
    if (!h) throw std::runtime_error("curl_easy_init failed");
    dev_response out;
    const std::string ct = "Content-Type: " + content_type;
    curl_slist *headers = curl_slist_append(nullptr, ct.c_str());
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 20000L);
    if (!info_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, info_.ca_file.c_str());
    if (method == "POST") {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
        curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body.c_str());
    } else if (method != "GET") {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out.body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &collect_location);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &out.location);
    const CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) throw std::runtime_error(std::string("request failed: ") + curl_easy_strerror(rc));
    return out;
}

std::string emulator::login_via_page(const std::string &identifier, const std::string &redirect_url,
                                     const std::string &code_challenge, const std::string &state) {
    const std::string params = "api_key=" + url_encode(info_.api_key_id) + "&redirect_url=" + url_encode(redirect_url) +
                               "&type=EMAIL&state=" + url_encode(state) + "&code_challenge=" + url_encode(code_challenge) +
                               "&auth_method=OTP";
    dev_response page = raw("POST", origin() + "/app/identifier", params + "&identifier=" + url_encode(identifier));
    if (page.status != 200) throw std::runtime_error("login page: identifier step -> " + std::to_string(page.status) + " " + page.body);
    const std::string mailbox = dev_ok("GET", "/mailbox?to=" + url_encode(identifier));
    // The newest message is last: find the last "session" and "otp" members.
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(mailbox).get(doc) != simdjson::SUCCESS) throw std::runtime_error("mailbox is not JSON");
    simdjson::dom::array arr;
    if (doc.get_array().get(arr) != simdjson::SUCCESS || arr.size() == 0) throw std::runtime_error("mailbox empty");
    simdjson::dom::element last = arr.at(arr.size() - 1).value();
    const std::string sid = get_string(last, "session"), otp = get_string(last, "otp");
    dev_response done = raw("POST", origin() + "/app/otp", "sid=" + url_encode(sid) + "&otp=" + url_encode(otp));
    if (done.status != 302 || done.location.empty())
        throw std::runtime_error("login page: otp step -> " + std::to_string(done.status) + " " + done.body);
    const size_t q = done.location.find('?');
    return q == std::string::npos ? std::string() : done.location.substr(q + 1);
}

void emulator::reset_stats() { dev_ok("POST", "/stats/reset", "{}"); }

int64_t emulator::route_requests(const std::string &route) {
    const std::string stats = dev_ok("GET", "/stats");
    const std::string requests = json_raw(stats, "requests");
    return json_int(requests, route, 0);
}

int64_t emulator::connections() { return json_int(dev_ok("GET", "/stats"), "connections", -1); }

void emulator::fault(const std::string &fault_json) { dev_ok("POST", "/faults", fault_json); }

std::string emulator::login_oauth_token(const std::string &identifier) {
    const std::string body = dev_ok("POST", "/login", "{\"identifier\":\"" + identifier + "\"}");
    return json_raw(body, "oauth_token");
}

}  // namespace cotter::test

/**
 * @file fuzz_login_url.cpp
 * @brief The hosted-login URL builder (cotter_login_url) and the redirect parser (cotter_login_redirect_parse).
 * Invariants: a URL built from arbitrary parameter values parses back with libcurl's URL parser (an independent
 * implementation) to exactly those parameters, in order; a redirect query written with libcurl's escaping parses
 * back to the same code and challenge id; arbitrary queries only ever give documented codes.
 */
#include <curl/curl.h>
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cotter.h"
#include "fuzz_support.hpp"

namespace {

using pairs = std::vector<std::pair<std::string, std::string>>;

std::string unescape(CURL *curl, const std::string &s) {
    int len = 0;
    char *p = curl_easy_unescape(curl, s.data(), static_cast<int>(s.size()), &len);
    FUZZ_CHECK(p != nullptr);
    std::string out(p, static_cast<size_t>(len));
    curl_free(p);
    return out;
}

/// The query of `url` as decoded pairs, through libcurl's URL API.
pairs query_of(CURL *curl, const std::string &url) {
    CURLU *u = curl_url();
    FUZZ_CHECK(curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK);
    char *q = nullptr;
    FUZZ_CHECK(curl_url_get(u, CURLUPART_QUERY, &q, 0) == CURLUE_OK && q);
    const std::string query(q);
    curl_free(q);
    curl_url_cleanup(u);
    pairs out;
    size_t start = 0;
    while (start <= query.size()) {
        size_t end = query.find('&', start);
        if (end == std::string::npos) end = query.size();
        const std::string part = query.substr(start, end - start);
        const size_t eq = part.find('=');
        FUZZ_CHECK(eq != std::string::npos);
        out.emplace_back(unescape(curl, part.substr(0, eq)), unescape(curl, part.substr(eq + 1)));
        start = end + 1;
    }
    return out;
}

std::string nul_free(std::string s) { return std::string(s.c_str()); }  // what a C string can carry

void builder(FuzzedDataProvider &in, CURL *curl) {
    static const char *const bases[] = {nullptr, "http://127.0.0.1:8080/app", "https://js.cotter.app/app?v=1"};
    const int base_pick = in.ConsumeIntegralInRange<int>(0, 3);
    std::string base_text = base_pick == 3 ? nul_free(in.ConsumeRandomLengthString(64)) : "";
    const std::string key = nul_free(in.ConsumeRandomLengthString(48));
    const std::string redirect = nul_free(in.ConsumeRandomLengthString(64));
    const std::string state = nul_free(in.ConsumeRandomLengthString(32));
    const std::string challenge = nul_free(in.ConsumeRandomLengthString(64));
    static const char *const types[] = {nullptr, "EMAIL", "PHONE", "email"};
    static const char *const methods[] = {nullptr, "OTP", "MAGIC_LINK", "SMS"};
    const char *type = types[in.ConsumeIntegralInRange<int>(0, 3)];
    const char *method = methods[in.ConsumeIntegralInRange<int>(0, 3)];
    const bool with_input = in.ConsumeBool(), with_user = in.ConsumeBool();
    const std::string input = nul_free(in.ConsumeRandomLengthString(48));
    const std::string user = nul_free(in.ConsumeRandomLengthString(48));

    cotter_login_url_options o = COTTER_LOGIN_URL_OPTIONS_INIT;
    o.login_url = base_pick == 3 ? base_text.c_str() : bases[base_pick];
    o.api_key_id = key.c_str();
    o.redirect_url = redirect.c_str();
    o.state = state.c_str();
    o.code_challenge = challenge.c_str();
    o.identifier_type = type;
    o.auth_method = method;
    o.input = with_input ? input.c_str() : nullptr;
    o.cotter_user_id = with_user ? user.c_str() : nullptr;

    cotter_buf url = COTTER_BUF_INIT;
    cotter_error *err = nullptr;
    const int rc = cotter_login_url(&url, &o, &err);
    FUZZ_CHECK(rc == COTTER_OK || rc == COTTER_EINVAL || rc == COTTER_ENOMEM);
    FUZZ_CHECK((rc == COTTER_OK) == (err == nullptr));
    cotter_error_free(err);
    if (rc == COTTER_OK) {
        FUZZ_CHECK(url.ptr && std::strlen(url.ptr) == url.len);
        if (base_pick != 3) {  // a caller-supplied base may itself be anything that starts with http(s)://
            pairs expected;
            if (base_pick == 2) expected.emplace_back("v", "1");
            expected.emplace_back("api_key", key);
            expected.emplace_back("redirect_url", redirect);
            expected.emplace_back("type", type ? type : "EMAIL");
            expected.emplace_back("state", state);
            expected.emplace_back("code_challenge", challenge);
            if (method) expected.emplace_back("auth_method", method);
            if (with_input && !input.empty()) {
                expected.emplace_back("direct_login", "true");
                expected.emplace_back("input", input);
            }
            if (with_user && !user.empty()) expected.emplace_back("cotter_user_id", user);
            FUZZ_CHECK(query_of(curl, std::string(url.ptr, url.len)) == expected);
        }
    }
    cotter_buf_dispose(&url);
    FUZZ_CHECK(url.ptr == nullptr && url.len == 0);
}

void redirect(FuzzedDataProvider &in, CURL *curl) {
    const std::string state = nul_free(in.ConsumeRandomLengthString(32));
    const std::string code = nul_free(in.ConsumeRandomLengthString(64));
    const int64_t challenge_id = in.ConsumeIntegralInRange<int64_t>(0, INT64_MAX);
    const std::string noise = nul_free(in.ConsumeRandomLengthString(64));

    // Round trip: a query written the way a browser would.
    auto esc = [curl](const std::string &s) {
        char *p = curl_easy_escape(curl, s.data(), static_cast<int>(s.size()));
        std::string out(p);
        curl_free(p);
        return out;
    };
    const std::string query = "?code=" + esc(code) + "&state=" + esc(state) + "&challenge_id=" +
                              std::to_string(challenge_id) + "&x=" + esc(noise);
    cotter_buf got = COTTER_BUF_INIT;
    int64_t got_id = -1;
    cotter_error *err = nullptr;
    int rc = cotter_login_redirect_parse(&got, &got_id, query.c_str(), state.c_str(), &err);
    if (state.empty()) {
        FUZZ_CHECK(rc == COTTER_EINVAL);
    } else if (code.empty() || code.size() > 4096) {
        FUZZ_CHECK(rc == COTTER_EPROTOCOL);
    } else {
        FUZZ_CHECK(rc == COTTER_OK && got.ptr && std::string(got.ptr, got.len) == code && got_id == challenge_id);
    }
    cotter_error_free(err);
    cotter_buf_dispose(&got);

    // Anything: documented codes only, and nothing returned on failure.
    const std::string any = nul_free(in.ConsumeRemainingBytesAsString());
    err = nullptr;
    rc = cotter_login_redirect_parse(&got, &got_id, any.c_str(), state.empty() ? "s" : state.c_str(), &err);
    FUZZ_CHECK(rc == COTTER_OK || rc == COTTER_ESTATE || rc == COTTER_EPROTOCOL || rc == COTTER_EINVAL ||
               rc == COTTER_ENOMEM);
    if (rc == COTTER_OK) FUZZ_CHECK(got.ptr && got.len > 0 && got_id >= 0);
    else FUZZ_CHECK(got.ptr == nullptr && err && cotter_error_code(err) == rc);
    cotter_error_free(err);
    cotter_buf_dispose(&got);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static CURL *curl = curl_easy_init();  // only for curl_easy_escape/unescape
    FuzzedDataProvider in(data, size);
    if (in.ConsumeBool()) builder(in, curl);
    else redirect(in, curl);
    return 0;
}

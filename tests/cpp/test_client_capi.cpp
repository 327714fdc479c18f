/**
 * @file test_client_capi.cpp
 * @brief The PKCE login end to end through the C ABI (moved out of test_client_calls.cpp, whose core-level cases
 * use the core's own status enumerators: one file cannot see both sets unqualified).
 */
#include <doctest/doctest.h>

#include <simdjson.h>

#include <string>

#include "cotter.h"
#include "support/client_fixture.hpp"

using cotter::test::emulator;

TEST_CASE("C ABI: PKCE, login URL, the hosted page, redirect parse and get_identity as JSON") {
    emulator emu;
    cotter_client_options o;
    REQUIRE(cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION) == COTTER_OK);
    o.api_key_id = emu.info().api_key_id.c_str();
    o.base_url = emu.info().base_url.c_str();
    cotter_client *c = nullptr;
    REQUIRE(cotter_client_new(&c, &o, nullptr) == COTTER_OK);
    cotter_pkce *p = nullptr;
    REQUIRE(cotter_pkce_new(&p, nullptr) == COTTER_OK);
    const std::string redirect = "http://127.0.0.1:9999/callback";
    const std::string query = emu.login_via_page("capi-login@example.com", redirect, cotter_pkce_challenge(p), cotter_pkce_state(p));
    cotter_buf code = COTTER_BUF_INIT;
    int64_t challenge_id = -1;
    REQUIRE(cotter_login_redirect_parse(&code, &challenge_id, query.c_str(), cotter_pkce_state(p), nullptr) == COTTER_OK);
    cotter_buf id = COTTER_BUF_INIT;
    cotter_error *err = nullptr;
    REQUIRE(cotter_client_get_identity(&id, c, code.ptr, challenge_id, cotter_pkce_verifier(p), redirect.c_str(), &err) == COTTER_OK);
    // The response as the JSON the library checked (capi/abi.json `records`: identity), read here with simdjson.
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(id.ptr, id.len);
    CHECK(std::string(doc["identifier"]["identifier"].get_string().value()) == "capi-login@example.com");
    CHECK(std::string(doc["identifier"]["identifier_type"].get_string().value()) == "EMAIL");
    CHECK(!doc["user"]["ID"].get_string().value().empty());
    CHECK(doc["token"]["receiver"].is_string());
    // Its oauth_token is a token set the library reads (cotter_token_from_json).
    const std::string oauth = simdjson::minify(doc["oauth_token"]);
    cotter_token *tok = nullptr;
    REQUIRE(cotter_token_from_json(&tok, oauth.c_str(), oauth.size(), nullptr) == COTTER_OK);
    CHECK(cotter_token_access_token_expires_at(tok) > 0);
    cotter_token_free(tok);
    CHECK(std::string(id.ptr, id.len).find("\": ") == std::string::npos);  // minified
    // The code is single use: a second exchange is an API rejection with the server's message.
    cotter_buf again = {reinterpret_cast<char *>(1), 1};
    CHECK(cotter_client_get_identity(&again, c, code.ptr, challenge_id, cotter_pkce_verifier(p), redirect.c_str(), &err) == COTTER_EOAUTH);
    CHECK(again.ptr == nullptr);
    CHECK(again.len == 0);
    CHECK(cotter_error_http_status(err) == 400);
    CHECK(cotter_error_oauth_error_description(err) != nullptr);
    CHECK(std::string(cotter_error_message(err)).find(code.ptr) == std::string::npos);
    cotter_error_free(err);
    cotter_buf_dispose(&id);
    cotter_buf_dispose(&code);
    cotter_pkce_free(p);
    cotter_client_free(c);
}

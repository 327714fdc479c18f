/**
 * @file test_client_calls.cpp
 * @brief Every Cotter API call of the core client against the emulator, success and failure, plus the error
 * mapping and hostile response bodies.
 */
#include <doctest/doctest.h>

#include <functional>
#include <set>
#include <utility>
#include <vector>

#include "common/constants.hpp"
#include "support/client_fixture.hpp"
#include "token/pkce.hpp"

using namespace cotter::core;
using namespace cotter::core::token;
using cotter::test::client_options_for;
using cotter::test::emulator;
using cotter::test::error_of;
using cotter::test::json_raw;
using cotter::test::json_string;

namespace {
token_set login(emulator &emu, const std::string &who) {
    return token_set::from_json(emu.login_oauth_token(who), "test");
}
}  // namespace

TEST_CASE("identity-token and event-token grants; the secret is required") {
    emulator emu;
    client c(client_options_for(emu));
    const std::string idt = json_raw(emu.dev_ok("POST", "/identity_token", R"({"identifier":"grant@example.com"})"), "identity_token");
    REQUIRE(!idt.empty());
    token_set t = c.grant("identity_token", idt);
    CHECK(!t.access_token.empty());
    CHECK(!t.refresh_token.empty());
    CHECK(t.token_type == "Bearer");
    CHECK(t.auth_method == "OTP");
    CHECK(t.expires_in > 0);
    CHECK(t.access_expires_at > 0);

    const std::string evt = json_raw(emu.dev_ok("POST", "/event_token", R"({"identifier":"grant@example.com"})"), "event_token");
    token_set e = c.grant("event_token", evt);
    CHECK(e.auth_method == "TRUSTED_DEVICE");

    client no_secret(client_options_for(emu, false));
    CHECK(error_of([&] { no_secret.grant("identity_token", idt); }).code == COTTER_EINVAL);

    auto bad = client_options_for(emu);
    bad.api_secret_key = secret_string("wrong-secret-value");
    client wrong(std::move(bad));
    const error_info err = error_of([&] { wrong.grant("identity_token", idt); });
    CHECK(err.code == COTTER_ECREDENTIALS);
    CHECK(err.http_status == 401);
    CHECK(err.message.find("wrong-secret-value") == std::string::npos);

    CHECK(error_of([&] { c.grant("identity_token", "not json"); }).code == COTTER_EINVAL);
    CHECK(error_of([&] { c.grant("identity_token", "[1,2]"); }).code == COTTER_EINVAL);
    // A tampered identity token: the emulator checks the Ed25519 signature.
    std::string tampered = idt;
    tampered.replace(tampered.find("grant@example.com"), 5, "evil@");
    CHECK(error_of([&] { c.grant("identity_token", tampered); }).code == COTTER_EOAUTH);
}

TEST_CASE("refresh rotates; the old token is then rejected with EREAUTH; logout revokes") {
    emulator emu;
    client c(client_options_for(emu, false));  // refresh and logout need no secret
    token_set t0 = login(emu, "refresh@example.com");
    token_set t1 = c.refresh(t0.refresh_token.str());
    CHECK(!t1.access_token.empty());
    CHECK(t1.refresh_token.str() != t0.refresh_token.str());
    const error_info err = error_of([&] { c.refresh(t0.refresh_token.str()); });
    CHECK(err.code == COTTER_EREAUTH);
    CHECK(err.http_status == 400);
    CHECK(err.oauth_error_description.find("not valid") != std::string::npos);
    CHECK(err.message.find(t0.refresh_token.str()) == std::string::npos);
    CHECK(err.oauth_error_description.find(t0.refresh_token.str()) == std::string::npos);

    c.logout(t1.refresh_token.str());
    CHECK(error_of([&] { c.refresh(t1.refresh_token.str()); }).code == COTTER_EREAUTH);
    c.logout(t1.refresh_token.str());  // idempotent
    CHECK(error_of([&] { c.refresh(""); }).code == COTTER_EREAUTH);
}

TEST_CASE("a rejected API key id or secret is ECREDENTIALS in every call; a rejected refresh token stays EREAUTH") {
    emulator emu;
    client c(client_options_for(emu));
    token_set t = login(emu, "creds@example.com");
    user u = c.user_create("creds@example.com");
    const std::string idt = json_raw(emu.dev_ok("POST", "/identity_token", R"({"identifier":"creds@example.com"})"), "identity_token");
    const std::string evt = json_raw(emu.dev_ok("POST", "/event_token", R"({"identifier":"creds@example.com"})"), "event_token");

    // The emulator answers an unknown API_KEY_ID with 401 {"msg":"API_KEY_ID is not valid"}: "not valid" made
    // a refresh look like a dead refresh token (EREAUTH, "log in again") although the key was the problem.
    auto wrong_key_options = client_options_for(emu);
    wrong_key_options.api_key_id = "0e0e0e0e-0000-4000-8000-00000000bad0";
    client wrong_key(std::move(wrong_key_options));
    auto wrong_secret_options = client_options_for(emu);
    wrong_secret_options.api_secret_key = secret_string("wrong-secret-value");
    client wrong_secret(std::move(wrong_secret_options));

    const std::vector<std::pair<const char *, std::function<void(client &)>>> calls = {
        {"identity grant", [&](client &x) { x.grant("identity_token", idt); }},
        {"event grant", [&](client &x) { x.grant("event_token", evt); }},
        {"refresh", [&](client &x) { x.refresh(t.refresh_token.str()); }},
        {"logout", [&](client &x) { x.logout(t.refresh_token.str()); }},
        {"custom claims", [&](client &x) { x.custom_claims(t.access_token.str(), "{}", ""); }},
        {"get_identity", [&](client &x) { x.get_identity("code", 1, std::string(43, 'v'), "http://localhost:1"); }},
        {"user create", [&](client &x) { x.user_create("creds2@example.com"); }},
        {"user by identifier", [&](client &x) { x.user_get_by_identifier("creds@example.com"); }},
        {"user get", [&](client &x) { x.user_get(u.id); }},
        {"user list", [&](client &x) { x.user_list(0); }},
        {"social list", [&](client &x) { x.social_tokens_list(u.id); }},
        {"social get", [&](client &x) { x.social_token_get("GITHUB", u.id); }},
        {"social delete", [&](client &x) { x.social_token_delete("GITHUB", u.id); }},
    };
    for (const auto &[name, call] : calls) {
        CAPTURE(name);
        const error_info e = error_of([&] { call(wrong_key); });
        CHECK(e.code == COTTER_ECREDENTIALS);
        CHECK(e.http_status == 401);
        CHECK(e.message.find("API key id or secret was rejected") != std::string::npos);
        CHECK(e.message.find("log in again") == std::string::npos);
    }
    // The calls that send the secret, with a wrong one.
    for (const char *name : {"identity grant", "event grant", "custom claims", "user list", "social list", "social get",
                             "social delete"}) {
        CAPTURE(name);
        for (const auto &[n, call] : calls)
            if (std::string(n) == name) {
                const error_info e = error_of([&] { call(wrong_secret); });
                CHECK(e.code == COTTER_ECREDENTIALS);
                CHECK(e.message.find("wrong-secret-value") == std::string::npos);
            }
    }
    // The refresh token was never touched: it still refreshes with the right key, and once rotated, the old one
    // is a dead refresh token again.
    CHECK(!c.refresh(t.refresh_token.str()).access_token.empty());
    const error_info dead = error_of([&] { c.refresh(t.refresh_token.str()); });
    CHECK(dead.code == COTTER_EREAUTH);
    CHECK(dead.http_status == 400);

    // By status and structured answer, whatever the server's wording.
    const char *route = "POST /api/v0/token/:api_key_id";
    const auto answer = [&](int status, const std::string &body) {
        emu.fault(std::string(R"({"route":")") + route + R"(","status":)" + std::to_string(status) + R"(,"body":)" + body + "}");
        return error_of([&] { c.refresh("1:x"); }).code;
    };
    CHECK(answer(401, R"({"msg":"Refresh token is not valid","type":""})") == COTTER_ECREDENTIALS);
    CHECK(answer(400, R"({"error":"invalid_client"})") == COTTER_ECREDENTIALS);
    CHECK(answer(403, R"({"msg":"API_KEY_ID header does not match the API key id in the path","type":""})") == COTTER_ECREDENTIALS);
    CHECK(answer(403, R"({"msg":"event was not approved","type":""})") == COTTER_EOAUTH);
    CHECK(answer(400, R"({"error":"invalid_grant","error_description":"expired"})") == COTTER_EREAUTH);
    CHECK(answer(400, R"({"msg":"Refresh token is not valid: it expired","type":""})") == COTTER_EREAUTH);
}

TEST_CASE("a refresh response without refresh_token keeps the old one; with one it replaces it") {
    emulator emu;
    client c(client_options_for(emu, false));
    emu.fault(R"({"route":"POST /api/v0/token/:api_key_id","status":200,"body":{"access_token":"a.b.c","expires_in":3600,"token_type":"Bearer"}})");
    token_set t = c.refresh("7:kept-refresh-token");
    CHECK(t.access_token.str() == "a.b.c");
    CHECK(t.refresh_token.str() == "7:kept-refresh-token");
    CHECK(t.access_expires_at == 0);
}

TEST_CASE("custom claims, with and without a refresh token; reserved claims are refused") {
    emulator emu;
    client c(client_options_for(emu));
    token_set t = login(emu, "claims@example.com");
    custom_claims_result r = c.custom_claims(t.access_token.str(), R"({"role":"admin","n":125})", "");
    CHECK(!r.token.empty());
    CHECK(r.refresh_token.empty());
    custom_claims_result r2 = c.custom_claims(t.access_token.str(), R"({"role":"admin"})", t.refresh_token.str());
    CHECK(!r2.token.empty());
    CHECK(!r2.refresh_token.empty());
    const error_info err = error_of([&] { c.custom_claims(t.access_token.str(), R"({"iss":"evil"})", ""); });
    CHECK(err.code == COTTER_EOAUTH);
    CHECK(err.http_status == 400);
    CHECK(error_of([&] { c.custom_claims(t.access_token.str(), "[]", ""); }).code == COTTER_EINVAL);
    // The documented typo alone is accepted.
    emu.fault(R"({"route":"POST /api/v0/token/custom","status":200,"body":{"token":"x.y.z","refresh_tokenn":"9:typo"}})");
    custom_claims_result r3 = c.custom_claims(t.access_token.str(), "{}", t.refresh_token.str());
    CHECK(r3.refresh_token.str() == "9:typo");
}

TEST_CASE("PKCE login through the hosted page, then get_identity; the code is single use") {
    emulator emu;
    client c(client_options_for(emu, false));
    pkce p = pkce::generate();
    const std::string redirect = "http://localhost:8080";
    const std::string query = emu.login_via_page("pkce@example.com", redirect, p.challenge, p.state.str());
    login_redirect lr = parse_login_redirect(query, p.state.str());
    identity id = c.get_identity(lr.code.str(), lr.challenge_id, p.verifier.str(), redirect);
    CHECK(id.has_token);
    CHECK(!id.token.access_token.empty());
    CHECK(id.identifier == "pkce@example.com");
    CHECK(id.identifier_type == "EMAIL");
    CHECK(!id.user_id.empty());
    CHECK(id.identity_token_json.find("\"signature\"") != std::string::npos);
    CHECK(id.json.str().find("oauth_token") != std::string::npos);
    // The identity token from get_identity can itself be exchanged (needs the secret).
    client server(client_options_for(emu));
    CHECK(!server.grant("identity_token", id.identity_token_json).access_token.empty());

    const error_info reuse = error_of([&] { c.get_identity(lr.code.str(), lr.challenge_id, p.verifier.str(), redirect); });
    CHECK(reuse.code == COTTER_EOAUTH);
    CHECK(reuse.http_status == 400);

    pkce p2 = pkce::generate();
    const std::string q2 = emu.login_via_page("pkce@example.com", redirect, p2.challenge, p2.state.str());
    login_redirect lr2 = parse_login_redirect(q2, p2.state.str());
    CHECK(error_of([&] { c.get_identity(lr2.code.str(), lr2.challenge_id, p.verifier.str(), redirect); }).code == COTTER_EOAUTH);
    CHECK(error_of([&] { parse_login_redirect(q2, p.state.str()); }).code == COTTER_ESTATE);
}

TEST_CASE("user API: create, get by identifier (all-zero ID = ENOTFOUND), get by id, list pages") {
    emulator emu;
    client c(client_options_for(emu));
    user u = c.user_create("User@Example.com");
    CHECK(!u.id.empty());
    CHECK(u.identifier == "user@example.com");
    CHECK(u.issuer == emu.info().api_key_id);
    CHECK(u.json.find("\"ID\"") != std::string::npos);
    user again = c.user_get_by_identifier("user@example.com");
    CHECK(again.id == u.id);
    const error_info nf = error_of([&] { c.user_get_by_identifier("nobody@example.com"); });
    CHECK(nf.code == COTTER_ENOTFOUND);
    CHECK(c.user_get(u.id).identifier == "user@example.com");
    CHECK(error_of([&] { c.user_get("f0f0f0f0-0000-4000-8000-000000000000"); }).code == COTTER_ENOTFOUND);
    for (int i = 0; i < 55; ++i) c.user_create("bulk" + std::to_string(i) + "@example.com");
    const user_page p0 = c.user_list(0), p1 = c.user_list(1);
    const std::vector<user> &page0 = p0.users, &page1 = p1.users;
    CHECK(page0.size() == 50);
    CHECK(page1.size() == 6);
    // The server's own account of the list is kept (56 users, more after the first page, none after the last).
    CHECK(p0.total == 56);
    CHECK(p0.has_more == 1);
    CHECK(p1.total == 56);
    CHECK(p1.has_more == 0);
    // The page as the C ABI hands it over: the checked users, then the paging facts, in one shape.
    CHECK(p0.json.rfind("{\"users\":[" + page0.front().json + ",", 0) == 0);
    CHECK(p0.json.size() > 50 * 20);
    CHECK(p0.json.find("],\"total\":56,\"has_more\":true}") != std::string::npos);
    CHECK(p1.json.find("],\"total\":56,\"has_more\":false}") != std::string::npos);
    std::set<std::string> ids;
    for (const auto &x : page0) ids.insert(x.id);
    for (const auto &x : page1) ids.insert(x.id);
    CHECK(ids.size() == 56);  // no user on two pages, none missing
    client no_secret(client_options_for(emu, false));
    CHECK(error_of([&] { no_secret.user_list(0); }).code == COTTER_EINVAL);
    // Hostile path segments are percent-encoded, not interpreted.
    CHECK(error_of([&] { c.user_get("../list?page=0"); }).code == COTTER_ENOTFOUND);
}

TEST_CASE("social provider tokens: list, get, delete; unknown user or provider = ENOTFOUND") {
    emulator emu;
    client c(client_options_for(emu));
    user u = c.user_create("social@example.com");
    emu.dev_ok("POST", "/social_tokens",
               R"({"user_id":")" + u.id + R"(","identity_provider":"GITHUB","provider_username":"octo","tokens":{"access_token":"gho_secret","scope":"repo","token_type":"bearer"}})");
    emu.dev_ok("POST", "/social_tokens", R"({"user_id":")" + u.id + R"(","identity_provider":"GOOGLE"})");
    social_token_list list = c.social_tokens_list(u.id);
    REQUIRE(list.items.size() == 2);
    // The list's JSON is one array of the rows, in order (what the C ABI hands over).
    const std::string &json = list.json.str();
    CHECK(json.front() == '[');
    CHECK(json.back() == ']');
    size_t at = 0;
    for (const auto &row : list.items) {
        at = json.find("\"identity_provider\":\"" + row.provider + "\"", at);
        CHECK(at != std::string::npos);
    }
    social_token gh = c.social_token_get("github", u.id);
    CHECK(gh.provider == "GITHUB");
    CHECK(gh.provider_username == "octo");
    CHECK(gh.access_token.str() == "gho_secret");
    CHECK(gh.scope == "repo");
    CHECK(gh.user_id == u.id);
    c.social_token_delete("GITHUB", u.id);
    CHECK(error_of([&] { c.social_token_get("GITHUB", u.id); }).code == COTTER_ENOTFOUND);
    CHECK(error_of([&] { c.social_token_delete("GITHUB", u.id); }).code == COTTER_ENOTFOUND);
    CHECK(c.social_tokens_list(u.id).items.size() == 1);
    CHECK(error_of([&] { c.social_tokens_list("f0f0f0f0-0000-4000-8000-000000000000"); }).code == COTTER_ENOTFOUND);
}

TEST_CASE("social tokens are handed over as the server's checked bytes, minified: escapes and numbers as sent") {
    // The core hands over the body it checked (minified in one pass), not a re-serialisation of its parse: the
    // whitespace goes, everything else stays byte for byte (an escape stays an escape, 1.50 stays 1.50).
    emulator emu;
    client c(client_options_for(emu, true));
    auto with_body = [&](const char *route, const std::string &body) {
        std::string escaped;
        for (char ch : body) {
            if (ch == '"' || ch == '\\') escaped += '\\';
            else if (ch == '\n') { escaped += "\\n"; continue; }
            escaped += ch;
        }
        emu.fault(std::string(R"({"route":")") + route + R"(","status":200,"body":")" + escaped + R"("})");
    };
    const std::string row =
        "{\n  \"identity_provider\" : \"GIT\\u0048UB\",\n  \"provider_username\": \"a b [c] {d}: e, \\\"f\\\" \\/ \\u00e9\",\n"
        "  \"tokens\": { \"access_token\": \"gho_x\", \"scope\": \"repo\" },\n  \"extra\": [ 1.50, 1e2, -0, true, null ]\n}";
    const std::string minified =
        R"({"identity_provider":"GIT\u0048UB","provider_username":"a b [c] {d}: e, \"f\" \/ \u00e9",)"
        R"("tokens":{"access_token":"gho_x","scope":"repo"},"extra":[1.50,1e2,-0,true,null]})";
    with_body("GET /api/v0/oauth/token/list/:cotter_user_id", "[\n  " + row + " ,\n  " + row + "\n]\n");
    const social_token_list list = c.social_tokens_list("u");
    REQUIRE(list.items.size() == 2);
    CHECK(list.items[0].provider == "GITHUB");  // the typed fields are the decoded values
    CHECK(list.items[1].provider_username == "a b [c] {d}: e, \"f\" / \xc3\xa9");
    CHECK(list.json.str() == "[" + minified + "," + minified + "]");
    with_body("GET /api/v0/oauth/token/:provider/:cotter_user_id", row);
    const social_token one = c.social_token_get("GITHUB", "u");
    CHECK(one.access_token.str() == "gho_x");
    CHECK(one.json.str() == minified);
    // Every row is still checked before anything is handed over: one bad row fails the whole list.
    for (const std::string body : {R"([{"identity_provider":"A"},{"user_id":"u"}])",
                                   R"([{"identity_provider":"A"},{"identity_provider":"B","tokens":{"access_token":1}}])",
                                   R"([{"identity_provider":"A"},"B"])", R"({"identity_provider":"A"})",
                                   R"([{"identity_provider":"A","identity_provider":"B"}])"}) {
        CAPTURE(body);
        with_body("GET /api/v0/oauth/token/list/:cotter_user_id", body);
        CHECK(error_of([&] { c.social_tokens_list("u"); }).code == COTTER_EPROTOCOL);
    }
}

TEST_CASE("serverless verify: a real token passes, garbage fails with the worker's reason") {
    emulator emu;
    client c(client_options_for(emu, false));
    token_set t = login(emu, "worker@example.com");
    verify_result ok = c.verify_remote(t.access_token.str());
    CHECK(ok.valid);
    verify_result bad = c.verify_remote("not.a.jwt");
    CHECK_FALSE(bad.valid);
    CHECK(!bad.reason.empty());
}

TEST_CASE("error mapping: 5xx and 429 are EHTTP (with Retry-After), HTML is EPROTOCOL, a redirect is EHTTP") {
    emulator emu;
    client c(client_options_for(emu, false));
    emu.fault(R"({"route":"POST /api/v0/token/:api_key_id","status":500})");
    error_info e = error_of([&] { c.refresh("1:x"); });
    CHECK(e.code == COTTER_EHTTP);
    CHECK(e.http_status == 500);
    emu.fault(R"({"route":"POST /api/v0/token/:api_key_id","status":429,"retry_after":7})");
    e = error_of([&] { c.refresh("1:x"); });
    CHECK(e.code == COTTER_EHTTP);
    CHECK(e.http_status == 429);
    CHECK(e.retry_after == 7);
    emu.fault(R"({"route":"POST /api/v0/token/:api_key_id","non_json":true})");
    CHECK(error_of([&] { c.refresh("1:x"); }).code == COTTER_EPROTOCOL);
    emu.fault(R"({"route":"POST /api/v0/token/:api_key_id","non_json":true,"non_json_status":502})");
    CHECK(error_of([&] { c.refresh("1:x"); }).code == COTTER_EHTTP);
    emu.fault(R"({"route":"POST /api/v0/token/:api_key_id","redirect":"file:///etc/passwd"})");
    e = error_of([&] { c.refresh("1:x"); });
    CHECK(e.code == COTTER_EHTTP);
    CHECK(e.http_status == 302);
    emu.fault(R"({"route":"POST /api/v0/token/:api_key_id","status":400,"body":{"error":"invalid_grant","error_description":"refresh token is not valid"}})");
    e = error_of([&] { c.refresh("1:x"); });
    CHECK(e.code == COTTER_EREAUTH);
    CHECK(e.oauth_error == "invalid_grant");
    emu.fault(R"({"route":"POST /api/v0/token/:api_key_id","status":403,"body":{"msg":"forbidden for 1:secret-rt","type":"auth"}})");
    e = error_of([&] { c.refresh("1:secret-rt"); });
    CHECK(e.code == COTTER_EOAUTH);
    CHECK(e.oauth_error == "auth");
    CHECK(e.oauth_error_description.find("1:secret-rt") == std::string::npos);  // echoed secrets are redacted
    CHECK(e.message.find("1:secret-rt") == std::string::npos);
}

TEST_CASE("hostile 2xx bodies are EPROTOCOL, never a crash") {
    emulator emu;
    client c(client_options_for(emu, false));
    const std::string big(20000, 'a');
    std::string deep;
    for (int i = 0; i < 2000; ++i) deep += "[";
    const std::vector<std::string> bodies = {
        R"({"access_token":123})",
        R"({"access_token":["a"]})",
        R"({"access_token":null})",
        R"({"expires_in":3600})",
        R"({"access_token":"a.b.c","access_token":"d.e.f"})",
        R"({"access_token":"a.b.c","expires_in":"soon"})",
        R"({"access_token":"a.b.c","expires_in":1e400})",
        R"({"access_token":"a.b.c","expires_in":123456789012345678901234567890})",
        R"({"access_token":")" + big + R"("})",
        R"({"access_token":"a.b.c","x":)" + deep + "}",
        R"("just a string")",
        R"([])",
        R"({"access_token":"a\ud800.b"})",
    };
    for (const auto &body : bodies) {
        CAPTURE(body.substr(0, 80));
        std::string escaped;
        for (char ch : body) {
            if (ch == '"' || ch == '\\') escaped += '\\';
            escaped += ch;
        }
        emu.fault(R"({"route":"POST /api/v0/token/:api_key_id","status":200,"body":")" + escaped + R"("})");
        CHECK(error_of([&] { c.refresh("1:x"); }).code == COTTER_EPROTOCOL);
    }
}

TEST_CASE("records with members of the wrong type are EPROTOCOL: the JSON handed over is always the checked shape") {
    emulator emu;
    client c(client_options_for(emu, true));
    auto with_body = [&](const char *route, const std::string &body) {
        std::string escaped;
        for (char ch : body) {
            if (ch == '"' || ch == '\\') escaped += '\\';
            escaped += ch;
        }
        emu.fault(std::string(R"({"route":")") + route + R"(","status":200,"body":")" + escaped + R"("})");
    };
    for (const std::string body : {R"({"ID":123})", R"({"issuer":"k"})", R"({"ID":"a","enrolled":"PIN"})",
                                   R"({"ID":"a","enrolled":[1]})", R"({"ID":"a","ID":"b"})", R"({"ID":"a","created_at":{}})",
                                   R"([])"}) {
        CAPTURE(body);
        with_body("GET /api/v0/user", body);
        CHECK(error_of([&] { c.user_get_by_identifier("x@example.com"); }).code == COTTER_EPROTOCOL);
    }
    // A bare array (Cotter's documented answer) carries no paging facts: the page says null, in the one shape.
    with_body("GET /api/v0/user/list", R"([{"ID":"a","identifier":"a@example.com","extra":{"k":[1,2]}}])");
    const user_page bare = c.user_list(0);
    CHECK(bare.json == R"({"users":[{"ID":"a","identifier":"a@example.com","extra":{"k":[1,2]}}],"total":null,"has_more":null})");
    for (const std::string body : {R"({"identity_provider":"GITHUB","tokens":"gho"})",
                                   R"({"identity_provider":"GITHUB","tokens":{"access_token":1}})", R"({"user_id":"u"})"}) {
        CAPTURE(body);
        with_body("GET /api/v0/oauth/token/:provider/:cotter_user_id", body);
        CHECK(error_of([&] { c.social_token_get("GITHUB", "u"); }).code == COTTER_EPROTOCOL);
    }
    for (const std::string body : {R"({"user":"u"})", R"({"identifier":"a@b.c"})", R"({"token":"t"})",
                                   R"({"oauth_token":{"access_token":1}})"}) {
        CAPTURE(body);
        with_body("POST /api/v0/verify/get_identity", body);
        CHECK(error_of([&] { c.get_identity("code", 1, "verifier", "http://127.0.0.1/cb"); }).code == COTTER_EPROTOCOL);
    }
}

TEST_CASE("client options: base URL from the environment, https or loopback http only") {
    setenv("COTTER_BASE_URL", "https://cotter.example.test/api/v0/", 1);
    client_options o;
    o.api_key_id = "key";
    client c(std::move(o));
    CHECK(c.base_url() == "https://cotter.example.test/api/v0");
    unsetenv("COTTER_BASE_URL");
    client_options d;
    d.api_key_id = "key";
    CHECK(client(std::move(d)).base_url() == k_default_base_url);
    client_options bad;
    bad.api_key_id = "key";
    bad.base_url = "http://example.com/api";
    CHECK(error_of([&] { client x(std::move(bad)); }).code == COTTER_EINVAL);
    client_options nokey;
    CHECK(error_of([&] { client x(std::move(nokey)); }).code == COTTER_EINVAL);
}

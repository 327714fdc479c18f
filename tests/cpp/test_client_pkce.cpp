/**
 * @file test_client_pkce.cpp
 * @brief PKCE values, the hosted-login URL (RFC 3986 percent-encoding), the login-redirect parser, the JSON
 * writer's escaping, the token-set JSON round trip and the unverified `exp`.
 */
#include <doctest/doctest.h>

#include <set>

#include "common/base64.hpp"
#include "json/writer.hpp"
#include "support/client_fixture.hpp"
#include "token/pkce.hpp"
#include "token/url.hpp"

using namespace cotter::core;
using namespace cotter::core::token;
using cotter::test::error_of;

TEST_CASE("PKCE: 43-char base64url verifier, S256 challenge (RFC 7636 appendix B), 22-char state, all distinct") {
    CHECK(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        pkce p = pkce::generate();
        CHECK(p.verifier.size() == 43);
        CHECK(p.state.size() == 22);
        CHECK(p.challenge == pkce_challenge(p.verifier.str()));
        CHECK(p.verifier.str().find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
              std::string::npos);
        seen.insert(p.verifier.str());
    }
    CHECK(seen.size() == 100);
}

TEST_CASE("login URL: §2.9 parameters, RFC 3986 percent-encoding, validation") {
    login_url_params p;
    p.api_key_id = "key-1";
    p.redirect_url = "http://localhost:8080/cb?x=1&y=2";
    p.state = "st ate/+";
    p.code_challenge = "abc_-";
    p.auth_method = "MAGIC_LINK";
    p.input = "+1 (555) 010-0000";
    p.identifier_type = "PHONE";
    p.cotter_user_id = "u";
    const std::string url = login_url(p);
    CHECK(url == "https://js.cotter.app/app?api_key=key-1&redirect_url=http%3A%2F%2Flocalhost%3A8080%2Fcb%3Fx%3D1%26y%3D2"
                 "&type=PHONE&state=st%20ate%2F%2B&code_challenge=abc_-&auth_method=MAGIC_LINK&direct_login=true"
                 "&input=%2B1%20%28555%29%20010-0000&cotter_user_id=u");
    login_url_params q;
    q.login_url = "http://127.0.0.1:1234/app";
    q.api_key_id = "k";
    q.redirect_url = "cotter://auth";
    q.state = "s";
    q.code_challenge = "c";
    CHECK(login_url(q) == "http://127.0.0.1:1234/app?api_key=k&redirect_url=cotter%3A%2F%2Fauth&type=EMAIL&state=s&code_challenge=c");
    q.identifier_type = "FAX";
    CHECK(error_of([&] { login_url(q); }).code == COTTER_EINVAL);
    q.identifier_type = "";
    q.state = "";
    CHECK(error_of([&] { login_url(q); }).code == COTTER_EINVAL);
    CHECK(percent_encode("ü~") == "%C3%BC~");
}

TEST_CASE("login redirect: state in constant time, error parameter, malformed fields") {
    login_redirect r = parse_login_redirect("?code=abc%2Fd&state=xyz&challenge_id=42", "xyz");
    CHECK(r.code.str() == "abc/d");
    CHECK(r.challenge_id == 42);
    CHECK(parse_login_redirect("http://localhost:8080/?state=xyz&code=c&challenge_id=7#frag", "xyz").challenge_id == 7);
    CHECK(error_of([&] { parse_login_redirect("code=a&state=xy&challenge_id=1", "xyz"); }).code == COTTER_ESTATE);
    CHECK(error_of([&] { parse_login_redirect("code=a&challenge_id=1", "xyz"); }).code == COTTER_ESTATE);
    const error_info denied = error_of([&] {
        parse_login_redirect("error=access_denied&error_description=user%20cancelled&state=xyz", "xyz");
    });
    CHECK(denied.code == COTTER_ESTATE);
    CHECK(denied.oauth_error == "access_denied");
    CHECK(denied.oauth_error_description == "user cancelled");
    CHECK(error_of([&] { parse_login_redirect("state=xyz&challenge_id=1", "xyz"); }).code == COTTER_EPROTOCOL);
    CHECK(error_of([&] { parse_login_redirect("state=xyz&code=a", "xyz"); }).code == COTTER_EPROTOCOL);
    for (const char *bad : {"-1", "1x", "99999999999999999999", "", "+5", " 5"}) {
        CAPTURE(bad);
        CHECK(error_of([&] { parse_login_redirect(std::string("state=xyz&code=a&challenge_id=") + bad, "xyz"); }).code ==
              COTTER_EPROTOCOL);
    }
    CHECK(error_of([&] { parse_login_redirect("state=xyz&state=xyz&code=a&challenge_id=1", "xyz"); }).code == COTTER_EPROTOCOL);
    CHECK(error_of([&] { parse_login_redirect("state=xyz&code=%zz&challenge_id=1", "xyz"); }).code == COTTER_EPROTOCOL);
    CHECK(error_of([&] { parse_login_redirect("state=xyz&code=%2&challenge_id=1", "xyz"); }).code == COTTER_EPROTOCOL);
}

TEST_CASE("JSON writer: escaping per RFC 8259, nesting, raw objects checked, invalid UTF-8 refused") {
    json::writer w;
    w.begin_object().key("a\"b").value("q\"\\\n\t\x01\x7f/é").key("n").value(int64_t{-5}).key("t").value(true);
    w.key("arr").begin_array().value("x").null().value(false).end_array();
    w.key("o").raw(R"( { "k" : [1, 2] } )", true).end_object();
    CHECK(w.str() == "{\"a\\\"b\":\"q\\\"\\\\\\n\\t\\u0001\\u007f/é\",\"n\":-5,\"t\":true,\"arr\":[\"x\",null,false],\"o\":{\"k\":[1,2]}}");
    json::writer bad;
    CHECK(error_of([&] { bad.value(std::string("\xff\xfe")); }).code == COTTER_EINVAL);
    CHECK(error_of([&] { json::writer().raw("{} {}", true); }).code == COTTER_EINVAL);
    CHECK(error_of([&] { json::writer().raw("[1]", true); }).code == COTTER_EINVAL);
}

TEST_CASE("token set JSON round trip and the unverified exp") {
    const std::string payload = base64::url_encode(std::string(R"({"exp":1700000000,"sub":"x"})"));
    token_set t;
    t.access_token = secret_string("e30." + payload + ".sig");
    t.refresh_token = secret_string("1:r");
    t.token_type = "Bearer";
    t.expires_in = 3600;
    const std::string json = t.to_json();
    CHECK(json == "{\"access_token\":\"e30." + payload + ".sig\",\"expires_in\":3600,\"refresh_token\":\"1:r\",\"token_type\":\"Bearer\"}");
    token_set back = token_set::from_json(json, "t");
    CHECK(back.access_expires_at == 1700000000);
    CHECK(back.refresh_token.str() == "1:r");
    CHECK(unverified_exp("no-dots") == 0);
    CHECK(unverified_exp("a.!!!.c") == 0);
    CHECK(unverified_exp("a." + base64::url_encode(std::string(R"({"exp":"1700000000"})")) + ".c") == 0);
    CHECK(unverified_exp("a." + base64::url_encode(std::string(R"({"exp":1e400})")) + ".c") == 0);
    CHECK(unverified_exp("a." + base64::url_encode(std::string("[[[[")) + ".c") == 0);
    CHECK(unverified_exp("a." + base64::url_encode(std::string(R"({"exp":-5})")) + ".c") == 0);
    // A NumericDate may have a fraction (RFC 7519 §2): the refresh is scheduled at the earlier whole second
    // (it used to read as "no exp", and such a token was never refreshed ahead of time).
    CHECK(unverified_exp("a." + base64::url_encode(std::string(R"({"exp":1796537618.5})")) + ".c") == 1796537618);
}

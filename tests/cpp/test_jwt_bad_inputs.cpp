/**
 * @file test_jwt_bad_inputs.cpp
 * @brief Every row of spec/bad-inputs.md §1c, one TEST_CASE per row and one SUBCASE per variant, each asserting
 * its stable status through the C ABI. Rows 19 and 20 are controls and must accept.
 */
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/http_server.hpp"
#include "support/jwt_builder.hpp"
#include "support/verify_helpers.hpp"

using namespace cotter::test;

namespace {

const std::string k_kid = "SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9";
const std::string k_iss = "https://www.cotter.app";

// One signing key, a verifier over its JWKS, and helpers to sign arbitrary header/payload text.
struct fixture {
    ec_key key{k_kid};
    test_clock clock;
    std::string set = jwks({key.jwk(R"("use":"sig")")});
    verifier_ptr v = make_verifier(options_for(clock, &set));

    std::string payload(const std::string &extra = "") const {
        std::string p = payload_for(k_now, k_audience);
        if (!extra.empty()) p = p.substr(0, p.size() - 1) + "," + extra + "}";
        return p;
    }
    std::string token(const std::string &header, const std::string &payload_json) const {
        return sign_es256(key, header, payload_json);
    }
    std::string good() const { return token(header_for(k_kid), payload()); }
    std::string status(const std::string &tok) const { return name_of(verify_status(v.get(), tok)); }
    // A token whose payload is exactly `claims` (a JSON object body without braces).
    std::string with_claims(const std::string &claims) const { return token(header_for(k_kid), "{" + claims + "}"); }
};

std::string base_claims(const std::string &skip = "") {
    std::vector<std::pair<std::string, std::string>> all = {
        {"iss", "\"" + k_iss + "\""},
        {"aud", "\"" + std::string(k_audience) + "\""},
        {"exp", std::to_string(k_now + 3600)},
        {"iat", std::to_string(k_now)},
        {"sub", "\"u1\""},
    };
    std::string out;
    for (auto &kv : all) {
        if (kv.first == skip) continue;
        if (!out.empty()) out += ",";
        out += "\"" + kv.first + "\":" + kv.second;
    }
    return out;
}

// Replaces one claim's JSON value (or adds it).
std::string claims_with(const std::string &name, const std::string &value) {
    return base_claims(name) + ",\"" + name + "\":" + value;
}

const std::string k_url_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Sets the lowest unused bit of a segment's last character (same bytes, non-canonical spelling).
std::string noncanonical(const std::string &segment) {
    std::string s = segment;
    size_t idx = k_url_alphabet.find(s.back());
    s.back() = k_url_alphabet[idx | 1];
    return s;
}

std::vector<std::string> split(const std::string &token) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (;;) {
        size_t dot = token.find('.', start);
        parts.push_back(token.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    return parts;
}

}  // namespace

TEST_CASE("control: a good token verifies and yields its claims") {
    fixture f;
    claims_ptr c;
    REQUIRE(verify_status(f.v.get(), f.good(), &c) == COTTER_OK);
    CHECK(std::string(cotter_claims_sub(c.get())) == "09efb1b-e50f-41fd-8530-88ffbcd80f59");
    CHECK(std::string(cotter_claims_iss(c.get())) == k_iss);
    CHECK(std::string(cotter_claims_kid(c.get())) == k_kid);
    CHECK(cotter_claims_exp(c.get()) == k_now + 3600);
    CHECK(cotter_claims_iat(c.get()) == k_now);
    CHECK(cotter_claims_nbf(c.get()) == 0);
    CHECK(cotter_claims_audience_count(c.get()) == 1);
    CHECK(std::string(cotter_claims_audience(c.get(), 0)) == k_audience);
    CHECK(cotter_claims_audience(c.get(), 1) == nullptr);
    CHECK(std::string(cotter_claims_identifier(c.get())) == "putri@cotter.app");
    CHECK(std::string(cotter_claims_authentication_method(c.get())) == "OTP");
    CHECK(std::string(cotter_claims_scope(c.get())) == "access");
    CHECK(std::string(cotter_claims_type(c.get())) == "client_access_token");
    CHECK(std::string(cotter_claims_jti(c.get())) == "47fba8ba-0000-4000-a22c-a2b8b72e8b98");
    CHECK(cotter_claims_auth_time(c.get()) == nullptr);
    size_t len = 0;
    const char *json = cotter_claims_json(c.get(), &len);
    CHECK(std::string(json, len) == f.payload());
}

TEST_CASE("row 1: unsigned tokens (alg none and friends) -> COTTER_EJWT_ALG") {
    fixture f;
    const std::string p = b64url(f.payload());
    for (const char *alg : {"none", "None", "NONE", "nOnE"}) {
        SUBCASE((std::string("alg ") + alg + " with an empty signature").c_str()) {
            const std::string h = b64url(std::string(R"({"alg":")") + alg + R"(","typ":"JWT"})");
            CHECK(f.status(h + "." + p + ".") == "COTTER_EJWT_ALG");
        }
    }
    SUBCASE("alg none with a signature present") {
        const std::string h = R"({"alg":"none","kid":")" + k_kid + R"("})";
        CHECK(f.status(f.token(h, f.payload())) == "COTTER_EJWT_ALG");
    }
    SUBCASE("alg missing") { CHECK(f.status(f.token(R"({"kid":")" + k_kid + R"("})", f.payload())) == "COTTER_EJWT_ALG"); }
    for (const char *alg : {"1", "256", "[\"ES256\"]", "null", "{}", "true", "\"es256\"", "\"ES256 \"", "\"\""}) {
        SUBCASE((std::string("alg as ") + alg).c_str()) {
            const std::string h = std::string(R"({"alg":)") + alg + R"(,"kid":")" + k_kid + R"("})";
            CHECK(f.status(f.token(h, f.payload())) == "COTTER_EJWT_ALG");
        }
    }
}

TEST_CASE("row 2: HS/ES confusion (HMAC keyed with the public key) -> COTTER_EJWT_ALG") {
    fixture f;
    const std::vector<std::pair<std::string, std::string>> secrets = {
        {"PEM", f.key.public_pem()},
        {"DER", f.key.public_der()},
        {"JWK JSON", f.key.jwk()},
        {"raw x||y", f.key.x() + f.key.y()},
        {"uncompressed point", f.key.uncompressed_point()},
        {"empty key", ""},
    };
    for (const char *alg : {"HS256", "HS384", "HS512"}) {
        for (const auto &s : secrets) {
            SUBCASE((std::string(alg) + " keyed with the " + s.first).c_str()) {
                const std::string h = std::string(R"({"alg":")") + alg + R"(","kid":")" + k_kid + R"("})";
                CHECK(f.status(sign_hmac(alg, s.second, h, f.payload())) == "COTTER_EJWT_ALG");
            }
        }
    }
}

TEST_CASE("row 3: algorithm / key mismatch") {
    fixture f;
    for (const char *alg : {"RS256", "PS256", "EdDSA", "ES384", "ES512", "ES256K"}) {
        SUBCASE((std::string(alg) + " header against an EC P-256 JWKS -> ALG").c_str()) {
            const std::string h = std::string(R"({"alg":")") + alg + R"(","kid":")" + k_kid + R"("})";
            CHECK(f.status(f.token(h, f.payload())) == "COTTER_EJWT_ALG");
        }
    }
    for (const char *curve : {"P-384", "P-521", "secp256k1"}) {
        SUBCASE((std::string("ES256 header selecting a ") + curve + " JWK -> KEY_MISMATCH").c_str()) {
            ec_key other("other", curve);
            std::string set = jwks({f.key.jwk(), other.jwk()});
            auto v = make_verifier(options_for(f.clock, &set));
            const std::string tok = sign_es256(f.key, header_for("other"), f.payload());
            CHECK(name_of(verify_status(v.get(), tok)) == "COTTER_EJWT_KEY_MISMATCH");
        }
    }
    SUBCASE("JWK alg differs from the header alg -> KEY_MISMATCH") {
        std::string set = jwks({f.key.jwk(R"("alg":"ES384")")});
        auto v = make_verifier(options_for(f.clock, &set));
        CHECK(name_of(verify_status(v.get(), f.good())) == "COTTER_EJWT_KEY_MISMATCH");
    }
    SUBCASE("JWK without alg: an oct key is never usable for ES256, nor as an HMAC secret") {
        const std::string secret = "attacker-known-secret";
        std::string set = jwks({R"({"kty":"oct","kid":"sym","k":")" + b64url(secret) + R"("})", f.key.jwk()});
        auto v = make_verifier(options_for(f.clock, &set));
        CHECK(name_of(verify_status(v.get(), sign_es256(f.key, header_for("sym"), f.payload()))) ==
              "COTTER_EJWT_KEY_MISMATCH");
        CHECK(name_of(verify_status(v.get(), sign_hmac("HS256", secret, R"({"alg":"HS256","kid":"sym"})", f.payload()))) ==
              "COTTER_EJWT_ALG");
    }
    SUBCASE("JWK without alg: an EC P-256 key is usable, the algorithm being pinned by configuration") {
        CHECK(f.status(f.good()) == "COTTER_OK");
    }
}

TEST_CASE("row 4: embedded or remote key injection -> COTTER_EJWT_HEADER") {
    fixture f;
    ec_key attacker(k_kid);
    const std::string jwk = attacker.jwk();
    for (const std::string member : {R"("jwk":)" + jwk, std::string(R"("jku":"https://evil.example/jwks")"),
                                     std::string(R"("x5u":"https://evil.example/cert.pem")"),
                                     std::string(R"("x5c":["MIIB"])"), std::string(R"("x5t":"abc")"),
                                     std::string(R"("x5t#S256":"abc")")}) {
        SUBCASE(member.substr(0, 8).c_str()) {
            const std::string h = R"({"alg":"ES256","kid":")" + k_kid + R"(",)" + member + "}";
            // Signed by the attacker's key (what the injection wants honoured) and by the real key: both rejected.
            CHECK(name_of(verify_status(f.v.get(), sign_es256(attacker, h, f.payload()))) == "COTTER_EJWT_HEADER");
            CHECK(f.status(f.token(h, f.payload())) == "COTTER_EJWT_HEADER");
        }
    }
}

TEST_CASE("row 5: kid abuse") {
    fixture f;
    SUBCASE("path traversal kid -> KEY_NOT_FOUND") {
        CHECK(f.status(f.token(header_for("../../../etc/passwd"), f.payload())) == "COTTER_EJWT_KEY_NOT_FOUND");
    }
    SUBCASE("NUL in kid -> HEADER") {
        CHECK(f.status(f.token(R"({"alg":"ES256","kid":"a\u0000b"})", f.payload())) == "COTTER_EJWT_HEADER");
        CHECK(f.status(f.token(R"({"alg":"ES256","kid":")" + k_kid + R"(\u0000"})", f.payload())) == "COTTER_EJWT_HEADER");
    }
    SUBCASE("control character in kid -> HEADER") {
        CHECK(f.status(f.token(R"({"alg":"ES256","kid":"a\nb"})", f.payload())) == "COTTER_EJWT_HEADER");
    }
    SUBCASE("300-byte kid -> HEADER") {
        CHECK(f.status(f.token(header_for(std::string(300, 'k')), f.payload())) == "COTTER_EJWT_HEADER");
    }
    SUBCASE("10 kB kid -> MALFORMED (header beyond 4 KiB)") {
        CHECK(f.status(f.token(header_for(std::string(10000, 'k')), f.payload())) == "COTTER_EJWT_MALFORMED");
    }
    for (const char *kid : {"1", "[]", "null", "{}", "true"}) {
        SUBCASE((std::string("kid as ") + kid + " -> HEADER").c_str()) {
            CHECK(f.status(f.token(std::string(R"({"alg":"ES256","kid":)") + kid + "}", f.payload())) ==
                  "COTTER_EJWT_HEADER");
        }
    }
    SUBCASE("duplicate kids in the JWKS -> EJWKS_INVALID") {
        ec_key other(k_kid);
        std::string set = jwks({f.key.jwk(), other.jwk()});
        CHECK(name_of(create_status(options_for(f.clock, &set))) == "COTTER_EJWKS_INVALID");
    }
    SUBCASE("random kids against a remote JWKS: at most one fetch per cooldown") {
        http_server server;
        server.respond_json(f.set);
        const std::string url = server.url();
        auto o = options_for(f.clock, nullptr, &url);
        o.jwks_cooldown_ms = 30000;
        auto v = make_verifier(o);
        REQUIRE(verify_status(v.get(), f.good()) == COTTER_OK);
        CHECK(server.requests() == 1);
        for (int i = 0; i < 50; ++i)
            CHECK(verify_status(v.get(), f.token(header_for("random-" + std::to_string(i)), f.payload())) ==
                  COTTER_EJWT_KEY_NOT_FOUND);
        CHECK(server.requests() == 1);  // the initial fetch was less than a cooldown ago
        f.clock.now += 31;
        for (int i = 0; i < 50; ++i)
            CHECK(verify_status(v.get(), f.token(header_for("again-" + std::to_string(i)), f.payload())) ==
                  COTTER_EJWT_KEY_NOT_FOUND);
        CHECK(server.requests() == 2);  // one refetch for the whole burst
    }
}

TEST_CASE("row 6: crit") {
    fixture f;
    for (const char *crit : {R"(["unknown"])", "[]", R"("b64")", R"(["alg"])", R"(["exp"])", R"(["b64"])", "null", "{}"}) {
        SUBCASE((std::string("crit ") + crit + " -> CRIT").c_str()) {
            const std::string h = R"({"alg":"ES256","kid":")" + k_kid + R"(","crit":)" + crit + (std::string(crit) == R"(["b64"])" ? R"(,"b64":false)" : "") + "}";
            CHECK(f.status(f.token(h, f.payload())) == "COTTER_EJWT_CRIT");
        }
    }
    SUBCASE("b64:false without crit -> HEADER") {
        const std::string h = R"({"alg":"ES256","kid":")" + k_kid + R"(","b64":false})";
        CHECK(f.status(f.token(h, f.payload())) == "COTTER_EJWT_HEADER");
    }
}

TEST_CASE("row 7: claim type confusion -> COTTER_EJWT_CLAIM_TYPE") {
    fixture f;
    for (const char *claim : {"exp", "nbf", "iat"}) {
        // Not a number, not finite, negative, or beyond int64 (as an integer or as a float). A finite non-negative
        // number with a fraction is a valid NumericDate (RFC 7519 §2; bad-inputs.md row 7): see the next case.
        for (const char *value : {"\"9999999999\"", "\"never\"", "\"1796537618.5\"", "true", "null", "[]", "{}",
                                  "[1796537618.5]", "1e400", "-1e400", "-1", "-0.5", "-0.0", "-1e-300",
                                  "9223372036854775808", "99999999999999999999999", "9223372036854775808.0",
                                  "9.3e18", "1e19"}) {
            SUBCASE((std::string(claim) + " = " + value).c_str()) {
                CHECK(f.status(f.with_claims(claims_with(claim, value))) == "COTTER_EJWT_CLAIM_TYPE");
            }
        }
    }
    SUBCASE("aud:[] -> AUDIENCE (well-typed, names nobody)") {
        CHECK(f.status(f.with_claims(claims_with("aud", "[]"))) == "COTTER_EJWT_AUDIENCE");
    }
    for (const char *value : {"123", "null", "true", "{}", "[123]", R"(["ok",null])", R"([["nested"]])"}) {
        SUBCASE((std::string("aud = ") + value).c_str()) {
            CHECK(f.status(f.with_claims(claims_with("aud", value))) == "COTTER_EJWT_CLAIM_TYPE");
        }
    }
    SUBCASE("iss as an array") {
        CHECK(f.status(f.with_claims(claims_with("iss", "[\"" + k_iss + "\"]"))) == "COTTER_EJWT_CLAIM_TYPE");
    }
    SUBCASE("sub as a number") { CHECK(f.status(f.with_claims(claims_with("sub", "123"))) == "COTTER_EJWT_CLAIM_TYPE"); }
    SUBCASE("jti as an object") { CHECK(f.status(f.with_claims(claims_with("jti", "{}"))) == "COTTER_EJWT_CLAIM_TYPE"); }
}

TEST_CASE("row 7: a NumericDate may have a fraction; it is compared as a number and reported floored") {
    fixture f;
    auto o = options_for(f.clock, &f.set);
    o.leeway_seconds = 0;
    auto v = make_verifier(o);
    const auto with = [&](const char *claim, const std::string &value) { return f.with_claims(claims_with(claim, value)); };
    const std::string half = std::to_string(k_now) + ".5";  // now + 0.5 s
    SUBCASE("the spec's example 1796537618.5 is valid, and getters floor it") {
        claims_ptr c;
        f.clock.now = 1796537618 - 100;
        CHECK(name_of(verify_status(v.get(), with("exp", "1796537618.5"), &c)) == "COTTER_OK");
        REQUIRE(c);
        CHECK(cotter_claims_exp(c.get()) == 1796537618);
        f.clock.now = 1796537618;  // 0.5 s before exp
        CHECK(name_of(verify_status(v.get(), with("exp", "1796537618.5"))) == "COTTER_OK");
        f.clock.now = 1796537619;  // 0.5 s after exp
        CHECK(name_of(verify_status(v.get(), with("exp", "1796537618.5"))) == "COTTER_EJWT_EXPIRED");
    }
    SUBCASE("exp = now + 0.5 is valid now and expired one second later") {
        CHECK(name_of(verify_status(v.get(), with("exp", half))) == "COTTER_OK");
        f.clock.now = k_now + 1;
        CHECK(name_of(verify_status(v.get(), with("exp", half))) == "COTTER_EJWT_EXPIRED");
    }
    SUBCASE("nbf and iat = now + 0.5 are in the future now, fine one second later; getters floor them") {
        CHECK(name_of(verify_status(v.get(), with("nbf", half))) == "COTTER_EJWT_NOT_YET_VALID");
        CHECK(name_of(verify_status(v.get(), with("iat", half))) == "COTTER_EJWT_NOT_YET_VALID");
        f.clock.now = k_now + 1;
        claims_ptr c;
        CHECK(name_of(verify_status(v.get(), f.with_claims(base_claims("iat") + ",\"iat\":" + half + ",\"nbf\":" + half), &c)) == "COTTER_OK");
        REQUIRE(c);
        CHECK(cotter_claims_iat(c.get()) == k_now);
        CHECK(cotter_claims_nbf(c.get()) == k_now);
    }
    SUBCASE("exponent and .0 spellings are numbers too") {
        for (const char *value : {"1.7000036e9", "1700003600.0", "17000036e2"}) {
            CAPTURE(value);
            claims_ptr c;
            CHECK(name_of(verify_status(v.get(), with("exp", value), &c)) == "COTTER_OK");
            REQUIRE(c);
            CHECK(cotter_claims_exp(c.get()) == k_now + 3600);
        }
        CHECK(name_of(verify_status(v.get(), with("exp", "1e3"))) == "COTTER_EJWT_EXPIRED");
        CHECK(name_of(verify_status(v.get(), with("iat", "1.5"))) == "COTTER_OK");
    }
    SUBCASE("the largest double below 2^63 is accepted without overflow") {
        claims_ptr c;
        CHECK(name_of(verify_status(v.get(), with("exp", "9223372036854774784.0"), &c)) == "COTTER_OK");
        REQUIRE(c);
        CHECK(cotter_claims_exp(c.get()) == 9223372036854774784LL);
    }
}

TEST_CASE("row 8: iss/aud string matching is exact") {
    fixture f;
    for (const std::string iss : {k_iss + ".evil", k_iss + "/x", k_iss + "/", std::string("HTTPS://WWW.COTTER.APP"),
                                  std::string("https://www.Cotter.app"), std::string("https://www.cotter.ap"),
                                  std::string("https://www.cotter"), " " + k_iss, k_iss + " ",
                                  std::string("https://www.c\u043etter.app"), std::string("https://www.cotter.app\\u0000"),
                                  std::string("http://www.cotter.app"), std::string("")}) {
        SUBCASE(("iss " + iss).c_str()) {
            CHECK(f.status(f.with_claims(claims_with("iss", "\"" + iss + "\""))) == "COTTER_EJWT_ISSUER");
        }
    }
    SUBCASE("an escaped but equal iss is the same string") {
        CHECK(f.status(f.with_claims(claims_with("iss", R"("https:\/\/www.cotter.app")"))) == "COTTER_OK");
    }
    const std::string aud = k_audience;
    for (const std::string a : {aud.substr(0, 35), aud + "x", "x" + aud, std::string("AAF7319D-8F91-4752-A23F-C43BA862D548"),
                                aud + " "}) {
        SUBCASE(("aud " + a).c_str()) {
            CHECK(f.status(f.with_claims(claims_with("aud", "\"" + a + "\""))) == "COTTER_EJWT_AUDIENCE");
            CHECK(f.status(f.with_claims(claims_with("aud", "[\"other\",\"" + a + "\"]"))) == "COTTER_EJWT_AUDIENCE");
        }
    }
    SUBCASE("aud array containing the audience is accepted") {
        claims_ptr c;
        CHECK(verify_status(f.v.get(), f.with_claims(claims_with("aud", "[\"other\",\"" + aud + "\"]")), &c) == COTTER_OK);
        CHECK(cotter_claims_audience_count(c.get()) == 2);
        CHECK(std::string(cotter_claims_audience(c.get(), 1)) == aud);
    }
}

TEST_CASE("row 9: time edges (leeway 5 s by default)") {
    fixture f;
    const auto at = [&](const char *claim, int64_t t) { return f.with_claims(claims_with(claim, std::to_string(t))); };
    SUBCASE("exp == now with leeway 0 -> EXPIRED") {
        auto o = options_for(f.clock, &f.set);
        o.leeway_seconds = 0;
        auto v = make_verifier(o);
        CHECK(name_of(verify_status(v.get(), at("exp", k_now))) == "COTTER_EJWT_EXPIRED");
        CHECK(name_of(verify_status(v.get(), at("exp", k_now + 1))) == "COTTER_OK");
    }
    SUBCASE("exp == now - leeway -> EXPIRED; one second later is still valid") {
        CHECK(f.status(at("exp", k_now - 5)) == "COTTER_EJWT_EXPIRED");
        CHECK(f.status(at("exp", k_now - 4)) == "COTTER_OK");
        CHECK(f.status(at("exp", k_now)) == "COTTER_OK");
    }
    SUBCASE("nbf == now + leeway + 1 -> NOT_YET_VALID; now + leeway is fine") {
        CHECK(f.status(at("nbf", k_now + 6)) == "COTTER_EJWT_NOT_YET_VALID");
        CHECK(f.status(at("nbf", k_now + 5)) == "COTTER_OK");
    }
    SUBCASE("future iat -> NOT_YET_VALID") {
        CHECK(f.status(at("iat", k_now + 6)) == "COTTER_EJWT_NOT_YET_VALID");
        CHECK(f.status(at("iat", k_now + 3600)) == "COTTER_EJWT_NOT_YET_VALID");
    }
    for (const char *claim : {"exp", "iss", "aud"}) {
        SUBCASE((std::string("missing ") + claim + " -> MISSING_CLAIM").c_str()) {
            CHECK(f.status(f.with_claims(base_claims(claim))) == "COTTER_EJWT_MISSING_CLAIM");
        }
    }
    SUBCASE("exp at the int64 limit does not overflow") {
        CHECK(f.status(at("exp", INT64_MAX)) == "COTTER_OK");
    }
}

TEST_CASE("row 10: the signature is checked before any claim") {
    fixture f;
    auto tamper = [](std::string tok) {
        tok[tok.size() - 5] = tok[tok.size() - 5] == 'A' ? 'B' : 'A';
        return tok;
    };
    SUBCASE("expired token with a bad signature -> SIGNATURE") {
        CHECK(f.status(tamper(f.with_claims(claims_with("exp", std::to_string(k_now - 100))))) == "COTTER_EJWT_SIGNATURE");
    }
    SUBCASE("wrong issuer / audience / claim type with a bad signature -> SIGNATURE") {
        CHECK(f.status(tamper(f.with_claims(claims_with("iss", "\"evil\"")))) == "COTTER_EJWT_SIGNATURE");
        CHECK(f.status(tamper(f.with_claims(claims_with("aud", "\"evil\"")))) == "COTTER_EJWT_SIGNATURE");
        CHECK(f.status(tamper(f.with_claims(claims_with("exp", "\"never\"")))) == "COTTER_EJWT_SIGNATURE");
        CHECK(f.status(tamper(f.with_claims(base_claims("exp")))) == "COTTER_EJWT_SIGNATURE");
    }
    SUBCASE("a payload swapped under a valid signature -> SIGNATURE, and no claims") {
        auto parts = split(f.good());
        const std::string forged = parts[0] + "." + b64url(f.payload(R"("role":"admin")")) + "." + parts[2];
        cotter_claims *c = reinterpret_cast<cotter_claims *>(0x1);
        int rc = cotter_jwt_verify(&c, f.v.get(), forged.data(), forged.size(), nullptr);
        CHECK(name_of(rc) == "COTTER_EJWT_SIGNATURE");
        CHECK(c == nullptr);  // cleared on entry, never set for a rejected token
    }
}

TEST_CASE("row 11: ES256 signature encoding -> COTTER_EJWT_SIGNATURE") {
    fixture f;
    const std::string input = signing_input(header_for(k_kid), f.payload());
    const std::string raw = f.key.sign_raw(input);
    const std::string r = raw.substr(0, 32), s = raw.substr(32);
    const std::string n("\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF"
                        "\xBC\xE6\xFA\xAD\xA7\x17\x9E\x84\xF3\xB9\xCA\xC2\xFC\x63\x25\x51", 32);
    const std::string zero(32, '\0');
    const std::vector<std::pair<std::string, std::string>> variants = {
        {"length 0", ""},
        {"length 63", raw.substr(0, 63)},
        {"length 65 (trailing byte)", raw + std::string(1, '\0')},
        {"length 66 (zero-padded r and s)", std::string(1, '\0') + r + std::string(1, '\0') + s},
        {"length 128", raw + raw},
        {"DER encoded", f.key.sign_der(input)},
        {"r = 0", zero + s},
        {"s = 0", r + zero},
        {"r = s = 0", zero + zero},
        {"r = n", n + s},
        {"s = n", r + n},
        {"r = 0xff..ff", std::string(32, '\xff') + s},
        {"r and s swapped", s + r},
        {"one bit flipped", std::string(1, static_cast<char>(raw[0] ^ 1)) + raw.substr(1)},
    };
    for (const auto &v : variants) {
        SUBCASE(v.first.c_str()) { CHECK(f.status(with_signature(input, v.second)) == "COTTER_EJWT_SIGNATURE"); }
    }
    SUBCASE("a P-256 signature over SHA-384 of the input") {
        CHECK(f.status(with_signature(input, f.key.sign_raw(input, EVP_sha384()))) == "COTTER_EJWT_SIGNATURE");
    }
}

TEST_CASE("row 12: base64url strictness -> COTTER_EJWT_MALFORMED") {
    fixture f;
    // A header whose JSON length is 1 mod 3, so its last character carries unused bits.
    std::string header = header_for(k_kid);
    while (header.size() % 3 != 1) header.insert(header.size() - 1, " ");
    const std::string good = f.token(header, f.payload());
    REQUIRE(f.status(good) == "COTTER_OK");
    auto parts = split(good);
    const auto join = [](const std::string &a, const std::string &b, const std::string &c) { return a + "." + b + "." + c; };
    SUBCASE("'=' padding") {
        CHECK(f.status(join(parts[0] + "=", parts[1], parts[2])) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(join(parts[0], parts[1] + "==", parts[2])) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(join(parts[0], parts[1], parts[2] + "==")) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("'+' or '/' from the standard alphabet") {
        auto swap_alphabet = [](std::string s) {
            for (char &c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
            return s;
        };
        // Find a signature that contains '-' or '_' so the swap changes something.
        std::string tok = good;
        for (int i = 0; i < 64 && split(tok)[2].find_first_of("-_") == std::string::npos; ++i) tok = f.token(header, f.payload());
        auto p = split(tok);
        REQUIRE(p[2].find_first_of("-_") != std::string::npos);
        CHECK(f.status(join(p[0], p[1], swap_alphabet(p[2]))) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(join(p[0] + "+", p[1], p[2])) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(join(p[0], "/" + p[1], p[2])) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("whitespace and newlines") {
        CHECK(f.status(" " + good) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(good + "\n") == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(join(parts[0].substr(0, 4) + "\n" + parts[0].substr(4), parts[1], parts[2])) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(join(parts[0], parts[1] + " ", parts[2])) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(join(parts[0], parts[1], "\t" + parts[2])) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("non-zero trailing bits") {
        CHECK(f.status(join(noncanonical(parts[0]), parts[1], parts[2])) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(join(parts[0], parts[1], noncanonical(parts[2]))) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("a segment of impossible length (4k+1 characters)") {
        CHECK(f.status(join(parts[0] + "A", parts[1], parts[2])) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("empty header or payload segment") {
        CHECK(f.status(join("", parts[1], parts[2])) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(join(parts[0], "", parts[2])) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("empty signature segment -> SIGNATURE (0 bytes is not 64)") {
        CHECK(f.status(join(parts[0], parts[1], "")) == "COTTER_EJWT_SIGNATURE");
    }
    SUBCASE("non-ASCII bytes") {
        CHECK(f.status(join(parts[0] + "\xC3\xA9", parts[1], parts[2])) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(join(parts[0], parts[1], parts[2] + "\xFF")) == "COTTER_EJWT_MALFORMED");
        std::string with_nul = good;
        with_nul.insert(10, 1, '\0');
        CHECK(f.status(with_nul) == "COTTER_EJWT_MALFORMED");
    }
}

TEST_CASE("row 13: structure and size -> COTTER_EJWT_MALFORMED") {
    fixture f;
    const std::string good = f.good();
    auto parts = split(good);
    SUBCASE("0, 1, 2, 4 and 5 segments") {
        CHECK(f.status("") == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(parts[0]) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(parts[0] + "." + parts[1]) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(good + "." + parts[2]) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(good + ".." ) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(good + "." + parts[1] + "." + parts[2]) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("a JWE-shaped 5-segment token with zip:DEF") {
        const std::string h = b64url(R"({"alg":"ECDH-ES","enc":"A256GCM","zip":"DEF","kid":")" + k_kid + R"("})");
        CHECK(f.status(h + "..AAAA.AAAA.AAAA") == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("1 MB of dots") { CHECK(f.status(std::string(1 << 20, '.')) == "COTTER_EJWT_MALFORMED"); }
    SUBCASE("16 KiB + 1 bytes") {
        CHECK(f.status(f.with_claims(claims_with("pad", "\"" + std::string(12300, 'x') + "\""))) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("a 64 kB header") {
        const std::string h = R"({"alg":"ES256","kid":")" + k_kid + R"(","pad":")" + std::string(64000, 'x') + "\"}";
        CHECK(f.status(f.token(h, f.payload())) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("JSON nested 10k deep in the (validly signed) payload") {
        const std::string deep = std::string(10000 / 2, '[') + std::string(10000 / 2, ']');
        CHECK(f.status(f.with_claims(claims_with("deep", deep))) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("JSON nested deeper than the cap in the header") {
        const std::string h = R"({"alg":"ES256","kid":")" + k_kid + R"(","x":)" + std::string(40, '[') + std::string(40, ']') + "}";
        CHECK(f.status(f.token(h, f.payload())) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("header or payload that is not a JSON object") {
        CHECK(f.status(f.token("[]", f.payload())) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(f.token(R"("ES256")", f.payload())) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(f.token(header_for(k_kid), "[1]")) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(f.token(header_for(k_kid), f.payload() + "x")) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(f.token(header_for(k_kid) + "{}", f.payload())) == "COTTER_EJWT_MALFORMED");
        CHECK(f.status(f.token(header_for(k_kid), "{\"a\":\"\xff\"}")) == "COTTER_EJWT_MALFORMED");  // invalid UTF-8
    }
}

TEST_CASE("row 14: duplicate JSON members -> COTTER_EJWT_DUPLICATE") {
    fixture f;
    SUBCASE("duplicate alg in the header") {
        CHECK(f.status(f.token(R"({"alg":"ES256","alg":"none","kid":")" + k_kid + R"("})", f.payload())) == "COTTER_EJWT_DUPLICATE");
        CHECK(f.status(f.token(R"({"alg":"none","alg":"ES256","kid":")" + k_kid + R"("})", f.payload())) == "COTTER_EJWT_DUPLICATE");
    }
    SUBCASE("escaped duplicate: \\u0061lg") {
        CHECK(f.status(f.token(R"({"alg":"ES256","\u0061lg":"none","kid":")" + k_kid + R"("})", f.payload())) == "COTTER_EJWT_DUPLICATE");
        CHECK(f.status(f.token(R"({"alg":"ES256","kid":")" + k_kid + R"(","\u006bid":"x"})", f.payload())) == "COTTER_EJWT_DUPLICATE");
    }
    for (const char *claim : {"exp", "sub", "aud", "iss"}) {
        SUBCASE((std::string("duplicate ") + claim + " in the payload").c_str()) {
            const std::string dup = base_claims() + ",\"" + claim + "\":" + (std::string(claim) == "exp" ? "99999999999" : "\"x\"");
            CHECK(f.status(f.with_claims(dup)) == "COTTER_EJWT_DUPLICATE");
        }
    }
    SUBCASE("escaped duplicate in the payload") {
        CHECK(f.status(f.with_claims(base_claims() + R"(,"\u0065xp":99999999999)")) == "COTTER_EJWT_DUPLICATE");
    }
    SUBCASE("duplicate inside a nested object") {
        CHECK(f.status(f.with_claims(base_claims() + R"(,"custom":{"role":"user","role":"admin"})")) == "COTTER_EJWT_DUPLICATE");
        CHECK(f.status(f.with_claims(base_claims() + R"(,"list":[{"a":1},{"b":1,"b":2}])")) == "COTTER_EJWT_DUPLICATE");
        CHECK(f.status(f.token(R"({"alg":"ES256","kid":")" + k_kid + R"(","ext":{"a":1,"\u0061":2}})", f.payload())) == "COTTER_EJWT_DUPLICATE");
    }
    SUBCASE("the same name in different objects is fine") {
        CHECK(f.status(f.with_claims(base_claims() + R"(,"a":{"exp":1},"b":{"exp":2})")) == "COTTER_OK");
    }
    SUBCASE("many members, one duplicate far apart (sorted path)") {
        std::string many = base_claims();
        for (int i = 0; i < 200; ++i) many += ",\"m" + std::to_string(i) + "\":" + std::to_string(i);
        CHECK(f.status(f.with_claims(many)) == "COTTER_OK");
        CHECK(f.status(f.with_claims(many + ",\"m7\":0")) == "COTTER_EJWT_DUPLICATE");
    }
    SUBCASE("duplicate member in a JWKS -> EJWKS_INVALID") {
        std::string set = R"({"keys":[)" + f.key.jwk() + R"(],"keys":[]})";
        CHECK(name_of(create_status(options_for(f.clock, &set))) == "COTTER_EJWKS_INVALID");
        std::string inner = jwks({f.key.jwk(R"("crv":"P-384")")});
        CHECK(name_of(create_status(options_for(f.clock, &inner))) == "COTTER_EJWKS_INVALID");
    }
}

TEST_CASE("row 15: JWKS content") {
    fixture f;
    const auto create = [&](const std::string &set) { return name_of(create_status(options_for(f.clock, &set))); };
    const auto verify_with = [&](const std::string &set, const std::string &tok) {
        auto v = make_verifier(options_for(f.clock, &set));
        return name_of(verify_status(v.get(), tok));
    };
    SUBCASE("EC point not on the curve -> EJWKS_INVALID") {
        std::string y = f.key.y();
        y[31] = static_cast<char>(y[31] ^ 1);
        const std::string jwk = R"({"kty":"EC","crv":"P-256","kid":"k","x":")" + b64url(f.key.x()) + R"(","y":")" + b64url(y) + R"("})";
        CHECK(create(jwks({jwk})) == "COTTER_EJWKS_INVALID");
        const std::string zero = R"({"kty":"EC","crv":"P-256","kid":"k","x":")" + b64url(std::string(32, '\0')) + R"(","y":")" + b64url(std::string(32, '\0')) + R"("})";
        CHECK(create(jwks({zero})) == "COTTER_EJWKS_INVALID");
    }
    SUBCASE("wrong crv for the key's kid -> KEY_MISMATCH") {
        const std::string jwk = R"({"kty":"EC","crv":"P-257","kid":")" + k_kid + R"(","x":")" + b64url(f.key.x()) + R"(","y":")" + b64url(f.key.y()) + R"("})";
        CHECK(verify_with(jwks({jwk}), f.good()) == "COTTER_EJWT_KEY_MISMATCH");
    }
    SUBCASE("kty oct for the ES256 kid -> KEY_MISMATCH") {
        CHECK(verify_with(jwks({R"({"kty":"oct","kid":")" + k_kid + R"(","k":"c2VjcmV0"})"}), f.good()) == "COTTER_EJWT_KEY_MISMATCH");
    }
    SUBCASE("use enc -> KEY_MISMATCH") {
        CHECK(verify_with(jwks({f.key.jwk(R"("use":"enc")")}), f.good()) == "COTTER_EJWT_KEY_MISMATCH");
    }
    SUBCASE("key_ops without verify -> KEY_MISMATCH; with verify accepted") {
        CHECK(verify_with(jwks({f.key.jwk(R"("key_ops":["encrypt","sign"])")}), f.good()) == "COTTER_EJWT_KEY_MISMATCH");
        CHECK(verify_with(jwks({f.key.jwk(R"("key_ops":[])")}), f.good()) == "COTTER_EJWT_KEY_MISMATCH");
        CHECK(verify_with(jwks({f.key.jwk(R"("key_ops":["verify"])")}), f.good()) == "COTTER_OK");
    }
    SUBCASE("a private d present is ignored") {
        CHECK(verify_with(jwks({f.key.jwk(R"("d":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")")}), f.good()) == "COTTER_OK");
    }
    SUBCASE("missing x or y, or malformed coordinates -> EJWKS_INVALID") {
        const std::string x = b64url(f.key.x()), y = b64url(f.key.y());
        CHECK(create(jwks({R"({"kty":"EC","crv":"P-256","y":")" + y + R"("})"})) == "COTTER_EJWKS_INVALID");
        CHECK(create(jwks({R"({"kty":"EC","crv":"P-256","x":")" + x + R"("})"})) == "COTTER_EJWKS_INVALID");
        CHECK(create(jwks({R"({"kty":"EC","crv":"P-256","x":")" + x + R"(=","y":")" + y + R"("})"})) == "COTTER_EJWKS_INVALID");
        CHECK(create(jwks({R"({"kty":"EC","crv":"P-256","x":")" + b64url(f.key.x() + "A") + R"(","y":")" + y + R"("})"})) == "COTTER_EJWKS_INVALID");
        CHECK(create(jwks({R"({"kty":"EC","crv":"P-256","x":1,"y":")" + y + R"("})"})) == "COTTER_EJWKS_INVALID");
        CHECK(create(jwks({R"({"crv":"P-256","x":")" + x + R"(","y":")" + y + R"("})"})) == "COTTER_EJWKS_INVALID");
    }
    SUBCASE("a huge RSA n is skipped, and selecting that key -> KEY_MISMATCH") {
        const std::string rsa = R"({"kty":"RSA","kid":"rsa","e":"AQAB","n":")" + std::string(100000, 'A') + R"("})";
        const std::string set = jwks({rsa, f.key.jwk()});
        CHECK(verify_with(set, f.good()) == "COTTER_OK");
        CHECK(verify_with(set, f.token(header_for("rsa"), f.payload())) == "COTTER_EJWT_KEY_MISMATCH");
    }
    SUBCASE("keys not an array, missing, empty, or holding non-objects -> EJWKS_INVALID") {
        CHECK(create(R"({"keys":{}})") == "COTTER_EJWKS_INVALID");
        CHECK(create(R"({"keys":"x"})") == "COTTER_EJWKS_INVALID");
        CHECK(create(R"({"nokeys":[]})") == "COTTER_EJWKS_INVALID");
        CHECK(create(R"({"keys":[]})") == "COTTER_EJWKS_INVALID");
        CHECK(create(R"({"keys":["x"]})") == "COTTER_EJWKS_INVALID");
        CHECK(create(R"([])") == "COTTER_EJWKS_INVALID");
        CHECK(create(R"(not json)") == "COTTER_EJWKS_INVALID");
    }
    SUBCASE("more than 64 keys -> EJWKS_INVALID") {
        std::vector<std::string> many;
        for (int i = 0; i < 65; ++i) many.push_back(R"({"kty":"oct","kid":"k)" + std::to_string(i) + R"(","k":"AA"})");
        CHECK(create(jwks(many)) == "COTTER_EJWKS_INVALID");
    }
}

TEST_CASE("row 16: JWKS transport failures keep the last-good keys") {
    fixture f;
    http_server server;
    server.respond_json(f.set);
    const std::string url = server.url();
    auto o = options_for(f.clock, nullptr, &url);
    o.jwks_max_age_ms = 1000;
    o.jwks_cooldown_ms = 1000;
    // 2 s (it was 500 ms): also the budget of the first, good fetch, which a loaded machine under ASan must not
    // miss; the slow drip below still takes several times longer.
    o.jwks_timeout_ms = 2000;
    auto v = make_verifier(o);
    REQUIRE(verify_status(v.get(), f.good()) == COTTER_OK);
    REQUIRE(server.requests() == 1);

    const auto after_failure = [&](canned_response r) {
        server.respond(std::move(r));
        f.clock.now += 2;  // keys are stale and the cooldown has passed: the next verify refetches
        const uint64_t before = server.requests();
        const int rc = verify_status(v.get(), f.good());
        CHECK(server.requests() > before);  // a refetch was attempted
        return name_of(rc);
    };
    canned_response r;
    SUBCASE("HTTP 500") { r.status = 500; r.body = "oops"; CHECK(after_failure(r) == "COTTER_OK"); }
    SUBCASE("HTTP 429") { r.status = 429; r.headers = {{"Retry-After", "1"}}; CHECK(after_failure(r) == "COTTER_OK"); }
    SUBCASE("invalid JSON") { r.body = "{\"keys\":["; CHECK(after_failure(r) == "COTTER_OK"); }
    SUBCASE("a valid JSON document that is not a key set") { r.body = "{\"keys\":[]}"; CHECK(after_failure(r) == "COTTER_OK"); }
    SUBCASE("a 10 MB body") { r.body = "{\"keys\":[" + std::string(10 << 20, ' ') + "]}"; CHECK(after_failure(r) == "COTTER_OK"); }
    SUBCASE("slow drip") {
        r.body = f.set;
        r.drip_interval_ms = 50;
        REQUIRE(static_cast<int64_t>(r.body.size()) * r.drip_interval_ms > 3 * o.jwks_timeout_ms);
        CHECK(after_failure(r) == "COTTER_OK");
    }
    SUBCASE("hang up without answering") { r.hang_up = true; CHECK(after_failure(r) == "COTTER_OK"); }
    SUBCASE("redirect to file://") { r.status = 302; r.headers = {{"Location", "file:///etc/passwd"}}; CHECK(after_failure(r) == "COTTER_OK"); }
    SUBCASE("redirect to the metadata address") {
        r.status = 301;
        r.headers = {{"Location", "http://169.254.169.254/latest/meta-data/"}};
        CHECK(after_failure(r) == "COTTER_OK");
    }
    SUBCASE("redirect to another host serving an attacker key set") {
        http_server evil;
        ec_key attacker(k_kid);
        evil.respond_json(jwks({attacker.jwk()}));
        r.status = 302;
        r.headers = {{"Location", evil.url()}};
        CHECK(after_failure(r) == "COTTER_OK");
        CHECK(evil.requests() == 0);
        CHECK(name_of(verify_status(v.get(), sign_es256(attacker, header_for(k_kid), f.payload()))) == "COTTER_EJWT_SIGNATURE");
    }
    SUBCASE("server down") {
        server.stop();
        f.clock.now += 2;
        CHECK(name_of(verify_status(v.get(), f.good())) == "COTTER_OK");
    }
    SUBCASE("http:// to a non-loopback host, or another scheme, is refused at creation -> EINVAL") {
        for (const std::string bad : {"http://169.254.169.254/jwks", "http://www.cotter.app/api/v0/token/jwks",
                                      "file:///etc/passwd", "data:application/json,{}", "ftp://127.0.0.1/jwks"}) {
            auto bo = options_for(f.clock, nullptr, &bad);
            CHECK(name_of(create_status(bo)) == "COTTER_EINVAL");
        }
    }
    SUBCASE("no keys ever -> EJWKS_UNAVAILABLE") {
        http_server down;
        canned_response err;
        err.status = 503;
        down.respond(err);
        const std::string durl = down.url();
        auto v2 = make_verifier(options_for(f.clock, nullptr, &durl));
        CHECK(name_of(verify_status(v2.get(), f.good())) == "COTTER_EJWKS_UNAVAILABLE");
    }
}

TEST_CASE("row 17: multi-tenant isolation (two verifiers, overlapping kid)") {
    test_clock clock;
    ec_key key_a("shared"), key_b("shared");
    const std::string set_a = jwks({key_a.jwk()}), set_b = jwks({key_b.jwk()});
    auto oa = options_for(clock, &set_a);
    oa.issuer = "https://issuer-a.example";
    auto ob = options_for(clock, &set_b);
    ob.issuer = "https://issuer-b.example";
    auto va = make_verifier(oa), vb = make_verifier(ob);
    const std::string tok_a = sign_es256(key_a, header_for("shared"), payload_for(k_now, k_audience, "https://issuer-a.example"));
    const std::string tok_b = sign_es256(key_b, header_for("shared"), payload_for(k_now, k_audience, "https://issuer-b.example"));
    const std::string tok_b_as_a = sign_es256(key_b, header_for("shared"), payload_for(k_now, k_audience, "https://issuer-a.example"));
    SUBCASE("each verifier accepts its own tenant") {
        CHECK(name_of(verify_status(va.get(), tok_a)) == "COTTER_OK");
        CHECK(name_of(verify_status(vb.get(), tok_b)) == "COTTER_OK");
    }
    SUBCASE("a token from B fails at A, even claiming A's issuer") {
        CHECK(name_of(verify_status(va.get(), tok_b)) == "COTTER_EJWT_SIGNATURE");
        CHECK(name_of(verify_status(va.get(), tok_b_as_a)) == "COTTER_EJWT_SIGNATURE");
        CHECK(name_of(verify_status(vb.get(), tok_a)) == "COTTER_EJWT_SIGNATURE");
    }
    SUBCASE("remote key sets stay per verifier") {
        http_server sa, sb;
        sa.respond_json(set_a);
        sb.respond_json(set_b);
        const std::string ua = sa.url(), ub = sb.url();
        auto ra = options_for(clock, nullptr, &ua);
        ra.issuer = "https://issuer-a.example";
        auto rb = options_for(clock, nullptr, &ub);
        rb.issuer = "https://issuer-b.example";
        auto rva = make_verifier(ra), rvb = make_verifier(rb);
        CHECK(name_of(verify_status(rvb.get(), tok_b)) == "COTTER_OK");
        CHECK(name_of(verify_status(rva.get(), tok_b_as_a)) == "COTTER_EJWT_SIGNATURE");
        CHECK(name_of(verify_status(rva.get(), tok_a)) == "COTTER_OK");
    }
}

TEST_CASE("row 18: verified-token cache keys on the full token bytes") {
    fixture f;
    auto o = options_for(f.clock, &f.set);
    o.token_cache_size = 16;
    auto v = make_verifier(o);
    const std::string good = f.good();
    REQUIRE(name_of(verify_status(v.get(), good)) == "COTTER_OK");
    REQUIRE(name_of(verify_status(v.get(), good)) == "COTTER_OK");  // now a hit
    auto parts = split(good);
    SUBCASE("same header and payload, different signature bytes -> SIGNATURE") {
        std::string sig = parts[2];
        sig[3] = sig[3] == 'A' ? 'B' : 'A';
        CHECK(name_of(verify_status(v.get(), parts[0] + "." + parts[1] + "." + sig)) == "COTTER_EJWT_SIGNATURE");
    }
    SUBCASE("non-canonical base64 spelling of the cached token -> MALFORMED") {
        CHECK(name_of(verify_status(v.get(), parts[0] + "." + parts[1] + "." + noncanonical(parts[2]))) == "COTTER_EJWT_MALFORMED");
    }
    SUBCASE("a prefix or an extension of the cached token does not hit") {
        CHECK(name_of(verify_status(v.get(), good.substr(0, good.size() - 1))) != "COTTER_OK");
        CHECK(name_of(verify_status(v.get(), good + "A")) != "COTTER_OK");
    }
    SUBCASE("a second valid signature over the same input is its own entry") {
        CHECK(name_of(verify_status(v.get(), f.good())) == "COTTER_OK");
    }
}

TEST_CASE("row 19 (control, accept): two keys in the JWKS, the kid selects the second") {
    test_clock clock;
    ec_key first("SPACE_JWT_PUBLIC:6CEE4A0E-3C47-4895-AB66-F8E07611532F"), second(k_kid);
    const std::string set = jwks({first.jwk(R"("use":"sig","alg":"ES256")"), second.jwk(R"("use":"sig")")});
    auto v = make_verifier(options_for(clock, &set));
    claims_ptr c;
    CHECK(name_of(verify_status(v.get(), sign_es256(second, header_for(k_kid), payload_for(k_now, k_audience)), &c)) == "COTTER_OK");
    CHECK(std::string(cotter_claims_kid(c.get())) == k_kid);
    // The first key would not verify a token naming the second.
    CHECK(name_of(verify_status(v.get(), sign_es256(first, header_for(k_kid), payload_for(k_now, k_audience)))) == "COTTER_EJWT_SIGNATURE");
    // A kid-less token is refused against a multi-key set...
    CHECK(name_of(verify_status(v.get(), sign_es256(second, header_for(""), payload_for(k_now, k_audience)))) == "COTTER_EJWT_KEY_NOT_FOUND");
    // ...and accepted against a single-key set without kid (Cotter's 2020-04 tokens).
    ec_key bare("");
    const std::string single = jwks({bare.jwk()});
    auto v1 = make_verifier(options_for(clock, &single));
    claims_ptr c1;
    CHECK(name_of(verify_status(v1.get(), sign_es256(bare, header_for(""), payload_for(k_now, k_audience)), &c1)) == "COTTER_OK");
    CHECK(cotter_claims_kid(c1.get()) == nullptr);
    // Keys that cannot verify ES256 do not make the choice ambiguous; a second EC key does.
    const std::string mixed = jwks({R"({"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"})", bare.jwk(), R"({"kty":"oct","k":"AA"})"});
    auto v2 = make_verifier(options_for(clock, &mixed));
    CHECK(name_of(verify_status(v2.get(), sign_es256(bare, header_for(""), payload_for(k_now, k_audience)))) == "COTTER_OK");
    const std::string rsa_only = jwks({R"({"kty":"RSA","n":"AQAB","e":"AQAB"})"});
    auto v3 = make_verifier(options_for(clock, &rsa_only));
    CHECK(name_of(verify_status(v3.get(), sign_es256(bare, header_for(""), payload_for(k_now, k_audience)))) == "COTTER_EJWT_KEY_MISMATCH");
}

TEST_CASE("row 20 (control, accept): a rotated key that appears only after a refetch") {
    test_clock clock;
    ec_key old_key("old"), new_key("new");
    http_server server;
    server.respond_json(jwks({old_key.jwk()}));
    const std::string url = server.url();
    auto o = options_for(clock, nullptr, &url);
    auto v = make_verifier(o);
    REQUIRE(name_of(verify_status(v.get(), sign_es256(old_key, header_for("old"), payload_for(k_now, k_audience)))) == "COTTER_OK");
    server.respond_json(jwks({old_key.jwk(), new_key.jwk()}));
    const std::string rotated = sign_es256(new_key, header_for("new"), payload_for(clock.now, k_audience));
    // Within the cooldown of the first fetch the new kid is not fetched yet.
    CHECK(name_of(verify_status(v.get(), rotated)) == "COTTER_EJWT_KEY_NOT_FOUND");
    CHECK(server.requests() == 1);
    clock.now += 31;
    CHECK(name_of(verify_status(v.get(), sign_es256(new_key, header_for("new"), payload_for(clock.now, k_audience)))) == "COTTER_OK");
    CHECK(server.requests() == 2);
}

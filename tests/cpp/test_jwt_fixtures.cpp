/**
 * @file test_jwt_fixtures.cpp
 * @brief The shared fixtures (tests/fixtures/jwt, tests/fixtures/legacy, made by make_fixtures.py with Python's
 * `cryptography`, an independent signer) verify with exactly the statuses they declare.
 */
#include <doctest/doctest.h>

#include <simdjson.h>

#include <fstream>
#include <sstream>
#include <string>

#include "support/verify_helpers.hpp"

using namespace cotter::test;

namespace {

std::string read_file(const std::string &rel) {
    std::ifstream in(std::string(COTTER_SOURCE_DIR) + "/tests/fixtures/" + rel, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing fixture " << rel);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string str(simdjson::dom::element e) { return std::string(std::string_view(e)); }

}  // namespace

TEST_CASE("jwt/cases.json") {
    const std::string set = read_file("jwt/jwks.json");
    const std::string text = read_file("jwt/cases.json");
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(text);
    test_clock clock;
    clock.now = int64_t(doc["now"]);
    auto o = options_for(clock, &set);
    const std::string audience = str(doc["audience"]);
    o.audience = audience.c_str();
    auto v = make_verifier(o);
    size_t n = 0;
    for (simdjson::dom::element c : doc["cases"].get_array()) {
        const std::string name = str(c["name"]);
        const std::string token = str(c["token"]);
        const std::string expect = str(c["expect"]);
        CAPTURE(name);
        CHECK(name_of(verify_status(v.get(), token)) == expect);
        ++n;
    }
    CHECK(n >= 30);
}

TEST_CASE("legacy/cases.json") {
    const std::string text = read_file("legacy/cases.json");
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.parse(text);
    const int64_t now = int64_t(doc["now"]);
    const std::string api_key = str(doc["api_key_id"]);
    const std::string pub = str(doc["public_key"]);
    for (simdjson::dom::element c : doc["identity"].get_array()) {
        const std::string name = str(c["name"]);
        const std::string json = simdjson::minify(c["token"]);
        CAPTURE(name);
        CHECK(name_of(cotter_identity_token_verify(json.c_str(), api_key.c_str(), pub.c_str(), now, nullptr)) ==
              str(c["expect"]));
    }
    for (simdjson::dom::element c : doc["event"].get_array()) {
        const std::string name = str(c["name"]);
        const std::string json = simdjson::minify(c["token"]);
        CAPTURE(name);
        CHECK(name_of(cotter_event_token_verify(json.c_str(), api_key.c_str(), pub.c_str(), nullptr)) ==
              str(c["expect"]));
    }
}

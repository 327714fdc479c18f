/**
 * @file test_jwt_legacy.cpp
 * @brief Cotter's older Ed25519 Identity and Event tokens (spec §4): exact message layouts, signatures from a
 * key generated in the test, every failure class, and the C ABI's argument checks.
 */
#include <doctest/doctest.h>

#include <string>

#include "cotter.h"
#include "jwt/legacy.hpp"
#include "support/jwt_builder.hpp"

using namespace cotter::test;
namespace legacy = cotter::core::jwt::legacy;

namespace {

const std::string k_api_key = "aaf7319d-8f91-4752-a23f-c43ba862d548";
constexpr int64_t k_now = 1582000000;

std::string identity_json(const ed25519_key &key, const std::string &receiver, const std::string &expire_at,
                          const std::string &signed_receiver = "") {
    const std::string msg = legacy::identity_message("+1234567890", "PHONE",
                                                     signed_receiver.empty() ? receiver : signed_receiver, expire_at);
    return R"({"expire_at":")" + expire_at + R"(","identifier":"+1234567890","identifier_id":"e8a47aff-f520-4b8d-952b-79d36d10fb3e",)"
           R"("identifier_type":"PHONE","receiver":")" + receiver + R"(","signature":")" + key.sign_b64(msg) +
           R"(","timestamp":"1586257208"})";
}

std::string event_json(const ed25519_key &key, const std::string &issuer, bool approved, bool tamper = false) {
    const std::string msg = legacy::event_message("152163", issuer, "LOGIN", "1586257743", "TRUSTED_DEVICE", false, approved);
    return R"({"CreatedAt":"2020-04-07T11:09:03.246703978Z","DeletedAt":null,"ID":264,"approved":)" +
           std::string(approved ? "true" : "false") + R"(,"client_user_id":"152163","event":")" + (tamper ? "LOGOUT" : "LOGIN") +
           R"(","ip":"73.15.208.6","issuer":")" + issuer + R"(","location":"San Francisco","method":"TRUSTED_DEVICE",)"
           R"("new":false,"signature":")" + key.sign_b64(msg) + R"(","timestamp":"1586257743"})";
}

int identity_status(const std::string &json, const std::string &pub, int64_t now = k_now) {
    cotter_error *e = nullptr;
    int rc = cotter_identity_token_verify(json.c_str(), k_api_key.c_str(), pub.c_str(), now, &e);
    if (rc != COTTER_OK) {
        CHECK(cotter_error_code(e) == rc);
        CHECK(std::string(cotter_error_message(e)).find("signature\":") == std::string::npos);
    } else {
        CHECK(e == nullptr);
    }
    cotter_error_free(e);
    return rc;
}

int event_status(const std::string &json, const std::string &pub) {
    return cotter_event_token_verify(json.c_str(), k_api_key.c_str(), pub.c_str(), nullptr);
}

}  // namespace

TEST_CASE("message layouts are the spec's examples byte for byte") {
    CHECK(legacy::identity_message("+1234567890", "PHONE", "aaf7319d-8f91-4752-a23f-c43ba862d548", "1582679175") ==
          "+1234567890PHONEaaf7319d-8f91-4752-a23f-c43ba862d5481582679175");
    CHECK(legacy::event_message("152163", "b39fb6eb-a1ff-4f7b-a205-d80f3c664cfd", "EVENTNAME", "1584659078",
                                "TRUSTED_DEVICE", false, true) ==
          "152163b39fb6eb-a1ff-4f7b-a205-d80f3c664cfdEVENTNAME1584659078TRUSTED_DEVICEfalsetrue");
}

TEST_CASE("Cotter's published key is the default and is a valid Ed25519 key") {
    cotter::core::error_info err;
    // A well-formed but wrong signature against the default key is a signature failure, not a key failure.
    const std::string sig = b64std(std::string(64, '\x01'));
    CHECK(legacy::verify_ed25519(COTTER_LEGACY_PUBLIC_KEY, "message", sig, &err) == COTTER_ELEGACY_SIGNATURE);
    ed25519_key key;
    const std::string json = identity_json(key, k_api_key, "1582679175");
    CHECK(cotter_identity_token_verify(json.c_str(), k_api_key.c_str(), nullptr, k_now, nullptr) == COTTER_ELEGACY_SIGNATURE);
}

TEST_CASE("identity token") {
    ed25519_key key, other;
    const std::string pub = key.public_b64();
    SUBCASE("valid") { CHECK(identity_status(identity_json(key, k_api_key, "1582679175"), pub) == COTTER_OK); }
    SUBCASE("expire_at as a JSON integer is rendered in decimal") {
        std::string json = identity_json(key, k_api_key, "1582679175");
        json.replace(json.find("\"1582679175\""), 12, "1582679175");
        CHECK(identity_status(json, pub) == COTTER_OK);
    }
    SUBCASE("signed by another key -> ELEGACY_SIGNATURE") {
        CHECK(identity_status(identity_json(other, k_api_key, "1582679175"), pub) == COTTER_ELEGACY_SIGNATURE);
    }
    SUBCASE("a field changed after signing -> ELEGACY_SIGNATURE") {
        std::string json = identity_json(key, k_api_key, "1582679175");
        json.replace(json.find("+1234567890"), 11, "+1234567899");
        CHECK(identity_status(json, pub) == COTTER_ELEGACY_SIGNATURE);
    }
    SUBCASE("signature malformed -> ELEGACY_SIGNATURE") {
        std::string json = identity_json(key, k_api_key, "1582679175");
        const size_t at = json.find("\"signature\":\"") + 13;
        CHECK(identity_status(json.substr(0, at) + "AAAA" + json.substr(json.find('"', at)), pub) == COTTER_ELEGACY_SIGNATURE);
        CHECK(identity_status(json.substr(0, at) + " " + json.substr(at), pub) == COTTER_ELEGACY_SIGNATURE);
    }
    SUBCASE("for another API key -> ELEGACY_CLAIM (after the signature)") {
        CHECK(identity_status(identity_json(key, "someone-else", "1582679175"), pub) == COTTER_ELEGACY_CLAIM);
        // A receiver swapped after signing is a signature failure first.
        CHECK(identity_status(identity_json(key, "someone-else", "1582679175", k_api_key), pub) == COTTER_ELEGACY_SIGNATURE);
    }
    SUBCASE("expired -> ELEGACY_CLAIM") {
        CHECK(identity_status(identity_json(key, k_api_key, std::to_string(k_now)), pub) == COTTER_ELEGACY_CLAIM);
        CHECK(identity_status(identity_json(key, k_api_key, std::to_string(k_now + 1)), pub) == COTTER_OK);
    }
    SUBCASE("bad JSON or fields -> EPROTOCOL") {
        CHECK(identity_status("not json", pub) == COTTER_EPROTOCOL);
        CHECK(identity_status("[]", pub) == COTTER_EPROTOCOL);
        CHECK(identity_status(R"({"identifier":"x"})", pub) == COTTER_EPROTOCOL);
        CHECK(identity_status(R"({"identifier":1,"identifier_type":"PHONE","receiver":"r","expire_at":"1","signature":"x"})", pub) == COTTER_EPROTOCOL);
        std::string json = identity_json(key, k_api_key, "1582679175");
        CHECK(identity_status(json.substr(0, json.size() - 1) + R"(,"receiver":"x"})", pub) == COTTER_EPROTOCOL);  // duplicate
        CHECK(identity_status(identity_json(key, k_api_key, "15826x9175"), pub) == COTTER_EPROTOCOL);
    }
    SUBCASE("bad public key -> EINVAL") {
        const std::string json = identity_json(key, k_api_key, "1582679175");
        CHECK(identity_status(json, "AAAA") == COTTER_EINVAL);
        CHECK(identity_status(json, pub.substr(0, pub.size() - 1)) == COTTER_EINVAL);
        CHECK(identity_status(json, "not base64!") == COTTER_EINVAL);
    }
    SUBCASE("argument checks") {
        CHECK(cotter_identity_token_verify(nullptr, k_api_key.c_str(), nullptr, 0, nullptr) == COTTER_EINVAL);
        CHECK(cotter_identity_token_verify("{}", nullptr, nullptr, 0, nullptr) == COTTER_EINVAL);
        CHECK(cotter_identity_token_verify("{}", "", nullptr, 0, nullptr) == COTTER_EINVAL);
        CHECK(cotter_identity_token_verify("{}", "k", nullptr, -1, nullptr) == COTTER_EINVAL);
    }
    SUBCASE("now = 0 uses the system clock (a 2020 token is expired today)") {
        CHECK(identity_status(identity_json(key, k_api_key, "1582679175"), pub, 0) == COTTER_ELEGACY_CLAIM);
    }
}

TEST_CASE("event token") {
    ed25519_key key, other;
    const std::string pub = key.public_b64();
    SUBCASE("valid") { CHECK(event_status(event_json(key, k_api_key, true), pub) == COTTER_OK); }
    SUBCASE("signed by another key -> ELEGACY_SIGNATURE") {
        CHECK(event_status(event_json(other, k_api_key, true), pub) == COTTER_ELEGACY_SIGNATURE);
    }
    SUBCASE("event changed after signing -> ELEGACY_SIGNATURE") {
        CHECK(event_status(event_json(key, k_api_key, true, true), pub) == COTTER_ELEGACY_SIGNATURE);
    }
    SUBCASE("not approved -> ELEGACY_CLAIM") { CHECK(event_status(event_json(key, k_api_key, false), pub) == COTTER_ELEGACY_CLAIM); }
    SUBCASE("another issuer -> ELEGACY_CLAIM") {
        CHECK(event_status(event_json(key, "other-key", true), pub) == COTTER_ELEGACY_CLAIM);
    }
    SUBCASE("booleans as strings -> EPROTOCOL") {
        std::string json = event_json(key, k_api_key, true);
        json.replace(json.find("\"new\":false"), 11, "\"new\":\"false\"");
        CHECK(event_status(json, pub) == COTTER_EPROTOCOL);
    }
    SUBCASE("argument checks") {
        CHECK(cotter_event_token_verify(nullptr, k_api_key.c_str(), nullptr, nullptr) == COTTER_EINVAL);
        CHECK(cotter_event_token_verify("{}", nullptr, nullptr, nullptr) == COTTER_EINVAL);
    }
}

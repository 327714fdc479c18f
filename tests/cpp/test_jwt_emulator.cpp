/**
 * @file test_jwt_emulator.cpp
 * @brief Interop with the Cotter emulator (an independent Node implementation): tokens it mints verify against the
 * JWKS it serves (plain HTTP and HTTPS with its CA), its rotated keys are picked up by a kid-miss refetch, and its
 * legacy Identity/Event tokens verify with its Ed25519 key.
 */
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "support/emulator.hpp"
#include "support/verify_helpers.hpp"

using namespace cotter::test;

namespace {

verifier_ptr remote_verifier(const emulator_info &info, int64_t cooldown_ms = 30000) {
    cotter_jwt_verifier_options o;
    REQUIRE(cotter_jwt_verifier_options_init(&o, COTTER_JWT_VERIFIER_OPTIONS_VERSION) == COTTER_OK);
    o.audience = info.api_key_id.c_str();
    o.jwks_url = info.jwks_url.c_str();
    o.ca_file = info.ca_file.empty() ? nullptr : info.ca_file.c_str();
    o.jwks_cooldown_ms = cooldown_ms;
    return make_verifier(o);
}

std::string mint(emulator &emu, const std::string &body) {
    return emu.dev_ok("POST", "/access_token", body);
}

}  // namespace

TEST_CASE("emulator-minted access and ID tokens verify; bad ones fail with the right code") {
    emulator emu;
    auto v = remote_verifier(emu.info());
    const std::string minted = mint(emu, R"({"identifier":"jwt@example.com"})");
    const std::string access = json_string(minted, "access_token");
    const std::string id = json_string(minted, "id_token");
    claims_ptr c;
    REQUIRE(name_of(verify_status(v.get(), access, &c)) == "COTTER_OK");
    CHECK(std::string(cotter_claims_identifier(c.get())) == "jwt@example.com");
    CHECK(std::string(cotter_claims_kid(c.get())) == "SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9");
    CHECK(cotter_claims_exp(c.get()) > cotter_claims_iat(c.get()));
    CHECK(name_of(verify_status(v.get(), id)) == "COTTER_OK");

    const std::string expired = json_string(mint(emu, R"({"identifier":"jwt@example.com","ttl":-60})"), "access_token");
    CHECK(name_of(verify_status(v.get(), expired)) == "COTTER_EJWT_EXPIRED");
    const std::string other_aud = json_string(mint(emu, R"({"identifier":"jwt@example.com","claims":{"aud":"someone"}})"), "access_token");
    CHECK(name_of(verify_status(v.get(), other_aud)) == "COTTER_EJWT_AUDIENCE");
    const std::string no_exp = json_string(mint(emu, R"({"identifier":"jwt@example.com","claims":{"exp":null}})"), "access_token");
    CHECK(name_of(verify_status(v.get(), no_exp)) == "COTTER_EJWT_MISSING_CLAIM");
    CHECK(emu.route_requests("GET /api/v0/token/jwks") == 1);
}

TEST_CASE("a key rotated in at the emulator is fetched on the first unknown kid after the cooldown") {
    emulator emu;
    auto v = remote_verifier(emu.info(), 200);
    REQUIRE(verify_status(v.get(), json_string(mint(emu, R"({"identifier":"r@example.com"})"), "access_token")) == COTTER_OK);
    const std::string rotated = emu.dev_ok("POST", "/keys/rotate", "{}");
    const std::string new_kid = json_string(rotated, "kid");
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const std::string tok = json_string(mint(emu, R"({"identifier":"r@example.com"})"), "access_token");
    claims_ptr c;
    CHECK(name_of(verify_status(v.get(), tok, &c)) == "COTTER_OK");
    CHECK(std::string(cotter_claims_kid(c.get())) == new_kid);
    CHECK(emu.route_requests("GET /api/v0/token/jwks") == 2);
}

TEST_CASE("JWKS over HTTPS with the emulator's CA") {
    emulator emu({"--tls"});
    REQUIRE(emu.info().jwks_url.rfind("https://", 0) == 0);
    auto v = remote_verifier(emu.info());
    CHECK(name_of(verify_status(v.get(), json_string(mint(emu, R"({"identifier":"tls@example.com"})"), "access_token"))) == "COTTER_OK");
    SUBCASE("without the CA the fetch fails TLS verification: EJWKS_UNAVAILABLE") {
        emulator_info no_ca = emu.info();
        no_ca.ca_file.clear();
        auto v2 = remote_verifier(no_ca);
        CHECK(name_of(verify_status(v2.get(), json_string(mint(emu, R"({"identifier":"tls@example.com"})"), "access_token"))) ==
              "COTTER_EJWKS_UNAVAILABLE");
    }
}

TEST_CASE("the emulator's legacy Identity and Event tokens verify with its Ed25519 key") {
    emulator emu;
    const auto &info = emu.info();
    const std::string identity = json_raw(emu.dev_ok("POST", "/identity_token", R"({"identifier":"old@example.com"})"), "identity_token");
    CHECK(name_of(cotter_identity_token_verify(identity.c_str(), info.api_key_id.c_str(), info.identity_public_key.c_str(), 0, nullptr)) == "COTTER_OK");
    CHECK(name_of(cotter_identity_token_verify(identity.c_str(), "another-api-key", info.identity_public_key.c_str(), 0, nullptr)) == "COTTER_ELEGACY_CLAIM");
    CHECK(name_of(cotter_identity_token_verify(identity.c_str(), info.api_key_id.c_str(), nullptr, 0, nullptr)) == "COTTER_ELEGACY_SIGNATURE");
    const std::string event = json_raw(emu.dev_ok("POST", "/event_token", R"({"identifier":"old@example.com"})"), "event_token");
    CHECK(name_of(cotter_event_token_verify(event.c_str(), info.api_key_id.c_str(), info.identity_public_key.c_str(), nullptr)) == "COTTER_OK");
    const std::string denied = json_raw(emu.dev_ok("POST", "/event_token", R"({"identifier":"old@example.com","approved":false})"), "event_token");
    CHECK(name_of(cotter_event_token_verify(denied.c_str(), info.api_key_id.c_str(), info.identity_public_key.c_str(), nullptr)) == "COTTER_ELEGACY_CLAIM");
}

/**
 * @file fuzz_legacy.cpp
 * @brief Cotter's older Ed25519 Identity and Event tokens (cotter_identity_token_verify,
 * cotter_event_token_verify) on arbitrary JSON, with a fixed test key and clock. Invariant: a token is accepted
 * only when its signed fields, read back independently with simdjson, are exactly a tuple the harness signed —
 * the same signature must not vouch for different field values (e.g. bytes moved across the boundary of two
 * fields of the unseparated message). Every rejection carries a documented code.
 */
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "cotter.h"
#include "test_keys.hpp"

namespace {

using namespace cotter_fuzz;

std::string public_key;
std::set<std::vector<std::string>> signed_identity, signed_event;
std::vector<std::string> seeds;

// A member as text the way Cotter's SDKs concatenate it: strings as they are, integers in decimal,
// booleans as true/false. Empty optional when absent or of another type.
bool text_of(simdjson::dom::object obj, const char *name, std::string &out) {
    simdjson::dom::element v;
    if (obj[name].get(v) != simdjson::SUCCESS) return false;
    std::string_view s;
    int64_t n = 0;
    bool b = false;
    if (v.get_string().get(s) == simdjson::SUCCESS) out.assign(s);
    else if (v.is_int64() && v.get_int64().get(n) == simdjson::SUCCESS) out = std::to_string(n);
    else if (v.get_bool().get(b) == simdjson::SUCCESS) out = b ? "true" : "false";
    else return false;
    return true;
}

std::vector<std::string> fields_of(const std::string &json, const std::vector<const char *> &names) {
    simdjson::dom::parser parser;
    simdjson::dom::object obj;
    FUZZ_CHECK(parser.parse(simdjson::padded_string(json)).get_object().get(obj) == simdjson::SUCCESS);
    std::vector<std::string> out;
    for (const char *n : names) {
        std::string s;
        FUZZ_CHECK(text_of(obj, n, s));
        out.push_back(s);
    }
    return out;
}

const std::vector<const char *> k_identity_fields = {"identifier", "identifier_type", "receiver", "expire_at"};
const std::vector<const char *> k_event_fields = {"client_user_id", "issuer", "event", "timestamp", "method", "new",
                                                  "approved"};

void add_identity(const std::string &identifier, const std::string &type, const std::string &expire_at, bool quoted) {
    const std::vector<std::string> tuple = {identifier, type, k_audience, expire_at};
    const std::string sig = ed25519_sign_b64(identifier + type + k_audience + expire_at);
    signed_identity.insert(tuple);
    seeds.push_back("{\"identifier\":\"" + identifier + "\",\"identifier_type\":\"" + type + "\",\"receiver\":\"" +
                    k_audience + "\",\"expire_at\":" + (quoted ? "\"" + expire_at + "\"" : expire_at) +
                    ",\"timestamp\":\"2023-11-14T22:13:20Z\",\"signature\":\"" + sig + "\"}");
}

void add_event(const std::string &user, const std::string &event, const std::string &ts, const std::string &method,
               bool is_new) {
    const std::string nw = is_new ? "true" : "false";
    signed_event.insert({user, k_audience, event, ts, method, nw, "true"});
    const std::string sig = ed25519_sign_b64(user + k_audience + event + ts + method + nw + "true");
    seeds.push_back("{\"client_user_id\":\"" + user + "\",\"issuer\":\"" + k_audience + "\",\"event\":\"" + event +
                    "\",\"timestamp\":\"" + ts + "\",\"method\":\"" + method + "\",\"new\":" + nw +
                    ",\"approved\":true,\"signature\":\"" + sig + "\"}");
}

bool documented(int rc) {
    return rc == COTTER_OK || rc == COTTER_ELEGACY_SIGNATURE || rc == COTTER_ELEGACY_CLAIM || rc == COTTER_EPROTOCOL ||
           rc == COTTER_EINVAL || rc == COTTER_ENOMEM;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    public_key = ed25519_public_b64();
    add_identity("alice@example.com", "EMAIL", "1700086400", true);
    add_identity("+12345678900", "PHONE", "1700086400", false);
    add_event("152163b3-9fb6-4b1f-a205-d80f3c664cfd", "LOGIN", "1699999999", "TRUSTED_DEVICE", false);
    add_event("u-2", "EVENTNAME", "1699999000", "OTP", true);
    for (const std::string &s : seeds) {  // controls: the harness is useless if these do not verify
        const int a = cotter_identity_token_verify(s.c_str(), k_audience, public_key.c_str(), k_now, nullptr);
        const int b = cotter_event_token_verify(s.c_str(), k_audience, public_key.c_str(), nullptr);
        FUZZ_CHECK(a == COTTER_OK || b == COTTER_OK);
    }
    if (const char *dir = std::getenv("COTTER_FUZZ_WRITE_SEEDS")) {
        for (size_t i = 0; i < seeds.size(); ++i)
            std::ofstream(std::string(dir) + "/signed_" + std::to_string(i) + ".json", std::ios::binary) << seeds[i];
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string json(reinterpret_cast<const char *>(data), size);  // NUL-terminated copy (embedded NULs end it)
    const std::string c_json(json.c_str());

    cotter_error *err = nullptr;
    int rc = cotter_identity_token_verify(json.c_str(), k_audience, public_key.c_str(), k_now, &err);
    FUZZ_CHECK(documented(rc));
    FUZZ_CHECK((rc == COTTER_OK) == (err == nullptr));
    if (err) FUZZ_CHECK(cotter_error_code(err) == rc && cotter_error_message(err)[0] != '\0');
    cotter_error_free(err);
    if (rc == COTTER_OK) FUZZ_CHECK(signed_identity.count(fields_of(c_json, k_identity_fields)) == 1);

    err = nullptr;
    rc = cotter_event_token_verify(json.c_str(), k_audience, public_key.c_str(), &err);
    FUZZ_CHECK(documented(rc));
    FUZZ_CHECK((rc == COTTER_OK) == (err == nullptr));
    if (err) FUZZ_CHECK(cotter_error_code(err) == rc && cotter_error_message(err)[0] != '\0');
    cotter_error_free(err);
    if (rc == COTTER_OK) FUZZ_CHECK(signed_event.count(fields_of(c_json, k_event_fields)) == 1);
    return 0;
}

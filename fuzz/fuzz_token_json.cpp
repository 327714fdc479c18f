/**
 * @file fuzz_token_json.cpp
 * @brief The token-file loader (cotter_token_from_json) on arbitrary bytes. Invariants: documented codes only;
 * an accepted file round-trips: to_json -> from_json gives the same six fields, and serialising again gives
 * byte-identical JSON (the format is canonical).
 */
#include <cstdint>
#include <cstring>
#include <string>

#include "cotter.h"
#include "fuzz_support.hpp"

namespace {

bool same_str(const char *a, const char *b) { return (!a && !b) || (a && b && std::strcmp(a, b) == 0); }

void check_same(const cotter_token *a, const cotter_token *b) {
    FUZZ_CHECK(same_str(cotter_token_access_token(a), cotter_token_access_token(b)));
    FUZZ_CHECK(same_str(cotter_token_id_token(a), cotter_token_id_token(b)));
    FUZZ_CHECK(same_str(cotter_token_refresh_token(a), cotter_token_refresh_token(b)));
    FUZZ_CHECK(same_str(cotter_token_token_type(a), cotter_token_token_type(b)));
    FUZZ_CHECK(same_str(cotter_token_auth_method(a), cotter_token_auth_method(b)));
    FUZZ_CHECK(cotter_token_expires_in(a) == cotter_token_expires_in(b));
    FUZZ_CHECK(cotter_token_access_token_expires_at(a) == cotter_token_access_token_expires_at(b));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cotter_token *t = nullptr;
    cotter_error *err = nullptr;
    const int rc = cotter_token_from_json(&t, reinterpret_cast<const char *>(data), size, &err);
    FUZZ_CHECK(rc == COTTER_OK || rc == COTTER_EPROTOCOL || rc == COTTER_EINVAL || rc == COTTER_ENOMEM);
    if (rc != COTTER_OK) {
        FUZZ_CHECK(t == nullptr && err && cotter_error_code(err) == rc);
        cotter_error_free(err);
        return 0;
    }
    FUZZ_CHECK(t && !err && cotter_token_access_token(t));

    cotter_buf json1 = COTTER_BUF_INIT, json2 = COTTER_BUF_INIT;
    FUZZ_CHECK(cotter_token_to_json(&json1, t, nullptr) == COTTER_OK && json1.ptr);
    cotter_token *t2 = nullptr;
    FUZZ_CHECK(cotter_token_from_json(&t2, json1.ptr, json1.len, nullptr) == COTTER_OK && t2);
    check_same(t, t2);
    FUZZ_CHECK(cotter_token_to_json(&json2, t2, nullptr) == COTTER_OK);
    FUZZ_CHECK(json1.len == json2.len && std::memcmp(json1.ptr, json2.ptr, json1.len) == 0);
    cotter_buf_dispose(&json1);
    cotter_buf_dispose(&json2);
    cotter_token_free(t2);
    cotter_token_free(t);
    return 0;
}

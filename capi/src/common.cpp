/**
 * @file common.cpp
 * @brief C ABI: status names, error objects, buffers, version and global init.
 */
#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>

#include "api.hpp"
#include "common/global.hpp"

namespace cotter::capi {

int report(cotter_error **out_error, cotter::core::error_info info) noexcept {
    int code = info.code;
    if (code >= 0) code = COTTER_EINTERNAL;  // an error path must never report success
    if (out_error) {
        *out_error = nullptr;
        try {
            info.code = code;
            *out_error = new cotter_error{std::move(info)};
        } catch (...) {
            // Allocation failed: the caller still gets the status code.
        }
    }
    return code;
}

int report(cotter_error **out_error, int code, const char *message) noexcept {
    try {
        cotter::core::error_info info;
        info.code = code;
        info.message = message ? message : "";
        return report(out_error, std::move(info));
    } catch (...) {
        if (out_error) *out_error = nullptr;
        return code < 0 ? code : COTTER_EINTERNAL;
    }
}

}  // namespace cotter::capi

namespace {
struct status_entry {
    int code;
    const char *name;
    const char *description;
};

// One row per cotter_status; tests/check_status_table.* compares this with cotter.h.
constexpr status_entry k_statuses[] = {
    {COTTER_OK, "COTTER_OK", "success"},
    {COTTER_EINVAL, "COTTER_EINVAL", "invalid argument"},
    {COTTER_ENOMEM, "COTTER_ENOMEM", "out of memory"},
    {COTTER_ENETWORK, "COTTER_ENETWORK", "network error"},
    {COTTER_ETIMEOUT, "COTTER_ETIMEOUT", "timed out"},
    {COTTER_ETLS, "COTTER_ETLS", "TLS error"},
    {COTTER_EHTTP, "COTTER_EHTTP", "unexpected HTTP status"},
    {COTTER_EOAUTH, "COTTER_EOAUTH", "the API rejected the request"},
    {COTTER_EPROTOCOL, "COTTER_EPROTOCOL", "malformed or unexpected response"},
    {COTTER_EUSER, "COTTER_EUSER", "aborted by a callback"},
    {COTTER_EINTERNAL, "COTTER_EINTERNAL", "internal error"},
    {COTTER_EREAUTH, "COTTER_EREAUTH", "re-authentication needed"},
    {COTTER_ESTORAGE, "COTTER_ESTORAGE", "token storage failed"},
    {COTTER_ENOTFOUND, "COTTER_ENOTFOUND", "not found"},
    {COTTER_ESTATE, "COTTER_ESTATE", "login redirect rejected"},
    {COTTER_ECANCELED, "COTTER_ECANCELED", "cancelled"},
    {COTTER_ECREDENTIALS, "COTTER_ECREDENTIALS", "the API key id or secret was rejected"},
    {COTTER_EJWT_MALFORMED, "COTTER_EJWT_MALFORMED", "malformed token"},
    {COTTER_EJWT_ALG, "COTTER_EJWT_ALG", "token algorithm not allowed"},
    {COTTER_EJWT_HEADER, "COTTER_EJWT_HEADER", "token header not allowed"},
    {COTTER_EJWT_CRIT, "COTTER_EJWT_CRIT", "unsupported critical header"},
    {COTTER_EJWT_DUPLICATE, "COTTER_EJWT_DUPLICATE", "duplicate JSON member in token"},
    {COTTER_EJWT_KEY_NOT_FOUND, "COTTER_EJWT_KEY_NOT_FOUND", "no key for the token's kid"},
    {COTTER_EJWT_KEY_MISMATCH, "COTTER_EJWT_KEY_MISMATCH", "key cannot verify ES256"},
    {COTTER_EJWT_SIGNATURE, "COTTER_EJWT_SIGNATURE", "invalid signature"},
    {COTTER_EJWT_CLAIM_TYPE, "COTTER_EJWT_CLAIM_TYPE", "claim has the wrong type"},
    {COTTER_EJWT_ISSUER, "COTTER_EJWT_ISSUER", "issuer mismatch"},
    {COTTER_EJWT_AUDIENCE, "COTTER_EJWT_AUDIENCE", "audience mismatch"},
    {COTTER_EJWT_EXPIRED, "COTTER_EJWT_EXPIRED", "token expired"},
    {COTTER_EJWT_NOT_YET_VALID, "COTTER_EJWT_NOT_YET_VALID", "token not yet valid"},
    {COTTER_EJWT_MISSING_CLAIM, "COTTER_EJWT_MISSING_CLAIM", "required claim missing"},
    {COTTER_EJWKS_INVALID, "COTTER_EJWKS_INVALID", "invalid key set"},
    {COTTER_EJWKS_UNAVAILABLE, "COTTER_EJWKS_UNAVAILABLE", "key set unavailable"},
    {COTTER_ELEGACY_SIGNATURE, "COTTER_ELEGACY_SIGNATURE", "invalid Ed25519 token signature"},
    {COTTER_ELEGACY_CLAIM, "COTTER_ELEGACY_CLAIM", "Ed25519 token rejected"},
};

const status_entry *find_status(int status) noexcept {
    for (const auto &e : k_statuses)
        if (e.code == status) return &e;
    return nullptr;
}
}  // namespace

extern "C" {

COTTER_API const char *cotter_status_name(int status) noexcept {
    const status_entry *e = find_status(status);
    return e ? e->name : "COTTER_EUNKNOWN";
}

COTTER_API const char *cotter_status_describe(int status) noexcept {
    const status_entry *e = find_status(status);
    return e ? e->description : "unknown status";
}

COTTER_API int cotter_error_code(const cotter_error *err) noexcept { return err ? err->info.code : COTTER_EINVAL; }

COTTER_API const char *cotter_error_message(const cotter_error *err) noexcept {
    return err ? err->info.message.c_str() : "";
}

COTTER_API int cotter_error_http_status(const cotter_error *err) noexcept { return err ? err->info.http_status : 0; }

COTTER_API const char *cotter_error_oauth_error(const cotter_error *err) noexcept {
    return err && !err->info.oauth_error.empty() ? err->info.oauth_error.c_str() : nullptr;
}

COTTER_API const char *cotter_error_oauth_error_description(const cotter_error *err) noexcept {
    return err && !err->info.oauth_error_description.empty() ? err->info.oauth_error_description.c_str() : nullptr;
}

COTTER_API int64_t cotter_error_retry_after(const cotter_error *err) noexcept {
    return err ? err->info.retry_after : -1;
}

COTTER_API void cotter_error_free(cotter_error *err) noexcept { delete err; }

COTTER_API int cotter_version_number(void) noexcept { return COTTER_VERSION_NUMBER; }

#define COTTER_STR2(x) #x
#define COTTER_STR(x) COTTER_STR2(x)
COTTER_API const char *cotter_version_string(void) noexcept {
    return COTTER_STR(COTTER_VERSION_MAJOR) "." COTTER_STR(COTTER_VERSION_MINOR) "." COTTER_STR(COTTER_VERSION_PATCH);
}

COTTER_API int cotter_global_init(void) noexcept { return cotter::core::global_acquire(); }

COTTER_API void cotter_global_shutdown(void) noexcept { cotter::core::global_release(); }

COTTER_API void cotter_buf_dispose(cotter_buf *buf) noexcept {
    if (!buf) return;
    if (buf->ptr) {
        OPENSSL_cleanse(buf->ptr, buf->len);
        std::free(buf->ptr);
    }
    buf->ptr = nullptr;
    buf->len = 0;
}

COTTER_API int cotter_buf_alloc(cotter_buf *out, size_t len) noexcept {
    if (!out || len == SIZE_MAX) return COTTER_EINVAL;
    out->ptr = static_cast<char *>(std::calloc(len + 1, 1));
    out->len = out->ptr ? len : 0;
    return out->ptr ? COTTER_OK : COTTER_ENOMEM;
}

}  // extern "C"

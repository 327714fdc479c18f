/**
 * @file common.cpp
 * @brief C ABI: status names, error objects, buffers, version and global init.
 */
#include <openssl/crypto.h>

#include <cstdlib>
#include <cstring>

#include "api.hpp"
#include "common/constants.hpp"
#include "common/global.hpp"
#include "common/status.hpp"

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

extern "C" {

// The status table is the core's (common/status.hpp, generated from capi/abi.json): the ABI re-exports it.
COTTER_API const char *cotter_status_name(int status) noexcept { return cotter::core::status_name(status); }

COTTER_API const char *cotter_status_describe(int status) noexcept { return cotter::core::status_describe(status); }

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

COTTER_API int cotter_version_number(void) noexcept { return cotter::core::k_version_number; }

COTTER_API const char *cotter_version_string(void) noexcept { return cotter::core::k_version_string; }

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

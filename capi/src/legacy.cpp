/**
 * @file legacy.cpp
 * @brief C ABI: Cotter's older Ed25519 Identity and Event tokens over core/jwt/legacy.
 */
#include <chrono>

#include "api.hpp"
#include "jwt/legacy.hpp"

extern "C" {

COTTER_API int cotter_identity_token_verify(const char *identity_token_json, const char *api_key_id,
                                            const char *public_key_b64, int64_t now,
                                            cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out_error);
    COTTER_API_BEGIN
    COTTER_CHECK_ARG(identity_token_json != nullptr, "identity_token_json must not be NULL", out_error);
    COTTER_CHECK_ARG(api_key_id != nullptr && api_key_id[0] != '\0',
                     "api_key_id (your Cotter API key id) is required", out_error);
    COTTER_CHECK_ARG(now >= 0, "now must be 0 (the current time) or a Unix time in seconds", out_error);
    if (now == 0)
        now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                  .count();
    cotter::core::error_info err;
    const int rc = cotter::core::jwt::legacy::verify_identity_token(
        identity_token_json, api_key_id, public_key_b64 ? public_key_b64 : COTTER_LEGACY_PUBLIC_KEY, now, &err);
    if (rc != COTTER_OK) return cotter::capi::report(out_error, std::move(err));
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API int cotter_event_token_verify(const char *event_token_json, const char *api_key_id,
                                         const char *public_key_b64, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out_error);
    COTTER_API_BEGIN
    COTTER_CHECK_ARG(event_token_json != nullptr, "event_token_json must not be NULL", out_error);
    COTTER_CHECK_ARG(api_key_id != nullptr && api_key_id[0] != '\0',
                     "api_key_id (your Cotter API key id) is required", out_error);
    cotter::core::error_info err;
    const int rc = cotter::core::jwt::legacy::verify_event_token(
        event_token_json, api_key_id, public_key_b64 ? public_key_b64 : COTTER_LEGACY_PUBLIC_KEY, &err);
    if (rc != COTTER_OK) return cotter::capi::report(out_error, std::move(err));
    return COTTER_OK;
    COTTER_API_END(out_error)
}

}  // extern "C"

/**
 * @file token.cpp
 * @brief C ABI: the oauth token set (cotter_token).
 */
#include "client_objects.hpp"

using cotter::capi::c_str_or_null;
using cotter::core::token::token_set;

extern "C" {

COTTER_API int cotter_token_from_json(cotter_token **out, const char *json, size_t json_len,
                                      cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(json != nullptr, "json must not be NULL", out_error);
    COTTER_API_BEGIN
    if (json_len > cotter::core::token::k_max_stored_bytes)
        return cotter::capi::report(out_error, COTTER_EPROTOCOL, "token JSON larger than 1 MiB");
    std::string text(json, json_len);
    struct wiper {
        std::string &s;
        ~wiper() { cotter::core::wipe(s); }
    } w{text};
    auto tok = std::make_unique<cotter_token>();
    tok->t = token_set::from_json(text, "token JSON");
    *out = tok.release();
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API int cotter_token_to_json(cotter_buf *out, const cotter_token *token, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(token != nullptr, "token must not be NULL", out_error);
    COTTER_API_BEGIN
    std::string json = token->t.to_json();
    const int rc = cotter::capi::fill_buf(out, json);
    cotter::core::wipe(json);
    if (rc != COTTER_OK) return cotter::capi::report(out_error, rc, "out of memory");
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API void cotter_token_free(cotter_token *token) noexcept { delete token; }

COTTER_API const char *cotter_token_access_token(const cotter_token *token) noexcept {
    return token ? c_str_or_null(token->t.access_token.str()) : nullptr;
}
COTTER_API const char *cotter_token_id_token(const cotter_token *token) noexcept {
    return token ? c_str_or_null(token->t.id_token.str()) : nullptr;
}
COTTER_API const char *cotter_token_refresh_token(const cotter_token *token) noexcept {
    return token ? c_str_or_null(token->t.refresh_token.str()) : nullptr;
}
COTTER_API const char *cotter_token_token_type(const cotter_token *token) noexcept {
    return token ? c_str_or_null(token->t.token_type) : nullptr;
}
COTTER_API const char *cotter_token_auth_method(const cotter_token *token) noexcept {
    return token ? c_str_or_null(token->t.auth_method) : nullptr;
}
COTTER_API int64_t cotter_token_expires_in(const cotter_token *token) noexcept {
    return token ? token->t.expires_in : 0;
}
COTTER_API int64_t cotter_token_access_token_expires_at(const cotter_token *token) noexcept {
    return token ? token->t.access_expires_at : 0;
}

}  // extern "C"

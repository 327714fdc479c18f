/**
 * @file pkce.cpp
 * @brief C ABI: PKCE values, the hosted-login URL and the login-redirect parser.
 */
#include "client_objects.hpp"

namespace tk = cotter::core::token;
using cotter::capi::str_or_empty;

extern "C" {

COTTER_API int cotter_pkce_new(cotter_pkce **out, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_API_BEGIN
    auto p = std::make_unique<cotter_pkce>();
    p->p = tk::pkce::generate();
    *out = p.release();
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API void cotter_pkce_free(cotter_pkce *pkce) noexcept { delete pkce; }
COTTER_API const char *cotter_pkce_verifier(const cotter_pkce *pkce) noexcept {
    return pkce ? pkce->p.verifier.c_str() : nullptr;
}
COTTER_API const char *cotter_pkce_challenge(const cotter_pkce *pkce) noexcept {
    return pkce ? pkce->p.challenge.c_str() : nullptr;
}
COTTER_API const char *cotter_pkce_state(const cotter_pkce *pkce) noexcept {
    return pkce ? pkce->p.state.c_str() : nullptr;
}

COTTER_API int cotter_pkce_challenge_of(cotter_buf *out, const char *verifier, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(verifier != nullptr, "verifier must not be NULL", out_error);
    COTTER_API_BEGIN
    const int rc = cotter::capi::fill_buf(out, tk::pkce_challenge(verifier));
    if (rc != COTTER_OK) return cotter::capi::report(out_error, rc, "out of memory");
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API int cotter_login_url(cotter_buf *out, const cotter_login_url_options *opts,
                                cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(opts != nullptr, "login URL options are required (opts is NULL)", out_error);
    COTTER_CHECK_ARG(opts->version >= 1 && opts->version <= COTTER_LOGIN_URL_OPTIONS_VERSION,
                     "login URL options: unknown version (initialise them with COTTER_LOGIN_URL_OPTIONS_INIT)", out_error);
    COTTER_API_BEGIN
    tk::login_url_params p;
    p.login_url = str_or_empty(opts->login_url);
    p.api_key_id = str_or_empty(opts->api_key_id);
    p.redirect_url = str_or_empty(opts->redirect_url);
    p.state = str_or_empty(opts->state);
    p.code_challenge = str_or_empty(opts->code_challenge);
    p.identifier_type = str_or_empty(opts->identifier_type);
    p.auth_method = str_or_empty(opts->auth_method);
    p.input = str_or_empty(opts->input);
    p.cotter_user_id = str_or_empty(opts->cotter_user_id);
    if (opts->version >= 2) p.from_environment = opts->from_environment;  // version 1 ends before it
    const int rc = cotter::capi::fill_buf(out, tk::login_url(p));
    if (rc != COTTER_OK) return cotter::capi::report(out_error, rc, "out of memory");
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API int cotter_login_redirect_parse(cotter_buf *code_out, int64_t *challenge_id_out, const char *query,
                                           const char *expected_state, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(code_out);
    COTTER_CLEAR_OUT(challenge_id_out);
    COTTER_CHECK_ARG(code_out != nullptr, "code_out must not be NULL", out_error);
    COTTER_CHECK_ARG(challenge_id_out != nullptr, "challenge_id_out must not be NULL", out_error);
    COTTER_CHECK_ARG(query != nullptr, "query must not be NULL", out_error);
    COTTER_CHECK_ARG(expected_state != nullptr, "expected_state must not be NULL", out_error);
    COTTER_API_BEGIN
    tk::login_redirect r = tk::parse_login_redirect(query, expected_state);
    const int rc = cotter::capi::fill_buf(code_out, r.code.str());
    if (rc != COTTER_OK) return cotter::capi::report(out_error, rc, "out of memory");
    *challenge_id_out = r.challenge_id;
    return COTTER_OK;
    COTTER_API_END(out_error)
}

}  // extern "C"

/**
 * @file client.cpp
 * @brief C ABI: cotter_client and every API call (grants, refresh, logout, custom claims, get_identity, users,
 * social tokens, serverless verify), with their result objects.
 */
#include "client_objects.hpp"

namespace tk = cotter::core::token;
using cotter::capi::c_str_or_null;
using cotter::capi::fill_buf;
using cotter::capi::report;
using cotter::capi::str_or_empty;

using cotter::capi::finish_blocking;
using cotter::capi::start_client_call;

namespace {

int grant_start(cotter_call **out, cotter_client *client, const char *type, const char *json,
                const cotter_call_options *call_opts, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_ARG(json != nullptr, "json must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_client_call<tk::token_set>(out, client, call_opts, [&](tk::client &c, auto done, int64_t timeout) {
        return c.grant_async(type, json, std::move(done), timeout);
    });
    COTTER_API_END(out_error)
}

}  // namespace

namespace {
template <class Start>
int user_start(cotter_call **out, cotter_client *client, const char *arg, const cotter_call_options *call_opts,
               cotter_error **out_error, Start &&start) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_ARG(arg != nullptr, "the user id or identifier must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_client_call<tk::user>(out, client, call_opts, [&](tk::client &c, auto done, int64_t timeout) {
        return start(c, std::string(arg), std::move(done), timeout);
    });
    COTTER_API_END(out_error)
}
}  // namespace

extern "C" {

COTTER_API int cotter_client_options_init(cotter_client_options *opts, unsigned int version) noexcept {
    if (!opts || version < 1 || version > COTTER_CLIENT_OPTIONS_VERSION) return COTTER_EINVAL;
    const cotter_client_options defaults = COTTER_CLIENT_OPTIONS_INIT;
    if (version == 1) {
        // A version-1 caller's struct ends before max_host_connections: fill only what it has.
        std::memcpy(opts, &defaults, offsetof(cotter_client_options, max_host_connections));
    } else {
        *opts = defaults;
    }
    opts->version = version;
    return COTTER_OK;
}

COTTER_API int cotter_jwks_url(cotter_buf *out, const char *base_url, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_API_BEGIN
    if (fill_buf(out, tk::jwks_url_of(str_or_empty(base_url))) != COTTER_OK)
        return report(out_error, COTTER_ENOMEM, "out of memory");
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API int cotter_client_new(cotter_client **out, const cotter_client_options *opts,
                                 cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(opts != nullptr, "client options are required (opts is NULL)", out_error);
    COTTER_CHECK_ARG(opts->version >= 1 && opts->version <= COTTER_CLIENT_OPTIONS_VERSION,
                     "client options: unknown version (initialise them with cotter_client_options_init)", out_error);
    COTTER_CHECK_ARG(opts->api_key_id != nullptr && opts->api_key_id[0] != '\0',
                     "api_key_id (your Cotter API key id) is required", out_error);
    COTTER_API_BEGIN  // numeric options: the core checks their ranges (common/options.hpp), naming field and range
    tk::client_options o;
    o.api_key_id = opts->api_key_id;
    o.api_secret_key = cotter::core::secret_string(str_or_empty(opts->api_secret_key));
    o.base_url = str_or_empty(opts->base_url);
    o.worker_url = str_or_empty(opts->worker_url);
    o.http.ca_file = str_or_empty(opts->ca_file);
    o.http.connect_timeout_ms = opts->connect_timeout_ms;
    o.http.timeout_ms = opts->timeout_ms;
    o.http.max_retries = opts->max_retries;
    o.http.retry_base_ms = opts->retry_base_ms;
    o.http.retry_max_ms = opts->retry_max_ms;
    o.http.max_response_bytes = opts->max_response_bytes;
    if (opts->version >= 2) o.http.max_host_connections = opts->max_host_connections;
    auto c = std::make_unique<cotter_client>();
    c->hooks = cotter::capi::hook_gate::make();
    c->handle = c->hooks->handle_use();
    if (opts->log) {
        cotter_log_fn fn = opts->log;
        void *payload = opts->log_payload;
        o.http.log = [fn, payload, gate = c->hooks](int level, const std::string &m) {
            gate->run([&] { fn(level, m.c_str(), payload); });
        };
    }
    c->c = std::make_shared<tk::client>(std::move(o));
    *out = c.release();
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API void cotter_client_free(cotter_client *client) noexcept { delete client; }

COTTER_API const char *cotter_client_base_url(const cotter_client *client) noexcept {
    return client ? client->c->base_url().c_str() : nullptr;
}

COTTER_API int cotter_client_stats_get(cotter_client_stats *out, const cotter_client *client) noexcept {
    if (!out || !client) return COTTER_EINVAL;
    const auto s = client->c->stats();
    out->version = 1;
    out->requests = s.requests;
    out->connections = s.connections;
    out->retries = s.retries;
    return COTTER_OK;
}

/* --- Grants ----------------------------------------------------------------------------------- */


COTTER_API int cotter_client_grant_identity_token_start(cotter_call **out, cotter_client *client,
                                                        const char *identity_token_json,
                                                        const cotter_call_options *call_opts,
                                                        cotter_error **out_error) noexcept {
    return grant_start(out, client, "identity_token", identity_token_json, call_opts, out_error);
}

COTTER_API int cotter_client_grant_identity_token(cotter_token **out, cotter_client *client,
                                                  const char *identity_token_json, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    cotter_call *call = nullptr;
    return finish_blocking(
        cotter_client_grant_identity_token_start(&call, client, identity_token_json, nullptr, out_error), &call,
        [&](cotter_call *c) { return cotter_call_take_token(out, c, out_error); });
}

COTTER_API int cotter_client_grant_event_token_start(cotter_call **out, cotter_client *client,
                                                     const char *event_token_json, const cotter_call_options *call_opts,
                                                     cotter_error **out_error) noexcept {
    return grant_start(out, client, "event_token", event_token_json, call_opts, out_error);
}

COTTER_API int cotter_client_grant_event_token(cotter_token **out, cotter_client *client, const char *event_token_json,
                                               cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    cotter_call *call = nullptr;
    return finish_blocking(cotter_client_grant_event_token_start(&call, client, event_token_json, nullptr, out_error),
                           &call, [&](cotter_call *c) { return cotter_call_take_token(out, c, out_error); });
}

COTTER_API int cotter_client_refresh_start(cotter_call **out, cotter_client *client, const char *refresh_token,
                                           const cotter_call_options *call_opts, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_ARG(refresh_token != nullptr, "refresh_token must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_client_call<tk::token_set>(out, client, call_opts, [&](tk::client &c, auto done, int64_t timeout) {
        return c.refresh_async(refresh_token, std::move(done), timeout);
    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_client_refresh(cotter_token **out, cotter_client *client, const char *refresh_token,
                                     cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    cotter_call *call = nullptr;
    return finish_blocking(cotter_client_refresh_start(&call, client, refresh_token, nullptr, out_error), &call,
                           [&](cotter_call *c) { return cotter_call_take_token(out, c, out_error); });
}

COTTER_API int cotter_client_logout_start(cotter_call **out, cotter_client *client, const char *refresh_token,
                                          const cotter_call_options *call_opts, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_client_call<tk::nothing>(out, client, call_opts, [&](tk::client &c, auto done, int64_t timeout) {
        return c.logout_async(str_or_empty(refresh_token), std::move(done), timeout);
    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_client_logout(cotter_client *client, const char *refresh_token,
                                    cotter_error **out_error) noexcept {
    cotter_call *call = nullptr;
    return finish_blocking(cotter_client_logout_start(&call, client, refresh_token, nullptr, out_error), &call,
                           [&](cotter_call *c) { return cotter_call_wait(c, out_error); });
}

COTTER_API int cotter_client_custom_claims_start(cotter_call **out, cotter_client *client, const char *token,
                                                 const char *custom_attributes_json, const char *refresh_token,
                                                 const cotter_call_options *call_opts,
                                                 cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_ARG(token != nullptr, "token must not be NULL", out_error);
    COTTER_CHECK_ARG(custom_attributes_json != nullptr, "custom_attributes_json must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_client_call<tk::custom_claims_result>(
        out, client, call_opts, [&](tk::client &c, auto done, int64_t timeout) {
            return c.custom_claims_async(token, custom_attributes_json, str_or_empty(refresh_token), std::move(done),
                                         timeout);
        });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_client_custom_claims(cotter_buf *token_out, cotter_buf *refresh_token_out, cotter_client *client,
                                           const char *token, const char *custom_attributes_json,
                                           const char *refresh_token, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(token_out);
    COTTER_CLEAR_OUT(refresh_token_out);
    COTTER_CHECK_ARG(token_out != nullptr, "token_out must not be NULL", out_error);
    cotter_call *call = nullptr;
    return finish_blocking(
        cotter_client_custom_claims_start(&call, client, token, custom_attributes_json, refresh_token, nullptr,
                                          out_error),
        &call, [&](cotter_call *c) { return cotter_call_take_custom_claims(token_out, refresh_token_out, c, out_error); });
}

/* --- get_identity ------------------------------------------------------------------------------- */

COTTER_API int cotter_client_get_identity_start(cotter_call **out, cotter_client *client,
                                                const char *authorization_code, int64_t challenge_id,
                                                const char *code_verifier, const char *redirect_url,
                                                const cotter_call_options *call_opts,
                                                cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_ARG(authorization_code != nullptr, "authorization_code must not be NULL", out_error);
    COTTER_CHECK_ARG(code_verifier != nullptr, "code_verifier must not be NULL", out_error);
    COTTER_CHECK_ARG(redirect_url != nullptr, "redirect_url must not be NULL", out_error);
    COTTER_CHECK_ARG(challenge_id >= 0, "challenge_id must not be negative", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_client_call<tk::identity>(out, client, call_opts, [&](tk::client &c, auto done, int64_t timeout) {
        return c.get_identity_async(authorization_code, challenge_id, code_verifier, redirect_url, std::move(done),
                                    timeout);
    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_client_get_identity(cotter_identity **out, cotter_client *client, const char *authorization_code,
                                          int64_t challenge_id, const char *code_verifier, const char *redirect_url,
                                          cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    cotter_call *call = nullptr;
    return finish_blocking(cotter_client_get_identity_start(&call, client, authorization_code, challenge_id,
                                                            code_verifier, redirect_url, nullptr, out_error),
                           &call, [&](cotter_call *c) { return cotter_call_take_identity(out, c, out_error); });
}

COTTER_API void cotter_identity_free(cotter_identity *identity) noexcept { delete identity; }
COTTER_API const cotter_token *cotter_identity_token(const cotter_identity *identity) noexcept {
    return identity && identity->id.has_token ? &identity->token : nullptr;
}
COTTER_API const char *cotter_identity_identifier(const cotter_identity *identity) noexcept {
    return identity ? c_str_or_null(identity->id.identifier) : nullptr;
}
COTTER_API const char *cotter_identity_identifier_type(const cotter_identity *identity) noexcept {
    return identity ? c_str_or_null(identity->id.identifier_type) : nullptr;
}
COTTER_API const char *cotter_identity_user_id(const cotter_identity *identity) noexcept {
    return identity ? c_str_or_null(identity->id.user_id) : nullptr;
}
COTTER_API const char *cotter_identity_identity_token_json(const cotter_identity *identity) noexcept {
    return identity ? c_str_or_null(identity->id.identity_token_json) : nullptr;
}
COTTER_API const char *cotter_identity_json(const cotter_identity *identity, size_t *len_out) noexcept {
    if (len_out) *len_out = identity ? identity->id.json.size() : 0;
    return identity ? identity->id.json.c_str() : nullptr;
}

/* --- Users ---------------------------------------------------------------------------------------- */


COTTER_API int cotter_client_user_create_start(cotter_call **out, cotter_client *client, const char *identifier,
                                               const cotter_call_options *call_opts, cotter_error **out_error) noexcept {
    return user_start(out, client, identifier, call_opts, out_error, [](tk::client &c, const std::string &a, auto d, int64_t t) {
        return c.user_create_async(a, std::move(d), t);
    });
}
COTTER_API int cotter_client_user_get_by_identifier_start(cotter_call **out, cotter_client *client,
                                                          const char *identifier, const cotter_call_options *call_opts,
                                                          cotter_error **out_error) noexcept {
    return user_start(out, client, identifier, call_opts, out_error, [](tk::client &c, const std::string &a, auto d, int64_t t) {
        return c.user_get_by_identifier_async(a, std::move(d), t);
    });
}
COTTER_API int cotter_client_user_get_start(cotter_call **out, cotter_client *client, const char *user_id,
                                            const cotter_call_options *call_opts, cotter_error **out_error) noexcept {
    return user_start(out, client, user_id, call_opts, out_error, [](tk::client &c, const std::string &a, auto d, int64_t t) {
        return c.user_get_async(a, std::move(d), t);
    });
}

COTTER_API int cotter_client_user_create(cotter_user **out, cotter_client *client, const char *identifier,
                                         cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    cotter_call *call = nullptr;
    return finish_blocking(cotter_client_user_create_start(&call, client, identifier, nullptr, out_error), &call,
                           [&](cotter_call *c) { return cotter_call_take_user(out, c, out_error); });
}
COTTER_API int cotter_client_user_get_by_identifier(cotter_user **out, cotter_client *client, const char *identifier,
                                                    cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    cotter_call *call = nullptr;
    return finish_blocking(cotter_client_user_get_by_identifier_start(&call, client, identifier, nullptr, out_error),
                           &call, [&](cotter_call *c) { return cotter_call_take_user(out, c, out_error); });
}
COTTER_API int cotter_client_user_get(cotter_user **out, cotter_client *client, const char *user_id,
                                      cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    cotter_call *call = nullptr;
    return finish_blocking(cotter_client_user_get_start(&call, client, user_id, nullptr, out_error), &call,
                           [&](cotter_call *c) { return cotter_call_take_user(out, c, out_error); });
}

COTTER_API int cotter_client_user_list_start(cotter_call **out, cotter_client *client, unsigned int page,
                                             const cotter_call_options *call_opts, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_client_call<tk::user_page>(out, client, call_opts,
                                                    [&](tk::client &c, auto done, int64_t timeout) {
                                                        return c.user_list_async(page, std::move(done), timeout);
                                                    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_client_user_list(cotter_user_list **out, cotter_client *client, unsigned int page,
                                       cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    cotter_call *call = nullptr;
    return finish_blocking(cotter_client_user_list_start(&call, client, page, nullptr, out_error), &call,
                           [&](cotter_call *c) { return cotter_call_take_user_list(out, c, out_error); });
}

COTTER_API void cotter_user_free(cotter_user *user) noexcept { delete user; }
COTTER_API void cotter_user_list_free(cotter_user_list *list) noexcept { delete list; }
COTTER_API size_t cotter_user_list_count(const cotter_user_list *list) noexcept { return list ? list->users.size() : 0; }
COTTER_API int64_t cotter_user_list_total(const cotter_user_list *list) noexcept { return list ? list->total : -1; }
COTTER_API int cotter_user_list_has_more(const cotter_user_list *list) noexcept { return list ? list->has_more : -1; }
COTTER_API const cotter_user *cotter_user_list_get(const cotter_user_list *list, size_t index) noexcept {
    return list && index < list->users.size() ? &list->users[index] : nullptr;
}
COTTER_API const char *cotter_user_id(const cotter_user *user) noexcept { return user ? c_str_or_null(user->u.id) : nullptr; }
COTTER_API const char *cotter_user_issuer(const cotter_user *user) noexcept {
    return user ? c_str_or_null(user->u.issuer) : nullptr;
}
COTTER_API const char *cotter_user_client_user_id(const cotter_user *user) noexcept {
    return user ? c_str_or_null(user->u.client_user_id) : nullptr;
}
COTTER_API const char *cotter_user_identifier(const cotter_user *user) noexcept {
    return user ? c_str_or_null(user->u.identifier) : nullptr;
}
COTTER_API const char *cotter_user_default_method(const cotter_user *user) noexcept {
    return user ? c_str_or_null(user->u.default_method) : nullptr;
}
COTTER_API const char *cotter_user_created_at(const cotter_user *user) noexcept {
    return user ? c_str_or_null(user->u.created_at) : nullptr;
}
COTTER_API size_t cotter_user_enrolled_count(const cotter_user *user) noexcept { return user ? user->u.enrolled.size() : 0; }
COTTER_API const char *cotter_user_enrolled(const cotter_user *user, size_t index) noexcept {
    return user && index < user->u.enrolled.size() ? user->u.enrolled[index].c_str() : nullptr;
}
COTTER_API const char *cotter_user_json(const cotter_user *user, size_t *len_out) noexcept {
    if (len_out) *len_out = user ? user->u.json.size() : 0;
    return user ? user->u.json.c_str() : nullptr;
}

/* --- Social-login provider tokens ------------------------------------------------------------------ */

COTTER_API int cotter_client_social_tokens_list_start(cotter_call **out, cotter_client *client,
                                                      const char *cotter_user_id, const cotter_call_options *call_opts,
                                                      cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_ARG(cotter_user_id != nullptr, "cotter_user_id must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_client_call<tk::social_token_list>(out, client, call_opts,
                                                    [&](tk::client &c, auto done, int64_t timeout) {
                                                        return c.social_tokens_list_async(cotter_user_id, std::move(done),
                                                                                          timeout);
                                                    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_client_social_tokens_list(cotter_social_token_list **out, cotter_client *client,
                                                const char *cotter_user_id, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    cotter_call *call = nullptr;
    return finish_blocking(cotter_client_social_tokens_list_start(&call, client, cotter_user_id, nullptr, out_error),
                           &call, [&](cotter_call *c) { return cotter_call_take_social_token_list(out, c, out_error); });
}

COTTER_API int cotter_client_social_token_get_start(cotter_call **out, cotter_client *client, const char *provider,
                                                    const char *cotter_user_id, const cotter_call_options *call_opts,
                                                    cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_ARG(provider != nullptr, "provider must not be NULL", out_error);
    COTTER_CHECK_ARG(cotter_user_id != nullptr, "cotter_user_id must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_client_call<tk::social_token>(out, client, call_opts, [&](tk::client &c, auto done, int64_t timeout) {
        return c.social_token_get_async(provider, cotter_user_id, std::move(done), timeout);
    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_client_social_token_get(cotter_social_token **out, cotter_client *client, const char *provider,
                                              const char *cotter_user_id, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    cotter_call *call = nullptr;
    return finish_blocking(
        cotter_client_social_token_get_start(&call, client, provider, cotter_user_id, nullptr, out_error), &call,
        [&](cotter_call *c) { return cotter_call_take_social_token(out, c, out_error); });
}

COTTER_API int cotter_client_social_token_delete_start(cotter_call **out, cotter_client *client, const char *provider,
                                                       const char *cotter_user_id, const cotter_call_options *call_opts,
                                                       cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_ARG(provider != nullptr, "provider must not be NULL", out_error);
    COTTER_CHECK_ARG(cotter_user_id != nullptr, "cotter_user_id must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_client_call<tk::nothing>(out, client, call_opts, [&](tk::client &c, auto done, int64_t timeout) {
        return c.social_token_delete_async(provider, cotter_user_id, std::move(done), timeout);
    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_client_social_token_delete(cotter_client *client, const char *provider, const char *cotter_user_id,
                                                 cotter_error **out_error) noexcept {
    cotter_call *call = nullptr;
    return finish_blocking(
        cotter_client_social_token_delete_start(&call, client, provider, cotter_user_id, nullptr, out_error), &call,
        [&](cotter_call *c) { return cotter_call_wait(c, out_error); });
}

COTTER_API void cotter_social_token_free(cotter_social_token *token) noexcept { delete token; }
COTTER_API void cotter_social_token_list_free(cotter_social_token_list *list) noexcept { delete list; }
COTTER_API size_t cotter_social_token_list_count(const cotter_social_token_list *list) noexcept {
    return list ? list->items.size() : 0;
}
COTTER_API const cotter_social_token *cotter_social_token_list_get(const cotter_social_token_list *list,
                                                                   size_t index) noexcept {
    return list && index < list->items.size() ? &list->items[index] : nullptr;
}
COTTER_API const char *cotter_social_token_provider(const cotter_social_token *token) noexcept {
    return token ? c_str_or_null(token->t.provider) : nullptr;
}
COTTER_API const char *cotter_social_token_provider_user_id(const cotter_social_token *token) noexcept {
    return token ? c_str_or_null(token->t.provider_user_id) : nullptr;
}
COTTER_API const char *cotter_social_token_provider_username(const cotter_social_token *token) noexcept {
    return token ? c_str_or_null(token->t.provider_username) : nullptr;
}
COTTER_API const char *cotter_social_token_user_id(const cotter_social_token *token) noexcept {
    return token ? c_str_or_null(token->t.user_id) : nullptr;
}
COTTER_API const char *cotter_social_token_access_token(const cotter_social_token *token) noexcept {
    return token ? c_str_or_null(token->t.access_token.str()) : nullptr;
}
COTTER_API const char *cotter_social_token_scope(const cotter_social_token *token) noexcept {
    return token ? c_str_or_null(token->t.scope) : nullptr;
}
COTTER_API const char *cotter_social_token_token_type(const cotter_social_token *token) noexcept {
    return token ? c_str_or_null(token->t.token_type) : nullptr;
}
COTTER_API const char *cotter_social_token_json(const cotter_social_token *token, size_t *len_out) noexcept {
    if (len_out) *len_out = token ? token->json_len : 0;
    return token ? token->json : nullptr;
}

/* --- Serverless verification ----------------------------------------------------------------------- */

COTTER_API int cotter_client_verify_remote_start(cotter_call **out, cotter_client *client, const char *access_token,
                                                 const cotter_call_options *call_opts,
                                                 cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_ARG(access_token != nullptr, "access_token must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_client_call<tk::verify_result>(out, client, call_opts, [&](tk::client &c, auto done, int64_t timeout) {
        return c.verify_remote_async(access_token, std::move(done), timeout);
    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_client_verify_remote(int *valid_out, cotter_buf *reason_out, cotter_client *client,
                                           const char *access_token, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(valid_out);
    COTTER_CLEAR_OUT(reason_out);
    COTTER_CHECK_ARG(valid_out != nullptr, "valid_out must not be NULL", out_error);
    cotter_call *call = nullptr;
    return finish_blocking(cotter_client_verify_remote_start(&call, client, access_token, nullptr, out_error), &call,
                           [&](cotter_call *c) { return cotter_call_take_verify_remote(valid_out, reason_out, c, out_error); });
}

/* --- Trusted-device events: the event crosses the ABI as the JSON the core checked ------------------ */

// The `_start` forms of the events are generated (capi/src/start_calls_gen.cpp, from capi/abi.json).

COTTER_API int cotter_client_event_create_pending(cotter_buf *out, cotter_client *client, const char *client_user_id,
                                                  const char *event, const char *code_challenge,
                                                  cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    cotter_call *call = nullptr;
    return finish_blocking(
        cotter_client_event_create_pending_start(&call, client, client_user_id, event, code_challenge, nullptr,
                                                 out_error),
        &call, [&](cotter_call *c) { return cotter_call_take_buf(out, c, out_error); });
}

COTTER_API int cotter_client_event_get(cotter_buf *out, cotter_client *client, int64_t event_id,
                                       const char *code_verifier, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    cotter_call *call = nullptr;
    return finish_blocking(cotter_client_event_get_start(&call, client, event_id, code_verifier, nullptr, out_error),
                           &call, [&](cotter_call *c) { return cotter_call_take_buf(out, c, out_error); });
}

}  // extern "C"

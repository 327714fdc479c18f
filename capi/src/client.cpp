/**
 * @file client.cpp
 * @brief C ABI: cotter_client (its options, construction, base URL, key id, stats) and the grants' `_start` forms:
 * one core call, grant_async(type, ...), serves both with a constant grant type that is not a C argument, so they
 * are not the generated shape. Every other call's `_start` form is generated (start_calls_gen.cpp), and every
 * blocking form too (blocking_calls.cpp).
 */
#include "client_objects.hpp"

namespace tk = cotter::core::token;
using cotter::capi::c_str_or_null;
using cotter::capi::fill_buf;
using cotter::capi::report;
using cotter::capi::str_or_empty;

using cotter::capi::call_timeout_ms;
using cotter::capi::start_call;
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

extern "C" {

COTTER_API int cotter_client_options_init(cotter_client_options *opts, unsigned int version) noexcept {
    if (!opts || version < 1 || version > COTTER_CLIENT_OPTIONS_VERSION) return COTTER_EINVAL;
    const cotter_client_options defaults = COTTER_CLIENT_OPTIONS_INIT;
    // An older caller's struct ends before the first field a later version added: fill only what it has.
    const size_t size = version == 1   ? offsetof(cotter_client_options, max_host_connections)
                        : version == 2 ? offsetof(cotter_client_options, from_environment)
                                       : sizeof(cotter_client_options);
    std::memcpy(opts, &defaults, size);
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
    COTTER_API_BEGIN  // the core checks the key id (or reads it: from_environment) and the numeric options' ranges
    tk::client_options o;
    o.api_key_id = str_or_empty(opts->api_key_id);
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
    if (opts->version >= 3) o.from_environment = opts->from_environment;
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

COTTER_API const char *cotter_client_api_key_id(const cotter_client *client) noexcept {
    return client ? client->c->api_key_id().c_str() : nullptr;
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

COTTER_API int cotter_client_grant_event_token_start(cotter_call **out, cotter_client *client,
                                                     const char *event_token_json, const cotter_call_options *call_opts,
                                                     cotter_error **out_error) noexcept {
    return grant_start(out, client, "event_token", event_token_json, call_opts, out_error);
}

/* The `_start` forms of every other call (refresh, logout, custom claims, get_identity, users, social tokens,
 * serverless verify, events) are generated: capi/src/start_calls_gen.cpp, from capi/abi.json (`core`). */

}  // extern "C"

/**
 * @file jwt.cpp
 * @brief C ABI: cotter_jwt_verifier and cotter_claims over core/jwt/verifier.
 */
#include <cstddef>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>

#include "api.hpp"
#include "call.hpp"
#include "hooks.hpp"
#include "jwt/verifier.hpp"

struct cotter_jwt_verifier {
    std::shared_ptr<cotter::core::jwt::verifier> impl;  // shared with its refresh calls in flight
    std::shared_ptr<cotter::capi::hook_gate> hooks;     // when its clock and log callbacks may run (hooks.hpp)
    std::shared_ptr<cotter::capi::hook_gate::use> handle;  // destroyed first: the handle's use of `hooks`
};

struct cotter_claims {
    std::shared_ptr<const cotter::core::jwt::claims> impl;  // shared with the token cache: a hit copies nothing
};

namespace {

using cotter::core::error_info;
using cotter::core::jwt::claims;


const claims *get(const cotter_claims *c) noexcept { return c ? c->impl.get() : nullptr; }

}  // namespace

extern "C" {

COTTER_API int cotter_jwt_verifier_options_init(cotter_jwt_verifier_options *opts, unsigned int version) noexcept {
    if (!opts || version < 1 || version > COTTER_JWT_VERIFIER_OPTIONS_VERSION) return COTTER_EINVAL;
    const cotter_jwt_verifier_options defaults = COTTER_JWT_VERIFIER_OPTIONS_INIT;
    // An older caller's struct ends before the first field a later version added: fill only what it has.
    const size_t size = version == 1 ? offsetof(cotter_jwt_verifier_options, from_environment)
                                     : sizeof(cotter_jwt_verifier_options);
    std::memcpy(opts, &defaults, size);
    opts->version = version;
    return COTTER_OK;
}

COTTER_API int cotter_jwt_verifier_new(cotter_jwt_verifier **out, const cotter_jwt_verifier_options *opts,
                                       cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out_error);
    COTTER_CLEAR_OUT(out);
    COTTER_API_BEGIN
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(opts != nullptr, "verifier options are required (opts is NULL)", out_error);
    COTTER_CHECK_ARG(opts->version >= 1 && opts->version <= COTTER_JWT_VERIFIER_OPTIONS_VERSION,
                     "verifier options: unknown version (initialise them with cotter_jwt_verifier_options_init)", out_error);
    COTTER_CHECK_ARG((opts->jwks_json != nullptr) != (opts->jwks_url != nullptr),
                     cotter::core::jwt::k_one_key_source, out_error);
    // The audience (or its variable: from_environment) and the numeric options' ranges: the core checks them
    // (common/options.hpp), naming field and range.

    cotter::core::jwt::verifier_config cfg;
    cfg.audience = cotter::capi::str_or_empty(opts->audience);
    if (opts->version >= 2) cfg.from_environment = opts->from_environment;
    cfg.issuer = opts->issuer ? opts->issuer : COTTER_DEFAULT_ISSUER;
    cfg.leeway_seconds = opts->leeway_seconds;
    cfg.jwks_json = cotter::capi::str_or_empty(opts->jwks_json);
    cfg.jwks_url = cotter::capi::str_or_empty(opts->jwks_url);
    COTTER_CHECK_ARG(!(opts->jwks_json && cfg.jwks_json.empty()), "jwks must not be empty", out_error);
    COTTER_CHECK_ARG(!(opts->jwks_url && cfg.jwks_url.empty()), "jwks_url must not be empty", out_error);
    cfg.ca_file = cotter::capi::str_or_empty(opts->ca_file);
    cfg.jwks_max_age_ms = opts->jwks_max_age_ms;
    cfg.jwks_cooldown_ms = opts->jwks_cooldown_ms;
    cfg.jwks_timeout_ms = opts->jwks_timeout_ms;
    cfg.jwks_max_bytes = opts->jwks_max_bytes;
    cfg.token_cache_size = opts->token_cache_size;
    auto v = std::make_unique<cotter_jwt_verifier>();
    v->hooks = cotter::capi::hook_gate::make();
    v->handle = v->hooks->handle_use();
    std::shared_ptr<cotter::capi::hook_gate> gate = v->hooks;
    if (cotter_clock_fn clock = opts->clock) {
        void *payload = opts->clock_payload;
        cfg.clock = [clock, payload, gate] {
            int64_t now = 0;
            if (!gate->run([&] { now = clock(payload); })) now = static_cast<int64_t>(std::time(nullptr));
            return now;
        };
    }
    if (cotter_log_fn log = opts->log) {
        void *payload = opts->log_payload;
        cfg.log = [log, payload, gate](int level, const std::string &message) {
            gate->run([&] { log(level, message.c_str(), payload); });
        };
    }
    v->impl = std::make_shared<cotter::core::jwt::verifier>(std::move(cfg));
    *out = v.release();
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API void cotter_jwt_verifier_free(cotter_jwt_verifier *verifier) noexcept { delete verifier; }

COTTER_API int cotter_jwt_verifier_refresh(cotter_jwt_verifier *verifier, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out_error);
    COTTER_API_BEGIN
    COTTER_CHECK_ARG(verifier != nullptr, "verifier must not be NULL", out_error);
    error_info err;
    const int rc = verifier->impl->refresh(&err);
    if (rc != COTTER_OK) return cotter::capi::report(out_error, std::move(err));
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API int cotter_jwt_verifier_refresh_start(cotter_call **out, cotter_jwt_verifier *verifier,
                                                 const cotter_call_options *call_opts,
                                                 cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(verifier != nullptr, "verifier must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    std::shared_ptr<cotter::core::jwt::verifier> v = verifier->impl;
    const int64_t timeout = cotter::capi::call_timeout_ms(call_opts);
    return cotter::capi::start_call<cotter::core::token::nothing>(
        out, call_opts, cotter::capi::keep_for_call(v, *verifier->hooks), v->io(),
        [&](cotter::core::token::done_fn<cotter::core::token::nothing> done) -> std::function<void()> {
            const uint64_t id = v->refresh_async([done = std::move(done)](const error_info *err) mutable {
                cotter::core::token::outcome<cotter::core::token::nothing> o;
                if (err) {
                    o.err = *err;
                    o.code = err->code != COTTER_OK ? err->code : COTTER_EJWKS_UNAVAILABLE;
                }
                done(std::move(o));
            }, timeout);
            if (id == 0) return nullptr;  // completed inline
            // Cancelling this call stops its wait only: other calls sharing the fetch keep waiting for it.
            std::weak_ptr<cotter::core::jwt::verifier> weak = v;
            return [weak, id] {
                if (auto live = weak.lock()) live->cancel_refresh(id);
            };
        });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_jwt_verify(cotter_claims **out, cotter_jwt_verifier *verifier, const char *token,
                                 size_t token_len, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out_error);
    COTTER_CLEAR_OUT(out);
    COTTER_API_BEGIN
    COTTER_CHECK_ARG(verifier != nullptr, "verifier must not be NULL", out_error);
    COTTER_CHECK_ARG(token != nullptr, "token must not be NULL", out_error);
    // The error details are only built when the caller asked for them.
    error_info err;
    std::shared_ptr<const claims> verified;
    const int rc = verifier->impl->verify(std::string_view(token, token_len), out ? &verified : nullptr,
                                          out_error ? &err : nullptr);
    if (rc != COTTER_OK) {
        if (!out_error) return rc;
        err.code = rc;
        return cotter::capi::report(out_error, std::move(err));
    }
    if (out) *out = new cotter_claims{std::move(verified)};
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API void cotter_claims_free(cotter_claims *c) noexcept { delete c; }

#define COTTER_CLAIM_STRING(field)                                                      \
    COTTER_API const char *cotter_claims_##field(const cotter_claims *c) noexcept {     \
        const claims *p = get(c);                                                       \
        return p ? p->field.c_str_or_null() : nullptr;                                  \
    }
COTTER_CLAIM_STRING(sub)
COTTER_CLAIM_STRING(iss)
COTTER_CLAIM_STRING(identifier)
COTTER_CLAIM_STRING(authentication_method)
COTTER_CLAIM_STRING(scope)
COTTER_CLAIM_STRING(type)
COTTER_CLAIM_STRING(client_user_id)
COTTER_CLAIM_STRING(jti)
COTTER_CLAIM_STRING(auth_time)
COTTER_CLAIM_STRING(kid)
#undef COTTER_CLAIM_STRING

COTTER_API size_t cotter_claims_audience_count(const cotter_claims *c) noexcept {
    const claims *p = get(c);
    return p ? p->audiences.size() : 0;
}

COTTER_API const char *cotter_claims_audience(const cotter_claims *c, size_t index) noexcept {
    const claims *p = get(c);
    return p && index < p->audiences.size() ? p->audiences[index].c_str() : nullptr;
}

COTTER_API int64_t cotter_claims_exp(const cotter_claims *c) noexcept { return get(c) ? get(c)->exp : 0; }
COTTER_API int64_t cotter_claims_iat(const cotter_claims *c) noexcept { return get(c) ? get(c)->iat : 0; }
COTTER_API int64_t cotter_claims_nbf(const cotter_claims *c) noexcept { return get(c) ? get(c)->nbf : 0; }

COTTER_API const char *cotter_claims_json(const cotter_claims *c, size_t *len_out) noexcept {
    const claims *p = get(c);
    if (len_out) *len_out = p ? p->payload_json.size() : 0;
    return p ? p->payload_json.c_str() : nullptr;
}

}  // extern "C"

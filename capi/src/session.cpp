/**
 * @file session.cpp
 * @brief C ABI: cotter_session (self-renewing token sessions) and its storage hooks.
 */
#include "client_objects.hpp"

namespace tk = cotter::core::token;
using cotter::capi::fill_buf;
using cotter::capi::report;

extern "C" {

COTTER_API int cotter_session_options_init(cotter_session_options *opts, unsigned int version) noexcept {
    if (!opts || version != COTTER_SESSION_OPTIONS_VERSION) return COTTER_EINVAL;
    *opts = cotter_session_options COTTER_SESSION_OPTIONS_INIT;
    return COTTER_OK;
}

COTTER_API int cotter_session_new(cotter_session **out, cotter_client *client, const cotter_session_options *opts,
                                  const cotter_token *initial, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, out_error);
    COTTER_CHECK_ARG(client != nullptr, out_error);
    COTTER_CHECK_ARG(opts == nullptr || opts->version == COTTER_SESSION_OPTIONS_VERSION, out_error);
    COTTER_CHECK_ARG(opts == nullptr || !(opts->token_file && (opts->load || opts->save)), out_error);
    COTTER_API_BEGIN
    const cotter_session_options defaults = COTTER_SESSION_OPTIONS_INIT;
    const cotter_session_options &o = opts ? *opts : defaults;
    tk::session_options so;
    so.refresh_margin_seconds = o.refresh_margin_seconds;
    if (o.token_file) {
        so.store = std::make_unique<tk::file_storage>(o.token_file);
    } else if (o.load || o.save) {
        tk::hook_storage::load_fn load;
        tk::hook_storage::save_fn save;
        void *payload = o.storage_payload;
        if (cotter_session_load_fn fn = o.load) {
            load = [fn, payload](std::string &json) {
                cotter_buf buf = COTTER_BUF_INIT;
                const int rc = fn(&buf, payload);
                if (rc == 0 && buf.ptr) json.assign(buf.ptr, buf.len);
                cotter_buf_dispose(&buf);
                return rc;
            };
        }
        if (cotter_session_save_fn fn = o.save) {
            save = [fn, payload](const std::string *json) {
                return json ? fn(json->c_str(), json->size(), payload) : fn(nullptr, 0, payload);
            };
        }
        so.store = std::make_unique<tk::hook_storage>(std::move(load), std::move(save));
    }
    if (cotter_tokens_changed_fn fn = o.on_tokens_changed) {
        void *payload = o.on_tokens_changed_payload;
        so.on_tokens_changed = [fn, payload](const tk::token_set *t) {
            if (!t) {
                fn(nullptr, payload);
                return;
            }
            const cotter_token view{*t};  // a copy the callback may read; wiped when it goes out of scope
            fn(&view, payload);
        };
    }
    if (cotter_clock_fn fn = o.clock) {
        void *payload = o.clock_payload;
        so.clock = [fn, payload] { return fn(payload); };
    }
    auto s = std::make_unique<cotter_session>();
    s->s = std::make_unique<tk::session>(*client->c, std::move(so), initial ? &initial->t : nullptr);
    *out = s.release();
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API void cotter_session_free(cotter_session *session) noexcept { delete session; }

COTTER_API int cotter_session_get_access_token(cotter_buf *out, cotter_session *session,
                                               cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, out_error);
    COTTER_CHECK_ARG(session != nullptr, out_error);
    COTTER_API_BEGIN
    const cotter::core::secret_string token = session->s->access_token();
    if (fill_buf(out, token.str()) != COTTER_OK) return report(out_error, COTTER_ENOMEM, "out of memory");
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API int cotter_session_get_token(cotter_token **out, cotter_session *session, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, out_error);
    COTTER_CHECK_ARG(session != nullptr, out_error);
    COTTER_API_BEGIN
    auto t = session->s->tokens();
    *out = new cotter_token{*t};
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API int cotter_session_refresh(cotter_token **out, cotter_session *session, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(session != nullptr, out_error);
    COTTER_API_BEGIN
    auto t = session->s->refresh_now();
    if (out) *out = new cotter_token{*t};
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API int cotter_session_set_token(cotter_session *session, const cotter_token *token,
                                        cotter_error **out_error) noexcept {
    COTTER_CHECK_ARG(session != nullptr, out_error);
    COTTER_CHECK_ARG(token != nullptr, out_error);
    COTTER_API_BEGIN
    session->s->set(token->t);
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API int cotter_session_logout(cotter_session *session, cotter_error **out_error) noexcept {
    COTTER_CHECK_ARG(session != nullptr, out_error);
    COTTER_API_BEGIN
    session->s->logout();
    return COTTER_OK;
    COTTER_API_END(out_error)
}

}  // extern "C"

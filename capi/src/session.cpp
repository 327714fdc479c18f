/**
 * @file session.cpp
 * @brief C ABI: cotter_session (self-renewing token sessions) and its storage hooks.
 */
#include <cstddef>
#include <cstring>
#include <ctime>

#include "client_objects.hpp"

namespace tk = cotter::core::token;
using cotter::capi::fill_buf;
using cotter::capi::report;

namespace {

/// Starts a session call: it keeps the session (and so its client) and their callbacks alive, waits on the client's
/// I/O thread, and is cancelled by leaving the session's wait list.
template <class T, class Start, class Convert = cotter::capi::as_is>
int start_session_call(cotter_call **out, cotter_session *session, const cotter_call_options *call_opts, Start &&start,
                       Convert convert = Convert{}) {
    std::shared_ptr<tk::session> s = session->s;
    const int64_t timeout = cotter::capi::call_timeout_ms(call_opts);
    return cotter::capi::start_call<T>(
        out, call_opts, cotter::capi::keep_for_call(s, *session->hooks), &s->io(),
        [&](tk::done_fn<T> done) -> std::function<void()> {
            const uint64_t id = start(*s, std::move(done), timeout);
            if (id == 0) return nullptr;  // completed inline
            std::weak_ptr<tk::session> weak = s;
            return [weak, id] {
                if (auto live = weak.lock()) live->cancel_wait(id);
            };
        },
        std::move(convert));
}

}  // namespace

extern "C" {

COTTER_API int cotter_session_options_init(cotter_session_options *opts, unsigned int version) noexcept {
    if (!opts || version < 1 || version > COTTER_SESSION_OPTIONS_VERSION) return COTTER_EINVAL;
    const cotter_session_options defaults = COTTER_SESSION_OPTIONS_INIT;
    if (version == 1) {
        // A version-1 caller's struct ends before shared_store: fill only what it has.
        std::memcpy(opts, &defaults, offsetof(cotter_session_options, shared_store));
    } else {
        *opts = defaults;
    }
    opts->version = version;
    return COTTER_OK;
}

COTTER_API int cotter_session_new(cotter_session **out, cotter_client *client, const cotter_session_options *opts,
                                  const cotter_token *initial, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(client != nullptr, "client must not be NULL", out_error);
    COTTER_CHECK_ARG(opts == nullptr || (opts->version >= 1 && opts->version <= COTTER_SESSION_OPTIONS_VERSION),
                     "session options: unknown version (initialise them with cotter_session_options_init)", out_error);
    COTTER_CHECK_ARG(opts == nullptr || !(opts->token_file && (opts->load || opts->save)),
                     "session options: give either token_file or the load/save hooks, not both", out_error);
    COTTER_API_BEGIN
    cotter_session_options o = COTTER_SESSION_OPTIONS_INIT;
    if (opts) std::memcpy(&o, opts, opts->version >= 2 ? sizeof o : offsetof(cotter_session_options, shared_store));
    if (o.shared_store && (o.token_file || o.load || o.save))
        return report(out_error, COTTER_EINVAL,
                      "session options: a shared store keeps the tokens: give no token_file and no load/save hooks");
    if (!o.shared_store && o.shared_session_id)
        return report(out_error, COTTER_EINVAL, "session options: shared_session_id needs shared_store");
    auto s = std::make_unique<cotter_session>();
    // The session uses its client, so the client's callbacks stay callable while the session's do.
    s->hooks = cotter::capi::hook_gate::make(client->hooks->acquire());
    s->handle = s->hooks->handle_use();
    std::shared_ptr<cotter::capi::hook_gate> gate = s->hooks;
    tk::session_options so;
    so.refresh_margin_seconds = o.refresh_margin_seconds;
    if (o.token_file) {
        so.store = std::make_unique<tk::file_storage>(o.token_file);
    } else if (o.load || o.save) {
        tk::hook_storage::load_fn load;
        tk::hook_storage::save_fn save;
        void *payload = o.storage_payload;
        // Once the gate is closed (hooks.hpp) nothing is loaded and nothing stored through the hooks.
        if (cotter_session_load_fn fn = o.load) {
            load = [fn, payload, gate](std::string &json) {
                int rc = 0;
                gate->run([&] {
                    cotter_buf buf = COTTER_BUF_INIT;
                    rc = fn(&buf, payload);
                    if (rc == 0 && buf.ptr) json.assign(buf.ptr, buf.len);
                    cotter_buf_dispose(&buf);
                });
                return rc;
            };
        }
        if (cotter_session_save_fn fn = o.save) {
            save = [fn, payload, gate](const std::string *json) {
                int rc = 0;
                gate->run([&] { rc = json ? fn(json->c_str(), json->size(), payload) : fn(nullptr, 0, payload); });
                return rc;
            };
        }
        so.store = std::make_unique<tk::hook_storage>(std::move(load), std::move(save));
    }
    if (cotter_tokens_changed_fn fn = o.on_tokens_changed) {
        void *payload = o.on_tokens_changed_payload;
        so.on_tokens_changed = [fn, payload, gate](const tk::token_set *t) {
            gate->run([&] {
                if (!t) {
                    fn(nullptr, payload);
                    return;
                }
                const cotter_token view{*t};  // a copy the callback may read; wiped when it goes out of scope
                fn(&view, payload);
            });
        };
    }
    if (cotter_clock_fn fn = o.clock) {
        void *payload = o.clock_payload;
        so.clock = [fn, payload, gate] {
            int64_t now = 0;
            if (!gate->run([&] { now = fn(payload); })) now = static_cast<int64_t>(std::time(nullptr));
            return now;
        };
    }
    if (o.shared_store) {
        so.shared = o.shared_store->s;
        so.shared_id = o.shared_session_id ? o.shared_session_id : "";
    }
    s->s = tk::session::create(client->c, std::move(so), initial ? &initial->t : nullptr);
    *out = s.release();
    return COTTER_OK;
    COTTER_API_END(out_error)
}

COTTER_API void cotter_session_free(cotter_session *session) noexcept { delete session; }

COTTER_API int cotter_session_get_access_token_start(cotter_call **out, cotter_session *session,
                                                     const cotter_call_options *call_opts,
                                                     cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(session != nullptr, "session must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_session_call<tk::tokens_ptr>(
        out, session, call_opts,
        [](tk::session &s, auto done, int64_t timeout) { return s.tokens_async(false, std::move(done), timeout); },
        [](tk::tokens_ptr &&t) { return cotter_call::result(t->access_token); });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_session_get_token_start(cotter_call **out, cotter_session *session,
                                              const cotter_call_options *call_opts, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(session != nullptr, "session must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_session_call<tk::tokens_ptr>(
        out, session, call_opts,
        [](tk::session &s, auto done, int64_t timeout) { return s.tokens_async(false, std::move(done), timeout); },
        [](tk::tokens_ptr &&t) { return cotter_call::result(tk::token_set(*t)); });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_session_refresh_start(cotter_call **out, cotter_session *session,
                                            const cotter_call_options *call_opts, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(session != nullptr, "session must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_session_call<tk::tokens_ptr>(
        out, session, call_opts,
        [](tk::session &s, auto done, int64_t timeout) { return s.tokens_async(true, std::move(done), timeout); },
        [](tk::tokens_ptr &&t) { return cotter_call::result(tk::token_set(*t)); });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_session_set_token_start(cotter_call **out, cotter_session *session, const cotter_token *token,
                                              const cotter_call_options *call_opts, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(session != nullptr, "session must not be NULL", out_error);
    COTTER_CHECK_ARG(token != nullptr, "token must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    const tk::token_set &value = token->t;  // copied by set_async before it returns
    return start_session_call<tk::nothing>(out, session, call_opts, [&](tk::session &s, auto done, int64_t timeout) {
        return s.set_async(value, std::move(done), timeout);
    });
    COTTER_API_END(out_error)
}

COTTER_API int cotter_session_logout_start(cotter_call **out, cotter_session *session,
                                           const cotter_call_options *call_opts, cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(session != nullptr, "session must not be NULL", out_error);
    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);
    COTTER_API_BEGIN
    return start_session_call<tk::nothing>(out, session, call_opts, [](tk::session &s, auto done, int64_t timeout) {
        return s.logout_async(std::move(done), timeout);
    });
    COTTER_API_END(out_error)
}

}  // extern "C"

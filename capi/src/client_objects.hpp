/**
 * @file client_objects.hpp
 * @brief The opaque C ABI objects of the token client (client, token set, PKCE, session), shared by client.cpp,
 * token.cpp, pkce.cpp and session.cpp. Records (users, social tokens, identity) cross as JSON and have no object.
 */
#pragma once

#include <memory>

#include "api.hpp"
#include "call.hpp"
#include "hooks.hpp"
#include "token/client.hpp"
#include "token/pkce.hpp"
#include "token/session.hpp"
#include "token/shared_store.hpp"

struct cotter_token {
    cotter::core::token::token_set t;
};

struct cotter_client {
    std::shared_ptr<cotter::core::token::client> c;  // shared with its sessions and calls in flight
    std::shared_ptr<cotter::capi::hook_gate> hooks;    // when its log callback may run (hooks.hpp)
    std::shared_ptr<cotter::capi::hook_gate::use> handle;  // destroyed first: the handle's use of `hooks`
};

struct cotter_pkce {
    cotter::core::token::pkce p;
};

struct cotter_session {
    std::shared_ptr<cotter::core::token::session> s;  // shared with its calls in flight
    std::shared_ptr<cotter::capi::hook_gate> hooks;     // when its storage, tokens-changed and clock callbacks may run
    std::shared_ptr<cotter::capi::hook_gate::use> handle;  // destroyed first: the handle's use of `hooks`
};

struct cotter_shared_store {
    std::shared_ptr<cotter::core::token::shared_store> s;  // shared with the sessions that use it
};

namespace cotter::capi {
/// NULL for an empty string: the C getters return NULL when a field is absent.
inline const char *c_str_or_null(const std::string &s) noexcept { return s.empty() ? nullptr : s.c_str(); }

/// Starts a client call: the call keeps the client (and its log callback) alive and completes on its I/O thread.
/// Used by client.cpp and the generated start_calls_gen.cpp.
template <class T, class Start, class Convert = as_is>
int start_client_call(cotter_call **out, cotter_client *client, const cotter_call_options *call_opts, Start &&start,
                      Convert convert = Convert{}) {
    std::shared_ptr<core::token::client> c = client->c;
    const int64_t timeout = call_timeout_ms(call_opts);
    return start_call<T>(
        out, call_opts, keep_for_call(c, *client->hooks), &c->transport(),
        [&](core::token::done_fn<T> done) -> std::function<void()> {
            core::token::call_handle h = start(*c, std::move(done), timeout);
            return [h] { h.cancel(); };
        },
        std::move(convert));
}
}  // namespace cotter::capi

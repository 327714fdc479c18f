/**
 * @file client_objects.hpp
 * @brief The opaque C ABI objects of the token client (client, token set, identity, users, social tokens,
 * PKCE, session), shared by client.cpp, token.cpp, pkce.cpp and session.cpp.
 */
#pragma once

#include <memory>
#include <vector>

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

struct cotter_identity {
    cotter::core::token::identity id;
    cotter_token token;  // valid when id.has_token
};

struct cotter_user {
    cotter::core::token::user u;
};

struct cotter_user_list {
    std::vector<cotter_user> users;
    int64_t total = -1;  // as the server said; -1 unknown
    int has_more = -1;   // 1/0 as the server said; -1 unknown
};

struct cotter_social_token {
    cotter::core::token::social_token t;
    const char *json = nullptr;  // t.json, or this row in the owning list's JSON pool
    size_t json_len = 0;
};

struct cotter_social_token_list {
    std::vector<cotter_social_token> items;
    cotter::core::secret_string json_pool;  // every row's JSON, NUL-separated (wiped on free)
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
}  // namespace cotter::capi

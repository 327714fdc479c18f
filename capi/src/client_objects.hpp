/**
 * @file client_objects.hpp
 * @brief The opaque C ABI objects of the token client (client, token set, identity, users, social tokens,
 * PKCE, session), shared by client.cpp, token.cpp, pkce.cpp and session.cpp.
 */
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "api.hpp"
#include "call.hpp"
#include "token/client.hpp"
#include "token/pkce.hpp"
#include "token/session.hpp"

struct cotter_token {
    cotter::core::token::token_set t;
};

struct cotter_client {
    std::shared_ptr<cotter::core::token::client> c;  // shared with its sessions and calls in flight
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

namespace cotter::capi {
/// The caller's session hooks stay callable only until cotter_session_free(): the session itself may outlive its
/// handle (a refresh already sent still lands and is stored), but the hooks' payload belongs to the caller, who may
/// free it as soon as cotter_session_free() returns.
struct hook_gate {
    std::recursive_mutex mu;  // held while a hook runs; recursive: a hook may free its own session
    bool open = true;         // guarded by mu
};
}  // namespace cotter::capi

struct cotter_session {
    std::shared_ptr<cotter::core::token::session> s;  // shared with its calls in flight
    std::shared_ptr<cotter::capi::hook_gate> gate;    // shared with the hooks handed to the core
};

namespace cotter::capi {
/// NULL for an empty string: the C getters return NULL when a field is absent.
inline const char *c_str_or_null(const std::string &s) noexcept { return s.empty() ? nullptr : s.c_str(); }
}  // namespace cotter::capi

/**
 * @file client.hpp
 * @brief The Cotter API client (spec §2): grants, refresh, logout, custom claims, get_identity, users, social
 * provider tokens and the serverless verify call, with one error mapping for every response.
 *
 * Thread-safety: thread-safe (immutable configuration over a thread-safe transport).
 */
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/secure.hpp"
#include "http/http.hpp"
#include "token/token_set.hpp"

namespace cotter::core::token {

struct client_options {
    std::string api_key_id;
    secret_string api_secret_key;
    std::string base_url;    // empty = $COTTER_BASE_URL, else COTTER_DEFAULT_BASE_URL
    std::string worker_url;  // empty = $COTTER_WORKER_URL, else https://worker.cotter.app/verify
    http::transport_options http;
};

struct user {
    std::string id, issuer, client_user_id, identifier, default_method, created_at;
    std::vector<std::string> enrolled;
    std::string json;  // the object as received (minified), unknown members included
};

struct social_token {
    std::string provider, provider_user_id, provider_username, user_id, scope, token_type;
    secret_string access_token;
    secret_string json;        // the row (minified); holds the provider token. Empty when pooled (below)
    size_t json_offset = 0;    // with a list's JSON pool: where this row's JSON starts in it
    size_t json_length = 0;    // and its length
};

struct identity {
    bool has_token = false;
    token_set token;                 // the oauth_token
    std::string identifier, identifier_type, user_id;
    std::string identity_token_json; // the `token` object (Ed25519 Identity Token), minified; empty when absent
    secret_string json;              // the whole response; holds tokens
};

struct custom_claims_result {
    secret_string token;
    secret_string refresh_token;  // empty when none was asked for
};

struct verify_result {
    bool valid = false;
    std::string reason;
};

class client {
public:
    explicit client(client_options options);

    const std::string &base_url() const noexcept { return base_url_; }
    const std::string &api_key_id() const noexcept { return api_key_id_; }
    http::transport_stats stats() const { return transport_.stats(); }

    /// POST /token with grant_type identity_token or event_token (`token_json` is the token object). Never retried.
    token_set grant(const char *grant_type, const std::string &token_json);
    /// POST /token/<api_key_id>. Never retried. A response without refresh_token keeps `refresh_token`.
    /// A rejected refresh token (`invalid_grant`, or "not valid") throws COTTER_EREAUTH; a rejected API key id
    /// (401) throws COTTER_ECREDENTIALS, as in every call.
    token_set refresh(const std::string &refresh_token);
    /// DELETE /token/<api_key_id> (idempotent: retried).
    void logout(const std::string &refresh_token);
    /// POST /token/custom.
    custom_claims_result custom_claims(const std::string &token, const std::string &attributes_json,
                                       const std::string &refresh_token);
    /// POST /verify/get_identity?oauth_token=true.
    identity get_identity(const std::string &code, int64_t challenge_id, const std::string &verifier,
                          const std::string &redirect_url);

    user user_create(const std::string &identifier);
    user user_get_by_identifier(const std::string &identifier);
    user user_get(const std::string &user_id);
    std::vector<user> user_list(unsigned int page);

    std::vector<social_token> social_tokens_list(const std::string &user_id);
    /// As above, constructing each record in the caller's storage: `reserve(n)` is called once with the count,
    /// then `add()` returns a fresh record to fill, per row (the C ABI list avoids a second copy this way).
    /// Each row's JSON is appended to `json_pool` (one buffer for the list: a 1,000-row list would otherwise
    /// be thousands of allocations) and located by json_offset/json_length.
    void social_tokens_list(const std::string &user_id, const std::function<void(size_t)> &reserve,
                            const std::function<social_token &()> &add, secret_string &json_pool);
    social_token social_token_get(const std::string &provider, const std::string &user_id);
    void social_token_delete(const std::string &provider, const std::string &user_id);

    verify_result verify_remote(const std::string &access_token);

private:
    struct call_spec;
    /// Sends the request; returns with a 2xx response in `resp`, or throws the mapped error.
    void call(const call_spec &spec, http::response &resp);
    http::response call(const call_spec &spec);

    std::string api_key_id_;
    secret_string api_secret_key_;
    std::string base_url_;
    std::string worker_url_;
    http::transport transport_;
};

/// Parses one user object (exposed for tests and for lists).
user parse_user(simdjson::dom::element obj);

}  // namespace cotter::core::token

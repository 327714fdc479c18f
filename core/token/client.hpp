/**
 * @file client.hpp
 * @brief The Cotter API client (spec §2): grants, refresh, logout, custom claims, get_identity, users, social
 * provider tokens and the serverless verify call, with one error mapping for every response.
 *
 * Every call exists in two forms: `<call>_async(…, done)` starts the request and returns at once; `done` runs
 * exactly once on the client's I/O thread with the parsed result or the mapped error. `<call>(…)` is the blocking
 * form, a wait on the same path (it throws error; from the I/O thread it fails with COTTER_EINVAL).
 * Argument errors are thrown by both forms before anything is sent.
 *
 * The implementation is split by resource: client.cpp (construction, the call machinery and the error mapping),
 * grants.cpp (token endpoints and get_identity), users.cpp, social.cpp (provider tokens and the worker), events.cpp
 * (trusted-device events).
 *
 * Thread-safety: thread-safe (immutable configuration over a thread-safe transport). Completions never touch the
 * client object itself, so a client may be destroyed with calls in flight: they complete with COTTER_ECANCELED.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "common/secure.hpp"
#include "http/http.hpp"
#include "token/token_set.hpp"

namespace cotter::core::token {

/// The one place for the base URL's defaults: `base_url`, else $COTTER_BASE_URL, else COTTER_DEFAULT_BASE_URL;
/// trailing slashes dropped. Throws error(COTTER_EINVAL) unless it is https, or http to a loopback host.
std::string effective_base_url(std::string base_url);

/// Where the API publishes its key set: `<effective_base_url(base_url)>/token/jwks`. The bindings ask for this
/// (cotter_jwks_url) instead of deriving it.
std::string jwks_url_of(std::string base_url);

struct client_options {
    std::string api_key_id;
    secret_string api_secret_key;
    std::string base_url;    // empty = $COTTER_BASE_URL, else COTTER_DEFAULT_BASE_URL
    std::string worker_url;  // empty = $COTTER_WORKER_URL, else https://worker.cotter.app/verify
    /// 1: an empty api_key_id / api_secret_key is read from $COTTER_API_KEY_ID / $COTTER_API_SECRET_KEY (Cotter's
    /// own SDKs did so); 0: never (a missing secret stays missing). Range 0..1 (common/options.hpp).
    long from_environment = 0;
    http::transport_options http;
};

// The records below cross the C ABI as their `json` (capi/abi.json `records` describes each one's members): the
// typed fields are what the core checked and uses itself; `json` is the checked object, minified.

struct user {
    std::string id, issuer, client_user_id, identifier, default_method, created_at;
    std::vector<std::string> enrolled;
    std::string json;  // the object as received (minified), unknown members included
};

/// One page of /user/list, with the paging facts the server sent (the wrapper is undocumented: a bare array
/// carries none, so each is "unknown" until the body says it).
struct user_page {
    std::vector<user> users;
    int64_t total = -1;    // every user of the project; -1 when the server did not say
    int has_more = -1;     // 1/0 as the server said; -1 when it did not
    std::string json;      // {"users":[...],"total":N|null,"has_more":b|null}, whatever wrapper the server used
};

struct social_token {
    std::string provider, provider_user_id, provider_username, user_id, scope, token_type;
    secret_string access_token;
    secret_string json;  // the row (minified); holds the provider token. Empty in a list (see below)
};

/// A list's JSON is one array of the rows (not one string per row: a 1,000-row list would otherwise be thousands
/// of allocations).
struct social_token_list {
    std::vector<social_token> items;
    secret_string json;  // [row,...]; holds the provider tokens
};

struct identity {
    bool has_token = false;
    token_set token;                 // the oauth_token
    std::string identifier, identifier_type, user_id;
    std::string identity_token_json; // the `token` object (Ed25519 Identity Token), minified; empty when absent
    secret_string json;              // the whole response (minified); holds tokens
};

struct custom_claims_result {
    secret_string token;
    secret_string refresh_token;  // empty when none was asked for
};

/// A trusted-device event (spec §2.11), checked and kept as the JSON Cotter sent: the ABI hands over `json`.
struct event {
    int64_t id = 0;
    bool pending = false;    // Cotter's `new`: still waiting for the trusted device
    bool approved = false;
    bool has_token = false;  // `oauth_token` present (an approved event polled with the PKCE verifier)
    secret_string json;      // the event object (minified), `oauth_token` included
};

struct verify_result {
    bool valid = false;
    std::string reason;
};

/// The result of an asynchronous call: `code` is COTTER_OK with `value`, or the error with `err`.
template <class T>
struct outcome {
    int code = 0;
    error_info err;
    T value{};
};

using nothing = std::monostate;

template <class T>
using done_fn = std::function<void(outcome<T> &&)>;

/// Cancels a started call (thread-safe, idempotent): it completes with COTTER_ECANCELED unless it already has.
using call_handle = http::transfer_handle;

class client {
public:
    explicit client(client_options options);

    const std::string &base_url() const noexcept { return config_->base_url; }
    const std::string &api_key_id() const noexcept { return config_->api_key_id; }
    http::transport_stats stats() const { return transport_.stats(); }
    http::transport &transport() noexcept { return transport_; }
    const http::transport &transport() const noexcept { return transport_; }

    // `timeout_ms` is the call's total budget (queueing and retries included); -1 = the client's timeout.

    /// POST /token with grant_type identity_token or event_token (`token_json` is the token object). Never retried.
    call_handle grant_async(const char *grant_type, const std::string &token_json, done_fn<token_set> done,
                            int64_t timeout_ms = -1);
    /// POST /token/<api_key_id>. Never retried. A response without refresh_token keeps `refresh_token`.
    /// A rejected refresh token (`invalid_grant`, or "not valid") is COTTER_EREAUTH; a rejected API key id
    /// (401) is COTTER_ECREDENTIALS, as in every call.
    call_handle refresh_async(const std::string &refresh_token, done_fn<token_set> done, int64_t timeout_ms = -1);
    /// DELETE /token/<api_key_id> (idempotent: retried).
    call_handle logout_async(const std::string &refresh_token, done_fn<nothing> done, int64_t timeout_ms = -1);
    /// POST /token/custom.
    call_handle custom_claims_async(const std::string &token, const std::string &attributes_json,
                                    const std::string &refresh_token, done_fn<custom_claims_result> done,
                                    int64_t timeout_ms = -1);
    /// POST /verify/get_identity?oauth_token=true. Throws COTTER_EINVAL (before anything is sent) for an empty code,
    /// verifier or redirect URL, or a negative challenge_id.
    call_handle get_identity_async(const std::string &code, int64_t challenge_id, const std::string &verifier,
                                   const std::string &redirect_url, done_fn<identity> done, int64_t timeout_ms = -1);

    call_handle user_create_async(const std::string &identifier, done_fn<user> done, int64_t timeout_ms = -1);
    call_handle user_get_by_identifier_async(const std::string &identifier, done_fn<user> done, int64_t timeout_ms = -1);
    call_handle user_get_async(const std::string &user_id, done_fn<user> done, int64_t timeout_ms = -1);
    call_handle user_list_async(unsigned int page, done_fn<user_page> done, int64_t timeout_ms = -1);

    call_handle social_tokens_list_async(const std::string &user_id, done_fn<social_token_list> done,
                                         int64_t timeout_ms = -1);
    call_handle social_token_get_async(const std::string &provider, const std::string &user_id,
                                       done_fn<social_token> done, int64_t timeout_ms = -1);
    call_handle social_token_delete_async(const std::string &provider, const std::string &user_id,
                                          done_fn<nothing> done, int64_t timeout_ms = -1);

    call_handle verify_remote_async(const std::string &access_token, done_fn<verify_result> done,
                                    int64_t timeout_ms = -1);

    /// POST /event/create_pending[?code_challenge=]: asks `client_user_id`'s trusted device to approve `event_name`
    /// (issuer, method TRUSTED_DEVICE and the timestamp are filled in). Empty `code_challenge` = none. Never retried.
    call_handle event_create_pending_async(const std::string &client_user_id, const std::string &event_name,
                                           const std::string &code_challenge, done_fn<event> done,
                                           int64_t timeout_ms = -1);
    /// GET /event/get/:event_id; with `code_verifier` (non-empty) also ?oauth_token=true, so an approved event
    /// comes with the user's tokens (once; not retried). An unknown event is COTTER_ENOTFOUND.
    call_handle event_get_async(int64_t event_id, const std::string &code_verifier, done_fn<event> done,
                                int64_t timeout_ms = -1);

    // The blocking forms.
    token_set grant(const char *grant_type, const std::string &token_json);
    token_set refresh(const std::string &refresh_token);
    void logout(const std::string &refresh_token);
    custom_claims_result custom_claims(const std::string &token, const std::string &attributes_json,
                                       const std::string &refresh_token);
    identity get_identity(const std::string &code, int64_t challenge_id, const std::string &verifier,
                          const std::string &redirect_url);
    user user_create(const std::string &identifier);
    user user_get_by_identifier(const std::string &identifier);
    user user_get(const std::string &user_id);
    user_page user_list(unsigned int page);
    social_token_list social_tokens_list(const std::string &user_id);
    social_token social_token_get(const std::string &provider, const std::string &user_id);
    void social_token_delete(const std::string &provider, const std::string &user_id);
    verify_result verify_remote(const std::string &access_token);
    event event_create_pending(const std::string &client_user_id, const std::string &event_name,
                               const std::string &code_challenge);
    event event_get(int64_t event_id, const std::string &code_verifier);

    /// What the completion of one request needs; shared, immutable, so completions never touch the client.
    struct config {
        std::string api_key_id;
        secret_string api_secret_key;
        std::string base_url;
        std::string worker_url;
    };

    /// One API request: how to send it and how to read its answer.
    struct call_spec {
        const char *method = "GET";
        std::string url;
        std::string body;                    // wiped after the call
        bool with_secret = false;            // sends API_SECRET_KEY (required for this call)
        bool idempotent = false;             // retried automatically on network errors, 429 and 5xx
        bool refresh = false;                // a rejected refresh token (invalid_grant, "not valid") is COTTER_EREAUTH
        bool not_found_on_404 = false;       // 404 means COTTER_ENOTFOUND
        const char *what = "";               // e.g. "POST /token/:api_key_id", for messages
        std::vector<secret_string> secrets;  // redacted from any server text
        int64_t timeout_ms = -1;
    };

private:
    /// Sends `spec`; on a 2xx answer runs `parse(body)` on the I/O thread and hands its value to `done`, otherwise
    /// the mapped error. Throws (before sending) only for bad arguments.
    template <class T, class Parse>
    call_handle launch(call_spec spec, Parse parse, done_fn<T> done);

    std::shared_ptr<const config> config_;
    http::transport transport_;
};

/// Waits for an asynchronous call started by `start(done)` and returns its value or throws its error. Fails with
/// COTTER_EINVAL on the transport's I/O thread, where the wait would block the completion it waits for.
template <class T, class Start>
T wait_for(http::transport &t, Start &&start);

/// Throws the mapped error unless `resp` is a 2xx answer to `spec` (see docs/client.md, "Errors").
void check_response(const client::config &cfg, const client::call_spec &spec, int rc, http::response &resp,
                    error_info &err);

}  // namespace cotter::core::token

#include "token/client_impl.hpp"

/**
 * @file social.cpp
 * @brief Social-login provider tokens (spec §2.12) and Cotter's serverless verifier (spec §2.7).
 */
#include "json/writer.hpp"
#include "token/call_util.hpp"
#include "token/client.hpp"
#include "token/parse.hpp"
#include "token/url.hpp"

namespace cotter::core::token {
namespace {

/// Checks one row and fills `t` from it. The row's JSON is not kept here: the caller hands over the whole checked
/// body, minified (take_minified_document), for a list and a single row alike.
void parse_social_token(simdjson::dom::element obj, social_token &t) {
    for_each_member(obj, "social token", [&](std::string_view key, simdjson::dom::element v) {
        if (key == "identity_provider") t.provider = read_string(v, "identity_provider", 64);
        else if (key == "provider_user_id") t.provider_user_id = read_string(v, "provider_user_id", 256);
        else if (key == "provider_username") t.provider_username = read_string(v, "provider_username", 256);
        else if (key == "user_id") t.user_id = read_string(v, "user_id", 256);
        else if (key == "tokens") {
            if (v.is_null()) return true;
            for_each_member(v, "social token tokens", [&](std::string_view k, simdjson::dom::element x) {
                if (k == "access_token") t.access_token = secret_string(read_string(x, "tokens.access_token", k_max_token_bytes));
                else if (k == "scope") t.scope = read_string(x, "tokens.scope");
                else if (k == "token_type") t.token_type = read_string(x, "tokens.token_type", 64);
                else return false;
                return true;
            });
        } else {
            return false;
        }
        return true;
    });
    if (t.provider.empty()) protocol_error("social token without \"identity_provider\"");
}

social_token_list parse_social_token_list(std::string &body) {
    // Lists are large: duplicates are checked per row for the members we read (for_each_member), not tree-wide.
    simdjson::dom::element doc = parse_document(body, "social token list", false);
    simdjson::dom::array arr;
    if (doc.get_array().get(arr) != simdjson::SUCCESS) protocol_error("social token list is not a JSON array");
    const size_t n = arr.size();
    if (n > detail::k_max_list_items) protocol_error("social token list too long");
    social_token_list out;
    out.items.reserve(n);
    for (auto item : arr) parse_social_token(item, out.items.emplace_back());
    // Every row is checked, so the array is the body itself: minified in one pass, not re-serialised row by row.
    out.json = secret_string(take_minified_document(body, "social token list", body.size()));
    return out;
}

social_token parse_one_social_token(std::string &body) {
    social_token t;
    parse_social_token(parse_document(body, "social token"), t);
    t.json = secret_string(take_minified_document(body, "social token", 1024 * 1024));
    return t;
}

std::string checked_provider(const std::string &provider) {
    if (provider.empty() || provider.size() > 64) fail(COTTER_EINVAL, "provider is required (e.g. GITHUB)");
    return percent_encode(provider);
}

}  // namespace

call_handle client::social_tokens_list_async(const std::string &user_id, done_fn<social_token_list> done,
                                             int64_t timeout_ms) {
    if (user_id.empty()) fail(COTTER_EINVAL, "user id is required");
    call_spec spec;
    spec.url = config_->base_url + "/oauth/token/list/" + percent_encode(user_id);
    spec.idempotent = true;
    spec.with_secret = true;
    spec.not_found_on_404 = true;
    spec.what = "GET /oauth/token/list/:cotter_user_id";
    spec.timeout_ms = timeout_ms;
    return launch<social_token_list>(
        std::move(spec), [](http::response &resp) { return parse_social_token_list(resp.body); }, std::move(done));
}

call_handle client::social_token_get_async(const std::string &provider, const std::string &user_id,
                                           done_fn<social_token> done, int64_t timeout_ms) {
    if (user_id.empty()) fail(COTTER_EINVAL, "user id is required");
    call_spec spec;
    spec.url = config_->base_url + "/oauth/token/" + checked_provider(provider) + "/" + percent_encode(user_id);
    spec.idempotent = true;
    spec.with_secret = true;
    spec.not_found_on_404 = true;
    spec.what = "GET /oauth/token/:provider/:cotter_user_id";
    spec.timeout_ms = timeout_ms;
    return launch<social_token>(
        std::move(spec),
        [](http::response &resp) { return parse_one_social_token(resp.body); },
        std::move(done));
}

call_handle client::social_token_delete_async(const std::string &provider, const std::string &user_id,
                                              done_fn<nothing> done, int64_t timeout_ms) {
    if (user_id.empty()) fail(COTTER_EINVAL, "user id is required");
    call_spec spec;
    spec.method = "DELETE";
    spec.url = config_->base_url + "/oauth/token/" + checked_provider(provider) + "/" + percent_encode(user_id);
    spec.idempotent = true;
    spec.with_secret = true;
    spec.not_found_on_404 = true;
    spec.what = "DELETE /oauth/token/:provider/:cotter_user_id";
    spec.timeout_ms = timeout_ms;
    return launch<nothing>(std::move(spec), [](http::response &) { return nothing{}; }, std::move(done));
}

call_handle client::verify_remote_async(const std::string &access_token, done_fn<verify_result> done,
                                        int64_t timeout_ms) {
    if (access_token.empty()) fail(COTTER_EINVAL, "access token is required");
    json::writer w;
    w.begin_object().key("oauth_token").begin_object().key("access_token").value(access_token).end_object().end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = config_->worker_url;
    spec.body = w.take();
    spec.idempotent = true;  // verification has no side effect
    spec.what = "POST <worker>/verify";
    spec.secrets = {secret_string(access_token)};
    spec.timeout_ms = timeout_ms;
    return launch<verify_result>(
        std::move(spec),
        [token = secret_string(access_token)](http::response &resp) {
            verify_result out;
            bool has_success = false;
            for_each_member(parse_document(resp.body, "verify response"), "verify response",
                            [&](std::string_view key, simdjson::dom::element v) {
                                if (key == "success") {
                                    if (v.get_bool().get(out.valid) != simdjson::SUCCESS)
                                        protocol_error("\"success\" is not a boolean");
                                    has_success = true;
                                } else if (key == "reason") {
                                    out.reason = detail::cap_text(read_string(v, "reason"));
                                } else {
                                    return false;
                                }
                                return true;
                            });
            if (!has_success) protocol_error("verify response without \"success\"");
            detail::redact(out.reason, {token});
            return out;
        },
        std::move(done));
}

social_token_list client::social_tokens_list(const std::string &user_id) {
    return wait_for<social_token_list>(transport_, [&](done_fn<social_token_list> d) {
        social_tokens_list_async(user_id, std::move(d));
    });
}

social_token client::social_token_get(const std::string &provider, const std::string &user_id) {
    return wait_for<social_token>(transport_, [&](done_fn<social_token> d) {
        social_token_get_async(provider, user_id, std::move(d));
    });
}

void client::social_token_delete(const std::string &provider, const std::string &user_id) {
    wait_for<nothing>(transport_, [&](done_fn<nothing> d) { social_token_delete_async(provider, user_id, std::move(d)); });
}

verify_result client::verify_remote(const std::string &access_token) {
    return wait_for<verify_result>(transport_, [&](done_fn<verify_result> d) {
        verify_remote_async(access_token, std::move(d));
    });
}

}  // namespace cotter::core::token

/**
 * @file grants.cpp
 * @brief The token endpoints (spec §2.1–2.5, 2.8): identity/event token grants, refresh, logout, custom claims, and
 * get_identity (the end of a PKCE login).
 */
#include "json/writer.hpp"
#include "token/call_util.hpp"
#include "token/client.hpp"
#include "token/parse.hpp"
#include "token/url.hpp"

namespace cotter::core::token {

call_handle client::grant_async(const char *grant_type, const std::string &token_json, done_fn<token_set> done,
                                int64_t timeout_ms) {
    const std::string field = grant_type;
    if (field != "identity_token" && field != "event_token") fail(COTTER_EINVAL, "unknown grant type");
    json::writer w;
    w.begin_object().key("grant_type").value(field).key(field).raw(token_json, true).end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = config_->base_url + "/token";
    spec.body = w.take();
    spec.with_secret = true;
    spec.what = field == "identity_token" ? "POST /token (identity_token grant)" : "POST /token (event_token grant)";
    spec.timeout_ms = timeout_ms;
    return launch<token_set>(
        std::move(spec), [](http::response &resp) { return token_set::from_json(resp.body, "token response"); },
        std::move(done));
}

call_handle client::refresh_async(const std::string &refresh_token, done_fn<token_set> done, int64_t timeout_ms) {
    if (refresh_token.empty()) fail(COTTER_EREAUTH, "no refresh token: log in again");
    json::writer w;
    w.begin_object().key("grant_type").value("refresh_token").key("refresh_token").value(refresh_token).end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = config_->base_url + "/token/" + percent_encode(config_->api_key_id);
    spec.body = w.take();
    spec.refresh = true;
    spec.what = "POST /token/:api_key_id (refresh)";
    spec.secrets = {secret_string(refresh_token)};
    spec.timeout_ms = timeout_ms;
    return launch<token_set>(
        std::move(spec),
        [old = secret_string(refresh_token)](http::response &resp) {
            token_set t = token_set::from_json(resp.body, "refresh response");
            // Cotter's early API did not rotate refresh tokens; keep the one we have when none comes back.
            if (t.refresh_token.empty()) t.refresh_token = old;
            return t;
        },
        std::move(done));
}

call_handle client::logout_async(const std::string &refresh_token, done_fn<nothing> done, int64_t timeout_ms) {
    call_spec spec;
    spec.method = "DELETE";
    spec.url = config_->base_url + "/token/" + percent_encode(config_->api_key_id);
    if (!refresh_token.empty()) {
        json::writer w;
        w.begin_object().key("refresh_token").value(refresh_token).end_object();
        spec.body = w.take();
    }
    spec.idempotent = true;  // revoking twice is harmless
    spec.what = "DELETE /token/:api_key_id (logout)";
    spec.secrets = {secret_string(refresh_token)};
    spec.timeout_ms = timeout_ms;
    return launch<nothing>(std::move(spec), [](http::response &) { return nothing{}; }, std::move(done));
}

call_handle client::custom_claims_async(const std::string &token, const std::string &attributes_json,
                                        const std::string &refresh_token, done_fn<custom_claims_result> done,
                                        int64_t timeout_ms) {
    if (token.empty()) fail(COTTER_EINVAL, "token is required");
    json::writer w;
    w.begin_object().key("token").value(token).key("custom_attributes").raw(attributes_json, true);
    if (!refresh_token.empty()) w.key("refresh_token").value(refresh_token);
    w.end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = config_->base_url + "/token/custom";
    spec.body = w.take();
    spec.with_secret = true;
    spec.what = "POST /token/custom";
    spec.secrets = {secret_string(token), secret_string(refresh_token)};
    spec.timeout_ms = timeout_ms;
    return launch<custom_claims_result>(
        std::move(spec),
        [](http::response &resp) {
            custom_claims_result out;
            std::string rt, rtn;
            for_each_member(parse_document(resp.body, "custom claims response"), "custom claims response",
                            [&](std::string_view key, simdjson::dom::element v) {
                                if (key == "token") out.token = secret_string(read_string(v, "token", k_max_token_bytes));
                                else if (key == "refresh_token") rt = read_string(v, "refresh_token", k_max_token_bytes);
                                else if (key == "refresh_tokenn") rtn = read_string(v, "refresh_tokenn", k_max_token_bytes);
                                else return false;
                                return true;
                            });
            if (out.token.empty()) protocol_error("no \"token\" string in the custom claims response");
            // Cotter's docs spell it `refresh_tokenn`; accept either, preferring the correct spelling.
            out.refresh_token = secret_string(!rt.empty() ? std::move(rt) : std::move(rtn));
            wipe(rt);
            wipe(rtn);
            return out;
        },
        std::move(done));
}

namespace {
identity parse_identity(const std::string &body) {
    identity id;
    simdjson::dom::element doc = parse_document(body, "get_identity response");
    for_each_member(doc, "get_identity response", [&](std::string_view key, simdjson::dom::element v) {
        if (key == "oauth_token") {
            if (v.is_null()) return true;
            id.token = token_set_from_element(v, "get_identity oauth_token");
            id.has_token = true;
        } else if (key == "identifier") {
            if (v.is_null()) return true;
            for_each_member(v, "get_identity identifier", [&](std::string_view k, simdjson::dom::element x) {
                if (k == "identifier") id.identifier = read_string(x, "identifier.identifier");
                else if (k == "identifier_type") id.identifier_type = read_string(x, "identifier.identifier_type", 64);
                else return false;
                return true;
            });
        } else if (key == "token") {
            if (v.is_null()) return true;
            if (!v.is_object()) protocol_error("\"token\" is not an object in the get_identity response");
            id.identity_token_json = read_raw(v, "token", 64 * 1024);
        } else if (key == "user") {
            if (v.is_null()) return true;
            if (!v.is_object()) protocol_error("\"user\" is not an object in the get_identity response");
            simdjson::dom::element uid;
            if (v["ID"].get(uid) == simdjson::SUCCESS) id.user_id = read_string(uid, "user.ID", 256);
        } else {
            return false;
        }
        return true;
    });
    id.json = secret_string(read_raw(doc, "get_identity response", 1024 * 1024));
    return id;
}
}  // namespace

call_handle client::get_identity_async(const std::string &code, int64_t challenge_id, const std::string &verifier,
                                       const std::string &redirect_url, done_fn<identity> done, int64_t timeout_ms) {
    if (code.empty() || verifier.empty() || redirect_url.empty())
        fail(COTTER_EINVAL, "code, verifier and redirect URL are required");
    if (challenge_id < 0) fail(COTTER_EINVAL, "challenge_id must not be negative");
    json::writer w;
    w.begin_object()
        .key("code_verifier").value(verifier)
        .key("authorization_code").value(code)
        .key("challenge_id").value(challenge_id)  // an integer, as every Cotter SDK sends it
        .key("redirect_url").value(redirect_url)
        .end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = config_->base_url + "/verify/get_identity?oauth_token=true";
    spec.body = w.take();
    spec.what = "POST /verify/get_identity";
    spec.secrets = {secret_string(code), secret_string(verifier)};
    spec.timeout_ms = timeout_ms;
    return launch<identity>(
        std::move(spec), [](http::response &resp) { return parse_identity(resp.body); }, std::move(done));
}

// The blocking forms: a wait on the asynchronous path.

token_set client::grant(const char *grant_type, const std::string &token_json) {
    return wait_for<token_set>(transport_, [&](done_fn<token_set> d) { grant_async(grant_type, token_json, std::move(d)); });
}

token_set client::refresh(const std::string &refresh_token) {
    return wait_for<token_set>(transport_, [&](done_fn<token_set> d) { refresh_async(refresh_token, std::move(d)); });
}

void client::logout(const std::string &refresh_token) {
    wait_for<nothing>(transport_, [&](done_fn<nothing> d) { logout_async(refresh_token, std::move(d)); });
}

custom_claims_result client::custom_claims(const std::string &token, const std::string &attributes_json,
                                           const std::string &refresh_token) {
    return wait_for<custom_claims_result>(transport_, [&](done_fn<custom_claims_result> d) {
        custom_claims_async(token, attributes_json, refresh_token, std::move(d));
    });
}

identity client::get_identity(const std::string &code, int64_t challenge_id, const std::string &verifier,
                              const std::string &redirect_url) {
    return wait_for<identity>(transport_, [&](done_fn<identity> d) {
        get_identity_async(code, challenge_id, verifier, redirect_url, std::move(d));
    });
}

}  // namespace cotter::core::token

/**
 * @file events.cpp
 * @brief Trusted-device events (spec §2.11): ask a user's trusted device to approve an event
 * (POST /event/create_pending) and poll it (GET /event/get/:event_id), with the PKCE pair that lets only the asker
 * collect the tokens of an approved event.
 */
#include <ctime>

#include "json/writer.hpp"
#include "token/client.hpp"
#include "token/parse.hpp"
#include "token/url.hpp"

namespace cotter::core::token {
namespace {

constexpr const char *k_trusted_device = "TRUSTED_DEVICE";  // the only method the SDK asks for (no PIN/BIOMETRIC UI)
constexpr size_t k_max_event_json = 64 * 1024;

/// Checks the event object (types of the members we read, ID present) and keeps it as minified JSON.
event parse_event(const std::string &body) {
    simdjson::dom::element obj = parse_document(body, "event");
    event e;
    bool has_id = false;
    for_each_member(obj, "event", [&](std::string_view key, simdjson::dom::element v) {
        auto flag = [&](bool &out) {
            if (v.get_bool().get(out) != simdjson::SUCCESS) protocol_error("event \"" + std::string(key) + "\" is not a boolean");
        };
        if (key == "ID") {
            e.id = read_int(v, "event ID");
            has_id = true;
        } else if (key == "new") flag(e.pending);
        else if (key == "approved") flag(e.approved);
        else if (key == "event") read_string(v, "event", 256);
        else if (key == "client_user_id") read_string(v, "client_user_id");
        else if (key == "oauth_token") {
            if (v.is_null()) return true;
            (void)token_set_from_element(v, "event oauth_token");  // validated; it stays in the JSON
            e.has_token = true;
        } else {
            return false;
        }
        return true;
    });
    if (!has_id || e.id <= 0) protocol_error("event without a positive \"ID\"");
    e.json = secret_string(read_raw(obj, "event", k_max_event_json));
    return e;
}

/// PKCE values are base64url (challenge) / RFC 7636 unreserved (verifier), 43-128 characters.
void check_pkce(const std::string &v, const char *what, bool verifier) {
    bool ok = v.size() >= 43 && v.size() <= 128;
    for (char c : v) {
        const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        ok = ok && (alnum || c == '-' || c == '_' || (verifier && (c == '.' || c == '~')));
    }
    if (!ok) fail(COTTER_EINVAL, std::string(what) + " must be 43-128 " + (verifier ? "RFC 7636" : "base64url") +
                                     " characters (see cotter_pkce_new)");
}

}  // namespace

call_handle client::event_create_pending_async(const std::string &client_user_id, const std::string &event_name,
                                               const std::string &code_challenge, done_fn<event> done,
                                               int64_t timeout_ms) {
    if (client_user_id.empty() || client_user_id.size() > 256) fail(COTTER_EINVAL, "client_user_id is required (at most 256 bytes)");
    if (event_name.empty() || event_name.size() > 128) fail(COTTER_EINVAL, "event name is required (at most 128 bytes), e.g. LOGIN");
    if (!code_challenge.empty()) check_pkce(code_challenge, "code_challenge", false);
    json::writer w;
    w.begin_object()
        .key("client_user_id").value(client_user_id)
        .key("issuer").value(config_->api_key_id)
        .key("event").value(event_name)
        .key("timestamp").value(std::to_string(static_cast<int64_t>(std::time(nullptr))))
        .key("method").value(k_trusted_device)
        .end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = config_->base_url + "/event/create_pending";
    if (!code_challenge.empty()) spec.url += "?code_challenge=" + percent_encode(code_challenge);
    spec.body = w.take();
    spec.not_found_on_404 = true;  // unknown user
    spec.what = "POST /event/create_pending";
    spec.timeout_ms = timeout_ms;
    return launch<event>(std::move(spec), [](http::response &resp) { return parse_event(resp.body); }, std::move(done));
}

call_handle client::event_get_async(int64_t event_id, const std::string &code_verifier, done_fn<event> done,
                                    int64_t timeout_ms) {
    if (event_id <= 0) fail(COTTER_EINVAL, "event id must be positive");
    call_spec spec;
    spec.url = config_->base_url + "/event/get/" + std::to_string(event_id);
    if (!code_verifier.empty()) {
        check_pkce(code_verifier, "code_verifier", true);
        spec.url += "?oauth_token=true&code_verifier=" + percent_encode(code_verifier);
        spec.secrets = {secret_string(code_verifier)};
    } else {
        spec.idempotent = true;  // a plain poll has no side effect; one that collects tokens does (once)
    }
    spec.not_found_on_404 = true;
    spec.what = "GET /event/get/:event_id";
    spec.timeout_ms = timeout_ms;
    return launch<event>(std::move(spec), [](http::response &resp) { return parse_event(resp.body); }, std::move(done));
}

event client::event_create_pending(const std::string &client_user_id, const std::string &event_name,
                                   const std::string &code_challenge) {
    return wait_for<event>(transport_, [&](done_fn<event> d) {
        event_create_pending_async(client_user_id, event_name, code_challenge, std::move(d));
    });
}

event client::event_get(int64_t event_id, const std::string &code_verifier) {
    return wait_for<event>(transport_, [&](done_fn<event> d) { event_get_async(event_id, code_verifier, std::move(d)); });
}

}  // namespace cotter::core::token

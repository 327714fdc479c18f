/**
 * @file users.cpp
 * @brief The user endpoints (spec §2.10): create, get by identifier, get by id, list.
 */
#include "json/writer.hpp"
#include "token/call_util.hpp"
#include "token/client.hpp"
#include "token/parse.hpp"
#include "token/url.hpp"

namespace cotter::core::token {
namespace {

constexpr const char *k_nil_user_id = "00000000-0000-0000-0000-000000000000";
constexpr size_t k_max_enrolled = 64;

user parse_user(simdjson::dom::element obj);
user parse_user_body(const std::string &body) { return parse_user(parse_document(body, "user response")); }

/// Parses one user object (a response, or one row of a list).
user parse_user(simdjson::dom::element obj) {
    user u;
    for_each_member(obj, "user object", [&](std::string_view key, simdjson::dom::element v) {
        if (key == "ID") u.id = read_string(v, "ID", 256);
        else if (key == "issuer") u.issuer = read_string(v, "issuer", 256);
        else if (key == "client_user_id") u.client_user_id = read_string(v, "client_user_id");
        else if (key == "identifier") u.identifier = read_string(v, "identifier");
        else if (key == "default_method") u.default_method = read_string(v, "default_method", 256);
        else if (key == "created_at") u.created_at = read_string(v, "created_at", 256);
        else if (key == "enrolled") {
            if (v.is_null()) return true;
            simdjson::dom::array arr;
            if (v.get_array().get(arr) != simdjson::SUCCESS) protocol_error("\"enrolled\" is not an array");
            for (auto item : arr) {
                if (u.enrolled.size() >= k_max_enrolled) protocol_error("too many \"enrolled\" methods");
                u.enrolled.push_back(read_string(item, "enrolled[]", 256));
            }
        } else {
            return false;
        }
        return true;
    });
    if (u.id.empty()) protocol_error("user object without \"ID\"");
    u.json = read_raw(obj, "user", 1024 * 1024);
    return u;
}

/// The page as the ABI hands it over: one shape whatever wrapper the server used (capi/abi.json `user_page`).
std::string page_json(const user_page &p) {
    size_t size = 64;
    for (const user &u : p.users) size += u.json.size() + 1;
    std::string out;
    out.reserve(size);
    out += "{\"users\":[";
    for (size_t i = 0; i < p.users.size(); ++i) {
        if (i) out += ',';
        out += p.users[i].json;
    }
    out += "],\"total\":";
    out += p.total < 0 ? "null" : std::to_string(p.total);
    out += ",\"has_more\":";
    out += p.has_more < 0 ? "null" : p.has_more ? "true" : "false";
    out += '}';
    return out;
}

}  // namespace

call_handle client::user_create_async(const std::string &identifier, done_fn<user> done, int64_t timeout_ms) {
    if (identifier.empty()) fail(COTTER_EINVAL, "identifier is required");
    json::writer w;
    w.begin_object().key("identifier").value(identifier).end_object();
    call_spec spec;
    spec.method = "POST";
    spec.url = config_->base_url + "/user/create";
    spec.body = w.take();
    spec.what = "POST /user/create";
    spec.timeout_ms = timeout_ms;
    return launch<user>(std::move(spec), [](http::response &resp) { return parse_user_body(resp.body); }, std::move(done));
}

call_handle client::user_get_by_identifier_async(const std::string &identifier, done_fn<user> done, int64_t timeout_ms) {
    if (identifier.empty()) fail(COTTER_EINVAL, "identifier is required");
    call_spec spec;
    spec.url = config_->base_url + "/user?identifier=" + percent_encode(identifier);
    spec.idempotent = true;
    spec.what = "GET /user?identifier=";
    spec.timeout_ms = timeout_ms;
    return launch<user>(
        std::move(spec),
        [](http::response &resp) {
            user u = parse_user_body(resp.body);
            // Cotter answers an unknown identifier with 200 and the all-zero UUID.
            if (u.id == k_nil_user_id) fail(COTTER_ENOTFOUND, "no user with this identifier");
            return u;
        },
        std::move(done));
}

call_handle client::user_get_async(const std::string &user_id, done_fn<user> done, int64_t timeout_ms) {
    if (user_id.empty()) fail(COTTER_EINVAL, "user id is required");
    call_spec spec;
    spec.url = config_->base_url + "/user/" + percent_encode(user_id);
    spec.idempotent = true;
    spec.with_secret = !config_->api_secret_key.empty();  // older endpoints wanted it; harmless to send when we have it
    spec.not_found_on_404 = true;
    spec.what = "GET /user/:id";
    spec.timeout_ms = timeout_ms;
    return launch<user>(std::move(spec), [](http::response &resp) { return parse_user_body(resp.body); }, std::move(done));
}

call_handle client::user_list_async(unsigned int page, done_fn<user_page> done, int64_t timeout_ms) {
    call_spec spec;
    spec.url = config_->base_url + "/user/list?page=" + std::to_string(page);
    spec.idempotent = true;
    spec.with_secret = true;
    spec.what = "GET /user/list";
    spec.timeout_ms = timeout_ms;
    return launch<user_page>(
        std::move(spec),
        [](http::response &resp) {
            simdjson::dom::element doc = parse_document(resp.body, "user list response", false);
            user_page out;
            // The wrapper is undocumented: accept a bare array or {"users": [...], "total": T, "has_more": b}.
            simdjson::dom::array arr;
            if (doc.get_array().get(arr) != simdjson::SUCCESS) {
                simdjson::dom::element users;
                if (!doc.is_object() || doc["users"].get(users) != simdjson::SUCCESS ||
                    users.get_array().get(arr) != simdjson::SUCCESS)
                    protocol_error("user list response has no \"users\" array");
                simdjson::dom::element v;
                if (doc["total"].get(v) == simdjson::SUCCESS && !v.is_null()) {
                    int64_t total = 0;
                    if (v.get_int64().get(total) != simdjson::SUCCESS || total < 0)
                        protocol_error("user list \"total\" is not a non-negative integer");
                    out.total = total;
                }
                if (doc["has_more"].get(v) == simdjson::SUCCESS && !v.is_null()) {
                    bool more = false;
                    if (v.get_bool().get(more) != simdjson::SUCCESS) protocol_error("user list \"has_more\" is not a boolean");
                    out.has_more = more ? 1 : 0;
                }
            }
            out.users.reserve(arr.size());
            for (auto item : arr) {
                if (out.users.size() >= detail::k_max_list_items) protocol_error("user list too long");
                out.users.push_back(parse_user(item));
            }
            out.json = page_json(out);
            return out;
        },
        std::move(done));
}

user client::user_create(const std::string &identifier) {
    return wait_for<user>(transport_, [&](done_fn<user> d) { user_create_async(identifier, std::move(d)); });
}

user client::user_get_by_identifier(const std::string &identifier) {
    return wait_for<user>(transport_, [&](done_fn<user> d) { user_get_by_identifier_async(identifier, std::move(d)); });
}

user client::user_get(const std::string &user_id) {
    return wait_for<user>(transport_, [&](done_fn<user> d) { user_get_async(user_id, std::move(d)); });
}

user_page client::user_list(unsigned int page) {
    return wait_for<user_page>(transport_, [&](done_fn<user_page> d) { user_list_async(page, std::move(d)); });
}

}  // namespace cotter::core::token

/**
 * @file token_set.cpp
 * @brief oauth_token parsing and serialisation; unverified `exp` for refresh scheduling.
 */
#include "token/token_set.hpp"

#include "common/base64.hpp"
#include "json/reader.hpp"
#include "json/writer.hpp"
#include "token/parse.hpp"

namespace cotter::core::token {

token_set token_set_from_element(simdjson::dom::element obj, const char *what) {
    token_set t;
    bool has_access = false;
    for_each_member(obj, what, [&](std::string_view key, simdjson::dom::element v) {
        if (key == "access_token") {
            t.access_token = secret_string(read_string(v, "access_token", k_max_token_bytes));
            has_access = !t.access_token.empty();
        } else if (key == "id_token") {
            t.id_token = secret_string(read_string(v, "id_token", k_max_token_bytes));
        } else if (key == "refresh_token") {
            t.refresh_token = secret_string(read_string(v, "refresh_token", k_max_token_bytes));
        } else if (key == "token_type") {
            t.token_type = read_string(v, "token_type", 64);
        } else if (key == "auth_method") {
            t.auth_method = read_string(v, "auth_method", 256);
        } else if (key == "expires_in") {
            if (!v.is_null()) t.expires_in = read_int(v, "expires_in");
        } else {
            return false;  // unknown members are tolerated
        }
        return true;
    });
    if (!has_access) protocol_error(std::string("no \"access_token\" string in ") + what);
    t.access_expires_at = unverified_exp(t.access_token.str());
    return t;
}

token_set token_set::from_json(const std::string &json, const char *what) {
    return token_set_from_element(parse_document(json, what), what);
}

std::string token_set::to_json() const {
    json::writer w;
    w.begin_object();
    if (!access_token.empty()) w.key("access_token").value(access_token.str());
    if (!auth_method.empty()) w.key("auth_method").value(auth_method);
    w.key("expires_in").value(expires_in);
    if (!id_token.empty()) w.key("id_token").value(id_token.str());
    if (!refresh_token.empty()) w.key("refresh_token").value(refresh_token.str());
    if (!token_type.empty()) w.key("token_type").value(token_type);
    w.end_object();
    return w.take();
}

int64_t unverified_exp(const std::string &jwt) {
    const size_t a = jwt.find('.');
    if (a == std::string::npos) return 0;
    const size_t b = jwt.find('.', a + 1);
    if (b == std::string::npos || b - a - 1 > k_max_token_bytes) return 0;
    std::string payload;
    if (!base64::url_decode(std::string_view(jwt).substr(a + 1, b - a - 1), payload)) return 0;
    // A parser of its own: callers are often in the middle of walking a response parsed by the thread parser.
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (json::parse(parser, payload, doc) != json::parse_status::ok) return 0;
    simdjson::dom::element exp;
    json::numeric_date v;
    if (doc["exp"].get(exp) != simdjson::SUCCESS || !json::get_numeric_date(exp, v)) return 0;
    return v.floor;  // a fractional exp schedules the refresh at the earlier whole second
}

}  // namespace cotter::core::token

/**
 * @file parse.hpp
 * @brief Strict reading of Cotter's JSON responses with simdjson (one DOM parser per thread): every member of
 * an object is walked once, known members are type-checked and size-capped, a known member that appears twice
 * is an error, unknown members are ignored (and stay reachable through the raw JSON).
 */
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "token/token_set.hpp"

namespace cotter::core::token {

constexpr size_t k_max_token_bytes = 16 * 1024;   // an access, ID or refresh token
constexpr size_t k_max_field_bytes = 4 * 1024;    // any other string we keep

/// Throws COTTER_EPROTOCOL with `message`.
[[noreturn]] void protocol_error(const std::string &message);

/// Parses `body` with this thread's parser (in place when its capacity includes SIMDJSON_PADDING). Duplicate
/// names are caught per object by for_each_member for every member we read; `strict_duplicates` also rejects
/// duplicates among members we ignore (used for small documents such as token responses). The element is valid until the next parse on this thread. Throws COTTER_EPROTOCOL when malformed.
simdjson::dom::element parse_document(const std::string &body, const char *what, bool strict_duplicates = true);

/// Walks an object's members once. `on_member(key, value)` returns true when it consumed a known key; a known
/// key seen twice throws COTTER_EPROTOCOL ("duplicate member"). A template (not std::function) and a fixed array
/// of seen names: this runs for every row of a 1,000-entry list.
template <class F>
void for_each_member(simdjson::dom::element obj, const char *what, F &&on_member) {
    simdjson::dom::object o;
    if (obj.get_object().get(o) != simdjson::SUCCESS) protocol_error(std::string(what) + " is not a JSON object");
    std::string_view seen[32];
    size_t n_seen = 0;
    for (auto field : o) {
        if (!on_member(field.key, field.value)) continue;
        for (size_t i = 0; i < n_seen; ++i)
            if (seen[i] == field.key) protocol_error("duplicate member \"" + std::string(field.key) + "\" in " + what);
        if (n_seen < 32) seen[n_seen++] = field.key;
    }
}

/// A string member, capped at `max` bytes; throws COTTER_EPROTOCOL naming `field` otherwise. `null` gives "".
std::string read_string(simdjson::dom::element v, const char *field, size_t max = k_max_field_bytes);
/// An integer member (a JSON integer, or a string of digits as Cotter sometimes sends); throws otherwise.
int64_t read_int(simdjson::dom::element v, const char *field);
/// The member as minified JSON text (for raw getters), capped at `max` bytes.
std::string read_raw(simdjson::dom::element v, const char *field, size_t max);
/// Takes a whole document that parse_document() accepted and returns it as minified JSON text, capped at `max`
/// bytes; `body` is consumed (its buffer becomes the result, and it is left empty). One SIMD pass over the received
/// bytes (simdjson::minify) instead of a second walk of the DOM that re-serialises every value: for a 1,000-row
/// list that walk was the largest CPU cost of the call. Strings keep the escapes the server sent. Call it after the
/// last use of the parsed elements' source (the DOM keeps its own copies of strings).
std::string take_minified_document(std::string &body, const char *what, size_t max);

/// Parses an `oauth_token` object (the rules of token_set::from_json).
token_set token_set_from_element(simdjson::dom::element obj, const char *what);

}  // namespace cotter::core::token

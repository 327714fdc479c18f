/**
 * @file parse.hpp
 * @brief Strict reading of Cotter's JSON responses with simdjson (one DOM parser per thread): every member of
 * an object is walked once, known members are type-checked and size-capped, a known member that appears twice
 * is an error, unknown members are ignored (and stay reachable through the raw JSON).
 */
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace cotter::core::token {

constexpr size_t k_max_token_bytes = 16 * 1024;   // an access, ID or refresh token
constexpr size_t k_max_field_bytes = 4 * 1024;    // any other string we keep

/// Parses `body` with this thread's parser (in place when its capacity includes SIMDJSON_PADDING), rejecting
/// duplicate member names anywhere. The element is valid until the next parse on this thread. Throws COTTER_EPROTOCOL when malformed.
simdjson::dom::element parse_document(const std::string &body, const char *what);

/// Walks an object's members once. `on_member` returns true when it consumed a known key; a known key seen
/// twice throws COTTER_EPROTOCOL ("duplicate member").
void for_each_member(simdjson::dom::element obj, const char *what,
                     const std::function<bool(std::string_view key, simdjson::dom::element value)> &on_member);

/// A string member, capped at `max` bytes; throws COTTER_EPROTOCOL naming `field` otherwise. `null` gives "".
std::string read_string(simdjson::dom::element v, const char *field, size_t max = k_max_field_bytes);
/// An integer member (a JSON integer, or a string of digits as Cotter sometimes sends); throws otherwise.
int64_t read_int(simdjson::dom::element v, const char *field);
/// The member as minified JSON text (for raw getters), capped at `max` bytes.
std::string read_raw(simdjson::dom::element v, const char *field, size_t max);

[[noreturn]] void protocol_error(const std::string &message);

}  // namespace cotter::core::token

/**
 * @file url.hpp
 * @brief Percent-encoding (RFC 3986: everything but unreserved characters) and query-string decoding.
 */
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cotter::core::token {

/// Percent-encodes every byte outside RFC 3986's unreserved set (A-Z a-z 0-9 - . _ ~), for query values and
/// path segments alike.
std::string percent_encode(std::string_view s);

/// Splits a query string (a leading '?' is skipped) into decoded name/value pairs ('+' is a space, as in
/// application/x-www-form-urlencoded). Returns false on a malformed escape or more than `max_pairs` pairs.
bool parse_query(std::string_view query, std::vector<std::pair<std::string, std::string>> &out, size_t max_pairs = 64);

}  // namespace cotter::core::token

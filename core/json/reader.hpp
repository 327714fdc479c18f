/**
 * @file reader.hpp
 * @brief Reading JSON with simdjson's DOM parser: one parser per thread, a depth cap, and a duplicate-member
 * check that simdjson does not do by itself (its lookups return the first match, a parser differential).
 */
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cotter::core::json {

/// Deepest nesting accepted anywhere (tokens, key sets, API responses are all shallow).
constexpr size_t k_max_depth = 32;

enum class parse_status {
    ok,
    syntax,        ///< not JSON (or trailing bytes, invalid UTF-8)
    too_deep,      ///< nesting beyond k_max_depth
    number_range,  ///< a number simdjson cannot represent (1e400, integers beyond 64 bits)
    no_memory,
};

/// The calling thread's parser (simdjson parsers are not thread-safe; reuse keeps parsing allocation-free).
/// Documents parsed with it stay valid until the next parse on the same thread.
simdjson::dom::parser &thread_parser();

/// Parses `len` bytes at `data`, which must be followed by simdjson::SIMDJSON_PADDING readable bytes.
parse_status parse_padded(simdjson::dom::parser &parser, const char *data, size_t len, simdjson::dom::element &out);

/// Parses any text (copied into the parser's padded buffer when needed).
parse_status parse(simdjson::dom::parser &parser, std::string_view text, simdjson::dom::element &out);

/// True when an object anywhere inside `v` has two members whose names are equal after unescaping
/// (`"alg"` and `"\u0061lg"` are the same name).
bool has_duplicate_member(simdjson::dom::element v);

/// A JSON integer (not a float, not a numeric string) in int64 range.
bool get_int64_strict(simdjson::dom::element v, int64_t &out) noexcept;

/// A NumericDate (RFC 7519 §2) as the two whole seconds around it: 1796537618.5 is {1796537618, 1796537619}, an
/// integer is both. Comparing a whole-second `now` with `ceil` is comparing with the number itself
/// (`now >= exp` is `now >= ceil(exp)`; `nbf > now` is `ceil(nbf) > now`); `floor` is what getters report.
struct numeric_date {
    int64_t floor = 0, ceil = 0;
};

/// A JSON number >= 0 and below 2^63, integer or not. Strings, booleans, null, arrays, objects, negatives and
/// integers beyond int64 are refused, never coerced; non-finite values never parse (1e400 is a number-range error).
bool get_numeric_date(simdjson::dom::element v, numeric_date &out) noexcept;

}  // namespace cotter::core::json

/**
 * @file reader.cpp
 * @brief simdjson DOM helpers: thread-local parser, status mapping, duplicate-member walk.
 */
#include "json/reader.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace cotter::core::json {
namespace {

parse_status map_error(simdjson::error_code e) noexcept {
    switch (e) {
        case simdjson::SUCCESS: return parse_status::ok;
        case simdjson::DEPTH_ERROR: return parse_status::too_deep;
        case simdjson::NUMBER_ERROR:
        case simdjson::NUMBER_OUT_OF_RANGE: return parse_status::number_range;
        case simdjson::MEMALLOC: return parse_status::no_memory;
        default: return parse_status::syntax;
    }
}

// Member names of one object, reused across calls on a thread (the walk recurses, so one vector per level).
thread_local std::vector<std::vector<std::string_view>> t_names_by_depth;

bool walk(simdjson::dom::element v, size_t depth) {
    if (v.is_array()) {
        for (simdjson::dom::element item : simdjson::dom::array(v.get_array().value_unsafe()))
            if (walk(item, depth + 1)) return true;
        return false;
    }
    if (!v.is_object()) return false;
    // The parser caps depth already; this guard keeps the walk bounded even if that ever changes.
    if (depth >= t_names_by_depth.size()) return true;
    auto &names = t_names_by_depth[depth];
    names.clear();
    for (auto field : simdjson::dom::object(v.get_object().value_unsafe())) {
        names.push_back(field.key);
        if (walk(field.value, depth + 1)) return true;
    }
    // `names` may have been reused by a deeper level only at depth+1 and beyond, so it is still ours.
    if (names.size() < 2) return false;
    if (names.size() <= 8) {
        for (size_t i = 1; i < names.size(); ++i)
            for (size_t j = 0; j < i; ++j)
                if (names[i] == names[j]) return true;
        return false;
    }
    std::sort(names.begin(), names.end());
    return std::adjacent_find(names.begin(), names.end()) != names.end();
}

}  // namespace

simdjson::dom::parser &thread_parser() {
    thread_local simdjson::dom::parser parser = [] {
        simdjson::dom::parser p;
        // Pre-size for a typical token or key set and cap the depth; larger documents grow the buffers.
        if (p.allocate(16 * 1024, k_max_depth) != simdjson::SUCCESS) throw std::bad_alloc();
        return p;
    }();
    return parser;
}

parse_status parse_padded(simdjson::dom::parser &parser, const char *data, size_t len, simdjson::dom::element &out) {
    auto r = parser.parse(reinterpret_cast<const uint8_t *>(data), len, false);
    if (r.error()) return map_error(r.error());
    out = r.value_unsafe();
    return parse_status::ok;
}

parse_status parse(simdjson::dom::parser &parser, std::string_view text, simdjson::dom::element &out) {
    auto r = parser.parse(reinterpret_cast<const uint8_t *>(text.data()), text.size(), true);
    if (r.error()) return map_error(r.error());
    out = r.value_unsafe();
    return parse_status::ok;
}

bool has_duplicate_member(simdjson::dom::element v) {
    // Sized once so that references to a level's vector stay valid while deeper levels are walked.
    if (t_names_by_depth.size() < k_max_depth + 2) t_names_by_depth.resize(k_max_depth + 2);
    return walk(v, 0);
}

bool get_int64_strict(simdjson::dom::element v, int64_t &out) noexcept {
    // A double (1.5, 1e3, 1.0) is not a JSON integer; uint64 values above INT64_MAX are out of range.
    if (v.type() != simdjson::dom::element_type::INT64) return false;
    out = v.get_int64().value_unsafe();
    return true;
}

bool get_numeric_date(simdjson::dom::element v, numeric_date &out) noexcept {
    int64_t i = 0;
    if (get_int64_strict(v, i)) {
        if (i < 0) return false;
        out.floor = out.ceil = i;
        return true;
    }
    if (v.type() != simdjson::dom::element_type::DOUBLE) return false;  // UINT64 above INT64_MAX, or not a number
    const double d = v.get_double().value_unsafe();
    // 2^63 is exact as a double, and every double below it converts to int64 without overflow.
    // -0.0 counts as negative: no issuer writes it, and refusing it keeps "negative" a matter of the sign.
    if (!std::isfinite(d) || std::signbit(d) || d >= 9223372036854775808.0) return false;
    out.floor = static_cast<int64_t>(std::floor(d));
    out.ceil = static_cast<int64_t>(std::ceil(d));
    return true;
}

}  // namespace cotter::core::json

/**
 * @file writer.hpp
 * @brief A small JSON writer for request bodies: objects, arrays, strings with correct escaping (RFC 8259),
 * integers, booleans, null, and pre-validated raw JSON values.
 */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cotter::core::json {

/// Builds one JSON text. Commas are inserted automatically; the caller balances begin/end calls.
/// Strings must be valid UTF-8 (else cotter::core::error COTTER_EINVAL): the server would reject them anyway,
/// and escaping cannot repair them.
class writer {
public:
    writer &begin_object();
    writer &end_object();
    writer &begin_array();
    writer &end_array();
    writer &key(std::string_view name);
    writer &value(std::string_view s);
    writer &value(const char *s) { return value(std::string_view(s)); }
    writer &value(int64_t v);
    writer &value(bool v);
    writer &null();
    /// Inserts `json` verbatim after checking that it is one well-formed JSON value of the expected kind
    /// (`require_object`), e.g. the caller's custom attributes or an identity token object.
    writer &raw(std::string_view json, bool require_object);

    const std::string &str() const noexcept { return out_; }
    /// Moves the text out (the caller wipes it when it holds secrets).
    std::string take() noexcept { return std::move(out_); }

private:
    void separate();
    std::string out_;
    bool need_comma_ = false;
};

/// Appends `s` as a quoted, escaped JSON string.
void append_escaped(std::string &out, std::string_view s);

}  // namespace cotter::core::json

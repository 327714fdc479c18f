/**
 * @file writer.cpp
 * @brief JSON writer: escaping per RFC 8259 §7 (quote, backslash, control characters), UTF-8 validated.
 */
#include "json/writer.hpp"

#include <simdjson.h>

#include "common/error.hpp"

namespace cotter::core::json {

void append_escaped(std::string &out, std::string_view s) {
    if (!simdjson::validate_utf8(s.data(), s.size())) fail(COTTER_EINVAL, "string is not valid UTF-8");
    static const char hex[] = "0123456789abcdef";
    out.reserve(out.size() + s.size() + 2);
    out.push_back('"');
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                out += "\\u00";
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 0xf]);
            } else {
                out.push_back(ch);
            }
        }
    }
    out.push_back('"');
}

void writer::separate() {
    if (need_comma_) out_.push_back(',');
    need_comma_ = true;
}

writer &writer::begin_object() {
    separate();
    out_.push_back('{');
    need_comma_ = false;
    return *this;
}

writer &writer::end_object() {
    out_.push_back('}');
    need_comma_ = true;
    return *this;
}

writer &writer::begin_array() {
    separate();
    out_.push_back('[');
    need_comma_ = false;
    return *this;
}

writer &writer::end_array() {
    out_.push_back(']');
    need_comma_ = true;
    return *this;
}

writer &writer::key(std::string_view name) {
    separate();
    append_escaped(out_, name);
    out_.push_back(':');
    need_comma_ = false;  // the value follows without a comma
    return *this;
}

writer &writer::value(std::string_view s) {
    separate();
    append_escaped(out_, s);
    return *this;
}

writer &writer::value(int64_t v) {
    separate();
    out_ += std::to_string(v);
    return *this;
}

writer &writer::value(bool v) {
    separate();
    out_ += v ? "true" : "false";
    return *this;
}

writer &writer::null() {
    separate();
    out_ += "null";
    return *this;
}

writer &writer::raw(std::string_view json, bool require_object) {
    simdjson::dom::parser parser;
    simdjson::dom::element el;
    const simdjson::padded_string padded(json);
    if (parser.parse(padded).get(el) != simdjson::SUCCESS) fail(COTTER_EINVAL, "not well-formed JSON");
    if (require_object && el.type() != simdjson::dom::element_type::OBJECT) fail(COTTER_EINVAL, "JSON value is not an object");
    separate();
    // Re-serialised minified: no stray whitespace or trailing bytes reach the server.
    out_ += simdjson::minify(el);
    return *this;
}

}  // namespace cotter::core::json

/**
 * @file url.cpp
 * @brief Percent-encoding and query parsing for the login URL, the login redirect and request paths.
 */
#include "token/url.hpp"

namespace cotter::core::token {
namespace {
bool is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool decode_component(std::string_view in, std::string &out) {
    out.clear();
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '+') {
            out.push_back(' ');
        } else if (c == '%') {
            if (i + 2 >= in.size()) return false;  // needs two hex digits
            const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return true;
}
}  // namespace

std::string percent_encode(std::string_view s) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size() * 3);
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (is_unreserved(c)) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xf]);
        }
    }
    return out;
}

bool parse_query(std::string_view query, std::vector<std::pair<std::string, std::string>> &out, size_t max_pairs) {
    out.clear();
    if (!query.empty() && query.front() == '?') query.remove_prefix(1);
    // A fragment is not part of the query.
    if (const size_t hash = query.find('#'); hash != std::string_view::npos) query = query.substr(0, hash);
    while (!query.empty()) {
        const size_t amp = query.find('&');
        const std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (part.empty()) continue;
        if (out.size() >= max_pairs) return false;
        const size_t eq = part.find('=');
        std::string name, value;
        if (!decode_component(part.substr(0, eq), name)) return false;
        if (eq != std::string_view::npos && !decode_component(part.substr(eq + 1), value)) return false;
        out.emplace_back(std::move(name), std::move(value));
    }
    return true;
}

}  // namespace cotter::core::token

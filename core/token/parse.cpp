/**
 * @file parse.cpp
 * @brief Strict response reading helpers (see parse.hpp).
 */
#include "token/parse.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <new>
#include <vector>

#include "common/secure.hpp"
#include "json/reader.hpp"

namespace cotter::core::token {

void protocol_error(const std::string &message) { fail(COTTER_EPROTOCOL, message); }

simdjson::dom::element parse_document(const std::string &body, const char *what, bool strict_duplicates) {
    // The verifier's reader: one parser per thread, a depth cap, numbers checked.
    simdjson::dom::parser &parser = json::thread_parser();
    simdjson::dom::element doc;
    const json::parse_status st = body.capacity() >= body.size() + simdjson::SIMDJSON_PADDING
                                      ? json::parse_padded(parser, body.data(), body.size(), doc)
                                      : json::parse(parser, body, doc);
    switch (st) {
    case json::parse_status::ok: break;
    case json::parse_status::no_memory: throw std::bad_alloc();
    case json::parse_status::too_deep: protocol_error(std::string("JSON nested too deeply in the ") + what);
    case json::parse_status::number_range: protocol_error(std::string("number out of range in the ") + what);
    default: protocol_error(std::string("malformed JSON in the ") + what);
    }
    // simdjson's lookups return the first of two equal names; a response that names a member twice is ambiguous.
    if (strict_duplicates && json::has_duplicate_member(doc)) protocol_error(std::string("duplicate JSON member in the ") + what);
    return doc;
}

std::string read_string(simdjson::dom::element v, const char *field, size_t max) {
    if (v.is_null()) return std::string();
    std::string_view sv;
    if (v.get_string().get(sv) != simdjson::SUCCESS) protocol_error(std::string("\"") + field + "\" is not a string");
    if (sv.size() > max) protocol_error(std::string("\"") + field + "\" exceeds " + std::to_string(max) + " bytes");
    return std::string(sv);
}

int64_t read_int(simdjson::dom::element v, const char *field) {
    int64_t i = 0;
    if (v.get_int64().get(i) == simdjson::SUCCESS) return i;
    std::string_view sv;
    if (v.get_string().get(sv) == simdjson::SUCCESS && !sv.empty() && sv.size() <= 19) {
        const auto res = std::from_chars(sv.data(), sv.data() + sv.size(), i);
        if (res.ec == std::errc() && res.ptr == sv.data() + sv.size()) return i;
    }
    protocol_error(std::string("\"") + field + "\" is not an integer");
}

namespace {
/// One builder per thread, cleared between uses: simdjson::minify() would grow a fresh buffer for every row of a
/// list. (string_builder is simdjson's own minifier, the one minify() wraps.)
std::string_view minified(simdjson::dom::element v) {
    thread_local simdjson::internal::string_builder<> builder;
    builder.clear();
    builder.append(v);
    return builder.str();
}
}  // namespace

std::string take_minified_document(std::string &body, const char *what, size_t max) {
    // simdjson::minify writes to a second buffer (in place is not part of its contract): one per thread, kept between
    // calls (a fresh one per call cost a zero-fill and page faults), wiped after each use. A body that is minified
    // already (Cotter's are) comes out byte for byte, so it is handed over as is, without a copy.
    thread_local std::vector<char> scratch;
    const size_t need = body.size() + simdjson::SIMDJSON_PADDING;
    if (scratch.size() < need) {
        OPENSSL_cleanse(scratch.data(), scratch.size());
        std::vector<char>(need).swap(scratch);
    }
    size_t len = 0;
    const bool ok = simdjson::minify(body.data(), body.size(), scratch.data(), len) == simdjson::SUCCESS && len <= body.size();
    if (ok && len < body.size()) {
        std::memcpy(body.data(), scratch.data(), len);
        OPENSSL_cleanse(body.data() + len, body.size() - len);  // the tail held the body's own bytes (tokens)
        body.resize(len);
    }
    OPENSSL_cleanse(scratch.data(), std::min(scratch.size(), len + simdjson::SIMDJSON_PADDING));
    if (scratch.size() > 1024 * 1024) std::vector<char>().swap(scratch);  // a rare large body: do not keep it
    if (!ok) protocol_error(std::string("malformed JSON in the ") + what);  // not expected: the body parsed
    if (len > max) protocol_error(std::string("\"") + what + "\" exceeds " + std::to_string(max) + " bytes");
    return std::move(body);
}

std::string read_raw(simdjson::dom::element v, const char *field, size_t max) {
    const std::string_view out = minified(v);
    if (out.size() > max) protocol_error(std::string("\"") + field + "\" exceeds " + std::to_string(max) + " bytes");
    return std::string(out);
}

}  // namespace cotter::core::token

/**
 * @file fuzz_json_writer.cpp
 * @brief The request-body JSON writer (core/json/writer): the input drives a random value tree (objects,
 * arrays, arbitrary byte strings, integers, booleans, null, raw JSON); the writer's output must parse back
 * with simdjson to exactly the same values. Invalid UTF-8 must be refused (COTTER_EINVAL), never escaped
 * into something else, and raw JSON is accepted only when it is one well-formed value.
 */
#include <fuzzer/FuzzedDataProvider.h>
#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "fuzz_support.hpp"
#include "json/writer.hpp"

namespace {

struct node {
    enum kind_t { object, array, string, integer, boolean, null, raw } kind = null;
    std::string text;  // string value, or raw JSON
    bool raw_object = false;
    int64_t number = 0;
    bool flag = false;
    std::vector<std::pair<std::string, node>> members;  // object (keys may repeat: the writer does not dedupe)
    std::vector<node> items;                            // array
};

constexpr int k_max_depth = 12;

node generate(FuzzedDataProvider &in, int depth) {
    node n;
    const int pick = in.ConsumeIntegralInRange<int>(0, depth >= k_max_depth ? 4 : 6);
    switch (pick) {
    case 0: n.kind = node::string; n.text = in.ConsumeRandomLengthString(64); break;
    case 1: n.kind = node::integer; n.number = in.ConsumeIntegral<int64_t>(); break;
    case 2: n.kind = node::boolean; n.flag = in.ConsumeBool(); break;
    case 3: n.kind = node::null; break;
    case 4: n.kind = node::raw; n.raw_object = in.ConsumeBool(); n.text = in.ConsumeRandomLengthString(64); break;
    case 5: {
        n.kind = node::object;
        const int count = in.ConsumeIntegralInRange<int>(0, 6);
        for (int i = 0; i < count && in.remaining_bytes() > 0; ++i) {
            std::string k = in.ConsumeRandomLengthString(16);
            n.members.emplace_back(std::move(k), generate(in, depth + 1));
        }
        break;
    }
    default: {
        n.kind = node::array;
        const int count = in.ConsumeIntegralInRange<int>(0, 6);
        for (int i = 0; i < count && in.remaining_bytes() > 0; ++i) n.items.push_back(generate(in, depth + 1));
        break;
    }
    }
    return n;
}

bool utf8(const std::string &s) { return simdjson::validate_utf8(s.data(), s.size()); }

/// Writes `n`; returns false when the writer refused an input (and checks the refusal was deserved).
bool write(cotter::core::json::writer &w, const node &n) {
    switch (n.kind) {
    case node::string:
        try {
            w.value(n.text);
        } catch (const cotter::core::error &e) {
            FUZZ_CHECK(e.code() == cotter::core::COTTER_EINVAL && !utf8(n.text));
            return false;
        }
        FUZZ_CHECK(utf8(n.text));
        return true;
    case node::integer: w.value(n.number); return true;
    case node::boolean: w.value(n.flag); return true;
    case node::null: w.null(); return true;
    case node::raw:
        try {
            w.raw(n.text, n.raw_object);
        } catch (const cotter::core::error &e) {
            FUZZ_CHECK(e.code() == cotter::core::COTTER_EINVAL);
            return false;
        }
        {
            // Accepted raw JSON must be one well-formed value of the requested kind.
            simdjson::dom::parser p;
            simdjson::dom::element el;
            FUZZ_CHECK(p.parse(simdjson::padded_string(n.text)).get(el) == simdjson::SUCCESS);
            FUZZ_CHECK(!n.raw_object || el.is_object());
        }
        return true;
    case node::object:
        w.begin_object();
        for (const auto &[k, v] : n.members) {
            try {
                w.key(k);
            } catch (const cotter::core::error &e) {
                FUZZ_CHECK(e.code() == cotter::core::COTTER_EINVAL && !utf8(k));
                return false;
            }
            FUZZ_CHECK(utf8(k));
            if (!write(w, v)) return false;
        }
        w.end_object();
        return true;
    case node::array:
        w.begin_array();
        for (const auto &v : n.items)
            if (!write(w, v)) return false;
        w.end_array();
        return true;
    }
    return false;
}

/// The parsed output must equal the tree it was written from.
void compare(simdjson::dom::element el, const node &n) {
    switch (n.kind) {
    case node::string: {
        std::string_view s;
        FUZZ_CHECK(el.get_string().get(s) == simdjson::SUCCESS && s == n.text);
        break;
    }
    case node::integer: {
        int64_t v = 0;
        FUZZ_CHECK(el.get_int64().get(v) == simdjson::SUCCESS && v == n.number);
        break;
    }
    case node::boolean: {
        bool v = false;
        FUZZ_CHECK(el.get_bool().get(v) == simdjson::SUCCESS && v == n.flag);
        break;
    }
    case node::null: FUZZ_CHECK(el.is_null()); break;
    case node::raw: {
        simdjson::dom::parser p;
        simdjson::dom::element expected;
        FUZZ_CHECK(p.parse(simdjson::padded_string(n.text)).get(expected) == simdjson::SUCCESS);
        FUZZ_CHECK(simdjson::minify(el) == simdjson::minify(expected));
        break;
    }
    case node::object: {
        simdjson::dom::object obj;
        FUZZ_CHECK(el.get_object().get(obj) == simdjson::SUCCESS);
        size_t i = 0;
        for (auto field : obj) {
            FUZZ_CHECK(i < n.members.size());
            FUZZ_CHECK(field.key == n.members[i].first);
            compare(field.value, n.members[i].second);
            ++i;
        }
        FUZZ_CHECK(i == n.members.size());
        break;
    }
    case node::array: {
        simdjson::dom::array arr;
        FUZZ_CHECK(el.get_array().get(arr) == simdjson::SUCCESS);
        size_t i = 0;
        for (auto item : arr) {
            FUZZ_CHECK(i < n.items.size());
            compare(item, n.items[i]);
            ++i;
        }
        FUZZ_CHECK(i == n.items.size());
        break;
    }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider in(data, size);
    const node root = generate(in, 0);
    cotter::core::json::writer w;
    if (!write(w, root)) return 0;

    simdjson::dom::parser parser;
    simdjson::dom::element el;
    const std::string &out = w.str();
    FUZZ_CHECK(parser.parse(simdjson::padded_string(out)).get(el) == simdjson::SUCCESS);
    compare(el, root);

    // append_escaped on its own: the quoted form parses back to the same bytes.
    const std::string s = in.ConsumeRemainingBytesAsString();
    std::string quoted;
    try {
        cotter::core::json::append_escaped(quoted, s);
    } catch (const cotter::core::error &) {
        FUZZ_CHECK(!utf8(s));
        return 0;
    }
    simdjson::dom::element sel;
    std::string_view back;
    FUZZ_CHECK(parser.parse(simdjson::padded_string(quoted)).get(sel) == simdjson::SUCCESS);
    FUZZ_CHECK(sel.get_string().get(back) == simdjson::SUCCESS && back == s);
    return 0;
}

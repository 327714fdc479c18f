/**
 * @file fuzz_jwt_mutate.cpp
 * @brief Mutations of a valid token: the input picks one of the harness's validly signed tokens and a list of
 * edits (overwrite, insert, delete, bit flip, cut); the verifier may accept the result only when it is
 * byte-identical to the token it came from (same signing input, same signature). Catches malleability:
 * non-canonical base64url, alternative signature encodings, header/payload bytes that are ignored.
 */
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>

#include "jwt_check.hpp"

namespace {
cotter_fuzz::jwt_harness *harness;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    harness = new cotter_fuzz::jwt_harness();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider in(data, size);
    const std::string &base = harness->valid_tokens[in.ConsumeIntegralInRange<size_t>(0, harness->valid_tokens.size() - 1)];
    std::string t = base;
    const int edits = in.ConsumeIntegralInRange<int>(1, 8);
    for (int i = 0; i < edits && in.remaining_bytes() > 0; ++i) {
        const size_t pos = t.empty() ? 0 : in.ConsumeIntegralInRange<size_t>(0, t.size() - 1);
        const uint8_t byte = in.ConsumeIntegral<uint8_t>();
        switch (in.ConsumeIntegralInRange<int>(0, 4)) {
        case 0: if (!t.empty()) t[pos] = static_cast<char>(byte); break;
        case 1: t.insert(t.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<char>(byte)); break;
        case 2: if (!t.empty()) t.erase(pos, 1 + byte % 4); break;
        case 3: if (!t.empty()) t[pos] = static_cast<char>(t[pos] ^ (1 << (byte % 8))); break;
        default: t.resize(pos); break;
        }
    }
    if (harness->check(t) == COTTER_OK) FUZZ_CHECK(t == base);
    return 0;
}

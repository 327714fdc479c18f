/**
 * @file fuzz_jwt_verify.cpp
 * @brief cotter_jwt_verify on arbitrary bytes, with a fixed JWKS and a fixed clock: never OK unless the token
 * is one the harness signed (signing input byte-identical, signature valid under OpenSSL alone); the cached and
 * uncached verifiers always agree; every rejection has a documented code and a message without the token.
 * Seeds: fuzz/corpus/jwt_verify (validly signed with the fixed test keys, plus hostile shapes) and the token
 * fixtures of tests/fixtures.
 */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "jwt_check.hpp"

namespace {
cotter_fuzz::jwt_harness *harness;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    harness = new cotter_fuzz::jwt_harness();
    // COTTER_FUZZ_WRITE_SEEDS=<dir> writes the harness's valid tokens as seed files (how fuzz/corpus was made).
    if (const char *dir = std::getenv("COTTER_FUZZ_WRITE_SEEDS")) {
        for (size_t i = 0; i < harness->valid_tokens.size(); ++i) {
            std::ofstream(std::string(dir) + "/valid_" + std::to_string(i) + ".jwt", std::ios::binary)
                << harness->valid_tokens[i];
        }
        std::fprintf(stderr, "wrote %zu seeds to %s\n", harness->valid_tokens.size(), dir);
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    harness->check(std::string_view(reinterpret_cast<const char *>(data), size));
    return 0;
}

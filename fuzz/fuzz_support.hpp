/**
 * @file fuzz_support.hpp
 * @brief Small helpers shared by the fuzz targets: reading fixtures, and a loud invariant check.
 *
 * A violated invariant calls abort(), which libFuzzer reports as a crash and saves the input (keep it in
 * fuzz/regressions/<name>/).
 */
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace cotter_fuzz {

/// Aborts with a message naming the broken invariant.
#define FUZZ_CHECK(cond)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            std::fprintf(stderr, "fuzz invariant violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            std::abort();                                                                     \
        }                                                                                     \
    } while (0)

/// A file below the source tree (COTTER_SOURCE_DIR, baked in at build time), or "" when it is missing.
inline std::string read_source_file(const std::string &relative) {
    std::ifstream in(std::string(COTTER_SOURCE_DIR) + "/" + relative, std::ios::binary);
    if (!in) return {};
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// As read_source_file(), but a missing fixture stops the target at start-up (never fuzz against nothing).
inline std::string require_source_file(const std::string &relative) {
    std::string s = read_source_file(relative);
    if (s.empty()) {
        std::fprintf(stderr, "fuzz: missing fixture %s/%s\n", COTTER_SOURCE_DIR, relative.c_str());
        std::exit(2);
    }
    return s;
}

}  // namespace cotter_fuzz

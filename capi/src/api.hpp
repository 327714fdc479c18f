/**
 * @file api.hpp
 * @brief The exception barrier and argument checks shared by every extern "C" shim.
 */
#pragma once

#include <cstring>
#include <new>
#include <string>

#include "common/error.hpp"
#include "cotter.h"

struct cotter_error {
    cotter::core::error_info info;
};

namespace cotter::capi {

/// Stores `info` in *out_error (if requested) and returns its code. Never throws: if the error object
/// cannot be allocated the caller still gets the code.
int report(cotter_error **out_error, cotter::core::error_info info) noexcept;
int report(cotter_error **out_error, int code, const char *message) noexcept;

/// Copies a possibly-NULL C string.
inline std::string str_or_empty(const char *s) { return s ? std::string(s) : std::string(); }

}  // namespace cotter::capi

// Every extern "C" body is wrapped in these. No exception ever crosses the C boundary.
#define COTTER_API_BEGIN try {
#define COTTER_API_END(out_error)                                                                   \
    }                                                                                               \
    catch (const std::bad_alloc &) {                                                                \
        return ::cotter::capi::report((out_error), COTTER_ENOMEM, "out of memory");                 \
    }                                                                                               \
    catch (const ::cotter::core::error &e) {                                                        \
        return ::cotter::capi::report((out_error), e.info());                                       \
    }                                                                                               \
    catch (const std::exception &e) {                                                               \
        return ::cotter::capi::report((out_error), COTTER_EINTERNAL, e.what());                     \
    }                                                                                               \
    catch (...) {                                                                                   \
        return ::cotter::capi::report((out_error), COTTER_EINTERNAL, "unknown internal error");     \
    }

// Argument checks run in every build, never only as assert(). `message` is what every binding shows its user
// (Python, Node, Rust and Go print it unchanged): a sentence naming the argument and what to do, never the C++
// condition. docs/errors.md lists them.
#define COTTER_CHECK_ARG(cond, message, out_error)                                                  \
    do {                                                                                            \
        if (!(cond)) return ::cotter::capi::report((out_error), COTTER_EINVAL, (message));          \
    } while (0)

// Clears an out-parameter first so callers never see a stale value on failure.
#define COTTER_CLEAR_OUT(out) \
    do {                      \
        if (out) *(out) = {}; \
    } while (0)

namespace cotter::capi {
/// Copies `s` into a caller-owned cotter_buf (malloc'd, NUL-terminated; released by cotter_buf_dispose).
inline int fill_buf(cotter_buf *out, const std::string &s) noexcept {
    if (!out) return COTTER_EINVAL;
    if (cotter_buf_alloc(out, s.size()) != COTTER_OK) return COTTER_ENOMEM;
    if (!s.empty()) std::memcpy(out->ptr, s.data(), s.size());
    return COTTER_OK;
}
}  // namespace cotter::capi

/**
 * @file error.hpp
 * @brief The core's error value and exception. Codes are the status values of common/status.hpp (cotter.h re-exports them).
 */
#pragma once

#include <cstdint>
#include <exception>
#include <string>
#include <utility>

#include "common/status.hpp"

namespace cotter::core {

/// Everything the C ABI's cotter_error can report. Messages never contain secrets or tokens.
struct error_info {
    int code = COTTER_EINTERNAL;
    std::string message;
    int http_status = 0;
    std::string oauth_error;              // RFC 6749 `error` or Cotter's non-empty `type`
    std::string oauth_error_description;  // Cotter's `msg` or RFC 6749 `error_description`
    int64_t retry_after = -1;             // seconds, -1 = absent
};

/// Thrown outside hot paths; the C ABI barrier turns it into a status and a cotter_error.
class error : public std::exception {
public:
    explicit error(error_info info) : info_(std::move(info)) {}
    error(int code, std::string message) { info_.code = code; info_.message = std::move(message); }
    const char *what() const noexcept override { return info_.message.c_str(); }
    int code() const noexcept { return info_.code; }
    const error_info &info() const noexcept { return info_; }
    error_info &info() noexcept { return info_; }

private:
    error_info info_;
};

[[noreturn]] inline void fail(int code, std::string message) { throw error(code, std::move(message)); }

/// Hot paths (verification) return a status instead of throwing; details go to an optional error_info.
inline int set_error(error_info *out, int code, std::string message) {
    if (out) {
        out->code = code;
        out->message = std::move(message);
    }
    return code;
}

}  // namespace cotter::core

/**
 * @file secure.hpp
 * @brief Secret hygiene: wipe memory that held secrets, and compare in constant time.
 */
#pragma once

#include <openssl/crypto.h>

#include <string>

namespace cotter::core {

/// Overwrites a string's bytes (OPENSSL_cleanse cannot be optimised away) and empties it.
inline void wipe(std::string &s) noexcept {
    if (!s.empty()) OPENSSL_cleanse(&s[0], s.size());
    s.clear();
}

/// A std::string that wipes itself when destroyed or reassigned; for API secrets and tokens.
class secret_string {
public:
    secret_string() = default;
    explicit secret_string(std::string s) : value_(std::move(s)) {}
    secret_string(const secret_string &o) : value_(o.value_) {}
    secret_string(secret_string &&o) noexcept : value_(std::move(o.value_)) { wipe(o.value_); }
    secret_string &operator=(const secret_string &o) {
        if (this != &o) { wipe(value_); value_ = o.value_; }
        return *this;
    }
    secret_string &operator=(secret_string &&o) noexcept {
        if (this != &o) { wipe(value_); value_ = std::move(o.value_); wipe(o.value_); }
        return *this;
    }
    ~secret_string() { wipe(value_); }
    const std::string &str() const noexcept { return value_; }
    const char *c_str() const noexcept { return value_.c_str(); }
    bool empty() const noexcept { return value_.empty(); }
    size_t size() const noexcept { return value_.size(); }

private:
    std::string value_;
};

/// Constant-time equality for secrets and MACs (length is not secret).
inline bool constant_time_equal(const std::string &a, const std::string &b) noexcept {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace cotter::core

/**
 * @file base64.hpp
 * @brief Strict base64url (RFC 7515 §2, no padding) and strict standard base64 (RFC 4648 §4, padded).
 *
 * Strict means one spelling per byte string: no whitespace, no characters of the other alphabet, padding only
 * where the variant requires it, and the unused trailing bits of the last character must be zero. OpenSSL's
 * decoders skip whitespace, accept trailing garbage after padding and know no url alphabet, so a token could be
 * spelled many ways; a verifier (and a verified-token cache keyed on token bytes) must not allow that.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cotter::core::base64 {

/// Bytes needed to decode `encoded_len` base64url characters (an upper bound for invalid input).
constexpr size_t url_decoded_size(size_t encoded_len) noexcept { return encoded_len / 4 * 3 + (encoded_len % 4) * 3 / 4; }

/// Decodes strict unpadded base64url into `out` (capacity `cap`). Returns false on any invalid or non-canonical
/// input or when `cap` is too small; `*out_len` receives the decoded length. An empty input decodes to nothing.
bool url_decode(std::string_view in, uint8_t *out, size_t cap, size_t *out_len) noexcept;

/// As above into a std::string (replaced). Returns false on invalid input.
bool url_decode(std::string_view in, std::string &out);

/// Unpadded base64url of `len` bytes.
std::string url_encode(const void *data, size_t len);
inline std::string url_encode(std::string_view s) { return url_encode(s.data(), s.size()); }

/// Decodes strict padded standard base64 (length a multiple of 4, `=` only as the final padding). Returns false
/// on any invalid or non-canonical input.
bool std_decode(std::string_view in, std::string &out);

/// Padded standard base64 of `len` bytes.
std::string std_encode(const void *data, size_t len);
inline std::string std_encode(std::string_view s) { return std_encode(s.data(), s.size()); }

}  // namespace cotter::core::base64

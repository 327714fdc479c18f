/**
 * @file fuzz_base64.cpp
 * @brief Strict base64url / standard base64 (core/common/base64): decoders never read out of bounds, and
 * strictness means one spelling per byte string: whatever decodes re-encodes to the identical text, and
 * whatever is encoded decodes back to the same bytes.
 */
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/base64.hpp"
#include "fuzz_support.hpp"

namespace b64 = cotter::core::base64;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const std::string_view text(reinterpret_cast<const char *>(data), size);

    // base64url: canonical decode, and the pointer/capacity overload agrees with the string one.
    std::string decoded;
    const bool ok = b64::url_decode(text, decoded);
    std::vector<uint8_t> buf(b64::url_decoded_size(size));
    size_t buf_len = 0;
    const bool ok_buf = b64::url_decode(text, buf.data(), buf.size(), &buf_len);
    FUZZ_CHECK(ok == ok_buf);
    if (ok) {
        FUZZ_CHECK(buf_len == decoded.size());
        FUZZ_CHECK(decoded.empty() || std::string_view(reinterpret_cast<const char *>(buf.data()), buf_len) == decoded);
        FUZZ_CHECK(b64::url_encode(decoded) == text);
    }
    // A too-small buffer is refused, never overrun.
    if (ok && buf_len > 0) {
        std::vector<uint8_t> small(buf_len - 1);
        size_t small_len = 0;
        FUZZ_CHECK(!b64::url_decode(text, small.data(), small.size(), &small_len));
    }
    const std::string url = b64::url_encode(text);
    std::string back;
    FUZZ_CHECK(b64::url_decode(url, back) && back == text);

    // Standard padded base64 (Ed25519 keys and signatures of the legacy tokens).
    std::string std_decoded;
    if (b64::std_decode(text, std_decoded)) FUZZ_CHECK(b64::std_encode(std_decoded) == text);
    const std::string std_text = b64::std_encode(text);
    std::string std_back;
    FUZZ_CHECK(b64::std_decode(std_text, std_back) && std_back == text);
    return 0;
}

/**
 * @file base64.cpp
 * @brief Strict base64url / base64 codecs (see base64.hpp for why not OpenSSL's EVP_DecodeBlock).
 */
#include "common/base64.hpp"

#include <array>

namespace cotter::core::base64 {
namespace {

constexpr char k_url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char k_std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr uint8_t k_invalid = 0xff;

constexpr std::array<uint8_t, 256> make_table(const char *alphabet) {
    std::array<uint8_t, 256> t{};
    for (auto &v : t) v = k_invalid;
    for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = i;
    return t;
}

constexpr auto k_url_table = make_table(k_url_alphabet);
constexpr auto k_std_table = make_table(k_std_alphabet);

// Decodes unpadded characters with `table`. A final group of 1 character cannot encode a byte; a final group of
// 2 or 3 characters carries 4 or 2 unused bits, which must be zero (else two spellings would decode the same).
bool decode_unpadded(std::string_view in, const std::array<uint8_t, 256> &table, uint8_t *out, size_t cap,
                     size_t *out_len) noexcept {
    const size_t n = in.size();
    if (n % 4 == 1) return false;
    const size_t need = url_decoded_size(n);
    if (need > cap) return false;
    const auto *p = reinterpret_cast<const uint8_t *>(in.data());
    size_t i = 0, o = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32_t a = table[p[i]], b = table[p[i + 1]], c = table[p[i + 2]], d = table[p[i + 3]];
        if ((a | b | c | d) & 0x80u) return false;
        const uint32_t v = a << 18 | b << 12 | c << 6 | d;
        out[o++] = static_cast<uint8_t>(v >> 16);
        out[o++] = static_cast<uint8_t>(v >> 8);
        out[o++] = static_cast<uint8_t>(v);
    }
    const size_t rest = n - i;
    if (rest == 2) {
        const uint32_t a = table[p[i]], b = table[p[i + 1]];
        if ((a | b) & 0x80u) return false;
        if (b & 0x0fu) return false;  // non-canonical trailing bits
        out[o++] = static_cast<uint8_t>(a << 2 | b >> 4);
    } else if (rest == 3) {
        const uint32_t a = table[p[i]], b = table[p[i + 1]], c = table[p[i + 2]];
        if ((a | b | c) & 0x80u) return false;
        if (c & 0x03u) return false;  // non-canonical trailing bits
        const uint32_t v = a << 10 | b << 4 | c >> 2;
        out[o++] = static_cast<uint8_t>(v >> 8);
        out[o++] = static_cast<uint8_t>(v);
    }
    *out_len = o;
    return true;
}

std::string encode(const void *data, size_t len, const char *alphabet, bool pad) {
    const auto *p = static_cast<const uint8_t *>(data);
    std::string out;
    out.reserve((len + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        const uint32_t v = uint32_t(p[i]) << 16 | uint32_t(p[i + 1]) << 8 | p[i + 2];
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += alphabet[v & 63];
    }
    if (len - i == 1) {
        const uint32_t v = uint32_t(p[i]) << 16;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        if (pad) out += "==";
    } else if (len - i == 2) {
        const uint32_t v = uint32_t(p[i]) << 16 | uint32_t(p[i + 1]) << 8;
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        if (pad) out += '=';
    }
    return out;
}

}  // namespace

bool url_decode(std::string_view in, uint8_t *out, size_t cap, size_t *out_len) noexcept {
    return decode_unpadded(in, k_url_table, out, cap, out_len);
}

bool url_decode(std::string_view in, std::string &out) {
    out.resize(url_decoded_size(in.size()));
    size_t n = 0;
    if (!decode_unpadded(in, k_url_table, reinterpret_cast<uint8_t *>(out.data()), out.size(), &n)) {
        out.clear();
        return false;
    }
    out.resize(n);
    return true;
}

std::string url_encode(const void *data, size_t len) { return encode(data, len, k_url_alphabet, false); }

bool std_decode(std::string_view in, std::string &out) {
    out.clear();
    if (in.size() % 4 != 0) return false;
    // Padding: at most two '=' and only at the very end.
    size_t body = in.size();
    if (body > 0 && in[body - 1] == '=') --body;
    if (body > 0 && in[body - 1] == '=' && body == in.size() - 1) --body;
    const std::string_view unpadded = in.substr(0, body);
    if (unpadded.find('=') != std::string_view::npos) return false;
    // The padding must be exactly what the unpadded length implies.
    const size_t pad = in.size() - body;
    if ((body % 4 == 0 && pad != 0) || (body % 4 == 2 && pad != 2) || (body % 4 == 3 && pad != 1)) return false;
    out.resize(url_decoded_size(body));
    size_t n = 0;
    if (!decode_unpadded(unpadded, k_std_table, reinterpret_cast<uint8_t *>(out.data()), out.size(), &n)) {
        out.clear();
        return false;
    }
    out.resize(n);
    return true;
}

std::string std_encode(const void *data, size_t len) { return encode(data, len, k_std_alphabet, true); }

}  // namespace cotter::core::base64

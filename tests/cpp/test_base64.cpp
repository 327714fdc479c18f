/**
 * @file test_base64.cpp
 * @brief Strict base64url / base64: RFC 4648 vectors, round trips, and every non-canonical spelling rejected.
 */
#include <doctest/doctest.h>

#include <openssl/rand.h>

#include <string>

#include "common/base64.hpp"

using namespace cotter::core;

TEST_CASE("RFC 4648 test vectors") {
    const std::pair<std::string, std::string> vectors[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (const auto &v : vectors) {
        CHECK(base64::std_encode(v.first) == v.second);
        std::string out;
        CHECK(base64::std_decode(v.second, out));
        CHECK(out == v.first);
        std::string unpadded = v.second.substr(0, v.second.find('='));
        CHECK(base64::url_encode(v.first) == unpadded);
        CHECK(base64::url_decode(unpadded, out));
        CHECK(out == v.first);
    }
}

TEST_CASE("url alphabet: - and _ in, + and / out") {
    const std::string bytes("\xfb\xff\xbf", 3);
    CHECK(base64::url_encode(bytes) == "-_-_");
    CHECK(base64::std_encode(bytes) == "+/+/");
    std::string out;
    CHECK(base64::url_decode("-_-_", out));
    CHECK(out == bytes);
    CHECK_FALSE(base64::url_decode("+/+/", out));
    CHECK_FALSE(base64::std_decode("-_-_", out));
}

TEST_CASE("round trips of random bytes of every length up to 200") {
    for (size_t n = 0; n <= 200; ++n) {
        std::string bytes(n, '\0');
        if (n) REQUIRE(RAND_bytes(reinterpret_cast<unsigned char *>(bytes.data()), static_cast<int>(n)) == 1);
        std::string out;
        REQUIRE(base64::url_decode(base64::url_encode(bytes), out));
        CHECK(out == bytes);
        REQUIRE(base64::std_decode(base64::std_encode(bytes), out));
        CHECK(out == bytes);
        CHECK(base64::url_decoded_size(base64::url_encode(bytes).size()) == n);
    }
}

TEST_CASE("base64url rejects padding, whitespace, foreign characters, impossible lengths") {
    std::string out;
    for (const char *bad : {"Zg==", "Zg=", "Zm8=", "Zm 9v", " Zm9v", "Zm9v\n", "Zm9v\r\n", "Zm\t9v", "Z", "Zm9vY", "Zm9v+",
                            "Zm9v/", "Zm9v.", "Zm9v\xc3\xa9", "=Zm9", "Zm=9v"}) {
        CAPTURE(bad);
        CHECK_FALSE(base64::url_decode(bad, out));
        CHECK(out.empty());
    }
    CHECK_FALSE(base64::url_decode(std::string("Zm\0v", 4), out));
}

TEST_CASE("non-zero trailing bits are non-canonical and rejected") {
    std::string out;
    CHECK(base64::url_decode("Zg", out));    // 'g' = 32: low 4 bits zero
    CHECK_FALSE(base64::url_decode("Zh", out));  // same byte, bit set in the unused part
    CHECK_FALSE(base64::url_decode("Zv", out));
    CHECK(base64::url_decode("Zm8", out));
    CHECK_FALSE(base64::url_decode("Zm9", out));  // '9' = 61: low 2 bits set
    CHECK_FALSE(base64::std_decode("Zh==", out));
    CHECK_FALSE(base64::std_decode("Zm9=", out));
}

TEST_CASE("standard base64 requires exact padding") {
    std::string out;
    for (const char *bad : {"Zg", "Zg=", "Zm8", "Zm8==", "Zm9v=", "Zm9v====", "Z===", "====", "Zg==Zg==", "Zm9v\n", "Zg=a"}) {
        CAPTURE(bad);
        CHECK_FALSE(base64::std_decode(bad, out));
    }
}

TEST_CASE("the raw-buffer decoder refuses to overflow its capacity") {
    uint8_t buf[3];
    size_t n = 0;
    CHECK(base64::url_decode("Zm9v", buf, sizeof buf, &n));
    CHECK(n == 3);
    CHECK_FALSE(base64::url_decode("Zm9vYg", buf, sizeof buf, &n));
}

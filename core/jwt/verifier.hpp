/**
 * @file verifier.hpp
 * @brief The ES256 JWT verifier: strict JWS compact parsing, pinned-algorithm header policy, key selection from
 * a static or remote JWKS, signature first, then the claims; an optional verified-token cache.
 *
 * Thread-safety: thread-safe and shareable (see remote_jwks.hpp and token_cache.hpp).
 */
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/constants.hpp"
#include "common/error.hpp"
#include "common/options.hpp"
#include "http/http.hpp"
#include "jwt/claims.hpp"
#include "jwt/key_set.hpp"

namespace cotter::core::jwt {

/// Size caps (docs/verifier.md): tokens beyond them are rejected before any decoding.
constexpr size_t k_max_token_bytes = 16 * 1024;
constexpr size_t k_max_header_bytes = 4 * 1024;  // decoded

/// The message of a missing audience (the core's check; with from_environment it adds where the value could come
/// from), and of the key-source check the C ABI makes before the core (a NULL string is not an empty one), so a
/// user sees one text whichever layer refuses.
inline constexpr const char *k_audience_required = "audience (your Cotter API key id) is required";
inline constexpr const char *k_one_key_source = "give exactly one key source: jwks (a JWKS document) or jwks_url";

/// Defaults and ranges: those of cotter_jwt_verifier_options (common/options.hpp, from capi/abi.json).
struct verifier_config {
    std::string audience;                      // required (from_environment: empty = $COTTER_API_KEY_ID)
    std::string issuer = k_default_issuer;
    int64_t leeway_seconds = options::jwt_verifier::leeway_seconds;
    std::string jwks_json;                     // exactly one of jwks_json / jwks_url
    std::string jwks_url;
    std::string ca_file;                       // from_environment: empty = $COTTER_CA_FILE
    /// 1: the two above are read from the environment when empty, as Cotter's helpers did; 0: never. Range 0..1.
    long from_environment = options::jwt_verifier::from_environment;
    int64_t jwks_max_age_ms = options::jwt_verifier::jwks_max_age_ms;
    int64_t jwks_cooldown_ms = options::jwt_verifier::jwks_cooldown_ms;
    int64_t jwks_timeout_ms = options::jwt_verifier::jwks_timeout_ms;
    size_t jwks_max_bytes = options::jwt_verifier::jwks_max_bytes;
    size_t token_cache_size = 0;
    std::function<int64_t()> clock;            // Unix seconds; empty = system clock
    std::function<void(int level, const std::string &message)> log;
};

class token_cache;
class remote_jwks;

class verifier {
public:
    /// Throws error(COTTER_EINVAL) for bad options and error(COTTER_EJWKS_INVALID) for a bad static key set.
    explicit verifier(verifier_config config);
    ~verifier();
    verifier(const verifier &) = delete;
    verifier &operator=(const verifier &) = delete;

    /// Verifies one compact JWS. On success and when `out` is non-null, *out receives the verified claims.
    /// Returns a cotter_status; never throws except std::bad_alloc.
    int verify(std::string_view token, std::shared_ptr<const claims> *out, error_info *err);

    /// Fetches a remote key set now (no-op for a static one).
    int refresh(error_info *err);
    /// The asynchronous form: `done` runs once with null on success or the error, on the I/O thread of the key
    /// set's transport, or inline when nothing needs fetching. Concurrent refreshes share one fetch. Returns a
    /// waiter id for cancel_refresh(), 0 when `done` already ran. timeout_ms > 0: the waiter's budget (ETIMEOUT).
    uint64_t refresh_async(std::function<void(const error_info *)> done, int64_t timeout_ms = -1);
    /// That waiter stops waiting (COTTER_ECANCELED); the fetch stops when nobody waits for it any more.
    void cancel_refresh(uint64_t id);
    /// The transport whose I/O thread completes refresh_async(); null for a static key set.
    const http::transport *io() const noexcept;

    /// The current key-set snapshot (null for a remote set not fetched yet).
    std::shared_ptr<const key_set> keys() const;
    /// Completed remote fetches (0 for a static set).
    uint64_t fetch_count() const noexcept;
    /// Entries in the verified-token cache.
    size_t cached_tokens() const;

private:
    int64_t now_seconds() const;
    int64_t now_ms() const;
    int check_claims(std::string_view payload_text, const char *payload, size_t payload_len, int64_t now,
                     const std::shared_ptr<const jwk> &key, std::shared_ptr<const claims> *out, error_info *err,
                     int64_t *deadline);

    verifier_config config_;
    std::shared_ptr<const key_set> static_keys_;
    std::unique_ptr<remote_jwks> remote_;
    std::unique_ptr<token_cache> cache_;
};

}  // namespace cotter::core::jwt

/**
 * @file token_cache.hpp
 * @brief The optional verified-token cache: full token bytes → shared verified claims, bounded (LRU per shard),
 * an entry usable only before its deadline (exp + leeway) and while the key that verified it is still in the
 * current key set. Off by default; see docs/verifier.md for why.
 */
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "jwt/claims.hpp"
#include "jwt/key_set.hpp"

namespace cotter::core::jwt {

class token_cache {
public:
    explicit token_cache(size_t capacity);
    ~token_cache();
    token_cache(const token_cache &) = delete;
    token_cache &operator=(const token_cache &) = delete;

    /// True when exactly these token bytes were verified and the entry is still usable; then `*out` (if non-null)
    /// shares its claims. Drops the entry when its deadline passed (`now` ≥ deadline) or its key left `current`.
    bool find(std::string_view token, int64_t now, const key_set &current, std::shared_ptr<const claims> *out);

    /// Remembers a verified token. `deadline`: first instant (Unix seconds) at which the token is expired.
    void insert(std::string_view token, std::shared_ptr<const claims> verified, std::shared_ptr<const jwk> key,
                int64_t deadline);

    size_t size() const;
    size_t capacity() const noexcept { return capacity_; }

private:
    struct entry {
        std::string token;  // wiped on removal: it is a bearer token
        std::shared_ptr<const claims> verified;
        std::shared_ptr<const jwk> key;
        int64_t deadline = 0;
    };
    struct shard {
        mutable std::mutex mu;
        std::list<entry> lru;  // front = most recently used
        std::unordered_map<std::string_view, std::list<entry>::iterator> index;  // views into entry::token
        size_t capacity = 0;
    };

    static void erase(shard &s, std::list<entry>::iterator it);
    shard &shard_for(size_t hash) noexcept { return shards_[hash % shards_.size()]; }

    size_t capacity_;
    std::vector<shard> shards_;
};

}  // namespace cotter::core::jwt

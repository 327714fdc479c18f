/**
 * @file token_cache.cpp
 * @brief Sharded LRU of verified tokens keyed on the full token bytes (never on a prefix or a hash alone:
 * fast-jwt GHSA-rp9m-7r4c-75qg).
 */
#include "jwt/token_cache.hpp"

#include <algorithm>
#include <functional>

#include "common/secure.hpp"

namespace cotter::core::jwt {

token_cache::token_cache(size_t capacity) : capacity_(capacity) {
    // Shards cut lock contention between threads; small caches keep one shard so LRU stays exact.
    const size_t n = capacity >= 256 ? 8 : 1;
    shards_ = std::vector<shard>(n);
    for (size_t i = 0; i < n; ++i) shards_[i].capacity = capacity / n + (i < capacity % n ? 1 : 0);
}

token_cache::~token_cache() {
    for (auto &s : shards_)
        for (auto &e : s.lru) wipe(e.token);
}

void token_cache::erase(shard &s, std::list<entry>::iterator it) {
    s.index.erase(std::string_view(it->token));
    wipe(it->token);
    s.lru.erase(it);
}

bool token_cache::find(std::string_view token, int64_t now, const key_set &current,
                       std::shared_ptr<const claims> *out) {
    const size_t h = std::hash<std::string_view>{}(token);
    shard &s = shard_for(h);
    std::lock_guard<std::mutex> lock(s.mu);
    auto found = s.index.find(token);  // compares the full bytes on a hash match
    if (found == s.index.end()) return false;
    auto it = found->second;
    const bool key_present =
        std::any_of(current.keys.begin(), current.keys.end(), [&](const auto &k) { return k == it->key; });
    if (now >= it->deadline || !key_present) {
        erase(s, it);
        return false;
    }
    s.lru.splice(s.lru.begin(), s.lru, it);
    if (out) *out = it->verified;
    return true;
}

void token_cache::insert(std::string_view token, std::shared_ptr<const claims> verified,
                         std::shared_ptr<const jwk> key, int64_t deadline) {
    const size_t h = std::hash<std::string_view>{}(token);
    shard &s = shard_for(h);
    if (s.capacity == 0) return;
    std::lock_guard<std::mutex> lock(s.mu);
    if (auto found = s.index.find(token); found != s.index.end()) erase(s, found->second);
    while (s.lru.size() >= s.capacity) erase(s, std::prev(s.lru.end()));
    s.lru.push_front(entry{std::string(token), std::move(verified), std::move(key), deadline});
    s.index.emplace(std::string_view(s.lru.front().token), s.lru.begin());
}

size_t token_cache::size() const {
    size_t n = 0;
    for (const auto &s : shards_) {
        std::lock_guard<std::mutex> lock(s.mu);
        n += s.lru.size();
    }
    return n;
}

}  // namespace cotter::core::jwt

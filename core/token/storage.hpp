/**
 * @file storage.hpp
 * @brief Where a session keeps its tokens: memory, a token file (the six-key `oauth_token` JSON of Cotter's
 * Python SDK, mode 0600, atomic replace, flock on a sidecar lock file), or user hooks.
 */
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "token/token_set.hpp"

namespace cotter::core::token {

/// Held while a session re-reads, refreshes and writes its tokens; released on destruction.
class storage_lock {
public:
    virtual ~storage_lock() = default;
};

class storage {
public:
    virtual ~storage() = default;
    /// Loads the stored set into `out`; false when nothing is stored. Throws COTTER_ESTORAGE / COTTER_EUSER.
    virtual bool load(token_set &out) = 0;
    /// Stores `t`, or deletes the stored tokens when `t` is null. Throws COTTER_ESTORAGE / COTTER_EUSER.
    virtual void save(const token_set *t) = 0;
    /// Excludes other processes sharing this storage (file storage); null when there is nothing to exclude.
    virtual std::unique_ptr<storage_lock> lock() { return nullptr; }
    /// As lock() without waiting: false when another process holds the lock (the caller tries again later).
    /// The event loop uses this form: it must never block on another process.
    virtual bool try_lock(std::unique_ptr<storage_lock> &out) {
        out = lock();
        return true;
    }
    /// Whether another party (process, hook) may change what is stored behind our back, so that a session
    /// re-reads it before refreshing.
    virtual bool shared() const { return false; }
};

/// Nothing persisted: the session's memory is the storage.
class memory_storage final : public storage {
public:
    bool load(token_set &) override { return false; }
    void save(const token_set *) override {}
};

/// A token file. Writes go to a temporary file in the same directory (mode 0600), which is fsync'ed, renamed over
/// the file, and the directory fsync'ed: a crash at any point leaves the old or the new file, never a torn one.
/// lock() takes flock(LOCK_EX) on "<file>.lock". A save first removes temporary files that a killed process left
/// behind (sessions save under the lock, so none can be in use). The file and the lock file are opened with
/// O_NOFOLLOW | O_NONBLOCK and must be regular files owned by the effective user (or root): a symlink, FIFO,
/// device or another user's file is COTTER_ESTORAGE, never followed, blocked on or trusted.
class file_storage final : public storage {
public:
    explicit file_storage(std::string path);
    bool load(token_set &out) override;
    void save(const token_set *t) override;
    std::unique_ptr<storage_lock> lock() override;
    bool try_lock(std::unique_ptr<storage_lock> &out) override;
    bool shared() const override { return true; }
    const std::string &path() const noexcept { return path_; }

private:
    std::unique_ptr<storage_lock> acquire(bool wait);
    std::string path_;
};

/// User hooks: `load` fills the JSON text (empty = nothing stored) and returns 0; `save` receives the JSON, or
/// null to delete. A non-zero return fails the operation with COTTER_EUSER.
class hook_storage final : public storage {
public:
    using load_fn = std::function<int(std::string &json)>;
    using save_fn = std::function<int(const std::string *json)>;
    hook_storage(load_fn load, save_fn save) : load_(std::move(load)), save_(std::move(save)) {}
    bool load(token_set &out) override;
    void save(const token_set *t) override;
    bool shared() const override { return static_cast<bool>(load_); }

private:
    load_fn load_;
    save_fn save_;
};

/// Largest token file or hook payload accepted.
constexpr size_t k_max_stored_bytes = 1024 * 1024;

}  // namespace cotter::core::token

/**
 * @file shared_store.hpp
 * @brief Sessions shared by a fleet through Redis (docs/shared-sessions.md): the key layout, the Lua scripts, and
 * the typed operations a session runs (read, acquire the lease, save with a compare-and-set on the version,
 * release, set, logout), over a tiny asynchronous adapter ("run this script with these keys and args").
 *
 * The store never blocks: every operation completes through a callback, on whichever thread the adapter completes
 * (a session posts it back to its client's I/O thread). Thread-safety: thread-safe.
 */
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/options.hpp"
#include "token/token_set.hpp"

namespace cotter::core::token {

/// One Lua script: its source and the SHA1 that EVALSHA names.
struct redis_script {
    const char *name;
    const char *source;
    std::string sha1;  // lower-case hex
};

/// A reply: COTTER_OK with the script's flat array of byte strings, or an error (COTTER_ESHARED_UNAVAILABLE...).
struct redis_reply {
    int code = COTTER_OK;
    std::string message;
    std::vector<secret_string> items;  // may hold tokens: wiped when dropped
};

/// What a store needs from a Redis client. eval() runs EVALSHA (EVAL on NOSCRIPT) and calls `done` exactly once,
/// inline or from any thread; it must not block for a round trip. Throwing means "not started".
class redis_adapter {
public:
    virtual ~redis_adapter() = default;
    virtual void eval(const redis_script &script, const std::vector<std::string> &keys,
                      const std::vector<secret_string> &args, std::function<void(redis_reply &&)> done) = 0;

    /// Whether wait() is implemented (a C adapter of version 2 with `wait`). Without it, waiters poll.
    virtual bool can_wait() const noexcept { return false; }
    /// Waits for a message on the pub/sub `channel` for at most `timeout_ms`, then calls `done` exactly once, inline or
    /// from any thread, with COTTER_OK (a message), COTTER_ETIMEOUT or COTTER_ESHARED_UNAVAILABLE (failed, or could
    /// not start). Must not block.
    virtual void wait(const std::string &channel, int64_t timeout_ms, std::function<void(int status)> done) {
        (void)channel;
        (void)timeout_ms;
        done(COTTER_ESHARED_UNAVAILABLE);
    }
};

/// Defaults and ranges: those of cotter_shared_store_options (common/options.hpp, from capi/abi.json).
struct shared_store_options {
    std::string key_prefix = "cotter";
    int64_t lease_ttl_ms = options::shared_store::lease_ttl_ms;
    int64_t wait_ms = options::shared_store::wait_ms;
};

/// The stored state of one session, as a script returned it.
struct shared_state {
    enum kind_t { missing, logged_out, tokens } kind = missing;
    std::string version;             // "" when missing
    std::shared_ptr<const token_set> set;  // when kind == tokens
};

/// The outcome of acquire().
struct lease_outcome {
    enum kind_t { missing, logged_out, fresh, leased, busy } kind = missing;
    shared_state state;     // fresh / leased: the stored set; busy: the version only
    int64_t lease_pttl_ms = 0;  // busy: the holder's remaining TTL
    std::string owner;      // leased: our owner token, for save() and release()
};

/// The outcome of save(): saved (the new version), or fenced (someone wrote a newer state: the current one).
struct save_outcome {
    bool saved = false;
    shared_state state;  // saved: version (and the set written); fenced: what the store holds now
};

class shared_store : public std::enable_shared_from_this<shared_store> {
public:
    template <class T>
    using done_fn = std::function<void(int code, error_info &&err, T &&value)>;

    shared_store(std::unique_ptr<redis_adapter> adapter, shared_store_options options);

    /// Checks a session id (1..200 printable ASCII without `{` `}`: the hash tag must stay intact). Throws EINVAL.
    static void check_session_id(const std::string &id);

    const shared_store_options &options() const noexcept { return options_; }

    void read(const std::string &id, done_fn<shared_state> done);
    /// `known_version`: the version the caller holds ("" = none); `fresh_after`: Unix seconds; a stored access
    /// token whose exp is beyond it is fresh. `force`: take the lease even when the stored set is newer and fresh.
    void acquire(const std::string &id, const std::string &known_version, int64_t fresh_after, bool force,
                 done_fn<lease_outcome> done);
    void save(const std::string &id, const std::string &owner, const std::string &expected_version,
              const token_set &t, done_fn<save_outcome> done);
    void release(const std::string &id, const std::string &owner, done_fn<bool> done);
    void set(const std::string &id, const token_set &t, done_fn<shared_state> done);
    void logout(const std::string &id, done_fn<shared_state> done);

    /// Whether waiters can be woken by the `changed` message (the adapter implements wait()); else they poll.
    bool can_wait() const noexcept { return adapter_->can_wait(); }
    /// Waits for the session's `changed` message, at most `timeout_ms`; `done(status)` once, from any thread, with
    /// COTTER_OK (a message: something was written), COTTER_ETIMEOUT or COTTER_ESHARED_UNAVAILABLE. A wake-up is a
    /// hint: the caller reads again whatever it says. The pending wait keeps the store (and its adapter) alive.
    void wait_changed(const std::string &id, int64_t timeout_ms, std::function<void(int status)> done);

    /// The keys of a session (docs/shared-sessions.md, "Key layout").
    std::string tokens_key(const std::string &id) const;
    std::string lease_key(const std::string &id) const;
    std::string channel(const std::string &id) const;

private:
    void run(const redis_script &s, std::vector<std::string> keys, std::vector<secret_string> args,
             std::function<void(redis_reply &&)> on_ok, std::function<void(int, error_info &&)> on_error);

    std::unique_ptr<redis_adapter> adapter_;
    shared_store_options options_;
};

/// The scripts, for tests and adapters that preload them (SCRIPT LOAD).
const std::vector<const redis_script *> &shared_store_scripts();

}  // namespace cotter::core::token

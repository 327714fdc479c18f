/**
 * @file session.cpp
 * @brief Token sessions (see session.hpp and docs/client.md, "Sessions").
 */
#include "token/session.hpp"

#include <ctime>

namespace cotter::core::token {

class session::flight_lock {
public:
    explicit flight_lock(session &s) : s_(s) {
        if (s_.flight_owner_.load() == std::this_thread::get_id())
            fail(COTTER_EINVAL, "a session cannot be refreshed, set or logged out from its tokens-changed callback");
        s_.refresh_mutex_.lock();
        s_.flight_owner_.store(std::this_thread::get_id());
    }
    ~flight_lock() {
        s_.flight_owner_.store(std::thread::id());
        s_.refresh_mutex_.unlock();
    }
    flight_lock(const flight_lock &) = delete;
    flight_lock &operator=(const flight_lock &) = delete;

private:
    session &s_;
};

session::session(client &c, session_options options, const token_set *initial)
    : client_(c), options_(std::move(options)) {
    if (options_.refresh_margin_seconds < 0 || options_.refresh_margin_seconds > 24 * 3600)
        fail(COTTER_EINVAL, "refresh_margin_seconds must be within 0..86400");
    if (!options_.store) options_.store = std::make_unique<memory_storage>();
    flight_lock flight(*this);
    auto lock = options_.store->lock();
    if (initial) {
        auto t = std::make_shared<const token_set>(*initial);
        options_.store->save(t.get());
        std::lock_guard<std::mutex> state(state_mutex_);
        tokens_ = std::move(t);
    } else {
        token_set loaded;
        if (options_.store->load(loaded)) {
            std::lock_guard<std::mutex> state(state_mutex_);
            tokens_ = std::make_shared<const token_set>(std::move(loaded));
        }
    }
}

int64_t session::now() const {
    if (options_.clock) return options_.clock();
    return static_cast<int64_t>(std::time(nullptr));
}

bool session::fresh(const token_set &t, int64_t at) const {
    // exp of the access token (unverified, scheduling only); a token without a readable exp is taken as valid:
    // refreshing blindly would rotate the refresh token for nothing.
    if (t.access_expires_at == 0) return true;
    return t.access_expires_at - options_.refresh_margin_seconds > at;
}

void session::publish(std::shared_ptr<const token_set> t) {
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        tokens_ = t;
    }
    if (options_.on_tokens_changed) options_.on_tokens_changed(t.get());
}

std::shared_ptr<const token_set> session::ensure(bool force) {
    uint64_t seen;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        if (!force && tokens_ && fresh(*tokens_, now())) return tokens_;
        seen = outcome_.count;
    }

    flight_lock flight(*this);
    {
        // A refresh finished while we waited for the lock: share its outcome instead of starting another.
        std::lock_guard<std::mutex> state(state_mutex_);
        // Its result is as new as it gets, even if the server sent an access token that is already stale.
        if (outcome_.count != seen) {
            if (!outcome_.ok) throw error(outcome_.err);
            if (tokens_) return tokens_;
        }
    }

    auto record_success = [&] {
        std::lock_guard<std::mutex> state(state_mutex_);
        ++outcome_.count;
        outcome_.ok = true;
        outcome_.err = error_info{};
    };

    std::shared_ptr<const token_set> current;
    uint64_t seen_at_start;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        seen_at_start = outcome_.count;  // only this flight changes it while we hold refresh_mutex_
    }
    try {
        auto lock = options_.store->lock();
        {
            std::lock_guard<std::mutex> state(state_mutex_);
            current = tokens_;
        }
        // Another process (or the owner of the hooks) may have refreshed already: its tokens win.
        if (options_.store->shared()) {
            token_set stored;
            if (options_.store->load(stored)) {
                const bool differs = !current || stored.refresh_token.str() != current->refresh_token.str() ||
                                     stored.access_token.str() != current->access_token.str();
                if (differs) {
                    current = std::make_shared<const token_set>(std::move(stored));
                    publish(current);
                    if (!force && fresh(*current, now())) {
                        record_success();
                        return current;
                    }
                }
            }
        }
        if (!current || current->refresh_token.empty())
            fail(COTTER_EREAUTH, current ? "no refresh token: log in again" : "no tokens: log in first");
        if (!rejected_refresh_token_.empty() && rejected_refresh_token_.str() == current->refresh_token.str())
            fail(COTTER_EREAUTH, "the refresh token was rejected earlier: log in again");

        std::shared_ptr<const token_set> next;
        try {
            next = std::make_shared<const token_set>(client_.refresh(current->refresh_token.str()));
        } catch (const error &e) {
            if (e.code() == COTTER_EREAUTH) rejected_refresh_token_ = current->refresh_token;
            throw;  // the stored tokens stay as they were
        }
        // Memory first: the old refresh token is now invalid server-side, so the new set must not be lost even
        // when storing it fails.
        publish(next);
        try {
            options_.store->save(next.get());
        } catch (const error &) {
            record_success();  // waiters may use the new tokens; this caller learns that storing failed
            throw;
        }
        record_success();
        return next;
    } catch (const error &e) {
        std::lock_guard<std::mutex> state(state_mutex_);
        if (outcome_.count == seen_at_start) {  // not yet recorded (a storage failure after a refresh was)
            ++outcome_.count;
            outcome_.ok = false;
            outcome_.err = e.info();
        }
        throw;
    } catch (const std::bad_alloc &) {
        std::lock_guard<std::mutex> state(state_mutex_);
        if (outcome_.count == seen_at_start) {
            ++outcome_.count;
            outcome_.ok = false;
            outcome_.err = error_info{};
            outcome_.err.code = COTTER_ENOMEM;
            outcome_.err.message = "out of memory";
        }
        throw;
    }
}

secret_string session::access_token() { return ensure(false)->access_token; }

std::shared_ptr<const token_set> session::tokens() { return ensure(false); }

std::shared_ptr<const token_set> session::refresh_now() { return ensure(true); }

void session::set(const token_set &t) {
    flight_lock flight(*this);
    auto lock = options_.store->lock();
    auto next = std::make_shared<const token_set>(t);
    rejected_refresh_token_ = secret_string();  // a new set may carry a working refresh token
    options_.store->save(next.get());
    publish(std::move(next));
}

void session::logout() {
    flight_lock flight(*this);
    auto lock = options_.store->lock();
    std::shared_ptr<const token_set> current;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        current = tokens_;
    }
    if (options_.store->shared()) {
        token_set stored;
        if (options_.store->load(stored)) current = std::make_shared<const token_set>(std::move(stored));
    }
    if (current && !current->refresh_token.empty()) {
        try {
            client_.logout(current->refresh_token.str());
        } catch (const error &) {
            // Best effort: the local tokens are deleted whatever the server said.
        }
    }
    options_.store->save(nullptr);
    publish(nullptr);
}

}  // namespace cotter::core::token

/**
 * @file session.cpp
 * @brief Token sessions (see session.hpp and docs/client.md, "Sessions"): a queue of operations run one at a time
 * on the client's I/O thread, callers waiting on them through callbacks.
 */
#include "token/session.hpp"

#include <algorithm>
#include <condition_variable>
#include <ctime>

#include "common/constants.hpp"

namespace cotter::core::token {
namespace {

enum op_kind { k_refresh, k_set, k_logout };

constexpr int64_t k_storage_lock_retry_ms = 10;  // another process holds the token file's lock: look again soon

error_info make_error(int code, std::string message) {
    error_info e;
    e.code = code;
    e.message = std::move(message);
    return e;
}

}  // namespace

/// A caller waiting for an operation. Exactly one of the two callbacks is set, and it runs once.
struct session::waiter {
    uint64_t id = 0;
    done_fn<tokens_ptr> done_tokens;
    done_fn<nothing> done_nothing;
    uint64_t timer = 0;

    void complete(const error_info *err, const tokens_ptr &t) {
        if (done_tokens) {
            outcome<tokens_ptr> out;
            if (err) {
                out.code = err->code;
                out.err = *err;
            } else {
                out.value = t;
            }
            auto fn = std::move(done_tokens);
            fn(std::move(out));
        } else if (done_nothing) {
            outcome<nothing> out;
            if (err) {
                out.code = err->code;
                out.err = *err;
            }
            auto fn = std::move(done_nothing);
            fn(std::move(out));
        }
    }
};

/// One queued operation. Refresh waiters that arrive while a refresh is queued or running join it.
struct session::op {
    int kind = k_refresh;
    bool force = false;
    bool started = false;
    token_set value;                 // for set
    std::vector<waiter> waiters;     // guarded by state_mutex_
};

namespace {
/// Waits on the calling thread (never the I/O thread: cotter_session_new runs on the caller's) for one store reply.
shared_state shared_first_load(shared_store &store, const std::string &id, const token_set *initial) {
    struct state {
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
        int code = COTTER_OK;
        error_info err;
        shared_state value;
    };
    auto st = std::make_shared<state>();
    auto done = [st](int code, error_info &&e, shared_state &&v) {
        std::lock_guard<std::mutex> lock(st->m);
        st->code = code;
        st->err = std::move(e);
        st->value = std::move(v);
        st->done = true;
        st->cv.notify_one();
    };
    if (initial) store.set(id, *initial, done);
    else store.read(id, done);
    std::unique_lock<std::mutex> lock(st->m);
    st->cv.wait(lock, [&] { return st->done; });
    if (st->code != COTTER_OK) throw error(std::move(st->err));
    return std::move(st->value);
}
}  // namespace

std::shared_ptr<session> session::create(std::shared_ptr<client> c, session_options options, const token_set *initial) {
    auto s = std::make_shared<session>(std::move(c), std::move(options));
    if (s->options_.shared) {
        // A new login replaces what the fleet shares; without one the session starts from what the store holds.
        shared_state first = shared_first_load(*s->options_.shared, s->options_.shared_id, initial);
        s->shared_version_ = first.version;
        if (first.kind == shared_state::tokens) s->tokens_ = first.set;
        return s;
    }
    // The first load or store runs on the calling thread, under the storage lock, before anyone can queue work.
    auto lock = s->options_.store->lock();
    if (initial) {
        auto t = std::make_shared<const token_set>(*initial);
        s->options_.store->save(t.get());
        s->tokens_ = std::move(t);
    } else {
        token_set loaded;
        if (s->options_.store->load(loaded)) s->tokens_ = std::make_shared<const token_set>(std::move(loaded));
    }
    return s;
}

session::session(std::shared_ptr<client> c, session_options options) : client_(std::move(c)), options_(std::move(options)) {
    if (!client_) fail(COTTER_EINVAL, "a session needs a client");
    core::options::check(core::options::session::refresh_margin_seconds_range, options_.refresh_margin_seconds);
    if (options_.shared) {
        if (options_.store) fail(COTTER_EINVAL, "a session with a shared store has no other storage (token file, hooks)");
        shared_store::check_session_id(options_.shared_id);
    }
    if (!options_.store) options_.store = std::make_unique<memory_storage>();
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

// ---- Queueing (any thread) ----------------------------------------------------------------------------------------

uint64_t session::tokens_async(bool force, done_fn<tokens_ptr> done, int64_t timeout_ms) {
    if (!force) {
        tokens_ptr current;
        {
            std::lock_guard<std::mutex> state(state_mutex_);
            current = tokens_;
        }
        if (current && fresh(*current, now())) {
            outcome<tokens_ptr> out;
            out.value = std::move(current);
            done(std::move(out));
            return 0;
        }
    }
    return enqueue(k_refresh, force, nullptr, nullptr, std::move(done), timeout_ms);
}

uint64_t session::set_async(const token_set &t, done_fn<nothing> done, int64_t timeout_ms) {
    return enqueue(k_set, false, &t, std::move(done), nullptr, timeout_ms);
}

uint64_t session::logout_async(done_fn<nothing> done, int64_t timeout_ms) {
    return enqueue(k_logout, false, nullptr, std::move(done), nullptr, timeout_ms);
}

uint64_t session::enqueue(int kind, bool force, const token_set *value, done_fn<nothing> done_nothing,
                          done_fn<tokens_ptr> done_tokens, int64_t timeout_ms) {
    waiter w;
    w.done_nothing = std::move(done_nothing);
    w.done_tokens = std::move(done_tokens);
    bool start = false;
    uint64_t id;
    const int64_t at = kind == k_refresh && !force ? now() : 0;  // the clock is user code: never under our lock
    {
        std::unique_lock<std::mutex> state(state_mutex_);
        // The tokens may have been refreshed since the caller looked (publish() and finish() take this lock).
        if (kind == k_refresh && !force && tokens_ && fresh(*tokens_, at)) {
            outcome<tokens_ptr> out;
            out.value = tokens_;
            state.unlock();
            w.done_tokens(std::move(out));
            return 0;
        }
        id = w.id = next_waiter_id_++;
        std::shared_ptr<op> target;
        if (kind == k_refresh) {
            // Join the refresh in flight (its result is as new as it gets), or one queued behind other work.
            if (!ops_.empty() && ops_.front()->kind == k_refresh && ops_.front()->started) target = ops_.front();
            else if (!ops_.empty() && ops_.back()->kind == k_refresh && !ops_.back()->started) target = ops_.back();
        }
        if (!target) {
            target = std::make_shared<op>();
            target->kind = kind;
            if (value) target->value = *value;
            ops_.push_back(target);
        }
        if (!target->started) target->force = target->force || force;
        if (timeout_ms > 0) {
            std::weak_ptr<session> weak = weak_from_this();
            w.timer = client_->transport().schedule(timeout_ms, [weak, id] {
                if (auto self = weak.lock())
                    self->end_wait(id, COTTER_ETIMEOUT, "timed out waiting for the session (the operation goes on)");
            });
        }
        target->waiters.push_back(std::move(w));
        if (!busy_) busy_ = start = true;
    }
    if (start) client_->transport().post([self = shared_from_this()] { self->run_next(); });
    return id;
}

void session::cancel_wait(uint64_t id) { end_wait(id, COTTER_ECANCELED, "the call was cancelled"); }

void session::end_wait(uint64_t id, int code, const char *message) {
    if (id == 0) return;
    waiter found;
    bool have = false;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        for (auto &o : ops_) {
            for (auto it = o->waiters.begin(); it != o->waiters.end(); ++it) {
                if (it->id != id) continue;
                found = std::move(*it);
                o->waiters.erase(it);
                have = true;
                break;
            }
            if (have) break;
        }
    }
    if (!have) return;
    if (found.timer && code != COTTER_ETIMEOUT) client_->transport().cancel_timer(found.timer);
    // Completed on the I/O thread like every other completion, whichever thread cancels.
    auto w = std::make_shared<waiter>(std::move(found));
    client_->transport().post([w, err = make_error(code, message)] { w->complete(&err, nullptr); });
}

// ---- Operations (I/O thread) --------------------------------------------------------------------------------------

void session::run_next() {
    std::shared_ptr<op> o;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        if (ops_.empty()) {
            busy_ = false;
            return;
        }
        o = ops_.front();
        o->started = true;
    }
    execute(o);
}

void session::execute(const std::shared_ptr<op> &o) {
    try {
        // Another process may hold the token file's lock for its own refresh: look again shortly rather than
        // block the I/O thread (every other request of the client runs on it).
        if (options_.shared) {  // the store's lease replaces the token file's lock
            if (o->kind == k_refresh) shared_acquire(o, 0);
            else if (o->kind == k_set) shared_set(o);
            else shared_logout(o);
            return;
        }
        if (!storage_lock_ && !options_.store->try_lock(storage_lock_)) {
            client_->transport().schedule(k_storage_lock_retry_ms, [self = shared_from_this(), o] { self->execute(o); });
            return;
        }
        if (o->kind == k_refresh) execute_refresh(o);
        else if (o->kind == k_set) execute_set(o);
        else execute_logout(o);
    } catch (const error &e) {
        finish(o, &e.info());
    } catch (const std::bad_alloc &) {
        const error_info err = make_error(COTTER_ENOMEM, "out of memory");
        finish(o, &err);
    } catch (const std::exception &e) {
        const error_info err = make_error(COTTER_EINTERNAL, e.what());
        finish(o, &err);
    }
}

void session::publish(tokens_ptr t) {
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        tokens_ = t;
    }
    if (options_.on_tokens_changed) options_.on_tokens_changed(t.get());
}

void session::execute_refresh(const std::shared_ptr<op> &o) {
    tokens_ptr current;
    bool force;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        current = tokens_;
        force = o->force;
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
                    finish(o, nullptr);
                    return;
                }
            }
        }
    }
    // Queued behind a refresh that has just finished (a caller saw the old tokens, then the flight landed before
    // it joined): that refresh's tokens serve it, nothing is sent.
    if (!force && current && fresh(*current, now())) {
        finish(o, nullptr);
        return;
    }
    if (!current || current->refresh_token.empty())
        fail(COTTER_EREAUTH, current ? "no refresh token: log in again" : "no tokens: log in first");
    if (!rejected_refresh_token_.empty() && rejected_refresh_token_.str() == current->refresh_token.str())
        fail(COTTER_EREAUTH, "the refresh token was rejected earlier: log in again");
    bool abandoned;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        abandoned = o->waiters.empty();
    }
    if (abandoned) {  // everyone gave up before anything was sent: nothing to do, and nothing is lost
        finish(o, nullptr);
        return;
    }
    send_refresh(o, current->refresh_token, false);
}

namespace {
/// A refresh that failed after the request may have reached the server: the server may have rotated the token and
/// the answer was lost (reset, cut short, garbled, or no answer in time).
bool answer_may_be_lost(int code) {
    return code == COTTER_ENETWORK || code == COTTER_ETIMEOUT || code == COTTER_EPROTOCOL;
}
}  // namespace

void session::send_refresh(const std::shared_ptr<op> &o, secret_string used, bool retried) {
    client_->refresh_async(used.str(), [self = shared_from_this(), o, used, retried](outcome<token_set> &&r) mutable {
        if (r.code != COTTER_OK) {
            // The answer to a rotation may have been lost: present the same token once more at once. A server with
            // a reuse grace window (RFC 9700 §4.14.2) answers with the current set; without one the retry is
            // refused, which is where the session stood anyway (its refresh token was rotated away).
            if (!retried && answer_may_be_lost(r.code)) {
                try {
                    self->send_refresh(o, std::move(used), true);
                    return;
                } catch (...) {
                    // Could not even start the retry: report the first failure.
                }
            }
            if (r.code == COTTER_EREAUTH) self->rejected_refresh_token_ = used;
            self->finish(o, &r.err);  // the stored tokens stay as they were
            return;
        }
        // Memory first: the old refresh token is now invalid server-side, so the new set must not be lost even
        // when storing it fails.
        auto next = std::make_shared<const token_set>(std::move(r.value));
        try {
            self->publish(next);
            self->options_.store->save(next.get());
        } catch (const error &e) {
            // Waiters may use the new tokens; the caller that started the refresh learns that storing failed.
            self->finish(o, nullptr, &e.info());
            return;
        } catch (...) {
            const error_info err = make_error(COTTER_ENOMEM, "out of memory while storing the new tokens");
            self->finish(o, nullptr, &err);
            return;
        }
        self->finish(o, nullptr);
    });
}

void session::execute_set(const std::shared_ptr<op> &o) {
    auto next = std::make_shared<const token_set>(o->value);
    rejected_refresh_token_ = secret_string();  // a new set may carry a working refresh token
    options_.store->save(next.get());
    publish(std::move(next));
    finish(o, nullptr);
}

void session::execute_logout(const std::shared_ptr<op> &o) {
    tokens_ptr current;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        current = tokens_;
    }
    if (options_.store->shared()) {
        token_set stored;
        if (options_.store->load(stored)) current = std::make_shared<const token_set>(std::move(stored));
    }
    auto forget = [self = shared_from_this(), o] {
        try {
            self->options_.store->save(nullptr);
            self->publish(nullptr);
        } catch (const error &e) {
            self->finish(o, &e.info());
            return;
        } catch (...) {
            const error_info err = make_error(COTTER_ENOMEM, "out of memory");
            self->finish(o, &err);
            return;
        }
        self->finish(o, nullptr);
    };
    if (!current || current->refresh_token.empty()) {
        forget();
        return;
    }
    // Best effort: the local tokens are deleted whatever the server says.
    client_->logout_async(current->refresh_token.str(), [forget](outcome<nothing> &&) mutable { forget(); });
}

void session::finish(const std::shared_ptr<op> &o, const error_info *err, const error_info *first_err) {
    storage_lock_.reset();
    std::vector<waiter> waiters;
    tokens_ptr result;
    bool more;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        waiters.swap(o->waiters);
        if (!ops_.empty() && ops_.front() == o) ops_.pop_front();
        result = tokens_;
        more = !ops_.empty();
        if (!more) busy_ = false;
    }
    for (size_t i = 0; i < waiters.size(); ++i) {
        waiter &w = waiters[i];
        if (w.timer) client_->transport().cancel_timer(w.timer);
        const error_info *e = err ? err : (i == 0 ? first_err : nullptr);
        if (!e && o->kind == k_refresh && !result) {
            const error_info none = make_error(COTTER_EREAUTH, "no tokens: log in first");
            w.complete(&none, nullptr);
            continue;
        }
        w.complete(e, result);
    }
    if (more) run_next();
}

// ---- Shared store (docs/shared-sessions.md; I/O thread) -----------------------------------------------------------

namespace {
constexpr int64_t k_first_wait_ms = 5;  // a waiter's first look again; doubled up to the store's wait_ms

bool same_tokens(const token_set *a, const token_set *b) {
    if (!a || !b) return a == b;
    return a->access_token.str() == b->access_token.str() && a->refresh_token.str() == b->refresh_token.str();
}
}  // namespace

void session::on_io(const std::shared_ptr<op> &o, std::function<void()> step) {
    // Redis answers on the adapter's thread (or inline): the operation goes on on the I/O thread, one step at a time.
    client_->transport().post([self = shared_from_this(), o, step = std::move(step)] {
        try {
            step();
        } catch (const error &e) {
            self->finish(o, &e.info());
        } catch (const std::bad_alloc &) {
            const error_info err = make_error(COTTER_ENOMEM, "out of memory");
            self->finish(o, &err);
        } catch (const std::exception &e) {
            const error_info err = make_error(COTTER_EINTERNAL, e.what());
            self->finish(o, &err);
        }
    });
}

void session::shared_adopt(const shared_state &s) {
    shared_version_ = s.version;
    tokens_ptr current;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        current = tokens_;
    }
    if (s.kind == shared_state::tokens && !same_tokens(current.get(), s.set.get())) publish(s.set);
    if (s.kind == shared_state::logged_out && current) publish(nullptr);
}

void session::shared_release(const std::string &owner) {
    // Fire and forget: a lease we fail to release expires by itself.
    options_.shared->release(options_.shared_id, owner, [](int, error_info &&, bool &&) {});
}

void session::shared_acquire(const std::shared_ptr<op> &o, int attempt) {
    bool force;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        force = o->force;
    }
    const int64_t fresh_after = now() + options_.refresh_margin_seconds;
    options_.shared->acquire(
        options_.shared_id, shared_version_, fresh_after, force,
        [self = shared_from_this(), o, attempt](int code, error_info &&e, lease_outcome &&l) {
            self->on_io(o, [self, o, attempt, code, e = std::move(e), l = std::move(l)]() mutable {
                if (code != COTTER_OK) {
                    self->finish(o, &e);  // COTTER_ESHARED_UNAVAILABLE: never a local refresh, which could fork
                    return;
                }
                switch (l.kind) {
                case lease_outcome::missing:
                    fail(COTTER_EREAUTH, "the shared store holds no tokens for this session (never stored, or Redis "
                                         "lost its data): log in again");
                case lease_outcome::logged_out:
                    self->shared_adopt(l.state);
                    fail(COTTER_EREAUTH, "the session was logged out (on another replica): log in again");
                case lease_outcome::fresh:  // another replica refreshed: its set serves us, no lease was taken
                    self->shared_adopt(l.state);
                    self->finish(o, nullptr);
                    return;
                case lease_outcome::busy: {
                    bool abandoned;
                    {
                        std::lock_guard<std::mutex> state(self->state_mutex_);
                        abandoned = o->waiters.empty();
                    }
                    if (abandoned) {
                        self->finish(o, nullptr);
                        return;
                    }
                    self->shared_wait(o, attempt, l.lease_pttl_ms);
                    return;
                }
                case lease_outcome::leased:
                    self->shared_leased(o, std::move(l));
                    return;
                }
            });
        });
}

void session::shared_wait(const std::shared_ptr<op> &o, int attempt, int64_t lease_pttl_ms) {
    // Bounded wait, then read again: never only a notification, never past the holder's lease. The bound follows the
    // polling schedule (5 ms, doubling up to wait_ms): a lost wake-up (the holder published before our SUBSCRIBE was
    // active, or between our `busy` and this wait) costs what a poll would have; a message only makes it earlier.
    int64_t bound = options_.shared->options().wait_ms;
    if (lease_pttl_ms > 0) bound = std::min(bound, lease_pttl_ms);
    if (!options_.shared->can_wait()) {
        shared_poll(o, attempt, bound);
        return;
    }
    const int64_t step = poll_delay(attempt, bound);
    auto woken = [self = shared_from_this(), o, attempt, bound, step](int status) {
        self->on_io(o, [self, o, attempt, bound, step, status] {
            bool abandoned;
            {
                std::lock_guard<std::mutex> state(self->state_mutex_);
                abandoned = o->waiters.empty();
            }
            if (status == COTTER_OK) self->shared_log("shared session: woken by the store's message; reading again");
            else if (status == COTTER_ETIMEOUT)
                self->shared_log("shared session: no message within " + std::to_string(step) + " ms; reading again");
            else self->shared_log("shared session: the wait for the store's message failed; polling");
            if (abandoned) {  // every caller gave up: no round trip for nobody
                self->finish(o, nullptr);
                return;
            }
            // A failed wait may fail at once again: poll (with its backoff) rather than spin on Redis.
            if (status == COTTER_ESHARED_UNAVAILABLE) self->shared_poll(o, attempt, bound);
            else self->shared_acquire(o, attempt + 1);
        });
    };
    options_.shared->wait_changed(options_.shared_id, step, std::move(woken));
}

int64_t session::poll_delay(int attempt, int64_t bound) {
    // 5 ms, doubling up to `bound` (wait_ms, or the holder's remaining lease).
    const int shift = attempt < 16 ? attempt : 16;
    return std::max<int64_t>(std::min<int64_t>(k_first_wait_ms << shift, bound), 1);
}

void session::shared_poll(const std::shared_ptr<op> &o, int attempt, int64_t bound) {
    client_->transport().schedule(poll_delay(attempt, bound), [self = shared_from_this(), o, attempt] {
        try {
            self->shared_acquire(o, attempt + 1);
        } catch (const error &err) {
            self->finish(o, &err.info());
        } catch (...) {
            const error_info err = make_error(COTTER_ENOMEM, "out of memory");
            self->finish(o, &err);
        }
    });
}

void session::shared_log(const std::string &message) const noexcept {
    const auto &log = client_->transport().options().log;
    if (!log) return;
    try {
        log(COTTER_LOG_DEBUG, message);
    } catch (...) {
        // A log sink must not break a refresh.
    }
}

void session::shared_leased(const std::shared_ptr<op> &o, lease_outcome &&l) {
    const std::string owner = l.owner;
    const std::string version = l.state.version;
    const tokens_ptr stored = l.state.set;
    bool force, abandoned;
    {
        std::lock_guard<std::mutex> state(state_mutex_);
        force = o->force;
        abandoned = o->waiters.empty();
    }
    // The store is the truth: what it holds now (re-read under the lease) is what we refresh, or serve.
    shared_adopt(l.state);
    const char *reauth = nullptr;
    if (stored->refresh_token.empty()) reauth = "no refresh token in the shared store: log in again";
    else if (!rejected_refresh_token_.empty() && rejected_refresh_token_.str() == stored->refresh_token.str())
        reauth = "the refresh token was rejected earlier: log in again";
    if (reauth || abandoned || (!force && fresh(*stored, now()))) {
        shared_release(owner);
        if (reauth) fail(COTTER_EREAUTH, reauth);
        finish(o, nullptr);
        return;
    }
    // The request must have ended (answered or abandoned) before the lease can expire: 3/4 of its TTL.
    const int64_t budget = options_.shared->options().lease_ttl_ms * 3 / 4;
    secret_string used = stored->refresh_token;
    client_->refresh_async(
        used.str(),
        [self = shared_from_this(), o, owner, version, used](outcome<token_set> &&r) {
            try {
                if (r.code != COTTER_OK) {
                    // Nothing was written; the lease goes so that the next replica need not wait for its TTL. (No
                    // resend of a lost answer here: the next refresh, by any replica, re-reads the store first.)
                    if (r.code == COTTER_EREAUTH) self->rejected_refresh_token_ = used;
                    self->shared_release(owner);
                    self->finish(o, &r.err);
                    return;
                }
                self->shared_save(o, owner, version, std::make_shared<const token_set>(std::move(r.value)));
            } catch (const error &e) {
                self->finish(o, &e.info());
            } catch (...) {
                const error_info err = make_error(COTTER_ENOMEM, "out of memory");
                self->finish(o, &err);
            }
        },
        budget);
}

void session::shared_save(const std::shared_ptr<op> &o, const std::string &owner, const std::string &version,
                          tokens_ptr next) {
    options_.shared->save(
        options_.shared_id, owner, version, *next,
        [self = shared_from_this(), o, next](int code, error_info &&e, save_outcome &&s) {
            self->on_io(o, [self, o, next, code, e = std::move(e), s = std::move(s)]() mutable {
                if (code != COTTER_OK) {
                    // The server rotated the token: the new set must not be lost here, even though the fleet could
                    // not be told. The caller that started the refresh learns it; the others get the tokens.
                    self->publish(next);
                    self->finish(o, nullptr, &e);
                    return;
                }
                if (s.saved) {
                    self->shared_version_ = s.state.version;
                    self->publish(next);
                    self->finish(o, nullptr);
                    return;
                }
                // Fenced: a newer state was written while we refreshed (a replica that took over an expired lease,
                // a new login, a logout). Our late tokens are dropped, never written over it.
                self->shared_adopt(s.state);
                if (s.state.kind == shared_state::missing)
                    fail(COTTER_EREAUTH, "the shared store holds no tokens for this session (Redis lost its data): "
                                         "log in again");
                if (s.state.kind == shared_state::logged_out)
                    fail(COTTER_EREAUTH, "the session was logged out (on another replica): log in again");
                self->finish(o, nullptr);
            });
        });
}

void session::shared_set(const std::shared_ptr<op> &o) {
    auto next = std::make_shared<const token_set>(o->value);
    options_.shared->set(options_.shared_id, *next,
                         [self = shared_from_this(), o, next](int code, error_info &&e, shared_state &&s) {
                             self->on_io(o, [self, o, next, code, e = std::move(e), s = std::move(s)]() mutable {
                                 if (code != COTTER_OK) {
                                     self->finish(o, &e);
                                     return;
                                 }
                                 self->rejected_refresh_token_ = secret_string();
                                 self->shared_version_ = s.version;
                                 self->publish(next);
                                 self->finish(o, nullptr);
                             });
                         });
}

void session::shared_logout(const std::shared_ptr<op> &o) {
    // The stored refresh token ends the login at the server (best effort), then the tombstone tells the fleet.
    options_.shared->read(options_.shared_id, [self = shared_from_this(), o](int code, error_info &&e, shared_state &&s) {
        self->on_io(o, [self, o, code, e = std::move(e), s = std::move(s)]() mutable {
            if (code != COTTER_OK) {
                self->finish(o, &e);
                return;
            }
            auto forget = [self, o] {
                self->options_.shared->logout(self->options_.shared_id, [self, o](int c, error_info &&err, shared_state &&out) {
                    self->on_io(o, [self, o, c, err = std::move(err), out = std::move(out)]() mutable {
                        if (c != COTTER_OK) {
                            self->finish(o, &err);
                            return;
                        }
                        self->shared_version_ = out.version;
                        self->publish(nullptr);
                        self->finish(o, nullptr);
                    });
                });
            };
            tokens_ptr current = s.kind == shared_state::tokens ? s.set : nullptr;
            if (!current) {
                std::lock_guard<std::mutex> state(self->state_mutex_);
                current = self->tokens_;
            }
            if (!current || current->refresh_token.empty()) {
                forget();
                return;
            }
            self->client_->logout_async(current->refresh_token.str(), [forget](outcome<nothing> &&) { forget(); });
        });
    });
}

// ---- Blocking forms -----------------------------------------------------------------------------------------------

template <class T>
T session::wait_blocking(const char *what, const std::function<uint64_t(done_fn<T>)> &start) {
    struct state {
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
        outcome<T> out;
    };
    auto st = std::make_shared<state>();
    auto done = [st](outcome<T> &&o) {
        std::lock_guard<std::mutex> lock(st->m);
        st->out = std::move(o);
        st->done = true;
        st->cv.notify_one();
    };
    if (client_->transport().on_io_thread()) {
        // Only an answer that needs no waiting is possible here (a fresh token); anything else would wait for the
        // thread we are on.
        fail(COTTER_EINVAL, std::string("a session cannot ") + what +
                                " from a callback on the client's I/O thread (it would wait for itself)");
    }
    start(done);
    std::unique_lock<std::mutex> lock(st->m);
    st->cv.wait(lock, [&] { return st->done; });
    if (st->out.code != COTTER_OK) throw error(std::move(st->out.err));
    return std::move(st->out.value);
}

tokens_ptr session::tokens() {
    if (client_->transport().on_io_thread()) {
        tokens_ptr current;
        {
            std::lock_guard<std::mutex> state(state_mutex_);
            current = tokens_;
        }
        if (current && fresh(*current, now())) return current;
    }
    return wait_blocking<tokens_ptr>("be refreshed", [&](done_fn<tokens_ptr> d) { return tokens_async(false, std::move(d)); });
}

secret_string session::access_token() { return tokens()->access_token; }

tokens_ptr session::refresh_now() {
    return wait_blocking<tokens_ptr>("be refreshed", [&](done_fn<tokens_ptr> d) { return tokens_async(true, std::move(d)); });
}

void session::set(const token_set &t) {
    wait_blocking<nothing>("be set", [&](done_fn<nothing> d) { return set_async(t, std::move(d)); });
}

void session::logout() {
    wait_blocking<nothing>("be logged out", [&](done_fn<nothing> d) { return logout_async(std::move(d)); });
}

}  // namespace cotter::core::token

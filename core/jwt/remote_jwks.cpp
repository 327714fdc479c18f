/**
 * @file remote_jwks.cpp
 * @brief Remote JWKS fetching and caching (policy and defaults in docs/verifier.md, "Remote key sets").
 */
#include "jwt/remote_jwks.hpp"

#include <algorithm>
#include <cctype>

#include "common/constants.hpp"
#include "common/status.hpp"

namespace cotter::core::jwt {
namespace {

// Cache-Control max-age in milliseconds; 0 for no-cache / no-store; -1 when the header says nothing usable.
int64_t cache_control_max_age_ms(const std::string *value) {
    if (!value) return -1;
    std::string v(*value);
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (v.find("no-store") != std::string::npos || v.find("no-cache") != std::string::npos) return 0;
    for (size_t pos = v.find("max-age="); pos != std::string::npos; pos = v.find("max-age=", pos + 1)) {
        if (pos > 0 && v[pos - 1] == '-') continue;  // s-maxage is for shared caches, not us
        size_t i = pos + 8;
        int64_t seconds = 0;
        bool any = false;
        while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) {
            any = true;
            if (seconds < 100000000) seconds = seconds * 10 + (v[i] - '0');
            ++i;
        }
        if (any) return seconds * 1000;
    }
    return -1;
}

http::transport_options transport_options_for(const remote_jwks_options &o) {
    http::transport_options t;
    t.ca_file = o.ca_file;
    t.connect_timeout_ms = o.timeout_ms;
    t.timeout_ms = o.timeout_ms;
    t.max_response_bytes = o.max_bytes;
    t.allow_plain_http_to_loopback = true;
    t.allow_plain_http = false;
    // One attempt per fetch: a verification waiting on it must not sit through a retry schedule, and the
    // cooldown already spaces fetches.
    t.max_retries = 0;
    if (o.log) t.log = o.log;
    return t;
}

const std::string &checked_url(const std::string &url) {
    const bool https = url.rfind("https://", 0) == 0;
    if (!https && !(url.rfind("http://", 0) == 0 && http::is_loopback_url(url)))
        fail(COTTER_EINVAL, "jwks_url must be https (or http to a loopback host)");
    return url;
}

}  // namespace

remote_jwks::remote_jwks(remote_jwks_options options)
    : options_((checked_url(options.url), std::move(options))), transport_(transport_options_for(options_)) {}

remote_jwks::~remote_jwks() = default;

void remote_jwks::log(int level, const std::string &message) const {
    if (options_.log) options_.log(level, message);
}

std::shared_ptr<const key_set> remote_jwks::snapshot() const { return std::atomic_load(&keys_); }

http::request remote_jwks::make_request(std::shared_ptr<const key_set> &previous, std::string &etag) {
    http::request req;
    req.method = "GET";
    req.url = options_.url;
    req.headers.push_back({"Accept", "application/json"});
    req.idempotent = true;
    req.timeout_ms = options_.timeout_ms;
    // A conditional refetch: an unchanged key set costs the server a 304 and us no parsing.
    previous = snapshot();
    {
        std::lock_guard<std::mutex> lock(mu_);
        etag = etag_;
    }
    if (previous && !etag.empty()) req.headers.push_back({"If-None-Match", etag});
    return req;
}

int remote_jwks::absorb(int rc, http::response &resp, const error_info &transport_err,
                        const std::shared_ptr<const key_set> &previous, const std::string &etag,
                        std::shared_ptr<const key_set> &out, int64_t &max_age_ms, error_info &err) {
    if (rc != COTTER_OK) {
        err.code = COTTER_EJWKS_UNAVAILABLE;
        err.message = "JWKS fetch failed (" + std::string(status_name(rc)) + "): " + transport_err.message;
        return err.code;
    }
    if (resp.status == 304 && previous && !etag.empty()) {
        out = previous;
    } else if (resp.status != 200) {
        err.code = COTTER_EJWKS_UNAVAILABLE;
        err.http_status = static_cast<int>(resp.status);
        err.message = "JWKS fetch: HTTP " + std::to_string(resp.status) +
                      (resp.status >= 300 && resp.status < 400 ? " (redirects are not followed)" : "");
        return err.code;
    } else {
        if (int prc = parse_jwks(resp.body, previous.get(), out, &err); prc != COTTER_OK) return prc;
        const std::string *tag = resp.find_header("ETag");
        // Kept only when short and printable: it goes back into a request header.
        std::string new_etag;
        if (tag && tag->size() <= 256 &&
            std::all_of(tag->begin(), tag->end(), [](char c) { return c >= 0x20 && c < 0x7f; }))
            new_etag = *tag;
        std::lock_guard<std::mutex> lock(mu_);
        etag_ = new_etag;
    }
    const int64_t cc = cache_control_max_age_ms(resp.find_header("Cache-Control"));
    max_age_ms = cc < 0 ? options_.max_age_ms : std::min(cc, options_.max_age_ms);
    return COTTER_OK;
}

void remote_jwks::record(std::unique_lock<std::mutex> &lock, int rc, std::shared_ptr<const key_set> fetched,
                         int64_t max_age_ms, const error_info &err, int64_t now_ms) {
    // Logged without the lock: a slow log callback must not stall other verifications.
    if (rc == COTTER_OK)
        log(COTTER_LOG_DEBUG, "JWKS fetched: " + std::to_string(fetched->keys.size()) + " keys");
    else
        log(COTTER_LOG_WARNING, err.message + (snapshot() ? "; keeping the last-good keys" : "; no keys available"));
    lock.lock();
    fetched_once_ = true;
    last_fetch_ms_.store(now_ms);
    fetches_.fetch_add(1);
    if (rc == COTTER_OK) {
        fresh_until_ms_.store(now_ms + max_age_ms);
        std::atomic_store(&keys_, std::shared_ptr<const key_set>(fetched));
        last_error_ = error_info{};
    } else {
        last_error_ = err;
    }
    fetching_ = false;
    fetch_done_.notify_all();
}

int remote_jwks::fetch_locked(std::unique_lock<std::mutex> &lock, int64_t now_ms) {
    fetching_ = true;
    lock.unlock();
    std::shared_ptr<const key_set> fetched;
    int64_t max_age_ms = 0;
    error_info err;
    int rc = COTTER_EINTERNAL;
    try {
        std::shared_ptr<const key_set> previous;
        std::string etag;
        http::request req = make_request(previous, etag);
        http::response resp;
        error_info transport_err;
        const int trc = transport_.perform(req, resp, &transport_err);
        rc = absorb(trc, resp, transport_err, previous, etag, fetched, max_age_ms, err);
    } catch (const std::bad_alloc &) {
        rc = err.code = COTTER_ENOMEM;
        err.message = "out of memory while fetching the JWKS";
    } catch (const std::exception &e) {
        rc = err.code = COTTER_EJWKS_UNAVAILABLE;
        err.message = std::string("JWKS fetch failed: ") + e.what();
    }
    record(lock, rc, std::move(fetched), max_age_ms, err, now_ms);
    std::vector<async_waiter> waiters;
    waiters.swap(async_waiters_);
    const error_info outcome = last_error_;
    lock.unlock();
    for (auto &w : waiters) w.done(rc == COTTER_OK ? nullptr : &outcome);
    lock.lock();
    return rc;
}

void remote_jwks::wait_for_fetch(std::unique_lock<std::mutex> &lock) {
    ++sync_waiting_;
    fetch_done_.wait(lock, [&] { return !fetching_; });
    --sync_waiting_;
}

int remote_jwks::current(int64_t now_ms, std::shared_ptr<const key_set> &out, error_info *err) {
    out = snapshot();
    // The hot path, without the lock: fresh keys, or stale keys while the last attempt is within the cooldown
    // (an outage then costs no lock per verification). Keys exist only after a fetch, so last_fetch_ms_ is set.
    if (out && (now_ms < fresh_until_ms_.load() || now_ms - last_fetch_ms_.load() < options_.cooldown_ms))
        return COTTER_OK;

    std::unique_lock<std::mutex> lock(mu_);
    bool waited = false;
    for (;;) {
        out = keys_;
        if (out && now_ms < fresh_until_ms_.load()) return COTTER_OK;
        if (fetching_) {
            if (out) return COTTER_OK;  // stale keys serve while another thread refreshes them
            wait_for_fetch(lock);
            waited = true;
            continue;
        }
        const bool cooling = fetched_once_ && now_ms - last_fetch_ms_.load() < options_.cooldown_ms;
        if (out) {
            if (cooling) {
                return COTTER_OK;  // stale, but the last attempt was recent: don't hammer the server
            }
            if (fetch_locked(lock, now_ms) != COTTER_OK) {
                out = keys_;
                lock.unlock();
                log(COTTER_LOG_WARNING, "using stale JWKS keys after a failed refresh");
                return COTTER_OK;
            }
            continue;
        }
        if (cooling || waited) {
            error_info e = last_error_;
            e.code = COTTER_EJWKS_UNAVAILABLE;
            if (e.message.empty()) e.message = "JWKS unavailable";
            if (err) *err = e;
            return COTTER_EJWKS_UNAVAILABLE;
        }
        fetch_locked(lock, now_ms);
        waited = true;  // one attempt per call when there are no keys at all
    }
}

std::shared_ptr<const key_set> remote_jwks::on_kid_miss(const key_set *seen, int64_t now_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
        if (keys_.get() != seen) return keys_;  // a newer snapshot arrived meanwhile
        if (fetching_) {
            wait_for_fetch(lock);
            continue;
        }
        if (fetched_once_ && now_ms - last_fetch_ms_.load() < options_.cooldown_ms) return keys_;
        if (fetch_locked(lock, now_ms) != COTTER_OK) return keys_;
    }
}

int remote_jwks::refresh(int64_t now_ms, error_info *err) {
    std::unique_lock<std::mutex> lock(mu_);
    if (fetching_) {
        wait_for_fetch(lock);
    } else if (!(fetched_once_ && now_ms - last_fetch_ms_.load() < options_.cooldown_ms)) {
        fetch_locked(lock, now_ms);
    }
    if (last_error_.code == COTTER_OK || last_error_.message.empty()) return COTTER_OK;
    if (err) *err = last_error_;
    return last_error_.code;
}

uint64_t remote_jwks::refresh_async(int64_t now_ms, std::function<void(const error_info *)> done, int64_t timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    // The waiter's own budget: it stops waiting then, the fetch goes on for others (bounded by timeout_ms of the
    // options). A timer that fires after the waiter completed finds nothing to do.
    auto arm = [&](uint64_t id) {
        if (timeout_ms <= 0) return;
        transport_.schedule(timeout_ms, [this, alive = std::weak_ptr<char>(alive_), id] {
            if (alive.lock()) end_wait(id, COTTER_ETIMEOUT, "timed out waiting for the JWKS");
        });
    };
    if (fetching_) {  // share the fetch in flight (sync or async)
        const uint64_t id = next_waiter_id_++;
        async_waiters_.push_back({id, std::move(done)});
        lock.unlock();
        arm(id);
        return id;
    }
    if (fetched_once_ && now_ms - last_fetch_ms_.load() < options_.cooldown_ms) {
        const bool ok = last_error_.code == COTTER_OK || last_error_.message.empty();
        const error_info e = last_error_;
        lock.unlock();
        done(ok ? nullptr : &e);
        return 0;
    }
    fetching_ = true;
    const uint64_t generation = ++fetch_generation_;
    const uint64_t id = next_waiter_id_++;
    async_waiters_.push_back({id, std::move(done)});
    lock.unlock();
    auto previous = std::make_shared<std::shared_ptr<const key_set>>();
    auto etag = std::make_shared<std::string>();
    http::request req;
    try {
        req = make_request(*previous, *etag);
        // `this` outlives the request: transport_ is the last member, so its destructor (which completes requests
        // in flight) runs while everything else here still exists.
        http::transfer_handle h = transport_.start(std::move(req), [this, previous, etag, now_ms, generation](
                                                                       int rc, http::response &resp, error_info &terr) {
            {
                std::lock_guard<std::mutex> l(mu_);
                if (generation != fetch_generation_) return;  // abandoned by every waiter (cancel_wait)
                async_fetch_ = http::transfer_handle();
            }
            if (rc == COTTER_ECANCELED) {  // not an attempt: no cooldown, the keys stay as they are
                std::vector<async_waiter> waiters;
                {
                    std::lock_guard<std::mutex> l(mu_);
                    fetching_ = false;
                    fetch_done_.notify_all();
                    waiters.swap(async_waiters_);
                }
                terr.code = COTTER_ECANCELED;
                for (auto &w : waiters) w.done(&terr);
                return;
            }
            std::shared_ptr<const key_set> fetched;
            int64_t max_age_ms = 0;
            error_info err;
            int out = COTTER_EINTERNAL;
            try {
                out = absorb(rc, resp, terr, *previous, *etag, fetched, max_age_ms, err);
            } catch (const std::bad_alloc &) {
                out = err.code = COTTER_ENOMEM;
                err.message = "out of memory while fetching the JWKS";
            } catch (const std::exception &e) {
                out = err.code = COTTER_EJWKS_UNAVAILABLE;
                err.message = std::string("JWKS fetch failed: ") + e.what();
            }
            std::unique_lock<std::mutex> l(mu_, std::defer_lock);
            record(l, out, std::move(fetched), max_age_ms, err, now_ms);
            std::vector<async_waiter> waiters;
            waiters.swap(async_waiters_);
            const error_info outcome = last_error_;
            l.unlock();
            for (auto &w : waiters) w.done(out == COTTER_OK ? nullptr : &outcome);
        });
        {
            std::lock_guard<std::mutex> l(mu_);
            if (generation == fetch_generation_ && fetching_) async_fetch_ = std::move(h);  // unless it already ended
        }
        arm(id);
        return id;
    } catch (const error &e) {
        std::unique_lock<std::mutex> l(mu_, std::defer_lock);
        record(l, e.code(), nullptr, 0, e.info(), now_ms);
        std::vector<async_waiter> waiters;
        waiters.swap(async_waiters_);
        const error_info outcome = last_error_;
        l.unlock();
        for (auto &w : waiters) w.done(&outcome);
        return 0;
    }
}

void remote_jwks::end_wait(uint64_t id, int code, const char *message) {
    if (id == 0) return;
    std::function<void(const error_info *)> done;
    http::transfer_handle abandoned;
    {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = std::find_if(async_waiters_.begin(), async_waiters_.end(),
                               [id](const async_waiter &w) { return w.id == id; });
        if (it == async_waiters_.end()) return;  // completed already
        done = std::move(it->done);
        async_waiters_.erase(it);
        if (async_waiters_.empty() && sync_waiting_ == 0 && async_fetch_) {
            // Nobody waits for this fetch any more: stop it. Its completion is ignored (a newer generation); a
            // later refresh starts a fetch of its own.
            abandoned = std::move(async_fetch_);
            async_fetch_ = http::transfer_handle();
            ++fetch_generation_;
            fetching_ = false;
            fetch_done_.notify_all();
        }
    }
    if (abandoned) abandoned.cancel();
    error_info e;
    e.code = code;
    e.message = message;
    // Completed on the I/O thread like every other completion, whichever thread cancels.
    transport_.post([done = std::move(done), e]() mutable { done(&e); });
}

}  // namespace cotter::core::jwt

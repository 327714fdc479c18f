/**
 * @file redis_hiredis.cpp
 * @brief The shared-store adapter that ships in the library: Debian's hiredis (0.14, synchronous API) behind the
 * public adapter struct of cotter.h, exactly as a user's adapter would be written. One connection and one thread
 * per store: eval() queues the command and returns (the caller is a client's I/O thread, which must not wait for
 * Redis); the thread runs EVALSHA (EVAL on NOSCRIPT) and completes `done` there. The connection is made on first use
 * and again after any failure; every failure completes with COTTER_ESHARED_UNAVAILABLE.
 *
 * wait() (adapter version 2) has a second connection, in SUBSCRIBE mode, and a second thread, both made on the first
 * wait: each channel is subscribed while it has waiters and for k_linger after the last (so that repeated contention
 * on a session finds its channel subscribed already); a message completes every waiter of its channel, a deadline
 * its own waiter (COTTER_ETIMEOUT), a lost connection every waiter (COTTER_ESHARED_UNAVAILABLE; the next wait
 * connects again). The thread sleeps in poll() on that connection and a pipe that wait() and shutdown() write to.
 */
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client_objects.hpp"

namespace {

struct job {
    std::string script, sha1;
    std::vector<cotter::core::secret_string> keys, args;  // args hold tokens: wiped when the job is dropped
    cotter_shared_store_done_fn done = nullptr;
    void *done_ctx = nullptr;
};

/// How long a channel stays subscribed after its last waiter: a session contended again within it never races its
/// SUBSCRIBE against the holder's message. Messages on a lingering channel are read and dropped.
constexpr std::chrono::seconds k_linger{30};

/// One pending wait() on a channel.
struct sub_waiter {
    std::chrono::steady_clock::time_point deadline;
    cotter_shared_store_wait_done_fn done = nullptr;
    void *done_ctx = nullptr;
};

void complete_all(const std::vector<sub_waiter> &ws, int status) {
    for (const auto &w : ws) w.done(w.done_ctx, status);
}

/// Blocks SIGPIPE on the calling thread. hiredis writes with write(): a Redis that went away would raise SIGPIPE,
/// whose default kills the process. The thread that writes gets it; blocked, it stays pending on this thread and
/// the write fails with EPIPE.
void block_sigpipe() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
}

timeval to_timeval(int64_t ms) {
    timeval tv;
    tv.tv_sec = static_cast<time_t>(ms / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
    return tv;
}

class hiredis_adapter {
public:
    std::string host, unix_socket;
    int port = 6379;
    cotter::core::secret_string password;
    int64_t connect_timeout_ms = 2000, command_timeout_ms = 2000;

    /// Queues one command (any thread). False when the adapter is shutting down.
    bool submit(job j) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (stop_) return false;
            queue_.push_back(std::move(j));
            if (!started_) {
                started_ = true;
                // The thread holds the adapter, so a release from the thread itself (the last use dropped in a
                // completion) can detach it safely.
                worker_ = std::thread([self = self_.lock()] { self->run(); });
            }
        }
        cv_.notify_one();
        return true;
    }

    /// Registers a waiter on `channel` (any thread). False when it could not start (shutting down, no thread).
    bool wait(const char *channel, int64_t timeout_ms, cotter_shared_store_wait_done_fn done, void *done_ctx) {
        sub_waiter w;
        w.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0));
        w.done = done;
        w.done_ctx = done_ctx;
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) return false;
        if (!subscriber_started_) {
            if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) return false;
            try {
                subscriber_ = std::thread([self = self_.lock()] { self->run_subscriber(); });
            } catch (...) {
                ::close(wake_[0]);
                ::close(wake_[1]);
                wake_[0] = wake_[1] = -1;
                return false;
            }
            subscriber_started_ = true;
        }
        waiting_[channel].push_back(w);
        wake_subscriber();
        return true;
    }

    void shutdown() {
        std::thread t, sub;
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
            t = std::move(worker_);
            sub = std::move(subscriber_);
            if (subscriber_started_) wake_subscriber();
        }
        cv_.notify_one();
        // Either thread may be the caller (the last use dropped in a completion): it then finishes on its own.
        for (std::thread *th : {&t, &sub}) {
            if (!th->joinable()) continue;
            if (th->get_id() == std::this_thread::get_id()) th->detach();
            else th->join();
        }
    }

    std::weak_ptr<hiredis_adapter> self_;

private:
    void run() {
        block_sigpipe();
        for (;;) {
            job j;
            {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
                if (queue_.empty()) break;  // stopping, nothing left
                j = std::move(queue_.front());
                queue_.pop_front();
            }
            execute(j);
        }
        if (ctx_) redisFree(ctx_);
        ctx_ = nullptr;
    }

    static void fail(const job &j, const std::string &why) {
        j.done(j.done_ctx, COTTER_ESHARED_UNAVAILABLE, nullptr, nullptr, 0, why.c_str());
    }

    void drop_connection() {
        if (ctx_) redisFree(ctx_);
        ctx_ = nullptr;
    }

    /// A new connection, authenticated, with the command timeout set; NULL and `why` on failure.
    redisContext *open_connection(std::string &why) const {
        const timeval tv = to_timeval(connect_timeout_ms);
        redisContext *c = unix_socket.empty() ? redisConnectWithTimeout(host.c_str(), port, tv)
                                              : redisConnectUnixWithTimeout(unix_socket.c_str(), tv);
        const std::string where = unix_socket.empty() ? host + ":" + std::to_string(port) : unix_socket;
        if (!c || c->err) {
            why = "cannot connect to Redis at " + where + ": " + (c ? c->errstr : "out of memory");
            if (c) redisFree(c);
            return nullptr;
        }
        if (redisSetTimeout(c, to_timeval(command_timeout_ms)) != REDIS_OK) {
            why = "cannot set the Redis command timeout";
            redisFree(c);
            return nullptr;
        }
        if (!password.empty()) {
            const char *argv[] = {"AUTH", password.c_str()};
            const size_t lens[] = {4, password.size()};
            auto *r = static_cast<redisReply *>(redisCommandArgv(c, 2, argv, lens));
            const bool ok = r && r->type != REDIS_REPLY_ERROR;
            if (r) freeReplyObject(r);
            if (!ok) {
                why = "Redis at " + where + " refused AUTH";  // never the password
                redisFree(c);
                return nullptr;
            }
        }
        return c;
    }

    bool connect(std::string &why) {
        ctx_ = open_connection(why);
        return ctx_ != nullptr;
    }

    redisReply *command(const job &j, bool by_sha, std::string &why) {
        std::vector<const char *> argv;
        std::vector<size_t> lens;
        const std::string nkeys = std::to_string(j.keys.size());
        auto push = [&](const char *p, size_t n) {
            argv.push_back(p);
            lens.push_back(n);
        };
        if (by_sha) {
            push("EVALSHA", 7);
            push(j.sha1.data(), j.sha1.size());
        } else {
            push("EVAL", 4);
            push(j.script.data(), j.script.size());
        }
        push(nkeys.data(), nkeys.size());
        for (const auto &k : j.keys) push(k.c_str(), k.size());
        for (const auto &a : j.args) push(a.c_str(), a.size());
        auto *r = static_cast<redisReply *>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
        if (!r) {
            why = std::string("Redis connection failed: ") + (ctx_->errstr[0] ? ctx_->errstr : "no reply");
            drop_connection();  // a timed-out or broken connection is never reused: its next reply would be stale
        }
        return r;
    }

    void execute(const job &j) {
        std::string why;
        const bool reused = ctx_ != nullptr;
        if (!ctx_ && !connect(why)) return fail(j, why);
        redisReply *r = command(j, true, why);
        if (!r && reused) {
            // A kept connection may have died in between (Redis restarted, an idle timeout): one more try on a
            // fresh one. Safe for these scripts: a repeated acquire finds its own lease (a wait), a repeated save
            // is fenced by its own write, set and logout only move the version again.
            if (!connect(why)) return fail(j, why);
            r = command(j, true, why);
        }
        if (r && r->type == REDIS_REPLY_ERROR && std::strncmp(r->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(r);
            r = command(j, false, why);
        }
        if (!r) return fail(j, why);
        std::unique_ptr<redisReply, void (*)(void *)> reply(r, freeReplyObject);
        if (r->type == REDIS_REPLY_ERROR) return fail(j, "Redis answered an error: " + std::string(r->str, r->len));
        if (r->type != REDIS_REPLY_ARRAY) return fail(j, "Redis answered a script with a non-array reply");
        std::vector<std::string> numbers(r->elements);
        std::vector<const char *> items(r->elements);
        std::vector<size_t> lens(r->elements);
        for (size_t i = 0; i < r->elements; ++i) {
            const redisReply *e = r->element[i];
            if (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) {
                items[i] = e->str;
                lens[i] = e->len;
            } else if (e->type == REDIS_REPLY_INTEGER) {
                numbers[i] = std::to_string(e->integer);
                items[i] = numbers[i].c_str();
                lens[i] = numbers[i].size();
            } else {
                return fail(j, "Redis answered a script with an unexpected item type");
            }
        }
        j.done(j.done_ctx, COTTER_OK, items.data(), lens.data(), items.size(), nullptr);
    }

    // ---- The subscriber (wait()): its own thread and connection ---------------------------------------------

    void wake_subscriber() {  // under mu_
        const char byte = 1;
        (void)!::write(wake_[1], &byte, 1);  // EAGAIN: a wake-up is pending already
    }

    /// Takes the waiters of `channel` (every channel when NULL) out of the table.
    std::vector<sub_waiter> take_waiters(const std::string *channel) {
        std::vector<sub_waiter> out;
        std::lock_guard<std::mutex> lock(mu_);
        for (auto it = waiting_.begin(); it != waiting_.end();) {
            if (channel && it->first != *channel) {
                ++it;
                continue;
            }
            out.insert(out.end(), it->second.begin(), it->second.end());
            it = waiting_.erase(it);
        }
        return out;
    }

    /// The connection failed: every waiter fails now (the core reads again); the next wait connects again.
    void subscriber_lost() {
        if (sub_ctx_) redisFree(sub_ctx_);
        sub_ctx_ = nullptr;
        subscribed_.clear();
        idle_until_.clear();
        complete_all(take_waiters(nullptr), COTTER_ESHARED_UNAVAILABLE);
    }

    /// Sends SUBSCRIBE / UNSUBSCRIBE for the channels whose waiters came or went. False when the connection failed.
    bool send_subscriptions(const std::vector<std::string> &add, const std::vector<std::string> &drop) {
        auto append = [&](const char *verb, const std::vector<std::string> &channels) {
            if (channels.empty()) return;
            std::vector<const char *> argv{verb};
            std::vector<size_t> lens{std::strlen(verb)};
            for (const auto &c : channels) {
                argv.push_back(c.c_str());
                lens.push_back(c.size());
            }
            redisAppendCommandArgv(sub_ctx_, static_cast<int>(argv.size()), argv.data(), lens.data());
        };
        append("UNSUBSCRIBE", drop);
        append("SUBSCRIBE", add);
        int done = 0;
        while (!done)
            if (redisBufferWrite(sub_ctx_, &done) != REDIS_OK) return false;
        for (const auto &c : drop) {
            subscribed_.erase(c);
            idle_until_.erase(c);
        }
        subscribed_.insert(add.begin(), add.end());
        return true;
    }

    /// Reads what arrived; a message completes the waiters of its channel. False when the connection failed.
    bool read_messages() {
        if (redisBufferRead(sub_ctx_) != REDIS_OK) return false;
        for (;;) {
            void *raw = nullptr;
            if (redisGetReplyFromReader(sub_ctx_, &raw) != REDIS_OK) return false;
            if (!raw) return true;
            std::unique_ptr<redisReply, void (*)(void *)> r(static_cast<redisReply *>(raw), freeReplyObject);
            // ["message", channel, payload]; subscribe/unsubscribe confirmations carry nothing we need.
            if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 || r->element[0]->type != REDIS_REPLY_STRING ||
                r->element[1]->type != REDIS_REPLY_STRING || std::strcmp(r->element[0]->str, "message") != 0)
                continue;
            const std::string channel(r->element[1]->str, r->element[1]->len);
            complete_all(take_waiters(&channel), COTTER_OK);
        }
    }

    void run_subscriber() {
        block_sigpipe();
        for (;;) {
            std::vector<sub_waiter> expired;
            std::vector<std::string> add, drop;
            int timeout_ms = -1;
            bool stopping;
            {
                std::lock_guard<std::mutex> lock(mu_);
                stopping = stop_;
                const auto now = std::chrono::steady_clock::now();
                auto next = std::chrono::steady_clock::time_point::max();
                for (auto it = waiting_.begin(); it != waiting_.end();) {
                    auto &ws = it->second;
                    for (auto w = ws.begin(); w != ws.end();) {
                        if (w->deadline <= now) {
                            expired.push_back(*w);
                            w = ws.erase(w);
                        } else {
                            next = std::min(next, w->deadline);
                            ++w;
                        }
                    }
                    if (ws.empty()) {
                        it = waiting_.erase(it);
                        continue;
                    }
                    if (!subscribed_.count(it->first)) add.push_back(it->first);
                    ++it;
                }
                for (const auto &c : subscribed_) {  // no waiter left: linger, then unsubscribe
                    if (waiting_.count(c)) {
                        idle_until_.erase(c);
                        continue;
                    }
                    auto idle = idle_until_.emplace(c, now + k_linger).first;
                    if (idle->second <= now) drop.push_back(c);
                    else next = std::min(next, idle->second);
                }
                if (next != std::chrono::steady_clock::time_point::max()) {
                    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
                    timeout_ms = static_cast<int>(std::min<int64_t>(ms, INT_MAX));
                }
            }
            complete_all(expired, COTTER_ETIMEOUT);
            if (stopping) break;
            if (!add.empty() && !sub_ctx_) {
                std::string why;
                sub_ctx_ = open_connection(why);
                if (!sub_ctx_) {  // Redis unreachable: these waiters fail now; the next wait tries again
                    subscriber_lost();
                    continue;
                }
            }
            if (sub_ctx_ && (!add.empty() || !drop.empty()) && !send_subscriptions(add, drop)) {
                subscriber_lost();
                continue;
            }
            pollfd fds[2] = {{wake_[0], POLLIN, 0}, {sub_ctx_ ? sub_ctx_->fd : -1, POLLIN, 0}};
            if (::poll(fds, 2, timeout_ms) < 0) continue;  // EINTR: look again
            if (fds[0].revents) {
                char drain[64];
                while (::read(wake_[0], drain, sizeof drain) > 0) {
                }
            }
            if (sub_ctx_ && fds[1].revents && !read_messages()) subscriber_lost();
        }
        // Shutting down: no wait can be pending (each keeps the store alive); any left fails rather than hangs.
        complete_all(take_waiters(nullptr), COTTER_ESHARED_UNAVAILABLE);
        if (sub_ctx_) redisFree(sub_ctx_);
        sub_ctx_ = nullptr;
        std::lock_guard<std::mutex> lock(mu_);
        ::close(wake_[0]);
        ::close(wake_[1]);
        wake_[0] = wake_[1] = -1;
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<job> queue_;
    bool stop_ = false, started_ = false;
    std::thread worker_;
    redisContext *ctx_ = nullptr;  // the worker's

    std::map<std::string, std::vector<sub_waiter>> waiting_;  // guarded by mu_: the waiters of each channel
    bool subscriber_started_ = false;                          // guarded by mu_
    std::thread subscriber_;                                   // guarded by mu_
    int wake_[2] = {-1, -1};                                   // a pipe: wait() and shutdown() wake the subscriber
    redisContext *sub_ctx_ = nullptr;                          // the subscriber's: SUBSCRIBE mode
    std::set<std::string> subscribed_;                         // the subscriber's: channels asked of sub_ctx_
    std::map<std::string, std::chrono::steady_clock::time_point> idle_until_;  // the subscriber's: lingering channels
};

using adapter_ptr = std::shared_ptr<hiredis_adapter>;

int eval(void *payload, const char *script, const char *sha1, const char **keys, size_t key_count, const char **args,
         size_t arg_count, cotter_shared_store_done_fn done, void *done_ctx) {
    try {
        job j;
        j.script = script;
        j.sha1 = sha1;
        for (size_t i = 0; i < key_count; ++i) j.keys.emplace_back(std::string(keys[i]));
        for (size_t i = 0; i < arg_count; ++i) j.args.emplace_back(std::string(args[i]));
        j.done = done;
        j.done_ctx = done_ctx;
        return (*static_cast<adapter_ptr *>(payload))->submit(std::move(j)) ? 0 : -1;
    } catch (...) {
        return -1;  // not started
    }
}

int start_wait(void *payload, const char *channel, int64_t timeout_ms, cotter_shared_store_wait_done_fn done,
               void *done_ctx) {
    try {
        return (*static_cast<adapter_ptr *>(payload))->wait(channel, timeout_ms, done, done_ctx) ? 0 : -1;
    } catch (...) {
        return -1;  // not started
    }
}

void release(void *payload) {
    auto *p = static_cast<adapter_ptr *>(payload);
    (*p)->shutdown();
    delete p;
}

}  // namespace

extern "C" {

COTTER_API int cotter_hiredis_options_init(cotter_hiredis_options *opts, unsigned int version) noexcept {
    if (!opts || version != COTTER_HIREDIS_OPTIONS_VERSION) return COTTER_EINVAL;
    *opts = cotter_hiredis_options COTTER_HIREDIS_OPTIONS_INIT;
    return COTTER_OK;
}

COTTER_API int cotter_shared_store_new_hiredis(cotter_shared_store **out, const cotter_hiredis_options *redis,
                                               const cotter_shared_store_options *opts,
                                               cotter_error **out_error) noexcept {
    COTTER_CLEAR_OUT(out);
    COTTER_CHECK_ARG(out != nullptr, "out must not be NULL", out_error);
    COTTER_CHECK_ARG(redis == nullptr || redis->version == COTTER_HIREDIS_OPTIONS_VERSION,
                     "hiredis options: unknown version (initialise them with cotter_hiredis_options_init)", out_error);
    COTTER_API_BEGIN
    namespace o = cotter::core::options;
    const cotter_hiredis_options defaults = COTTER_HIREDIS_OPTIONS_INIT;
    const cotter_hiredis_options &r = redis ? *redis : defaults;
    o::check(o::hiredis::port_range, r.port);
    o::check(o::hiredis::connect_timeout_ms_range, r.connect_timeout_ms);
    o::check(o::hiredis::command_timeout_ms_range, r.command_timeout_ms);
    auto a = std::make_shared<hiredis_adapter>();
    a->self_ = a;
    a->host = r.host ? r.host : "127.0.0.1";
    a->unix_socket = r.unix_socket ? r.unix_socket : "";
    a->port = r.port;
    a->password = cotter::core::secret_string(r.password ? r.password : "");
    a->connect_timeout_ms = r.connect_timeout_ms;
    a->command_timeout_ms = r.command_timeout_ms;
    cotter_shared_store_adapter adapter = COTTER_SHARED_STORE_ADAPTER_INIT;
    adapter.eval = eval;
    adapter.release = release;
    adapter.wait = start_wait;
    auto payload = std::make_unique<adapter_ptr>(a);
    adapter.payload = payload.get();
    const int rc = cotter_shared_store_new(out, &adapter, opts, out_error);
    if (rc == COTTER_OK) payload.release();  // the store owns it now: release() frees it
    return rc;
    COTTER_API_END(out_error)
}

}  // extern "C"

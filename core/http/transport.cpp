/**
 * @file transport.cpp
 * @brief The event loop behind http::transport: one I/O thread per transport drives every request through one
 * libcurl multi handle with libcurl's socket interface (curl_multi_socket_action over epoll, the design libcurl
 * documents for many transfers: the work per event is for the one socket that is ready, never a scan of every
 * socket), with a timer list for retry backoff, deadlines and posted work. Other threads only touch the locked
 * queues and wake the loop through an eventfd.
 *
 * Lifetimes: the loop state is shared by the transport and the I/O thread; a transfer is owned by the loop (in
 * `live`) from submission to completion, and by its transfer_handle for cancellation. The transport's destructor
 * stops the loop; requests still in flight complete with COTTER_ECANCELED.
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <condition_variable>
#include <map>
#include <thread>
#include <unordered_map>

#include "common/global.hpp"
#include "common/constants.hpp"
#include "common/status.hpp"
#include "http/easy.hpp"

namespace cotter::core::http {

using detail::clock_type;

namespace {

constexpr size_t k_max_idle_handles = 64;       // easy handles kept for reuse (connections live in the multi handle)
constexpr long k_min_idle_connections = 64;     // keep-alive connections kept open between bursts
constexpr long k_max_streams_per_connection = 1000;
constexpr size_t k_spare_bodies = 4;            // response buffers kept for reuse: a 400 KB list body would
constexpr size_t k_max_spare_body = 4u << 20;   // otherwise be fresh pages (page faults) on every call
constexpr int64_t k_deadline_grace_ms = 50;     // libcurl's own timeout normally fires first, with its details
constexpr int k_max_poll_ms = 60000;

int64_t ms_until(clock_type::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - clock_type::now()).count();
}

void wipe_string(std::string &s) noexcept {
    if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
    s.clear();
}

void log_line(const log_fn &log, int level, const std::string &message) noexcept {
    if (!log) return;
    try {
        log(level, message);
    } catch (...) {
        // A log sink must not break a request.
    }
}

/// The CA bundle when the caller names none: $SSL_CERT_FILE (OpenSSL's convention) when set, else libcurl's
/// compiled-in bundle when this machine has it, else the first usual location that exists. A libcurl built on
/// Debian (as bundled in the wheel and the npm package) looks only in Debian's place, which Fedora lacks.
std::string default_ca_file() {
    if (const char *env = std::getenv("SSL_CERT_FILE"); env && *env && ::access(env, R_OK) == 0) return env;
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (v && v->cainfo && ::access(v->cainfo, R_OK) == 0) return std::string();  // libcurl's own default works
    static const char *const k_candidates[] = {
        "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Alpine
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // Fedora, RHEL 9
        "/etc/pki/tls/certs/ca-bundle.crt",                   // RHEL, CentOS
        "/etc/ssl/ca-bundle.pem",                             // openSUSE
        "/etc/ssl/cert.pem",                                  // Arch, macOS-like layouts
    };
    for (const char *c : k_candidates)
        if (::access(c, R_OK) == 0) return c;
    return std::string();
}

}  // namespace

/// One request from start() to completion, retries included.
class transfer {
public:
    request req;
    detail::url_parts url;
    completion done;
    clock_type::time_point deadline;
    int max_attempts = 1;
    curl_slist *headers = nullptr;  // built (and validated) once, on the caller's thread
    std::weak_ptr<loop> owner;
    std::atomic<bool> cancel_requested{false};

    // I/O thread only.
    int attempt_no = 0;
    CURL *h = nullptr;
    response resp;
    detail::attempt_state st;
    clock_type::time_point attempt_started;
    uint64_t retry_timer = 0;
    uint64_t deadline_timer = 0;

    ~transfer() {
        detail::free_headers(headers);
        for (auto &hd : req.headers) wipe_string(hd.value);
        wipe_string(req.body);
        wipe_string(resp.body);
    }
};

struct loop : std::enable_shared_from_this<loop> {
    const transport_options opt;
    const pid_t pid = getpid();
    CURLM *multi = nullptr;
    CURLSH *share = nullptr;
    int epoll_fd = -1;
    int wake_fd = -1;  // eventfd: other threads wake the loop
    // A wake-up is on its way (set by wake(), cleared by the loop under mu when it takes the queues): a burst of
    // submissions writes the eventfd once, not once per call (1,000 concurrent calls made ~950 writes and as many
    // epoll wake-ups). Whoever finds it set pushed under mu before the loop's next take, which then sees the push.
    std::atomic<bool> wake_pending{false};

    std::mutex mu;  // guards everything down to `thread`
    std::vector<std::shared_ptr<transfer>> incoming;
    std::vector<std::shared_ptr<transfer>> cancels;
    std::vector<std::function<void()>> tasks;
    struct timer {
        clock_type::time_point at;
        std::function<void()> fn;
    };
    std::map<uint64_t, timer> timers;
    std::multimap<clock_type::time_point, uint64_t> timer_order;
    uint64_t next_timer_id = 1;
    bool stopping = false;
    std::thread thread;
    std::atomic<std::thread::id> thread_id{};

    std::atomic<uint64_t> requests{0}, connections{0}, retries{0}, in_flight{0}, easy_handles{0};

    // I/O thread only.
    std::unordered_map<transfer *, std::shared_ptr<transfer>> live;
    std::vector<CURL *> idle;
    std::vector<std::string> spare_bodies;  // wiped, empty, with capacity
    bool curl_timer_armed = false;          // libcurl asked to be called back (CURLMOPT_TIMERFUNCTION)
    clock_type::time_point curl_timer_at;

    explicit loop(transport_options o) : opt(std::move(o)) {
        multi = curl_multi_init();
        share = curl_share_init();
        epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
        wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!multi || !share || epoll_fd < 0 || wake_fd < 0) {
            release_os_handles();
            throw std::bad_alloc();
        }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = wake_fd;
        if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev) != 0) {
            release_os_handles();
            throw std::bad_alloc();
        }
        curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &loop::on_socket);
        curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
        curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &loop::on_timer);
        curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
        curl_multi_setopt(multi, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_MULTIPLEX));
        curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, opt.max_host_connections);
        // Streams per HTTP/2 connection (the server's SETTINGS may lower it). libcurl's default of 100 made a burst
        // beyond it open one new connection per waiting request (it waits for a multiplexing connection only while
        // it does not know whether the server multiplexes), e.g. 201 connections for 300 concurrent calls.
        curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, k_max_streams_per_connection);
        // libcurl's default cache holds 4 connections per transfer *currently* running, so a lull between bursts
        // closes warm connections that the next burst then reopens. A fixed size keeps them.
        curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, std::max(k_min_idle_connections, opt.max_host_connections));
        // The multi handle already shares connections and DNS between its transfers; TLS sessions are per easy
        // handle unless shared, and every handle of this loop runs on its one thread, so no lock callbacks.
        curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }

    ~loop() {
        for (CURL *h : idle) curl_easy_cleanup(h);
        release_os_handles();
    }

    void release_os_handles() noexcept {
        if (multi) curl_multi_cleanup(multi);
        if (share) curl_share_cleanup(share);
        if (epoll_fd >= 0) ::close(epoll_fd);
        if (wake_fd >= 0) ::close(wake_fd);
        multi = nullptr;
        share = nullptr;
        epoll_fd = wake_fd = -1;
    }

    void wake() noexcept {
        if (wake_pending.exchange(true)) return;  // the loop has not taken the queues since the last write
        const uint64_t one = 1;
        ssize_t n;
        do {
            n = ::write(wake_fd, &one, sizeof one);
        } while (n < 0 && errno == EINTR);
        // EAGAIN means the counter is already pending: the loop wakes anyway.
    }

    /// libcurl tells which sockets to watch for what (CURLMOPT_SOCKETFUNCTION); we mirror it in epoll. A socket we
    /// added carries a mark (curl_multi_assign) until libcurl removes it, so the first call adds and later ones
    /// modify, without a failing MOD first (a kept-alive connection is removed and added again for every request).
    static int on_socket(CURL *, curl_socket_t s, int what, void *userp, void *socketp) {
        auto *self = static_cast<loop *>(userp);
        if (what == CURL_POLL_REMOVE) {
            ::epoll_ctl(self->epoll_fd, EPOLL_CTL_DEL, s, nullptr);  // ENOENT/EBADF: already gone
            return 0;
        }
        epoll_event ev{};
        ev.data.fd = s;
        if (what & CURL_POLL_IN) ev.events |= EPOLLIN;
        if (what & CURL_POLL_OUT) ev.events |= EPOLLOUT;
        // The mark is a hint: either way the other operation is tried when the kernel disagrees.
        const int first = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        const int other = socketp ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        const int disagrees = socketp ? ENOENT : EEXIST;
        if (::epoll_ctl(self->epoll_fd, first, s, &ev) != 0 &&
            (errno != disagrees || ::epoll_ctl(self->epoll_fd, other, s, &ev) != 0))
            return -1;  // libcurl fails the transfers on this socket
        if (!socketp) curl_multi_assign(self->multi, s, self);
        return 0;
    }

    /// libcurl asks to be called back after `timeout_ms` (-1: no timer) (CURLMOPT_TIMERFUNCTION).
    static int on_timer(CURLM *, long timeout_ms, void *userp) {
        auto *self = static_cast<loop *>(userp);
        self->curl_timer_armed = timeout_ms >= 0;
        if (timeout_ms >= 0) self->curl_timer_at = clock_type::now() + std::chrono::milliseconds(timeout_ms);
        return 0;
    }

    void start_thread() {
        // The thread owns a reference: the state outlives the transport when the transport is destroyed from a
        // completion on this very thread.
        thread = std::thread([self = shared_from_this()] { self->run(); });
    }

    void submit(std::shared_ptr<transfer> t) {
        in_flight.fetch_add(1, std::memory_order_relaxed);
        {
            std::lock_guard<std::mutex> lock(mu);
            incoming.push_back(std::move(t));
        }
        wake();
    }

    void request_cancel(std::shared_ptr<transfer> t) {
        {
            std::lock_guard<std::mutex> lock(mu);
            cancels.push_back(std::move(t));
        }
        wake();
    }

    void post(std::function<void()> fn) {
        {
            std::lock_guard<std::mutex> lock(mu);
            tasks.push_back(std::move(fn));
        }
        wake();
    }

    uint64_t schedule(int64_t delay_ms, std::function<void()> fn) {
        const auto at = clock_type::now() + std::chrono::milliseconds(std::max<int64_t>(delay_ms, 0));
        uint64_t id;
        {
            std::lock_guard<std::mutex> lock(mu);
            id = next_timer_id++;
            timers.emplace(id, timer{at, std::move(fn)});
            timer_order.emplace(at, id);
        }
        if (!on_thread()) wake();  // the loop recomputes its wait; on the loop itself the next wait sees it
        return id;
    }

    bool cancel_timer(uint64_t id) {
        std::function<void()> dropped;  // destroyed outside the lock: it may own anything
        {
            std::lock_guard<std::mutex> lock(mu);
            auto it = timers.find(id);
            if (it == timers.end()) return false;
            auto range = timer_order.equal_range(it->second.at);
            for (auto o = range.first; o != range.second; ++o)
                if (o->second == id) {
                    timer_order.erase(o);
                    break;
                }
            dropped = std::move(it->second.fn);
            timers.erase(it);
        }
        return true;
    }

    bool on_thread() const noexcept { return thread_id.load(std::memory_order_relaxed) == std::this_thread::get_id(); }

    // ---- I/O thread ------------------------------------------------------------------------------------------

    void run() {
        thread_id.store(std::this_thread::get_id());
        std::vector<std::shared_ptr<transfer>> new_transfers, new_cancels;
        std::vector<std::function<void()>> new_tasks;
        for (;;) {
            bool stop_now;
            {
                std::lock_guard<std::mutex> lock(mu);
                wake_pending.store(false);  // under mu, before the take: a later push wakes the loop again
                new_transfers.swap(incoming);
                new_cancels.swap(cancels);
                new_tasks.swap(tasks);
                stop_now = stopping;
            }
            if (stop_now) {
                for (auto &t : new_transfers) live.emplace(t.get(), t);
                break;
            }
            for (auto &t : new_transfers) admit(std::move(t));
            new_transfers.clear();
            for (auto &t : new_cancels)
                if (live.count(t.get())) abort(t.get(), COTTER_ECANCELED, "the request was cancelled");
            new_cancels.clear();
            for (auto &fn : new_tasks) run_guarded(fn);
            new_tasks.clear();
            run_due_timers();
            if (curl_timer_armed && clock_type::now() >= curl_timer_at) {
                curl_timer_armed = false;
                int running = 0;
                curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
                drain_messages();
            }

            int wait_ms = k_max_poll_ms;
            {
                std::lock_guard<std::mutex> lock(mu);
                if (!incoming.empty() || !cancels.empty() || !tasks.empty() || stopping) {
                    wait_ms = 0;
                } else if (!timer_order.empty()) {
                    const int64_t until = ms_until(timer_order.begin()->first);
                    wait_ms = static_cast<int>(std::clamp<int64_t>(until + 1, 0, k_max_poll_ms));
                }
            }
            if (curl_timer_armed) {
                const int64_t until = ms_until(curl_timer_at);
                wait_ms = std::min(wait_ms, static_cast<int>(std::clamp<int64_t>(until, 0, k_max_poll_ms)));
            }
            wait_for_events(wait_ms);
        }
        shutdown();
    }

    /// Waits for ready sockets (or a wake-up, or `wait_ms`) and lets libcurl act on each ready socket.
    void wait_for_events(int wait_ms) {
        epoll_event events[256];
        const int n = ::epoll_wait(epoll_fd, events, 256, wait_ms);
        bool acted = false;
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == wake_fd) {
                uint64_t count;  // one read resets the counter (not EFD_SEMAPHORE); EAGAIN: already reset
                ssize_t r;
                do {
                    r = ::read(wake_fd, &count, sizeof count);
                } while (r < 0 && errno == EINTR);
                continue;
            }
            int mask = 0;
            if (events[i].events & EPOLLIN) mask |= CURL_CSELECT_IN;
            if (events[i].events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
            if (events[i].events & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
            int running = 0;
            curl_multi_socket_action(multi, fd, mask, &running);
            acted = true;
        }
        if (acted) drain_messages();
    }

    void shutdown() {
        // Requests in flight end as cancelled; their completions still run (exactly once), on this thread. A
        // completion may start another request on this loop: it is cancelled too.
        for (;;) {
            std::vector<std::shared_ptr<transfer>> more;
            {
                std::lock_guard<std::mutex> lock(mu);
                more.swap(incoming);
                cancels.clear();
            }
            for (auto &t : more) live.emplace(t.get(), t);
            if (live.empty()) break;
            while (!live.empty()) abort(live.begin()->first, COTTER_ECANCELED, "the client was closed");
        }
        std::map<uint64_t, timer> dropped_timers;
        std::vector<std::function<void()>> dropped_tasks;
        {
            std::lock_guard<std::mutex> lock(mu);
            dropped_timers.swap(timers);
            timer_order.clear();
            dropped_tasks.swap(tasks);
        }
    }

    static void run_guarded(std::function<void()> &fn) noexcept {
        try {
            fn();
        } catch (...) {
            // Completions and tasks report their own errors; nothing may unwind through the loop.
        }
    }

    void run_due_timers() {
        std::vector<std::function<void()>> due;
        {
            std::lock_guard<std::mutex> lock(mu);
            const auto now = clock_type::now();
            while (!timer_order.empty() && timer_order.begin()->first <= now) {
                const uint64_t id = timer_order.begin()->second;
                timer_order.erase(timer_order.begin());
                auto it = timers.find(id);
                if (it == timers.end()) continue;
                due.push_back(std::move(it->second.fn));
                timers.erase(it);
            }
        }
        for (auto &fn : due) run_guarded(fn);
    }

    void admit(std::shared_ptr<transfer> t) {
        transfer *raw = t.get();
        live.emplace(raw, std::move(t));
        if (!spare_bodies.empty()) {
            raw->resp.body.swap(spare_bodies.back());
            spare_bodies.pop_back();
        }
        if (raw->cancel_requested.load()) {
            abort(raw, COTTER_ECANCELED, "the request was cancelled");
            return;
        }
        // A backstop for every state libcurl's own timeout does not cover (queued behind the connection cap,
        // waiting out a retry backoff).
        raw->deadline_timer = schedule(ms_until(raw->deadline) + k_deadline_grace_ms, [this, raw] {
            raw->deadline_timer = 0;
            if (!live.count(raw)) return;
            abort(raw, COTTER_ETIMEOUT,
                  std::string(status_describe(COTTER_ETIMEOUT)) + ": no response within the request's budget (" +
                      raw->req.method + " " + raw->url.without_query + ")");
        });
        begin_attempt(raw);
    }

    CURL *acquire_handle() {
        if (!idle.empty()) {
            CURL *h = idle.back();
            idle.pop_back();
            curl_easy_reset(h);  // keeps the share
            return h;
        }
        CURL *h = curl_easy_init();
        if (!h) throw std::bad_alloc();
        easy_handles.fetch_add(1, std::memory_order_relaxed);
        curl_easy_setopt(h, CURLOPT_SHARE, share);
        return h;
    }

    void release_handle(CURL *h) noexcept {
        detail::detach(h);
        if (idle.size() < k_max_idle_handles) {
            try {
                idle.push_back(h);
                return;
            } catch (...) {
            }
        }
        curl_easy_cleanup(h);
    }

    void begin_attempt(transfer *t) {
        const int64_t budget = ms_until(t->deadline);
        if (budget <= 0) {
            abort(t, COTTER_ETIMEOUT,
                  std::string(status_describe(COTTER_ETIMEOUT)) + ": the request's budget ran out before it was sent (" +
                      t->req.method + " " + t->url.without_query + ")");
            return;
        }
        try {
            t->h = acquire_handle();
            t->st.resp = &t->resp;
            t->st.max_bytes = opt.max_response_bytes;
            detail::configure(t->h, opt, t->req, t->headers, budget, t->st);
            curl_easy_setopt(t->h, CURLOPT_PRIVATE, static_cast<void *>(t));
            if (curl_multi_add_handle(multi, t->h) != CURLM_OK) throw std::bad_alloc();
        } catch (const error &e) {
            abort(t, e.code(), e.what());
            return;
        } catch (...) {
            abort(t, COTTER_ENOMEM, "out of memory");
            return;
        }
        t->attempt_started = clock_type::now();
        requests.fetch_add(1, std::memory_order_relaxed);
    }

    void drain_messages() {
        int queued = 0;
        while (CURLMsg *m = curl_multi_info_read(multi, &queued)) {
            if (m->msg != CURLMSG_DONE) continue;
            void *priv = nullptr;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
            auto *t = static_cast<transfer *>(priv);
            if (!t || !live.count(t)) continue;
            on_attempt_done(t, m->data.result);
        }
    }

    /// Takes the handle off the multi and returns it to the pool.
    void retire_handle(transfer *t) noexcept {
        if (!t->h) return;
        long connects = 0;
        if (curl_easy_getinfo(t->h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
            connections.fetch_add(static_cast<uint64_t>(connects), std::memory_order_relaxed);
        // Removing an unfinished transfer makes libcurl close its connection: it is never reused half-read.
        curl_multi_remove_handle(multi, t->h);
        release_handle(t->h);
        t->h = nullptr;
    }

    void on_attempt_done(transfer *t, CURLcode curl_rc) {
        error_info err;
        const int rc = detail::conclude(t->h, curl_rc, opt, t->req, t->url, t->st, err);
        retire_handle(t);
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t->attempt_started).count();
        if (opt.log) {
            log_line(opt.log, COTTER_LOG_DEBUG,
                     t->req.method + " " + t->url.without_query + " -> " +
                         (rc == COTTER_OK ? std::to_string(t->resp.status) : std::string(status_name(rc))) +
                         " (" + std::to_string(elapsed) + " ms)");
        }

        // Only idempotent requests are retried: a grant or a refresh that reached the server may have been
        // executed (a refresh rotates the token), so repeating it could lose the session.
        const bool retryable = (rc == COTTER_ENETWORK) || (rc == COTTER_OK && detail::is_retryable_status(t->resp.status));
        if (retryable && t->attempt_no + 1 < t->max_attempts && !t->cancel_requested.load()) {
            int64_t delay = detail::backoff_ms(t->attempt_no, opt.retry_base_ms, opt.retry_max_ms);
            if (rc == COTTER_OK && t->resp.retry_after >= 0)
                delay = std::max(delay, t->resp.retry_after * 1000);  // the server knows best when it is busy
            if (delay < ms_until(t->deadline)) {
                log_line(opt.log, COTTER_LOG_INFO,
                         "retrying " + t->req.method + " " + t->url.without_query + " in " + std::to_string(delay) +
                             " ms (" + (rc == COTTER_OK ? "HTTP " + std::to_string(t->resp.status) : err.message) + ")");
                retries.fetch_add(1, std::memory_order_relaxed);
                ++t->attempt_no;
                t->retry_timer = schedule(delay, [this, t] {
                    t->retry_timer = 0;
                    if (live.count(t)) begin_attempt(t);
                });
                return;
            }
            // Waiting would overrun the total timeout: report this attempt's outcome now.
        }
        finish(t, rc, err);
    }

    void abort(transfer *t, int code, const std::string &message) {
        retire_handle(t);
        error_info err;
        err.code = code;
        err.message = message;
        finish(t, code, err);
    }

    /// Ends a transfer: it leaves `live` and its completion runs, exactly once.
    void finish(transfer *t, int rc, error_info &err) {
        auto it = live.find(t);
        if (it == live.end()) return;
        std::shared_ptr<transfer> keep = std::move(it->second);
        live.erase(it);
        if (t->retry_timer) cancel_timer(t->retry_timer);
        if (t->deadline_timer) cancel_timer(t->deadline_timer);
        t->retry_timer = t->deadline_timer = 0;
        completion done = std::move(t->done);
        in_flight.fetch_sub(1, std::memory_order_relaxed);
        if (rc != COTTER_OK && err.code == COTTER_OK) err.code = rc;
        try {
            if (done) done(rc, t->resp, err);
        } catch (...) {
            // A completion reports its own errors.
        }
        // The handle may outlive the request (it is kept for cancellation): tokens and secrets go now.
        wipe_string(t->resp.body);
        if (t->resp.body.capacity() > 0 && t->resp.body.capacity() <= k_max_spare_body &&
            spare_bodies.size() < k_spare_bodies) {
            try {
                spare_bodies.emplace_back();
                spare_bodies.back().swap(t->resp.body);
            } catch (...) {
            }
        }
        t->resp.headers.clear();
        for (auto &hd : t->req.headers) wipe_string(hd.value);
        wipe_string(t->req.body);
        detail::free_headers(t->headers);
        t->headers = nullptr;
        // `done` (and whatever it owns) is destroyed here, on this thread; it may release the transport.
    }
};

void transfer_handle::cancel() const {
    if (!t_) return;
    t_->cancel_requested.store(true);
    if (auto l = t_->owner.lock()) l->request_cancel(t_);
}

transport::transport(transport_options options) : options_(std::move(options)) {
    if (int rc = global_ensure(); rc != COTTER_OK) fail(rc, "libcurl global initialisation failed");
    if (options_.user_agent.empty()) {
        const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
        options_.user_agent = std::string("cotter/") + k_version_string + " libcurl/" + (v ? v->version : "?");
    }
    namespace opt = core::options::client;
    core::options::check(opt::connect_timeout_ms_range, options_.connect_timeout_ms);
    core::options::check(opt::timeout_ms_range, options_.timeout_ms);
    core::options::check(opt::max_response_bytes_range, options_.max_response_bytes);
    core::options::check(opt::max_retries_range, options_.max_retries);
    core::options::check(opt::retry_base_ms_range, options_.retry_base_ms);
    core::options::check(opt::retry_max_ms_range, options_.retry_max_ms);
    core::options::check(opt::max_host_connections_range, options_.max_host_connections);
    if (options_.ca_file.empty()) options_.ca_file = default_ca_file();
}

transport::~transport() {
    std::shared_ptr<loop> l;
    {
        std::lock_guard<std::mutex> lock(loop_mutex_);
        l = std::move(loop_);
    }
    if (!l) return;
    if (l->pid != getpid()) {
        // Inherited through fork(): the thread is not in this process; its state may be mid-update. Leak it.
        new std::shared_ptr<loop>(std::move(l));
        return;
    }
    {
        std::lock_guard<std::mutex> lock(l->mu);
        l->stopping = true;
    }
    l->wake();
    if (l->on_thread())
        l->thread.detach();  // destroyed by a completion on the loop itself: the loop finishes on its own
    else if (l->thread.joinable())
        l->thread.join();
}

std::shared_ptr<loop> transport::running_loop() {
    std::lock_guard<std::mutex> lock(loop_mutex_);
    if (loop_ && loop_->pid != getpid()) new std::shared_ptr<loop>(std::move(loop_));  // see ~transport
    if (!loop_) {
        auto l = std::make_shared<loop>(options_);
        l->start_thread();
        loop_ = std::move(l);
    }
    return loop_;
}

transfer_handle transport::start(request req, completion done) {
    auto t = std::make_shared<transfer>();
    t->url = detail::checked_url(req.url, options_);
    t->headers = detail::build_headers(req);
    const int64_t total_ms = req.timeout_ms > 0 ? req.timeout_ms : options_.timeout_ms;
    t->deadline = clock_type::now() + std::chrono::milliseconds(total_ms);
    t->max_attempts = req.idempotent ? 1 + options_.max_retries : 1;
    t->req = std::move(req);
    t->done = std::move(done);
    auto l = running_loop();
    t->owner = l;
    l->submit(t);
    return transfer_handle(std::move(t));
}

int transport::perform(const request &req, response &resp, error_info *err) {
    if (on_io_thread())
        return set_error(err, COTTER_EINVAL,
                         "a blocking call was made on the client's I/O thread (from a completion callback); "
                         "it would wait for itself: use the asynchronous form");
    struct waiter {
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
        int rc = COTTER_EINTERNAL;
        response resp;
        error_info err;
    };
    auto w = std::make_shared<waiter>();
    try {
        start(req, [w](int rc, response &r, error_info &e) {
            {
                std::lock_guard<std::mutex> lock(w->m);
                w->rc = rc;
                std::swap(w->resp, r);
                w->err = std::move(e);
                w->done = true;
            }
            w->cv.notify_one();  // outside the lock, so the waiter does not wake into a held mutex; `w` is shared
        });
    } catch (const error &e) {
        if (err) *err = e.info();
        return e.code();
    }
    std::unique_lock<std::mutex> lock(w->m);
    w->cv.wait(lock, [&] { return w->done; });
    std::swap(resp, w->resp);
    if (w->rc != COTTER_OK && err) *err = std::move(w->err);
    return w->rc;
}

void transport::post(std::function<void()> fn) { running_loop()->post(std::move(fn)); }

uint64_t transport::schedule(int64_t delay_ms, std::function<void()> fn) {
    return running_loop()->schedule(delay_ms, std::move(fn));
}

bool transport::cancel_timer(uint64_t id) {
    std::shared_ptr<loop> l;
    {
        std::lock_guard<std::mutex> lock(loop_mutex_);
        l = loop_;
    }
    return l && l->cancel_timer(id);
}

bool transport::on_io_thread() const noexcept {
    std::lock_guard<std::mutex> lock(loop_mutex_);
    return loop_ && loop_->on_thread();
}

transport_stats transport::stats() const {
    std::shared_ptr<loop> l;
    {
        std::lock_guard<std::mutex> lock(loop_mutex_);
        l = loop_;
    }
    transport_stats s;
    if (!l) return s;
    s.requests = l->requests.load();
    s.connections = l->connections.load();
    s.retries = l->retries.load();
    s.in_flight = l->in_flight.load();
    s.easy_handles = l->easy_handles.load();
    return s;
}

}  // namespace cotter::core::http

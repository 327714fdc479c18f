/**
 * @file client_impl.hpp
 * @brief Templates of client.hpp: launching one API request with its parser, and waiting for an asynchronous
 * call. Included by client.hpp only.
 */
#pragma once

#include <condition_variable>
#include <mutex>
#include <new>
#include <utility>

namespace cotter::core::token {

namespace detail {
/// Runs `body`, turning what it throws into the outcome's error (nothing escapes onto the I/O thread).
template <class T, class Body>
void capture(outcome<T> &out, Body &&body) noexcept {
    try {
        body();
        out.code = COTTER_OK;
        return;
    } catch (const error &e) {
        out.err = e.info();
    } catch (const std::bad_alloc &) {
        out.err = error_info{};
        out.err.code = COTTER_ENOMEM;
        out.err.message = "out of memory";
    } catch (const std::exception &e) {
        out.err = error_info{};
        out.err.code = COTTER_EINTERNAL;
        out.err.message = e.what();
    } catch (...) {
        out.err = error_info{};
        out.err.code = COTTER_EINTERNAL;
        out.err.message = "unknown internal error";
    }
    if (out.err.code >= 0) out.err.code = COTTER_EINTERNAL;
    out.code = out.err.code;
}
}  // namespace detail

template <class T, class Parse>
call_handle client::launch(call_spec spec, Parse parse, done_fn<T> done) {
    if (spec.with_secret && config_->api_secret_key.empty())
        fail(COTTER_EINVAL, std::string(spec.what) + " needs the API secret key (api_secret_key)");
    http::request req;
    req.method = spec.method;
    req.url = spec.url;
    req.idempotent = spec.idempotent;
    req.timeout_ms = spec.timeout_ms;
    req.headers.push_back({"API_KEY_ID", config_->api_key_id});
    if (spec.with_secret) req.headers.push_back({"API_SECRET_KEY", config_->api_secret_key.str()});
    req.body = std::move(spec.body);  // the transport wipes it when the request ends
    wipe(spec.body);
    auto cfg = config_;
    return transport_.start(
        std::move(req), [cfg, spec = std::move(spec), parse = std::move(parse), done = std::move(done)](
                            int rc, http::response &resp, error_info &err) mutable {
            outcome<T> out;
            detail::capture(out, [&] {
                check_response(*cfg, spec, rc, resp, err);
                out.value = parse(resp);
            });
            wipe(resp.body);
            done(std::move(out));
        });
}

template <class T, class Start>
T wait_for(http::transport &t, Start &&start) {
    if (t.on_io_thread())
        fail(COTTER_EINVAL,
             "a blocking call was made on the client's I/O thread (from a completion callback); it would wait for "
             "itself: use the asynchronous form");
    struct state {
        std::mutex m;
        std::condition_variable cv;
        bool done = false;
        outcome<T> out;
    };
    auto st = std::make_shared<state>();
    start([st](outcome<T> &&o) {
        std::lock_guard<std::mutex> lock(st->m);
        st->out = std::move(o);
        st->done = true;
        st->cv.notify_one();
    });
    std::unique_lock<std::mutex> lock(st->m);
    st->cv.wait(lock, [&] { return st->done; });
    if (st->out.code != COTTER_OK) throw error(std::move(st->out.err));
    return std::move(st->out.value);
}

}  // namespace cotter::core::token

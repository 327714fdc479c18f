/**
 * @file hooks.hpp
 * @brief When the user callbacks of a C object (log, clock, storage hooks, tokens-changed) may run: only while
 * the object is in use, so that a binding knows when it may release their payloads.
 *
 * A C object outlives its handle when calls are in flight (a call keeps what it uses alive), and a session's
 * operation goes on after every caller gave up (a refresh already sent must still store its tokens). Without a
 * rule, a callback could run after the binding freed its payload (a closure, a Python object...), and the C
 * ABI gives no later moment at which releasing it would be safe. The rule (cotter.h, "Asynchronous calls"):
 * an object's callbacks are called only while it is in use: its handle is not freed, a call on it is not freed,
 * or (for a client) a session on it is in use. The release that ends the last use closes the gate and waits for a
 * callback running on another thread to return; later work runs without the callbacks (no log, the system clock,
 * no storage hook, no tokens-changed call).
 */
#pragma once

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace cotter::capi {

class hook_gate : public std::enable_shared_from_this<hook_gate> {
public:
    /// One use (the handle, a call in flight, a session on a client): the callbacks stay callable while it lives.
    class use {
    public:
        explicit use(std::shared_ptr<hook_gate> g) : gate_(std::move(g)) {}
        use(const use &) = delete;
        use &operator=(const use &) = delete;
        ~use() { gate_->release(); }

    private:
        std::shared_ptr<hook_gate> gate_;
    };

    /// A gate whose closing also ends `parent` (a session's use of its client's gate).
    static std::shared_ptr<hook_gate> make(std::shared_ptr<use> parent = nullptr) {
        auto g = std::make_shared<hook_gate>();
        g->parent_ = std::move(parent);
        return g;
    }

    /// A new use. Never called on a closed gate (every use is taken through a live one: handle or call).
    std::shared_ptr<use> acquire() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            ++users_;
        }
        return std::make_shared<use>(shared_from_this());
    }

    /// Runs `fn` unless the gate is closed; returns whether it ran.
    template <class F>
    bool run(F &&fn) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (closed_) return false;
            ++running_;
        }
        running_here().push_back(this);
        struct leave {
            hook_gate *g;
            ~leave() {
                auto &here = running_here();
                here.erase(std::find(here.rbegin(), here.rend(), g).base() - 1);
                std::lock_guard<std::mutex> lock(g->mu_);
                --g->running_;
                g->cv_.notify_all();
            }
        } l{this};
        fn();
        return true;
    }

private:
    // The gates whose callbacks this thread is running (a callback may free the object it belongs to).
    static std::vector<const hook_gate *> &running_here() {
        thread_local std::vector<const hook_gate *> here;
        return here;
    }

    void release() noexcept {
        std::shared_ptr<use> parent;
        {
            std::unique_lock<std::mutex> lock(mu_);
            if (--users_ > 0) return;
            closed_ = true;
            const auto &here = running_here();
            const size_t mine = static_cast<size_t>(std::count(here.begin(), here.end(), this));
            cv_.wait(lock, [&] { return running_ <= mine; });  // never waits for the callback it is called from
            parent.swap(parent_);
        }
        // `parent` ends here, outside the lock: the client's gate may close in turn.
    }

    std::mutex mu_;
    std::condition_variable cv_;
    size_t users_ = 1;  // the handle's use, taken by make_handle_use()
    size_t running_ = 0;
    bool closed_ = false;
    std::shared_ptr<use> parent_;

public:
    /// The handle's use (the first one, counted from the start). Call once, right after make().
    std::shared_ptr<use> handle_use() { return std::make_shared<use>(shared_from_this()); }
};

/// What a call keeps: the object it runs on, until it has completed and been freed, and a use of the object's gate,
/// until its handle is freed (cotter_call_free). The use ends with the handle, not with the completion: a call freed
/// before it completed (which cancels it) completes later on the I/O thread, and until then its use would keep the
/// gate open past every free of the caller, who could then never tell when the payloads may go.
struct call_keep {
    std::shared_ptr<void> object;
    std::shared_ptr<hook_gate::use> use;
};

template <class T>
call_keep keep_for_call(std::shared_ptr<T> object, hook_gate &gate) {
    return call_keep{std::move(object), gate.acquire()};
}

}  // namespace cotter::capi

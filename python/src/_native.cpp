/**
 * @file _native.cpp
 * @brief cotter._native: pybind11 glue over the C ABI, through capi/include/cotter.hpp only.
 *
 * Glue only: argument conversion, the GIL, callbacks, completions and lifetimes. Everything Pythonic (keyword
 * arguments, typed results, redacted reprs, the exception classes, the asyncio coroutines) lives in python/cotter/.
 *  - Every network operation is started with its `_start` C function. The blocking form waits for the call with
 *    the GIL released; the `_async` form returns an asyncio future that a Completions queue (one per event loop)
 *    resolves on the loop's thread (see "Asynchronous calls" below).
 *  - Verification runs with the GIL released (CPU only, on the caller's thread).
 *  - Callbacks (log, storage load/save, tokens changed) run on the client's I/O thread (the first load on the
 *    thread creating the session) and take the GIL there; a Python exception raised in one never unwinds through
 *    C: it is stored, the C call fails with COTTER_EUSER, and the stored exception is raised when the call returns.
 *  - No native thread touches Python once the interpreter has started to exit: an atexit hook cancels the calls in
 *    flight, waits for them, and closes the gate every callback goes through (see "The interpreter gate").
 *  - cotter::Error becomes the CotterError subclass for its code (cotter._errors.from_native).
 *  - Above each function: the C signature it wraps, as capi/abi.json describes it (tests/python/test_bindings.py).
 *  - The calls of the client and the session (a `_start` function each, registered by def_call with the converter
 *    `as_<result>` of its result) are generated from capi/abi.json (scripts/gen.py); the converters are not.
 */
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <climits>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <system_error>
#include <type_traits>
#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cotter.hpp"


namespace py = pybind11;
using namespace pybind11::literals;

namespace cotter_py {
/// A Python str handed to C as a NUL-terminated string. An embedded NUL would silently cut it short (an audience
/// "a\0b" would accept tokens for "a"), so the caster below rejects it with COTTER_EINVAL instead.
struct cstr {
    std::string s;
    const char *c_str() const noexcept { return s.c_str(); }
};
}  // namespace cotter_py
using cotter_py::cstr;

namespace pybind11 {
namespace detail {
template <>
struct type_caster<cstr> {
    PYBIND11_TYPE_CASTER(cstr, const_name("str"));

    bool load(handle src, bool convert) {
        make_caster<std::string> inner;
        if (!inner.load(src, convert)) return false;
        value.s = std::move(cast_op<std::string &>(inner));
        if (value.s.find('\0') != std::string::npos) {
            // Raised from argument loading: pybind11 passes it on to the caller unchanged.
            object cls = module_::import("cotter._errors").attr("InvalidArgument");
            object exc = cls("a string argument contains a NUL character", arg("status") = int(COTTER_EINVAL),
                             arg("code") = "COTTER_EINVAL");
            PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(exc.ptr())), exc.ptr());
            throw error_already_set();
        }
        return true;
    }
    static handle cast(const cstr &v, return_value_policy policy, handle parent) {
        return make_caster<std::string>::cast(v.s, policy, parent);
    }
};
}  // namespace detail
}  // namespace pybind11

namespace {

// ------------------------------------------------------------------------------------------------
// Strings and errors
// ------------------------------------------------------------------------------------------------

/// Borrowed C string (NULL = absent) to str or None.
py::object opt_str(const char *s) { return s ? py::object(py::str(s)) : py::object(py::none()); }
py::object opt_str(const std::optional<std::string> &s) { return s ? py::object(py::str(*s)) : py::object(py::none()); }

/// Builds the CotterError subclass instance for `e` (the table lives in cotter/_errors.py).
py::object make_error(const cotter::Error &e) {
    py::object from_native = py::module_::import("cotter._errors").attr("from_native");
    return from_native(e.code(), e.message(), e.http_status(), opt_str(e.oauth_error()),
                       opt_str(e.oauth_error_description()), e.retry_after());
}

/// Sets `e`, as its CotterError subclass, as the current Python exception. The caller holds a python_zone: building
/// the exception runs Python code.
void set_python_error(const cotter::Error &e) {
    py::object exc = make_error(e);
    PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(exc.ptr())), exc.ptr());
}

/// A Python exception raised inside a callback, kept until the C call returns.
struct pending_exception {
    std::mutex mu;
    std::optional<py::error_already_set> exc;

    void store(py::error_already_set &&e) {
        std::lock_guard<std::mutex> lock(mu);
        if (!exc) exc.emplace(std::move(e));
    }
    /// Raises the stored exception, if any (GIL held).
    void rethrow_if_any() {
        std::optional<py::error_already_set> e;
        {
            std::lock_guard<std::mutex> lock(mu);
            e.swap(exc);
        }
        if (e) throw std::move(*e);
    }
};

/// Text or bytes from Python, as a std::string (tokens may come as either).
std::string as_bytes(const py::handle &h) {
    if (py::isinstance<py::bytes>(h)) return std::string(py::reinterpret_borrow<py::bytes>(h));
    if (py::isinstance<py::str>(h)) return h.cast<std::string>();
    throw py::type_error("expected str or bytes");
}

/// Keeps option strings alive until the create call has copied them.
const char *c_or_null(const std::optional<cstr> &s) { return s ? s->c_str() : nullptr; }

// ------------------------------------------------------------------------------------------------
// The interpreter gate
// ------------------------------------------------------------------------------------------------
// Native threads (the clients' I/O threads) enter Python for callbacks. Once the interpreter exits, a thread that
// asks for the GIL is killed or hangs, so at exit an atexit hook (shutdown() below) cancels every call in flight,
// waits for them, and closes this gate: callbacks after that return without touching Python.
//
// Daemon Python threads are the other danger. From the start of finalization on, CPython 3.11-3.13 ends any thread
// but the main one that asks for the GIL with pthread_exit(), which unwinds the thread's C++ frames; where that
// crosses a destructor, a noexcept function or a catch handler, the process aborts (std::terminate). So this file
// takes the GIL back, or runs Python code under such frames, only through released() and python_zone: counted, so
// that shutdown() waits for them, and refused once the gate is closed: a daemon thread that comes back to us then
// stops for good instead (stop_this_thread(), what CPython 3.14 does to such threads itself). The main thread is
// never ended by CPython: it goes on as before.

struct interpreter_gate {
    std::mutex mu;
    std::condition_variable cv;
    bool exiting = false;                          // guarded by mu: shutdown() began; blocking calls are cancelled
    bool closed = false;                           // guarded by mu: no callback may enter Python any more
    int inside = 0;                                // guarded by mu: threads running Python code under our frames
    std::unordered_set<cotter_call *> blocking;    // guarded by mu: calls a thread waits for with the GIL released
    std::atomic<long> async_in_flight{0};          // asyncio calls whose completion has not arrived
    int releasing = 0;                             // guarded by mu: threads inside released(), the GIL released
    int returning = 0;                             // guarded by mu: threads of released() taking the GIL back
    unsigned long main_thread = 0;                 // the interpreter's main thread (set at import and in a fork child)
    uint64_t generation = 0;                       // GIL: bumped in a forked child (inherited queues are dead there)
};

/// Never destroyed: I/O threads may still look at it while the process exits.
interpreter_gate &gate() {
    static interpreter_gate *g = new interpreter_gate();
    return *g;
}

bool on_main_thread() noexcept { return PyThread_get_thread_ident() == gate().main_thread; }

/// A thread other than the main one that comes back to Python after shutdown() closed the gate: it stops here, the
/// GIL released, and the process exits around it (it holds no lock of ours). Never returns.
[[noreturn]] void stop_this_thread(bool holding_gil) noexcept {
    if (holding_gil) (void)PyEval_SaveThread();
    for (;;) ::pause();
}

/// Runs `f` with the GIL from any thread, unless the interpreter is exiting. Returns whether it ran.
template <class F>
bool with_python(F &&f) noexcept {
    interpreter_gate &g = gate();
    {
        std::lock_guard<std::mutex> lock(g.mu);
        if (g.closed) return false;
        ++g.inside;
    }
    {
        py::gil_scoped_acquire gil;
        f();
    }
    {
        std::lock_guard<std::mutex> lock(g.mu);
        --g.inside;
    }
    g.cv.notify_all();
    return true;
}

/// GIL held: Python code is about to run under C++ frames that a pthread_exit() unwinding must not cross (a catch
/// handler, a noexcept function, a destructor). Counted in `inside`, so that shutdown() waits for it to end; once the
/// gate is closed, a thread other than the main one stops here instead (stop_this_thread).
class python_zone {
  public:
    /// This thread was already counted in `inside`, in the same step that took it out of `blocking` (wait_released).
    struct counted_t {};
    explicit python_zone(counted_t) noexcept {}
    python_zone() noexcept {
        interpreter_gate &g = gate();
        std::unique_lock<std::mutex> lock(g.mu);
        if (g.closed && !on_main_thread()) {
            lock.unlock();
            stop_this_thread(true);
        }
        ++g.inside;
    }
    ~python_zone() {
        interpreter_gate &g = gate();
        {
            std::lock_guard<std::mutex> lock(g.mu);
            --g.inside;
        }
        g.cv.notify_all();
    }
    python_zone(const python_zone &) = delete;
    python_zone &operator=(const python_zone &) = delete;
};

/// Runs `f` with the GIL released (GIL held on entry and on return) and returns what it returns; what it throws is
/// thrown again once the GIL is back, never while taking it. Counted, so that shutdown() waits for this thread to be
/// back in Python before finalization starts. A thread other than the main one stops instead (stop_this_thread) when
/// it would release the GIL after shutdown() began (else a daemon thread looping over calls would keep shutdown()
/// waiting for it until its deadline), or take it back after the gate closed. Every GIL release of this file goes
/// through here.
template <class F>
auto released(F &&f) -> decltype(f()) {
    using R = decltype(f());
    interpreter_gate &g = gate();
    const bool main = on_main_thread();
    {
        std::unique_lock<std::mutex> lock(g.mu);
        if (g.exiting && !main) {
            lock.unlock();
            stop_this_thread(true);
        }
        ++g.releasing;
    }
    std::exception_ptr error;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result{};
    PyThreadState *state = PyEval_SaveThread();
    try {
        if constexpr (std::is_void_v<R>) f();
        else result.emplace(f());
    } catch (...) {  // f runs no Python code (no GIL): this is one of its own exceptions
        error = std::current_exception();
    }
    bool stop = false;
    {
        std::lock_guard<std::mutex> lock(g.mu);
        --g.releasing;
        if (g.closed && !main) stop = true;
        else ++g.returning;  // shutdown() waits for this thread to hold the GIL again
    }
    g.cv.notify_all();
    if (stop) stop_this_thread(false);
    PyEval_RestoreThread(state);
    {
        std::lock_guard<std::mutex> lock(g.mu);
        --g.returning;
    }
    g.cv.notify_all();
    if (error) std::rethrow_exception(error);
    if constexpr (!std::is_void_v<R>) return std::move(*result);
}

/// Waits for a call started from Python with the GIL released, so that other threads, and this call's own hooks
/// on the I/O thread, can run meanwhile. Once the interpreter exits, returns false at once without waiting (the
/// caller raises COTTER_ECANCELED): a daemon thread must not wait for an I/O thread that may itself wait for the
/// GIL then. On true, this thread is counted in `inside` (the caller's python_zone(counted) ends it) in the same step
/// that takes the call out of `blocking`: shutdown() never sees it in neither, so it never closes the gate while
/// this thread is between the wait and the conversion of the call's result (or its exception).
bool wait_released(cotter_call *call) {
    interpreter_gate &g = gate();
    {
        std::lock_guard<std::mutex> lock(g.mu);
        if (g.exiting) return false;
        g.blocking.insert(call);  // shutdown() cancels it
    }
    try {
        released([&] { (void)cotter_call_wait(call, nullptr); });  // the status and error come from the taker
    } catch (...) {
        std::lock_guard<std::mutex> lock(g.mu);
        g.blocking.erase(call);
        throw;
    }
    {
        std::lock_guard<std::mutex> lock(g.mu);
        g.blocking.erase(call);
        ++g.inside;
    }
    g.cv.notify_all();
    return true;
}

// ------------------------------------------------------------------------------------------------
// Callbacks
// ------------------------------------------------------------------------------------------------

/// The one receiver of the library's log lines: cotter._util.native_log, set at import. Never destroyed (I/O
/// threads may log while the process exits; the gate keeps them out of Python then).
py::object &log_handler() {
    static py::object *h = new py::object();
    return *h;
}

/// False when logging.getLogger("cotter").isEnabledFor(level) is surely false, read the way isEnabledFor reads it
/// (the logger's `disabled` flag, then its per-level cache) but without running any Python code (GIL held).
/// Why: a client's I/O thread has no Python thread state of its own, so each callback there makes one and deletes
/// it, and such a state's first Python frame maps a fresh frame stack (mmap, page faults, munmap). Every request
/// logs a debug line, so calling native_log for each cost ~30 µs of CPU per request for lines nobody asked for.
/// When unsure (logging not imported, no "cotter" logger yet, a Logger subclass, a level not cached yet), true:
/// native_log decides, and fills the cache this reads.
bool cotter_logger_may_log(int level) noexcept {
    PyObject *logging = PyDict_GetItemString(PyImport_GetModuleDict(), "logging");  // borrowed
    if (!logging) return true;
    try {
        py::object logger_class = py::handle(logging).attr("Logger");
        py::object loggers = logger_class.attr("manager").attr("loggerDict");
        if (!PyDict_Check(loggers.ptr())) return true;
        PyObject *logger = PyDict_GetItemString(loggers.ptr(), "cotter");  // borrowed
        // Exactly a Logger: a subclass may decide differently; a PlaceHolder is no logger yet.
        if (!logger || Py_TYPE(logger) != reinterpret_cast<PyTypeObject *>(logger_class.ptr())) return true;
        if (py::handle(logger).attr("disabled").cast<bool>()) return false;
        py::object cache = py::handle(logger).attr("_cache");
        if (!PyDict_Check(cache.ptr())) return true;
        PyObject *enabled = PyDict_GetItem(cache.ptr(), py::int_(level).ptr());  // borrowed; NULL: not cached
        return !enabled || PyObject_IsTrue(enabled) != 0;
    } catch (...) {
        return true;  // a Python error (its indicator is cleared) or anything else: let native_log decide
    }
}

/// What cotter_logger_may_log(COTTER_LOG_DEBUG) last said, read with the GIL wherever Python code already runs: at
/// the start of every network call (def_call) and in every log line that entered Python. Every request logs a DEBUG
/// line on the client's I/O thread, which has no Python thread state: entering Python there makes and deletes one
/// (and takes the GIL) per line, ~20-30 µs of CPU per blocking call, even when the check inside then drops the
/// line. So an I/O thread drops DEBUG lines without entering Python while this says no. A level changed between
/// calls takes effect with the next call; threads that have a Python thread state still ask logging every time.
std::atomic<bool> g_debug_may_log{true};

/// GIL held: refreshes g_debug_may_log (cheap: dictionary reads, no Python frame).
void refresh_debug_may_log() noexcept {
    g_debug_may_log.store(cotter_logger_may_log(COTTER_LOG_DEBUG), std::memory_order_relaxed);
}

// typedef void (*cotter_log_fn)(int level, const char *message, void *payload);
void log_trampoline(int level, const char *message, void *) noexcept {
    if (level == COTTER_LOG_DEBUG && !g_debug_may_log.load(std::memory_order_relaxed) &&
        PyGILState_GetThisThreadState() == nullptr)
        return;  // a client's I/O thread, and logging said no at the last look (see g_debug_may_log)
    with_python([&] {
        try {
            const bool may = cotter_logger_may_log(level);
            if (level == COTTER_LOG_DEBUG) g_debug_may_log.store(may, std::memory_order_relaxed);
            if (log_handler() && may) log_handler()(level, message ? message : "");
        } catch (py::error_already_set &e) {
            // A failing log handler must not fail the operation: report it the way logging does.
            e.discard_as_unraisable("cotter log callback");
        } catch (...) {
        }
    });
}

/// A clock pinned to one instant (`cotter verify --now`), carried in the payload pointer itself: the verifier may
/// outlive its Python owner (a key fetch in flight), so the payload must not point at anything the owner frees.
// typedef int64_t (*cotter_clock_fn)(void *payload);
static_assert(sizeof(void *) >= sizeof(int64_t), "the pinned clock travels in the payload pointer");
int64_t fixed_clock(void *payload) noexcept { return static_cast<int64_t>(reinterpret_cast<intptr_t>(payload)); }

// ------------------------------------------------------------------------------------------------
// Calls: the blocking form and the asyncio form of every network operation
// ------------------------------------------------------------------------------------------------

/// Python callables behind the session hooks, and the exception one of them raised. Shared by the Session and by
/// its asyncio calls in flight (which raise that exception); destroyed with the GIL held.
struct session_hooks {
    py::object load;               // () -> str | bytes | None
    py::object save;               // (json: str | None) -> None
    py::object on_tokens_changed;  // (token: Token | None) -> None
    pending_exception pending;
};

/// Takes the result of a completed call and builds its Python value (GIL held); throws cotter::Error on failure.
using convert_fn = py::object (*)(cotter::CallRef);

/// `convert(call)`, except that an exception raised by one of the session's hooks wins over the COTTER_EUSER it
/// caused, and one raised by tokens-changed (which cannot fail the call) is raised when the call returns.
py::object converted(cotter::CallRef call, convert_fn convert, session_hooks *hooks) {
    py::object r;
    try {
        r = convert(call);
    } catch (const cotter::Error &) {
        if (hooks) hooks->pending.rethrow_if_any();
        throw;
    }
    if (hooks) hooks->pending.rethrow_if_any();
    return r;
}

/// The blocking form: `call` was just started on this thread; wait with the GIL released, then convert.
py::object finish_blocking(cotter::Call call, convert_fn convert, session_hooks *hooks) {
    if (!wait_released(call.ptr())) throw cotter::Error(COTTER_ECANCELED, nullptr);  // exiting; freeing cancels it
    // A converter may run Python code (json.loads), and so does building the exception: both in this zone, which
    // shutdown() waits for (a thread whose call the exit hook cancelled raises cotter.Cancelled, never stops).
    python_zone zone{python_zone::counted_t{}};
    try {
        return converted(call, convert, hooks);
    } catch (const cotter::Error &e) {
        set_python_error(e);
        throw py::error_already_set();
    }
}

// --- asyncio -------------------------------------------------------------------------------------
// One Completions queue per event loop. A call's done callback runs on the client's I/O thread and must not wait
// for the GIL (every completion would then fight the loop thread for it): it only appends the call to the queue,
// under a mutex, and writes an eventfd when the queue was empty. The loop watches that eventfd (loop.add_reader);
// on its thread, with the GIL it already holds, drain() takes the whole batch, converts each result and resolves
// its future. (docs/python.md, "asyncio", has the measurements against loop.call_soon_threadsafe.)
//
// Ownership: a pending call has two references, the completion's (dropped once the I/O side is done with it) and
// the loop side's (dropped once its future is resolved or abandoned). Only the loop side, with the GIL, touches
// Python objects; whichever side drops the last reference frees the C call.
//
// The queue lives as long as the loop watches it: closing the loop drops the reader, and with it the queue, which
// then cancels what is still in flight and lets go of its futures (no Python object is touched afterwards).

struct completion_core;

struct pending {
    std::atomic<int> refs{2};
    cotter_call *call = nullptr;
    convert_fn convert = nullptr;
    std::shared_ptr<completion_core> core;
    std::shared_ptr<session_hooks> hooks;  // loop side only (GIL)
    PyObject *future = nullptr;            // owned; loop side only (GIL)
    bool inline_done = false;              // completed inside the `_start` function, on the starting thread
};

/// The part of a queue the I/O threads see. Outlives the Python queue while completions are still due.
struct completion_core {
    std::mutex mu;
    std::vector<pending *> done;  // guarded by mu: completed, not yet drained
    bool closed = false;          // guarded by mu: the loop side is gone; completions just drop their reference
    int fd = -1;                  // eventfd watched by the loop

    ~completion_core() {
        if (fd >= 0) ::close(fd);
    }
};

/// Drops one reference; the last one frees the C call (any thread: no Python object is left by then).
void release(pending *p) noexcept {
    if (p->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    cotter_call_free(p->call);
    delete p;
}

/// The call being started on this thread: its completion may run inline, inside the `_start` function.
thread_local pending *t_starting = nullptr;

// typedef void (*cotter_call_done_fn)(cotter_call *call, void *payload);
void on_call_done(cotter_call *, void *payload) noexcept {
    auto *p = static_cast<pending *>(payload);
    gate().async_in_flight.fetch_sub(1, std::memory_order_acq_rel);
    if (p == t_starting) {  // inline: submit() resolves it as soon as `_start` returns
        p->inline_done = true;
        return;
    }
    // Our own reference: once `p` is in the queue, the loop may resolve and free it, and drop the queue, at once.
    const std::shared_ptr<completion_core> core = p->core;
    bool wake = false, closed = false;
    try {
        std::lock_guard<std::mutex> lock(core->mu);
        closed = core->closed;
        if (!closed) {
            wake = core->done.empty();  // else a wake-up is already due: drain() reads the eventfd before the batch
            core->done.push_back(p);
        }
    } catch (...) {  // out of memory: the future is never resolved, but nothing unwinds into C
        return;
    }
    if (closed) {
        release(p);
        return;
    }
    if (wake) {
        const uint64_t one = 1;
        while (::write(core->fd, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }
}

class Completions;
/// Every live queue (GIL), so that shutdown() can cancel their calls.
std::unordered_set<Completions *> &live_queues() {
    static auto *q = new std::unordered_set<Completions *>();
    return *q;
}

/// The completion queue of one event loop (created by cotter.aio, which registers drain() with loop.add_reader).
class Completions {
  public:
    explicit Completions(const py::object &loop)
        : core_(std::make_shared<completion_core>()), loop_(py::weakref(loop)),
          create_future_(loop.attr("create_future")), generation_(gate().generation) {
        core_->fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (core_->fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
        live_queues().insert(this);
    }

    ~Completions() {
        python_zone zone;  // dropping a future may run Python code, here in a destructor
        live_queues().erase(this);
        if (inherited()) return;  // a forked child: the calls and their threads are the parent's; leak them
        std::vector<pending *> undelivered;
        {
            std::lock_guard<std::mutex> lock(core_->mu);
            core_->closed = true;
            undelivered.swap(core_->done);
        }
        for (pending *p : undelivered) release(p);  // their completion references
        std::unordered_map<PyObject *, pending *> abandoned;
        abandoned.swap(in_flight_);  // dropping a future may run Python code: iterate a list nothing else sees
        for (auto &entry : abandoned) {
            pending *p = entry.second;
            cotter_call_cancel(p->call);
            Py_CLEAR(p->future);  // the loop is closed: nobody can be woken any more
            p->hooks.reset();
            release(p);  // the loop side's reference; the completion's goes when it arrives
        }
    }

    Completions(const Completions &) = delete;
    Completions &operator=(const Completions &) = delete;

    int fd() const { return core_->fd; }

    /// True when this queue belongs to `loop` (not to a dead loop whose id was reused). A loop inherited through
    /// fork() keeps its queue, whose submit() then refuses: registering a new eventfd with that loop would change
    /// the epoll set it shares with the parent.
    bool serves(const py::handle &loop) const { return loop_().ptr() == loop.ptr(); }

    /// The reader callback: resolves every completed call (loop thread, GIL held).
    void drain() {
        if (inherited()) return;
        uint64_t n;
        while (::read(core_->fd, &n, sizeof n) < 0 && errno == EINTR) {
        }
        batch_.clear();
        {
            std::lock_guard<std::mutex> lock(core_->mu);
            batch_.swap(core_->done);
        }
        for (pending *p : batch_) {
            in_flight_.erase(p->future);
            resolve(p);
            release(p);  // the completion's reference
        }
        batch_.clear();
    }

    /// The task awaiting `future` was cancelled: cancel its C call (which then completes with COTTER_ECANCELED).
    void cancel(const py::handle &future) {
        if (inherited()) return;
        auto it = in_flight_.find(future.ptr());
        if (it != in_flight_.end()) cotter_call_cancel(it->second->call);
    }

    /// Cancels every call in flight (interpreter exit); their completions still come through the queue.
    void cancel_all() {
        if (inherited()) return;  // the parent's calls: their loop is not in this process
        for (auto &entry : in_flight_) cotter_call_cancel(entry.second->call);
    }

    /// Starts a call with `start(&call_options)` and returns the future its completion resolves (loop thread).
    template <class Start>
    py::object submit(Start &&start, convert_fn convert, std::shared_ptr<session_hooks> hooks, int64_t timeout_ms) {
        if (inherited()) throw std::runtime_error("this event loop was inherited through fork(); use a new one");
        py::object fut = create_future_();
        auto *p = new pending();
        p->core = core_;
        p->convert = convert;
        p->hooks = std::move(hooks);
        const cotter_call_options opts = cotter::call_options(on_call_done, p, timeout_ms);
        interpreter_gate &g = gate();
        g.async_in_flight.fetch_add(1, std::memory_order_acq_rel);
        t_starting = p;
        try {
            p->call = start(&opts).release();
        } catch (...) {  // nothing started: no completion will come
            t_starting = nullptr;
            g.async_in_flight.fetch_sub(1, std::memory_order_acq_rel);
            p->hooks.reset();
            delete p;
            throw;
        }
        t_starting = nullptr;
        p->future = fut.inc_ref().ptr();
        if (p->inline_done) {  // a fresh session token: resolved now, `await` will not even yield
            resolve(p);
            release(p);
        } else {
            in_flight_.emplace(p->future, p);
        }
        return fut;
    }

  private:
    bool inherited() const { return generation_ != gate().generation; }

    /// Resolves the future of a completed call and drops the loop side's reference (GIL held; never throws).
    void resolve(pending *p) noexcept {
        python_zone zone;  // Python code in a noexcept function and in catch handlers
        PyObject *fut = p->future;
        p->future = nullptr;
        std::shared_ptr<session_hooks> hooks = std::move(p->hooks);
        try {
            py::object f = py::reinterpret_steal<py::object>(fut);
            if (!f.attr("cancelled")().cast<bool>()) {  // cancelled: the task went on; drop the result
                try {
                    f.attr("set_result")(converted(cotter::CallRef(p->call), p->convert, hooks.get()));
                } catch (py::error_already_set &e) {
                    f.attr("set_exception")(e.value());
                } catch (const cotter::Error &e) {
                    f.attr("set_exception")(make_error(e));
                } catch (const std::bad_alloc &) {
                    f.attr("set_exception")(py::reinterpret_borrow<py::object>(PyExc_MemoryError)());
                } catch (const std::exception &e) {  // a bug in this glue: surface it rather than hang the task
                    f.attr("set_exception")(py::reinterpret_borrow<py::object>(PyExc_RuntimeError)(e.what()));
                }
            }
        } catch (py::error_already_set &e) {
            e.discard_as_unraisable("cotter: resolving an asyncio future");
        } catch (...) {
        }
        release(p);
    }

    std::shared_ptr<completion_core> core_;
    py::weakref loop_;
    py::object create_future_;                         // loop.create_future
    std::unordered_map<PyObject *, pending *> in_flight_;  // by future (GIL): started, not yet resolved
    std::vector<pending *> batch_;                     // drain()'s scratch space, kept for its capacity
    uint64_t generation_;
};

// --- The atexit hook and fork ---------------------------------------------------------------------

/// Interpreter exit (atexit, GIL held): cancels every call in flight, waits for them while callbacks may still run
/// (a session refresh landing now is still stored by its hooks), then closes the gate and waits for the callbacks
/// inside Python to leave. Bounded: exit never hangs on a stuck callback.
void close_eval_queues() noexcept;  // the shared stores' queues (below)

void shutdown() {
    interpreter_gate &g = gate();
    {
        std::lock_guard<std::mutex> lock(g.mu);
        if (g.exiting) return;
        g.exiting = true;
        for (cotter_call *c : g.blocking) cotter_call_cancel(c);
    }
    for (Completions *q : live_queues()) q->cancel_all();
    py::gil_scoped_release release;
    close_eval_queues();  // no Python code answers a shared store's eval any more: fail them, the calls end
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::unique_lock<std::mutex> lock(g.mu);
    // The asyncio completions only decrement a counter (they never take this mutex): look again every 10 ms.
    while (!(g.blocking.empty() && g.async_in_flight.load() <= 0 && g.releasing == 0 && g.returning == 0) &&
           std::chrono::steady_clock::now() < deadline)
        g.cv.wait_for(lock, std::chrono::milliseconds(10));
    g.closed = true;  // from now on, a daemon thread that comes back to us stops (stop_this_thread)
    // Threads on their way back from released() only wait for the GIL, which this thread does not hold: not bounded.
    g.cv.wait(lock, [&] { return g.returning == 0; });
    g.cv.wait_until(lock, deadline + std::chrono::seconds(1), [&] { return g.inside == 0; });
}

/// os.register_at_fork: the gate's mutex is held across fork() so that the child gets it in a known state.
void before_fork() { gate().mu.lock(); }
void after_fork_in_parent() { gate().mu.unlock(); }
void after_fork_in_child() {
    interpreter_gate &g = gate();
    // The parent's threads (its I/O threads, other Python threads) do not exist here: what they were doing is gone.
    g.blocking.clear();
    g.inside = 0;
    g.releasing = 0;
    g.returning = 0;
    g.async_in_flight = 0;
    g.main_thread = PyThread_get_thread_ident();  // the forking thread is the child's main thread
    ++g.generation;  // queues made before the fork are dead here (their eventfds are shared with the parent)
    g.mu.unlock();
}

/// The binding of one operation: a function that starts it (`_start`) and one that converts its result.
template <class Self, class... A>
using start_fn = cotter::Call (*)(Self &, const cotter_call_options *, A...);

session_hooks *hooks_of(const void *) { return nullptr; }
std::shared_ptr<session_hooks> shared_hooks_of(const void *) { return nullptr; }

/// Defines `name(args..., timeout_ms=0)` (blocking, the GIL released while it waits) and
/// `name_async(completions, args..., timeout_ms=0)` (returns an asyncio future) for one operation of `Self`.
template <class Self, class... A, class... Names>
void def_call(py::class_<Self> &cls, const char *name, start_fn<Self, A...> start, convert_fn convert,
              Names... names) {
    cls.def(
        name,
        [start, convert](Self &self, A... a, int64_t timeout_ms) {
            refresh_debug_may_log();
            const cotter_call_options opts = cotter::call_options(nullptr, nullptr, timeout_ms);
            return finish_blocking(start(self, &opts, a...), convert, hooks_of(&self));
        },
        names..., "timeout_ms"_a = 0);
    cls.def(
        (std::string(name) + "_async").c_str(),
        [start, convert](Self &self, Completions &q, A... a, int64_t timeout_ms) {
            refresh_debug_may_log();
            return q.submit([&](const cotter_call_options *o) { return start(self, o, a...); }, convert,
                            shared_hooks_of(&self), timeout_ms);
        },
        "completions"_a, names..., "timeout_ms"_a = 0);
}

// --- Results -------------------------------------------------------------------------------------

// COTTER_API int cotter_call_options_init(cotter_call_options *opts, unsigned int version);
// COTTER_API void cotter_call_cancel(cotter_call *call);
// COTTER_API int cotter_call_wait(cotter_call *call, cotter_error **out_error);
// COTTER_API void cotter_call_free(cotter_call *call);
py::object as_nothing(cotter::CallRef c) {
    c.wait();
    return py::none();
}

// ------------------------------------------------------------------------------------------------
// JWT verification
// ------------------------------------------------------------------------------------------------

struct Claims {
    cotter::Claims c;
};

struct Verifier {
    cotter::JwtVerifier v;
};

// COTTER_API int cotter_jwt_verifier_options_init(cotter_jwt_verifier_options *opts, unsigned int version);
// COTTER_API int cotter_jwt_verifier_new(cotter_jwt_verifier **out, const cotter_jwt_verifier_options *opts, cotter_error **out_error);
// Numeric options: None keeps the C default; the library checks the ranges (the same message in every language).
template <class Field, class Value>
void set_if(Field &field, const std::optional<Value> &v) {
    if (v) field = static_cast<Field>(*v);
}

std::unique_ptr<Verifier> verifier_new(const cstr &audience, const std::optional<cstr> &issuer,
                                       std::optional<int64_t> leeway_seconds, const std::optional<cstr> &jwks_json,
                                       const std::optional<cstr> &jwks_url, const std::optional<cstr> &ca_file,
                                       std::optional<int64_t> jwks_max_age_ms, std::optional<int64_t> jwks_cooldown_ms,
                                       std::optional<int64_t> jwks_timeout_ms, std::optional<size_t> jwks_max_bytes,
                                       std::optional<size_t> token_cache_size, std::optional<int64_t> now,
                                       bool from_environment, bool log) {
    auto self = std::make_unique<Verifier>();
    cotter_jwt_verifier_options o = cotter::jwt_verifier_options();
    o.audience = audience.c_str();
    o.issuer = c_or_null(issuer);
    set_if(o.leeway_seconds, leeway_seconds);
    o.jwks_json = c_or_null(jwks_json);
    o.jwks_url = c_or_null(jwks_url);
    o.ca_file = c_or_null(ca_file);
    set_if(o.jwks_max_age_ms, jwks_max_age_ms);
    set_if(o.jwks_cooldown_ms, jwks_cooldown_ms);
    set_if(o.jwks_timeout_ms, jwks_timeout_ms);
    set_if(o.jwks_max_bytes, jwks_max_bytes);
    set_if(o.token_cache_size, token_cache_size);
    o.from_environment = from_environment ? 1 : 0;
    if (now) {
        o.clock = fixed_clock;
        o.clock_payload = reinterpret_cast<void *>(static_cast<intptr_t>(*now));
    }
    if (log) o.log = log_trampoline;
    self->v = released([&] { return cotter::JwtVerifier::create(o); });
    return self;
}

// COTTER_API int cotter_jwt_verify(cotter_claims **out, cotter_jwt_verifier *verifier, const char *token, size_t token_len, cotter_error **out_error);
Claims verifier_verify(Verifier &self, const py::handle &token) {
    std::string t = as_bytes(token);
    return Claims{released([&] { return self.v.verify(t); })};
}

// COTTER_API int cotter_jwt_verify(cotter_claims **out, cotter_jwt_verifier *verifier, const char *token, size_t token_len, cotter_error **out_error);
void verifier_check(Verifier &self, const py::handle &token) {
    std::string t = as_bytes(token);
    released([&] { self.v.check(t); });
}

// COTTER_API int cotter_jwt_verifier_refresh_start(cotter_call **out, cotter_jwt_verifier *verifier, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call verifier_refresh(Verifier &self, const cotter_call_options *o) { return self.v.refresh_start(o); }

// COTTER_API const char *cotter_claims_audience(const cotter_claims *claims, size_t index);
// COTTER_API size_t cotter_claims_audience_count(const cotter_claims *claims);
py::list claims_audience(const Claims &self) {
    py::list out;
    for (size_t i = 0, n = self.c.audience_count(); i < n; ++i) out.append(opt_str(self.c.audience(i)));
    return out;
}

/// The claims' properties, one per C getter (audience, a list, and json are written in bind_jwt).
// BEGIN GENERATED claims getters (scripts/gen.py from capi/abi.json; do not edit)
void def_claims_getters(py::class_<Claims> &cls) {
    // COTTER_API const char *cotter_claims_sub(const cotter_claims *claims);
    cls.def_property_readonly("sub", [](const Claims &self) { return opt_str(self.c.sub()); });
    // COTTER_API const char *cotter_claims_iss(const cotter_claims *claims);
    cls.def_property_readonly("iss", [](const Claims &self) { return opt_str(self.c.iss()); });
    // COTTER_API const char *cotter_claims_identifier(const cotter_claims *claims);
    cls.def_property_readonly("identifier", [](const Claims &self) { return opt_str(self.c.identifier()); });
    // COTTER_API const char *cotter_claims_authentication_method(const cotter_claims *claims);
    cls.def_property_readonly("authentication_method",
                              [](const Claims &self) { return opt_str(self.c.authentication_method()); });
    // COTTER_API const char *cotter_claims_scope(const cotter_claims *claims);
    cls.def_property_readonly("scope", [](const Claims &self) { return opt_str(self.c.scope()); });
    // COTTER_API const char *cotter_claims_type(const cotter_claims *claims);
    cls.def_property_readonly("type", [](const Claims &self) { return opt_str(self.c.type()); });
    // COTTER_API const char *cotter_claims_client_user_id(const cotter_claims *claims);
    cls.def_property_readonly("client_user_id", [](const Claims &self) { return opt_str(self.c.client_user_id()); });
    // COTTER_API const char *cotter_claims_jti(const cotter_claims *claims);
    cls.def_property_readonly("jti", [](const Claims &self) { return opt_str(self.c.jti()); });
    // COTTER_API const char *cotter_claims_auth_time(const cotter_claims *claims);
    cls.def_property_readonly("auth_time", [](const Claims &self) { return opt_str(self.c.auth_time()); });
    // COTTER_API const char *cotter_claims_kid(const cotter_claims *claims);
    cls.def_property_readonly("kid", [](const Claims &self) { return opt_str(self.c.kid()); });
    // COTTER_API int64_t cotter_claims_exp(const cotter_claims *claims);
    cls.def_property_readonly("exp", [](const Claims &self) { return self.c.exp(); });
    // COTTER_API int64_t cotter_claims_iat(const cotter_claims *claims);
    cls.def_property_readonly("iat", [](const Claims &self) { return self.c.iat(); });
    // COTTER_API int64_t cotter_claims_nbf(const cotter_claims *claims);
    cls.def_property_readonly("nbf", [](const Claims &self) { return self.c.nbf(); });
}
// END GENERATED claims getters

void bind_jwt(py::module_ &m) {
    py::class_<Claims> claims(m, "Claims");
    def_claims_getters(claims);
    claims
        .def_property_readonly("audience", &claims_audience)
        // COTTER_API const char *cotter_claims_json(const cotter_claims *claims, size_t *len_out);
        .def_property_readonly("json", [](const Claims &s) {
            std::string_view j = s.c.json();
            return py::str(j.data(), j.size());
        });

    py::class_<Verifier> verifier(m, "Verifier");
    verifier
        .def(py::init(&verifier_new), "audience"_a, "issuer"_a, "leeway_seconds"_a, "jwks_json"_a, "jwks_url"_a,
             "ca_file"_a, "jwks_max_age_ms"_a, "jwks_cooldown_ms"_a, "jwks_timeout_ms"_a, "jwks_max_bytes"_a,
             "token_cache_size"_a, "now"_a, "from_environment"_a, "log"_a)
        .def("verify", &verifier_verify, "token"_a)
        .def("check", &verifier_check, "token"_a);
    def_call(verifier, "refresh", &verifier_refresh, &as_nothing);
    // COTTER_API void cotter_jwt_verifier_free(cotter_jwt_verifier *verifier);
    // COTTER_API void cotter_claims_free(cotter_claims *claims);
    // (both run by the owners' destructors when Python drops the objects)
}

// COTTER_API int cotter_identity_token_verify(const char *identity_token_json, const char *api_key_id, const char *public_key_b64, int64_t now, cotter_error **out_error);
void identity_token_verify(const cstr &json, const cstr &api_key_id,
                           const std::optional<cstr> &public_key_b64, int64_t now) {
    released([&] { cotter::identity_token_verify(json.c_str(), api_key_id.c_str(), c_or_null(public_key_b64), now); });
}

// COTTER_API int cotter_event_token_verify(const char *event_token_json, const char *api_key_id, const char *public_key_b64, cotter_error **out_error);
void event_token_verify(const cstr &json, const cstr &api_key_id,
                        const std::optional<cstr> &public_key_b64) {
    released([&] { cotter::event_token_verify(json.c_str(), api_key_id.c_str(), c_or_null(public_key_b64)); });
}

// ------------------------------------------------------------------------------------------------
// OAuth token set
// ------------------------------------------------------------------------------------------------

struct Token {
    cotter::Token t;
};

// COTTER_API int cotter_token_from_json(cotter_token **out, const char *json, size_t json_len, cotter_error **out_error);
Token token_from_json(const py::handle &json) {
    std::string j = as_bytes(json);
    return Token{cotter::Token::from_json(j)};
}

// COTTER_API int cotter_token_to_json(cotter_buf *out, const cotter_token *token, cotter_error **out_error);
py::str token_to_json(const Token &self) {
    cotter::unique_buf b = self.t.to_json();
    return py::str(b.data(), b.size());
}

/// The token set's properties, one per C getter.
// BEGIN GENERATED token getters (scripts/gen.py from capi/abi.json; do not edit)
void def_token_getters(py::class_<Token> &cls) {
    // COTTER_API const char *cotter_token_access_token(const cotter_token *token);
    cls.def_property_readonly("access_token", [](const Token &self) { return opt_str(self.t.access_token()); });
    // COTTER_API const char *cotter_token_id_token(const cotter_token *token);
    cls.def_property_readonly("id_token", [](const Token &self) { return opt_str(self.t.id_token()); });
    // COTTER_API const char *cotter_token_refresh_token(const cotter_token *token);
    cls.def_property_readonly("refresh_token", [](const Token &self) { return opt_str(self.t.refresh_token()); });
    // COTTER_API const char *cotter_token_token_type(const cotter_token *token);
    cls.def_property_readonly("token_type", [](const Token &self) { return opt_str(self.t.token_type()); });
    // COTTER_API const char *cotter_token_auth_method(const cotter_token *token);
    cls.def_property_readonly("auth_method", [](const Token &self) { return opt_str(self.t.auth_method()); });
    // COTTER_API int64_t cotter_token_expires_in(const cotter_token *token);
    cls.def_property_readonly("expires_in", [](const Token &self) { return self.t.expires_in(); });
    // COTTER_API int64_t cotter_token_access_token_expires_at(const cotter_token *token);
    cls.def_property_readonly("access_token_expires_at",
                              [](const Token &self) { return self.t.access_token_expires_at(); });
}
// END GENERATED token getters

void bind_token(py::module_ &m) {
    py::class_<Token> token(m, "Token");
    token.def_static("from_json", &token_from_json, "json"_a).def("to_json", &token_to_json);
    def_token_getters(token);
    // COTTER_API void cotter_token_free(cotter_token *token);  (the owner's destructor; wipes)
}

// ------------------------------------------------------------------------------------------------
// PKCE and the hosted login page
// ------------------------------------------------------------------------------------------------

// COTTER_API int cotter_pkce_new(cotter_pkce **out, cotter_error **out_error);
// COTTER_API const char *cotter_pkce_verifier(const cotter_pkce *pkce);
// COTTER_API const char *cotter_pkce_challenge(const cotter_pkce *pkce);
// COTTER_API const char *cotter_pkce_state(const cotter_pkce *pkce);
// COTTER_API void cotter_pkce_free(cotter_pkce *pkce);
py::tuple pkce_new() {
    cotter::Pkce p = cotter::Pkce::generate();
    return py::make_tuple(py::str(p.verifier()), py::str(p.challenge()), py::str(p.state()));
}

// COTTER_API int cotter_jwks_url(cotter_buf *out, const char *base_url, cotter_error **out_error);
py::str jwks_url(const std::optional<cstr> &base_url) {
    cotter::unique_buf b = cotter::jwks_url(c_or_null(base_url));
    return py::str(b.data(), b.size());
}

// COTTER_API int cotter_pkce_challenge_of(cotter_buf *out, const char *verifier, cotter_error **out_error);
py::str pkce_challenge_of(const cstr &verifier) {
    cotter::unique_buf b = cotter::pkce_challenge_of(verifier.c_str());
    return py::str(b.data(), b.size());
}

// COTTER_API int cotter_login_url(cotter_buf *out, const cotter_login_url_options *opts, cotter_error **out_error);
py::str login_url(const std::optional<cstr> &login_url_base, const cstr &api_key_id,
                  const cstr &redirect_url, const cstr &state, const cstr &code_challenge,
                  const std::optional<cstr> &identifier_type, const std::optional<cstr> &auth_method,
                  const std::optional<cstr> &input, const std::optional<cstr> &cotter_user_id,
                  bool from_environment) {
    cotter_login_url_options o = cotter::login_url_options();
    o.login_url = c_or_null(login_url_base);
    o.api_key_id = api_key_id.c_str();
    o.redirect_url = redirect_url.c_str();
    o.state = state.c_str();
    o.code_challenge = code_challenge.c_str();
    o.identifier_type = c_or_null(identifier_type);
    o.auth_method = c_or_null(auth_method);
    o.input = c_or_null(input);
    o.cotter_user_id = c_or_null(cotter_user_id);
    o.from_environment = from_environment ? 1 : 0;
    cotter::unique_buf b = cotter::login_url(o);
    return py::str(b.data(), b.size());
}

// COTTER_API int cotter_login_redirect_parse(cotter_buf *code_out, int64_t *challenge_id_out, const char *query, const char *expected_state, cotter_error **out_error);
py::tuple login_redirect_parse(const cstr &query, const cstr &expected_state) {
    cotter::LoginRedirect r = cotter::login_redirect_parse(query.c_str(), expected_state.c_str());
    return py::make_tuple(py::str(r.code.data(), r.code.size()), r.challenge_id);
}

// ------------------------------------------------------------------------------------------------
// HTTP client
// ------------------------------------------------------------------------------------------------

struct Client {
    cotter::Client c;
};

// COTTER_API int cotter_client_options_init(cotter_client_options *opts, unsigned int version);
// COTTER_API int cotter_client_new(cotter_client **out, const cotter_client_options *opts, cotter_error **out_error);
std::unique_ptr<Client> client_new(const std::optional<cstr> &api_key_id, const std::optional<cstr> &api_secret_key,
                                   const std::optional<cstr> &base_url,
                                   const std::optional<cstr> &worker_url,
                                   const std::optional<cstr> &ca_file, std::optional<int64_t> connect_timeout_ms,
                                   std::optional<int64_t> timeout_ms, std::optional<int> max_retries,
                                   std::optional<int64_t> retry_base_ms, std::optional<int64_t> retry_max_ms,
                                   std::optional<size_t> max_response_bytes, std::optional<long> max_host_connections,
                                   bool from_environment, bool log) {
    auto self = std::make_unique<Client>();
    cotter_client_options o = cotter::client_options();
    o.api_key_id = c_or_null(api_key_id);
    o.from_environment = from_environment ? 1 : 0;
    o.api_secret_key = c_or_null(api_secret_key);
    o.base_url = c_or_null(base_url);
    o.worker_url = c_or_null(worker_url);
    o.ca_file = c_or_null(ca_file);
    set_if(o.connect_timeout_ms, connect_timeout_ms);
    set_if(o.timeout_ms, timeout_ms);
    set_if(o.max_retries, max_retries);
    set_if(o.retry_base_ms, retry_base_ms);
    set_if(o.retry_max_ms, retry_max_ms);
    set_if(o.max_response_bytes, max_response_bytes);
    set_if(o.max_host_connections, max_host_connections);
    if (log) o.log = log_trampoline;
    self->c = released([&] { return cotter::Client::create(o); });
    return self;
}

// --- Results of the client's calls (the takers) ---------------------------------------------------

// COTTER_API int cotter_call_take_token(cotter_token **out, cotter_call *call, cotter_error **out_error);
py::object as_token(cotter::CallRef c) { return py::cast(Token{c.take_token()}); }

// COTTER_API int cotter_call_take_custom_claims(cotter_buf *token_out, cotter_buf *refresh_token_out, cotter_call *call, cotter_error **out_error);
py::object as_custom_claims(cotter::CallRef c) {
    cotter::CustomClaims r = cotter::take_custom_claims(c, true);  // no refresh token was sent: none comes back
    py::object new_rt = r.refresh_token.has_value()
                            ? py::object(py::str(r.refresh_token.data(), r.refresh_token.size()))
                            : py::object(py::none());
    return py::make_tuple(py::str(r.token.data(), r.token.size()), new_rt);
}

// COTTER_API int cotter_call_take_verify_remote(int *valid_out, cotter_buf *reason_out, cotter_call *call, cotter_error **out_error);
py::object as_verify_remote(cotter::CallRef c) {
    cotter::RemoteVerdict r = cotter::take_verify_remote(c);
    py::object reason = r.reason.has_value() && !r.reason.empty()
                            ? py::object(py::str(r.reason.data(), r.reason.size()))
                            : py::object(py::none());
    return py::make_tuple(r.valid, reason);
}

// A record that crosses the ABI as JSON (checked by the core; capi/abi.json `records`) becomes a dict or list,
// which python/cotter/_records.py reads into its typed class.
// COTTER_API int cotter_call_take_buf(cotter_buf *out, cotter_call *call, cotter_error **out_error);
py::object as_json(cotter::CallRef c) {
    cotter::unique_buf b = c.take_buf();
    return py::module_::import("json").attr("loads")(py::str(b.data(), b.size()));
}

// --- The client's calls: their `_start` functions, each registered with the converter of its result ---

// BEGIN GENERATED client calls (scripts/gen.py from capi/abi.json; do not edit)
// COTTER_API int cotter_client_grant_identity_token_start(cotter_call **out, cotter_client *client, const char *identity_token_json, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_grant_identity_token(Client &self, const cotter_call_options *o, const cstr &identity_token_json) {
    return self.c.grant_identity_token_start(identity_token_json.c_str(), o);
}
// COTTER_API int cotter_client_grant_event_token_start(cotter_call **out, cotter_client *client, const char *event_token_json, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_grant_event_token(Client &self, const cotter_call_options *o, const cstr &event_token_json) {
    return self.c.grant_event_token_start(event_token_json.c_str(), o);
}
// COTTER_API int cotter_client_refresh_start(cotter_call **out, cotter_client *client, const char *refresh_token, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_refresh(Client &self, const cotter_call_options *o, const cstr &refresh_token) {
    return self.c.refresh_start(refresh_token.c_str(), o);
}
// COTTER_API int cotter_client_logout_start(cotter_call **out, cotter_client *client, const char *refresh_token, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_logout(Client &self, const cotter_call_options *o, const std::optional<cstr> &refresh_token) {
    return self.c.logout_start(c_or_null(refresh_token), o);
}
// COTTER_API int cotter_client_custom_claims_start(cotter_call **out, cotter_client *client, const char *token, const char *custom_attributes_json, const char *refresh_token, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_custom_claims(Client &self, const cotter_call_options *o, const cstr &token,
                                  const cstr &custom_attributes_json, const std::optional<cstr> &refresh_token) {
    return self.c.custom_claims_start(token.c_str(), custom_attributes_json.c_str(), c_or_null(refresh_token), o);
}
// COTTER_API int cotter_client_get_identity_start(cotter_call **out, cotter_client *client, const char *authorization_code, int64_t challenge_id, const char *code_verifier, const char *redirect_url, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_get_identity(Client &self, const cotter_call_options *o, const cstr &authorization_code,
                                 int64_t challenge_id, const cstr &code_verifier, const cstr &redirect_url) {
    return self.c.get_identity_start(authorization_code.c_str(), challenge_id, code_verifier.c_str(),
                                     redirect_url.c_str(), o);
}
// COTTER_API int cotter_client_user_create_start(cotter_call **out, cotter_client *client, const char *identifier, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_user_create(Client &self, const cotter_call_options *o, const cstr &identifier) {
    return self.c.user_create_start(identifier.c_str(), o);
}
// COTTER_API int cotter_client_user_get_by_identifier_start(cotter_call **out, cotter_client *client, const char *identifier, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_user_get_by_identifier(Client &self, const cotter_call_options *o, const cstr &identifier) {
    return self.c.user_get_by_identifier_start(identifier.c_str(), o);
}
// COTTER_API int cotter_client_user_get_start(cotter_call **out, cotter_client *client, const char *user_id, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_user_get(Client &self, const cotter_call_options *o, const cstr &user_id) {
    return self.c.user_get_start(user_id.c_str(), o);
}
// COTTER_API int cotter_client_user_list_start(cotter_call **out, cotter_client *client, unsigned int page, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_user_list(Client &self, const cotter_call_options *o, unsigned int page) {
    return self.c.user_list_start(page, o);
}
// COTTER_API int cotter_client_social_tokens_list_start(cotter_call **out, cotter_client *client, const char *cotter_user_id, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_social_tokens_list(Client &self, const cotter_call_options *o, const cstr &cotter_user_id) {
    return self.c.social_tokens_list_start(cotter_user_id.c_str(), o);
}
// COTTER_API int cotter_client_social_token_get_start(cotter_call **out, cotter_client *client, const char *provider, const char *cotter_user_id, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_social_token_get(Client &self, const cotter_call_options *o, const cstr &provider,
                                     const cstr &cotter_user_id) {
    return self.c.social_token_get_start(provider.c_str(), cotter_user_id.c_str(), o);
}
// COTTER_API int cotter_client_social_token_delete_start(cotter_call **out, cotter_client *client, const char *provider, const char *cotter_user_id, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_social_token_delete(Client &self, const cotter_call_options *o, const cstr &provider,
                                        const cstr &cotter_user_id) {
    return self.c.social_token_delete_start(provider.c_str(), cotter_user_id.c_str(), o);
}
// COTTER_API int cotter_client_verify_remote_start(cotter_call **out, cotter_client *client, const char *access_token, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_verify_remote(Client &self, const cotter_call_options *o, const cstr &access_token) {
    return self.c.verify_remote_start(access_token.c_str(), o);
}
// COTTER_API int cotter_client_event_create_pending_start(cotter_call **out, cotter_client *client, const char *client_user_id, const char *event, const char *code_challenge, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_event_create_pending(Client &self, const cotter_call_options *o, const cstr &client_user_id,
                                         const cstr &event, const std::optional<cstr> &code_challenge) {
    return self.c.event_create_pending_start(client_user_id.c_str(), event.c_str(), c_or_null(code_challenge), o);
}
// COTTER_API int cotter_client_event_get_start(cotter_call **out, cotter_client *client, int64_t event_id, const char *code_verifier, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call client_event_get(Client &self, const cotter_call_options *o, int64_t event_id,
                              const std::optional<cstr> &code_verifier) {
    return self.c.event_get_start(event_id, c_or_null(code_verifier), o);
}

/// Registers `op(...)` and `op_async(completions, ...)` of every call of Client (def_call).
void def_client_calls(py::class_<Client> &cls) {
    def_call(cls, "grant_identity_token", &client_grant_identity_token, &as_token, "identity_token_json"_a);
    def_call(cls, "grant_event_token", &client_grant_event_token, &as_token, "event_token_json"_a);
    def_call(cls, "refresh", &client_refresh, &as_token, "refresh_token"_a);
    def_call(cls, "logout", &client_logout, &as_nothing, "refresh_token"_a);
    def_call(cls, "custom_claims", &client_custom_claims, &as_custom_claims, "token"_a, "custom_attributes_json"_a,
             "refresh_token"_a);
    def_call(cls, "get_identity", &client_get_identity, &as_json, "authorization_code"_a, "challenge_id"_a,
             "code_verifier"_a, "redirect_url"_a);
    def_call(cls, "user_create", &client_user_create, &as_json, "identifier"_a);
    def_call(cls, "user_get_by_identifier", &client_user_get_by_identifier, &as_json, "identifier"_a);
    def_call(cls, "user_get", &client_user_get, &as_json, "user_id"_a);
    def_call(cls, "user_list", &client_user_list, &as_json, "page"_a);
    def_call(cls, "social_tokens_list", &client_social_tokens_list, &as_json, "cotter_user_id"_a);
    def_call(cls, "social_token_get", &client_social_token_get, &as_json, "provider"_a, "cotter_user_id"_a);
    def_call(cls, "social_token_delete", &client_social_token_delete, &as_nothing, "provider"_a, "cotter_user_id"_a);
    def_call(cls, "verify_remote", &client_verify_remote, &as_verify_remote, "access_token"_a);
    def_call(cls, "event_create_pending", &client_event_create_pending, &as_json, "client_user_id"_a, "event"_a,
             "code_challenge"_a);
    def_call(cls, "event_get", &client_event_get, &as_json, "event_id"_a, "code_verifier"_a);
}
// END GENERATED client calls

void bind_client(py::module_ &m) {
    py::class_<Client> client(m, "Client");
    client
        .def(py::init(&client_new), "api_key_id"_a, "api_secret_key"_a, "base_url"_a, "worker_url"_a, "ca_file"_a,
             "connect_timeout_ms"_a, "timeout_ms"_a, "max_retries"_a, "retry_base_ms"_a, "retry_max_ms"_a,
             "max_response_bytes"_a, "max_host_connections"_a, "from_environment"_a, "log"_a)
        // COTTER_API const char *cotter_client_base_url(const cotter_client *client);
        .def_property_readonly("base_url", [](const Client &s) { return opt_str(s.c.base_url()); })
        // COTTER_API const char *cotter_client_api_key_id(const cotter_client *client);
        .def_property_readonly("api_key_id", [](const Client &s) { return opt_str(s.c.api_key_id()); })
        // COTTER_API int cotter_client_stats_get(cotter_client_stats *out, const cotter_client *client);
        .def("stats", [](const Client &s) {
            cotter_client_stats st = s.c.stats();
            return py::dict("requests"_a = st.requests, "connections"_a = st.connections, "retries"_a = st.retries);
        });
    def_client_calls(client);
    // COTTER_API void cotter_client_free(cotter_client *client);  (the owner's destructor; wipes the secret)
}

// ------------------------------------------------------------------------------------------------
// Token sessions
// ------------------------------------------------------------------------------------------------

// typedef int (*cotter_session_load_fn)(cotter_buf *out, void *payload);
// COTTER_API int cotter_buf_alloc(cotter_buf *out, size_t len);
int load_trampoline(cotter_buf *out, void *payload) noexcept {
    auto *h = static_cast<session_hooks *>(payload);
    int rc = 1;  // the interpreter is exiting: the hook cannot run (COTTER_EUSER)
    with_python([&] {
        try {
            py::object r = h->load();
            if (r.is_none()) {
                rc = 0;
                return;
            }
            std::string s = as_bytes(r);
            if (cotter_buf_alloc(out, s.size()) != COTTER_OK) return;
            if (!s.empty()) std::memcpy(out->ptr, s.data(), s.size());
            rc = 0;
        } catch (py::error_already_set &e) {
            h->pending.store(std::move(e));
        } catch (...) {
            // Nothing may unwind into C; the call fails with COTTER_EUSER.
        }
    });
    return rc;
}

// typedef int (*cotter_session_save_fn)(const char *json, size_t len, void *payload);
int save_trampoline(const char *json, size_t len, void *payload) noexcept {
    auto *h = static_cast<session_hooks *>(payload);
    int rc = 1;
    with_python([&] {
        try {
            h->save(json ? py::object(py::str(json, len)) : py::object(py::none()));
            rc = 0;
        } catch (py::error_already_set &e) {
            h->pending.store(std::move(e));
        } catch (...) {
        }
    });
    return rc;
}

// typedef void (*cotter_tokens_changed_fn)(const cotter_token *token, void *payload);
void tokens_changed_trampoline(const cotter_token *token, void *payload) noexcept {
    auto *h = static_cast<session_hooks *>(payload);
    with_python([&] {
        try {
            py::object arg = token ? py::cast(Token{cotter::TokenRef(token).copy()}) : py::object(py::none());
            h->on_tokens_changed(arg);
        } catch (py::error_already_set &e) {
            // The change already happened; the exception is raised when the next call of the session returns.
            h->pending.store(std::move(e));
        } catch (...) {
        }
    });
}

// ------------------------------------------------------------------------------------------------
// Shared session store (Redis, docs/shared-sessions.md): an adapter whose `eval` only queues
// ------------------------------------------------------------------------------------------------
// The library calls the adapter's eval on a client's I/O thread, which must not wait for the GIL or a round trip.
// So eval copies the command into an EvalRequest, queues it and bumps an eventfd; Python (cotter/redis.py) reads
// the eventfd (worker threads for redis-py's sync client, the event loop for redis.asyncio), pops the request, runs
// EVALSHA/EVAL on the user's client and completes it. The native objects never hold a Python reference, so
// `release` may run on any thread without the GIL. Every request completes exactly once: from Python, or with
// COTTER_ESHARED_UNAVAILABLE when it is dropped unanswered (its loop closed), its store closed, or the interpreter
// exits (shutdown() closes every queue).

struct eval_queue;

/// One eval the library asked for. `args` hold tokens: they never go into a message or a repr.
struct eval_request {
    std::string script, sha1;
    std::vector<std::string> keys, args;
    cotter_shared_store_done_fn done = nullptr;
    void *done_ctx = nullptr;
    std::atomic<bool> completed{false};
    std::weak_ptr<eval_queue> queue;  // to leave its `live` list once completed

    ~eval_request() { fail_released("the eval was dropped unanswered (its store or event loop was closed)"); }

    /// Completes once (later calls do nothing). Never with the GIL held: `done` runs the library's continuation,
    /// which may wait for locks that an I/O thread holds while it waits for the GIL.
    void finish(int status, const std::vector<std::string> *items, const char *message) noexcept;
    void fail_released(const char *message) noexcept {
        if (completed.load()) return;
        if (Py_IsInitialized() && PyGILState_Check()) {
            released([&] { finish(COTTER_ESHARED_UNAVAILABLE, nullptr, message); });
        } else {
            finish(COTTER_ESHARED_UNAVAILABLE, nullptr, message);
        }
    }
};

/// One wait the library asked for (adapter version 2): a message on `channel`, or `timeout_ms`. Completed once with
/// COTTER_OK (a message), COTTER_ETIMEOUT or COTTER_ESHARED_UNAVAILABLE; dropped unanswered = unavailable.
struct wait_request {
    std::string channel;
    int64_t timeout_ms = 0;
    cotter_shared_store_wait_done_fn done = nullptr;
    void *done_ctx = nullptr;
    std::atomic<bool> completed{false};
    std::weak_ptr<eval_queue> queue;  // to leave its `live_waits` list once completed

    ~wait_request() { finish_released(COTTER_ESHARED_UNAVAILABLE); }
    void finish(int status) noexcept;  // never with the GIL held (as eval_request::finish)
    void finish_released(int status) noexcept {
        if (completed.load()) return;
        if (Py_IsInitialized() && PyGILState_Check()) released([&] { finish(status); });
        else finish(status);
    }
};

/// The adapter's payload, shared by the C store (until `release`) and the Python store (its EvalQueue).
struct eval_queue {
    std::mutex mu;
    std::deque<std::shared_ptr<eval_request>> queued;                // guarded by mu: not yet popped by Python
    std::unordered_map<eval_request *, std::weak_ptr<eval_request>> live;  // guarded by mu: not yet completed
    std::deque<std::shared_ptr<wait_request>> queued_waits;                  // guarded by mu
    std::unordered_map<wait_request *, std::weak_ptr<wait_request>> live_waits;  // guarded by mu
    bool closed = false;                                             // guarded by mu
    int fd = -1;
    int wait_fd = -1;  // non-blocking eventfd bumped per queued wait (read by the store's subscriber)

    explicit eval_queue(bool semaphore) {
        fd = eventfd(0, EFD_CLOEXEC | (semaphore ? EFD_SEMAPHORE : EFD_NONBLOCK));
        if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
        wait_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wait_fd < 0) {
            const int e = errno;
            ::close(fd);
            throw std::system_error(e, std::generic_category(), "eventfd");
        }
    }
    ~eval_queue() {
        close_all("the shared store was closed", false);
        if (fd >= 0) ::close(fd);
        if (wait_fd >= 0) ::close(wait_fd);
    }

    static void bump_fd(int which, uint64_t n) noexcept {
        ssize_t rc;
        do rc = ::write(which, &n, sizeof n);
        while (rc < 0 && errno == EINTR);
    }
    void bump(uint64_t n) noexcept { bump_fd(fd, n); }

    /// From the I/O thread (no GIL): false once closed (the waiter then polls).
    bool push_wait(std::shared_ptr<wait_request> w) {
        {
            std::lock_guard<std::mutex> lock(mu);
            if (closed) return false;
            live_waits.emplace(w.get(), w);
            queued_waits.push_back(std::move(w));
        }
        bump_fd(wait_fd, 1);
        return true;
    }

    std::shared_ptr<wait_request> pop_wait() {
        std::lock_guard<std::mutex> lock(mu);
        if (queued_waits.empty()) return nullptr;
        std::shared_ptr<wait_request> w = std::move(queued_waits.front());
        queued_waits.pop_front();
        return w;
    }

    /// From the I/O thread (no GIL): false once closed (the library then fails the step).
    bool push(std::shared_ptr<eval_request> r) {
        {
            std::lock_guard<std::mutex> lock(mu);
            if (closed) return false;
            live.emplace(r.get(), r);
            queued.push_back(std::move(r));
        }
        bump(1);
        return true;
    }

    std::shared_ptr<eval_request> pop() {
        std::lock_guard<std::mutex> lock(mu);
        if (queued.empty()) return nullptr;
        std::shared_ptr<eval_request> r = std::move(queued.front());
        queued.pop_front();
        return r;
    }

    /// Fails every request not completed yet and refuses new ones. `wake`: make every reader of the eventfd return
    /// (not at interpreter exit: a daemon thread woken then would only try to take the GIL back).
    void close_all(const char *why, bool wake) noexcept {
        std::vector<std::shared_ptr<eval_request>> pending;
        std::vector<std::shared_ptr<wait_request>> waiting;
        {
            std::lock_guard<std::mutex> lock(mu);
            closed = true;
            for (auto &kv : live)
                if (auto r = kv.second.lock()) pending.push_back(std::move(r));
            for (auto &kv : live_waits)
                if (auto w = kv.second.lock()) waiting.push_back(std::move(w));
            live.clear();
            queued.clear();
            live_waits.clear();
            queued_waits.clear();
        }
        for (auto &r : pending) r->finish(COTTER_ESHARED_UNAVAILABLE, nullptr, why);
        for (auto &w : waiting) w->finish(COTTER_ESHARED_UNAVAILABLE);
        pending.clear();  // outside the lock: a request's destructor looks at `live`
        waiting.clear();
        if (wake) {
            bump(uint64_t(1) << 40);
            bump_fd(wait_fd, 1);
        }
    }
};

void eval_request::finish(int status, const std::vector<std::string> *items, const char *message) noexcept {
    if (completed.exchange(true)) return;
    if (auto q = queue.lock()) {
        std::lock_guard<std::mutex> lock(q->mu);
        q->live.erase(this);
    }
    std::vector<const char *> ptrs;
    std::vector<size_t> lens;
    try {
        if (items) {
            for (const std::string &s : *items) {
                ptrs.push_back(s.data());
                lens.push_back(s.size());
            }
        }
    } catch (...) {
        status = COTTER_ESHARED_UNAVAILABLE;
        message = "out of memory";
        items = nullptr;
    }
    if (status == COTTER_OK && items)
        done(done_ctx, COTTER_OK, ptrs.data(), lens.data(), ptrs.size(), nullptr);
    else
        done(done_ctx, COTTER_ESHARED_UNAVAILABLE, nullptr, nullptr, 0, message);
}

void wait_request::finish(int status) noexcept {
    if (completed.exchange(true)) return;
    if (auto q = queue.lock()) {
        std::lock_guard<std::mutex> lock(q->mu);
        q->live_waits.erase(this);
    }
    done(done_ctx, status);
}

/// Every queue alive, so that shutdown() can fail their requests (weak: a queue dies with its last owner).
struct queue_registry {
    std::mutex mu;
    std::vector<std::weak_ptr<eval_queue>> queues;
};
queue_registry &queues() {
    static queue_registry *r = new queue_registry();  // never destroyed: I/O threads may outlive main
    return *r;
}

/// Interpreter exit (GIL released): no Python code will answer a queued eval any more.
void close_eval_queues() noexcept {
    std::vector<std::shared_ptr<eval_queue>> all;
    {
        std::lock_guard<std::mutex> lock(queues().mu);
        for (auto &w : queues().queues)
            if (auto q = w.lock()) all.push_back(std::move(q));
        queues().queues.clear();
    }
    for (auto &q : all) q->close_all("the Python interpreter is exiting", false);
}

// typedef int (*cotter_shared_store_eval_fn)(void *payload, const char *script, const char *sha1, const char **keys, size_t key_count, const char **args, size_t arg_count, cotter_shared_store_done_fn done, void *done_ctx);
int eval_trampoline(void *payload, const char *script, const char *sha1, const char **keys, size_t key_count,
                    const char **args, size_t arg_count, cotter_shared_store_done_fn done, void *done_ctx) noexcept {
    try {
        const std::shared_ptr<eval_queue> &q = *static_cast<std::shared_ptr<eval_queue> *>(payload);
        auto r = std::make_shared<eval_request>();
        r->script = script;
        r->sha1 = sha1;
        r->keys.assign(keys, keys + key_count);
        r->args.assign(args, args + arg_count);
        r->queue = q;
        r->done = done;
        r->done_ctx = done_ctx;
        if (q->push(r)) return 0;
        r->completed = true;  // not started: the library fails the step itself; `done` must not run
        return 1;
    } catch (...) {
        return 1;
    }
}

// typedef int (*cotter_shared_store_wait_fn)(void *payload, const char *channel, int64_t timeout_ms, cotter_shared_store_wait_done_fn done, void *done_ctx);
int wait_trampoline(void *payload, const char *channel, int64_t timeout_ms, cotter_shared_store_wait_done_fn done,
                    void *done_ctx) noexcept {
    try {
        const std::shared_ptr<eval_queue> &q = *static_cast<std::shared_ptr<eval_queue> *>(payload);
        auto w = std::make_shared<wait_request>();
        w->channel = channel;
        w->timeout_ms = timeout_ms;
        w->queue = q;
        w->done = done;
        w->done_ctx = done_ctx;
        if (q->push_wait(w)) return 0;
        w->completed = true;  // not started: the waiter polls; `done` must not run
        return 1;
    } catch (...) {
        return 1;
    }
}

// typedef void (*cotter_shared_store_release_fn)(void *payload);
void release_trampoline(void *payload) noexcept { delete static_cast<std::shared_ptr<eval_queue> *>(payload); }

/// cotter._native.EvalQueue: the Python side of one store's queue.
struct EvalQueue {
    std::shared_ptr<eval_queue> q;

    explicit EvalQueue(bool semaphore) : q(std::make_shared<eval_queue>(semaphore)) {
        std::lock_guard<std::mutex> lock(queues().mu);
        auto &all = queues().queues;
        all.erase(std::remove_if(all.begin(), all.end(), [](const std::weak_ptr<eval_queue> &w) { return w.expired(); }),
                  all.end());
        all.push_back(q);
    }
};

/// cotter._native.EvalRequest: one popped eval, completed with done() or fail().
struct EvalRequest {
    std::shared_ptr<eval_request> r;
};

/// cotter._native.WaitRequest: one popped wait, completed with woken(), timed_out() or failed().
struct WaitRequest {
    std::shared_ptr<wait_request> w;
};

py::list as_bytes_list(const std::vector<std::string> &v) {
    py::list out;
    for (const std::string &s : v) out.append(py::bytes(s));
    return out;
}

/// A reply item as bytes: bytes as they are, str as UTF-8, int as its decimal text (the protocol's rule).
std::string reply_item(const py::handle &h) {
    if (py::isinstance<py::bytes>(h)) return std::string(py::reinterpret_borrow<py::bytes>(h));
    if (py::isinstance<py::str>(h)) return h.cast<std::string>();
    if (py::isinstance<py::bool_>(h)) return h.cast<bool>() ? "1" : "0";
    if (py::isinstance<py::int_>(h)) return py::str(h).cast<std::string>();
    if (h.is_none()) return std::string();
    throw py::type_error("a shared store reply item must be bytes, str, int or None");
}

void eval_done(EvalRequest &self, const py::iterable &reply) {
    std::vector<std::string> items;
    for (py::handle h : reply) items.push_back(reply_item(h));
    released([&] { self.r->finish(COTTER_OK, &items, nullptr); });
}

void eval_fail(EvalRequest &self, const std::string &message) {
    released([&] { self.r->finish(COTTER_ESHARED_UNAVAILABLE, nullptr, message.c_str()); });
}

struct SharedStore {
    cotter_shared_store *s = nullptr;
    SharedStore() = default;
    SharedStore(const SharedStore &) = delete;
    SharedStore &operator=(const SharedStore &) = delete;
    // COTTER_API void cotter_shared_store_free(cotter_shared_store *store);
    ~SharedStore() { cotter_shared_store_free(s); }  // sessions keep the store; `release` needs no GIL
};

// COTTER_API int cotter_shared_store_options_init(cotter_shared_store_options *opts, unsigned int version);
// COTTER_API int cotter_shared_store_adapter_init(cotter_shared_store_adapter *adapter, unsigned int version);
// COTTER_API int cotter_shared_store_new(cotter_shared_store **out, const cotter_shared_store_adapter *adapter, const cotter_shared_store_options *opts, cotter_error **out_error);
std::unique_ptr<SharedStore> shared_store_new(EvalQueue &queue, const std::optional<cstr> &key_prefix,
                                              std::optional<int64_t> lease_ttl_ms, std::optional<int64_t> wait_ms,
                                              bool with_wait) {
    cotter_shared_store_options o;
    if (cotter_shared_store_options_init(&o, COTTER_SHARED_STORE_OPTIONS_VERSION) != COTTER_OK)
        throw std::runtime_error("cotter_shared_store_options_init");
    o.key_prefix = c_or_null(key_prefix);
    set_if(o.lease_ttl_ms, lease_ttl_ms);
    set_if(o.wait_ms, wait_ms);
    cotter_shared_store_adapter a;
    if (cotter_shared_store_adapter_init(&a, COTTER_SHARED_STORE_ADAPTER_VERSION) != COTTER_OK)
        throw std::runtime_error("cotter_shared_store_adapter_init");
    auto payload = std::make_unique<std::shared_ptr<eval_queue>>(queue.q);
    a.eval = eval_trampoline;
    a.release = release_trampoline;
    a.payload = payload.get();
    if (with_wait) a.wait = wait_trampoline;  // Python pops the waits (queue.pop_wait) and subscribes
    auto self = std::make_unique<SharedStore>();
    cotter_error *err = nullptr;
    const int rc = cotter_shared_store_new(&self->s, &a, &o, &err);
    if (rc != COTTER_OK) throw cotter::Error(rc, err);  // `release` not called: the payload is still ours
    payload.release();  // the store's now: release_trampoline frees it
    return self;
}

// COTTER_API int cotter_hiredis_options_init(cotter_hiredis_options *opts, unsigned int version);
// COTTER_API int cotter_shared_store_new_hiredis(cotter_shared_store **out, const cotter_hiredis_options *redis, const cotter_shared_store_options *opts, cotter_error **out_error);
std::unique_ptr<SharedStore> shared_store_new_hiredis(const std::optional<cstr> &host, std::optional<int64_t> port,
                                                      const std::optional<cstr> &unix_socket,
                                                      const std::optional<cstr> &password,
                                                      std::optional<int64_t> connect_timeout_ms,
                                                      std::optional<int64_t> command_timeout_ms,
                                                      const std::optional<cstr> &key_prefix,
                                                      std::optional<int64_t> lease_ttl_ms, std::optional<int64_t> wait_ms) {
    cotter_hiredis_options r;
    cotter_shared_store_options o;
    if (cotter_hiredis_options_init(&r, COTTER_HIREDIS_OPTIONS_VERSION) != COTTER_OK ||
        cotter_shared_store_options_init(&o, COTTER_SHARED_STORE_OPTIONS_VERSION) != COTTER_OK)
        throw std::runtime_error("cotter_hiredis_options_init");
    r.host = c_or_null(host);
    if (port) {  // an int: the library checks 1..65535 (a value past int's range must not wrap into it)
        if (*port < INT32_MIN || *port > INT32_MAX) r.port = 0;
        else r.port = static_cast<int>(*port);
    }
    r.unix_socket = c_or_null(unix_socket);
    r.password = c_or_null(password);
    set_if(r.connect_timeout_ms, connect_timeout_ms);
    set_if(r.command_timeout_ms, command_timeout_ms);
    o.key_prefix = c_or_null(key_prefix);
    set_if(o.lease_ttl_ms, lease_ttl_ms);
    set_if(o.wait_ms, wait_ms);
    auto self = std::make_unique<SharedStore>();
    cotter_error *err = nullptr;
    const int rc = cotter_shared_store_new_hiredis(&self->s, &r, &o, &err);
    if (rc != COTTER_OK) throw cotter::Error(rc, err);
    return self;
}

void bind_shared_store(py::module_ &m) {
    py::class_<EvalQueue>(m, "EvalQueue")
        .def(py::init<bool>(), "semaphore"_a)
        .def_property_readonly("fd", [](const EvalQueue &self) { return self.q->fd; })
        .def_property_readonly("closed", [](const EvalQueue &self) {
            std::lock_guard<std::mutex> lock(self.q->mu);
            return self.q->closed;
        })
        .def("pop", [](EvalQueue &self) -> std::optional<EvalRequest> {
            auto r = self.q->pop();
            if (!r) return std::nullopt;
            return EvalRequest{std::move(r)};
        })
        .def_property_readonly("wait_fd", [](const EvalQueue &self) { return self.q->wait_fd; })
        .def("pop_wait", [](EvalQueue &self) -> std::optional<WaitRequest> {
            auto w = self.q->pop_wait();
            if (!w) return std::nullopt;
            return WaitRequest{std::move(w)};
        })
        .def("close", [](EvalQueue &self, const std::string &why) {
            released([&] { self.q->close_all(why.c_str(), true); });
        }, "why"_a);
    py::class_<EvalRequest>(m, "EvalRequest")
        .def_property_readonly("script", [](const EvalRequest &self) { return py::bytes(self.r->script); })
        .def_property_readonly("sha1", [](const EvalRequest &self) { return py::str(self.r->sha1); })
        .def_property_readonly("keys", [](const EvalRequest &self) { return as_bytes_list(self.r->keys); })
        .def_property_readonly("args", [](const EvalRequest &self) { return as_bytes_list(self.r->args); })
        .def_property_readonly("completed", [](const EvalRequest &self) { return self.r->completed.load(); })
        .def("done", &eval_done, "reply"_a)
        .def("fail", &eval_fail, "message"_a)
        .def("__repr__", [](const EvalRequest &self) {
            return "<EvalRequest sha1=" + self.r->sha1 + " keys=" + std::to_string(self.r->keys.size()) +
                   " args=" + std::to_string(self.r->args.size()) + ">";  // never the args: they hold tokens
        });
    py::class_<WaitRequest>(m, "WaitRequest")
        .def_property_readonly("channel", [](const WaitRequest &self) { return py::str(self.w->channel); })
        .def_property_readonly("timeout_ms", [](const WaitRequest &self) { return self.w->timeout_ms; })
        .def_property_readonly("completed", [](const WaitRequest &self) { return self.w->completed.load(); })
        .def("woken", [](WaitRequest &self) { released([&] { self.w->finish(COTTER_OK); }); })
        .def("timed_out", [](WaitRequest &self) { released([&] { self.w->finish(COTTER_ETIMEOUT); }); })
        .def("failed", [](WaitRequest &self) {
            released([&] { self.w->finish(COTTER_ESHARED_UNAVAILABLE); });
        })
        .def("__repr__", [](const WaitRequest &self) {
            return "<WaitRequest channel=" + self.w->channel + " timeout_ms=" + std::to_string(self.w->timeout_ms) + ">";
        });
    py::class_<SharedStore>(m, "SharedStore")
        .def(py::init(&shared_store_new), "queue"_a, "key_prefix"_a, "lease_ttl_ms"_a, "wait_ms"_a,
             "with_wait"_a = false)
        .def_static("hiredis", &shared_store_new_hiredis, "host"_a, "port"_a, "unix_socket"_a, "password"_a,
                    "connect_timeout_ms"_a, "command_timeout_ms"_a, "key_prefix"_a, "lease_ttl_ms"_a, "wait_ms"_a);
}

struct Session {
    std::shared_ptr<session_hooks> hooks;  // after s (destroyed first): cotter_session_free() ends their use
    cotter::Session s;

    Session() = default;
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;
    ~Session() {
        // cotter_session_free waits for a hook running on an I/O thread, which may be waiting for the GIL.
        if (s) released([&] { s.reset(); });
        if (hooks) {
            python_zone zone;  // the hooks' Python objects may run code as they go, in this destructor
            hooks.reset();
        }
    }
};

session_hooks *hooks_of(const Session *s) { return s->hooks.get(); }
std::shared_ptr<session_hooks> shared_hooks_of(const Session *s) { return s->hooks; }

// COTTER_API int cotter_session_options_init(cotter_session_options *opts, unsigned int version);
// COTTER_API int cotter_session_new(cotter_session **out, cotter_client *client, const cotter_session_options *opts, const cotter_token *initial, cotter_error **out_error);
std::unique_ptr<Session> session_new(Client &client, std::optional<int64_t> refresh_margin_seconds,
                                     const std::optional<cstr> &token_file, py::object load, py::object save,
                                     py::object on_tokens_changed, const Token *initial, SharedStore *shared_store,
                                     const std::optional<cstr> &shared_session_id) {
    auto self = std::make_unique<Session>();
    self->hooks = std::make_shared<session_hooks>();
    cotter_session_options o = cotter::session_options();
    set_if(o.refresh_margin_seconds, refresh_margin_seconds);
    o.token_file = c_or_null(token_file);
    if (!load.is_none() || !save.is_none()) {
        if (load.is_none() || save.is_none()) throw py::value_error("load and save must be given together");
        self->hooks->load = load;
        self->hooks->save = save;
        o.load = load_trampoline;
        o.save = save_trampoline;
        o.storage_payload = self->hooks.get();
    }
    if (!on_tokens_changed.is_none()) {
        self->hooks->on_tokens_changed = on_tokens_changed;
        o.on_tokens_changed = tokens_changed_trampoline;
        o.on_tokens_changed_payload = self->hooks.get();
    }
    o.shared_store = shared_store ? shared_store->s : nullptr;  // the C session keeps the store alive
    o.shared_session_id = c_or_null(shared_session_id);
    cotter::TokenRef init = initial ? cotter::TokenRef(initial->t) : cotter::TokenRef();
    // The first load (or store of `initial`) runs here, on this thread; the load hook takes the GIL back.
    try {
        self->s = released([&] { return cotter::Session::create(client.c, o, init); });
    } catch (const cotter::Error &) {
        self->hooks->pending.rethrow_if_any();
        throw;
    }
    self->hooks->pending.rethrow_if_any();
    return self;
}

// --- Results and operations of a session ----------------------------------------------------------

// COTTER_API int cotter_call_take_buf(cotter_buf *out, cotter_call *call, cotter_error **out_error);
py::object as_buf(cotter::CallRef c) {
    cotter::unique_buf b = c.take_buf();
    return py::str(b.data(), b.size());
}

// --- The session's calls: their `_start` functions, each registered with the converter of its result ---

// BEGIN GENERATED session calls (scripts/gen.py from capi/abi.json; do not edit)
// COTTER_API int cotter_session_get_access_token_start(cotter_call **out, cotter_session *session, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call session_get_access_token(Session &self, const cotter_call_options *o) {
    return self.s.get_access_token_start(o);
}
// COTTER_API int cotter_session_get_token_start(cotter_call **out, cotter_session *session, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call session_get_token(Session &self, const cotter_call_options *o) { return self.s.get_token_start(o); }
// COTTER_API int cotter_session_refresh_start(cotter_call **out, cotter_session *session, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call session_refresh(Session &self, const cotter_call_options *o) { return self.s.refresh_start(o); }
// COTTER_API int cotter_session_set_token_start(cotter_call **out, cotter_session *session, const cotter_token *token, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call session_set_token(Session &self, const cotter_call_options *o, const Token &token) {
    return self.s.set_token_start(token.t, o);
}
// COTTER_API int cotter_session_logout_start(cotter_call **out, cotter_session *session, const cotter_call_options *call_opts, cotter_error **out_error);
cotter::Call session_logout(Session &self, const cotter_call_options *o) { return self.s.logout_start(o); }

/// Registers `op(...)` and `op_async(completions, ...)` of every call of Session (def_call).
void def_session_calls(py::class_<Session> &cls) {
    def_call(cls, "get_access_token", &session_get_access_token, &as_buf);
    def_call(cls, "get_token", &session_get_token, &as_token);
    def_call(cls, "refresh", &session_refresh, &as_token);
    def_call(cls, "set_token", &session_set_token, &as_nothing, "token"_a);
    def_call(cls, "logout", &session_logout, &as_nothing);
}
// END GENERATED session calls

void bind_session(py::module_ &m) {
    py::class_<Session> session(m, "Session");
    session.def(py::init(&session_new), "client"_a, "refresh_margin_seconds"_a, "token_file"_a, "load"_a, "save"_a,
                "on_tokens_changed"_a, "initial"_a, "shared_store"_a = nullptr, "shared_session_id"_a = py::none());
    def_session_calls(session);
    // COTTER_API void cotter_session_free(cotter_session *session);  (the owner's destructor, GIL released)
}

void bind_completions(py::module_ &m) {
    py::class_<Completions>(m, "Completions")
        .def(py::init<const py::object &>(), "loop"_a)
        .def_property_readonly("fd", &Completions::fd)
        .def("serves", &Completions::serves, "loop"_a)
        .def("drain", &Completions::drain)
        .def("cancel", &Completions::cancel, "future"_a);
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "cotter C ABI glue (private; use the cotter package)";
    gate().main_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();

    // The one translation of C ABI failures into Python exceptions.
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const cotter::Error &e) {
            python_zone zone;  // set_python_error runs Python code, here inside pybind11's catch handlers
            set_python_error(e);
        }
    });

    // COTTER_API int cotter_version_number(void);
    m.def("version_number", &cotter::version_number);
    // COTTER_API const char *cotter_version_string(void);
    m.def("version_string", &cotter::version_string);
    m.attr("HEADER_VERSION_NUMBER") = COTTER_VERSION_NUMBER;
    // COTTER_API const char *cotter_status_name(int status);
    m.def("status_name", &cotter::status_name, "status"_a);
    // COTTER_API const char *cotter_status_describe(int status);
    m.def("status_describe", &cotter::status_describe, "status"_a);
    // Every cotter_status value, as compiled from cotter.h (cotter_status_table.inc: scripts/gen.py, capi/abi.json).
    py::dict codes;
#define X(name) codes[#name] = static_cast<int>(name);
#include "cotter_status_table.inc"
#undef X
    m.attr("STATUS_CODES") = codes;

    m.def("set_log_handler", [](py::object fn) { log_handler() = std::move(fn); }, "handler"_a);

    bind_completions(m);
    bind_jwt(m);
    m.def("identity_token_verify", &identity_token_verify, "json"_a, "api_key_id"_a, "public_key_b64"_a, "now"_a);
    m.def("event_token_verify", &event_token_verify, "json"_a, "api_key_id"_a, "public_key_b64"_a);
    bind_token(m);
    m.def("pkce_new", &pkce_new);
    m.def("pkce_challenge_of", &pkce_challenge_of, "verifier"_a);
    m.def("jwks_url", &jwks_url, "base_url"_a);
    m.def("login_url", &login_url, "login_url"_a, "api_key_id"_a, "redirect_url"_a, "state"_a, "code_challenge"_a,
          "identifier_type"_a, "auth_method"_a, "input"_a, "cotter_user_id"_a, "from_environment"_a);
    m.def("login_redirect_parse", &login_redirect_parse, "query"_a, "expected_state"_a);
    bind_client(m);
    bind_shared_store(m);
    bind_session(m);

    // Exit and fork (see "The interpreter gate").
    m.def("_shutdown", &shutdown);
    py::module_::import("atexit").attr("register")(m.attr("_shutdown"));
    m.def("_before_fork", &before_fork);
    m.def("_after_fork_in_parent", &after_fork_in_parent);
    m.def("_after_fork_in_child", &after_fork_in_child);
    py::module_::import("os").attr("register_at_fork")("before"_a = m.attr("_before_fork"),
                                                       "after_in_parent"_a = m.attr("_after_fork_in_parent"),
                                                       "after_in_child"_a = m.attr("_after_fork_in_child"));
    // For tests: asyncio calls whose completion has not arrived yet.
    m.def("_async_in_flight", [] { return gate().async_in_flight.load(); });
}

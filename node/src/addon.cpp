/**
 * @file node/src/addon.cpp
 * @brief node-addon-api glue over the cotter C ABI, through capi/include/cotter.hpp only.
 *
 * Rules (docs/node.md, "Concurrency, cancellation, threading"):
 *  - Every network call goes through its `_start` function: it returns at once, the request runs on the client's
 *    I/O thread (libcurl multi), and the done callback hands the call to the JS thread through the ONE thread-safe
 *    function of the environment (JsThread). There the result is taken, converted and the Promise settled.
 *    Verification is offered sync (verifySync) and async (verify, CPU work on the addon's verify threads, whose
 *    results come back through the same thread-safe function). Nothing runs on the libuv pool.
 *  - What runs from that queue on the JS thread (settling, log lines) uses raw N-API through `Js`, every status
 *    checked: a worker thread may be terminated meanwhile, and a failing node-addon-api call would abort the process.
 *  - Every failure becomes an instance of the JS CotterError class that node/lib/index.js registers with
 *    setErrorClass(): `.code` is the stable C name (COTTER_EJWT_EXPIRED...), `.httpStatus`, `.oauthError`...
 *  - The C ABI keeps parents alive (a call its client, a session its client), so wrappers hold no JS reference
 *    to their parent. What they still hold is what the C callbacks point at (log sinks, the session's hooks):
 *    those live in *Core objects shared by the wrapper and its calls in flight.
 *  - ObjectWraps carry type tags, and every piece of state is per environment (instance data), never static.
 * Above each function, the C signature it wraps, as capi/abi.json describes it (tests/node/bindings.test.js).
 */
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <condition_variable>
#include <cstring>
#include <string.h>  // explicit_bzero
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cotter.hpp"

namespace {

class JsThread;
class VerifyPool;

// ------------------------------------------------------------------------------------------------
// Per-environment state, type tags, errors
// ------------------------------------------------------------------------------------------------

struct AddonData {
    Napi::FunctionReference error_class;  // the JS CotterError (setErrorClass)
    Napi::FunctionReference verifier_ctor;
    Napi::FunctionReference client_ctor;
    Napi::FunctionReference session_ctor;
    Napi::FunctionReference json_parse;  // JSON.parse: verify() resolves with the claims object itself
    std::shared_ptr<JsThread> js;  // the one thread-safe function of this environment
    std::unique_ptr<VerifyPool> verify_pool;  // started by the first verify()
    ~AddonData();
};

AddonData *Data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// Random 128-bit tags: an object of another class (or a forged one) is never unwrapped as ours.
constexpr napi_type_tag kVerifierTag = {0x6c1f3b0e9a7d4c21ULL, 0x8e5b2f4d7a913c60ULL};
constexpr napi_type_tag kClientTag = {0x2d9e7a4b5c3f1e08ULL, 0xb47c1d9e3a6f2058ULL};
constexpr napi_type_tag kSessionTag = {0x93a4e6c1d07b5f2eULL, 0x1f6d8b2c4e9a7035ULL};

/// What a failed call left behind, copied out of cotter::Error so it can cross threads.
struct ErrorInfo {
    int code = COTTER_EINTERNAL;
    std::string message;
    int http_status = 0;
    std::optional<std::string> oauth_error;
    std::optional<std::string> oauth_error_description;
    int64_t retry_after = -1;

    static ErrorInfo from(const cotter::Error &e) {
        return ErrorInfo{e.code(), e.message(), e.http_status(), e.oauth_error(), e.oauth_error_description(),
                         e.retry_after()};
    }
    static ErrorInfo invalid(std::string message) {
        ErrorInfo i;
        i.code = COTTER_EINVAL;
        i.message = std::move(message);
        return i;
    }
};

/**
 * JS values made with raw N-API: every status checked, nothing thrown. Whatever runs from the JS thread's queue
 * (settling a call, a log line) may run while a worker thread is being terminated, and JS can then stop in the
 * middle of a call (a setter, a constructor, a log function). A node-addon-api call that fails there throws a
 * Napi::Error whose own construction fails on the termination value (it is not an object), and node-addon-api
 * answers that with napi_fatal_error: the whole process aborts. Here the first failure marks the builder failed;
 * every later step then does nothing and returns nullptr, so a chain of steps needs one check at its end.
 */
class Js {
  public:
    explicit Js(napi_env env) : env_(env) {}
    napi_env env() const { return env_; }
    bool ok() const { return ok_; }

    napi_value Null() { return Make([&](napi_value *v) { return napi_get_null(env_, v); }); }
    napi_value Undefined() { return Make([&](napi_value *v) { return napi_get_undefined(env_, v); }); }
    napi_value Bool(bool b) { return Make([&](napi_value *v) { return napi_get_boolean(env_, b, v); }); }
    napi_value Number(double d) { return Make([&](napi_value *v) { return napi_create_double(env_, d, v); }); }
    napi_value String(std::string_view s) {
        return Make([&](napi_value *v) { return napi_create_string_utf8(env_, s.data(), s.size(), v); });
    }
    napi_value String(const char *s) { return s ? String(std::string_view(s)) : Null(); }  // NULL: null
    napi_value String(const std::string &s) { return String(std::string_view(s)); }
    napi_value OrNull(const std::optional<std::string> &s) { return s ? String(*s) : Null(); }  // absent: null
    napi_value Object() { return Make([&](napi_value *v) { return napi_create_object(env_, v); }); }
    napi_value Get(napi_ref ref) { return Make([&](napi_value *v) { return napi_get_reference_value(env_, ref, v); }); }
    napi_value Get(napi_value o, const char *key) {
        return Make([&](napi_value *v) { return o ? napi_get_named_property(env_, o, key, v) : napi_invalid_arg; });
    }
    /// o[key] = value (a setter may run JS).
    void Set(napi_value o, const char *key, napi_value value) {
        Make([&](napi_value *v) {
            *v = o;
            return o && value ? napi_set_named_property(env_, o, key, value) : napi_invalid_arg;
        });
    }
    napi_value Call(napi_value fn, napi_value self, std::initializer_list<napi_value> args) {
        return Make([&](napi_value *v) {
            if (!fn || !self || std::find(args.begin(), args.end(), nullptr) != args.end()) return napi_invalid_arg;
            return napi_call_function(env_, self, fn, args.size(), args.begin(), v);
        });
    }
    napi_value New(napi_value ctor, std::initializer_list<napi_value> args) {
        return Make([&](napi_value *v) {
            if (!ctor || std::find(args.begin(), args.end(), nullptr) != args.end()) return napi_invalid_arg;
            return napi_new_instance(env_, ctor, args.size(), args.begin(), v);
        });
    }
    /// JSON.parse(text), through the function the addon looked up at load time.
    napi_value ParseJson(std::string_view text) {
        AddonData *d = nullptr;
        if (ok_ && (napi_get_instance_data(env_, reinterpret_cast<void **>(&d)) != napi_ok || d == nullptr)) ok_ = false;
        if (!ok_) return nullptr;
        return Call(Get(d->json_parse), Undefined(), {String(text)});
    }
    /// After a failure: the JS exception it left (cleared), or nullptr. None is pending when the environment is
    /// being torn down (JS cannot run): then nothing can be settled.
    napi_value TakeException() {
        bool pending = false;
        napi_value e = nullptr;
        if (napi_is_exception_pending(env_, &pending) != napi_ok || !pending ||
            napi_get_and_clear_last_exception(env_, &e) != napi_ok)
            return nullptr;
        napi_valuetype type = napi_undefined;
        // A worker's termination leaves a value that is no JS value at all (nothing to reject with).
        return napi_typeof(env_, e, &type) == napi_ok ? e : nullptr;
    }

  private:
    template <class F>
    napi_value Make(F &&make) {
        napi_value v = nullptr;
        if (ok_ && (make(&v) != napi_ok || v == nullptr)) ok_ = false;
        return ok_ ? v : nullptr;
    }

    napi_env env_;
    bool ok_ = true;
};

/// `new CotterError(message, details)` (a plain Error carrying the same fields when index.js registered no class);
/// nullptr when `js` failed.
napi_value ErrorValue(Js &js, const ErrorInfo &e) {
    napi_value details = js.Object();
    js.Set(details, "code", js.String(cotter::status_name(e.code)));
    js.Set(details, "status", js.Number(e.code));
    js.Set(details, "httpStatus", js.Number(e.http_status));
    js.Set(details, "oauthError", js.OrNull(e.oauth_error));
    js.Set(details, "oauthErrorDescription", js.OrNull(e.oauth_error_description));
    js.Set(details, "retryAfter", e.retry_after >= 0 ? js.Number(double(e.retry_after)) : js.Null());
    AddonData *d = nullptr;
    if (napi_get_instance_data(js.env(), reinterpret_cast<void **>(&d)) == napi_ok && d && !d->error_class.IsEmpty())
        return js.New(js.Get(d->error_class), {js.String(e.message), details});
    napi_value err = nullptr;
    if (js.ok() && napi_create_error(js.env(), nullptr, js.String(e.message), &err) != napi_ok) err = nullptr;
    for (const char *key : {"code", "status", "httpStatus", "oauthError", "oauthErrorDescription", "retryAfter"})
        js.Set(err, key, js.Get(details, key));
    return js.ok() ? err : nullptr;
}

/// ErrorValue for code called from JS (a JS exception it caused is thrown on as a Napi::Error).
Napi::Value MakeError(Napi::Env env, const ErrorInfo &e) {
    Js js(env);
    napi_value v = ErrorValue(js, e);
    if (!js.ok()) throw Napi::Error::New(env);
    return Napi::Value(env, v);
}

[[noreturn]] void Throw(Napi::Env env, const ErrorInfo &e) { throw Napi::Error(env, MakeError(env, e)); }
[[noreturn]] void ThrowInvalid(Napi::Env env, std::string message) { Throw(env, ErrorInfo::invalid(std::move(message))); }

/// Runs a synchronous C++ call, turning cotter::Error into a thrown CotterError.
template <class F>
auto Sync(Napi::Env env, F &&f) -> decltype(f()) {
    try {
        return f();
    } catch (const cotter::Error &e) {
        Throw(env, ErrorInfo::from(e));
    } catch (const std::bad_alloc &) {
        Throw(env, ErrorInfo{COTTER_ENOMEM, "out of memory", 0, {}, {}, -1});
    }
}

/// Runs `work` (off the JS thread) and keeps what it threw: no exception may leave a thread of ours.
std::optional<ErrorInfo> Capture(const std::function<void()> &work) {
    try {
        work();
    } catch (const cotter::Error &e) {
        return ErrorInfo::from(e);
    } catch (const std::bad_alloc &) {
        return ErrorInfo{COTTER_ENOMEM, "out of memory", 0, {}, {}, -1};
    } catch (const std::exception &e) {
        return ErrorInfo{COTTER_EINTERNAL, e.what(), 0, {}, {}, -1};
    } catch (...) {
        return ErrorInfo{COTTER_EINTERNAL, "unknown exception", 0, {}, {}, -1};
    }
    return std::nullopt;
}

// Overwrites a string that held a secret before it is freed (the C library wipes its own copies).
void Wipe(std::string &s) {
    if (!s.empty()) explicit_bzero(s.data(), s.size());  // at memset speed; never optimised away
    s.clear();
}

// Whether `s` is ASCII, eight bytes at a time (it runs over every verified claims text on a verify thread).
bool IsAscii(std::string_view s) {
    constexpr uint64_t kHighBits = 0x8080808080808080ull;
    uint64_t any = 0;
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        any |= w;
    }
    for (; i < s.size(); ++i) any |= static_cast<unsigned char>(s[i]);
    return (any & kHighBits) == 0;
}

// ------------------------------------------------------------------------------------------------
// Argument reading: every bad type is a CotterError COTTER_EINVAL naming the argument
// ------------------------------------------------------------------------------------------------

// C strings end at the first NUL: 'a\0b' would reach the library as 'a' (an audience that accepts another
// project's tokens, a user id that names another user). Such strings are refused.
std::string NoNul(Napi::Env env, std::string s, const std::string &what) {
    if (s.find('\0') != std::string::npos) ThrowInvalid(env, what + " must not contain a NUL character");
    return s;
}

std::string ReqString(Napi::Env env, const Napi::Value &v, const char *what) {
    if (!v.IsString()) ThrowInvalid(env, std::string(what) + " must be a string");
    return NoNul(env, v.As<Napi::String>().Utf8Value(), what);
}

/// A token string as UTF-8, in one pass over it when it fits a stack buffer (a token usually does): Utf8Value()
/// first asks V8 for the UTF-8 length (a scan of the whole string), then copies. The buffer is wiped after use.
std::string TokenUtf8(Napi::Env env, const Napi::Value &v) {
    char buf[1536];
    size_t n = 0;
    if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &n) != napi_ok) throw Napi::Error::New(env);
    std::string out;
    // V8 writes whole characters only and keeps one byte for a NUL: with more than 4 bytes to spare (the longest
    // character), nothing was left out.
    const bool whole = n + 4 < sizeof buf;
    if (whole) out.assign(buf, n);
    explicit_bzero(buf, n);  // glibc; not optimised away like a memset before the buffer dies
    return whole ? out : v.As<Napi::String>().Utf8Value();
}

/// A token given as a string or bytes (Buffer / Uint8Array).
std::string TokenArg(Napi::Env env, const Napi::Value &v, const char *what) {
    if (v.IsString()) return TokenUtf8(env, v);
    if (v.IsTypedArray()) {
        auto a = v.As<Napi::TypedArray>();
        if (a.TypedArrayType() == napi_uint8_array) {
            auto u = v.As<Napi::Uint8Array>();
            return std::string(reinterpret_cast<const char *>(u.Data()), u.ByteLength());
        }
    }
    ThrowInvalid(env, std::string(what) + " must be a string or a Uint8Array");
}

/// TokenArg into `out`, reusing its buffer (the verify pool's jobs keep theirs: no allocation per call).
void TokenArgInto(Napi::Env env, const Napi::Value &v, const char *what, std::string &out) {
    if (v.IsString()) {
        char buf[1536];
        size_t n = 0;
        if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &n) != napi_ok) throw Napi::Error::New(env);
        const bool whole = n + 4 < sizeof buf;  // see TokenUtf8
        if (whole) out.assign(buf, n);
        explicit_bzero(buf, n);
        if (!whole) out = v.As<Napi::String>().Utf8Value();
        return;
    }
    out = TokenArg(env, v, what);
}

std::optional<std::string> OptString(Napi::Env env, const Napi::Object &o, const char *key) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return std::nullopt;
    if (!v.IsString()) ThrowInvalid(env, std::string("option ") + key + " must be a string");
    return NoNul(env, v.As<Napi::String>().Utf8Value(), std::string("option ") + key);
}

std::optional<int64_t> IntValue(Napi::Env env, const Napi::Value &v, const std::string &what, double lo, double hi) {
    if (v.IsUndefined() || v.IsNull()) return std::nullopt;
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(d) || d != std::floor(d) || d < lo || d > hi)
        ThrowInvalid(env, what + " must be an integer in [" + std::to_string(int64_t(lo)) + ", " +
                              std::to_string(int64_t(hi)) + "]");
    return int64_t(d);
}

std::optional<int64_t> OptInt(Napi::Env env, const Napi::Object &o, const char *key, double lo, double hi) {
    return IntValue(env, o.Get(key), std::string("option ") + key, lo, hi);
}

Napi::Object OptionsArg(Napi::Env env, const Napi::Value &v) {
    if (v.IsUndefined()) return Napi::Object::New(env);
    if (!v.IsObject() || v.IsArray() || v.IsFunction()) ThrowInvalid(env, "options must be an object");
    return v.As<Napi::Object>();
}

// The bounds below are those of the C types only (a JS number must fit the field). The meaningful ranges and the
// defaults are the core's (capi/abi.json): a value outside them reaches the library, which answers COTTER_EINVAL
// with the same message in every language. An option left out keeps the C default.
constexpr double kMaxSafe = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER: int64_t / size_t fields
constexpr double kMinSafe = -kMaxSafe;
constexpr double kIntMin = -2147483648.0;  // int fields
constexpr double kIntMax = 2147483647.0;
constexpr double kUintMax = 4294967295.0;  // unsigned int arguments

/**
 * The per-call arguments every network method of the native classes ends with (node/lib/index.js passes them):
 * `timeoutMs` (0 = the client's) and `cancellable` (true: the method returns [promise, id] for cancelCall(id)).
 */
struct CallArgs {
    int64_t timeout_ms = 0;
    bool cancellable = false;
};

CallArgs CallArgsAt(const Napi::CallbackInfo &info, size_t index) {
    CallArgs a;
    a.timeout_ms = IntValue(info.Env(), info[index], "option timeoutMs", kMinSafe, kMaxSafe).value_or(0);  // the C call options check it
    a.cancellable = info[index + 1].ToBoolean();
    return a;
}

/// A string argument of a call, wiped when the method returns (many are secrets: tokens, codes, verifiers).
/// An absent one (null or undefined, where the C function accepts NULL) passes NULL.
class ArgString {
  public:
    explicit ArgString(std::string s) : s_(std::move(s)) {}
    explicit ArgString(std::optional<std::string> s) : s_(std::move(s)) {}
    ~ArgString() {
        if (s_) Wipe(*s_);
    }
    ArgString(const ArgString &) = delete;
    ArgString &operator=(const ArgString &) = delete;
    const char *c_str() const noexcept { return s_ ? s_->c_str() : nullptr; }

  private:
    std::optional<std::string> s_;
};

/// A string argument that may be null or undefined (absent).
std::optional<std::string> OptStringArg(Napi::Env env, const Napi::Value &v, const char *what) {
    if (v.IsUndefined() || v.IsNull()) return std::nullopt;
    return ReqString(env, v, what);
}

/// A required integer argument within the bounds of its C type (the library checks what it means).
int64_t ReqInt(Napi::Env env, const Napi::Value &v, const char *what, double lo, double hi) {
    std::optional<int64_t> r = IntValue(env, v, what, lo, hi);
    if (!r) ThrowInvalid(env, std::string(what) + " must be an integer");
    return *r;
}

/// A token set given as its oauth_token JSON text (index.js serialises Token objects), parsed by the library.
cotter::Token TokenJsonArg(Napi::Env env, const Napi::Value &v, const char *what) {
    ArgString json(ReqString(env, v, what));
    return Sync(env, [&] { return cotter::Token::from_json(json.c_str()); });
}

// ------------------------------------------------------------------------------------------------
// Results to JS (plain objects; node/lib/index.js wraps them in redacting classes)
// ------------------------------------------------------------------------------------------------

Napi::Value Str(Napi::Env env, const char *s) { return s ? Napi::Value(Napi::String::New(env, s)) : env.Null(); }
Napi::Value Str(Napi::Env env, std::string_view s) { return Napi::String::New(env, s.data(), s.size()); }

napi_value TokenValue(Js &js, cotter::TokenRef t) {
    if (!t) return js.Null();
    napi_value o = js.Object();
    js.Set(o, "access_token", js.String(t.access_token()));
    js.Set(o, "id_token", js.String(t.id_token()));
    js.Set(o, "refresh_token", js.String(t.refresh_token()));
    js.Set(o, "token_type", js.String(t.token_type()));
    js.Set(o, "auth_method", js.String(t.auth_method()));
    js.Set(o, "expires_in", js.Number(double(t.expires_in())));
    js.Set(o, "expires_at", js.Number(double(t.access_token_expires_at())));
    return o;
}

Napi::Value TokenToJs(Napi::Env env, cotter::TokenRef t) {
    Js js(env);
    napi_value v = TokenValue(js, t);
    if (!js.ok()) throw Napi::Error::New(env);
    return Napi::Value(env, v);
}

// ------------------------------------------------------------------------------------------------
// The JS thread: one thread-safe function per environment
// ------------------------------------------------------------------------------------------------

/**
 * A call started through a `_start` function. Created on the JS thread, completed on the client's I/O thread (or
 * inline inside `_start`), settled on the JS thread: the result is taken out of the call and converted there.
 */
struct PendingCall {
    using Take = napi_value (*)(Js &, PendingCall &);
    uint64_t id = 0;
    cotter_call *call = nullptr;             // ours until settled (or discarded)
    napi_deferred deferred = nullptr;
    Take take = nullptr;                     // JS thread: the result as JS values (nullptr: js failed); throws cotter::Error
    bool inline_done = false;                // completed inside `_start`, on the JS thread
    std::shared_ptr<void> keep;              // what the C object's callbacks point at (log sink, session hooks)
    std::atomic<bool> *abandoned = nullptr;  // session calls: set when this call stopped waiting for an operation
    std::shared_ptr<JsThread> js;
};

/// A hook the C library waits for (session load/save), from a thread that is not the JS thread.
struct HookWait {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    bool ok = false;
    std::optional<std::string> value;

    void Settle(bool success, std::optional<std::string> v) {
        std::lock_guard<std::mutex> lock(mu);
        if (done) return;
        done = true;
        ok = success;
        value = std::move(v);
        cv.notify_all();
    }
    /// Waits at most `ms`; then the hook counts as failed (its late answer is ignored).
    std::pair<bool, std::optional<std::string>> Wait(int64_t ms) {
        std::unique_lock<std::mutex> lock(mu);
        if (!cv.wait_for(lock, std::chrono::milliseconds(ms), [this] { return done; })) done = true;
        return {ok, std::move(value)};
    }
};

/**
 * The ONE thread-safe function of an environment: how completions, hook calls and log lines reach the JS thread.
 *
 * Work is queued in order; the first item of a batch signals the TSFN and one callback runs the batch (a burst of
 * 1,000 completions costs a few wake-ups, not 1,000). One callback runs at most kTurn tasks: the rest continues in a
 * later turn of the event loop, so that a burst never holds the loop for long and fs, timers and sockets answer in
 * between (see Drain). The TSFN is ref'd while something is pending (calls in flight, session openings), so a
 * pending call keeps the process alive as a pending fetch does, and an idle process exits. When the environment
 * goes away (Close), queued work runs with a null env (it releases what it holds, never touching N-API), calls in
 * flight are cancelled, hooks waited for fail, and later posts run their work at once with a null env on the
 * posting thread.
 */
class JsThread {
  public:
    using Task = std::function<void(napi_env)>;  // a null env: the environment is gone; release only

    static std::shared_ptr<JsThread> Create(Napi::Env env) {
        std::shared_ptr<JsThread> js(new JsThread());
        // The TSFNs' references to this object, each dropped by its Finalize. The second one only carries a drain on
        // to the next turn of the loop (see Drain); it is never ref'd: the first one keeps the process alive.
        for (napi_threadsafe_function *t : {&js->tsfn_, &js->next_turn_}) {
            auto *holder = new std::shared_ptr<JsThread>(js);
            napi_value name;
            napi_status st = napi_create_string_utf8(env, "cotter", NAPI_AUTO_LENGTH, &name);
            if (st == napi_ok)
                st = napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, holder, &JsThread::Finalize,
                                                     holder, t == &js->tsfn_ ? &JsThread::CallJs : &JsThread::CallJsNextTurn,
                                                     t);
            if (st != napi_ok) {
                delete holder;
                throw Napi::Error::New(env, "cotter: cannot create the thread-safe function");
            }
            napi_unref_threadsafe_function(env, *t);  // idle: the process may exit
        }
        return js;
    }

    bool OnThread() const { return std::this_thread::get_id() == thread_; }
    bool Closed() const { return closed_.load(std::memory_order_acquire); }

    // ---- JS thread ----

    /// Something pending that must keep the process alive (a call in flight, a session being opened).
    void Hold(napi_env env) {
        if (holds_++ == 0 && !Closed()) napi_ref_threadsafe_function(env, tsfn_);
    }
    void Unhold(napi_env env) {
        if (--holds_ == 0 && !Closed()) napi_unref_threadsafe_function(env, tsfn_);
    }

    /// Registers a call in flight (so that cancelCall(id) and Close can reach it).
    void Track(PendingCall *p) {
        std::lock_guard<std::mutex> lock(mu_);
        p->id = next_id_++;
        inflight_.emplace(p->id, p);
    }
    void Untrack(PendingCall *p) {
        std::lock_guard<std::mutex> lock(mu_);
        inflight_.erase(p->id);
    }
    /// cotter_call_cancel never blocks and never completes the call inline (it is posted to the I/O thread).
    void Cancel(uint64_t id) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = inflight_.find(id);
        // COTTER_API void cotter_call_cancel(cotter_call *call);
        if (it != inflight_.end() && it->second->call) cotter_call_cancel(it->second->call);
    }

    // ---- any thread ----

    /// Queues `task` for the JS thread. Returns false (after running it with a null env) when the env is gone.
    bool Post(Task task) {
        {
            std::unique_lock<std::mutex> lock(mu_);
            if (!closed_.load(std::memory_order_relaxed)) {
                queue_.push_back(std::move(task));
                if (scheduled_) return true;  // a signal is on its way: the JS thread drains this with the rest
                scheduled_ = true;
                ++signalling_;
                lock.unlock();
                Signal();
                return true;
            }
        }
        task(nullptr);
        return false;
    }

    /// Registers a hook wait that Close must fail (nobody would ever answer it). False when already closed.
    bool Register(const std::shared_ptr<HookWait> &w) {
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_.load(std::memory_order_relaxed)) return false;
        waits_.push_back(w);
        return true;
    }
    void Unregister(const std::shared_ptr<HookWait> &w) {
        std::lock_guard<std::mutex> lock(mu_);
        for (auto it = waits_.begin(); it != waits_.end(); ++it) {
            if (*it == w) {
                waits_.erase(it);
                return;
            }
        }
    }

    /// Registers work that Close must finish (a shared-store eval whose JS promise will never settle once the
    /// environment is gone). Returns its id, or 0 (nothing registered) when already closed.
    uint64_t AddCloser(std::function<void()> fn) {
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_.load(std::memory_order_relaxed)) return 0;
        const uint64_t id = next_id_++;
        closers_.emplace(id, std::move(fn));
        return id;
    }
    void RemoveCloser(uint64_t id) {
        std::lock_guard<std::mutex> lock(mu_);
        closers_.erase(id);
    }

    /// The environment is going away (its TSFN is finalized, or the instance data deleted). Idempotent.
    void Close() {
        std::deque<Task> queue;
        std::vector<std::shared_ptr<HookWait>> waits;
        std::unordered_map<uint64_t, std::function<void()>> closers;
        {
            std::unique_lock<std::mutex> lock(mu_);
            if (closed_.load(std::memory_order_relaxed)) return;
            closed_.store(true, std::memory_order_release);
            // A thread between Post's unlock and its TSFN call must finish that call before the TSFN goes away.
            signalled_.wait(lock, [this] { return signalling_ == 0; });
            queue.swap(queue_);
            waits.swap(waits_);
            closers.swap(closers_);
            for (auto &kv : inflight_)
                if (kv.second->call) cotter_call_cancel(kv.second->call);  // nobody will read their results
        }
        for (auto &w : waits) w->Settle(false, std::nullopt);
        for (auto &kv : closers) kv.second();
        for (auto &t : queue) t(nullptr);
    }

  private:
    JsThread() : thread_(std::this_thread::get_id()) {}

    // One TSFN signal per batch (Post set scheduled_ and counted itself in signalling_). Made outside mu_: the call
    // wakes the JS thread (uv_async_send) while holding the TSFN's own lock, and the JS thread, woken at once,
    // would otherwise also find mu_ held by this thread and sleep on it (a futex wait and two context switches per
    // batch). If the TSFN is closing, the call fails and Close() runs the queue instead.
    void Signal() {
        napi_call_threadsafe_function(tsfn_, nullptr, napi_tsfn_nonblocking);
        std::lock_guard<std::mutex> lock(mu_);
        if (--signalling_ == 0 && closed_.load(std::memory_order_relaxed)) signalled_.notify_all();
    }

    static void CallJs(napi_env env, napi_value, void *context, void *) {
        // With a null env the TSFN is being torn down and `context` may already be gone: Close() handles the queue.
        if (env == nullptr) return;
        (*static_cast<std::shared_ptr<JsThread> *>(context))->Drain(env, false);
    }
    static void CallJsNextTurn(napi_env env, napi_value, void *context, void *) {
        if (env == nullptr) return;
        (*static_cast<std::shared_ptr<JsThread> *>(context))->Drain(env, true);
    }

    static void Finalize(napi_env, void *data, void *) {
        auto *holder = static_cast<std::shared_ptr<JsThread> *>(data);
        (*holder)->Close();
        delete holder;
    }

    /// Tasks run per callback. A burst of completions is settled kTurn at a time (each followed by the promise
    /// continuations it released), with the event loop's other callbacks in between: a burst of 1,000 completions
    /// held fs.promises.stat for milliseconds when one callback settled it whole. A task is one call, or one verify
    /// batch (up to 16 verifications settled with one JSON.parse).
    static constexpr size_t kTurn = 8;

    /**
     * JS thread: runs up to kTurn tasks. scheduled_ stays set while they run, so a post meanwhile only queues: a
     * signal of the TSFN whose callback is running makes Node run it again at once (up to 1,000 times), which is
     * what held the loop. If work is left, the other TSFN is signalled instead: libuv runs a signalled async handle
     * in the current pass only if the pass has not reached it yet, so the two alternating TSFNs run at most
     * 2 × kTurn tasks per pass over the loop's async handles, and the thread pool's fs/DNS completions (its handle
     * comes first) get their turn between passes.
     */
    void Drain(napi_env env, bool next_turn) {
        std::deque<Task> batch;
        {
            std::lock_guard<std::mutex> lock(mu_);
            const size_t n = std::min(kTurn, queue_.size());
            std::move(queue_.begin(), queue_.begin() + n, std::back_inserter(batch));
            queue_.erase(queue_.begin(), queue_.begin() + n);
        }
        RunTasks(env, batch);
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (queue_.empty() || closed_.load(std::memory_order_relaxed)) {
                scheduled_ = false;
                return;
            }
        }
        // A failed signal means the environment is going away: Close() runs what is left with a null env.
        napi_call_threadsafe_function(next_turn ? tsfn_ : next_turn_, nullptr, napi_tsfn_nonblocking);
    }

    static void RunTasks(napi_env env, std::deque<Task> &batch) {
        for (auto &t : batch) {
            napi_handle_scope scope = nullptr;  // raw N-API, see Js: this runs while a worker is terminated too
            if (napi_open_handle_scope(env, &scope) != napi_ok) scope = nullptr;
            try {
                t(env);  // tasks settle their own errors; this only keeps an exception from ending the process
            } catch (...) {
            }
            if (scope != nullptr) napi_close_handle_scope(env, scope);
        }
    }

    std::mutex mu_;
    std::deque<Task> queue_;                             // guarded by mu_
    bool scheduled_ = false;                             // guarded by mu_: a TSFN signal is on its way
    int signalling_ = 0;                                 // guarded by mu_: threads about to call the TSFN
    std::condition_variable signalled_;                  // signalling_ dropped to 0 (Close waits for it)
    std::atomic<bool> closed_{false};                    // written under mu_
    std::unordered_map<uint64_t, PendingCall *> inflight_;  // guarded by mu_
    std::vector<std::shared_ptr<HookWait>> waits_;       // guarded by mu_
    std::unordered_map<uint64_t, std::function<void()>> closers_;  // guarded by mu_ (AddCloser)
    uint64_t next_id_ = 1;                               // guarded by mu_
    size_t holds_ = 0;                                   // JS thread only
    napi_threadsafe_function tsfn_ = nullptr;       // signalled by posts (Signal); ref'd while something is pending
    napi_threadsafe_function next_turn_ = nullptr;  // JS thread only: carries a drain on to the loop's next turn
    std::thread::id thread_;
};

/// Releases a reference held by an object that may die on any thread: N-API only on the JS thread of a live env.
void ReleaseRef(const JsThread &js, Napi::FunctionReference &ref) {
    if (js.OnThread() && !js.Closed()) ref.Reset();
    else ref.SuppressDestruct();
}

// ---- Calls: start on the JS thread, settle on the JS thread ----

// Frees a call nobody will settle (its environment is gone). Any thread; no N-API.
void Discard(PendingCall *p) {
    if (p->abandoned) p->abandoned->store(true);  // whatever it was waiting for may still run
    // COTTER_API void cotter_call_free(cotter_call *call);
    cotter_call_free(p->call);
    delete p;
}

/**
 * JS thread: takes the result, settles the promise, frees the call. Raw N-API (see Js): this also runs while a
 * worker thread is being terminated, where JS stops in the middle of converting; then nothing can settle the
 * promise (its environment is going away), and the call is freed and its hold dropped all the same.
 */
void Settle(napi_env env, PendingCall *p) {
    Js js(env);
    napi_value result = nullptr;
    std::optional<ErrorInfo> error = Capture([&] { result = p->take(js, *p); });  // the call's cotter::Error
    if (error) result = ErrorValue(js, *error);
    const bool resolve = js.ok() && !error;
    if (!js.ok()) result = js.TakeException();  // converting (or building the error) threw in JS: reject with it
    const int code = error ? error->code : COTTER_OK;
    if (p->abandoned && (code == COTTER_ECANCELED || code == COTTER_ETIMEOUT)) p->abandoned->store(true);
    cotter_call_free(p->call);
    p->call = nullptr;
    if (result != nullptr) {
        if (resolve) napi_resolve_deferred(env, p->deferred, result);
        else napi_reject_deferred(env, p->deferred, result);
    }
    p->js->Untrack(p);
    p->js->Unhold(env);
    delete p;
}

// cotter_call_done_fn: the I/O thread (or inline in `_start`, on the JS thread). Must not block.
void OnCallDone(cotter_call *, void *payload) {
    auto *p = static_cast<PendingCall *>(payload);
    if (p->js->OnThread()) {  // inline: StartCall settles it as soon as `_start` returns
        p->inline_done = true;
        return;
    }
    p->js->Post([p](napi_env env) {
        if (env == nullptr) {
            p->js->Untrack(p);
            Discard(p);
            return;
        }
        Settle(env, p);
    });
}

/**
 * Starts one network call: `start(opts)` calls the `_start` function and returns the owned call. Returns the
 * promise, or [promise, id] for a cancellable call. A `_start` that fails (a bad argument) rejects the promise.
 */
template <class Start>
Napi::Value StartCall(Napi::Env env, const CallArgs &args, std::shared_ptr<void> keep, PendingCall::Take take,
                      Start &&start, std::atomic<bool> *abandoned = nullptr) {
    const std::shared_ptr<JsThread> &js = Data(env)->js;
    if (js->Closed()) ThrowInvalid(env, "the environment is shutting down");
    auto *p = new PendingCall();
    p->take = take;
    p->keep = std::move(keep);
    p->abandoned = abandoned;
    p->js = js;
    napi_value promise;
    if (napi_create_promise(env, &p->deferred, &promise) != napi_ok) {
        delete p;
        throw Napi::Error::New(env, "cotter: cannot create a promise");
    }
    js->Track(p);
    js->Hold(env);
    try {
        cotter_call_options opts = cotter::call_options(&OnCallDone, p, args.timeout_ms);
        p->call = start(&opts).release();
    } catch (...) {  // nothing started: no callback will run
        std::optional<ErrorInfo> err = Capture([] { throw; });  // rethrown inside Capture, which classifies it
        js->Untrack(p);
        js->Unhold(env);
        napi_reject_deferred(env, p->deferred, MakeError(env, *err));
        delete p;
        p = nullptr;
    }
    uint64_t id = p ? p->id : 0;
    if (p && p->inline_done) Settle(env, p);
    if (!args.cancellable) return Napi::Value(env, promise);
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(uint32_t(0), Napi::Value(env, promise));
    pair.Set(uint32_t(1), Napi::Number::New(env, double(id)));
    return pair;
}

// Takers (JS thread, raw N-API through Js; each throws the call's cotter::Error).
// COTTER_API int cotter_call_wait(cotter_call *call, cotter_error **out_error);
napi_value TakeNothing(Js &js, PendingCall &p) {
    cotter::CallRef(p.call).wait();
    return js.Undefined();
}
// COTTER_API int cotter_call_take_token(cotter_token **out, cotter_call *call, cotter_error **out_error);
napi_value TakeToken(Js &js, PendingCall &p) { return TokenValue(js, cotter::CallRef(p.call).take_token()); }
// COTTER_API int cotter_call_take_buf(cotter_buf *out, cotter_call *call, cotter_error **out_error);
napi_value TakeBuf(Js &js, PendingCall &p) { return js.String(cotter::CallRef(p.call).take_buf().view()); }
// A record that crosses the ABI as JSON (checked by the core; capi/abi.json `records`) becomes a plain object or
// array (one JSON.parse); lib/index.js wraps it in its generated record class.
// COTTER_API int cotter_call_take_buf(cotter_buf *out, cotter_call *call, cotter_error **out_error);
napi_value TakeJsonObject(Js &js, PendingCall &p) {
    cotter::unique_buf b = cotter::CallRef(p.call).take_buf();
    return js.ParseJson(b.view());
}
// COTTER_API int cotter_call_take_custom_claims(cotter_buf *token_out, cotter_buf *refresh_token_out, cotter_call *call, cotter_error **out_error);
napi_value TakeCustomClaims(Js &js, PendingCall &p) {
    // Always asks for the special refresh token: none comes back when the call sent no refresh token.
    cotter::CustomClaims r = cotter::take_custom_claims(cotter::CallRef(p.call), true);
    napi_value o = js.Object();
    js.Set(o, "token", js.String(r.token.view()));
    js.Set(o, "refresh_token", r.refresh_token.has_value() ? js.String(r.refresh_token.view()) : js.Null());
    return o;
}
// COTTER_API int cotter_call_take_verify_remote(int *valid_out, cotter_buf *reason_out, cotter_call *call, cotter_error **out_error);
napi_value TakeVerifyRemote(Js &js, PendingCall &p) {
    cotter::RemoteVerdict r = cotter::take_verify_remote(cotter::CallRef(p.call));
    napi_value o = js.Object();
    js.Set(o, "valid", js.Bool(r.valid));
    js.Set(o, "reason", r.reason.has_value() && !r.reason.empty() ? js.String(r.reason.view()) : js.Null());
    return o;
}

// cancelCall(id): the AbortSignal of a call was aborted (node/lib/index.js). Unknown or settled ids are ignored.
Napi::Value CancelCall(const Napi::CallbackInfo &info) {
    if (info[0].IsNumber()) Data(info.Env())->js->Cancel(uint64_t(info[0].As<Napi::Number>().DoubleValue()));
    return info.Env().Undefined();
}

// ------------------------------------------------------------------------------------------------
// Logging: the library's log lines, delivered to a JS function on the event loop
// ------------------------------------------------------------------------------------------------

/**
 * A JS `log(level, message)`. The C library logs from whichever thread runs the operation (cotter_log_fn); lines
 * are queued to the JS thread, never waited for, and never keep the process alive. The C object's options point
 * at it, so it lives as long as any owner of it (a *Core object, a queued line). Lines never carry secrets (the
 * library's guarantee; tests/node/redaction.test.js).
 */
class LogSink : public std::enable_shared_from_this<LogSink> {
  public:
    static std::shared_ptr<LogSink> From(Napi::Env env, const Napi::Object &options) {
        Napi::Value fn = options.Get("log");
        if (fn.IsUndefined() || fn.IsNull()) return nullptr;
        if (!fn.IsFunction()) ThrowInvalid(env, "option log must be a function");
        auto sink = std::make_shared<LogSink>();
        sink->js_ = Data(env)->js;
        sink->fn_ = Napi::Persistent(fn.As<Napi::Function>());
        return sink;
    }
    ~LogSink() { ReleaseRef(*js_, fn_); }

    // cotter_log_fn: void (*)(int level, const char *message, void *payload)
    static void Log(int level, const char *message, void *payload) {
        try {
            std::shared_ptr<LogSink> self = static_cast<LogSink *>(payload)->shared_from_this();
            std::string text = message ? message : "";
            self->js_->Post([self, level, text](napi_env env) {
                if (env != nullptr) self->Deliver(Napi::Env(env), level, text);
            });
        } catch (...) {
            // out of memory: drop the line, never unwind into the library
        }
    }

  private:
    void Deliver(Napi::Env env, int level, const std::string &text) {
        if (fn_.IsEmpty()) return;
        const char *name = level >= COTTER_LOG_ERROR     ? "error"
                           : level >= COTTER_LOG_WARNING ? "warning"
                           : level >= COTTER_LOG_INFO    ? "info"
                                                         : "debug";
        // Raw N-API (see Js): a log function may end its worker thread (process.exit), and JS stops mid-call.
        Js js(env);
        js.Call(js.Get(fn_), js.Undefined(), {js.String(name), js.String(text)});
        if (!js.ok()) js.TakeException();  // index.js rethrows a logger's own exception on the next tick
    }

    std::shared_ptr<JsThread> js_;
    Napi::FunctionReference fn_;
};

/// The C client and the log sink its options point at (the sink outlives the client handle).
struct ClientCore {
    std::shared_ptr<LogSink> log;
    cotter::Client client;
    int64_t timeout_ms = 0;  // the client's timeoutMs (set from its options): also how long a session hook may take
};

// ------------------------------------------------------------------------------------------------
// Verifier
// ------------------------------------------------------------------------------------------------

/// The C verifier and what its options point at (log sink, pinned clock), shared by the wrapper and its calls.
struct VerifierCore {
    static constexpr int64_t kNoClock = -1;
    std::shared_ptr<LogSink> log;
    std::atomic<int64_t> now{kNoClock};
    cotter::JwtVerifier v;
};

/**
 * verify() off the event loop. It is CPU work (one ECDSA verification, ~60 µs), run on threads of the addon's own,
 * one per core, started on first use: not the libuv pool, so a burst of verifications leaves fs, dns and crypto
 * their pool; and the results reach the JS thread through the environment's one thread-safe function, so a burst
 * settles many promises per wake-up (not one uv callback, async-hooks scope and microtask checkpoint each).
 * One pool per environment; at teardown its threads finish the verification in hand and end on their own.
 */
class VerifyPool {
  public:
    struct Job {
        std::shared_ptr<VerifierCore> core;
        std::string token;  // wiped after the verification; its buffer is kept for the job's next use
        napi_deferred deferred = nullptr;
        std::optional<ErrorInfo> error;  // or its claims are an element of the batch's claims array
        std::shared_ptr<JsThread> js;
        Job *next = nullptr;  // the batch it is settled with
        // Head of a batch only: the claims of its verified jobs, in order, as ONE JSON array text, so that the JS
        // thread parses a batch with one JSON.parse call (and one string), not one per verification.
        std::string batch_claims;
        bool batch_ascii = true;  // batch_claims is ASCII: the JS string is made by a copy, no UTF-8 decoding
    };

    ~VerifyPool() {
        for (Job *j : spare_) delete j;
    }

    // JS thread: a job to fill, reused when one is spare. Jobs are recycled on the JS thread (the one thread every
    // verification shares): their token and claims buffers keep their capacity, so in the steady state a
    // verification allocates none of them (malloc/free were the largest native item in a perf profile of that
    // thread), and the JS thread no longer frees claims buffers that a verify thread's malloc arena owns.
    Job *Take() {
        if (spare_.empty()) return new Job();
        Job *j = spare_.back();
        spare_.pop_back();
        return j;
    }

    // JS thread: a settled job back to the spares (its references dropped: a closed verifier is freed at once).
    void Recycle(Job *job) {
        job->core.reset();
        job->js.reset();
        job->deferred = nullptr;
        job->error.reset();
        job->next = nullptr;
        if (spare_.size() < kMaxSpare && job->token.capacity() <= kMaxKeptBytes) {
            if (job->batch_claims.capacity() > kMaxKeptBytes) std::string().swap(job->batch_claims);  // not kept
            job->batch_claims.clear();
            spare_.push_back(job);
        } else {
            delete job;
        }
    }

    // JS thread: queues `job` (its promise is already made and held).
    void Submit(Job *job) {
        if (!started_) Start();
        {
            std::lock_guard<std::mutex> lock(state_->mu);
            state_->queue.push_back(job);
        }
        state_->cv.notify_one();
    }

    // Environment teardown: queued jobs are dropped (nobody would read them), the threads end on their own.
    void Stop() {
        std::deque<Job *> dropped;
        {
            std::lock_guard<std::mutex> lock(state_->mu);
            state_->stop = true;
            dropped.swap(state_->queue);
        }
        state_->cv.notify_all();
        for (Job *j : dropped) delete j;
        for (Job *j : spare_) delete j;
        spare_.clear();
    }

  private:
    struct State {
        std::mutex mu;
        std::condition_variable cv;
        std::deque<Job *> queue;  // guarded by mu
        bool stop = false;        // guarded by mu
    };

    void Start() {
        started_ = true;
        unsigned n = std::max(1u, std::thread::hardware_concurrency());
        for (unsigned i = 0; i < n; ++i) std::thread(&VerifyPool::Loop, state_, n).detach();
    }

    // COTTER_API int cotter_jwt_verify(cotter_claims **out, cotter_jwt_verifier *verifier, const char *token, size_t token_len, cotter_error **out_error);
    static void Loop(std::shared_ptr<State> st, unsigned threads) {
        for (;;) {
            Job *batch = nullptr;  // a list through Job::next, in queue order
            {
                std::unique_lock<std::mutex> lock(st->mu);
                st->cv.wait(lock, [&] { return st->stop || !st->queue.empty(); });
                if (st->stop) return;
                // A share of what is queued (at most kMaxBatch): their results then reach the JS thread together,
                // one wake-up for many promises; a lone verification still goes alone, at once.
                size_t take = std::min(kMaxBatch, std::max<size_t>(1, st->queue.size() / threads));
                Job **tail = &batch;
                for (size_t i = 0; i < take; ++i) {
                    *tail = st->queue.front();
                    tail = &(*tail)->next;
                    st->queue.pop_front();
                }
            }
            // The claims handle is freed here, on the thread that made it; its JSON is appended to the batch's array
            // text, in the head job's own buffer (no allocation once the job has been used).
            std::string &text = batch->batch_claims;
            text.assign(1, '[');  // never allocates: the string's own buffer holds 15 characters
            for (Job *job = batch; job != nullptr; job = job->next) {
                job->error = Capture([job, &text] {
                    cotter::Claims claims = job->core->v.verify(job->token);
                    std::string_view json = claims.json();
                    // The only step that can throw, before any append; with room for the closing ']' as well.
                    text.reserve(text.size() + 1 + json.size() + 1);
                    if (text.size() > 1) text.push_back(',');
                    text.append(json);
                });
                Wipe(job->token);
            }
            text.push_back(']');
            batch->batch_ascii = IsAscii(text);
            std::shared_ptr<JsThread> js = batch->js;
            js->Post([batch](napi_env env) {
                AddonData *d = env != nullptr ? Data(Napi::Env(env)) : nullptr;
                VerifyPool *pool = d != nullptr ? d->verify_pool.get() : nullptr;
                if (env != nullptr) SettleBatch(env, batch);
                for (Job *job = batch; job != nullptr;) {
                    Job *next = job->next;
                    if (pool != nullptr) pool->Recycle(job);
                    else delete job;
                    job = next;
                }
            });
        }
    }

    // COTTER_API const char *cotter_claims_json(const cotter_claims *claims, size_t *len_out);
    // The claims objects are parsed here, so that each promise resolves with its claims: no extra promise and
    // microtask per verification in index.js. This is the JS thread's share of every verification (it bounds the
    // async throughput against the cores' ceiling), so a batch costs one string and one JSON.parse call (of the
    // array its verify thread wrote), then one element read and one resolve per job, in the handle scope Drain
    // opens for the batch (at most kMaxBatch jobs). If the parse fails (it cannot for the library's JSON), the
    // verified jobs of the batch reject with its exception. Raw N-API throughout (see Js): a worker thread may be
    // terminated while it runs; then its promises are left to the environment's end.
    static void SettleBatch(napi_env env, Job *jobs) {
        napi_value array = nullptr, failure = nullptr;
        bool any_verified = false;
        for (Job *job = jobs; job != nullptr; job = job->next) any_verified = any_verified || !job->error;
        if (any_verified) {
            Js js(env);
            const std::string &t = jobs->batch_claims;
            napi_value parse = nullptr, undefined = nullptr, text = nullptr;
            AddonData *d = nullptr;
            napi_status st = napi_get_instance_data(env, reinterpret_cast<void **>(&d));
            if (st == napi_ok && d == nullptr) st = napi_generic_failure;
            if (st == napi_ok) st = napi_get_reference_value(env, d->json_parse, &parse);
            if (st == napi_ok && parse == nullptr) st = napi_generic_failure;
            if (st == napi_ok) st = napi_get_undefined(env, &undefined);
            if (st == napi_ok)
                st = jobs->batch_ascii ? napi_create_string_latin1(env, t.data(), t.size(), &text)
                                       : napi_create_string_utf8(env, t.data(), t.size(), &text);
            if (st == napi_ok) st = napi_call_function(env, undefined, parse, 1, &text, &array);
            if (st != napi_ok && !(failure = js.TakeException()))  // the JS exception, else a CotterError saying so
                failure = ErrorValue(js, ErrorInfo{COTTER_EINTERNAL, "cannot convert the verified claims", 0, {}, {}, -1});
        }
        uint32_t index = 0;
        for (Job *job = jobs; job != nullptr; job = job->next) {
            Js js(env);
            napi_value claims = nullptr, error = nullptr;
            if (job->error) error = ErrorValue(js, *job->error);
            else if (failure != nullptr) error = failure;
            else if (napi_get_element(env, array, index++, &claims) != napi_ok) claims = nullptr;
            if (claims == nullptr && error == nullptr) error = js.TakeException();  // building the error threw in JS
            if (claims != nullptr) napi_resolve_deferred(env, job->deferred, claims);
            else if (error != nullptr) napi_reject_deferred(env, job->deferred, error);
            job->js->Unhold(env);
        }
    }

    static constexpr size_t kMaxBatch = 16;
    static constexpr size_t kMaxSpare = 256;        // spare jobs kept (a burst beyond it frees the rest)
    static constexpr size_t kMaxKeptBytes = 16384;  // buffers past this are not kept (a job whose token grew: freed)
    std::shared_ptr<State> state_ = std::make_shared<State>();
    bool started_ = false;    // JS thread
    std::vector<Job *> spare_;  // JS thread
};

AddonData::~AddonData() {
    if (verify_pool) verify_pool->Stop();
    if (js) js->Close();
}

class Verifier : public Napi::ObjectWrap<Verifier> {
  public:
    static Napi::Function Define(Napi::Env env) {
        return DefineClass(env, "NativeVerifier",
                           {InstanceMethod<&Verifier::VerifySync>("verifySync"),
                            InstanceMethod<&Verifier::CheckSync>("checkSync"),
                            InstanceMethod<&Verifier::Verify>("verify"),
                            InstanceMethod<&Verifier::Refresh>("refresh"),
                            InstanceMethod<&Verifier::SetNow>("setNow"),
                            InstanceMethod<&Verifier::Close>("close")});
    }

    // COTTER_API int cotter_jwt_verifier_new(cotter_jwt_verifier **out, const cotter_jwt_verifier_options *opts, cotter_error **out_error);
    explicit Verifier(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Verifier>(info) {
        Napi::Env env = info.Env();
        info.This().As<Napi::Object>().TypeTag(&kVerifierTag);
        Napi::Object o = OptionsArg(env, info[0]);
        auto audience = OptString(env, o, "audience");  // required: the library says so when it is missing
        auto issuer = OptString(env, o, "issuer");
        auto jwks = OptString(env, o, "jwksJson");
        auto url = OptString(env, o, "jwksUrl");
        auto ca = OptString(env, o, "caFile");
        cotter_jwt_verifier_options opts = Sync(env, [] { return cotter::jwt_verifier_options(); });
        opts.audience = audience ? audience->c_str() : nullptr;
        opts.issuer = issuer ? issuer->c_str() : nullptr;
        opts.jwks_json = jwks ? jwks->c_str() : nullptr;
        opts.jwks_url = url ? url->c_str() : nullptr;
        opts.ca_file = ca ? ca->c_str() : nullptr;
        if (auto v = OptInt(env, o, "leeway", kMinSafe, kMaxSafe)) opts.leeway_seconds = *v;
        if (auto v = OptInt(env, o, "jwksMaxAgeMs", kMinSafe, kMaxSafe)) opts.jwks_max_age_ms = *v;
        if (auto v = OptInt(env, o, "jwksCooldownMs", kMinSafe, kMaxSafe)) opts.jwks_cooldown_ms = *v;
        if (auto v = OptInt(env, o, "jwksTimeoutMs", kMinSafe, kMaxSafe)) opts.jwks_timeout_ms = *v;
        if (auto v = OptInt(env, o, "jwksMaxBytes", 0, kMaxSafe)) opts.jwks_max_bytes = size_t(*v);
        if (auto v = OptInt(env, o, "tokenCache", 0, kMaxSafe)) opts.token_cache_size = size_t(*v);
        if (auto v = OptInt(env, o, "fromEnvironment", kMinSafe, kMaxSafe)) opts.from_environment = long(*v);
        auto core = std::make_shared<VerifierCore>();
        if (auto v = OptInt(env, o, "now", 0, kMaxSafe)) {
            core->now.store(*v, std::memory_order_relaxed);
            opts.clock = &Verifier::Clock;
            opts.clock_payload = core.get();
        }
        core->log = LogSink::From(env, o);
        if (core->log) {
            opts.log = &LogSink::Log;
            opts.log_payload = core->log.get();
        }
        core->v = Sync(env, [&] { return cotter::JwtVerifier::create(opts); });
        core_ = std::move(core);
    }

  private:
    static int64_t Clock(void *payload) {
        return static_cast<VerifierCore *>(payload)->now.load(std::memory_order_relaxed);
    }

    cotter::JwtVerifierRef Live(Napi::Env env) {
        if (!core_) ThrowInvalid(env, "the verifier is closed");
        return core_->v;
    }

    // COTTER_API int cotter_jwt_verify(cotter_claims **out, cotter_jwt_verifier *verifier, const char *token, size_t token_len, cotter_error **out_error);
    // COTTER_API const char *cotter_claims_json(const cotter_claims *claims, size_t *len_out);
    Napi::Value VerifySync(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cotter::JwtVerifierRef v = Live(env);
        std::string token = TokenArg(env, info[0], "token");
        cotter::Claims claims = Sync(env, [&] { return v.verify(token); });
        return Str(env, claims.json());
    }

    // COTTER_API int cotter_jwt_verify(cotter_claims **out, cotter_jwt_verifier *verifier, const char *token, size_t token_len, cotter_error **out_error);
    // (verdict only: `out` NULL, no claims are built)
    Napi::Value CheckSync(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cotter::JwtVerifierRef v = Live(env);
        std::string token = TokenArg(env, info[0], "token");
        Sync(env, [&] { v.check(token); });
        return env.Undefined();
    }

    Napi::Value Verify(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        Live(env);
        AddonData *d = Data(env);
        if (d->js->Closed()) ThrowInvalid(env, "the environment is shutting down");
        napi_value promise;
        if (!d->verify_pool) d->verify_pool = std::make_unique<VerifyPool>();
        VerifyPool *pool = d->verify_pool.get();
        VerifyPool::Job *job = pool->Take();
        try {
            TokenArgInto(env, info[0], "token", job->token);
            if (napi_create_promise(env, &job->deferred, &promise) != napi_ok)
                throw Napi::Error::New(env, "cotter: cannot create a promise");
        } catch (...) {
            Wipe(job->token);
            pool->Recycle(job);
            throw;
        }
        job->core = core_;
        job->js = d->js;
        d->js->Hold(env);
        pool->Submit(job);
        return Napi::Value(env, promise);
    }

    // COTTER_API int cotter_jwt_verifier_refresh_start(cotter_call **out, cotter_jwt_verifier *verifier, const cotter_call_options *call_opts, cotter_error **out_error);
    // refresh(timeoutMs, cancellable)
    Napi::Value Refresh(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cotter::JwtVerifierRef v = Live(env);
        return StartCall(env, CallArgsAt(info, 0), core_, &TakeNothing,
                         [&](const cotter_call_options *o) { return v.refresh_start(o); });
    }

    Napi::Value SetNow(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        Live(env);
        if (core_->now.load() == VerifierCore::kNoClock)
            ThrowInvalid(env, "setNow() needs a verifier created with the `now` option");
        core_->now.store(*IntValue(env, info[0], "now", 0, kMaxSafe), std::memory_order_relaxed);
        return env.Undefined();
    }

    // COTTER_API void cotter_jwt_verifier_free(cotter_jwt_verifier *verifier);
    Napi::Value Close(const Napi::CallbackInfo &info) {
        core_.reset();  // calls in flight hold the rest
        return info.Env().Undefined();
    }

    std::shared_ptr<VerifierCore> core_;
};

// ------------------------------------------------------------------------------------------------
// Client
// ------------------------------------------------------------------------------------------------

class Client : public Napi::ObjectWrap<Client> {
  public:
    static Napi::Function Define(Napi::Env env) {
        return DefineClass(env, "NativeClient",
                           {
                            // BEGIN GENERATED client methods (scripts/gen.py from capi/abi.json; do not edit)
                            InstanceMethod<&Client::GrantIdentityToken>("exchangeIdentityToken"),
                            InstanceMethod<&Client::GrantEventToken>("exchangeEventToken"),
                            InstanceMethod<&Client::Refresh>("refresh"),
                            InstanceMethod<&Client::Logout>("logout"),
                            InstanceMethod<&Client::CustomClaims>("customClaims"),
                            InstanceMethod<&Client::GetIdentity>("getIdentity"),
                            InstanceMethod<&Client::UserCreate>("createUser"),
                            InstanceMethod<&Client::UserGetByIdentifier>("getUser"),
                            InstanceMethod<&Client::UserGet>("getUserById"),
                            InstanceMethod<&Client::UserList>("listUsers"),
                            InstanceMethod<&Client::SocialTokensList>("listSocialTokens"),
                            InstanceMethod<&Client::SocialTokenGet>("getSocialToken"),
                            InstanceMethod<&Client::SocialTokenDelete>("deleteSocialToken"),
                            InstanceMethod<&Client::VerifyRemote>("verifyRemote"),
                            InstanceMethod<&Client::EventCreatePending>("createPendingEvent"),
                            InstanceMethod<&Client::EventGet>("getEvent"),
                            // END GENERATED client methods
                            InstanceMethod<&Client::BaseUrl>("baseUrl"),
                            InstanceMethod<&Client::Stats>("stats"),
                            InstanceMethod<&Client::Close>("close")});
    }

    // COTTER_API int cotter_client_new(cotter_client **out, const cotter_client_options *opts, cotter_error **out_error);
    explicit Client(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Client>(info) {
        Napi::Env env = info.Env();
        info.This().As<Napi::Object>().TypeTag(&kClientTag);
        Napi::Object o = OptionsArg(env, info[0]);
        auto key = OptString(env, o, "apiKeyId");  // required: the library says so when it is missing
        auto secret = OptString(env, o, "apiSecretKey");
        auto base = OptString(env, o, "baseUrl");
        auto worker = OptString(env, o, "workerUrl");
        auto ca = OptString(env, o, "caFile");
        cotter_client_options opts = Sync(env, [] { return cotter::client_options(); });
        opts.api_key_id = key ? key->c_str() : nullptr;
        opts.api_secret_key = secret ? secret->c_str() : nullptr;
        opts.base_url = base ? base->c_str() : nullptr;
        opts.worker_url = worker ? worker->c_str() : nullptr;
        opts.ca_file = ca ? ca->c_str() : nullptr;
        auto core = std::make_shared<ClientCore>();
        try {
            core->log = LogSink::From(env, o);
            if (core->log) {
                opts.log = &LogSink::Log;
                opts.log_payload = core->log.get();
            }
            if (auto v = OptInt(env, o, "connectTimeoutMs", kMinSafe, kMaxSafe)) opts.connect_timeout_ms = *v;
            if (auto v = OptInt(env, o, "timeoutMs", kMinSafe, kMaxSafe)) opts.timeout_ms = *v;
            core->timeout_ms = opts.timeout_ms;
            if (auto v = OptInt(env, o, "maxRetries", kIntMin, kIntMax)) opts.max_retries = int(*v);
            if (auto v = OptInt(env, o, "retryBaseMs", kMinSafe, kMaxSafe)) opts.retry_base_ms = *v;
            if (auto v = OptInt(env, o, "retryMaxMs", kMinSafe, kMaxSafe)) opts.retry_max_ms = *v;
            if (auto v = OptInt(env, o, "maxResponseBytes", 0, kMaxSafe)) opts.max_response_bytes = size_t(*v);
            if (auto v = OptInt(env, o, "maxHostConnections", kMinSafe, kMaxSafe)) opts.max_host_connections = long(*v);
            core->client = Sync(env, [&] { return cotter::Client::create(opts); });
            c_ = std::move(core);
        } catch (...) {
            if (secret) Wipe(*secret);
            throw;
        }
        if (secret) Wipe(*secret);
    }

    /// For sessions: a share of the client core (its log sink must outlive the C client, which the session keeps).
    std::shared_ptr<ClientCore> Share(Napi::Env env) {
        Live(env);
        return c_;
    }

  private:
    cotter::ClientRef Live(Napi::Env env) {
        if (!c_) ThrowInvalid(env, "the client is closed");
        return c_->client;
    }

    /// Starts `start(client, opts)`; its per-call arguments (timeoutMs, cancellable) follow the first `nargs`.
    template <class Start>
    Napi::Value Run(const Napi::CallbackInfo &info, size_t nargs, PendingCall::Take take, Start &&start) {
        Napi::Env env = info.Env();
        cotter::ClientRef c = Live(env);
        return StartCall(env, CallArgsAt(info, nargs), c_, take,
                         [&](const cotter_call_options *o) { return start(c, o); });
    }

    // The calls: read the arguments, start the call; the taker of its result settles the promise.
    // BEGIN GENERATED client calls (scripts/gen.py from capi/abi.json; do not edit)
    // COTTER_API int cotter_client_grant_identity_token_start(cotter_call **out, cotter_client *client, const char *identity_token_json, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value GrantIdentityToken(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString identity_token_json(ReqString(env, info[0], "identityToken"));
        return Run(info, 1, &TakeToken, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.grant_identity_token_start(identity_token_json.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_grant_event_token_start(cotter_call **out, cotter_client *client, const char *event_token_json, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value GrantEventToken(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString event_token_json(ReqString(env, info[0], "eventToken"));
        return Run(info, 1, &TakeToken, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.grant_event_token_start(event_token_json.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_refresh_start(cotter_call **out, cotter_client *client, const char *refresh_token, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value Refresh(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString refresh_token(ReqString(env, info[0], "refreshToken"));
        return Run(info, 1, &TakeToken, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.refresh_start(refresh_token.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_logout_start(cotter_call **out, cotter_client *client, const char *refresh_token, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value Logout(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString refresh_token(OptStringArg(env, info[0], "refreshToken"));
        return Run(info, 1, &TakeNothing, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.logout_start(refresh_token.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_custom_claims_start(cotter_call **out, cotter_client *client, const char *token, const char *custom_attributes_json, const char *refresh_token, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value CustomClaims(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString token(ReqString(env, info[0], "token"));
        ArgString custom_attributes_json(ReqString(env, info[1], "customAttributes"));
        ArgString refresh_token(OptStringArg(env, info[2], "refreshToken"));
        return Run(info, 3, &TakeCustomClaims, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.custom_claims_start(token.c_str(), custom_attributes_json.c_str(), refresh_token.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_get_identity_start(cotter_call **out, cotter_client *client, const char *authorization_code, int64_t challenge_id, const char *code_verifier, const char *redirect_url, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value GetIdentity(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString authorization_code(ReqString(env, info[0], "code"));
        const int64_t challenge_id = ReqInt(env, info[1], "challengeId", kMinSafe, kMaxSafe);
        ArgString code_verifier(ReqString(env, info[2], "codeVerifier"));
        ArgString redirect_url(ReqString(env, info[3], "redirectUrl"));
        return Run(info, 4, &TakeJsonObject, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.get_identity_start(authorization_code.c_str(), challenge_id, code_verifier.c_str(),
                                        redirect_url.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_user_create_start(cotter_call **out, cotter_client *client, const char *identifier, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value UserCreate(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString identifier(ReqString(env, info[0], "identifier"));
        return Run(info, 1, &TakeJsonObject, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.user_create_start(identifier.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_user_get_by_identifier_start(cotter_call **out, cotter_client *client, const char *identifier, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value UserGetByIdentifier(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString identifier(ReqString(env, info[0], "identifier"));
        return Run(info, 1, &TakeJsonObject, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.user_get_by_identifier_start(identifier.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_user_get_start(cotter_call **out, cotter_client *client, const char *user_id, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value UserGet(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString user_id(ReqString(env, info[0], "userId"));
        return Run(info, 1, &TakeJsonObject, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.user_get_start(user_id.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_user_list_start(cotter_call **out, cotter_client *client, unsigned int page, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value UserList(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        const auto page = static_cast<unsigned int>(ReqInt(env, info[0], "page", 0, kUintMax));
        return Run(info, 1, &TakeJsonObject, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.user_list_start(page, o);
        });
    }
    // COTTER_API int cotter_client_social_tokens_list_start(cotter_call **out, cotter_client *client, const char *cotter_user_id, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value SocialTokensList(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString cotter_user_id(ReqString(env, info[0], "userId"));
        return Run(info, 1, &TakeJsonObject, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.social_tokens_list_start(cotter_user_id.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_social_token_get_start(cotter_call **out, cotter_client *client, const char *provider, const char *cotter_user_id, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value SocialTokenGet(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString provider(ReqString(env, info[0], "provider"));
        ArgString cotter_user_id(ReqString(env, info[1], "userId"));
        return Run(info, 2, &TakeJsonObject, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.social_token_get_start(provider.c_str(), cotter_user_id.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_social_token_delete_start(cotter_call **out, cotter_client *client, const char *provider, const char *cotter_user_id, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value SocialTokenDelete(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString provider(ReqString(env, info[0], "provider"));
        ArgString cotter_user_id(ReqString(env, info[1], "userId"));
        return Run(info, 2, &TakeNothing, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.social_token_delete_start(provider.c_str(), cotter_user_id.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_verify_remote_start(cotter_call **out, cotter_client *client, const char *access_token, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value VerifyRemote(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString access_token(NoNul(env, TokenArg(env, info[0], "accessToken"), "accessToken"));
        return Run(info, 1, &TakeVerifyRemote, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.verify_remote_start(access_token.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_event_create_pending_start(cotter_call **out, cotter_client *client, const char *client_user_id, const char *event, const char *code_challenge, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value EventCreatePending(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        ArgString client_user_id(ReqString(env, info[0], "clientUserId"));
        ArgString event(ReqString(env, info[1], "event"));
        ArgString code_challenge(OptStringArg(env, info[2], "codeChallenge"));
        return Run(info, 3, &TakeJsonObject, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.event_create_pending_start(client_user_id.c_str(), event.c_str(), code_challenge.c_str(), o);
        });
    }
    // COTTER_API int cotter_client_event_get_start(cotter_call **out, cotter_client *client, int64_t event_id, const char *code_verifier, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value EventGet(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        const int64_t event_id = ReqInt(env, info[0], "eventId", kMinSafe, kMaxSafe);
        ArgString code_verifier(OptStringArg(env, info[1], "codeVerifier"));
        return Run(info, 2, &TakeJsonObject, [&](cotter::ClientRef c, const cotter_call_options *o) {
            return c.event_get_start(event_id, code_verifier.c_str(), o);
        });
    }
    // END GENERATED client calls
    // COTTER_API const char *cotter_client_base_url(const cotter_client *client);
    Napi::Value BaseUrl(const Napi::CallbackInfo &info) { return Str(info.Env(), Live(info.Env()).base_url()); }
    // COTTER_API int cotter_client_stats_get(cotter_client_stats *out, const cotter_client *client);
    Napi::Value Stats(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cotter::ClientRef c = Live(env);
        cotter_client_stats s = Sync(env, [&] { return c.stats(); });
        Napi::Object o = Napi::Object::New(env);
        o.Set("requests", double(s.requests));
        o.Set("connections", double(s.connections));
        o.Set("retries", double(s.retries));
        return o;
    }
    // COTTER_API void cotter_client_free(cotter_client *client);
    // The C client lives on while calls in flight and sessions use it (the C ABI keeps it alive).
    Napi::Value Close(const Napi::CallbackInfo &info) {
        c_.reset();
        return info.Env().Undefined();
    }

    std::shared_ptr<ClientCore> c_;
};

// ------------------------------------------------------------------------------------------------
// Shared store: sessions shared by a fleet through the user's own Redis client (docs/node.md, "Sessions shared by
// a fleet (Redis)"; docs/shared-sessions.md). node/lib/index.js gives the JS `eval(script, sha1, keys, args)`
// (RedisStore: ioredis's EVALSHA, EVAL on NOSCRIPT); this section carries it across threads.
// ------------------------------------------------------------------------------------------------

constexpr napi_type_tag kStoreTag = {0x5e2b7c9d14a36f80ULL, 0xc3d1094e7b2a5f16ULL};

/**
 * One eval of the library: called on a client's I/O thread (or the thread that opens a session), run on the JS
 * thread, completed (`done`) exactly once: by the reply, by the JS failure, or with COTTER_ESHARED_UNAVAILABLE when
 * the environment goes away first (JsThread::Close: a promise pending then never settles).
 */
struct EvalJob {
    std::string script, sha1;
    std::vector<std::string> keys, args;  // args hold tokens: wiped when the job dies
    cotter_shared_store_done_fn done = nullptr;
    void *done_ctx = nullptr;
    std::atomic<bool> completed{false};
    uint64_t closer = 0;  // JS thread: its JsThread::AddCloser id while its promise is pending

    ~EvalJob() {
        for (auto &a : args) Wipe(a);
    }

    bool Claim() { return !completed.exchange(true); }

    /// Any thread. `why` comes from the Redis client: cleaned of the script's arguments first.
    void Fail(const std::string &why) {
        if (!Claim()) return;
        const std::string m = Scrub(why);
        done(done_ctx, COTTER_ESHARED_UNAVAILABLE, nullptr, nullptr, 0, m.c_str());
    }

    /// A client's error text may quote the command (ioredis does not, others might): every script argument, and
    /// any long run of token characters, is cut out. Tokens never reach a message.
    std::string Scrub(std::string m) const {
        for (const auto &a : args) {
            if (a.size() < 8) continue;  // versions, TTLs: harmless, and too short to match safely
            for (size_t at = m.find(a); at != std::string::npos; at = m.find(a, at)) m.replace(at, a.size(), "[redacted]");
        }
        std::string out;
        size_t run = 0;
        auto token_char = [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '+' || c == '/' || c == '='; };
        for (size_t i = 0; i <= m.size(); ++i) {
            if (i < m.size() && token_char(static_cast<unsigned char>(m[i]))) {
                ++run;
                continue;
            }
            if (run >= 40) out += "[redacted]";
            else out.append(m, i - run, run);
            if (i < m.size()) out += m[i];
            run = 0;
        }
        return out;
    }

    /// JS thread: the script's reply, flattened (Buffers and strings as bytes, integers as decimal text).
    void Complete(const Napi::Value &reply) {
        if (!reply.IsArray()) return Fail("the Redis client answered a script with something other than an array");
        Napi::Array arr = reply.As<Napi::Array>();
        const uint32_t n = arr.Length();
        std::vector<std::string> items(n);
        for (uint32_t i = 0; i < n; ++i) {
            Napi::Value v = arr.Get(i);
            if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
                auto u = v.As<Napi::Uint8Array>();  // a Buffer too
                items[i].assign(reinterpret_cast<const char *>(u.Data()), u.ByteLength());
            } else if (v.IsString()) {
                items[i] = v.As<Napi::String>().Utf8Value();
            } else if (v.IsNumber() && std::isfinite(v.As<Napi::Number>().DoubleValue()) &&
                       v.As<Napi::Number>().DoubleValue() == std::floor(v.As<Napi::Number>().DoubleValue())) {
                items[i] = std::to_string(int64_t(v.As<Napi::Number>().DoubleValue()));
            } else if (v.IsBigInt()) {
                items[i] = v.ToString().Utf8Value();
            } else {
                for (auto &s : items) Wipe(s);
                return Fail("the Redis client answered a script with an item that is not bytes, text or an integer");
            }
        }
        std::vector<const char *> ptrs(n);
        std::vector<size_t> lens(n);
        for (uint32_t i = 0; i < n; ++i) {
            ptrs[i] = items[i].c_str();
            lens[i] = items[i].size();
        }
        if (Claim()) done(done_ctx, COTTER_OK, ptrs.data(), lens.data(), n, nullptr);
        for (auto &s : items) Wipe(s);  // the reply holds tokens
    }
};

/**
 * One wait of the library for a `...:changed` message: called on a client's I/O thread, run on the JS thread (the
 * adapter's `wait(channel, timeoutMs)`), completed exactly once: COTTER_OK (it resolved true: a message),
 * COTTER_ETIMEOUT (false), COTTER_ESHARED_UNAVAILABLE (it threw or rejected, or the environment went away).
 */
struct WaitJob {
    std::string channel;
    int64_t timeout_ms = 0;
    cotter_shared_store_wait_done_fn done = nullptr;
    void *done_ctx = nullptr;
    std::atomic<bool> completed{false};
    uint64_t closer = 0;  // JS thread: its JsThread::AddCloser id while its promise is pending

    /// Any thread.
    void Complete(int status) {
        if (!completed.exchange(true)) done(done_ctx, status);
    }
};

/// The adapter's payload: the JS eval (and optional wait) functions and the environment's thread-safe function.
struct StoreAdapter {
    std::shared_ptr<JsThread> js;
    Napi::FunctionReference fn;       // JS thread only: eval
    Napi::FunctionReference wait_fn;  // JS thread only: wait (empty: the adapter has none, its waiters poll)

    // cotter_shared_store_eval_fn: int (*)(void *payload, const char *script, const char *sha1, const char **keys, size_t key_count, const char **args, size_t arg_count, cotter_shared_store_done_fn done, void *done_ctx)
    // Any thread; never blocks: the command is queued for the JS thread (whose event loop runs the Redis client).
    static int Eval(void *payload, const char *script, const char *sha1, const char **keys, size_t key_count,
                    const char **args, size_t arg_count, cotter_shared_store_done_fn done, void *done_ctx) noexcept {
        try {
            auto job = std::make_shared<EvalJob>();
            job->script = script;
            job->sha1 = sha1;
            for (size_t i = 0; i < key_count; ++i) job->keys.emplace_back(keys[i]);
            for (size_t i = 0; i < arg_count; ++i) job->args.emplace_back(args[i]);
            job->done = done;
            job->done_ctx = done_ctx;
            std::shared_ptr<StoreAdapter> a = *static_cast<std::shared_ptr<StoreAdapter> *>(payload);
            a->js->Post([a, job](napi_env env) {
                if (env == nullptr) return job->Fail("the JavaScript environment is shutting down");
                a->Run(env, job);
            });
            return 0;
        } catch (...) {
            return -1;  // not started: the library fails the step itself
        }
    }

    // cotter_shared_store_wait_fn: int (*)(void *payload, const char *channel, int64_t timeout_ms, cotter_shared_store_wait_done_fn done, void *done_ctx)
    // Any thread; never blocks: queued for the JS thread, where the adapter subscribes and keeps its own timers.
    static int Wait(void *payload, const char *channel, int64_t timeout_ms, cotter_shared_store_wait_done_fn done,
                    void *done_ctx) noexcept {
        try {
            auto job = std::make_shared<WaitJob>();
            job->channel = channel;
            job->timeout_ms = timeout_ms;
            job->done = done;
            job->done_ctx = done_ctx;
            std::shared_ptr<StoreAdapter> a = *static_cast<std::shared_ptr<StoreAdapter> *>(payload);
            a->js->Post([a, job](napi_env env) {
                if (env == nullptr) return job->Complete(COTTER_ESHARED_UNAVAILABLE);
                a->RunWait(env, job);
            });
            return 0;
        } catch (...) {
            return -1;  // not started: the waiter polls
        }
    }

    // cotter_shared_store_release_fn: void (*)(void *payload). The thread that drops the store's last use: the JS
    // reference is let go on the JS thread (or leaked, a few bytes, when the environment is gone).
    static void Release(void *payload) noexcept {
        auto *p = static_cast<std::shared_ptr<StoreAdapter> *>(payload);
        std::shared_ptr<StoreAdapter> a = std::move(*p);
        delete p;
        std::shared_ptr<JsThread> js = a->js;
        try {
            js->Post([a = std::move(a)](napi_env env) {
                if (env != nullptr) {
                    a->fn.Reset();
                    a->wait_fn.Reset();
                } else {
                    a->fn.SuppressDestruct();
                    a->wait_fn.SuppressDestruct();
                }
            });
        } catch (...) {
        }
    }

  private:
    /// What a promise's two callbacks share (an eval's or a wait's job); exactly one of them runs, and frees it.
    template <class Job>
    struct Pending {
        std::shared_ptr<Job> job;
        std::shared_ptr<JsThread> js;
    };

    /// How CallWithPromise ended.
    enum class Chained { kYes, kNoFunction, kClosing, kThrew, kNoPromise };

    /**
     * JS thread: calls `f` (the adapter's eval or wait) with the N arguments `make_args` makes, and chains its promise
     * to `resolved` / `rejected` (which take the job back with Settled and complete it). While the promise is pending
     * the event loop is held (the session's operation is not over), and the environment's end runs `on_close`. Any
     * other outcome is returned, the job left to the caller. Raw N-API with every status checked: this also runs while
     * a worker thread is being terminated, where a failing node-addon-api call would abort the process (see Js).
     */
    template <size_t N, class Job, class MakeArgs>
    Chained CallWithPromise(napi_env env, const Napi::FunctionReference &f, const std::shared_ptr<Job> &job,
                            std::function<void()> on_close, MakeArgs &&make_args, napi_callback resolved,
                            napi_callback rejected) {
        if (f.IsEmpty()) return Chained::kNoFunction;
        job->closer = js->AddCloser(std::move(on_close));
        if (job->closer == 0) return Chained::kClosing;
        js->Hold(env);
        auto *pending = new Pending<Job>{job, js};
        napi_value fn, undefined, result, then, argv[N], cbs[2];
        bool is_promise = false;
        const bool called = napi_get_reference_value(env, f, &fn) == napi_ok &&
                            napi_get_undefined(env, &undefined) == napi_ok && make_args(argv) &&
                            napi_call_function(env, undefined, fn, N, argv, &result) == napi_ok;
        const bool chained = called && napi_is_promise(env, result, &is_promise) == napi_ok && is_promise &&
                             napi_create_function(env, "resolved", NAPI_AUTO_LENGTH, resolved, pending, &cbs[0]) == napi_ok &&
                             napi_create_function(env, "rejected", NAPI_AUTO_LENGTH, rejected, pending, &cbs[1]) == napi_ok &&
                             napi_get_named_property(env, result, "then", &then) == napi_ok &&
                             napi_call_function(env, result, then, 2, cbs, nullptr) == napi_ok;
        if (chained) return Chained::kYes;
        bool thrown = false;
        if (napi_is_exception_pending(env, &thrown) == napi_ok && thrown) {
            napi_value ignored;
            napi_get_and_clear_last_exception(env, &ignored);  // the JS error may quote its arguments: not kept
        }
        delete Finish(env, pending);
        return called ? Chained::kNoPromise : Chained::kThrew;
    }

    /// JS thread: the job is over for the event loop (its Close hook and its hold go).
    template <class Job>
    static Pending<Job> *Finish(napi_env env, Pending<Job> *p) {
        p->js->RemoveCloser(p->job->closer);
        p->js->Unhold(env);
        return p;
    }

    /// In a promise callback of CallWithPromise: the value it was called with and its job (nullptr when N-API fails).
    template <class Job>
    static std::shared_ptr<Job> Settled(napi_env env, napi_callback_info info, napi_value *value) {
        size_t argc = 1;
        void *data = nullptr;
        *value = nullptr;
        if (napi_get_cb_info(env, info, &argc, value, nullptr, &data) != napi_ok || data == nullptr) return nullptr;
        std::unique_ptr<Pending<Job>> p(Finish(env, static_cast<Pending<Job> *>(data)));
        if (argc < 1) *value = nullptr;
        return p->job;
    }

    /// JS thread: calls eval; its promise completes the job. The event loop is held while an eval is pending (an
    /// idle store holds nothing).
    void Run(napi_env env, const std::shared_ptr<EvalJob> &job) {
        auto str = [env](const std::string &v, napi_value *out) {
            return napi_create_string_utf8(env, v.data(), v.size(), out) == napi_ok;
        };
        auto list = [&](const std::vector<std::string> &v, napi_value *out) {
            if (napi_create_array_with_length(env, v.size(), out) != napi_ok) return false;
            for (uint32_t i = 0; i < v.size(); ++i) {
                napi_value e;
                if (!str(v[i], &e) || napi_set_element(env, *out, i, e) != napi_ok) return false;
            }
            return true;
        };
        const Chained r = CallWithPromise<4>(
            env, fn, job, [job] { job->Fail("the JavaScript environment is shutting down"); },
            [&](napi_value *argv) {
                return str(job->script, &argv[0]) && str(job->sha1, &argv[1]) && list(job->keys, &argv[2]) &&
                       list(job->args, &argv[3]);
            },
            &StoreAdapter::OnResolved, &StoreAdapter::OnRejected);
        switch (r) {
            case Chained::kYes: return;
            case Chained::kNoFunction: return job->Fail("the shared store is gone");
            case Chained::kClosing: return job->Fail("the JavaScript environment is shutting down");
            case Chained::kThrew: return job->Fail("the shared store's eval threw");
            case Chained::kNoPromise: return job->Fail("the shared store's eval did not return a Promise");
        }
    }

    /// JS thread: calls wait(channel, timeoutMs); its promise completes the job. Like an eval, a pending wait holds
    /// the event loop and the environment's end completes it.
    void RunWait(napi_env env, const std::shared_ptr<WaitJob> &job) {
        const Chained r = CallWithPromise<2>(
            env, wait_fn, job, [job] { job->Complete(COTTER_ESHARED_UNAVAILABLE); },
            [&](napi_value *argv) {
                return napi_create_string_utf8(env, job->channel.data(), job->channel.size(), &argv[0]) == napi_ok &&
                       napi_create_double(env, double(job->timeout_ms), &argv[1]) == napi_ok;
            },
            &StoreAdapter::OnWaitResolved, &StoreAdapter::OnWaitRejected);
        if (r != Chained::kYes) job->Complete(COTTER_ESHARED_UNAVAILABLE);
    }

    /// The wait's promise resolved (JS thread): `true` is a message, anything else the bound passing.
    static napi_value OnWaitResolved(napi_env env, napi_callback_info info) {
        napi_value v;
        std::shared_ptr<WaitJob> job = Settled<WaitJob>(env, info, &v);
        if (!job) return nullptr;
        bool message = false;
        napi_valuetype type = napi_undefined;
        if (v && napi_typeof(env, v, &type) == napi_ok && type == napi_boolean) napi_get_value_bool(env, v, &message);
        job->Complete(message ? COTTER_OK : COTTER_ETIMEOUT);
        return nullptr;
    }

    /// The wait's promise rejected (JS thread): a failed wait (the library polls instead).
    static napi_value OnWaitRejected(napi_env env, napi_callback_info info) {
        napi_value ignored;
        if (std::shared_ptr<WaitJob> job = Settled<WaitJob>(env, info, &ignored)) job->Complete(COTTER_ESHARED_UNAVAILABLE);
        return nullptr;
    }

    /// The eval's promise resolved (JS thread): flatten the reply and complete.
    static napi_value OnResolved(napi_env env, napi_callback_info info) {
        napi_value reply;
        std::shared_ptr<EvalJob> job = Settled<EvalJob>(env, info, &reply);
        if (!job) return nullptr;
        try {
            job->Complete(Napi::Value(env, reply));
        } catch (...) {
            job->Fail("the Redis client's reply could not be read");
        }
        return nullptr;
    }

    /// The eval's promise rejected (JS thread): its message, cleaned of the script's arguments.
    static napi_value OnRejected(napi_env env, napi_callback_info info) {
        napi_value err;
        std::shared_ptr<EvalJob> job = Settled<EvalJob>(env, info, &err);
        if (!job) return nullptr;
        std::string why = "the Redis client failed";
        napi_valuetype type = napi_undefined;
        napi_value m;
        size_t len = 0;
        if (err && napi_typeof(env, err, &type) == napi_ok && type == napi_object &&
            napi_get_named_property(env, err, "message", &m) == napi_ok && napi_typeof(env, m, &type) == napi_ok &&
            type == napi_string && napi_get_value_string_utf8(env, m, nullptr, 0, &len) == napi_ok) {
            std::string text(len, '\0');
            if (napi_get_value_string_utf8(env, m, text.data(), len + 1, &len) == napi_ok) why = "Redis: " + text.substr(0, len);
        }
        bool thrown = false;
        if (napi_is_exception_pending(env, &thrown) == napi_ok && thrown) {
            napi_value ignored;
            napi_get_and_clear_last_exception(env, &ignored);
        }
        job->Fail(why);
        return nullptr;
    }
};

/// The C store handle, shared by the wrapper and the sessions being opened with it (an open session keeps the
/// C store alive itself).
struct StoreCore {
    cotter_shared_store *store = nullptr;
    // COTTER_API void cotter_shared_store_free(cotter_shared_store * store);
    ~StoreCore() { cotter_shared_store_free(store); }
};

class SharedStore : public Napi::ObjectWrap<SharedStore> {
  public:
    static Napi::Function Define(Napi::Env env) {
        return DefineClass(env, "NativeSharedStore", {InstanceMethod<&SharedStore::Close>("close")});
    }

    // new NativeSharedStore(eval: (script, sha1, keys, args) => Promise<Array<Buffer|string|number>>,
    //                       { keyPrefix, leaseTtlMs, waitMs }, wait?: (channel, timeoutMs) => Promise<boolean>)
    // COTTER_API int cotter_shared_store_adapter_init(cotter_shared_store_adapter * adapter, unsigned int version);
    // COTTER_API int cotter_shared_store_options_init(cotter_shared_store_options * opts, unsigned int version);
    // COTTER_API int cotter_shared_store_new(cotter_shared_store ** out, const cotter_shared_store_adapter * adapter, const cotter_shared_store_options * opts, cotter_error ** out_error);
    explicit SharedStore(const Napi::CallbackInfo &info) : Napi::ObjectWrap<SharedStore>(info) {
        Napi::Env env = info.Env();
        info.This().As<Napi::Object>().TypeTag(&kStoreTag);
        if (!info[0].IsFunction()) ThrowInvalid(env, "eval must be a function");
        const bool has_wait = info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull();
        if (has_wait && !info[2].IsFunction()) ThrowInvalid(env, "wait must be a function");
        Napi::Object o = OptionsArg(env, info[1]);
        std::optional<std::string> prefix = OptString(env, o, "keyPrefix");
        std::optional<int64_t> lease = OptInt(env, o, "leaseTtlMs", kMinSafe, kMaxSafe);
        std::optional<int64_t> wait = OptInt(env, o, "waitMs", kMinSafe, kMaxSafe);
        cotter_shared_store_adapter ad;
        cotter_shared_store_options so;
        Sync(env, [&] {
            cotter::detail::check(cotter_shared_store_adapter_init(&ad, COTTER_SHARED_STORE_ADAPTER_VERSION));
            cotter::detail::check(cotter_shared_store_options_init(&so, COTTER_SHARED_STORE_OPTIONS_VERSION));
        });
        if (prefix) so.key_prefix = prefix->c_str();
        if (lease) so.lease_ttl_ms = *lease;
        if (wait) so.wait_ms = *wait;
        auto adapter = std::make_shared<StoreAdapter>();
        adapter->js = Data(env)->js;
        adapter->fn = Napi::Persistent(info[0].As<Napi::Function>());
        if (has_wait) adapter->wait_fn = Napi::Persistent(info[2].As<Napi::Function>());
        auto payload = std::make_unique<std::shared_ptr<StoreAdapter>>(adapter);
        ad.eval = &StoreAdapter::Eval;
        ad.release = &StoreAdapter::Release;
        if (has_wait) ad.wait = &StoreAdapter::Wait;  // version 2; without it the library's waiters poll
        ad.payload = payload.get();
        auto core = std::make_shared<StoreCore>();
        Sync(env, [&] {
            cotter::detail::call([&](cotter_error **err) { return cotter_shared_store_new(&core->store, &ad, &so, err); });
        });
        payload.release();  // the store owns it now: Release() frees it
        core_ = std::move(core);
    }

    /// The store for a session being created (JS thread).
    std::shared_ptr<StoreCore> Share(Napi::Env env) const {
        if (!core_) ThrowInvalid(env, "the shared store is closed");
        return core_;
    }

  private:
    // Sessions keep the C store (and the eval function) alive; new sessions can no longer use it.
    Napi::Value Close(const Napi::CallbackInfo &info) {
        core_.reset();
        return info.Env().Undefined();
    }

    std::shared_ptr<StoreCore> core_;
};

// ------------------------------------------------------------------------------------------------
// Session
// ------------------------------------------------------------------------------------------------

/**
 * What the C session's callbacks point at (storage_payload, on_tokens_changed_payload): the JS hooks function of
 * node/lib/index.js, `(kind, json) => Promise | undefined` (0 load, 1 save, 2 tokens changed).
 *
 * The hooks run on the client's I/O thread (and, for the first load or store, on the thread that opens the
 * session): they hand the hook to the JS thread and, for load and save, wait for its value or Promise. So hooks may
 * be async and the event loop never blocks; the I/O thread waits (every request of the client waits behind a
 * hook, as cotter.h says). The JS thread itself never waits for a hook: it would wait for itself.
 */
struct SessionHooks {
    enum Kind { kLoad = 0, kSave = 1, kChanged = 2 };

    std::shared_ptr<JsThread> js;
    int64_t wait_ms = 30000;               // the client's timeoutMs (see Call)
    Napi::FunctionReference fn;            // JS thread only
    std::atomic<bool> detached{false};     // the session is gone: hooks fail (see ~SessionCore)
    std::shared_ptr<LogSink> client_log;   // set when detached: a request the session still runs may log

    /// Any thread but the JS thread. For load/save, waits for the hook's result: {ok, value}.
    std::pair<bool, std::optional<std::string>> Call(Kind kind, std::optional<std::string> arg, bool wait) {
        if (detached.load() || js->OnThread()) return {false, std::nullopt};
        std::shared_ptr<HookWait> w;
        if (wait) {
            w = std::make_shared<HookWait>();
            if (!js->Register(w)) return {false, std::nullopt};
        }
        SessionHooks *self = this;  // alive until the hook ran: an operation (or the opening) that calls it holds its session
        js->Post([self, w, kind, arg](napi_env env) {
            if (env == nullptr) {
                if (w) w->Settle(false, std::nullopt);
                return;
            }
            self->Run(Napi::Env(env), kind, arg, w);
        });
        if (!w) return {true, std::nullopt};
        // Bounded: a hook that awaits a call of the same client would wait for this very thread, and so would every
        // request of the client, for ever. After the client's timeoutMs the hook fails (COTTER_EUSER) instead.
        auto r = w->Wait(wait_ms);
        js->Unregister(w);
        return r;
    }

  private:
    // JS thread: calls the hook; load and save answer with a Promise of the JSON text (or null).
    void Run(Napi::Env env, Kind kind, const std::optional<std::string> &arg, const std::shared_ptr<HookWait> &w) {
        try {
            if (detached.load() || fn.IsEmpty()) throw std::runtime_error("the session is closed");
            Napi::Value a = arg ? Napi::Value(Napi::String::New(env, *arg)) : env.Null();
            Napi::Value r = fn.Call({Napi::Number::New(env, kind), a});
            if (!w) return;
            if (!r.IsPromise()) {
                w->Settle(false, std::nullopt);
                return;
            }
            auto ok = Napi::Function::New(env, [w](const Napi::CallbackInfo &i) {
                if (i[0].IsString()) w->Settle(true, i[0].As<Napi::String>().Utf8Value());
                else w->Settle(true, std::nullopt);
            });
            auto fail = Napi::Function::New(env, [w](const Napi::CallbackInfo &) { w->Settle(false, std::nullopt); });
            r.As<Napi::Object>().Get("then").As<Napi::Function>().Call(r, {ok, fail});
        } catch (...) {
            if (w) w->Settle(false, std::nullopt);
        }
    }
};

/// The C session, its client core and its hooks, shared by the wrapper, its calls in flight and its opening.
struct SessionCore {
    std::shared_ptr<ClientCore> client;
    SessionHooks *hooks = nullptr;        // owned (see the destructor)
    cotter::Session session;              // JS thread: set once opened
    bool opening = false;                 // JS thread
    std::atomic<bool> abandoned{false};   // a call stopped waiting for an operation that goes on

    ~SessionCore() {
        // COTTER_API void cotter_session_free(cotter_session *session);
        session.reset();
        if (!hooks) return;
        ReleaseRef(*hooks->js, hooks->fn);
        if (abandoned.load() || hooks->js->Closed()) {
            // An operation nobody waits for any more (a refresh already sent, a queued save) may still run and call
            // the hooks after cotter_session_free, and the C ABI does not say when it ends. So the hooks stay
            // valid, detached (they fail: its new tokens are not saved through them), for the life of the
            // process: a few dozen bytes, only for a session whose calls were aborted or timed out.
            hooks->client_log = client ? client->log : nullptr;
            hooks->detached.store(true);
            return;
        }
        delete hooks;
    }
};

class Session : public Napi::ObjectWrap<Session> {
  public:
    static Napi::Function Define(Napi::Env env) {
        return DefineClass(env, "NativeSession",
                           {InstanceMethod<&Session::Open>("open"),
                            // BEGIN GENERATED session methods (scripts/gen.py from capi/abi.json; do not edit)
                            InstanceMethod<&Session::GetAccessToken>("getAccessToken"),
                            InstanceMethod<&Session::GetToken>("getToken"),
                            InstanceMethod<&Session::Refresh>("refresh"),
                            InstanceMethod<&Session::SetToken>("setToken"),
                            InstanceMethod<&Session::Logout>("logout"),
                            // END GENERATED session methods
                            InstanceMethod<&Session::Close>("close")});
    }

    // new NativeSession(nativeClient, { file, marginSeconds, initialJson, hooks: (kind, json) => Promise|undefined,
    //                                   hasStorage, hasChanged, sharedStore: NativeSharedStore, sharedSessionId })
    explicit Session(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Session>(info) {
        Napi::Env env = info.Env();
        info.This().As<Napi::Object>().TypeTag(&kSessionTag);
        if (!info[0].IsObject() || !info[0].As<Napi::Object>().CheckTypeTag(&kClientTag))
            ThrowInvalid(env, "client must be a cotter Client");
        Napi::Object o = OptionsArg(env, info[1]);
        auto core = std::make_shared<SessionCore>();
        core->client = Client::Unwrap(info[0].As<Napi::Object>())->Share(env);
        if (auto f = OptString(env, o, "file")) file_ = *f;
        margin_ = OptInt(env, o, "marginSeconds", kMinSafe, kMaxSafe);
        if (margin_) {
            // The C session is created on open(); the library checks the margin now so a bad one throws here. A
            // session without storage or tokens costs no I/O.
            cotter_session_options probe = cotter::session_options();
            probe.refresh_margin_seconds = *margin_;
            Sync(env, [&] { cotter::Session::create(core->client->client, probe); });
        }
        if (auto j = OptString(env, o, "initialJson")) initial_ = *j;
        has_storage_ = o.Get("hasStorage").ToBoolean();
        has_changed_ = o.Get("hasChanged").ToBoolean();
        if (has_storage_ && file_) ThrowInvalid(env, "use either file or load/save, not both");
        Napi::Value store = o.Get("sharedStore");
        shared_id_ = OptString(env, o, "sharedSessionId");
        if (!store.IsUndefined() && !store.IsNull()) {
            if (!store.IsObject() || !store.As<Napi::Object>().CheckTypeTag(&kStoreTag))
                ThrowInvalid(env, "option sharedStore must be a SharedStore (or RedisStore)");
            if (!shared_id_) ThrowInvalid(env, "option sharedSessionId is required with sharedStore");
            if (file_ || has_storage_) ThrowInvalid(env, "a session with sharedStore has no other storage (file, load/save)");
            store_ = SharedStore::Unwrap(store.As<Napi::Object>())->Share(env);
        } else if (shared_id_) {
            ThrowInvalid(env, "option sharedSessionId needs sharedStore");
        }
        if (has_storage_ || has_changed_) {
            Napi::Value hooks = o.Get("hooks");
            if (!hooks.IsFunction()) ThrowInvalid(env, "hooks must be a function");
            core->hooks = new SessionHooks();
            core->hooks->js = Data(env)->js;
            core->hooks->fn = Napi::Persistent(hooks.As<Napi::Function>());
            core->hooks->wait_ms = core->client->timeout_ms;
        }
        core_ = std::move(core);
    }

    ~Session() override {
        if (initial_) Wipe(*initial_);
    }

  private:
    // cotter_session_load_fn: int (*)(cotter_buf *out, void *payload)
    static int LoadHook(cotter_buf *out, void *payload) {
        auto r = static_cast<SessionHooks *>(payload)->Call(SessionHooks::kLoad, std::nullopt, true);
        if (!r.first) return 1;
        if (r.second) {
            // COTTER_API int cotter_buf_alloc(cotter_buf *out, size_t len);
            if (cotter_buf_alloc(out, r.second->size()) != COTTER_OK) return 1;
            std::memcpy(out->ptr, r.second->data(), r.second->size());
            Wipe(*r.second);
        }
        return 0;
    }
    // cotter_session_save_fn: int (*)(const char *json, size_t len, void *payload)
    static int SaveHook(const char *json, size_t len, void *payload) {
        std::optional<std::string> arg;
        if (json) arg.emplace(json, len);
        return static_cast<SessionHooks *>(payload)->Call(SessionHooks::kSave, std::move(arg), true).first ? 0 : 1;
    }
    // cotter_tokens_changed_fn: void (*)(const cotter_token *token, void *payload)
    // COTTER_API int cotter_token_to_json(cotter_buf *out, const cotter_token *token, cotter_error **out_error);
    static void ChangedHook(const cotter_token *token, void *payload) {
        try {
            std::optional<std::string> arg;
            if (token) arg = cotter::TokenRef(token).to_json().str();
            static_cast<SessionHooks *>(payload)->Call(SessionHooks::kChanged, std::move(arg), false);
        } catch (...) {
            // must not unwind into the library
        }
    }

    /// What cotter_session_new needs, copied so that it can run on a thread of its own.
    struct OpenArgs {
        std::optional<std::string> file;
        std::optional<std::string> initial;
        std::optional<int64_t> margin;  // unset: the C default
        bool storage = false;
        bool changed = false;
        std::shared_ptr<StoreCore> store;  // a shared store (kept until the C session holds it)
        std::optional<std::string> shared_id;
    };

    // COTTER_API int cotter_session_new(cotter_session **out, cotter_client *client, const cotter_session_options *opts, const cotter_token *initial, cotter_error **out_error);
    // COTTER_API int cotter_token_from_json(cotter_token **out, const char *json, size_t json_len, cotter_error **out_error);
    static cotter::Session Create(SessionCore &core, OpenArgs &a) {
        cotter_session_options o = cotter::session_options();
        if (a.margin) o.refresh_margin_seconds = *a.margin;
        if (a.file) o.token_file = a.file->c_str();
        if (a.storage) {
            o.load = &Session::LoadHook;
            o.save = &Session::SaveHook;
            o.storage_payload = core.hooks;
        }
        if (a.changed) {
            o.on_tokens_changed = &Session::ChangedHook;
            o.on_tokens_changed_payload = core.hooks;
        }
        if (a.store) {
            o.shared_store = a.store->store;
            o.shared_session_id = a.shared_id->c_str();
        }
        cotter::Token initial;
        if (a.initial) {
            initial = cotter::Token::from_json(*a.initial);
            Wipe(*a.initial);
            a.initial.reset();
        }
        return cotter::Session::create(core.client->client, o, initial);
    }

    /**
     * open(): creates the C session, once, before the first call (index.js calls it and shares the promise).
     * Returns true when the session is ready now, else a Promise. cotter_session_new runs the first load or store
     * on the thread that calls it, and that may take long: a `load` hook is JS (maybe async) that this thread must
     * wait for, and a token file may be locked by another process refreshing. So a session with storage is created
     * on a short-lived thread of its own (never the libuv pool, whose threads such a hook may itself need); a
     * memory session, which loads nothing, right here. A shared store reads (or stores) through the JS Redis client,
     * which runs on this very thread: such a session is always opened on a thread of its own.
     */
    Napi::Value Open(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (closed_) ThrowInvalid(env, "the session is closed");
        if (core_->session) return Napi::Boolean::New(env, true);
        if (core_->opening) ThrowInvalid(env, "the session is already being opened");
        OpenArgs args;
        args.file = file_;
        args.initial = std::move(initial_);  // used by the first attempt only, as before
        initial_.reset();
        args.margin = margin_;
        args.storage = has_storage_;
        args.changed = has_changed_ && core_->hooks;
        args.store = store_;
        args.shared_id = shared_id_;
        if (!args.file && !args.storage && !args.store) {
            core_->session = Sync(env, [&] { return Create(*core_, args); });
            return Napi::Boolean::New(env, true);
        }
        std::shared_ptr<JsThread> js = Data(env)->js;
        napi_deferred deferred;
        napi_value promise;
        if (napi_create_promise(env, &deferred, &promise) != napi_ok) throw Napi::Error::New(env, "cotter: cannot create a promise");
        struct Opened {
            cotter::Session session;
            std::optional<ErrorInfo> error;
        };
        core_->opening = true;
        js->Hold(env);
        try {
            std::thread([core = core_, js, deferred, args = std::move(args)]() mutable {
                auto opened = std::make_shared<Opened>();
                opened->error = Capture([&] { opened->session = Create(*core, args); });
                if (args.initial) Wipe(*args.initial);
                // The shares move to the JS thread: the session core must not die here (its JS hooks reference
                // can only be released on the JS thread).
                js->Post([core = std::move(core), js, deferred, opened = std::move(opened)](napi_env env) {
                    if (env == nullptr) return;  // the environment is gone; `opened` frees the session
                    core->opening = false;
                    Js v(env);  // raw N-API: see Js
                    if (opened->error) {
                        napi_value err = ErrorValue(v, *opened->error);
                        if (!v.ok()) err = v.TakeException();
                        if (err != nullptr) napi_reject_deferred(env, deferred, err);
                    } else {
                        core->session = std::move(opened->session);
                        if (napi_value yes = v.Bool(true)) napi_resolve_deferred(env, deferred, yes);
                    }
                    js->Unhold(env);
                });
            }).detach();
        } catch (const std::system_error &) {
            core_->opening = false;
            js->Unhold(env);
            napi_reject_deferred(env, deferred, MakeError(env, ErrorInfo{COTTER_ENOMEM, "cannot start a thread to open the session", 0, {}, {}, -1}));
        }
        return Napi::Value(env, promise);
    }

    /// Starts `start(session, opts)`; its per-call arguments (timeoutMs, cancellable) follow the first `nargs`.
    template <class Start>
    Napi::Value Run(const Napi::CallbackInfo &info, size_t nargs, PendingCall::Take take, Start &&start) {
        Napi::Env env = info.Env();
        if (closed_) ThrowInvalid(env, "the session is closed");
        if (!core_->session) ThrowInvalid(env, "the session is not open (call open() first)");
        cotter::SessionRef s = core_->session;
        return StartCall(env, CallArgsAt(info, nargs), core_, take,
                         [&](const cotter_call_options *o) { return start(s, o); }, &core_->abandoned);
    }

    // The calls: read the arguments, start the call; the taker of its result settles the promise.
    // BEGIN GENERATED session calls (scripts/gen.py from capi/abi.json; do not edit)
    // COTTER_API int cotter_session_get_access_token_start(cotter_call **out, cotter_session *session, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value GetAccessToken(const Napi::CallbackInfo &info) {
        return Run(info, 0, &TakeBuf, [](cotter::SessionRef s, const cotter_call_options *o) {
            return s.get_access_token_start(o);
        });
    }
    // COTTER_API int cotter_session_get_token_start(cotter_call **out, cotter_session *session, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value GetToken(const Napi::CallbackInfo &info) {
        return Run(info, 0, &TakeToken, [](cotter::SessionRef s, const cotter_call_options *o) {
            return s.get_token_start(o);
        });
    }
    // COTTER_API int cotter_session_refresh_start(cotter_call **out, cotter_session *session, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value Refresh(const Napi::CallbackInfo &info) {
        return Run(info, 0, &TakeToken, [](cotter::SessionRef s, const cotter_call_options *o) {
            return s.refresh_start(o);
        });
    }
    // COTTER_API int cotter_session_set_token_start(cotter_call **out, cotter_session *session, const cotter_token *token, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value SetToken(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        const cotter::Token token = TokenJsonArg(env, info[0], "token");
        return Run(info, 1, &TakeNothing, [&](cotter::SessionRef s, const cotter_call_options *o) {
            return s.set_token_start(token, o);
        });
    }
    // COTTER_API int cotter_session_logout_start(cotter_call **out, cotter_session *session, const cotter_call_options *call_opts, cotter_error **out_error);
    Napi::Value Logout(const Napi::CallbackInfo &info) {
        return Run(info, 0, &TakeNothing, [](cotter::SessionRef s, const cotter_call_options *o) {
            return s.logout_start(o);
        });
    }
    // END GENERATED session calls
    // The C session (and so its client) lives on while calls in flight or its opening use it.
    Napi::Value Close(const Napi::CallbackInfo &info) {
        closed_ = true;
        core_.reset();
        store_.reset();
        if (initial_) Wipe(*initial_);
        return info.Env().Undefined();
    }

    std::shared_ptr<SessionCore> core_;
    std::optional<std::string> file_;
    std::optional<std::string> initial_;
    std::optional<int64_t> margin_;  // unset: the C default
    bool has_storage_ = false;
    bool has_changed_ = false;
    bool closed_ = false;
    std::shared_ptr<StoreCore> store_;       // sharedStore: until the session is opened (or closed)
    std::optional<std::string> shared_id_;
};

// ------------------------------------------------------------------------------------------------
// Free functions
// ------------------------------------------------------------------------------------------------

Napi::Value SetErrorClass(const Napi::CallbackInfo &info) {
    if (!info[0].IsFunction()) ThrowInvalid(info.Env(), "setErrorClass needs a constructor");
    Data(info.Env())->error_class = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
}

// COTTER_API const char *cotter_version_string(void);
Napi::Value Version(const Napi::CallbackInfo &info) { return Str(info.Env(), cotter::version_string()); }
// COTTER_API int cotter_version_number(void);
Napi::Value VersionNumber(const Napi::CallbackInfo &info) { return Napi::Number::New(info.Env(), cotter::version_number()); }

// COTTER_API const char *cotter_status_name(int status);
Napi::Value StatusName(const Napi::CallbackInfo &info) {
    int32_t s = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
    return Str(info.Env(), cotter::status_name(s));
}

// COTTER_API int cotter_pkce_new(cotter_pkce **out, cotter_error **out_error);
Napi::Value Pkce(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    cotter::Pkce p = Sync(env, [] { return cotter::Pkce::generate(); });
    Napi::Object o = Napi::Object::New(env);
    o.Set("verifier", Str(env, p.verifier()));
    o.Set("challenge", Str(env, p.challenge()));
    o.Set("state", Str(env, p.state()));
    return o;
}

// COTTER_API int cotter_token_from_json(cotter_token **out, const char *json, size_t json_len, cotter_error **out_error);
// tokenFromJson(text): an oauth_token parsed by the library (its rules and messages, its unverified `exp`), as
// the plain object Token wraps. Token.from (index.js) uses it instead of parsing in JS.
Napi::Value TokenFromJson(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) ThrowInvalid(env, "token JSON must be a string");
    std::string json = info[0].As<Napi::String>().Utf8Value();
    cotter::Token t;
    try {
        t = Sync(env, [&] { return cotter::Token::from_json(json); });
    } catch (...) {
        Wipe(json);
        throw;
    }
    Wipe(json);
    return TokenToJs(env, t);
}

// COTTER_API int cotter_jwks_url(cotter_buf *out, const char *base_url, cotter_error **out_error);
// jwksUrl(baseUrl | null | undefined): null = $COTTER_BASE_URL, else Cotter's.
Napi::Value JwksUrl(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    std::optional<std::string> base;
    if (!info[0].IsUndefined() && !info[0].IsNull()) base = ReqString(env, info[0], "baseUrl");
    cotter::unique_buf b = Sync(env, [&] { return cotter::jwks_url(base ? base->c_str() : nullptr); });
    return Str(env, b.view());
}

// COTTER_API int cotter_pkce_challenge_of(cotter_buf *out, const char *verifier, cotter_error **out_error);
Napi::Value PkceChallenge(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    auto v = ReqString(env, info[0], "verifier");
    cotter::unique_buf b = Sync(env, [&] { return cotter::pkce_challenge_of(v.c_str()); });
    return Str(env, b.view());
}

// COTTER_API int cotter_login_url(cotter_buf *out, const cotter_login_url_options *opts, cotter_error **out_error);
Napi::Value LoginUrl(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Object o = OptionsArg(env, info[0]);
    auto login = OptString(env, o, "loginUrl"), key = OptString(env, o, "apiKeyId"),
         redirect = OptString(env, o, "redirectUrl"), state = OptString(env, o, "state"),
         challenge = OptString(env, o, "codeChallenge"), type = OptString(env, o, "identifierType"),
         method = OptString(env, o, "authMethod"), input = OptString(env, o, "input"),
         user = OptString(env, o, "cotterUserId");
    auto c = [](const std::optional<std::string> &s) { return s ? s->c_str() : nullptr; };
    cotter_login_url_options opts = cotter::login_url_options();
    opts.login_url = c(login);
    opts.api_key_id = c(key);
    opts.redirect_url = c(redirect);
    opts.state = c(state);
    opts.code_challenge = c(challenge);
    opts.identifier_type = c(type);
    opts.auth_method = c(method);
    opts.input = c(input);
    opts.cotter_user_id = c(user);
    cotter::unique_buf b = Sync(env, [&] { return cotter::login_url(opts); });
    return Str(env, b.view());
}

// COTTER_API int cotter_login_redirect_parse(cotter_buf *code_out, int64_t *challenge_id_out, const char *query, const char *expected_state, cotter_error **out_error);
Napi::Value ParseLoginRedirect(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    auto query = ReqString(env, info[0], "query");
    auto state = ReqString(env, info[1], "expectedState");
    cotter::LoginRedirect r = Sync(env, [&] { return cotter::login_redirect_parse(query.c_str(), state.c_str()); });
    Napi::Object o = Napi::Object::New(env);
    o.Set("code", Str(env, r.code.view()));
    o.Set("challengeId", Napi::Number::New(env, double(r.challenge_id)));
    return o;
}

// COTTER_API int cotter_identity_token_verify(const char *identity_token_json, const char *api_key_id, const char *public_key_b64, int64_t now, cotter_error **out_error);
Napi::Value IdentityTokenVerify(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    auto json = ReqString(env, info[0], "identityToken");
    auto key = ReqString(env, info[1], "apiKeyId");
    Napi::Object o = OptionsArg(env, info[2]);
    auto pub = OptString(env, o, "publicKey");
    int64_t now = OptInt(env, o, "now", kMinSafe, kMaxSafe).value_or(0);
    Sync(env, [&] { cotter::identity_token_verify(json.c_str(), key.c_str(), pub ? pub->c_str() : nullptr, now); });
    return env.Undefined();
}

// COTTER_API int cotter_event_token_verify(const char *event_token_json, const char *api_key_id, const char *public_key_b64, cotter_error **out_error);
Napi::Value EventTokenVerify(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    auto json = ReqString(env, info[0], "eventToken");
    auto key = ReqString(env, info[1], "apiKeyId");
    Napi::Object o = OptionsArg(env, info[2]);
    auto pub = OptString(env, o, "publicKey");
    Sync(env, [&] { cotter::event_token_verify(json.c_str(), key.c_str(), pub ? pub->c_str() : nullptr); });
    return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
    // Bindings check the major version of the library they run against (the static core can only match,
    // but a mismatched header/library pair in a development tree fails loudly here).
    if (cotter::version_number() / 10000 != COTTER_VERSION_MAJOR)
        throw Napi::Error::New(env, "cotter: library major version differs from the header the addon was built with");
    auto *data = new AddonData();
    env.SetInstanceData<AddonData>(data);  // deleted by node-addon-api when the environment goes away
    data->js = JsThread::Create(env);
    Napi::Function verifier = Verifier::Define(env);
    Napi::Function client = Client::Define(env);
    Napi::Function session = Session::Define(env);
    Napi::Function store = SharedStore::Define(env);
    data->verifier_ctor = Napi::Persistent(verifier);
    data->client_ctor = Napi::Persistent(client);
    data->session_ctor = Napi::Persistent(session);
    data->json_parse = Napi::Persistent(env.Global().Get("JSON").As<Napi::Object>().Get("parse").As<Napi::Function>());
    exports.Set("NativeVerifier", verifier);
    exports.Set("NativeClient", client);
    exports.Set("NativeSession", session);
    exports.Set("NativeSharedStore", store);
    exports.Set("cancelCall", Napi::Function::New<CancelCall>(env, "cancelCall"));
    exports.Set("setErrorClass", Napi::Function::New<SetErrorClass>(env, "setErrorClass"));
    exports.Set("version", Napi::Function::New<Version>(env, "version"));
    exports.Set("versionNumber", Napi::Function::New<VersionNumber>(env, "versionNumber"));
    exports.Set("statusName", Napi::Function::New<StatusName>(env, "statusName"));
    exports.Set("pkce", Napi::Function::New<Pkce>(env, "pkce"));
    exports.Set("pkceChallenge", Napi::Function::New<PkceChallenge>(env, "pkceChallenge"));
    exports.Set("jwksUrl", Napi::Function::New<JwksUrl>(env, "jwksUrl"));
    exports.Set("tokenFromJson", Napi::Function::New<TokenFromJson>(env, "tokenFromJson"));
    exports.Set("loginUrl", Napi::Function::New<LoginUrl>(env, "loginUrl"));
    exports.Set("parseLoginRedirect", Napi::Function::New<ParseLoginRedirect>(env, "parseLoginRedirect"));
    exports.Set("verifyIdentityToken", Napi::Function::New<IdentityTokenVerify>(env, "verifyIdentityToken"));
    exports.Set("verifyEventToken", Napi::Function::New<EventTokenVerify>(env, "verifyEventToken"));
    return exports;
}

}  // namespace

NODE_API_MODULE(cotter, Init)

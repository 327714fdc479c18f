/**
 * @file node/src/addon.cpp
 * @brief node-addon-api glue over the cotter C ABI, through bindings/cpp/cotter.hpp only.
 *
 * Rules (docs/node.md):
 *  - Every network call runs in a Napi::AsyncWorker on the libuv thread pool and returns a Promise; the event
 *    loop never blocks. Verification is offered sync (verifySync) and async (verify, on the pool).
 *  - Every failure becomes an instance of the JS CotterError class that node/lib/index.js registers with
 *    setErrorClass(): `.code` is the stable C name (COTTER_EJWT_EXPIRED...), `.httpStatus`, `.oauthError`...
 *  - Wrappers keep their parents alive (a Session holds a strong reference on its Client), ObjectWraps carry
 *    type tags, and every piece of state is per environment (instance data), never static.
 *  - A wrapper closed while calls are in flight frees its C object when the last call settles.
 * Above each function, the C signature it wraps (tests/check_bindings.py reads these comments).
 */
#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cmath>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cotter.hpp"

namespace {

// ------------------------------------------------------------------------------------------------
// Per-environment state, type tags, errors
// ------------------------------------------------------------------------------------------------

struct AddonData {
    Napi::FunctionReference error_class;  // the JS CotterError (setErrorClass)
    Napi::FunctionReference verifier_ctor;
    Napi::FunctionReference client_ctor;
    Napi::FunctionReference session_ctor;
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

Napi::Value OptionalString(Napi::Env env, const std::optional<std::string> &s) {
    return s ? Napi::Value(Napi::String::New(env, *s)) : env.Null();
}

/// Builds `new CotterError(message, details)` (a plain Error when index.js has not registered the class).
Napi::Value MakeError(Napi::Env env, const ErrorInfo &e) {
    Napi::Object details = Napi::Object::New(env);
    details.Set("code", cotter::status_name(e.code));
    details.Set("status", e.code);
    details.Set("httpStatus", e.http_status);
    details.Set("oauthError", OptionalString(env, e.oauth_error));
    details.Set("oauthErrorDescription", OptionalString(env, e.oauth_error_description));
    details.Set("retryAfter", e.retry_after >= 0 ? Napi::Value(Napi::Number::New(env, double(e.retry_after)))
                                                   : env.Null());
    AddonData *d = Data(env);
    if (d && !d->error_class.IsEmpty()) return d->error_class.New({Napi::String::New(env, e.message), details});
    Napi::Object err = Napi::Error::New(env, e.message).Value();
    for (const auto &key : {"code", "status", "httpStatus", "oauthError", "oauthErrorDescription", "retryAfter"})
        err.Set(key, details.Get(key));
    return err;
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

// Overwrites a string that held a secret before it is freed (the C library wipes its own copies).
void Wipe(std::string &s) {
    volatile char *p = s.data();
    for (size_t i = 0; i < s.size(); ++i) p[i] = 0;
    s.clear();
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

/// A token given as a string or bytes (Buffer / Uint8Array).
std::string TokenArg(Napi::Env env, const Napi::Value &v, const char *what) {
    if (v.IsString()) return v.As<Napi::String>().Utf8Value();
    if (v.IsTypedArray()) {
        auto a = v.As<Napi::TypedArray>();
        if (a.TypedArrayType() == napi_uint8_array) {
            auto u = v.As<Napi::Uint8Array>();
            return std::string(reinterpret_cast<const char *>(u.Data()), u.ByteLength());
        }
    }
    ThrowInvalid(env, std::string(what) + " must be a string or a Uint8Array");
}

std::optional<std::string> OptString(Napi::Env env, const Napi::Object &o, const char *key) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return std::nullopt;
    if (!v.IsString()) ThrowInvalid(env, std::string("option ") + key + " must be a string");
    return NoNul(env, v.As<Napi::String>().Utf8Value(), std::string("option ") + key);
}

std::optional<int64_t> OptInt(Napi::Env env, const Napi::Object &o, const char *key, double lo, double hi) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return std::nullopt;
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
    if (!std::isfinite(d) || d != std::floor(d) || d < lo || d > hi)
        ThrowInvalid(env, std::string("option ") + key + " must be an integer in [" + std::to_string(int64_t(lo)) +
                              ", " + std::to_string(int64_t(hi)) + "]");
    return int64_t(d);
}

Napi::Object OptionsArg(Napi::Env env, const Napi::Value &v) {
    if (v.IsUndefined()) return Napi::Object::New(env);
    if (!v.IsObject() || v.IsArray() || v.IsFunction()) ThrowInvalid(env, "options must be an object");
    return v.As<Napi::Object>();
}

constexpr double kMaxSafe = 9007199254740991.0;  // Number.MAX_SAFE_INTEGER

// ------------------------------------------------------------------------------------------------
// Results to JS (plain objects; node/lib/index.js wraps them in redacting classes)
// ------------------------------------------------------------------------------------------------

Napi::Value Str(Napi::Env env, const char *s) { return s ? Napi::Value(Napi::String::New(env, s)) : env.Null(); }
Napi::Value Str(Napi::Env env, std::string_view s) { return Napi::String::New(env, s.data(), s.size()); }

Napi::Value TokenToJs(Napi::Env env, cotter::TokenRef t) {
    if (!t) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("access_token", Str(env, t.access_token()));
    o.Set("id_token", Str(env, t.id_token()));
    o.Set("refresh_token", Str(env, t.refresh_token()));
    o.Set("token_type", Str(env, t.token_type()));
    o.Set("auth_method", Str(env, t.auth_method()));
    o.Set("expires_in", Napi::Number::New(env, double(t.expires_in())));
    o.Set("expires_at", Napi::Number::New(env, double(t.access_token_expires_at())));
    return o;
}

Napi::Value UserToJs(Napi::Env env, cotter::UserRef u) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", Str(env, u.id()));
    o.Set("issuer", Str(env, u.issuer()));
    o.Set("client_user_id", Str(env, u.client_user_id()));
    o.Set("identifier", Str(env, u.identifier()));
    o.Set("default_method", Str(env, u.default_method()));
    o.Set("created_at", Str(env, u.created_at()));
    Napi::Array enrolled = Napi::Array::New(env, u.enrolled_count());
    for (size_t i = 0; i < u.enrolled_count(); ++i) enrolled.Set(uint32_t(i), Str(env, u.enrolled(i)));
    o.Set("enrolled", enrolled);
    o.Set("json", Str(env, u.json()));
    return o;
}

Napi::Value SocialTokenToJs(Napi::Env env, cotter::SocialTokenRef t) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("provider", Str(env, t.provider()));
    o.Set("provider_user_id", Str(env, t.provider_user_id()));
    o.Set("provider_username", Str(env, t.provider_username()));
    o.Set("user_id", Str(env, t.user_id()));
    o.Set("access_token", Str(env, t.access_token()));
    o.Set("scope", Str(env, t.scope()));
    o.Set("token_type", Str(env, t.token_type()));
    o.Set("json", Str(env, t.json()));
    return o;
}

// ------------------------------------------------------------------------------------------------
// Async calls: one AsyncWorker per call, settled as a Promise
// ------------------------------------------------------------------------------------------------

/// Runs `work` off the main thread and keeps what it threw (no exception may leave a worker thread).
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

/**
 * A thread of its own that runs posted tasks in order. Sessions with JS storage hooks use it instead of the
 * libuv pool: their calls wait (inside the C session) for a hook that runs on the event loop, and a hook that
 * itself needs the pool (fs.promises, crypto.pbkdf2, dns.lookup...) would never run if every pool thread were
 * such a waiting call (tests/node/session.test.js reproduces that deadlock with fs.promises hooks).
 */
class TaskThread {
  public:
    TaskThread() : thread_([this] { Loop(); }) {}
    ~TaskThread() {
        {
            std::lock_guard<std::mutex> lock(mu_);
            stop_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }
    void Post(std::function<void()> task) {
        {
            std::lock_guard<std::mutex> lock(mu_);
            tasks_.push_back(std::move(task));
        }
        cv_.notify_one();
    }

  private:
    void Loop() {
        for (;;) {
            std::function<void()> task;
            {
                std::unique_lock<std::mutex> lock(mu_);
                cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
                if (tasks_.empty()) return;  // stop requested and drained
                task = std::move(tasks_.front());
                tasks_.pop_front();
            }
            task();
        }
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> tasks_;
    bool stop_ = false;
    std::thread thread_;  // last: starts after the members it uses exist
};

/**
 * Runs `work` on the libuv thread pool and settles a Promise with `done(env)` on the main thread. `owner` (the
 * wrapper object) is held strongly until then, so neither it nor its C object can be collected mid-call;
 * `finally` (main thread, always called first) lets the owner count its calls in flight.
 */
class Call : public Napi::AsyncWorker {
  public:
    using Work = std::function<void()>;
    using Done = std::function<Napi::Value(Napi::Env)>;
    using Finally = std::function<void()>;

    static Napi::Promise Queue(Napi::Env env, Napi::Object owner, Work work, Done done, Finally fin) {
        auto *c = new Call(env, owner, std::move(work), std::move(done), std::move(fin));
        Napi::Promise p = c->deferred_.Promise();
        c->Napi::AsyncWorker::Queue();
        return p;
    }

  protected:
    void Execute() override { error_ = Capture(work_); }
    void OnOK() override {
        Napi::Env env = Env();
        if (fin_) fin_();
        if (error_) {
            deferred_.Reject(MakeError(env, *error_));
            return;
        }
        try {
            deferred_.Resolve(done_ ? done_(env) : env.Undefined());
        } catch (const Napi::Error &e) {
            deferred_.Reject(e.Value());
        }
    }
    void OnError(const Napi::Error &e) override {
        if (fin_) fin_();
        deferred_.Reject(e.Value());
    }

  private:
    Call(Napi::Env env, Napi::Object owner, Work work, Done done, Finally fin)
        : Napi::AsyncWorker(env, "cotter"), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
          done_(std::move(done)), fin_(std::move(fin)) {
        owner_ = Napi::Persistent(owner);
    }

    Napi::Promise::Deferred deferred_;
    Napi::ObjectReference owner_;
    Work work_;
    Done done_;
    Finally fin_;
    std::optional<ErrorInfo> error_;
};

// ------------------------------------------------------------------------------------------------
// Logging: the library's log lines, delivered to a JS function on the event loop
// ------------------------------------------------------------------------------------------------

/**
 * Owns a thread-safe function around a JS `log(level, message)`. The C library logs from whichever thread runs
 * the operation (cotter_log_fn); lines are queued to the event loop, never waited for. Must outlive the C object
 * whose options point at it. Lines never carry secrets (the library's guarantee; tests/node/redaction.test.js).
 */
class LogSink {
  public:
    static std::unique_ptr<LogSink> From(Napi::Env env, const Napi::Object &options) {
        Napi::Value fn = options.Get("log");
        if (fn.IsUndefined() || fn.IsNull()) return nullptr;
        if (!fn.IsFunction()) ThrowInvalid(env, "option log must be a function");
        return std::unique_ptr<LogSink>(new LogSink(env, fn.As<Napi::Function>()));
    }
    ~LogSink() {
        if (alive_->load()) tsfn_.Release();
    }
    // cotter_log_fn: void (*)(int level, const char *message, void *payload)
    static void Log(int level, const char *message, void *payload) {
        auto *self = static_cast<LogSink *>(payload);
        if (!self->alive_->load()) return;
        try {
            auto *line = new Line{level, message ? message : ""};
            if (self->tsfn_.NonBlockingCall(line, &LogSink::Deliver) != napi_ok) delete line;
        } catch (...) {
            // out of memory: drop the line, never unwind into the library
        }
    }

  private:
    struct Line {
        int level;
        std::string text;
    };
    LogSink(Napi::Env env, Napi::Function fn) {
        std::shared_ptr<std::atomic<bool>> alive = alive_;
        tsfn_ = Napi::ThreadSafeFunction::New(env, fn, "cotter-log", 0, 1, [alive](Napi::Env) { alive->store(false); });
        tsfn_.Unref(env);  // logging never keeps the process alive
    }
    static void Deliver(Napi::Env env, Napi::Function fn, Line *raw) {
        std::unique_ptr<Line> line(raw);
        if (env == nullptr) return;
        const char *name = line->level >= COTTER_LOG_ERROR     ? "error"
                           : line->level >= COTTER_LOG_WARNING ? "warning"
                           : line->level >= COTTER_LOG_INFO    ? "info"
                                                               : "debug";
        try {
            fn.Call({Napi::String::New(env, name), Napi::String::New(env, line->text)});
        } catch (const Napi::Error &) {
            // index.js rethrows a logger's own exception on the next tick; nothing else can throw here
        }
    }
    Napi::ThreadSafeFunction tsfn_;
    std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

/// The C client and the log sink its options point at (freed after the client).
struct ClientCore {
    std::unique_ptr<LogSink> log;
    cotter::Client client;
};

// ------------------------------------------------------------------------------------------------
// Verifier
// ------------------------------------------------------------------------------------------------

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
        auto audience = OptString(env, o, "audience");
        if (!audience) ThrowInvalid(env, "option audience (your API key id) is required");
        auto issuer = OptString(env, o, "issuer");
        auto jwks = OptString(env, o, "jwksJson");
        auto url = OptString(env, o, "jwksUrl");
        auto ca = OptString(env, o, "caFile");
        cotter_jwt_verifier_options opts = Sync(env, [] { return cotter::jwt_verifier_options(); });
        opts.audience = audience->c_str();
        opts.issuer = issuer ? issuer->c_str() : nullptr;
        opts.jwks_json = jwks ? jwks->c_str() : nullptr;
        opts.jwks_url = url ? url->c_str() : nullptr;
        opts.ca_file = ca ? ca->c_str() : nullptr;
        if (auto v = OptInt(env, o, "leeway", 0, 300)) opts.leeway_seconds = *v;
        if (auto v = OptInt(env, o, "jwksMaxAgeMs", 0, kMaxSafe)) opts.jwks_max_age_ms = *v;
        if (auto v = OptInt(env, o, "jwksCooldownMs", 0, kMaxSafe)) opts.jwks_cooldown_ms = *v;
        if (auto v = OptInt(env, o, "jwksTimeoutMs", 0, kMaxSafe)) opts.jwks_timeout_ms = *v;
        if (auto v = OptInt(env, o, "jwksMaxBytes", 0, kMaxSafe)) opts.jwks_max_bytes = size_t(*v);
        if (auto v = OptInt(env, o, "tokenCache", 0, 1 << 24)) opts.token_cache_size = size_t(*v);
        if (auto v = OptInt(env, o, "now", 0, kMaxSafe)) {
            now_.store(*v, std::memory_order_relaxed);
            opts.clock = &Verifier::Clock;
            opts.clock_payload = this;
        }
        log_ = LogSink::From(env, o);
        if (log_) {
            opts.log = &LogSink::Log;
            opts.log_payload = log_.get();
        }
        v_ = Sync(env, [&] { return cotter::JwtVerifier::create(opts); });
    }

  private:
    static int64_t Clock(void *payload) { return static_cast<Verifier *>(payload)->now_.load(std::memory_order_relaxed); }

    cotter::JwtVerifierRef Live(Napi::Env env) {
        if (closed_) ThrowInvalid(env, "the verifier is closed");
        return v_;
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

    // COTTER_API int cotter_jwt_verify(cotter_claims **out, cotter_jwt_verifier *verifier, const char *token, size_t token_len, cotter_error **out_error);
    Napi::Value Verify(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cotter::JwtVerifierRef v = Live(env);
        auto token = std::make_shared<std::string>(TokenArg(env, info[0], "token"));
        auto out = std::make_shared<cotter::Claims>();
        ++inflight_;
        return Call::Queue(
            env, info.This().As<Napi::Object>(), [v, token, out] { *out = v.verify(*token); },
            [out](Napi::Env e) { return Str(e, out->json()); }, [this] { Settled(); });
    }

    // COTTER_API int cotter_jwt_verifier_refresh(cotter_jwt_verifier *verifier, cotter_error **out_error);
    Napi::Value Refresh(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        cotter::JwtVerifierRef v = Live(env);
        ++inflight_;
        return Call::Queue(env, info.This().As<Napi::Object>(), [v] { v.refresh(); }, nullptr, [this] { Settled(); });
    }

    Napi::Value SetNow(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        if (!has_clock()) ThrowInvalid(env, "setNow() needs a verifier created with the `now` option");
        Napi::Object o = Napi::Object::New(env);
        o.Set("now", info[0]);
        now_.store(*OptInt(env, o, "now", 0, kMaxSafe), std::memory_order_relaxed);
        return env.Undefined();
    }

    // COTTER_API void cotter_jwt_verifier_free(cotter_jwt_verifier *verifier);
    Napi::Value Close(const Napi::CallbackInfo &info) {
        closed_ = true;
        if (inflight_ == 0) v_.reset();  // else the last settling call frees it
        return info.Env().Undefined();
    }

    bool has_clock() const { return now_.load() != kNoClock; }
    void Settled() {
        if (--inflight_ == 0 && closed_) v_.reset();
    }

    static constexpr int64_t kNoClock = -1;
    std::unique_ptr<LogSink> log_;  // before v_: outlives it
    cotter::JwtVerifier v_;
    std::atomic<int64_t> now_{kNoClock};
    int inflight_ = 0;  // main thread only
    bool closed_ = false;
};

// ------------------------------------------------------------------------------------------------
// Client
// ------------------------------------------------------------------------------------------------

class Client : public Napi::ObjectWrap<Client> {
  public:
    static Napi::Function Define(Napi::Env env) {
        return DefineClass(env, "NativeClient",
                           {InstanceMethod<&Client::GrantIdentityToken>("exchangeIdentityToken"),
                            InstanceMethod<&Client::GrantEventToken>("exchangeEventToken"),
                            InstanceMethod<&Client::Refresh>("refresh"),
                            InstanceMethod<&Client::Logout>("logout"),
                            InstanceMethod<&Client::CustomClaims>("customClaims"),
                            InstanceMethod<&Client::GetIdentity>("getIdentity"),
                            InstanceMethod<&Client::UserCreate>("createUser"),
                            InstanceMethod<&Client::UserGetByIdentifier>("getUser"),
                            InstanceMethod<&Client::UserGet>("getUserById"),
                            InstanceMethod<&Client::UserList>("listUsers"),
                            InstanceMethod<&Client::SocialList>("listSocialTokens"),
                            InstanceMethod<&Client::SocialGet>("getSocialToken"),
                            InstanceMethod<&Client::SocialDelete>("deleteSocialToken"),
                            InstanceMethod<&Client::VerifyRemote>("verifyRemote"),
                            InstanceMethod<&Client::BaseUrl>("baseUrl"),
                            InstanceMethod<&Client::Stats>("stats"),
                            InstanceMethod<&Client::Close>("close")});
    }

    // COTTER_API int cotter_client_new(cotter_client **out, const cotter_client_options *opts, cotter_error **out_error);
    explicit Client(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Client>(info) {
        Napi::Env env = info.Env();
        info.This().As<Napi::Object>().TypeTag(&kClientTag);
        Napi::Object o = OptionsArg(env, info[0]);
        auto key = OptString(env, o, "apiKeyId");
        if (!key) ThrowInvalid(env, "option apiKeyId is required");
        auto secret = OptString(env, o, "apiSecretKey");
        auto base = OptString(env, o, "baseUrl");
        auto worker = OptString(env, o, "workerUrl");
        auto ca = OptString(env, o, "caFile");
        cotter_client_options opts = Sync(env, [] { return cotter::client_options(); });
        opts.api_key_id = key->c_str();
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
            if (auto v = OptInt(env, o, "connectTimeoutMs", 1, kMaxSafe)) opts.connect_timeout_ms = *v;
            if (auto v = OptInt(env, o, "timeoutMs", 1, kMaxSafe)) opts.timeout_ms = *v;
            if (auto v = OptInt(env, o, "maxRetries", 0, 100)) opts.max_retries = int(*v);
            if (auto v = OptInt(env, o, "retryBaseMs", 0, kMaxSafe)) opts.retry_base_ms = *v;
            if (auto v = OptInt(env, o, "retryMaxMs", 0, kMaxSafe)) opts.retry_max_ms = *v;
            if (auto v = OptInt(env, o, "maxResponseBytes", 1, kMaxSafe)) opts.max_response_bytes = size_t(*v);
            core->client = Sync(env, [&] { return cotter::Client::create(opts); });
            c_ = std::move(core);
        } catch (...) {
            if (secret) Wipe(*secret);
            throw;
        }
        if (secret) Wipe(*secret);
    }

    /// The live client, or a CotterError when it is closed.
    cotter::ClientRef Live(Napi::Env env) {
        if (closed_ || !c_) ThrowInvalid(env, "the client is closed");
        return c_->client;
    }
    /// For sessions: a share of the C client, which is freed only after every session using it.
    std::shared_ptr<ClientCore> Share(Napi::Env env) {
        Live(env);
        return c_;
    }

  private:
    /// Queues `work` against the live client; `done` converts its result on the main thread.
    Napi::Value Run(const Napi::CallbackInfo &info, Call::Work work, Call::Done done) {
        Live(info.Env());
        ++inflight_;
        return Call::Queue(info.Env(), info.This().As<Napi::Object>(), std::move(work), std::move(done), [this] {
            --inflight_;
            MaybeFree();
        });
    }
    Napi::Value TokenCall(const Napi::CallbackInfo &info, std::function<cotter::Token(cotter::ClientRef)> f) {
        auto out = std::make_shared<cotter::Token>();
        cotter::ClientRef c = Live(info.Env());
        return Run(info, [c, f, out] { *out = f(c); }, [out](Napi::Env e) { return TokenToJs(e, *out); });
    }

    // COTTER_API int cotter_client_grant_identity_token(cotter_token **out, cotter_client *client, const char *identity_token_json, cotter_error **out_error);
    Napi::Value GrantIdentityToken(const Napi::CallbackInfo &info) {
        auto json = ReqString(info.Env(), info[0], "identityToken");
        return TokenCall(info, [json](cotter::ClientRef c) { return c.grant_identity_token(json.c_str()); });
    }
    // COTTER_API int cotter_client_grant_event_token(cotter_token **out, cotter_client *client, const char *event_token_json, cotter_error **out_error);
    Napi::Value GrantEventToken(const Napi::CallbackInfo &info) {
        auto json = ReqString(info.Env(), info[0], "eventToken");
        return TokenCall(info, [json](cotter::ClientRef c) { return c.grant_event_token(json.c_str()); });
    }
    // COTTER_API int cotter_client_refresh(cotter_token **out, cotter_client *client, const char *refresh_token, cotter_error **out_error);
    Napi::Value Refresh(const Napi::CallbackInfo &info) {
        auto rt = std::make_shared<std::string>(ReqString(info.Env(), info[0], "refreshToken"));
        return TokenCall(info, [rt](cotter::ClientRef c) {
            cotter::Token t = c.refresh(rt->c_str());
            Wipe(*rt);
            return t;
        });
    }
    // COTTER_API int cotter_client_logout(cotter_client *client, const char *refresh_token, cotter_error **out_error);
    Napi::Value Logout(const Napi::CallbackInfo &info) {
        std::optional<std::string> rt;
        if (!info[0].IsUndefined() && !info[0].IsNull()) rt = ReqString(info.Env(), info[0], "refreshToken");
        cotter::ClientRef c = Live(info.Env());
        return Run(info, [c, rt] { c.logout(rt ? rt->c_str() : nullptr); }, nullptr);
    }
    // COTTER_API int cotter_client_custom_claims(cotter_buf *token_out, cotter_buf *refresh_token_out, cotter_client *client, const char *token, const char *custom_attributes_json, const char *refresh_token, cotter_error **out_error);
    Napi::Value CustomClaims(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        auto token = ReqString(env, info[0], "token");
        auto attrs = ReqString(env, info[1], "customAttributes");
        std::optional<std::string> rt;
        if (!info[2].IsUndefined() && !info[2].IsNull()) rt = ReqString(env, info[2], "refreshToken");
        auto out = std::make_shared<cotter::CustomClaims>();
        cotter::ClientRef c = Live(env);
        return Run(
            info, [c, token, attrs, rt, out] { *out = c.custom_claims(token.c_str(), attrs.c_str(), rt ? rt->c_str() : nullptr); },
            [out](Napi::Env e) {
                Napi::Object o = Napi::Object::New(e);
                o.Set("token", Str(e, out->token.view()));
                o.Set("refresh_token", out->refresh_token.has_value() ? Str(e, out->refresh_token.view()) : e.Null());
                return Napi::Value(o);
            });
    }
    // COTTER_API int cotter_client_get_identity(cotter_identity **out, cotter_client *client, const char *authorization_code, int64_t challenge_id, const char *code_verifier, const char *redirect_url, cotter_error **out_error);
    Napi::Value GetIdentity(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        auto code = ReqString(env, info[0], "code");
        Napi::Object holder = Napi::Object::New(env);
        holder.Set("challengeId", info[1]);
        auto challenge = OptInt(env, holder, "challengeId", 0, kMaxSafe);
        if (!challenge) ThrowInvalid(env, "challengeId must be an integer");
        auto verifier = ReqString(env, info[2], "codeVerifier");
        auto redirect = ReqString(env, info[3], "redirectUrl");
        auto out = std::make_shared<cotter::Identity>();
        cotter::ClientRef c = Live(env);
        int64_t cid = *challenge;
        return Run(
            info, [c, code, cid, verifier, redirect, out] {
                *out = c.get_identity(code.c_str(), cid, verifier.c_str(), redirect.c_str());
            },
            [out](Napi::Env e) {
                Napi::Object o = Napi::Object::New(e);
                o.Set("identifier", Str(e, out->identifier()));
                o.Set("identifier_type", Str(e, out->identifier_type()));
                o.Set("user_id", Str(e, out->user_id()));
                o.Set("identity_token_json", Str(e, out->identity_token_json()));
                o.Set("token", TokenToJs(e, out->token()));
                o.Set("json", Str(e, out->json()));
                return Napi::Value(o);
            });
    }
    Napi::Value UserCall(const Napi::CallbackInfo &info, std::function<cotter::User(cotter::ClientRef)> f) {
        auto out = std::make_shared<cotter::User>();
        cotter::ClientRef c = Live(info.Env());
        return Run(info, [c, f, out] { *out = f(c); }, [out](Napi::Env e) { return UserToJs(e, *out); });
    }
    // COTTER_API int cotter_client_user_create(cotter_user **out, cotter_client *client, const char *identifier, cotter_error **out_error);
    Napi::Value UserCreate(const Napi::CallbackInfo &info) {
        auto id = ReqString(info.Env(), info[0], "identifier");
        return UserCall(info, [id](cotter::ClientRef c) { return c.user_create(id.c_str()); });
    }
    // COTTER_API int cotter_client_user_get_by_identifier(cotter_user **out, cotter_client *client, const char *identifier, cotter_error **out_error);
    Napi::Value UserGetByIdentifier(const Napi::CallbackInfo &info) {
        auto id = ReqString(info.Env(), info[0], "identifier");
        return UserCall(info, [id](cotter::ClientRef c) { return c.user_get_by_identifier(id.c_str()); });
    }
    // COTTER_API int cotter_client_user_get(cotter_user **out, cotter_client *client, const char *user_id, cotter_error **out_error);
    Napi::Value UserGet(const Napi::CallbackInfo &info) {
        auto id = ReqString(info.Env(), info[0], "userId");
        return UserCall(info, [id](cotter::ClientRef c) { return c.user_get(id.c_str()); });
    }
    // COTTER_API int cotter_client_user_list(cotter_user_list **out, cotter_client *client, unsigned int page, cotter_error **out_error);
    // COTTER_API const cotter_user *cotter_user_list_get(const cotter_user_list *list, size_t index);
    Napi::Value UserList(const Napi::CallbackInfo &info) {
        Napi::Env env = info.Env();
        Napi::Object holder = Napi::Object::New(env);
        holder.Set("page", info[0]);
        unsigned page = unsigned(OptInt(env, holder, "page", 0, 4294967295.0).value_or(0));
        auto out = std::make_shared<cotter::UserList>();
        cotter::ClientRef c = Live(env);
        return Run(info, [c, page, out] { *out = c.user_list(page); },
                   [out](Napi::Env e) {
                       Napi::Array a = Napi::Array::New(e, out->count());
                       for (size_t i = 0; i < out->count(); ++i) a.Set(uint32_t(i), UserToJs(e, out->at(i)));
                       return Napi::Value(a);
                   });
    }
    // COTTER_API int cotter_client_social_tokens_list(cotter_social_token_list **out, cotter_client *client, const char *cotter_user_id, cotter_error **out_error);
    Napi::Value SocialList(const Napi::CallbackInfo &info) {
        auto user = ReqString(info.Env(), info[0], "userId");
        auto out = std::make_shared<cotter::SocialTokenList>();
        cotter::ClientRef c = Live(info.Env());
        return Run(info, [c, user, out] { *out = c.social_tokens_list(user.c_str()); },
                   [out](Napi::Env e) {
                       Napi::Array a = Napi::Array::New(e, out->count());
                       for (size_t i = 0; i < out->count(); ++i) a.Set(uint32_t(i), SocialTokenToJs(e, out->at(i)));
                       return Napi::Value(a);
                   });
    }
    // COTTER_API int cotter_client_social_token_get(cotter_social_token **out, cotter_client *client, const char *provider, const char *cotter_user_id, cotter_error **out_error);
    Napi::Value SocialGet(const Napi::CallbackInfo &info) {
        auto provider = ReqString(info.Env(), info[0], "provider");
        auto user = ReqString(info.Env(), info[1], "userId");
        auto out = std::make_shared<cotter::SocialToken>();
        cotter::ClientRef c = Live(info.Env());
        return Run(info, [c, provider, user, out] { *out = c.social_token_get(provider.c_str(), user.c_str()); },
                   [out](Napi::Env e) { return SocialTokenToJs(e, *out); });
    }
    // COTTER_API int cotter_client_social_token_delete(cotter_client *client, const char *provider, const char *cotter_user_id, cotter_error **out_error);
    Napi::Value SocialDelete(const Napi::CallbackInfo &info) {
        auto provider = ReqString(info.Env(), info[0], "provider");
        auto user = ReqString(info.Env(), info[1], "userId");
        cotter::ClientRef c = Live(info.Env());
        return Run(info, [c, provider, user] { c.social_token_delete(provider.c_str(), user.c_str()); }, nullptr);
    }
    // COTTER_API int cotter_client_verify_remote(int *valid_out, cotter_buf *reason_out, cotter_client *client, const char *access_token, cotter_error **out_error);
    Napi::Value VerifyRemote(const Napi::CallbackInfo &info) {
        auto token = NoNul(info.Env(), TokenArg(info.Env(), info[0], "accessToken"), "accessToken");
        auto out = std::make_shared<cotter::RemoteVerdict>();
        cotter::ClientRef c = Live(info.Env());
        return Run(info, [c, token, out] { *out = c.verify_remote(token.c_str()); },
                   [out](Napi::Env e) {
                       Napi::Object o = Napi::Object::New(e);
                       o.Set("valid", Napi::Boolean::New(e, out->valid));
                       o.Set("reason", out->reason.has_value() && !out->reason.empty() ? Str(e, out->reason.view()) : e.Null());
                       return Napi::Value(o);
                   });
    }
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
    Napi::Value Close(const Napi::CallbackInfo &info) {
        closed_ = true;
        MaybeFree();
        return info.Env().Undefined();
    }
    // Calls in flight use the C client: it is freed (once no session shares it either) after the last of them.
    void MaybeFree() {
        if (closed_ && inflight_ == 0) c_.reset();
    }

    std::shared_ptr<ClientCore> c_;
    int inflight_ = 0;  // main thread only
    bool closed_ = false;
};

// ------------------------------------------------------------------------------------------------
// Session
// ------------------------------------------------------------------------------------------------

/**
 * A token session. The C session is created lazily by the first call, on a pool thread, because creating it
 * may call the JS `load` hook, and JS hooks (load, save, tokens changed) are reached from the pool through one
 * thread-safe function: the pool thread waits for the hook's result (a value or a Promise) while the event
 * loop runs it. So hooks may be async, and the loop is never blocked.
 */
class Session : public Napi::ObjectWrap<Session> {
  public:
    static Napi::Function Define(Napi::Env env) {
        return DefineClass(env, "NativeSession",
                           {InstanceMethod<&Session::GetAccessToken>("getAccessToken"),
                            InstanceMethod<&Session::GetToken>("getToken"),
                            InstanceMethod<&Session::Refresh>("refresh"),
                            InstanceMethod<&Session::SetToken>("setToken"),
                            InstanceMethod<&Session::Logout>("logout"),
                            InstanceMethod<&Session::Close>("close")});
    }

    // new NativeSession(nativeClient, { file, marginSeconds, initialJson, hooks: (kind, json) => Promise|undefined,
    //                                   hasStorage, hasChanged })
    explicit Session(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Session>(info) {
        Napi::Env env = info.Env();
        info.This().As<Napi::Object>().TypeTag(&kSessionTag);
        if (!info[0].IsObject() || !info[0].As<Napi::Object>().CheckTypeTag(&kClientTag))
            ThrowInvalid(env, "client must be a cotter Client");
        Napi::Object o = OptionsArg(env, info[1]);
        client_obj_ = Napi::Persistent(info[0].As<Napi::Object>());
        client_ = Client::Unwrap(info[0].As<Napi::Object>())->Share(env);
        if (auto f = OptString(env, o, "file")) file_ = *f;
        if (auto m = OptInt(env, o, "marginSeconds", 0, 86400 * 365)) margin_ = *m;
        if (auto j = OptString(env, o, "initialJson")) initial_ = *j;
        has_storage_ = o.Get("hasStorage").ToBoolean();
        has_changed_ = o.Get("hasChanged").ToBoolean();
        if (has_storage_ && file_) ThrowInvalid(env, "use either file or load/save, not both");
        if (has_storage_ || has_changed_) {
            Napi::Value hooks = o.Get("hooks");
            if (!hooks.IsFunction()) ThrowInvalid(env, "hooks must be a function");
            // At environment teardown Node may destroy the function before it finalizes this object; the flag
            // tells Release() not to touch it then.
            std::shared_ptr<std::atomic<bool>> alive = tsfn_alive_;
            tsfn_ = Napi::ThreadSafeFunction::New(env, hooks.As<Napi::Function>(), "cotter-session-hooks", 0, 1,
                                                  [alive](Napi::Env) { alive->store(false); });
            tsfn_.Unref(env);  // calls in flight keep the loop alive; an idle session must not
            has_tsfn_ = true;
        }
        main_thread_ = std::this_thread::get_id();
    }

    ~Session() override { Release(); }

  private:
    enum HookKind { kLoad = 0, kSave = 1, kChanged = 2 };

    /// One hook call handed to the event loop; the pool thread waits on `result` (load, save).
    struct HookCall {
        HookKind kind;
        std::optional<std::string> arg;
        bool wait;
        std::promise<std::pair<bool, std::optional<std::string>>> result;
        std::atomic<bool> settled{false};
        void settle(bool ok, std::optional<std::string> value) {
            if (!settled.exchange(true)) result.set_value({ok, std::move(value)});
        }
    };

    static void RunHook(Napi::Env env, Napi::Function hooks, std::shared_ptr<HookCall> *data) {
        std::shared_ptr<HookCall> call = std::move(*data);
        delete data;
        if (env == nullptr) {  // the environment is going away
            call->settle(false, std::nullopt);
            return;
        }
        try {
            Napi::Value arg = call->arg ? Napi::Value(Napi::String::New(env, *call->arg)) : env.Null();
            Napi::Value r = hooks.Call({Napi::Number::New(env, call->kind), arg});
            if (!call->wait) return;
            if (!r.IsPromise()) {
                call->settle(false, std::nullopt);
                return;
            }
            auto ok = Napi::Function::New(env, [call](const Napi::CallbackInfo &i) {
                if (i[0].IsString()) call->settle(true, i[0].As<Napi::String>().Utf8Value());
                else call->settle(true, std::nullopt);
            });
            auto fail = Napi::Function::New(env, [call](const Napi::CallbackInfo &) { call->settle(false, std::nullopt); });
            r.As<Napi::Object>().Get("then").As<Napi::Function>().Call(r, {ok, fail});
        } catch (const Napi::Error &) {
            call->settle(false, std::nullopt);
        }
    }

    /// From a pool thread: runs hook `kind` on the event loop; for load/save waits for its result.
    std::pair<bool, std::optional<std::string>> Hook(HookKind kind, std::optional<std::string> arg, bool wait) {
        if (!has_tsfn_ || !tsfn_alive_->load()) return {false, std::nullopt};
        // A hook reached on the event loop's own thread could never be served: fail it instead of deadlocking.
        if (wait && std::this_thread::get_id() == main_thread_) return {false, std::nullopt};
        auto call = std::make_shared<HookCall>();
        call->kind = kind;
        call->arg = std::move(arg);
        call->wait = wait;
        auto fut = call->result.get_future();
        auto *data = new std::shared_ptr<HookCall>(call);
        napi_status st = wait ? tsfn_.BlockingCall(data, RunHook) : tsfn_.NonBlockingCall(data, RunHook);
        if (st != napi_ok) {
            delete data;
            return {false, std::nullopt};
        }
        if (!wait) return {true, std::nullopt};
        return fut.get();
    }

    // cotter_session_load_fn: int (*)(cotter_buf *out, void *payload)
    static int LoadHook(cotter_buf *out, void *payload) {
        auto r = static_cast<Session *>(payload)->Hook(kLoad, std::nullopt, true);
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
        return static_cast<Session *>(payload)->Hook(kSave, std::move(arg), true).first ? 0 : 1;
    }
    // cotter_tokens_changed_fn: void (*)(const cotter_token *token, void *payload)
    // COTTER_API int cotter_token_to_json(cotter_buf *out, const cotter_token *token, cotter_error **out_error);
    static void ChangedHook(const cotter_token *token, void *payload) {
        std::optional<std::string> arg;
        try {
            if (token) arg = cotter::TokenRef(token).to_json().str();
        } catch (...) {
            return;  // must not unwind into the library
        }
        static_cast<Session *>(payload)->Hook(kChanged, std::move(arg), false);
    }

    // COTTER_API int cotter_session_new(cotter_session **out, cotter_client *client, const cotter_session_options *opts, const cotter_token *initial, cotter_error **out_error);
    // COTTER_API int cotter_token_from_json(cotter_token **out, const char *json, size_t json_len, cotter_error **out_error);
    /// On a pool thread: the C session, created by the first call.
    cotter::SessionRef Ensure() {
        std::lock_guard<std::mutex> lock(create_mu_);
        if (!s_) {
            cotter_session_options o = cotter::session_options();
            o.refresh_margin_seconds = margin_;
            if (file_) o.token_file = file_->c_str();
            if (has_storage_) {
                o.load = &Session::LoadHook;
                o.save = &Session::SaveHook;
                o.storage_payload = this;
            }
            if (has_changed_) {
                o.on_tokens_changed = &Session::ChangedHook;
                o.on_tokens_changed_payload = this;
            }
            cotter::Token initial;
            if (initial_) {
                initial = cotter::Token::from_json(*initial_);
                Wipe(*initial_);
                initial_.reset();
            }
            s_ = cotter::Session::create(client_->client, o, initial);
        }
        return s_;
    }

    /// One call in flight on the session's own thread (sessions with storage hooks).
    struct ThreadOp {
        Napi::Promise::Deferred deferred;
        Napi::ObjectReference owner;
        std::function<void(cotter::SessionRef)> work;
        Call::Done done;
        std::optional<ErrorInfo> error;
    };

    Napi::Value Run(const Napi::CallbackInfo &info, std::function<void(cotter::SessionRef)> work, Call::Done done) {
        Napi::Env env = info.Env();
        if (closed_) ThrowInvalid(env, "the session is closed");
        if (!has_storage_) {
            ++inflight_;
            return Call::Queue(env, info.This().As<Napi::Object>(), [this, work] { work(Ensure()); }, std::move(done),
                               [this] { Settled(); });
        }
        auto op = std::make_shared<ThreadOp>(ThreadOp{Napi::Promise::Deferred::New(env),
                                                      Napi::Persistent(info.This().As<Napi::Object>()), std::move(work),
                                                      std::move(done), std::nullopt});
        if (!thread_) thread_ = std::make_unique<TaskThread>();
        if (inflight_++ == 0 && tsfn_alive_->load()) tsfn_.Ref(env);  // a pending call keeps the loop alive, as a pool call would
        thread_->Post([this, op] {
            op->error = Capture([&] { op->work(Ensure()); });
            auto *data = new std::shared_ptr<ThreadOp>(op);
            if (tsfn_.NonBlockingCall(data, &Session::Complete) != napi_ok) delete data;  // the env is going away
        });
        return op->deferred.Promise();
    }

    // Main thread: settles a call that ran on the session's thread.
    static void Complete(Napi::Env env, Napi::Function, std::shared_ptr<ThreadOp> *data) {
        std::shared_ptr<ThreadOp> op = std::move(*data);
        delete data;
        if (env == nullptr) {  // teardown: JS handles are gone; never release them from another thread
            op->owner.SuppressDestruct();
            return;
        }
        Session *self = Session::Unwrap(op->owner.Value());
        if (op->error) {
            op->deferred.Reject(MakeError(env, *op->error));
        } else {
            try {
                op->deferred.Resolve(op->done ? op->done(env) : env.Undefined());
            } catch (const Napi::Error &e) {
                op->deferred.Reject(e.Value());
            }
        }
        if (--self->inflight_ == 0 && self->has_tsfn_ && self->tsfn_alive_->load()) self->tsfn_.Unref(env);
        op->owner.Reset();  // here, on the main thread
        self->Settled(false);
    }

    void Settled(bool count = true) {
        if (count) --inflight_;
        if (inflight_ == 0 && closed_) Release();
    }

    // COTTER_API int cotter_session_get_access_token(cotter_buf *out, cotter_session *session, cotter_error **out_error);
    Napi::Value GetAccessToken(const Napi::CallbackInfo &info) {
        auto out = std::make_shared<cotter::unique_buf>();
        return Run(info, [out](cotter::SessionRef s) { *out = s.get_access_token(); },
                   [out](Napi::Env e) { return Str(e, out->view()); });
    }
    // COTTER_API int cotter_session_get_token(cotter_token **out, cotter_session *session, cotter_error **out_error);
    Napi::Value GetToken(const Napi::CallbackInfo &info) {
        auto out = std::make_shared<cotter::Token>();
        return Run(info, [out](cotter::SessionRef s) { *out = s.get_token(); },
                   [out](Napi::Env e) { return TokenToJs(e, *out); });
    }
    // COTTER_API int cotter_session_refresh(cotter_token **out, cotter_session *session, cotter_error **out_error);
    Napi::Value Refresh(const Napi::CallbackInfo &info) {
        auto out = std::make_shared<cotter::Token>();
        return Run(info, [out](cotter::SessionRef s) { *out = s.refresh(); },
                   [out](Napi::Env e) { return TokenToJs(e, *out); });
    }
    // COTTER_API int cotter_session_set_token(cotter_session *session, const cotter_token *token, cotter_error **out_error);
    Napi::Value SetToken(const Napi::CallbackInfo &info) {
        auto json = std::make_shared<std::string>(ReqString(info.Env(), info[0], "token"));
        return Run(info, [json](cotter::SessionRef s) {
            cotter::Token t = cotter::Token::from_json(*json);
            Wipe(*json);
            s.set_token(t);
        }, nullptr);
    }
    // COTTER_API int cotter_session_logout(cotter_session *session, cotter_error **out_error);
    Napi::Value Logout(const Napi::CallbackInfo &info) {
        return Run(info, [](cotter::SessionRef s) { s.logout(); }, nullptr);
    }
    // COTTER_API void cotter_session_free(cotter_session *session);
    Napi::Value Close(const Napi::CallbackInfo &info) {
        closed_ = true;
        if (inflight_ == 0) Release();
        return info.Env().Undefined();
    }

    /// Main thread, no call in flight: frees the C session, then lets the client go.
    void Release() {
        if (released_) return;
        released_ = true;
        s_.reset();
        thread_.reset();  // idle: no call is in flight
        if (initial_) Wipe(*initial_);
        if (has_tsfn_) {
            if (tsfn_alive_->load()) tsfn_.Release();
            has_tsfn_ = false;
        }
        client_.reset();  // after the session: the C client must outlive it
        if (!client_obj_.IsEmpty()) client_obj_.Reset();
    }

    Napi::ObjectReference client_obj_;  // keeps the JS Client (and so the C client) alive
    std::shared_ptr<ClientCore> client_;
    std::optional<std::string> file_;
    std::optional<std::string> initial_;
    int64_t margin_ = 30;
    bool has_storage_ = false;
    bool has_changed_ = false;
    Napi::ThreadSafeFunction tsfn_;
    bool has_tsfn_ = false;
    std::shared_ptr<std::atomic<bool>> tsfn_alive_ = std::make_shared<std::atomic<bool>>(true);
    std::thread::id main_thread_;
    std::mutex create_mu_;
    cotter::Session s_;
    std::unique_ptr<TaskThread> thread_;
    int inflight_ = 0;  // main thread only
    bool closed_ = false;
    bool released_ = false;
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
    int64_t now = OptInt(env, o, "now", 0, kMaxSafe).value_or(0);
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
    Napi::Function verifier = Verifier::Define(env);
    Napi::Function client = Client::Define(env);
    Napi::Function session = Session::Define(env);
    data->verifier_ctor = Napi::Persistent(verifier);
    data->client_ctor = Napi::Persistent(client);
    data->session_ctor = Napi::Persistent(session);
    exports.Set("NativeVerifier", verifier);
    exports.Set("NativeClient", client);
    exports.Set("NativeSession", session);
    exports.Set("setErrorClass", Napi::Function::New<SetErrorClass>(env, "setErrorClass"));
    exports.Set("version", Napi::Function::New<Version>(env, "version"));
    exports.Set("versionNumber", Napi::Function::New<VersionNumber>(env, "versionNumber"));
    exports.Set("statusName", Napi::Function::New<StatusName>(env, "statusName"));
    exports.Set("pkce", Napi::Function::New<Pkce>(env, "pkce"));
    exports.Set("pkceChallenge", Napi::Function::New<PkceChallenge>(env, "pkceChallenge"));
    exports.Set("loginUrl", Napi::Function::New<LoginUrl>(env, "loginUrl"));
    exports.Set("parseLoginRedirect", Napi::Function::New<ParseLoginRedirect>(env, "parseLoginRedirect"));
    exports.Set("verifyIdentityToken", Napi::Function::New<IdentityTokenVerify>(env, "verifyIdentityToken"));
    exports.Set("verifyEventToken", Napi::Function::New<EventTokenVerify>(env, "verifyEventToken"));
    return exports;
}

}  // namespace

NODE_API_MODULE(cotter, Init)

/**
 * @file cotter.hpp
 * @brief Header-only C++17 RAII + exception wrapper over the cotter C ABI (the ONNX Runtime C++ API pattern).
 *
 * Used by the Python (pybind11) and Node (node-addon-api) bindings so that both exercise the C ABI that Rust
 * and Go depend on, and map errors the same way. Rules:
 *  - Every failing C call becomes a `cotter::Error` (code, stable name, message, HTTP status, OAuth error,
 *    description, Retry-After), built from the `cotter_error` object, which is freed at once.
 *  - Every library-allocated object has one move-only owner class whose destructor calls `cotter_<obj>_free`.
 *    Borrowed objects (a user inside a list, the token inside an identity) are `...Ref` views: cheap,
 *    copyable, valid only while their parent lives. Each owner class derives from its view.
 *  - Getters mirror the C getters one to one: borrowed strings come back as `const char *` (NULL when absent),
 *    valid until the owner is freed.
 *  - The 1:1 parts (plain getters; each call's blocking and `_start` forms) are generated from capi/abi.json
 *    (scripts/gen.py) in BEGIN/END GENERATED blocks; the classes, owners and special results are written here.
 *  - `unique_buf` owns a `cotter_buf` and disposes (wipes) it.
 *  - Only cotter.h and the standard library are included; everything is inline, so a function is only linked
 *    when it is used (bindings can be built while parts of the C ABI are still being written).
 * Callbacks (logging, clock, storage, tokens changed) are passed through the C option structs unchanged: each
 * binding supplies its own trampolines, because each runtime (GIL, N-API thread-safe functions) differs.
 */
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "cotter.h"

namespace cotter {

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

/** @brief The stable name of a status, e.g. "COTTER_EJWT_SIGNATURE". */
inline const char *status_name(int status) noexcept { return cotter_status_name(status); }
/** @brief A short static English description of a status. */
inline const char *status_describe(int status) noexcept { return cotter_status_describe(status); }

/**
 * @brief A failed cotter call. Carries everything the C error object had; never a secret (the library
 * guarantees that messages carry none).
 */
class Error : public std::runtime_error {
  public:
    /// Takes ownership of `err` (may be NULL when the library could not allocate it) and frees it.
    Error(int code, cotter_error *err) : Error(code, err, take_message(code, err)) {}

    /** @brief The negative status code (a cotter_status value). */
    int code() const noexcept { return code_; }
    /** @brief The stable name of the code, e.g. "COTTER_EOAUTH". Static storage. */
    const char *name() const noexcept { return cotter_status_name(code_); }
    /** @brief The message (also `what()`). */
    const std::string &message() const noexcept { return message_; }
    /** @brief HTTP status of the response involved, 0 when none. */
    int http_status() const noexcept { return http_status_; }
    /** @brief The server's error kind (RFC 6749 `error` or Cotter's `type`), if any. */
    const std::optional<std::string> &oauth_error() const noexcept { return oauth_error_; }
    /** @brief The server's error text (`msg` or `error_description`), if any. */
    const std::optional<std::string> &oauth_error_description() const noexcept { return description_; }
    /** @brief Retry-After in seconds, -1 when absent. */
    int64_t retry_after() const noexcept { return retry_after_; }

  private:
    Error(int code, cotter_error *err, std::string message)
        : std::runtime_error(message), code_(code), message_(std::move(message)) {
        if (err) {
            http_status_ = cotter_error_http_status(err);
            if (const char *s = cotter_error_oauth_error(err)) oauth_error_ = s;
            if (const char *s = cotter_error_oauth_error_description(err)) description_ = s;
            retry_after_ = cotter_error_retry_after(err);
            cotter_error_free(err);
        }
    }
    static std::string take_message(int code, const cotter_error *err) {
        const char *m = err ? cotter_error_message(err) : nullptr;
        return (m && *m) ? std::string(m) : std::string(cotter_status_describe(code));
    }

    int code_;
    std::string message_;
    int http_status_ = 0;
    std::optional<std::string> oauth_error_;
    std::optional<std::string> description_;
    int64_t retry_after_ = -1;
};

namespace detail {
/// Calls `f(&err)`; throws cotter::Error when it returns non-zero. Frees the error object either way.
template <class F>
inline void call(F &&f) {
    cotter_error *err = nullptr;
    int rc = f(&err);
    if (rc != COTTER_OK) throw Error(rc, err);
    if (err) cotter_error_free(err);  // defensive: a success never sets it
}
/// Throws for a status-only call (no error object), e.g. the *_options_init functions.
inline void check(int rc) {
    if (rc != COTTER_OK) throw Error(rc, nullptr);
}
inline std::string_view view_of(const char *p, size_t n) { return p ? std::string_view(p, n) : std::string_view(); }
}  // namespace detail

// ------------------------------------------------------------------------------------------------
// Library
// ------------------------------------------------------------------------------------------------

inline int version_number() noexcept { return cotter_version_number(); }
inline const char *version_string() noexcept { return cotter_version_string(); }

/** @brief RAII reference on the library's global state (cotter_global_init / cotter_global_shutdown). */
class GlobalInit {
  public:
    GlobalInit() { detail::check(cotter_global_init()); }
    ~GlobalInit() { cotter_global_shutdown(); }
    GlobalInit(const GlobalInit &) = delete;
    GlobalInit &operator=(const GlobalInit &) = delete;
};

// ------------------------------------------------------------------------------------------------
// Buffers
// ------------------------------------------------------------------------------------------------

/** @brief Owns a cotter_buf; wipes and frees it on destruction. Move-only. */
class unique_buf {
  public:
    unique_buf() noexcept = default;
    ~unique_buf() { cotter_buf_dispose(&buf_); }
    unique_buf(unique_buf &&o) noexcept : buf_(o.buf_) { o.buf_ = COTTER_BUF_INIT; }
    unique_buf &operator=(unique_buf &&o) noexcept {
        if (this != &o) {
            cotter_buf_dispose(&buf_);
            buf_ = o.buf_;
            o.buf_ = COTTER_BUF_INIT;
        }
        return *this;
    }
    unique_buf(const unique_buf &) = delete;
    unique_buf &operator=(const unique_buf &) = delete;

    /** @brief The C struct, to pass as an out-parameter. */
    cotter_buf *get() noexcept { return &buf_; }
    const char *data() const noexcept { return buf_.ptr ? buf_.ptr : ""; }
    const char *c_str() const noexcept { return data(); }
    size_t size() const noexcept { return buf_.len; }
    bool empty() const noexcept { return buf_.len == 0; }
    /** @brief True when the library filled it (ptr set), even with zero bytes. */
    bool has_value() const noexcept { return buf_.ptr != nullptr; }
    std::string_view view() const noexcept { return std::string_view(data(), size()); }
    std::string str() const { return std::string(data(), size()); }
    /** @brief Wipes and frees now. */
    void reset() noexcept { cotter_buf_dispose(&buf_); }
    /** @brief Allocates `len` bytes (+NUL) with the library's allocator (for storage load hooks). */
    static void alloc_into(cotter_buf *out, size_t len) { detail::check(cotter_buf_alloc(out, len)); }

  private:
    cotter_buf buf_ = COTTER_BUF_INIT;
};

namespace detail {
/// The owner half of every handle class: a unique pointer with the C free function as deleter.
template <class T, void (*Free)(T *)>
struct deleter {
    void operator()(T *p) const noexcept { Free(p); }
};
template <class T, void (*Free)(T *)>
using owner = std::unique_ptr<T, deleter<T, Free>>;
}  // namespace detail

// Declares the move-only owner class `Name` over view `Name##Ref`: the owned pointer lives in the
// unique_ptr and the view's pointer mirrors it (both are updated together on move).
#define COTTER_HPP_OWNER(Name, CType, FreeFn)                                                        \
  public:                                                                                            \
    Name() noexcept = default;                                                                       \
    explicit Name(CType *owned) noexcept : Name##Ref(owned), own_(owned) {}                          \
    Name(Name &&o) noexcept : Name##Ref(o.ptr_), own_(std::move(o.own_)) { o.ptr_ = nullptr; }       \
    Name &operator=(Name &&o) noexcept {                                                             \
        if (this != &o) {                                                                            \
            own_ = std::move(o.own_);                                                                \
            ptr_ = o.ptr_;                                                                           \
            o.ptr_ = nullptr;                                                                        \
        }                                                                                            \
        return *this;                                                                                \
    }                                                                                                \
    Name(const Name &) = delete;                                                                     \
    Name &operator=(const Name &) = delete;                                                          \
    /** @brief Gives up ownership; the caller must free the pointer. */                              \
    CType *release() noexcept {                                                                      \
        ptr_ = nullptr;                                                                              \
        return own_.release();                                                                       \
    }                                                                                                \
    CType *get() noexcept { return own_.get(); }                                                     \
    const CType *get() const noexcept { return own_.get(); }                                         \
    /** @brief Frees now. */                                                                         \
    void reset() noexcept {                                                                          \
        ptr_ = nullptr;                                                                              \
        own_.reset();                                                                                \
    }                                                                                                \
                                                                                                     \
  private:                                                                                           \
    detail::owner<CType, FreeFn> own_;

// ------------------------------------------------------------------------------------------------
// JWT verification
// ------------------------------------------------------------------------------------------------

/** @brief Defaults for cotter_jwt_verifier_new (strings NULL: the caller points them at storage it keeps). */
inline cotter_jwt_verifier_options jwt_verifier_options() {
    cotter_jwt_verifier_options o;
    detail::check(cotter_jwt_verifier_options_init(&o, COTTER_JWT_VERIFIER_OPTIONS_VERSION));
    return o;
}

/** @brief Borrowed view of verified claims. */
class ClaimsRef {
  public:
    ClaimsRef() noexcept = default;
    explicit ClaimsRef(const cotter_claims *p) noexcept : ptr_(p) {}
    const cotter_claims *ptr() const noexcept { return ptr_; }
    explicit operator bool() const noexcept { return ptr_ != nullptr; }

    // The getters of cotter.h (cotter_claims_*), one to one: see their doc comments there.
    // BEGIN GENERATED claims getters (scripts/gen.py from capi/abi.json; do not edit)
    const char *sub() const noexcept { return cotter_claims_sub(ptr_); }
    const char *iss() const noexcept { return cotter_claims_iss(ptr_); }
    const char *identifier() const noexcept { return cotter_claims_identifier(ptr_); }
    const char *authentication_method() const noexcept { return cotter_claims_authentication_method(ptr_); }
    const char *scope() const noexcept { return cotter_claims_scope(ptr_); }
    const char *type() const noexcept { return cotter_claims_type(ptr_); }
    const char *client_user_id() const noexcept { return cotter_claims_client_user_id(ptr_); }
    const char *jti() const noexcept { return cotter_claims_jti(ptr_); }
    const char *auth_time() const noexcept { return cotter_claims_auth_time(ptr_); }
    const char *kid() const noexcept { return cotter_claims_kid(ptr_); }
    size_t audience_count() const noexcept { return cotter_claims_audience_count(ptr_); }
    const char *audience(size_t index) const noexcept { return cotter_claims_audience(ptr_, index); }
    int64_t exp() const noexcept { return cotter_claims_exp(ptr_); }
    int64_t iat() const noexcept { return cotter_claims_iat(ptr_); }
    int64_t nbf() const noexcept { return cotter_claims_nbf(ptr_); }
    // END GENERATED claims getters
    /** @brief The verified payload JSON, byte for byte. */
    std::string_view json() const noexcept {
        size_t n = 0;
        const char *p = cotter_claims_json(ptr_, &n);
        return detail::view_of(p, n);
    }

  protected:
    const cotter_claims *ptr_ = nullptr;
};

/** @brief Owned verified claims (cotter_claims_free). */
class Claims : public ClaimsRef {
    COTTER_HPP_OWNER(Claims, cotter_claims, cotter_claims_free)
};

/** @brief An ES256 JWT verifier (thread-safe, shareable). */
class JwtVerifierRef {
  public:
    JwtVerifierRef() noexcept = default;
    explicit JwtVerifierRef(cotter_jwt_verifier *p) noexcept : ptr_(p) {}
    cotter_jwt_verifier *ptr() const noexcept { return ptr_; }
    explicit operator bool() const noexcept { return ptr_ != nullptr; }

    /** @brief Verifies `token`; returns the verified claims or throws (COTTER_EJWT_*, COTTER_EJWKS_*...). */
    Claims verify(std::string_view token) const {
        cotter_claims *out = nullptr;
        detail::call([&](cotter_error **e) { return cotter_jwt_verify(&out, mut(), token.data(), token.size(), e); });
        return Claims(out);
    }
    /** @brief Verifies `token` without building claims (verdict only). */
    void check(std::string_view token) const {
        detail::call([&](cotter_error **e) { return cotter_jwt_verify(nullptr, mut(), token.data(), token.size(), e); });
    }
    /** @brief Refetches a remote key set now. */
    void refresh() const {
        detail::call([&](cotter_error **e) { return cotter_jwt_verifier_refresh(mut(), e); });
    }
    /** @brief refresh() without blocking (defined after Call). */
    class Call refresh_start(const cotter_call_options *opts) const;

  protected:
    // The C calls take a non-const verifier (its key cache changes) but are thread-safe.
    cotter_jwt_verifier *mut() const noexcept { return ptr_; }
    cotter_jwt_verifier *ptr_ = nullptr;
};

class JwtVerifier : public JwtVerifierRef {
    COTTER_HPP_OWNER(JwtVerifier, cotter_jwt_verifier, cotter_jwt_verifier_free)
  public:
    /** @brief cotter_jwt_verifier_new. Option strings are copied by the library. */
    static JwtVerifier create(const cotter_jwt_verifier_options &opts) {
        cotter_jwt_verifier *out = nullptr;
        detail::call([&](cotter_error **e) { return cotter_jwt_verifier_new(&out, &opts, e); });
        return JwtVerifier(out);
    }
};

// ------------------------------------------------------------------------------------------------
// Older Ed25519 tokens
// ------------------------------------------------------------------------------------------------

/** @brief cotter_identity_token_verify; `public_key_b64` NULL = Cotter's key; `now` 0 = system clock. */
inline void identity_token_verify(const char *identity_token_json, const char *api_key_id,
                                  const char *public_key_b64 = nullptr, int64_t now = 0) {
    detail::call([&](cotter_error **e) {
        return cotter_identity_token_verify(identity_token_json, api_key_id, public_key_b64, now, e);
    });
}
/** @brief cotter_event_token_verify. */
inline void event_token_verify(const char *event_token_json, const char *api_key_id,
                               const char *public_key_b64 = nullptr) {
    detail::call([&](cotter_error **e) {
        return cotter_event_token_verify(event_token_json, api_key_id, public_key_b64, e);
    });
}

// ------------------------------------------------------------------------------------------------
// OAuth token set
// ------------------------------------------------------------------------------------------------

class Token;

/** @brief Borrowed view of an oauth token set (e.g. the one inside an identity, or in a callback). */
class TokenRef {
  public:
    TokenRef() noexcept = default;
    explicit TokenRef(const cotter_token *p) noexcept : ptr_(p) {}
    const cotter_token *ptr() const noexcept { return ptr_; }
    explicit operator bool() const noexcept { return ptr_ != nullptr; }

    // The getters of cotter.h (cotter_token_*), one to one: see their doc comments there.
    // BEGIN GENERATED token getters (scripts/gen.py from capi/abi.json; do not edit)
    const char *access_token() const noexcept { return cotter_token_access_token(ptr_); }
    const char *id_token() const noexcept { return cotter_token_id_token(ptr_); }
    const char *refresh_token() const noexcept { return cotter_token_refresh_token(ptr_); }
    const char *token_type() const noexcept { return cotter_token_token_type(ptr_); }
    const char *auth_method() const noexcept { return cotter_token_auth_method(ptr_); }
    int64_t expires_in() const noexcept { return cotter_token_expires_in(ptr_); }
    int64_t access_token_expires_at() const noexcept { return cotter_token_access_token_expires_at(ptr_); }
    // END GENERATED token getters
    /** @brief The six-key oauth_token JSON (holds secrets: keep it in a unique_buf). */
    unique_buf to_json() const {
        unique_buf out;
        detail::call([&](cotter_error **e) { return cotter_token_to_json(out.get(), ptr_, e); });
        return out;
    }
    /** @brief An owned copy (through JSON; the C ABI has no clone). */
    inline Token copy() const;

  protected:
    const cotter_token *ptr_ = nullptr;
};

class Token : public TokenRef {
    COTTER_HPP_OWNER(Token, cotter_token, cotter_token_free)
  public:
    /** @brief cotter_token_from_json. */
    static Token from_json(std::string_view json) {
        cotter_token *out = nullptr;
        detail::call([&](cotter_error **e) { return cotter_token_from_json(&out, json.data(), json.size(), e); });
        return Token(out);
    }
};

inline Token TokenRef::copy() const {
    unique_buf j = to_json();
    return Token::from_json(j.view());
}

// ------------------------------------------------------------------------------------------------
// PKCE and the hosted login page
// ------------------------------------------------------------------------------------------------

class PkceRef {
  public:
    PkceRef() noexcept = default;
    explicit PkceRef(const cotter_pkce *p) noexcept : ptr_(p) {}
    explicit operator bool() const noexcept { return ptr_ != nullptr; }
    // The getters of cotter.h (cotter_pkce_*), one to one: see their doc comments there.
    // BEGIN GENERATED pkce getters (scripts/gen.py from capi/abi.json; do not edit)
    const char *verifier() const noexcept { return cotter_pkce_verifier(ptr_); }
    const char *challenge() const noexcept { return cotter_pkce_challenge(ptr_); }
    const char *state() const noexcept { return cotter_pkce_state(ptr_); }
    // END GENERATED pkce getters

  protected:
    const cotter_pkce *ptr_ = nullptr;
};

class Pkce : public PkceRef {
    COTTER_HPP_OWNER(Pkce, cotter_pkce, cotter_pkce_free)
  public:
    /** @brief cotter_pkce_new: a fresh verifier, S256 challenge and state. */
    static Pkce generate() {
        cotter_pkce *out = nullptr;
        detail::call([&](cotter_error **e) { return cotter_pkce_new(&out, e); });
        return Pkce(out);
    }
};

/** @brief cotter_jwks_url: the key set's URL of a base URL (nullptr = $COTTER_BASE_URL, else Cotter's). */
inline unique_buf jwks_url(const char *base_url) {
    unique_buf out;
    detail::call([&](cotter_error **e) { return cotter_jwks_url(out.get(), base_url, e); });
    return out;
}

/** @brief cotter_pkce_challenge_of. */
inline unique_buf pkce_challenge_of(const char *verifier) {
    unique_buf out;
    detail::call([&](cotter_error **e) { return cotter_pkce_challenge_of(out.get(), verifier, e); });
    return out;
}

/**
 * @brief Defaults for cotter_login_url: COTTER_LOGIN_URL_OPTIONS_INIT (the current version, 2; from_environment 0;
 * strings NULL: the caller points them at storage it keeps). The C ABI has no cotter_login_url_options_init():
 * the struct holds nothing but pointers and flags, so the macro is its one initialiser.
 */
inline cotter_login_url_options login_url_options() noexcept {
    cotter_login_url_options o = COTTER_LOGIN_URL_OPTIONS_INIT;
    return o;
}

/** @brief cotter_login_url: the hosted-login URL, every parameter percent-encoded; throws cotter::Error. */
inline unique_buf login_url(const cotter_login_url_options &opts) {
    unique_buf out;
    detail::call([&](cotter_error **e) { return cotter_login_url(out.get(), &opts, e); });
    return out;
}

/** @brief Result of login_redirect_parse. */
struct LoginRedirect {
    unique_buf code;
    int64_t challenge_id = 0;
};

/** @brief cotter_login_redirect_parse: checks `state`, extracts `code` and `challenge_id`. */
inline LoginRedirect login_redirect_parse(const char *query, const char *expected_state) {
    LoginRedirect r;
    detail::call([&](cotter_error **e) {
        return cotter_login_redirect_parse(r.code.get(), &r.challenge_id, query, expected_state, e);
    });
    return r;
}

// ------------------------------------------------------------------------------------------------
// Asynchronous calls
// ------------------------------------------------------------------------------------------------

/**
 * @brief Options of one asynchronous call: the completion callback (runs once, on the client's I/O thread or
 * inline in the `_start` function; see cotter_call in cotter.h) and the call's total budget (0 = the default).
 */
inline cotter_call_options call_options(cotter_call_done_fn done = nullptr, void *payload = nullptr,
                                        int64_t timeout_ms = 0) {
    cotter_call_options o;
    detail::check(cotter_call_options_init(&o, COTTER_CALL_OPTIONS_VERSION));
    o.done = done;
    o.done_payload = payload;
    o.timeout_ms = timeout_ms;
    return o;
}

class CallRef {
  public:
    CallRef() noexcept = default;
    explicit CallRef(cotter_call *p) noexcept : ptr_(p) {}
    explicit operator bool() const noexcept { return ptr_ != nullptr; }
    cotter_call *ptr() const noexcept { return ptr_; }

    /** @brief Cancels the call if it has not completed (it completes with COTTER_ECANCELED). Never blocks. */
    void cancel() const noexcept { cotter_call_cancel(ptr_); }
    bool done() const noexcept { return cotter_call_is_done(ptr_) != 0; }
    /** @brief Waits (not on the I/O thread) and throws the call's error, if any. */
    void wait() const {
        detail::call([&](cotter_error **e) { return cotter_call_wait(ptr_, e); });
    }
    // Takers: wait, throw the call's error, or move its result out (once).
    Token take_token() const {
        cotter_token *out = nullptr;
        detail::call([&](cotter_error **e) { return cotter_call_take_token(&out, ptr_, e); });
        return Token(out);
    }
    unique_buf take_buf() const {
        unique_buf out;
        detail::call([&](cotter_error **e) { return cotter_call_take_buf(out.get(), ptr_, e); });
        return out;
    }
  protected:
    cotter_call *ptr_ = nullptr;
};

/** @brief Owns a call; destroying it frees the handle (cancelling the call if it has not completed). */
class Call : public CallRef {
    COTTER_HPP_OWNER(Call, cotter_call, cotter_call_free)
};

namespace detail {
/// Runs a `_start` function `f(&out, e)` and returns the owned call.
template <class F>
inline Call start(F &&f) {
    cotter_call *out = nullptr;
    call([&](cotter_error **e) { return f(&out, e); });
    return Call(out);
}
}  // namespace detail

inline Call JwtVerifierRef::refresh_start(const cotter_call_options *opts) const {
    return detail::start([&](cotter_call **out, cotter_error **e) { return cotter_jwt_verifier_refresh_start(out, mut(), opts, e); });
}

// ------------------------------------------------------------------------------------------------
// HTTP client
// ------------------------------------------------------------------------------------------------

inline cotter_client_options client_options() {
    cotter_client_options o;
    detail::check(cotter_client_options_init(&o, COTTER_CLIENT_OPTIONS_VERSION));
    return o;
}

/** @brief Result of custom_claims: the new JWT and, when a refresh token was given, the special one. */
struct CustomClaims {
    unique_buf token;
    unique_buf refresh_token;
};

/** @brief Result of verify_remote. */
struct RemoteVerdict {
    bool valid = false;
    unique_buf reason;
};

/** @brief cotter_call_take_custom_claims; `with_refresh_token` asks for the special refresh token too. */
inline CustomClaims take_custom_claims(CallRef call, bool with_refresh_token) {
    CustomClaims r;
    detail::call([&](cotter_error **e) {
        return cotter_call_take_custom_claims(r.token.get(), with_refresh_token ? r.refresh_token.get() : nullptr,
                                              call.ptr(), e);
    });
    return r;
}
/** @brief cotter_call_take_verify_remote. */
inline RemoteVerdict take_verify_remote(CallRef call) {
    RemoteVerdict r;
    int valid = 0;
    detail::call([&](cotter_error **e) { return cotter_call_take_verify_remote(&valid, r.reason.get(), call.ptr(), e); });
    r.valid = valid != 0;
    return r;
}

/** @brief A connection to Cotter's API. Thread-safe: every method may be called from any thread. Every network
 * method has a `_start` form that returns a Call at once (see cotter_call). */
class ClientRef {
  public:
    ClientRef() noexcept = default;
    explicit ClientRef(cotter_client *p) noexcept : ptr_(p) {}
    explicit operator bool() const noexcept { return ptr_ != nullptr; }
    cotter_client *ptr() const noexcept { return ptr_; }

    const char *base_url() const noexcept { return cotter_client_base_url(ptr_); }
    const char *api_key_id() const noexcept { return cotter_client_api_key_id(ptr_); }
    cotter_client_stats stats() const {
        cotter_client_stats s{};
        detail::check(cotter_client_stats_get(&s, ptr_));
        return s;
    }

    // Every call (a network request): its blocking form when the result is a token, a buffer or nothing, and its
    // non-blocking `_start` form, one to one with cotter.h.
    // BEGIN GENERATED client calls (scripts/gen.py from capi/abi.json; do not edit)
    Token grant_identity_token(const char *identity_token_json) const {
        cotter_token *out = nullptr;
        detail::call([&](cotter_error **e) {
            return cotter_client_grant_identity_token(&out, ptr_, identity_token_json, e);
        });
        return Token(out);
    }
    Token grant_event_token(const char *event_token_json) const {
        cotter_token *out = nullptr;
        detail::call([&](cotter_error **e) {
            return cotter_client_grant_event_token(&out, ptr_, event_token_json, e);
        });
        return Token(out);
    }
    Token refresh(const char *refresh_token) const {
        cotter_token *out = nullptr;
        detail::call([&](cotter_error **e) { return cotter_client_refresh(&out, ptr_, refresh_token, e); });
        return Token(out);
    }
    void logout(const char *refresh_token) const {
        detail::call([&](cotter_error **e) { return cotter_client_logout(ptr_, refresh_token, e); });
    }
    unique_buf get_identity(const char *authorization_code, int64_t challenge_id, const char *code_verifier,
                            const char *redirect_url) const {
        unique_buf out;
        detail::call([&](cotter_error **e) {
            return cotter_client_get_identity(out.get(), ptr_, authorization_code, challenge_id, code_verifier,
                                              redirect_url, e);
        });
        return out;
    }
    unique_buf user_create(const char *identifier) const {
        unique_buf out;
        detail::call([&](cotter_error **e) { return cotter_client_user_create(out.get(), ptr_, identifier, e); });
        return out;
    }
    unique_buf user_get_by_identifier(const char *identifier) const {
        unique_buf out;
        detail::call([&](cotter_error **e) {
            return cotter_client_user_get_by_identifier(out.get(), ptr_, identifier, e);
        });
        return out;
    }
    unique_buf user_get(const char *user_id) const {
        unique_buf out;
        detail::call([&](cotter_error **e) { return cotter_client_user_get(out.get(), ptr_, user_id, e); });
        return out;
    }
    unique_buf user_list(unsigned int page) const {
        unique_buf out;
        detail::call([&](cotter_error **e) { return cotter_client_user_list(out.get(), ptr_, page, e); });
        return out;
    }
    unique_buf social_tokens_list(const char *cotter_user_id) const {
        unique_buf out;
        detail::call([&](cotter_error **e) {
            return cotter_client_social_tokens_list(out.get(), ptr_, cotter_user_id, e);
        });
        return out;
    }
    unique_buf social_token_get(const char *provider, const char *cotter_user_id) const {
        unique_buf out;
        detail::call([&](cotter_error **e) {
            return cotter_client_social_token_get(out.get(), ptr_, provider, cotter_user_id, e);
        });
        return out;
    }
    void social_token_delete(const char *provider, const char *cotter_user_id) const {
        detail::call([&](cotter_error **e) {
            return cotter_client_social_token_delete(ptr_, provider, cotter_user_id, e);
        });
    }
    unique_buf event_create_pending(const char *client_user_id, const char *event, const char *code_challenge) const {
        unique_buf out;
        detail::call([&](cotter_error **e) {
            return cotter_client_event_create_pending(out.get(), ptr_, client_user_id, event, code_challenge, e);
        });
        return out;
    }
    unique_buf event_get(int64_t event_id, const char *code_verifier) const {
        unique_buf out;
        detail::call([&](cotter_error **e) {
            return cotter_client_event_get(out.get(), ptr_, event_id, code_verifier, e);
        });
        return out;
    }
    // Asynchronous forms (cotter.h, "Asynchronous calls"); `opts` may be NULL.
    Call grant_identity_token_start(const char *identity_token_json, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_grant_identity_token_start(o, ptr_, identity_token_json, opts, e);
        });
    }
    Call grant_event_token_start(const char *event_token_json, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_grant_event_token_start(o, ptr_, event_token_json, opts, e);
        });
    }
    Call refresh_start(const char *refresh_token, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_refresh_start(o, ptr_, refresh_token, opts, e);
        });
    }
    Call logout_start(const char *refresh_token, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_logout_start(o, ptr_, refresh_token, opts, e);
        });
    }
    Call custom_claims_start(const char *token, const char *custom_attributes_json, const char *refresh_token,
                             const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_custom_claims_start(o, ptr_, token, custom_attributes_json, refresh_token, opts, e);
        });
    }
    Call get_identity_start(const char *authorization_code, int64_t challenge_id, const char *code_verifier,
                            const char *redirect_url, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_get_identity_start(o, ptr_, authorization_code, challenge_id, code_verifier,
                                                    redirect_url, opts, e);
        });
    }
    Call user_create_start(const char *identifier, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_user_create_start(o, ptr_, identifier, opts, e);
        });
    }
    Call user_get_by_identifier_start(const char *identifier, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_user_get_by_identifier_start(o, ptr_, identifier, opts, e);
        });
    }
    Call user_get_start(const char *user_id, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_user_get_start(o, ptr_, user_id, opts, e);
        });
    }
    Call user_list_start(unsigned int page, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_user_list_start(o, ptr_, page, opts, e);
        });
    }
    Call social_tokens_list_start(const char *cotter_user_id, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_social_tokens_list_start(o, ptr_, cotter_user_id, opts, e);
        });
    }
    Call social_token_get_start(const char *provider, const char *cotter_user_id,
                                const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_social_token_get_start(o, ptr_, provider, cotter_user_id, opts, e);
        });
    }
    Call social_token_delete_start(const char *provider, const char *cotter_user_id,
                                   const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_social_token_delete_start(o, ptr_, provider, cotter_user_id, opts, e);
        });
    }
    Call verify_remote_start(const char *access_token, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_verify_remote_start(o, ptr_, access_token, opts, e);
        });
    }
    Call event_create_pending_start(const char *client_user_id, const char *event, const char *code_challenge,
                                    const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_event_create_pending_start(o, ptr_, client_user_id, event, code_challenge, opts, e);
        });
    }
    Call event_get_start(int64_t event_id, const char *code_verifier, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_client_event_get_start(o, ptr_, event_id, code_verifier, opts, e);
        });
    }
    // END GENERATED client calls
    // The blocking forms with results of their own (records, custom claims, the remote verdict).
    /** @brief `refresh_token` may be NULL (then no special refresh token is returned). */
    CustomClaims custom_claims(const char *token, const char *custom_attributes_json,
                               const char *refresh_token = nullptr) const {
        CustomClaims r;
        detail::call([&](cotter_error **e) {
            return cotter_client_custom_claims(r.token.get(), refresh_token ? r.refresh_token.get() : nullptr, ptr_,
                                               token, custom_attributes_json, refresh_token, e);
        });
        return r;
    }
    RemoteVerdict verify_remote(const char *access_token) const {
        RemoteVerdict r;
        int valid = 0;
        detail::call([&](cotter_error **e) {
            return cotter_client_verify_remote(&valid, r.reason.get(), ptr_, access_token, e);
        });
        r.valid = valid != 0;
        return r;
    }

  protected:
    cotter_client *ptr_ = nullptr;
};

class Client : public ClientRef {
    COTTER_HPP_OWNER(Client, cotter_client, cotter_client_free)
  public:
    /** @brief cotter_client_new. Option strings are copied by the library. */
    static Client create(const cotter_client_options &opts) {
        cotter_client *out = nullptr;
        detail::call([&](cotter_error **e) { return cotter_client_new(&out, &opts, e); });
        return Client(out);
    }
};

// ------------------------------------------------------------------------------------------------
// Token sessions
// ------------------------------------------------------------------------------------------------

inline cotter_session_options session_options() {
    cotter_session_options o;
    detail::check(cotter_session_options_init(&o, COTTER_SESSION_OPTIONS_VERSION));
    return o;
}

/** @brief One user's token set, kept valid. Thread-safe. It keeps its client alive. */
class SessionRef {
  public:
    SessionRef() noexcept = default;
    explicit SessionRef(cotter_session *p) noexcept : ptr_(p) {}
    explicit operator bool() const noexcept { return ptr_ != nullptr; }
    cotter_session *ptr() const noexcept { return ptr_; }

    // Every call, blocking and `_start` (a still-valid access token completes inline: see cotter_call).
    // BEGIN GENERATED session calls (scripts/gen.py from capi/abi.json; do not edit)
    unique_buf get_access_token() const {
        unique_buf out;
        detail::call([&](cotter_error **e) { return cotter_session_get_access_token(out.get(), ptr_, e); });
        return out;
    }
    Token get_token() const {
        cotter_token *out = nullptr;
        detail::call([&](cotter_error **e) { return cotter_session_get_token(&out, ptr_, e); });
        return Token(out);
    }
    Token refresh() const {
        cotter_token *out = nullptr;
        detail::call([&](cotter_error **e) { return cotter_session_refresh(&out, ptr_, e); });
        return Token(out);
    }
    void set_token(TokenRef token) const {
        detail::call([&](cotter_error **e) { return cotter_session_set_token(ptr_, token.ptr(), e); });
    }
    void logout() const {
        detail::call([&](cotter_error **e) { return cotter_session_logout(ptr_, e); });
    }
    // Asynchronous forms (cotter.h, "Asynchronous calls"); `opts` may be NULL.
    Call get_access_token_start(const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_session_get_access_token_start(o, ptr_, opts, e);
        });
    }
    Call get_token_start(const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_session_get_token_start(o, ptr_, opts, e);
        });
    }
    Call refresh_start(const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_session_refresh_start(o, ptr_, opts, e);
        });
    }
    Call set_token_start(TokenRef token, const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_session_set_token_start(o, ptr_, token.ptr(), opts, e);
        });
    }
    Call logout_start(const cotter_call_options *opts) const {
        return detail::start([&](cotter_call **o, cotter_error **e) {
            return cotter_session_logout_start(o, ptr_, opts, e);
        });
    }
    // END GENERATED session calls

  protected:
    cotter_session *ptr_ = nullptr;
};

class Session : public SessionRef {
    COTTER_HPP_OWNER(Session, cotter_session, cotter_session_free)
  public:
    /** @brief cotter_session_new; `initial` may be an empty view (load from storage). */
    static Session create(ClientRef client, const cotter_session_options &opts, TokenRef initial = TokenRef()) {
        cotter_session *out = nullptr;
        detail::call([&](cotter_error **e) { return cotter_session_new(&out, client.ptr(), &opts, initial.ptr(), e); });
        return Session(out);
    }
};

#undef COTTER_HPP_OWNER

}  // namespace cotter

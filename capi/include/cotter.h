/**
 * @file cotter.h
 * @brief The public C ABI of cotter, the native SDK for Cotter's passwordless-login token API.
 *
 * One header, C99, no other public header. Conventions (see docs/c-api.md):
 *  - Every function returns an `int` status: COTTER_OK (0) or a negative COTTER_E* code. Codes are pinned.
 *  - Outputs come first, then the object, then inputs, then the optional `cotter_error **out_error`
 *    (may be NULL; on failure it receives an error object that must be freed with cotter_error_free()).
 *  - Objects are opaque; `cotter_<obj>_free()` accepts NULL. Strings returned by getters are borrowed
 *    and stay valid until their parent object is freed.
 *  - Inputs are copied; the library never keeps a caller pointer past the call.
 *  - Secrets (API secret, tokens, keys) are wiped from memory when their owner is freed.
 *  - No function ever lets a C++ exception escape.
 */
#ifndef COTTER_H
#define COTTER_H

#include <stddef.h>
#include <stdint.h>

/* ============================================================================================== */
/* Version                                                                                        */
/* ============================================================================================== */

/* CMake and pyproject.toml read these lines; their source is capi/abi.json. */
/* BEGIN GENERATED version (scripts/gen.py from capi/abi.json; do not edit) */
#define COTTER_VERSION_MAJOR 0
#define COTTER_VERSION_MINOR 1
#define COTTER_VERSION_PATCH 0
#define COTTER_VERSION_NUMBER (COTTER_VERSION_MAJOR * 10000 + COTTER_VERSION_MINOR * 100 + COTTER_VERSION_PATCH)
/* END GENERATED version */

/* ============================================================================================== */
/* Export, attributes                                                                             */
/* ============================================================================================== */

#if defined(COTTER_STATIC)
#define COTTER_API
#elif defined(_WIN32)
#if defined(COTTER_BUILDING)
#define COTTER_API __declspec(dllexport)
#else
#define COTTER_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define COTTER_API __attribute__((visibility("default")))
#else
#define COTTER_API
#endif

#if defined(__cplusplus) && __cplusplus >= 201703L
#define COTTER_NODISCARD [[nodiscard]]
#elif defined(__GNUC__) || defined(__clang__)
#define COTTER_NODISCARD __attribute__((warn_unused_result))
#else
#define COTTER_NODISCARD
#endif

#if defined(__GNUC__) || defined(__clang__)
#define COTTER_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define COTTER_DEPRECATED(msg)
#endif

#ifdef __cplusplus
#define COTTER_NOEXCEPT noexcept
extern "C" {
#else
#define COTTER_NOEXCEPT
#endif

/* ============================================================================================== */
/* Status codes (pinned, append-only)                                                             */
/* ============================================================================================== */

/* BEGIN GENERATED status codes (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief Every status a cotter function can return. Values never change; new ones are appended.
 *
 * Groups: general (-1..-19), JWT verification (-20..-39, one code per class of bad token so that
 * callers and tests can tell them apart), key sets (-40..-49), Cotter's older Ed25519 tokens (-50..).
 */
typedef enum cotter_status {
    COTTER_OK = 0,
    COTTER_EINVAL = -1,               /**< A bad argument: NULL where an object is required, bad option value. */
    COTTER_ENOMEM = -2,               /**< Out of memory. */
    COTTER_ENETWORK = -3,             /**< Connection failed, reset, or the response was cut short. */
    COTTER_ETIMEOUT = -4,             /**< The connect or total timeout expired. */
    COTTER_ETLS = -5,                 /**< TLS handshake or certificate verification failed. */
    COTTER_EHTTP = -6,                /**< Non-2xx status without a usable error body (e.g. 5xx, 429 after retries). */
    COTTER_EOAUTH = -7,               /**< The API rejected the request with an error body (`msg` / RFC 6749
                                           `error`). */
    COTTER_EPROTOCOL = -8,            /**< A malformed, oversized or unexpected response. */
    COTTER_EUSER = -9,                /**< A user callback returned non-zero and aborted the operation. */
    COTTER_EINTERNAL = -10,           /**< A bug in cotter; please report it. */
    COTTER_EREAUTH = -11,             /**< No usable refresh token (absent, rejected, used): the user must log in
                                           again. */
    COTTER_ESTORAGE = -12,            /**< Token storage failed: I/O error, corrupt file, lock failure. */
    COTTER_ENOTFOUND = -13,           /**< The requested user or provider token does not exist. */
    COTTER_ESTATE = -14,              /**< A login redirect carried the wrong `state`, or an `error`. */
    COTTER_ECANCELED = -15,           /**< The call was cancelled (cotter_call_cancel(), cotter_call_free() while
                                           pending, or its client closed). */
    COTTER_ECREDENTIALS = -16,        /**< The API key id or secret was rejected (401, or 403 naming them): fix the
                                           configuration; the user's tokens are fine (unlike COTTER_EREAUTH). */
    COTTER_ESHARED_UNAVAILABLE = -17, /**< The shared session store (Redis) could not be reached or answered an
                                           error, and a refresh needed it. Nothing was refreshed (never a local
                                           refresh that could fork the login); retry later. Not a refresh failure. */

    COTTER_EJWT_MALFORMED = -20,     /**< Not a JWS compact token: segments, base64url, JSON, size limits. */
    COTTER_EJWT_ALG = -21,           /**< `alg` missing, not a string, `none`, or not the pinned ES256. */
    COTTER_EJWT_HEADER = -22,        /**< Forbidden or malformed header member (`jwk`, `jku`, `x5u`, `x5c`, bad
                                          `kid`, `b64`). */
    COTTER_EJWT_CRIT = -23,          /**< `crit` present: unknown extension, malformed, or empty. */
    COTTER_EJWT_DUPLICATE = -24,     /**< A JSON member name appears twice in the header or payload. */
    COTTER_EJWT_KEY_NOT_FOUND = -25, /**< No key in the key set matches the token's `kid` (after a refetch). */
    COTTER_EJWT_KEY_MISMATCH = -26,  /**< The selected key cannot verify ES256 (`kty`, `crv`, `alg`, `use`,
                                          `key_ops`). */
    COTTER_EJWT_SIGNATURE = -27,     /**< The signature is not 64 bytes, r/s out of range, or does not verify. */
    COTTER_EJWT_CLAIM_TYPE = -28,    /**< A registered claim has the wrong JSON type or range (`exp` as string...). */
    COTTER_EJWT_ISSUER = -29,        /**< `iss` is not exactly the expected issuer. */
    COTTER_EJWT_AUDIENCE = -30,      /**< `aud` does not contain the expected audience (API key id). */
    COTTER_EJWT_EXPIRED = -31,       /**< `exp` is in the past (beyond the leeway). */
    COTTER_EJWT_NOT_YET_VALID = -32, /**< `nbf` or `iat` is in the future (beyond the leeway). */
    COTTER_EJWT_MISSING_CLAIM = -33, /**< A required claim (`exp`, `iss`, `aud`) is absent. */

    COTTER_EJWKS_INVALID = -40,     /**< The key set document or one of its keys is invalid (point not on curve...). */
    COTTER_EJWKS_UNAVAILABLE = -41, /**< Keys could not be fetched and none are cached. Retryable. */

    COTTER_ELEGACY_SIGNATURE = -50, /**< An Identity/Event token's Ed25519 signature does not verify. */
    COTTER_ELEGACY_CLAIM = -51      /**< An Identity/Event token is expired, for another API key, or not approved. */
} cotter_status;
/* END GENERATED status codes */

/* BEGIN GENERATED functions: status (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief The stable name of a status, e.g. "COTTER_EJWT_SIGNATURE". Never NULL ("COTTER_EUNKNOWN" for
 * values not in the enum). Static storage. Thread-safe.
 */
COTTER_API const char *cotter_status_name(int status) COTTER_NOEXCEPT;

/** @brief A short static English description of a status. Never NULL. Thread-safe. */
COTTER_API const char *cotter_status_describe(int status) COTTER_NOEXCEPT;
/* END GENERATED functions: status */

/* ============================================================================================== */
/* Error objects                                                                                  */
/* ============================================================================================== */

/**
 * @brief Details of one failed call. Created by the library when a call fails and the caller passed a
 * non-NULL `out_error`. Must be freed with cotter_error_free(). Immutable; may be read from any thread.
 * Messages never contain secrets or tokens.
 */
typedef struct cotter_error cotter_error;

/* BEGIN GENERATED functions: errors (scripts/gen.py from capi/abi.json; do not edit) */
/** @brief The status code (negative). Returns COTTER_EINVAL when `err` is NULL. */
COTTER_API int cotter_error_code(const cotter_error *err) COTTER_NOEXCEPT;
/** @brief Human-readable message. Borrowed; valid until `err` is freed. Never NULL (empty when `err` is NULL). */
COTTER_API const char *cotter_error_message(const cotter_error *err) COTTER_NOEXCEPT;
/** @brief HTTP status of the response that caused the error, or 0 when no response was involved. */
COTTER_API int cotter_error_http_status(const cotter_error *err) COTTER_NOEXCEPT;

/**
 * @brief The server's error kind: RFC 6749 `error`, or Cotter's `type` when non-empty. Borrowed; NULL
 * when absent.
 */
COTTER_API const char *cotter_error_oauth_error(const cotter_error *err) COTTER_NOEXCEPT;

/** @brief The server's error text: Cotter's `msg` or RFC 6749 `error_description`. Borrowed; NULL when absent. */
COTTER_API const char *cotter_error_oauth_error_description(const cotter_error *err) COTTER_NOEXCEPT;
/** @brief Retry-After of the response in seconds, or -1 when absent. */
COTTER_API int64_t cotter_error_retry_after(const cotter_error *err) COTTER_NOEXCEPT;
/** @brief Frees an error. Accepts NULL. */
COTTER_API void cotter_error_free(cotter_error *err) COTTER_NOEXCEPT;
/* END GENERATED functions: errors */

/* ============================================================================================== */
/* Library                                                                                        */
/* ============================================================================================== */

/* BEGIN GENERATED functions: library (scripts/gen.py from capi/abi.json; do not edit) */
/** @brief COTTER_VERSION_NUMBER of the library actually loaded (bindings compare its major part). */
COTTER_API int cotter_version_number(void) COTTER_NOEXCEPT;
/** @brief "MAJOR.MINOR.PATCH" of the loaded library. Static storage. */
COTTER_API const char *cotter_version_string(void) COTTER_NOEXCEPT;

/**
 * @brief Reference-counted global initialisation (wraps curl_global_init). Optional: every object that
 * needs it initialises lazily and thread-safely; call it explicitly to control when it happens. Must not
 * be called from static initialisers or DllMain. Each successful call is paired with cotter_global_shutdown().
 * @return COTTER_OK, COTTER_ENOMEM or COTTER_EINTERNAL.
 */
COTTER_NODISCARD COTTER_API int cotter_global_init(void) COTTER_NOEXCEPT;

/** @brief Drops one reference taken by cotter_global_init(). */
COTTER_API void cotter_global_shutdown(void) COTTER_NOEXCEPT;
/* END GENERATED functions: library */

/* ============================================================================================== */
/* Buffers                                                                                        */
/* ============================================================================================== */

/* BEGIN GENERATED cotter_buf (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief A caller-owned byte buffer filled by the library. `ptr` is NUL-terminated (the NUL is not counted
 * in `len`). Release with cotter_buf_dispose(), which wipes the bytes (they may hold a token) and resets the
 * struct. Initialise with COTTER_BUF_INIT before first use.
 */
typedef struct cotter_buf {
    char *ptr;
    size_t len;
} cotter_buf;

#define COTTER_BUF_INIT {NULL, 0}
/* END GENERATED cotter_buf */

/* BEGIN GENERATED functions: buffers (scripts/gen.py from capi/abi.json; do not edit) */
/** @brief Wipes and frees the buffer's bytes and resets it to empty. Accepts NULL and empty buffers. */
COTTER_API void cotter_buf_dispose(cotter_buf *buf) COTTER_NOEXCEPT;
/* END GENERATED functions: buffers */

/* ============================================================================================== */
/* Callbacks                                                                                      */
/* ============================================================================================== */

/* BEGIN GENERATED log levels (scripts/gen.py from capi/abi.json; do not edit) */
/** @brief Log levels passed to cotter_log_fn. */
typedef enum cotter_log_level {
    COTTER_LOG_DEBUG = 10,
    COTTER_LOG_INFO = 20,
    COTTER_LOG_WARNING = 30,
    COTTER_LOG_ERROR = 40
} cotter_log_level;
/* END GENERATED log levels */

/**
 * @brief Receives log messages. Called on the thread that performs the operation; must not unwind and must
 * not call back into the same object. Messages never contain secrets or tokens.
 */
typedef void (*cotter_log_fn)(int level, const char *message, void *payload);

/**
 * @brief Returns the current time in Unix seconds. Lets tests and tools (`cotter verify --now`) pin the
 * clock. Called on the verifying thread; must be thread-safe when the owner is shared.
 */
typedef int64_t (*cotter_clock_fn)(void *payload);

/* ============================================================================================== */
/* Asynchronous calls                                                                             */
/* ============================================================================================== */

/**
 * @brief One network operation started without blocking. Every network function `cotter_X()` has a form
 * `cotter_X_start()` that returns a call at once; the blocking form is a thin wait on the same path.
 *
 * The rules (docs/c-api.md, "Asynchronous calls"):
 *  - Once a `_start` function returns COTTER_OK, the call completes exactly once: with its result, an error,
 *    COTTER_ETIMEOUT when its budget runs out, or COTTER_ECANCELED. A `_start` function that fails (a bad
 *    argument) creates no call and never runs the callback.
 *  - The done callback runs once, when the call completes: on the client's I/O thread, or, when the result is
 *    known at once (a session's still-valid access token), on the calling thread before `_start` returns. It
 *    must return quickly, must not unwind, and must not wait: a blocking cotter function called there fails with
 *    COTTER_EINVAL (it would wait for the very thread it runs on). Hand the completion to your own thread or
 *    event loop instead. The `call` it receives is valid for the duration of the callback.
 *  - The result is read with the taker that matches the operation (`cotter_call_take_token()`, ...) or, for
 *    operations without a result, cotter_call_wait(). A taker waits when the call has not completed (never on the
 *    I/O thread: COTTER_EINVAL), returns the call's status, and moves the result out: it can be taken once.
 *  - The handle belongs to the caller, who frees it exactly once with cotter_call_free(), from any thread, at any
 *    time, also inside the callback. Freeing a call that has not completed cancels it; its callback still runs.
 *  - A call keeps what it uses (client, session, verifier) alive until it completes, so the order in which
 *    handles are freed does not matter: freeing a client does not stop its calls in flight.
 *  - The user callbacks of an object (log, clock, storage hooks, tokens-changed) run only while it is in use: its
 *    handle is not freed, or a call on it is not freed (completed or not: a call freed before it completed ends
 *    its use at the free), or (for a client) a session on it is in use. The free that ends the last use waits for
 *    such a callback running on another thread to return; afterwards none runs again, so their payloads may be
 *    released then. Work that goes on past that point (a session refresh whose callers all gave up) runs without
 *    them: no log, the system clock, no storage hook (the new tokens stay in memory) and no tokens-changed call.
 *  - Cancelling stops the request at whatever stage it is (queued, connecting, waiting for the response,
 *    mid-body); its connection is closed, never reused half-read; the server sees the request at most once. A
 *    session refresh that was already sent is not undone: the call stops waiting, and the session stores the new
 *    tokens when they arrive (the old refresh token is dead by then).
 *
 * Thread-safety: thread-safe. cancel, take, wait and free may be called from any thread.
 */
typedef struct cotter_call cotter_call;

/**
 * @brief Runs once when a call completes (see cotter_call for the thread it runs on). Must not unwind or block.
 * @param[in] call the completed call; borrowed for the duration of the callback.
 */
typedef void (*cotter_call_done_fn)(cotter_call *call, void *payload);

/* BEGIN GENERATED cotter_call_options (scripts/gen.py from capi/abi.json; do not edit) */
#define COTTER_CALL_OPTIONS_VERSION 1

/** @brief Options of one asynchronous call. Versioned, append-only; NULL means all defaults. */
typedef struct cotter_call_options {
    unsigned int version;     /**< COTTER_CALL_OPTIONS_VERSION */
    cotter_call_done_fn done; /**< NULL = no callback (wait with a taker or cotter_call_wait()). */
    void *done_payload;       /**< Passed to `done`. */
    int64_t timeout_ms;       /**< The call's total budget (queueing and retries included; for a session call, the
                                   wait for its refresh). 0 = the client's timeout_ms (a session waits for its
                                   refresh, itself bounded by the client's timeout). Range 0..86400000. */
} cotter_call_options;

#define COTTER_CALL_OPTIONS_INIT {COTTER_CALL_OPTIONS_VERSION, NULL, NULL, 0}
/* END GENERATED cotter_call_options */

/* BEGIN GENERATED functions: calls (scripts/gen.py from capi/abi.json; do not edit) */
/** @brief Fills `opts` with defaults. @return COTTER_OK, or COTTER_EINVAL for NULL or an unknown version. */
COTTER_NODISCARD COTTER_API int cotter_call_options_init(cotter_call_options *opts,
                                                         unsigned int version) COTTER_NOEXCEPT;

/**
 * @brief Cancels the call if it has not completed: it completes with COTTER_ECANCELED. No-op after completion and
 * for NULL. Thread-safe; idempotent; never blocks.
 */
COTTER_API void cotter_call_cancel(cotter_call *call) COTTER_NOEXCEPT;

/** @brief 1 when the call has completed, 0 while it is in flight (or for NULL). Thread-safe; never blocks. */
COTTER_API int cotter_call_is_done(const cotter_call *call) COTTER_NOEXCEPT;

/**
 * @brief Waits for the call to complete and returns its status (the result, if any, stays to be taken).
 * @return the call's status; COTTER_EINVAL for NULL or when called on the I/O thread before the call completed.
 */
COTTER_NODISCARD COTTER_API int cotter_call_wait(cotter_call *call, cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief Frees the handle. Cancels the call if it has not completed (its callback still runs, once). Accepts
 * NULL. Any thread, also inside the done callback.
 */
COTTER_API void cotter_call_free(cotter_call *call) COTTER_NOEXCEPT;
/* END GENERATED functions: calls */

/* ============================================================================================== */
/* JWT verification                                                                               */
/* ============================================================================================== */

/**
 * @brief Verifies Cotter's ES256 access and ID tokens against a JWKS.
 *
 * Thread-safety: thread-safe and shareable. The key set is an immutable snapshot swapped atomically; a remote
 * key set is refreshed under an internal lock (concurrent misses share one fetch).
 */
typedef struct cotter_jwt_verifier cotter_jwt_verifier;

#define COTTER_DEFAULT_ISSUER "https://www.cotter.app"
#define COTTER_DEFAULT_BASE_URL "https://www.cotter.app/api/v0"

/* BEGIN GENERATED cotter_jwt_verifier_options (scripts/gen.py from capi/abi.json; do not edit) */
#define COTTER_JWT_VERIFIER_OPTIONS_VERSION 2

/**
 * @brief Options of cotter_jwt_verifier_new(). Versioned and append-only: initialise with
 * cotter_jwt_verifier_options_init() (or COTTER_JWT_VERIFIER_OPTIONS_INIT), then set fields.
 * Exactly one key source is required: `jwks_json`, or `jwks_url`.
 */
typedef struct cotter_jwt_verifier_options {
    unsigned int version;     /**< COTTER_JWT_VERIFIER_OPTIONS_VERSION */
    const char *audience;     /**< Required (with from_environment: NULL or "" = $COTTER_API_KEY_ID): your API key
                                   id; `aud` must contain it. */
    const char *issuer;       /**< Expected `iss`, exact match. NULL = COTTER_DEFAULT_ISSUER. */
    int64_t leeway_seconds;   /**< Clock skew allowed for exp/nbf/iat. Default 5. Range 0..300. */
    const char *jwks_json;    /**< A static JWKS document (no network). */
    const char *jwks_url;     /**< A remote JWKS, e.g. "<base_url>/token/jwks". https, or http to a loopback host. */
    const char *ca_file;      /**< PEM CA bundle for the JWKS fetch. NULL = the system store (as
                                   cotter_client_options.ca_file); with from_environment, NULL or "" =
                                   $COTTER_CA_FILE when it is set. */
    int64_t jwks_max_age_ms;  /**< Upper bound on how long fetched keys are fresh. Cache-Control max-age lowers it.
                                   Default 600000. Range 0..604800000. */
    int64_t jwks_cooldown_ms; /**< Minimum time between two fetches triggered by unknown `kid`s. Default 30000.
                                   Range 0..86400000. */
    int64_t jwks_timeout_ms;  /**< Total timeout of one JWKS fetch. Default 5000. Range 1..120000. */
    size_t jwks_max_bytes;    /**< Cap on the JWKS response body. Default 1048576 (1 MiB). Range 1..67108864. */
    size_t token_cache_size;  /**< Verified-token cache entries; 0 = off (the default; see docs/verifier.md). Range
                                   0..1048576. */
    cotter_clock_fn clock;    /**< NULL = system clock. */
    void *clock_payload;
    cotter_log_fn log;        /**< NULL = silent. */
    void *log_payload;
    /* Version 2. */
    long from_environment;    /**< 1: audience and ca_file left NULL or empty are read from $COTTER_API_KEY_ID and
                                   $COTTER_CA_FILE, as Cotter's own helpers did (Python's cotter.validate and Node's
                                   compat helpers pass 1). 0: never. Default 0. Range 0..1. */
} cotter_jwt_verifier_options;

#define COTTER_JWT_VERIFIER_OPTIONS_INIT \
    {COTTER_JWT_VERIFIER_OPTIONS_VERSION, NULL, NULL, 5, NULL, NULL, NULL, 600000, 30000, 5000, 1048576, 0, NULL, NULL, NULL, NULL, 0}
/* END GENERATED cotter_jwt_verifier_options */

/* BEGIN GENERATED functions: verifier (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief Fills `opts` with defaults for the given version.
 * @return COTTER_OK, or COTTER_EINVAL when `opts` is NULL or `version` is unknown.
 */
COTTER_NODISCARD COTTER_API int cotter_jwt_verifier_options_init(cotter_jwt_verifier_options *opts,
                                                                 unsigned int version) COTTER_NOEXCEPT;

/**
 * @brief Creates a verifier. A static `jwks_json` is parsed now; a remote `jwks_url` is fetched lazily on the
 * first verification (or eagerly with cotter_jwt_verifier_refresh()).
 * @param[out] out the verifier; must be freed with cotter_jwt_verifier_free().
 * @return COTTER_OK, COTTER_EINVAL (bad options, non-https remote URL), COTTER_EJWKS_INVALID, COTTER_ENOMEM.
 */
COTTER_NODISCARD COTTER_API int cotter_jwt_verifier_new(cotter_jwt_verifier **out,
                                                        const cotter_jwt_verifier_options *opts,
                                                        cotter_error **out_error) COTTER_NOEXCEPT;

/** @brief Frees a verifier. Accepts NULL. No verification may be in progress on it. */
COTTER_API void cotter_jwt_verifier_free(cotter_jwt_verifier *verifier) COTTER_NOEXCEPT;

/**
 * @brief Fetches the remote key set now (ignoring max age, not the cooldown). No-op for a static key set.
 * @return COTTER_OK, COTTER_EJWKS_UNAVAILABLE, COTTER_EJWKS_INVALID. Last-good keys survive a failure.
 */
COTTER_NODISCARD COTTER_API int cotter_jwt_verifier_refresh(cotter_jwt_verifier *verifier,
                                                            cotter_error **out_error) COTTER_NOEXCEPT;
/**
 * @brief cotter_jwt_verifier_refresh() without blocking; finish with cotter_call_wait(). Concurrent refreshes share
 * one fetch: cancelling a call (or its timeout_ms) ends only its own wait, and the fetch stops when no call waits for
 * it any more. The fetch itself is bounded by jwks_timeout_ms. The call keeps the verifier alive.
 */
COTTER_NODISCARD COTTER_API int cotter_jwt_verifier_refresh_start(cotter_call **out, cotter_jwt_verifier *verifier,
                                                                  const cotter_call_options *call_opts,
                                                                  cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: verifier */

/**
 * @brief Verified claims of one token. Immutable; shareable across threads. Must be freed with
 * cotter_claims_free(). Exists only for tokens whose signature and claims were verified.
 */
typedef struct cotter_claims cotter_claims;

/* BEGIN GENERATED functions: jwt (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief Verifies a compact JWS: structure, header policy, ES256 signature (always before any claim), then
 * `iss`, `aud`, `exp`, `nbf`, `iat`.
 * @param[out] out verified claims (must be freed with cotter_claims_free()), or NULL when the caller needs only
 * the verdict. Left NULL on failure: claims are never returned for an unverified token.
 * @param[in] token the token bytes; need not be NUL-terminated.
 * @param[in] token_len length in bytes (at most 16 KiB, else COTTER_EJWT_MALFORMED).
 * @return COTTER_OK, a COTTER_EJWT_* code, COTTER_EJWKS_UNAVAILABLE, COTTER_EJWKS_INVALID, COTTER_EINVAL,
 * COTTER_ENOMEM. Thread-safe.
 */
COTTER_NODISCARD COTTER_API int cotter_jwt_verify(cotter_claims **out, cotter_jwt_verifier *verifier, const char *token,
                                                  size_t token_len, cotter_error **out_error) COTTER_NOEXCEPT;

/** @brief Frees claims. Accepts NULL. */
COTTER_API void cotter_claims_free(cotter_claims *claims) COTTER_NOEXCEPT;

/* String claims: borrowed, valid until `claims` is freed; NULL when absent or not a string. */
COTTER_API const char *cotter_claims_sub(const cotter_claims *claims) COTTER_NOEXCEPT;
COTTER_API const char *cotter_claims_iss(const cotter_claims *claims) COTTER_NOEXCEPT;
COTTER_API const char *cotter_claims_identifier(const cotter_claims *claims) COTTER_NOEXCEPT;
COTTER_API const char *cotter_claims_authentication_method(const cotter_claims *claims) COTTER_NOEXCEPT;
COTTER_API const char *cotter_claims_scope(const cotter_claims *claims) COTTER_NOEXCEPT;
COTTER_API const char *cotter_claims_type(const cotter_claims *claims) COTTER_NOEXCEPT;
COTTER_API const char *cotter_claims_client_user_id(const cotter_claims *claims) COTTER_NOEXCEPT;
COTTER_API const char *cotter_claims_jti(const cotter_claims *claims) COTTER_NOEXCEPT;
/** @brief `auth_time` of ID tokens as text (Cotter sends a string; a number is rendered in decimal). */
COTTER_API const char *cotter_claims_auth_time(const cotter_claims *claims) COTTER_NOEXCEPT;
/** @brief The `kid` of the key that verified the token, NULL for a kid-less single-key set. */
COTTER_API const char *cotter_claims_kid(const cotter_claims *claims) COTTER_NOEXCEPT;
/** @brief Number of audiences (a string `aud` counts as one). */
COTTER_API size_t cotter_claims_audience_count(const cotter_claims *claims) COTTER_NOEXCEPT;
/** @brief The i-th audience, NULL when out of range. Borrowed. */
COTTER_API const char *cotter_claims_audience(const cotter_claims *claims, size_t index) COTTER_NOEXCEPT;

/* Numeric date claims in Unix seconds; 0 when absent. A NumericDate with a fraction (RFC 7519 §2 allows
 * 1796537618.5) is reported floored (1796537618); the verifier compared the number itself. */
COTTER_API int64_t cotter_claims_exp(const cotter_claims *claims) COTTER_NOEXCEPT;
COTTER_API int64_t cotter_claims_iat(const cotter_claims *claims) COTTER_NOEXCEPT;
COTTER_API int64_t cotter_claims_nbf(const cotter_claims *claims) COTTER_NOEXCEPT;

/**
 * @brief The whole verified payload as JSON, byte for byte as signed (custom claims live here).
 * @param[out] len_out its length; may be NULL. @return borrowed, NUL-terminated, valid until `claims` is freed.
 */
COTTER_API const char *cotter_claims_json(const cotter_claims *claims, size_t *len_out) COTTER_NOEXCEPT;
/* END GENERATED functions: jwt */

/* ============================================================================================== */
/* Cotter's older Ed25519-signed tokens (Identity Token, Event Token)                             */
/* ============================================================================================== */

/** @brief Cotter's published Ed25519 public key (standard base64 of 32 bytes), the default for the calls below. */
#define COTTER_LEGACY_PUBLIC_KEY "qqOaiQGjGsxBMgI5rdAasaACRiJthOqadmefjY5mS/c="

/* BEGIN GENERATED functions: legacy tokens (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief Verifies an Identity Token (the `token` object of get_identity): the Ed25519 signature over
 * `identifier + identifier_type + receiver + expire_at`, `receiver == api_key_id`, and `expire_at > now`.
 * @param[in] identity_token_json the JSON object as received.
 * @param[in] api_key_id expected receiver.
 * @param[in] public_key_b64 standard base64 Ed25519 key; NULL = COTTER_LEGACY_PUBLIC_KEY.
 * @param[in] now Unix seconds; 0 = the system clock.
 * @return COTTER_OK, COTTER_ELEGACY_SIGNATURE, COTTER_ELEGACY_CLAIM, COTTER_EPROTOCOL (bad JSON or fields),
 * COTTER_EINVAL. Thread-safe.
 */
COTTER_NODISCARD COTTER_API int cotter_identity_token_verify(const char *identity_token_json, const char *api_key_id,
                                                             const char *public_key_b64, int64_t now,
                                                             cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief Verifies an Event Token: the Ed25519 signature over
 * `client_user_id + issuer + event + timestamp + method + new + approved` (booleans as true/false),
 * `issuer == api_key_id` and `approved == true`.
 * @return as cotter_identity_token_verify(). Thread-safe.
 */
COTTER_NODISCARD COTTER_API int cotter_event_token_verify(const char *event_token_json, const char *api_key_id,
                                                          const char *public_key_b64,
                                                          cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: legacy tokens */

/* ============================================================================================== */
/* OAuth token set                                                                                */
/* ============================================================================================== */

/**
 * @brief Cotter's `oauth_token` object: access_token, id_token, refresh_token, token_type, auth_method,
 * expires_in. Immutable; shareable across threads. Must be freed with cotter_token_free() (which wipes it).
 */
typedef struct cotter_token cotter_token;

/* BEGIN GENERATED functions: token set (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief Parses an `oauth_token` JSON object (e.g. a token file written by Cotter's Python SDK).
 * @param[out] out must be freed with cotter_token_free().
 * @return COTTER_OK, COTTER_EPROTOCOL (not an object, `access_token` missing or not a string), COTTER_EINVAL.
 */
COTTER_NODISCARD COTTER_API int cotter_token_from_json(cotter_token **out, const char *json, size_t json_len,
                                                       cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief Serialises to the six-key `oauth_token` JSON (absent strings omitted).
 * @param[out] out caller-owned; release with cotter_buf_dispose().
 */
COTTER_NODISCARD COTTER_API int cotter_token_to_json(cotter_buf *out, const cotter_token *token,
                                                     cotter_error **out_error) COTTER_NOEXCEPT;

/** @brief Frees and wipes a token set. Accepts NULL. */
COTTER_API void cotter_token_free(cotter_token *token) COTTER_NOEXCEPT;

/* Borrowed, valid until `token` is freed; NULL when absent. */
COTTER_API const char *cotter_token_access_token(const cotter_token *token) COTTER_NOEXCEPT;
COTTER_API const char *cotter_token_id_token(const cotter_token *token) COTTER_NOEXCEPT;
COTTER_API const char *cotter_token_refresh_token(const cotter_token *token) COTTER_NOEXCEPT;
COTTER_API const char *cotter_token_token_type(const cotter_token *token) COTTER_NOEXCEPT;
COTTER_API const char *cotter_token_auth_method(const cotter_token *token) COTTER_NOEXCEPT;
/** @brief `expires_in` in seconds as received; 0 when absent. */
COTTER_API int64_t cotter_token_expires_in(const cotter_token *token) COTTER_NOEXCEPT;

/**
 * @brief `exp` of the access token read WITHOUT verifying it (for scheduling a refresh, never for
 * authorisation); 0 when it cannot be read.
 */
COTTER_API int64_t cotter_token_access_token_expires_at(const cotter_token *token) COTTER_NOEXCEPT;
/* END GENERATED functions: token set */

/* ============================================================================================== */
/* HTTP client                                                                                    */
/* ============================================================================================== */

/**
 * @brief A connection to Cotter's API (or a compatible server such as the bundled emulator).
 *
 * Thread-safety: thread-safe. Requests run on the client's own I/O thread, driven by libcurl's multi interface:
 * a call in flight holds a socket, never a thread; concurrent calls share keep-alive connections (up to
 * `max_host_connections` per host) and multiplex over one TLS connection when the server speaks HTTP/2. Every
 * network function has a non-blocking `_start` form (see cotter_call); the blocking form waits on the same path.
 * The I/O thread starts with the first request and ends when the client and everything using it are freed.
 *
 * Errors: every call that reaches the API returns COTTER_ECREDENTIALS when the server rejects the API key id or
 * secret (401, a 403 naming API_KEY_ID / API_SECRET_KEY, or `invalid_client`): a configuration error, never
 * COTTER_EREAUTH, also on a refresh.
 */
typedef struct cotter_client cotter_client;

/* BEGIN GENERATED cotter_client_options (scripts/gen.py from capi/abi.json; do not edit) */
#define COTTER_CLIENT_OPTIONS_VERSION 3

/** @brief Options of cotter_client_new(). Versioned, append-only; initialise with cotter_client_options_init(). */
typedef struct cotter_client_options {
    unsigned int version;       /**< COTTER_CLIENT_OPTIONS_VERSION */
    const char *api_key_id;     /**< Required (with from_environment: NULL or "" = $COTTER_API_KEY_ID). Sent as
                                     header API_KEY_ID. */
    const char *api_secret_key; /**< Needed by server-side calls (grants, custom claims, users list, social tokens).
                                     Never logged. NULL = none (with from_environment: NULL or "" =
                                     $COTTER_API_SECRET_KEY). */
    const char *base_url;       /**< NULL = $COTTER_BASE_URL, else COTTER_DEFAULT_BASE_URL. */
    const char *worker_url;     /**< Serverless verify endpoint. NULL = $COTTER_WORKER_URL, else
                                     "https://worker.cotter.app/verify". */
    const char *ca_file;        /**< PEM CA bundle. NULL = the system store ($SSL_CERT_FILE, else libcurl's bundle,
                                     else the distribution's usual path). TLS verification is always on. */
    int64_t connect_timeout_ms; /**< Default 10000. At least 1. */
    int64_t timeout_ms;         /**< Total per request. Default 30000. At least 1. */
    int max_retries;            /**< Retries of idempotent requests (GET, DELETE) on network errors, 429 and 5xx.
                                     Grants and refreshes are never retried. Default 2. Range 0..10. */
    int64_t retry_base_ms;      /**< First backoff; doubled each retry, with full jitter; Retry-After wins when
                                     larger. Default 200. At least 0. */
    int64_t retry_max_ms;       /**< Cap on one backoff. Default 5000. At least 0. */
    size_t max_response_bytes;  /**< Response body cap. Default 8388608 (8 MiB). At least 1. */
    cotter_log_fn log;          /**< NULL = silent. Called on the client's I/O thread. */
    void *log_payload;
    /* Version 2. */
    long max_host_connections;  /**< Open connections per host; further requests queue. 0 = no cap (the default). At
                                     least 0. */
    /* Version 3. */
    long from_environment;      /**< 1: api_key_id and api_secret_key left NULL or empty are read from
                                     $COTTER_API_KEY_ID and $COTTER_API_SECRET_KEY, as Cotter's own SDKs did (the
                                     Python client passes 1). 0: never, so a NULL secret stays absent whatever the
                                     environment holds. Default 0. Range 0..1. */
} cotter_client_options;

#define COTTER_CLIENT_OPTIONS_INIT \
    {COTTER_CLIENT_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, 10000, 30000, 2, 200, 5000, 8388608, NULL, NULL, 0, 0}
/* END GENERATED cotter_client_options */

/* BEGIN GENERATED functions: client (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief Fills `opts` with defaults for `version` (1 to 3; a version-1 struct has no max_host_connections, a
 * version-2 one no from_environment).
 * @return COTTER_OK or COTTER_EINVAL.
 */
COTTER_NODISCARD COTTER_API int cotter_client_options_init(cotter_client_options *opts,
                                                           unsigned int version) COTTER_NOEXCEPT;

/**
 * @brief Creates a client. Copies every option string.
 * @param[out] out must be freed with cotter_client_free() (wipes the secret).
 * @return COTTER_OK, COTTER_EINVAL (missing api_key_id, bad base URL, option out of range), COTTER_ENOMEM,
 * COTTER_EINTERNAL.
 */
COTTER_NODISCARD COTTER_API int cotter_client_new(cotter_client **out, const cotter_client_options *opts,
                                                  cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief Frees the client handle. Accepts NULL. Calls in flight and sessions on the client keep it alive until
 * they complete or are freed; then its I/O thread ends. The API secret is wiped then.
 */
COTTER_API void cotter_client_free(cotter_client *client) COTTER_NOEXCEPT;

/** @brief The effective base URL. Borrowed; valid until `client` is freed. */
COTTER_API const char *cotter_client_base_url(const cotter_client *client) COTTER_NOEXCEPT;

/**
 * @brief The client's API key id (the one given, or $COTTER_API_KEY_ID's with from_environment). Borrowed; valid
 * until `client` is freed.
 */
COTTER_API const char *cotter_client_api_key_id(const cotter_client *client) COTTER_NOEXCEPT;

/**
 * @brief Where the API publishes its key set: `<base URL>/token/jwks`, the base URL being `base_url`, else
 * $COTTER_BASE_URL, else COTTER_DEFAULT_BASE_URL (a client's own rule), trailing slashes dropped. The one place
 * the bindings take a JWKS URL from a base URL.
 * @param base_url NULL or "" for the default.
 * @param[out] out release with cotter_buf_dispose().
 * @return COTTER_OK, COTTER_EINVAL (a base URL that is neither https nor http to a loopback host), COTTER_ENOMEM.
 */
COTTER_NODISCARD COTTER_API int cotter_jwks_url(cotter_buf *out, const char *base_url,
                                                cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: client */

/* BEGIN GENERATED cotter_client_stats (scripts/gen.py from capi/abi.json; do not edit) */
/** @brief Counters of one client, for tests and monitoring. */
typedef struct cotter_client_stats {
    unsigned int version; /**< Set by the library to 1. */
    uint64_t requests;    /**< HTTP requests sent, retries included. */
    uint64_t connections; /**< New TCP connections opened (keep-alive reuse keeps this low). */
    uint64_t retries;     /**< Automatic retries performed. */
} cotter_client_stats;
/* END GENERATED cotter_client_stats */

/* BEGIN GENERATED functions: client stats (scripts/gen.py from capi/abi.json; do not edit) */
/** @brief Reads the counters. Thread-safe. @return COTTER_OK or COTTER_EINVAL. */
COTTER_NODISCARD COTTER_API int cotter_client_stats_get(cotter_client_stats *out,
                                                        const cotter_client *client) COTTER_NOEXCEPT;
/* END GENERATED functions: client stats */

/* --- Grants (POST /token, never retried automatically) ------------------------------------------ */

/* BEGIN GENERATED functions: grants (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief Exchanges an Identity Token (JSON object) for an oauth token set. Needs the API secret.
 * @param[out] out must be freed with cotter_token_free().
 * @return COTTER_OK, COTTER_EOAUTH, COTTER_ECREDENTIALS, COTTER_EHTTP, COTTER_ENETWORK, COTTER_ETIMEOUT, COTTER_ETLS,
 * COTTER_EPROTOCOL, COTTER_EINVAL. Thread-safe.
 */
COTTER_NODISCARD COTTER_API int cotter_client_grant_identity_token(cotter_token **out, cotter_client *client,
                                                                   const char *identity_token_json,
                                                                   cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_grant_identity_token() without blocking; read the result with cotter_call_take_token(). */
COTTER_NODISCARD COTTER_API int cotter_client_grant_identity_token_start(cotter_call **out, cotter_client *client,
                                                                         const char *identity_token_json,
                                                                         const cotter_call_options *call_opts,
                                                                         cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief Exchanges an Event Token (JSON object) for an oauth token set. Needs the API secret. As above. */
COTTER_NODISCARD COTTER_API int cotter_client_grant_event_token(cotter_token **out, cotter_client *client,
                                                                const char *event_token_json,
                                                                cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_grant_event_token() without blocking; read the result with cotter_call_take_token(). */
COTTER_NODISCARD COTTER_API int cotter_client_grant_event_token_start(cotter_call **out, cotter_client *client,
                                                                      const char *event_token_json,
                                                                      const cotter_call_options *call_opts,
                                                                      cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief POST /token/<api_key_id> with a refresh token. Cotter rotates refresh tokens: the old one is invalid
 * afterwards. When the response has no `refresh_token` the returned set carries the one passed in.
 * @return as above, and COTTER_EREAUTH when the server rejects the refresh token.
 */
COTTER_NODISCARD COTTER_API int cotter_client_refresh(cotter_token **out, cotter_client *client,
                                                      const char *refresh_token,
                                                      cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_refresh() without blocking; read the result with cotter_call_take_token(). */
COTTER_NODISCARD COTTER_API int cotter_client_refresh_start(cotter_call **out, cotter_client *client,
                                                            const char *refresh_token,
                                                            const cotter_call_options *call_opts,
                                                            cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief DELETE /token/<api_key_id>: ends the server session of `refresh_token` (may be NULL). */
COTTER_NODISCARD COTTER_API int cotter_client_logout(cotter_client *client, const char *refresh_token,
                                                     cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_logout() without blocking; read the result with cotter_call_wait(). */
COTTER_NODISCARD COTTER_API int cotter_client_logout_start(cotter_call **out, cotter_client *client,
                                                           const char *refresh_token,
                                                           const cotter_call_options *call_opts,
                                                           cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief POST /token/custom: a new token carrying `custom_attributes_json` (a JSON object) as top-level claims.
 * @param[out] token_out the new JWT; release with cotter_buf_dispose().
 * @param[out] refresh_token_out when `refresh_token` is given, the special refresh token that keeps the claims;
 * may be NULL.
 */
COTTER_NODISCARD COTTER_API int cotter_client_custom_claims(cotter_buf *token_out, cotter_buf *refresh_token_out,
                                                            cotter_client *client, const char *token,
                                                            const char *custom_attributes_json,
                                                            const char *refresh_token,
                                                            cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_custom_claims() without blocking; read the result with cotter_call_take_custom_claims(). */
COTTER_NODISCARD COTTER_API int cotter_client_custom_claims_start(cotter_call **out, cotter_client *client,
                                                                  const char *token, const char *custom_attributes_json,
                                                                  const char *refresh_token,
                                                                  const cotter_call_options *call_opts,
                                                                  cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: grants */

/* --- PKCE login (hosted page + get_identity) ------------------------------------------------------ */

/** @brief A fresh PKCE verifier/challenge (S256) and state. Immutable. Must be freed with cotter_pkce_free() (wipes). */
typedef struct cotter_pkce cotter_pkce;

/* BEGIN GENERATED functions: pkce (scripts/gen.py from capi/abi.json; do not edit) */
/** @brief Generates 32 random bytes of verifier (base64url, 43 chars), its S256 challenge and a 22-char state. */
COTTER_NODISCARD COTTER_API int cotter_pkce_new(cotter_pkce **out, cotter_error **out_error) COTTER_NOEXCEPT;
COTTER_API void cotter_pkce_free(cotter_pkce *pkce) COTTER_NOEXCEPT;
COTTER_API const char *cotter_pkce_verifier(const cotter_pkce *pkce) COTTER_NOEXCEPT;
COTTER_API const char *cotter_pkce_challenge(const cotter_pkce *pkce) COTTER_NOEXCEPT;
COTTER_API const char *cotter_pkce_state(const cotter_pkce *pkce) COTTER_NOEXCEPT;
/** @brief base64url_nopad(SHA-256(verifier)) of any verifier. @param[out] out release with cotter_buf_dispose(). */
COTTER_NODISCARD COTTER_API int cotter_pkce_challenge_of(cotter_buf *out, const char *verifier,
                                                         cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: pkce */

#define COTTER_DEFAULT_LOGIN_URL "https://js.cotter.app/app"

/* BEGIN GENERATED cotter_login_url_options (scripts/gen.py from capi/abi.json; do not edit) */
#define COTTER_LOGIN_URL_OPTIONS_VERSION 2

/** @brief Parameters of the hosted login page (spec §2.9). Versioned, append-only. */
typedef struct cotter_login_url_options {
    unsigned int version;        /**< COTTER_LOGIN_URL_OPTIONS_VERSION */
    const char *login_url;       /**< NULL = COTTER_DEFAULT_LOGIN_URL (with from_environment: $COTTER_LOGIN_URL
                                      first). */
    const char *api_key_id;      /**< Required. */
    const char *redirect_url;    /**< Required, e.g. "http://localhost:8080". */
    const char *state;           /**< Required. */
    const char *code_challenge;  /**< Required (S256). */
    const char *identifier_type; /**< "EMAIL" (default) or "PHONE". */
    const char *auth_method;     /**< "OTP", "MAGIC_LINK" or NULL. */
    const char *input;           /**< Prefilled identifier (sets direct_login=true); NULL = none. */
    const char *cotter_user_id;  /**< NULL = none. */
    /* Version 2. */
    long from_environment;       /**< 1: login_url left NULL or empty is read from $COTTER_LOGIN_URL when it is set,
                                      as Cotter's Python SDK did (Python's login functions pass 1). 0: never, so no
                                      variable can move the page a user is sent to. Default 0. Range 0..1. */
} cotter_login_url_options;

#define COTTER_LOGIN_URL_OPTIONS_INIT \
    {COTTER_LOGIN_URL_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0}
/* END GENERATED cotter_login_url_options */

/* BEGIN GENERATED functions: login url (scripts/gen.py from capi/abi.json; do not edit) */
/** @brief Builds the hosted-login URL with every parameter percent-encoded. @param[out] out cotter_buf_dispose(). */
COTTER_NODISCARD COTTER_API int cotter_login_url(cotter_buf *out, const cotter_login_url_options *opts,
                                                 cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief Checks a login redirect's query string (with or without a leading '?') against the expected state and
 * extracts `code` and `challenge_id`.
 * @param[out] code_out the authorization code; cotter_buf_dispose().
 * @param[out] challenge_id_out the challenge id.
 * @return COTTER_OK; COTTER_ESTATE when `state` differs or the redirect carries `error`; COTTER_EPROTOCOL when
 * fields are missing or malformed.
 */
COTTER_NODISCARD COTTER_API int cotter_login_redirect_parse(cotter_buf *code_out, int64_t *challenge_id_out,
                                                            const char *query, const char *expected_state,
                                                            cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: login url */

/* Records (the identity, users, provider tokens) are handed over as the JSON the library checked, in a cotter_buf:
 * capi/abi.json `records` describes their members (docs/c-api.md, "Records: data as JSON"). */

/* BEGIN GENERATED functions: identity (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief POST /verify/get_identity?oauth_token=true: exchanges the authorization code for the user's identity
 * and oauth token set.
 * @return COTTER_OK, COTTER_EOAUTH (bad code/verifier/redirect), the transport codes, COTTER_EPROTOCOL, COTTER_EINVAL.
 * @param[out] out the `identity` record as JSON (capi/abi.json `records`); release with cotter_buf_dispose().
 */
COTTER_NODISCARD COTTER_API int cotter_client_get_identity(cotter_buf *out, cotter_client *client,
                                                           const char *authorization_code, int64_t challenge_id,
                                                           const char *code_verifier, const char *redirect_url,
                                                           cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_get_identity() without blocking; read the result with cotter_call_take_buf(). */
COTTER_NODISCARD COTTER_API int cotter_client_get_identity_start(cotter_call **out, cotter_client *client,
                                                                 const char *authorization_code, int64_t challenge_id,
                                                                 const char *code_verifier, const char *redirect_url,
                                                                 const cotter_call_options *call_opts,
                                                                 cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: identity */

/* --- Users ---------------------------------------------------------------------------------------- */

/* BEGIN GENERATED functions: users (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief POST /user/create. @return COTTER_OK, COTTER_EOAUTH, transport codes, COTTER_EPROTOCOL, COTTER_EINVAL.
 * @param[out] out the `user` record as JSON (capi/abi.json `records`); release with cotter_buf_dispose().
 */
COTTER_NODISCARD COTTER_API int cotter_client_user_create(cotter_buf *out, cotter_client *client,
                                                          const char *identifier,
                                                          cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_user_create() without blocking; read the result with cotter_call_take_buf(). */
COTTER_NODISCARD COTTER_API int cotter_client_user_create_start(cotter_call **out, cotter_client *client,
                                                                const char *identifier,
                                                                const cotter_call_options *call_opts,
                                                                cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief GET /user?identifier=. @return COTTER_ENOTFOUND when Cotter answers with the all-zero ID.
 * @param[out] out the `user` record as JSON (capi/abi.json `records`); release with cotter_buf_dispose().
 */
COTTER_NODISCARD COTTER_API int cotter_client_user_get_by_identifier(cotter_buf *out, cotter_client *client,
                                                                     const char *identifier,
                                                                     cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_user_get_by_identifier() without blocking; read the result with cotter_call_take_buf(). */
COTTER_NODISCARD COTTER_API int cotter_client_user_get_by_identifier_start(cotter_call **out, cotter_client *client,
                                                                           const char *identifier,
                                                                           const cotter_call_options *call_opts,
                                                                           cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief GET /user/:id (needs the secret). @return COTTER_ENOTFOUND on 404.
 * @param[out] out the `user` record as JSON (capi/abi.json `records`); release with cotter_buf_dispose().
 */
COTTER_NODISCARD COTTER_API int cotter_client_user_get(cotter_buf *out, cotter_client *client, const char *user_id,
                                                       cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_user_get() without blocking; read the result with cotter_call_take_buf(). */
COTTER_NODISCARD COTTER_API int cotter_client_user_get_start(cotter_call **out, cotter_client *client,
                                                             const char *user_id, const cotter_call_options *call_opts,
                                                             cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief GET /user/list?page=N (50 per page, newest first; needs the secret).
 * @param[out] out the `user_page` record as JSON (capi/abi.json `records`); release with cotter_buf_dispose().
 */
COTTER_NODISCARD COTTER_API int cotter_client_user_list(cotter_buf *out, cotter_client *client, unsigned int page,
                                                        cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_user_list() without blocking; read the result with cotter_call_take_buf(). */
COTTER_NODISCARD COTTER_API int cotter_client_user_list_start(cotter_call **out, cotter_client *client,
                                                              unsigned int page, const cotter_call_options *call_opts,
                                                              cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: users */

/* --- Social-login provider tokens ----------------------------------------------------------------- */

/* BEGIN GENERATED functions: social tokens (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief GET /oauth/token/list/:cotter_user_id (needs the secret).
 * @param[out] out a JSON array of `social_token` records (capi/abi.json `records`); release with cotter_buf_dispose().
 */
COTTER_NODISCARD COTTER_API int cotter_client_social_tokens_list(cotter_buf *out, cotter_client *client,
                                                                 const char *cotter_user_id,
                                                                 cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_social_tokens_list() without blocking; read the result with cotter_call_take_buf(). */
COTTER_NODISCARD COTTER_API int cotter_client_social_tokens_list_start(cotter_call **out, cotter_client *client,
                                                                       const char *cotter_user_id,
                                                                       const cotter_call_options *call_opts,
                                                                       cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief GET /oauth/token/:provider/:cotter_user_id. @return COTTER_ENOTFOUND when the user has none.
 * @param[out] out the `social_token` record as JSON (capi/abi.json `records`); release with cotter_buf_dispose().
 */
COTTER_NODISCARD COTTER_API int cotter_client_social_token_get(cotter_buf *out, cotter_client *client,
                                                               const char *provider, const char *cotter_user_id,
                                                               cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_social_token_get() without blocking; read the result with cotter_call_take_buf(). */
COTTER_NODISCARD COTTER_API int cotter_client_social_token_get_start(cotter_call **out, cotter_client *client,
                                                                     const char *provider, const char *cotter_user_id,
                                                                     const cotter_call_options *call_opts,
                                                                     cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief DELETE /oauth/token/:provider/:cotter_user_id. @return COTTER_ENOTFOUND when the user has none. */
COTTER_NODISCARD COTTER_API int cotter_client_social_token_delete(cotter_client *client, const char *provider,
                                                                  const char *cotter_user_id,
                                                                  cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_social_token_delete() without blocking; read the result with cotter_call_wait(). */
COTTER_NODISCARD COTTER_API int cotter_client_social_token_delete_start(cotter_call **out, cotter_client *client,
                                                                        const char *provider,
                                                                        const char *cotter_user_id,
                                                                        const cotter_call_options *call_opts,
                                                                        cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: social tokens */

/* --- Serverless verification (worker) ------------------------------------------------------------- */

/* BEGIN GENERATED functions: worker (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief POST <worker_url> (Cotter's serverless verifier, spec §2.7) with the access token.
 * @param[out] valid_out 1 when the worker says success, else 0.
 * @param[out] reason_out the worker's reason when invalid; may be NULL; cotter_buf_dispose().
 */
COTTER_NODISCARD COTTER_API int cotter_client_verify_remote(int *valid_out, cotter_buf *reason_out,
                                                            cotter_client *client, const char *access_token,
                                                            cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_verify_remote() without blocking; read the result with cotter_call_take_verify_remote(). */
COTTER_NODISCARD COTTER_API int cotter_client_verify_remote_start(cotter_call **out, cotter_client *client,
                                                                  const char *access_token,
                                                                  const cotter_call_options *call_opts,
                                                                  cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: worker */

/* --- Trusted-device events (spec §2.11): results are the event object as JSON ------------------- */

/* BEGIN GENERATED functions: events (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief POST /event/create_pending (spec §2.11): asks the trusted device of `client_user_id` to approve `event`
 * (e.g. "LOGIN"); the issuer (API key id), method TRUSTED_DEVICE and timestamp are filled in.
 * @param code_challenge NULL, or the challenge of a cotter_pkce pair: then only its verifier collects the tokens
 * (cotter_client_event_get()).
 * @param[out] out the event object as JSON (checked by the library: `ID`, `new`, `approved`); cotter_buf_dispose().
 * @return COTTER_ENOTFOUND (no such user), COTTER_EINVAL (empty names, malformed challenge), COTTER_EHTTP (e.g.
 * the user has no trusted device), transport codes. Never retried.
 */
COTTER_NODISCARD COTTER_API int cotter_client_event_create_pending(cotter_buf *out, cotter_client *client,
                                                                   const char *client_user_id, const char *event,
                                                                   const char *code_challenge,
                                                                   cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_event_create_pending() without blocking; read the result with cotter_call_take_buf(). */
COTTER_NODISCARD COTTER_API int cotter_client_event_create_pending_start(cotter_call **out, cotter_client *client,
                                                                         const char *client_user_id, const char *event,
                                                                         const char *code_challenge,
                                                                         const cotter_call_options *call_opts,
                                                                         cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief GET /event/get/:event_id: polls an event (`new` true while it waits, then `approved`).
 * @param code_verifier NULL, or the verifier of the challenge the event was created with: then an approved event
 * comes with `oauth_token` (the user's tokens, issued once; such a poll is not retried).
 * @param[out] out the event object as JSON (may hold tokens: the buffer is wiped on dispose); cotter_buf_dispose().
 * @return COTTER_ENOTFOUND (no such event), COTTER_EINVAL, COTTER_EHTTP (e.g. wrong verifier), transport codes.
 */
COTTER_NODISCARD COTTER_API int cotter_client_event_get(cotter_buf *out, cotter_client *client, int64_t event_id,
                                                        const char *code_verifier,
                                                        cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_client_event_get() without blocking; read the result with cotter_call_take_buf(). */
COTTER_NODISCARD COTTER_API int cotter_client_event_get_start(cotter_call **out, cotter_client *client,
                                                              int64_t event_id, const char *code_verifier,
                                                              const cotter_call_options *call_opts,
                                                              cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: events */

/* ============================================================================================== */
/* Shared sessions (Redis)                                                                        */
/* ============================================================================================== */

/**
 * @brief Where sessions shared by a fleet keep their tokens, their refresh lease and their version
 * (docs/shared-sessions.md): one refresh per expiry across every replica, a compare-and-set on the version as a
 * fencing check, and COTTER_ESHARED_UNAVAILABLE (never a local refresh) when Redis cannot be reached.
 *
 * The library holds the protocol and its Lua scripts; Redis is reached through an adapter: the one over hiredis that
 * ships in the library (cotter_shared_store_new_hiredis()), or your client's (cotter_shared_store_new()).
 *
 * Thread-safety: thread-safe; any number of sessions, of any clients, may share one store.
 */
typedef struct cotter_shared_store cotter_shared_store;

/**
 * @brief Completes one eval, exactly once, from any thread (inline too). `status` is COTTER_OK with the script's
 * reply, a flat array of `count` byte strings (`items[i]`, `lens[i]` bytes; borrowed for the call; integers as their
 * decimal text), or COTTER_ESHARED_UNAVAILABLE (not connected, timed out, an error reply) with `message` (may be
 * NULL; never include a script argument: they hold tokens).
 */
typedef void (*cotter_shared_store_done_fn)(void *done_ctx, int status, const char **items, const size_t *lens,
                                            size_t count, const char *message);
/**
 * @brief Runs `EVALSHA sha1 key_count keys... args...` and, on a NOSCRIPT error, `EVAL script key_count ...`; then
 * calls `done(done_ctx, ...)` once. Called on a client's I/O thread (or the thread of cotter_session_new()): must not
 * block for the round trip (hand it to your client's event loop or thread). Every string is NUL-terminated and
 * borrowed for this call only: copy what the command needs. Return 0 when started, non-zero when it could not start
 * (then `done` must not be called: the operation fails with COTTER_ESHARED_UNAVAILABLE).
 */
typedef int (*cotter_shared_store_eval_fn)(void *payload, const char *script, const char *sha1, const char **keys,
                                           size_t key_count, const char **args, size_t arg_count,
                                           cotter_shared_store_done_fn done, void *done_ctx);
/** @brief Called once, on the thread that drops the store's last use; no eval runs after it starts. */
typedef void (*cotter_shared_store_release_fn)(void *payload);
/**
 * @brief Completes one wait, exactly once, from any thread (inline too). `status`: COTTER_OK (a message arrived on
 * the channel after the wait started), COTTER_ETIMEOUT (`timeout_ms` passed without one) or
 * COTTER_ESHARED_UNAVAILABLE (the wait failed: not connected, the subscription was lost). Whatever it says, the
 * library reads the store again: a wake-up is a hint, never the data.
 */
typedef void (*cotter_shared_store_wait_done_fn)(void *done_ctx, int status);
/**
 * @brief Waits for a message on the Redis pub/sub `channel` (`<prefix>:{<id>}:changed`, published by every write of
 * the session's tokens), for at most `timeout_ms` (1..600000), then calls `done(done_ctx, status)` once. Called on a
 * client's I/O thread: must not block (subscribe on a connection of your client's that is in SUBSCRIBE mode, and
 * keep the channel subscribed while it has waiters; longer is fine). The channel is borrowed for this call only.
 * Return 0 when started, non-zero when it could not start (then `done` must not be called: the waiter falls back to
 * polling). Messages published before the subscription is active may be missed: the timeout, which the library
 * sets to its poll delay (5 ms doubling up to wait_ms), bounds what that costs. `release`
 * is never called while a wait is pending (a pending wait keeps the store alive until its `done`).
 */
typedef int (*cotter_shared_store_wait_fn)(void *payload, const char *channel, int64_t timeout_ms,
                                           cotter_shared_store_wait_done_fn done, void *done_ctx);

/* BEGIN GENERATED cotter_shared_store_options (scripts/gen.py from capi/abi.json; do not edit) */
#define COTTER_SHARED_STORE_OPTIONS_VERSION 1

/** @brief Options of a shared session store (docs/shared-sessions.md). Versioned, append-only. */
typedef struct cotter_shared_store_options {
    unsigned int version;   /**< COTTER_SHARED_STORE_OPTIONS_VERSION */
    const char *key_prefix; /**< First part of every key (`<prefix>:{<session id>}:...`). NULL = "cotter"; 1..64
                                 printable ASCII without { }. */
    int64_t lease_ttl_ms;   /**< Lifetime of the refresh lease; a refresh request gets 3/4 of it. Default 10000.
                                 Range 100..600000. */
    int64_t wait_ms;        /**< Longest single wait of a replica that found the lease held, before it reads again.
                                 Default 100. Range 1..10000. */
} cotter_shared_store_options;

#define COTTER_SHARED_STORE_OPTIONS_INIT {COTTER_SHARED_STORE_OPTIONS_VERSION, NULL, 10000, 100}
/* END GENERATED cotter_shared_store_options */

/* BEGIN GENERATED cotter_shared_store_adapter (scripts/gen.py from capi/abi.json; do not edit) */
#define COTTER_SHARED_STORE_ADAPTER_VERSION 2

/** @brief How the library reaches Redis: your client runs its scripts. Versioned, append-only; copied by cotter_shared_store_new(). */
typedef struct cotter_shared_store_adapter {
    unsigned int version;                   /**< COTTER_SHARED_STORE_ADAPTER_VERSION */
    cotter_shared_store_eval_fn eval;       /**< Required. */
    cotter_shared_store_release_fn release; /**< Called once when the store's last user is gone. May be NULL. */
    void *payload;                          /**< Passed to eval, release and wait. */
    /* Version 2. */
    cotter_shared_store_wait_fn wait;       /**< Optional: wakes a waiter on the session's `...:changed` message
                                                 (docs/shared-sessions.md). NULL = waiters poll. */
} cotter_shared_store_adapter;

#define COTTER_SHARED_STORE_ADAPTER_INIT {COTTER_SHARED_STORE_ADAPTER_VERSION, NULL, NULL, NULL, NULL}
/* END GENERATED cotter_shared_store_adapter */

/* BEGIN GENERATED cotter_hiredis_options (scripts/gen.py from capi/abi.json; do not edit) */
#define COTTER_HIREDIS_OPTIONS_VERSION 1

/** @brief Where the hiredis adapter connects. Versioned, append-only. */
typedef struct cotter_hiredis_options {
    unsigned int version;       /**< COTTER_HIREDIS_OPTIONS_VERSION */
    const char *host;           /**< NULL = "127.0.0.1" (ignored with unix_socket). */
    int port;                   /**< Default 6379. Range 1..65535. */
    const char *unix_socket;    /**< A Unix socket path instead of host and port. NULL = TCP. */
    const char *password;       /**< Sent with AUTH after connecting. NULL = none. Never logged. */
    int64_t connect_timeout_ms; /**< Default 2000. Range 1..600000. */
    int64_t command_timeout_ms; /**< Bound of one round trip; past it the store is unavailable for that call.
                                     Default 2000. Range 1..600000. */
} cotter_hiredis_options;

#define COTTER_HIREDIS_OPTIONS_INIT {COTTER_HIREDIS_OPTIONS_VERSION, NULL, 6379, NULL, NULL, 2000, 2000}
/* END GENERATED cotter_hiredis_options */

/* BEGIN GENERATED functions: shared sessions (scripts/gen.py from capi/abi.json; do not edit) */
/** @brief Fills `opts` with defaults. @return COTTER_OK, or COTTER_EINVAL for NULL or an unknown version. */
COTTER_NODISCARD COTTER_API int cotter_shared_store_options_init(cotter_shared_store_options *opts,
                                                                 unsigned int version) COTTER_NOEXCEPT;

/**
 * @brief Fills `adapter` with its version and NULLs. @return COTTER_OK, or COTTER_EINVAL for NULL or an unknown version.
 */
COTTER_NODISCARD COTTER_API int cotter_shared_store_adapter_init(cotter_shared_store_adapter *adapter,
                                                                 unsigned int version) COTTER_NOEXCEPT;

/**
 * @brief A shared session store over your Redis client (`adapter`, copied). Give it to sessions through
 * cotter_session_options.shared_store. Once this returns COTTER_OK, the adapter's `release` runs exactly once, when
 * the store and every session using it are freed; if it fails, `release` is not called.
 * @param[out] out must be freed with cotter_shared_store_free(). @param[in] opts NULL = defaults.
 * @return COTTER_OK, COTTER_EINVAL (no eval, unknown version, option out of range, bad key_prefix), COTTER_ENOMEM.
 */
COTTER_NODISCARD COTTER_API int cotter_shared_store_new(cotter_shared_store **out,
                                                        const cotter_shared_store_adapter *adapter,
                                                        const cotter_shared_store_options *opts,
                                                        cotter_error **out_error) COTTER_NOEXCEPT;

/** @brief Fills `opts` with defaults. @return COTTER_OK, or COTTER_EINVAL for NULL or an unknown version. */
COTTER_NODISCARD COTTER_API int cotter_hiredis_options_init(cotter_hiredis_options *opts,
                                                            unsigned int version) COTTER_NOEXCEPT;

/**
 * @brief A shared session store over the adapter that ships in the library: hiredis (Debian's libhiredis), one
 * connection and one thread per store, connected lazily and again after any failure. No TLS, Sentinel or Cluster:
 * for those, plug your language's client in with cotter_shared_store_new().
 * @param[out] out must be freed with cotter_shared_store_free(). @param[in] redis NULL = 127.0.0.1:6379.
 * @return COTTER_OK, COTTER_EINVAL (option out of range), COTTER_ENOMEM. Redis is not contacted here.
 */
COTTER_NODISCARD COTTER_API int cotter_shared_store_new_hiredis(cotter_shared_store **out,
                                                                const cotter_hiredis_options *redis,
                                                                const cotter_shared_store_options *opts,
                                                                cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief Frees the handle. Accepts NULL. Sessions using the store keep it alive; the adapter is released after the last.
 */
COTTER_API void cotter_shared_store_free(cotter_shared_store *store) COTTER_NOEXCEPT;
/* END GENERATED functions: shared sessions */

/* ============================================================================================== */
/* Token sessions                                                                                 */
/* ============================================================================================== */

/**
 * @brief One user's token set, kept valid: cotter_session_get_access_token() refreshes when the access token
 * expires within the margin; concurrent callers share one refresh; a transport error never destroys stored
 * tokens; with a token file, an advisory lock makes processes sharing the file refresh once.
 *
 * Operations that change the set (refresh, set, logout) run one at a time on the client's I/O thread; storage
 * hooks and the tokens-changed callback run there too, in order, and must not block for long (every request of
 * the client waits behind them). A caller whose token is still valid gets it at once, on its own thread.
 *
 * Thread-safety: thread-safe. The blocking forms fail with COTTER_EINVAL when called from a callback on the I/O
 * thread (they would wait for themselves), except get_access_token/get_token while the token is still valid.
 */
typedef struct cotter_session cotter_session;

/**
 * @brief Storage hook: load the stored `oauth_token` JSON. Leave `out` empty when nothing is stored. Storage hooks
 * run on the thread that calls cotter_session_new() (the first load or store), then on the client's I/O thread.
 * Fill `out->ptr` with memory from cotter_buf_alloc(). Return 0, or non-zero to fail with COTTER_EUSER.
 */
typedef int (*cotter_session_load_fn)(cotter_buf *out, void *payload);
/** @brief Storage hook: store `json` (`len` bytes), or delete the stored tokens when `json` is NULL. Return 0 or non-zero (COTTER_EUSER). */
typedef int (*cotter_session_save_fn)(const char *json, size_t len, void *payload);
/**
 * @brief Called after every change of the token set (refresh, set, logout with `token` NULL), on the client's I/O
 * thread, one change at a time and in order. Must not unwind or block for long. `token` is borrowed for the call. It
 * may read the session; a blocking refresh, set_token or logout of the same session from it fails with COTTER_EINVAL
 * (the `_start` forms queue behind the current change).
 */
typedef void (*cotter_tokens_changed_fn)(const cotter_token *token, void *payload);

/* BEGIN GENERATED functions: storage hooks (scripts/gen.py from capi/abi.json; do not edit) */
/** @brief Allocates a buffer of `len` bytes (+1 for the NUL) that the library may later dispose. For load hooks. */
COTTER_NODISCARD COTTER_API int cotter_buf_alloc(cotter_buf *out, size_t len) COTTER_NOEXCEPT;
/* END GENERATED functions: storage hooks */

/* BEGIN GENERATED cotter_session_options (scripts/gen.py from capi/abi.json; do not edit) */
#define COTTER_SESSION_OPTIONS_VERSION 2

/** @brief Options of cotter_session_new(). Versioned, append-only. At most one storage: `token_file`, the hooks, or `shared_store`. */
typedef struct cotter_session_options {
    unsigned int version;                       /**< COTTER_SESSION_OPTIONS_VERSION */
    int64_t refresh_margin_seconds;             /**< Refresh when the access token expires within this. Default 30.
                                                     Range 0..86400. */
    const char *token_file;                     /**< Token file (six-key oauth_token JSON, mode 0600, atomic
                                                     replace, flock). */
    cotter_session_load_fn load;                /**< Custom storage (keychain, database...). */
    cotter_session_save_fn save;
    void *storage_payload;
    cotter_tokens_changed_fn on_tokens_changed;
    void *on_tokens_changed_payload;
    cotter_clock_fn clock;                      /**< NULL = system clock. */
    void *clock_payload;
    /* Version 2. */
    cotter_shared_store *shared_store;          /**< Share the session with a fleet through Redis
                                                     (docs/shared-sessions.md); kept alive by the session. NULL =
                                                     not shared. Excludes token_file and the hooks. */
    const char *shared_session_id;              /**< The session's id in the store, the same on every replica;
                                                     required with shared_store (1..200 printable ASCII without {
                                                     }). */
} cotter_session_options;

#define COTTER_SESSION_OPTIONS_INIT \
    {COTTER_SESSION_OPTIONS_VERSION, 30, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL}
/* END GENERATED cotter_session_options */

/* BEGIN GENERATED functions: sessions (scripts/gen.py from capi/abi.json; do not edit) */
COTTER_NODISCARD COTTER_API int cotter_session_options_init(cotter_session_options *opts,
                                                            unsigned int version) COTTER_NOEXCEPT;

/**
 * @brief Creates a session on `client`, which it keeps alive (free them in any order). `initial` (copied; may be NULL) replaces what
 * storage holds; without it the session loads from storage.
 * @param[out] out must be freed with cotter_session_free().
 * @return COTTER_OK, COTTER_EINVAL, COTTER_ESTORAGE (unreadable or corrupt file), COTTER_EUSER, COTTER_ENOMEM,
 * COTTER_ESHARED_UNAVAILABLE (a shared store: Redis could not be read or written for the first load or store).
 */
COTTER_NODISCARD COTTER_API int cotter_session_new(cotter_session **out, cotter_client *client,
                                                   const cotter_session_options *opts, const cotter_token *initial,
                                                   cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief Frees the session handle. Accepts NULL. Calls in flight keep the session itself alive (a refresh already
 * sent still lands and is stored in a token file), but its hooks (load, save, tokens changed) never run again once
 * this returns: their payloads may be freed right after. Waits for a hook running on another thread to return, so
 * do not hold what a hook needs (a binding's interpreter lock) while calling it.
 */
COTTER_API void cotter_session_free(cotter_session *session) COTTER_NOEXCEPT;

/**
 * @brief A valid access token, refreshed first when needed.
 * @param[out] out the access token; cotter_buf_dispose().
 * @return COTTER_OK, COTTER_EREAUTH (no tokens or refresh rejected: log in again), COTTER_ECREDENTIALS (API key
 * id rejected; tokens kept), transport codes (tokens kept), COTTER_ESTORAGE, COTTER_EUSER.
 */
COTTER_NODISCARD COTTER_API int cotter_session_get_access_token(cotter_buf *out, cotter_session *session,
                                                                cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_session_get_access_token() without blocking; read the result with cotter_call_take_buf(). */
COTTER_NODISCARD COTTER_API int cotter_session_get_access_token_start(cotter_call **out, cotter_session *session,
                                                                      const cotter_call_options *call_opts,
                                                                      cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief The current token set, refreshed first when needed. @param[out] out cotter_token_free(). */
COTTER_NODISCARD COTTER_API int cotter_session_get_token(cotter_token **out, cotter_session *session,
                                                         cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_session_get_token() without blocking; read the result with cotter_call_take_token(). */
COTTER_NODISCARD COTTER_API int cotter_session_get_token_start(cotter_call **out, cotter_session *session,
                                                               const cotter_call_options *call_opts,
                                                               cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief Refreshes now, whatever the expiry. @param[out] out the new set, may be NULL. */
COTTER_NODISCARD COTTER_API int cotter_session_refresh(cotter_token **out, cotter_session *session,
                                                       cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_session_refresh() without blocking; read the result with cotter_call_take_token(). */
COTTER_NODISCARD COTTER_API int cotter_session_refresh_start(cotter_call **out, cotter_session *session,
                                                             const cotter_call_options *call_opts,
                                                             cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief Replaces the token set (e.g. after a login) and stores it. */
COTTER_NODISCARD COTTER_API int cotter_session_set_token(cotter_session *session, const cotter_token *token,
                                                         cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_session_set_token() without blocking; read the result with cotter_call_wait(). */
COTTER_NODISCARD COTTER_API int cotter_session_set_token_start(cotter_call **out, cotter_session *session,
                                                               const cotter_token *token,
                                                               const cotter_call_options *call_opts,
                                                               cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief Ends the server session (best effort) and deletes stored tokens. */
COTTER_NODISCARD COTTER_API int cotter_session_logout(cotter_session *session,
                                                      cotter_error **out_error) COTTER_NOEXCEPT;
/** @brief cotter_session_logout() without blocking; read the result with cotter_call_wait(). */
COTTER_NODISCARD COTTER_API int cotter_session_logout_start(cotter_call **out, cotter_session *session,
                                                            const cotter_call_options *call_opts,
                                                            cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: sessions */

/* ============================================================================================== */
/* Results of asynchronous calls                                                                  */
/* ============================================================================================== */

/* Takers: each waits for the call, returns its status, and on COTTER_OK moves the result into the out-parameters
 * (once: a second take is COTTER_EINVAL, as is a taker that does not match the operation). */

/* BEGIN GENERATED functions: call results (scripts/gen.py from capi/abi.json; do not edit) */
/**
 * @brief The token set of a grant, a refresh, or a session's get_token/refresh. @param[out] out cotter_token_free().
 */
COTTER_NODISCARD COTTER_API int cotter_call_take_token(cotter_token **out, cotter_call *call,
                                                       cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief A text result: a session's access token, or a record as JSON (an event, a user, a user page, a social
 * token or a list of them, an identity: capi/abi.json `records`). @param[out] out release with cotter_buf_dispose().
 */
COTTER_NODISCARD COTTER_API int cotter_call_take_buf(cotter_buf *out, cotter_call *call,
                                                     cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief The result of cotter_client_custom_claims_start(), as cotter_client_custom_claims() gives it.
 * @param[out] refresh_token_out may be NULL.
 */
COTTER_NODISCARD COTTER_API int cotter_call_take_custom_claims(cotter_buf *token_out, cotter_buf *refresh_token_out,
                                                               cotter_call *call,
                                                               cotter_error **out_error) COTTER_NOEXCEPT;

/**
 * @brief The result of cotter_client_verify_remote_start(), as cotter_client_verify_remote() gives it.
 * @param[out] reason_out may be NULL.
 */
COTTER_NODISCARD COTTER_API int cotter_call_take_verify_remote(int *valid_out, cotter_buf *reason_out,
                                                               cotter_call *call,
                                                               cotter_error **out_error) COTTER_NOEXCEPT;
/* END GENERATED functions: call results */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* COTTER_H */

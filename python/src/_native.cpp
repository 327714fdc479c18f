/**
 * @file _native.cpp
 * @brief cotter._native: pybind11 glue over the C ABI, through bindings/cpp/cotter.hpp only.
 *
 * Glue only: argument conversion, the GIL, callbacks and lifetimes. Everything Pythonic (keyword
 * arguments, typed results, redacted reprs, the exception classes) lives in python/cotter/.
 *  - Every network call and every verification runs with the GIL released.
 *  - Callbacks (log, storage load/save, tokens changed) reacquire the GIL; a Python exception raised in one
 *    never unwinds through C: it is stored, the C call fails with COTTER_EUSER, and the stored exception is
 *    raised (with the CotterError as its context) when the call returns.
 *  - cotter::Error becomes the CotterError subclass for its code (cotter._errors.from_native).
 *  - Above each function: the C signature it wraps (checked by tests/python/test_bindings.py).
 */
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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

/// A Python exception raised inside a callback, kept until the C call returns.
struct pending_exception {
    std::mutex mu;
    std::optional<py::error_already_set> exc;

    void store(py::error_already_set &&e) {
        std::lock_guard<std::mutex> lock(mu);
        if (!exc) exc.emplace(std::move(e));
    }
    /// Raises the stored exception, if any (GIL held). `cause` is the CotterError the C call produced.
    void rethrow_if_any() {
        std::optional<py::error_already_set> e;
        {
            std::lock_guard<std::mutex> lock(mu);
            e.swap(exc);
        }
        if (e) throw std::move(*e);
    }
};

/// Runs a blocking C call with the GIL released; a callback's stored exception wins over the COTTER_EUSER it
/// caused.
template <class F>
auto nogil(pending_exception *pending, F &&f) -> decltype(f()) {
    try {
        py::gil_scoped_release release;
        return f();
    } catch (const cotter::Error &) {
        if (pending) pending->rethrow_if_any();
        throw;
    }
}

/// Text or bytes from Python, as a std::string (tokens may come as either).
std::string as_bytes(const py::handle &h) {
    if (py::isinstance<py::bytes>(h)) return std::string(py::reinterpret_borrow<py::bytes>(h));
    if (py::isinstance<py::str>(h)) return h.cast<std::string>();
    throw py::type_error("expected str or bytes");
}

/// Keeps option strings alive until the create call has copied them.
const char *c_or_null(const std::optional<cstr> &s) { return s ? s->c_str() : nullptr; }

// ------------------------------------------------------------------------------------------------
// Callbacks
// ------------------------------------------------------------------------------------------------

/// Forwards library log lines to a Python callable (cotter.client wires it to logging.getLogger("cotter")).
struct log_sink {
    py::object fn;  // called as fn(level: int, message: str)
};

// typedef void (*cotter_log_fn)(int level, const char *message, void *payload);
void log_trampoline(int level, const char *message, void *payload) noexcept {
    auto *sink = static_cast<log_sink *>(payload);
    if (!sink || !Py_IsInitialized()) return;
    py::gil_scoped_acquire gil;
    try {
        sink->fn(level, message ? message : "");
    } catch (py::error_already_set &e) {
        // A failing log handler must not fail the operation: report it the way logging does.
        e.discard_as_unraisable("cotter log callback");
    } catch (...) {
    }
}

/// A clock pinned to one instant (`cotter verify --now`); no GIL needed.
// typedef int64_t (*cotter_clock_fn)(void *payload);
int64_t fixed_clock(void *payload) noexcept { return *static_cast<const int64_t *>(payload); }

// ------------------------------------------------------------------------------------------------
// JWT verification
// ------------------------------------------------------------------------------------------------

struct Claims {
    cotter::Claims c;
};

struct Verifier {
    std::unique_ptr<log_sink> log;
    std::unique_ptr<int64_t> now;
    cotter::JwtVerifier v;
};

// COTTER_API int cotter_jwt_verifier_options_init(cotter_jwt_verifier_options *opts, unsigned int version);
// COTTER_API int cotter_jwt_verifier_new(cotter_jwt_verifier **out, const cotter_jwt_verifier_options *opts, cotter_error **out_error);
std::unique_ptr<Verifier> verifier_new(const cstr &audience, const std::optional<cstr> &issuer,
                                       int64_t leeway_seconds, const std::optional<cstr> &jwks_json,
                                       const std::optional<cstr> &jwks_url,
                                       const std::optional<cstr> &ca_file, int64_t jwks_max_age_ms,
                                       int64_t jwks_cooldown_ms, int64_t jwks_timeout_ms, size_t jwks_max_bytes,
                                       size_t token_cache_size, std::optional<int64_t> now, py::object log) {
    auto self = std::make_unique<Verifier>();
    cotter_jwt_verifier_options o = cotter::jwt_verifier_options();
    o.audience = audience.c_str();
    o.issuer = c_or_null(issuer);
    o.leeway_seconds = leeway_seconds;
    o.jwks_json = c_or_null(jwks_json);
    o.jwks_url = c_or_null(jwks_url);
    o.ca_file = c_or_null(ca_file);
    o.jwks_max_age_ms = jwks_max_age_ms;
    o.jwks_cooldown_ms = jwks_cooldown_ms;
    o.jwks_timeout_ms = jwks_timeout_ms;
    o.jwks_max_bytes = jwks_max_bytes;
    o.token_cache_size = token_cache_size;
    if (now) {
        self->now = std::make_unique<int64_t>(*now);
        o.clock = fixed_clock;
        o.clock_payload = self->now.get();
    }
    if (!log.is_none()) {
        self->log = std::make_unique<log_sink>(log_sink{log});
        o.log = log_trampoline;
        o.log_payload = self->log.get();
    }
    self->v = nogil(nullptr, [&] { return cotter::JwtVerifier::create(o); });
    return self;
}

// COTTER_API int cotter_jwt_verify(cotter_claims **out, cotter_jwt_verifier *verifier, const char *token, size_t token_len, cotter_error **out_error);
Claims verifier_verify(Verifier &self, const py::handle &token) {
    std::string t = as_bytes(token);
    return Claims{nogil(nullptr, [&] { return self.v.verify(t); })};
}

// COTTER_API int cotter_jwt_verify(cotter_claims **out, cotter_jwt_verifier *verifier, const char *token, size_t token_len, cotter_error **out_error);
void verifier_check(Verifier &self, const py::handle &token) {
    std::string t = as_bytes(token);
    nogil(nullptr, [&] { self.v.check(t); });
}

// COTTER_API int cotter_jwt_verifier_refresh(cotter_jwt_verifier *verifier, cotter_error **out_error);
void verifier_refresh(Verifier &self) {
    nogil(nullptr, [&] { self.v.refresh(); });
}

// COTTER_API const char *cotter_claims_audience(const cotter_claims *claims, size_t index);
// COTTER_API size_t cotter_claims_audience_count(const cotter_claims *claims);
py::list claims_audience(const Claims &self) {
    py::list out;
    for (size_t i = 0, n = self.c.audience_count(); i < n; ++i) out.append(opt_str(self.c.audience(i)));
    return out;
}

void bind_jwt(py::module_ &m) {
    py::class_<Claims>(m, "Claims")
        // COTTER_API const char *cotter_claims_sub(const cotter_claims *claims);
        .def_property_readonly("sub", [](const Claims &s) { return opt_str(s.c.sub()); })
        // COTTER_API const char *cotter_claims_iss(const cotter_claims *claims);
        .def_property_readonly("iss", [](const Claims &s) { return opt_str(s.c.iss()); })
        // COTTER_API const char *cotter_claims_identifier(const cotter_claims *claims);
        .def_property_readonly("identifier", [](const Claims &s) { return opt_str(s.c.identifier()); })
        // COTTER_API const char *cotter_claims_authentication_method(const cotter_claims *claims);
        .def_property_readonly("authentication_method",
                               [](const Claims &s) { return opt_str(s.c.authentication_method()); })
        // COTTER_API const char *cotter_claims_scope(const cotter_claims *claims);
        .def_property_readonly("scope", [](const Claims &s) { return opt_str(s.c.scope()); })
        // COTTER_API const char *cotter_claims_type(const cotter_claims *claims);
        .def_property_readonly("type", [](const Claims &s) { return opt_str(s.c.type()); })
        // COTTER_API const char *cotter_claims_client_user_id(const cotter_claims *claims);
        .def_property_readonly("client_user_id", [](const Claims &s) { return opt_str(s.c.client_user_id()); })
        // COTTER_API const char *cotter_claims_jti(const cotter_claims *claims);
        .def_property_readonly("jti", [](const Claims &s) { return opt_str(s.c.jti()); })
        // COTTER_API const char *cotter_claims_auth_time(const cotter_claims *claims);
        .def_property_readonly("auth_time", [](const Claims &s) { return opt_str(s.c.auth_time()); })
        // COTTER_API const char *cotter_claims_kid(const cotter_claims *claims);
        .def_property_readonly("kid", [](const Claims &s) { return opt_str(s.c.kid()); })
        .def_property_readonly("audience", &claims_audience)
        // COTTER_API int64_t cotter_claims_exp(const cotter_claims *claims);
        .def_property_readonly("exp", [](const Claims &s) { return s.c.exp(); })
        // COTTER_API int64_t cotter_claims_iat(const cotter_claims *claims);
        .def_property_readonly("iat", [](const Claims &s) { return s.c.iat(); })
        // COTTER_API int64_t cotter_claims_nbf(const cotter_claims *claims);
        .def_property_readonly("nbf", [](const Claims &s) { return s.c.nbf(); })
        // COTTER_API const char *cotter_claims_json(const cotter_claims *claims, size_t *len_out);
        .def_property_readonly("json", [](const Claims &s) {
            std::string_view j = s.c.json();
            return py::str(j.data(), j.size());
        });

    py::class_<Verifier>(m, "Verifier")
        .def(py::init(&verifier_new), "audience"_a, "issuer"_a, "leeway_seconds"_a, "jwks_json"_a, "jwks_url"_a,
             "ca_file"_a, "jwks_max_age_ms"_a, "jwks_cooldown_ms"_a, "jwks_timeout_ms"_a, "jwks_max_bytes"_a,
             "token_cache_size"_a, "now"_a, "log"_a)
        .def("verify", &verifier_verify, "token"_a)
        .def("check", &verifier_check, "token"_a)
        .def("refresh", &verifier_refresh);
    // COTTER_API void cotter_jwt_verifier_free(cotter_jwt_verifier *verifier);
    // COTTER_API void cotter_claims_free(cotter_claims *claims);
    // (both run by the owners' destructors when Python drops the objects)
}

// COTTER_API int cotter_identity_token_verify(const char *identity_token_json, const char *api_key_id, const char *public_key_b64, int64_t now, cotter_error **out_error);
void identity_token_verify(const cstr &json, const cstr &api_key_id,
                           const std::optional<cstr> &public_key_b64, int64_t now) {
    nogil(nullptr, [&] { cotter::identity_token_verify(json.c_str(), api_key_id.c_str(), c_or_null(public_key_b64), now); });
}

// COTTER_API int cotter_event_token_verify(const char *event_token_json, const char *api_key_id, const char *public_key_b64, cotter_error **out_error);
void event_token_verify(const cstr &json, const cstr &api_key_id,
                        const std::optional<cstr> &public_key_b64) {
    nogil(nullptr, [&] { cotter::event_token_verify(json.c_str(), api_key_id.c_str(), c_or_null(public_key_b64)); });
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

void bind_token(py::module_ &m) {
    py::class_<Token>(m, "Token")
        .def_static("from_json", &token_from_json, "json"_a)
        .def("to_json", &token_to_json)
        // COTTER_API const char *cotter_token_access_token(const cotter_token *token);
        .def_property_readonly("access_token", [](const Token &s) { return opt_str(s.t.access_token()); })
        // COTTER_API const char *cotter_token_id_token(const cotter_token *token);
        .def_property_readonly("id_token", [](const Token &s) { return opt_str(s.t.id_token()); })
        // COTTER_API const char *cotter_token_refresh_token(const cotter_token *token);
        .def_property_readonly("refresh_token", [](const Token &s) { return opt_str(s.t.refresh_token()); })
        // COTTER_API const char *cotter_token_token_type(const cotter_token *token);
        .def_property_readonly("token_type", [](const Token &s) { return opt_str(s.t.token_type()); })
        // COTTER_API const char *cotter_token_auth_method(const cotter_token *token);
        .def_property_readonly("auth_method", [](const Token &s) { return opt_str(s.t.auth_method()); })
        // COTTER_API int64_t cotter_token_expires_in(const cotter_token *token);
        .def_property_readonly("expires_in", [](const Token &s) { return s.t.expires_in(); })
        // COTTER_API int64_t cotter_token_access_token_expires_at(const cotter_token *token);
        .def_property_readonly("access_token_expires_at", [](const Token &s) { return s.t.access_token_expires_at(); });
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

// COTTER_API int cotter_pkce_challenge_of(cotter_buf *out, const char *verifier, cotter_error **out_error);
py::str pkce_challenge_of(const cstr &verifier) {
    cotter::unique_buf b = cotter::pkce_challenge_of(verifier.c_str());
    return py::str(b.data(), b.size());
}

// COTTER_API int cotter_login_url(cotter_buf *out, const cotter_login_url_options *opts, cotter_error **out_error);
py::str login_url(const std::optional<cstr> &login_url_base, const cstr &api_key_id,
                  const cstr &redirect_url, const cstr &state, const cstr &code_challenge,
                  const std::optional<cstr> &identifier_type, const std::optional<cstr> &auth_method,
                  const std::optional<cstr> &input, const std::optional<cstr> &cotter_user_id) {
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
    std::unique_ptr<log_sink> log;
    cotter::Client c;
};

// COTTER_API int cotter_client_options_init(cotter_client_options *opts, unsigned int version);
// COTTER_API int cotter_client_new(cotter_client **out, const cotter_client_options *opts, cotter_error **out_error);
std::unique_ptr<Client> client_new(const cstr &api_key_id, const std::optional<cstr> &api_secret_key,
                                   const std::optional<cstr> &base_url,
                                   const std::optional<cstr> &worker_url,
                                   const std::optional<cstr> &ca_file, int64_t connect_timeout_ms,
                                   int64_t timeout_ms, int max_retries, int64_t retry_base_ms, int64_t retry_max_ms,
                                   size_t max_response_bytes, py::object log) {
    auto self = std::make_unique<Client>();
    cotter_client_options o = cotter::client_options();
    o.api_key_id = api_key_id.c_str();
    o.api_secret_key = c_or_null(api_secret_key);
    o.base_url = c_or_null(base_url);
    o.worker_url = c_or_null(worker_url);
    o.ca_file = c_or_null(ca_file);
    o.connect_timeout_ms = connect_timeout_ms;
    o.timeout_ms = timeout_ms;
    o.max_retries = max_retries;
    o.retry_base_ms = retry_base_ms;
    o.retry_max_ms = retry_max_ms;
    o.max_response_bytes = max_response_bytes;
    if (!log.is_none()) {
        self->log = std::make_unique<log_sink>(log_sink{log});
        o.log = log_trampoline;
        o.log_payload = self->log.get();
    }
    self->c = nogil(nullptr, [&] { return cotter::Client::create(o); });
    return self;
}

// COTTER_API const char *cotter_user_id(const cotter_user *user);  ... and every cotter_user_* getter:
// COTTER_API const char *cotter_user_issuer(const cotter_user *user);
// COTTER_API const char *cotter_user_client_user_id(const cotter_user *user);
// COTTER_API const char *cotter_user_identifier(const cotter_user *user);
// COTTER_API const char *cotter_user_default_method(const cotter_user *user);
// COTTER_API const char *cotter_user_created_at(const cotter_user *user);
// COTTER_API size_t cotter_user_enrolled_count(const cotter_user *user);
// COTTER_API const char *cotter_user_enrolled(const cotter_user *user, size_t index);
// COTTER_API const char *cotter_user_json(const cotter_user *user, size_t *len_out);
py::dict user_dict(cotter::UserRef u) {
    py::list enrolled;
    for (size_t i = 0, n = u.enrolled_count(); i < n; ++i) enrolled.append(opt_str(u.enrolled(i)));
    std::string_view j = u.json();
    return py::dict("id"_a = opt_str(u.id()), "issuer"_a = opt_str(u.issuer()),
                    "client_user_id"_a = opt_str(u.client_user_id()), "identifier"_a = opt_str(u.identifier()),
                    "default_method"_a = opt_str(u.default_method()), "created_at"_a = opt_str(u.created_at()),
                    "enrolled"_a = enrolled, "json"_a = py::str(j.data(), j.size()));
}

// COTTER_API const char *cotter_social_token_provider(const cotter_social_token *token);  ... and:
// COTTER_API const char *cotter_social_token_provider_user_id(const cotter_social_token *token);
// COTTER_API const char *cotter_social_token_provider_username(const cotter_social_token *token);
// COTTER_API const char *cotter_social_token_user_id(const cotter_social_token *token);
// COTTER_API const char *cotter_social_token_access_token(const cotter_social_token *token);
// COTTER_API const char *cotter_social_token_scope(const cotter_social_token *token);
// COTTER_API const char *cotter_social_token_token_type(const cotter_social_token *token);
// COTTER_API const char *cotter_social_token_json(const cotter_social_token *token, size_t *len_out);
py::dict social_dict(cotter::SocialTokenRef t) {
    std::string_view j = t.json();
    return py::dict("provider"_a = opt_str(t.provider()), "provider_user_id"_a = opt_str(t.provider_user_id()),
                    "provider_username"_a = opt_str(t.provider_username()), "user_id"_a = opt_str(t.user_id()),
                    "access_token"_a = opt_str(t.access_token()), "scope"_a = opt_str(t.scope()),
                    "token_type"_a = opt_str(t.token_type()), "json"_a = py::str(j.data(), j.size()));
}

void bind_client(py::module_ &m) {
    py::class_<Client>(m, "Client")
        .def(py::init(&client_new), "api_key_id"_a, "api_secret_key"_a, "base_url"_a, "worker_url"_a, "ca_file"_a,
             "connect_timeout_ms"_a, "timeout_ms"_a, "max_retries"_a, "retry_base_ms"_a, "retry_max_ms"_a,
             "max_response_bytes"_a, "log"_a)
        // COTTER_API const char *cotter_client_base_url(const cotter_client *client);
        .def_property_readonly("base_url", [](const Client &s) { return opt_str(s.c.base_url()); })
        // COTTER_API int cotter_client_stats_get(cotter_client_stats *out, const cotter_client *client);
        .def("stats",
             [](const Client &s) {
                 cotter_client_stats st = s.c.stats();
                 return py::dict("requests"_a = st.requests, "connections"_a = st.connections,
                                 "retries"_a = st.retries);
             })
        // COTTER_API int cotter_client_grant_identity_token(cotter_token **out, cotter_client *client, const char *identity_token_json, cotter_error **out_error);
        .def("grant_identity_token",
             [](Client &s, const cstr &json) {
                 return Token{nogil(nullptr, [&] { return s.c.grant_identity_token(json.c_str()); })};
             })
        // COTTER_API int cotter_client_grant_event_token(cotter_token **out, cotter_client *client, const char *event_token_json, cotter_error **out_error);
        .def("grant_event_token",
             [](Client &s, const cstr &json) {
                 return Token{nogil(nullptr, [&] { return s.c.grant_event_token(json.c_str()); })};
             })
        // COTTER_API int cotter_client_refresh(cotter_token **out, cotter_client *client, const char *refresh_token, cotter_error **out_error);
        .def("refresh",
             [](Client &s, const cstr &rt) {
                 return Token{nogil(nullptr, [&] { return s.c.refresh(rt.c_str()); })};
             })
        // COTTER_API int cotter_client_logout(cotter_client *client, const char *refresh_token, cotter_error **out_error);
        .def("logout",
             [](Client &s, const std::optional<cstr> &rt) { nogil(nullptr, [&] { s.c.logout(c_or_null(rt)); }); })
        // COTTER_API int cotter_client_custom_claims(cotter_buf *token_out, cotter_buf *refresh_token_out, cotter_client *client, const char *token, const char *custom_attributes_json, const char *refresh_token, cotter_error **out_error);
        .def("custom_claims",
             [](Client &s, const cstr &token, const cstr &attrs, const std::optional<cstr> &rt) {
                 cotter::CustomClaims r =
                     nogil(nullptr, [&] { return s.c.custom_claims(token.c_str(), attrs.c_str(), c_or_null(rt)); });
                 py::object new_rt = r.refresh_token.has_value()
                                         ? py::object(py::str(r.refresh_token.data(), r.refresh_token.size()))
                                         : py::object(py::none());
                 return py::make_tuple(py::str(r.token.data(), r.token.size()), new_rt);
             })
        // COTTER_API int cotter_client_get_identity(cotter_identity **out, cotter_client *client, const char *authorization_code, int64_t challenge_id, const char *code_verifier, const char *redirect_url, cotter_error **out_error);
        // COTTER_API const cotter_token *cotter_identity_token(const cotter_identity *identity);
        // COTTER_API const char *cotter_identity_identifier(const cotter_identity *identity);
        // COTTER_API const char *cotter_identity_identifier_type(const cotter_identity *identity);
        // COTTER_API const char *cotter_identity_user_id(const cotter_identity *identity);
        // COTTER_API const char *cotter_identity_identity_token_json(const cotter_identity *identity);
        // COTTER_API const char *cotter_identity_json(const cotter_identity *identity, size_t *len_out);
        // COTTER_API void cotter_identity_free(cotter_identity *identity);
        .def("get_identity",
             [](Client &s, const cstr &code, int64_t challenge_id, const cstr &verifier,
                const cstr &redirect_url) {
                 cotter::Identity id = nogil(nullptr, [&] {
                     return s.c.get_identity(code.c_str(), challenge_id, verifier.c_str(), redirect_url.c_str());
                 });
                 py::object token = py::none();
                 if (id.token()) token = py::cast(Token{id.token().copy()});
                 std::string_view j = id.json();
                 return py::dict("identifier"_a = opt_str(id.identifier()),
                                 "identifier_type"_a = opt_str(id.identifier_type()),
                                 "user_id"_a = opt_str(id.user_id()),
                                 "identity_token_json"_a = opt_str(id.identity_token_json()), "token"_a = token,
                                 "json"_a = py::str(j.data(), j.size()));
             })
        // COTTER_API int cotter_client_user_create(cotter_user **out, cotter_client *client, const char *identifier, cotter_error **out_error);
        .def("user_create",
             [](Client &s, const cstr &identifier) {
                 return user_dict(nogil(nullptr, [&] { return s.c.user_create(identifier.c_str()); }));
             })
        // COTTER_API int cotter_client_user_get_by_identifier(cotter_user **out, cotter_client *client, const char *identifier, cotter_error **out_error);
        .def("user_get_by_identifier",
             [](Client &s, const cstr &identifier) {
                 return user_dict(nogil(nullptr, [&] { return s.c.user_get_by_identifier(identifier.c_str()); }));
             })
        // COTTER_API int cotter_client_user_get(cotter_user **out, cotter_client *client, const char *user_id, cotter_error **out_error);
        // COTTER_API void cotter_user_free(cotter_user *user);
        .def("user_get",
             [](Client &s, const cstr &user_id) {
                 return user_dict(nogil(nullptr, [&] { return s.c.user_get(user_id.c_str()); }));
             })
        // COTTER_API int cotter_client_user_list(cotter_user_list **out, cotter_client *client, unsigned int page, cotter_error **out_error);
        // COTTER_API size_t cotter_user_list_count(const cotter_user_list *list);
        // COTTER_API const cotter_user *cotter_user_list_get(const cotter_user_list *list, size_t index);
        // COTTER_API void cotter_user_list_free(cotter_user_list *list);
        .def("user_list",
             [](Client &s, unsigned int page) {
                 cotter::UserList l = nogil(nullptr, [&] { return s.c.user_list(page); });
                 py::list out;
                 for (size_t i = 0, n = l.count(); i < n; ++i) out.append(user_dict(l.at(i)));
                 return out;
             })
        // COTTER_API int cotter_client_social_tokens_list(cotter_social_token_list **out, cotter_client *client, const char *cotter_user_id, cotter_error **out_error);
        // COTTER_API size_t cotter_social_token_list_count(const cotter_social_token_list *list);
        // COTTER_API const cotter_social_token *cotter_social_token_list_get(const cotter_social_token_list *list, size_t index);
        // COTTER_API void cotter_social_token_list_free(cotter_social_token_list *list);
        .def("social_tokens_list",
             [](Client &s, const cstr &user_id) {
                 cotter::SocialTokenList l = nogil(nullptr, [&] { return s.c.social_tokens_list(user_id.c_str()); });
                 py::list out;
                 for (size_t i = 0, n = l.count(); i < n; ++i) out.append(social_dict(l.at(i)));
                 return out;
             })
        // COTTER_API int cotter_client_social_token_get(cotter_social_token **out, cotter_client *client, const char *provider, const char *cotter_user_id, cotter_error **out_error);
        // COTTER_API void cotter_social_token_free(cotter_social_token *token);
        .def("social_token_get",
             [](Client &s, const cstr &provider, const cstr &user_id) {
                 return social_dict(
                     nogil(nullptr, [&] { return s.c.social_token_get(provider.c_str(), user_id.c_str()); }));
             })
        // COTTER_API int cotter_client_social_token_delete(cotter_client *client, const char *provider, const char *cotter_user_id, cotter_error **out_error);
        .def("social_token_delete",
             [](Client &s, const cstr &provider, const cstr &user_id) {
                 nogil(nullptr, [&] { s.c.social_token_delete(provider.c_str(), user_id.c_str()); });
             })
        // COTTER_API int cotter_client_verify_remote(int *valid_out, cotter_buf *reason_out, cotter_client *client, const char *access_token, cotter_error **out_error);
        .def("verify_remote", [](Client &s, const cstr &access_token) {
            cotter::RemoteVerdict r = nogil(nullptr, [&] { return s.c.verify_remote(access_token.c_str()); });
            py::object reason = r.reason.has_value() && !r.reason.empty()
                                    ? py::object(py::str(r.reason.data(), r.reason.size()))
                                    : py::object(py::none());
            return py::make_tuple(r.valid, reason);
        });
    // COTTER_API void cotter_client_free(cotter_client *client);  (the owner's destructor; wipes the secret)
}

// ------------------------------------------------------------------------------------------------
// Token sessions
// ------------------------------------------------------------------------------------------------

/// Python callables behind the session hooks, and the exception one of them raised.
struct session_hooks {
    py::object load;               // () -> str | bytes | None
    py::object save;               // (json: str | None) -> None
    py::object on_tokens_changed;  // (token: Token | None) -> None
    pending_exception pending;
};

// typedef int (*cotter_session_load_fn)(cotter_buf *out, void *payload);
// COTTER_API int cotter_buf_alloc(cotter_buf *out, size_t len);
int load_trampoline(cotter_buf *out, void *payload) noexcept {
    auto *h = static_cast<session_hooks *>(payload);
    py::gil_scoped_acquire gil;
    try {
        py::object r = h->load();
        if (r.is_none()) return 0;
        std::string s = as_bytes(r);
        if (cotter_buf_alloc(out, s.size()) != COTTER_OK) return 1;
        if (!s.empty()) std::memcpy(out->ptr, s.data(), s.size());
        return 0;
    } catch (py::error_already_set &e) {
        h->pending.store(std::move(e));
    } catch (...) {
        // Nothing may unwind into C; the call fails with COTTER_EUSER.
    }
    return 1;
}

// typedef int (*cotter_session_save_fn)(const char *json, size_t len, void *payload);
int save_trampoline(const char *json, size_t len, void *payload) noexcept {
    auto *h = static_cast<session_hooks *>(payload);
    py::gil_scoped_acquire gil;
    try {
        h->save(json ? py::object(py::str(json, len)) : py::object(py::none()));
        return 0;
    } catch (py::error_already_set &e) {
        h->pending.store(std::move(e));
    } catch (...) {
    }
    return 1;
}

// typedef void (*cotter_tokens_changed_fn)(const cotter_token *token, void *payload);
void tokens_changed_trampoline(const cotter_token *token, void *payload) noexcept {
    auto *h = static_cast<session_hooks *>(payload);
    py::gil_scoped_acquire gil;
    try {
        py::object arg = token ? py::cast(Token{cotter::TokenRef(token).copy()}) : py::object(py::none());
        h->on_tokens_changed(arg);
    } catch (py::error_already_set &e) {
        // The change already happened; the exception is raised when the triggering call returns.
        h->pending.store(std::move(e));
    } catch (const cotter::Error &) {
    } catch (...) {
    }
}

struct Session {
    py::object client;  // keeps the native Client alive while the session exists
    std::unique_ptr<session_hooks> hooks;
    cotter::Session s;

    /// Raises a callback's exception that did not fail the C call (tokens-changed).
    void raise_pending() { hooks->pending.rethrow_if_any(); }
};

// COTTER_API int cotter_session_options_init(cotter_session_options *opts, unsigned int version);
// COTTER_API int cotter_session_new(cotter_session **out, cotter_client *client, const cotter_session_options *opts, const cotter_token *initial, cotter_error **out_error);
std::unique_ptr<Session> session_new(py::object client, int64_t refresh_margin_seconds,
                                     const std::optional<cstr> &token_file, py::object load, py::object save,
                                     py::object on_tokens_changed, const Token *initial) {
    auto self = std::make_unique<Session>();
    self->client = client;
    self->hooks = std::make_unique<session_hooks>();
    Client &c = client.cast<Client &>();
    cotter_session_options o = cotter::session_options();
    o.refresh_margin_seconds = refresh_margin_seconds;
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
    cotter::TokenRef init = initial ? cotter::TokenRef(initial->t) : cotter::TokenRef();
    self->s = nogil(&self->hooks->pending, [&] { return cotter::Session::create(c.c, o, init); });
    self->raise_pending();
    return self;
}

void bind_session(py::module_ &m) {
    py::class_<Session>(m, "Session")
        .def(py::init(&session_new), "client"_a, "refresh_margin_seconds"_a, "token_file"_a, "load"_a, "save"_a,
             "on_tokens_changed"_a, "initial"_a)
        // COTTER_API int cotter_session_get_access_token(cotter_buf *out, cotter_session *session, cotter_error **out_error);
        .def("get_access_token",
             [](Session &s) {
                 cotter::unique_buf b = nogil(&s.hooks->pending, [&] { return s.s.get_access_token(); });
                 s.raise_pending();
                 return py::str(b.data(), b.size());
             })
        // COTTER_API int cotter_session_get_token(cotter_token **out, cotter_session *session, cotter_error **out_error);
        .def("get_token",
             [](Session &s) {
                 Token t{nogil(&s.hooks->pending, [&] { return s.s.get_token(); })};
                 s.raise_pending();
                 return t;
             })
        // COTTER_API int cotter_session_refresh(cotter_token **out, cotter_session *session, cotter_error **out_error);
        .def("refresh",
             [](Session &s) {
                 Token t{nogil(&s.hooks->pending, [&] { return s.s.refresh(); })};
                 s.raise_pending();
                 return t;
             })
        // COTTER_API int cotter_session_set_token(cotter_session *session, const cotter_token *token, cotter_error **out_error);
        .def("set_token",
             [](Session &s, const Token &t) {
                 nogil(&s.hooks->pending, [&] { s.s.set_token(t.t); });
                 s.raise_pending();
             })
        // COTTER_API int cotter_session_logout(cotter_session *session, cotter_error **out_error);
        .def("logout", [](Session &s) {
            nogil(&s.hooks->pending, [&] { s.s.logout(); });
            s.raise_pending();
        });
    // COTTER_API void cotter_session_free(cotter_session *session);  (the owner's destructor, before the client)
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "cotter C ABI glue (private; use the cotter package)";

    // The one translation of C ABI failures into Python exceptions.
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const cotter::Error &e) {
            py::object exc = make_error(e);
            PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(exc.ptr())), exc.ptr());
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
    // Every cotter_status value, as compiled from cotter.h (the table is generated from the header).
    py::dict codes;
#define X(name) codes[#name] = static_cast<int>(name);
#include "cotter_status_table.inc"
#undef X
    m.attr("STATUS_CODES") = codes;


    bind_jwt(m);
    m.def("identity_token_verify", &identity_token_verify, "json"_a, "api_key_id"_a, "public_key_b64"_a, "now"_a);
    m.def("event_token_verify", &event_token_verify, "json"_a, "api_key_id"_a, "public_key_b64"_a);
    bind_token(m);
    m.def("pkce_new", &pkce_new);
    m.def("pkce_challenge_of", &pkce_challenge_of, "verifier"_a);
    m.def("login_url", &login_url, "login_url"_a, "api_key_id"_a, "redirect_url"_a, "state"_a, "code_challenge"_a,
          "identifier_type"_a, "auth_method"_a, "input"_a, "cotter_user_id"_a);
    m.def("login_redirect_parse", &login_redirect_parse, "query"_a, "expected_state"_a);
    bind_client(m);
    bind_session(m);
}

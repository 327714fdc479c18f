//! @file middleware.rs
//! @brief A `tower` layer (feature `tower`) that lets through only requests with a valid Cotter token, for axum,
//! hyper, tonic or any `tower` stack over `http` 1.x.
//!
//! ```no_run
//! # use std::sync::Arc;
//! use axum::{routing::get, Extension, Router};
//! use cotter::middleware::{AuthClaims, AuthLayer};
//!
//! # fn app(verifier: cotter::Verifier) -> Router {
//! Router::new()
//!     .route("/me", get(|Extension(claims): Extension<AuthClaims>| async move { claims.sub().unwrap_or_default().to_owned() }))
//!     .layer(AuthLayer::new(Arc::new(verifier)).required_scopes(["access"]))
//! # }
//! ```
//!
//! Answers (RFC 6750 §3), identical to the Node and Go middleware (tests/fixtures/middleware/cases.json): no Bearer
//! credentials → 401 `Bearer realm="api"` (no `error=`), or with `auth_required(false)` the request passes without
//! claims; a malformed Authorization header → 400 `invalid_request`; a rejected token → 401 `invalid_token` with
//! the stable code name as `error_description` (never the token); a token of another type (an ID token) → "token
//! type not accepted"; a failed claim check → "claim check failed"; a missing required scope → 403
//! `insufficient_scope` with `scope="..."`; keys that cannot be fetched → 503 with `Retry-After`. Every failure
//! answer carries its [`AuthError`] in the response extensions, for an outer layer that shapes the body.
//!
//! Verification runs in `tokio::task::spawn_blocking` (the first use of a remote key set fetches it), so the
//! service needs a Tokio runtime; the rest of the crate depends on no runtime.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};

use crate::{Claims, Error, Verifier};

/// The `type` values of Cotter's access tokens (spec §3.3).
const ACCESS_TOKEN_TYPES: [&str; 2] = ["client_access_token", "access_token"];

type ClaimCheck = Arc<dyn Fn(&Claims) -> bool + Send + Sync>;

#[derive(Clone)]
struct Policy {
    realm: String,
    token_types: Option<Vec<String>>,
    required_scopes: Vec<String>,
    claim_check: Option<ClaimCheck>,
    auth_required: bool,
    retry_after: u32,
}

/// The layer: a shared verifier and the policy. Cheap to clone.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<Verifier>,
    policy: Arc<Policy>,
}

impl AuthLayer {
    /// Requires a valid Cotter access token (realm "api"); the methods below change the policy.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        AuthLayer {
            verifier,
            policy: Arc::new(Policy {
                realm: "api".into(),
                token_types: None,
                required_scopes: Vec::new(),
                claim_check: None,
                auth_required: true,
                retry_after: 10,
            }),
        }
    }

    fn policy_mut(&mut self) -> &mut Policy {
        Arc::make_mut(&mut self.policy) // a clone made before keeps its own policy
    }

    /// The realm of the challenges ("" means "api").
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        self.policy_mut().realm = if realm.is_empty() { "api".into() } else { realm };
        self
    }

    /// The accepted `type` claims; `["*"]` accepts any token. Default: Cotter's access tokens only (`type`
    /// `client_access_token` or `access_token`, or no `type` and `access` in `scope`): an ID token is rejected.
    ///
    /// # Panics
    /// When an entry is not a word (see [`AuthLayer::required_scopes`]).
    pub fn token_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy_mut().token_types = Some(words(types, "token_types"));
        self
    }

    /// Scopes the token must all have in its `scope` claim; otherwise 403 `insufficient_scope`.
    ///
    /// # Panics
    /// When an entry is empty or holds whitespace, `"` or `\` (a scope is one word of the space-separated claim,
    /// and `scope="..."` could not carry it), with the sentence of Node's `requireAuth` and Go's `NewMiddleware`:
    /// "AuthLayer: required_scopes must be a list of words". A policy that could never match is never served.
    pub fn required_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy_mut().required_scopes = words(scopes, "required_scopes");
        self
    }

    /// A predicate over the verified claims ([`Claims::json`] holds custom claims); false → 401 `invalid_token`
    /// "claim check failed".
    pub fn claim_check(mut self, check: impl Fn(&Claims) -> bool + Send + Sync + 'static) -> Self {
        self.policy_mut().claim_check = Some(Arc::new(check));
        self
    }

    /// Default true. false: requests without credentials pass without [`AuthClaims`]; a bad token still fails.
    pub fn auth_required(mut self, required: bool) -> Self {
        self.policy_mut().auth_required = required;
        self
    }

    /// `Retry-After` seconds of the 503 answered while the key set cannot be fetched (default 10).
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.policy_mut().retry_after = seconds;
        self
    }
}

impl fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("realm", &self.policy.realm)
            .field("token_types", &self.policy.token_types)
            .field("required_scopes", &self.policy.required_scopes)
            .field("claim_check", &self.policy.claim_check.is_some())
            .field("auth_required", &self.policy.auth_required)
            .finish_non_exhaustive()
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, layer: self.clone() }
    }
}

/// The verified claims of the request, in its extensions (`Extension<AuthClaims>` in axum).
#[derive(Clone, Debug)]
pub struct AuthClaims(pub Arc<Claims>);

impl Deref for AuthClaims {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.0
    }
}

/// A refused request (RFC 6750 §3), as express-oauth2-jwt-bearer's `UnauthorizedError`; found in the extensions
/// of the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError {
    status: StatusCode,
    code: Option<&'static str>,
    description: String,
    www_authenticate: Option<String>,
    scopes: Vec<String>,
    retry_after: Option<u32>,
    cause: Option<Error>,
}

impl AuthError {
    /// 401, 400, 403, or 503 (keys unavailable).
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// `invalid_request`, `invalid_token`, `insufficient_scope` (`temporarily_unavailable` for 503); `None` when
    /// the request had no credentials.
    pub fn code(&self) -> Option<&'static str> {
        self.code
    }
    /// `error_description`: the stable code name of a rejected token, never the token.
    pub fn description(&self) -> &str {
        &self.description
    }
    /// The `WWW-Authenticate` value (`None` for 503).
    pub fn www_authenticate(&self) -> Option<&str> {
        self.www_authenticate.as_deref()
    }
    /// The required scopes of `insufficient_scope`.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
    /// `Retry-After` seconds of a 503.
    pub fn retry_after(&self) -> Option<u32> {
        self.retry_after
    }
    /// The verifier's error for a rejected token or unavailable keys.
    pub fn cause(&self) -> Option<&Error> {
        self.cause.as_ref()
    }

    fn challenge(realm: &str, status: StatusCode, code: Option<&'static str>, description: &str, scopes: &[String]) -> Self {
        AuthError {
            status,
            code,
            description: description.to_owned(),
            www_authenticate: Some(challenge(realm, code, description, scopes)),
            scopes: scopes.to_vec(),
            retry_after: None,
            cause: None,
        }
    }

    /// The default answer: status, `WWW-Authenticate` (or `Retry-After`), `Cache-Control: no-store`, and a JSON
    /// body `{"error", "error_description"}` (no `error` when the request had no credentials).
    pub fn to_response<B: From<String>>(&self) -> Response<B> {
        let mut body = String::from("{");
        if let Some(code) = self.code {
            body.push_str(&format!("\"error\":{},", json_string(code)));
        }
        body.push_str(&format!("\"error_description\":{}}}", json_string(&self.description)));
        let mut resp = Response::new(B::from(body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        if let Some(www) = self.www_authenticate.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            h.insert(WWW_AUTHENTICATE, www);
        }
        if let Some(secs) = self.retry_after {
            h.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        resp.extensions_mut().insert(self.clone());
        resp
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.unwrap_or("unauthorized"), self.description)
    }
}

impl std::error::Error for AuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|e| e as _)
    }
}

/// The service of [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S: fmt::Debug> fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService").field("inner", &self.inner).field("layer", &self.layer).finish()
    }
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for AuthService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ResBody>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready serves this request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        // Parsed before the future: it holds no borrow of the request (whose body need not be Sync).
        let credentials = bearer_token(&req);
        Box::pin(async move {
            match authenticate(&layer, credentials).await {
                Ok(Some(claims)) => {
                    req.extensions_mut().insert(AuthClaims(Arc::new(claims)));
                    inner.call(req).await
                }
                Ok(None) => inner.call(req).await,
                Err(e) => Ok(e.to_response()),
            }
        })
    }
}

/// The claims of a valid token, `None` for a request without credentials when none are required, or the refusal.
async fn authenticate(layer: &AuthLayer, credentials: Credentials) -> Result<Option<Claims>, AuthError> {
    let p = &*layer.policy;
    let status_of = |status, code, description: &str| AuthError::challenge(&p.realm, status, code, description, &[]);
    let token = match credentials {
        Credentials::Missing if !p.auth_required => return Ok(None),
        Credentials::Missing => return Err(status_of(StatusCode::UNAUTHORIZED, None, "Unauthorized")),
        Credentials::Malformed(why) => return Err(status_of(StatusCode::BAD_REQUEST, Some("invalid_request"), why)),
        Credentials::Token(t) => t,
    };
    let verifier = Arc::clone(&layer.verifier);
    let verified = tokio::task::spawn_blocking(move || verifier.verify(&token)).await;
    let claims = match verified {
        Ok(Ok(claims)) => claims,
        Ok(Err(e)) if e.name().starts_with("COTTER_EJWKS_") => {
            return Err(AuthError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: Some("temporarily_unavailable"),
                description: e.name().to_owned(),
                www_authenticate: None,
                scopes: Vec::new(),
                retry_after: Some(p.retry_after),
                cause: Some(e),
            })
        }
        // The stable code name tells the client why, without echoing the token.
        Ok(Err(e)) if e.name().starts_with("COTTER_EJWT_") => {
            let mut err = status_of(StatusCode::UNAUTHORIZED, Some("invalid_token"), e.name());
            err.cause = Some(e);
            return Err(err);
        }
        // Not the client's fault (out of memory, a panic in the blocking task): a 500 without details.
        Ok(Err(e)) => return Err(internal(Some(e))),
        Err(_) => return Err(internal(None)),
    };
    // Invalid before insufficient: a token of the wrong kind, or failing the check, is not valid here at all.
    if !token_type_accepted(&claims, p.token_types.as_deref()) {
        return Err(status_of(StatusCode::UNAUTHORIZED, Some("invalid_token"), "token type not accepted"));
    }
    if let Some(check) = &p.claim_check {
        if !check(&claims) {
            return Err(status_of(StatusCode::UNAUTHORIZED, Some("invalid_token"), "claim check failed"));
        }
    }
    let have = scope_words(claims.scope());
    if !p.required_scopes.iter().all(|s| have.contains(&s.as_str())) {
        return Err(AuthError::challenge(
            &p.realm,
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            "insufficient scope",
            &p.required_scopes,
        ));
    }
    Ok(Some(claims))
}

fn internal(cause: Option<Error>) -> AuthError {
    AuthError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: Some("server_error"),
        description: cause.as_ref().map_or("COTTER_EINTERNAL", Error::name).to_owned(),
        www_authenticate: None,
        scopes: Vec::new(),
        retry_after: None,
        cause,
    }
}

enum Credentials {
    Token(String),
    Missing,
    Malformed(&'static str),
}

/// Parses the Authorization header lines: no Bearer credentials (no header, an empty one, another scheme), a
/// token (RFC 6750 §2.1 b64token), or a malformed header.
fn bearer_token<B>(req: &Request<B>) -> Credentials {
    let mut lines = req.headers().get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (lines.next(), lines.next()) else {
        return if req.headers().contains_key(AUTHORIZATION) {
            Credentials::Malformed("more than one Authorization header")
        } else {
            Credentials::Missing
        };
    };
    // Bytes, not str: a value with non-ASCII bytes is judged by the same grammar as in Node and Go.
    let value = value.as_bytes().trim_ascii();
    if value.is_empty() {
        return Credentials::Missing;
    }
    // RFC 7235 §2.1: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    let scheme_len = value.iter().take_while(|&&b| is_tchar(b)).count();
    let (scheme, rest) = value.split_at(scheme_len);
    if scheme.is_empty() || !(rest.is_empty() || rest[0] == b' ') {
        return Credentials::Malformed("malformed Authorization header");
    }
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Credentials::Missing;
    }
    let token = &rest[rest.iter().take_while(|&&b| b == b' ').count()..];
    if token.is_empty() {
        return Credentials::Malformed("empty bearer token");
    }
    // RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..body_len];
    if body.is_empty() || !body.iter().all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)) {
        return Credentials::Malformed("malformed bearer token");
    }
    Credentials::Token(String::from_utf8_lossy(token).into_owned()) // ASCII: checked above
}

/// RFC 7230 §3.2.6 tchar.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn scope_words(scope: Option<&str>) -> Vec<&str> {
    scope.unwrap_or("").split(' ').filter(|w| !w.is_empty()).collect()
}

fn token_type_accepted(claims: &Claims, types: Option<&[String]>) -> bool {
    let ty = claims.token_type().filter(|t| !t.is_empty());
    match (types, ty) {
        (None, None) => scope_words(claims.scope()).contains(&"access"),
        (None, Some(t)) => ACCESS_TOKEN_TYPES.contains(&t),
        (Some(types), ty) => types.iter().any(|a| a == "*" || Some(a.as_str()) == ty),
    }
}

/// The entries of a scope or token-type list, each one word (what Node's requireAuth and Go's NewMiddleware accept).
fn words<I, S>(list: I, what: &str) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let list: Vec<String> = list.into_iter().map(Into::into).collect();
    if list.iter().any(|w| w.is_empty() || w.chars().any(|c| c.is_whitespace() || c == '"' || c == '\\')) {
        panic!("AuthLayer: {what} must be a list of words");
    }
    list
}

/// `Bearer realm="…", error="…", error_description="…", scope="…"` (absent parts left out).
fn challenge(realm: &str, code: Option<&str>, description: &str, scopes: &[String]) -> String {
    let mut s = format!("Bearer realm={}", quote(realm));
    if let Some(code) = code {
        s.push_str(&format!(", error={}, error_description={}", quote(code), quote(description)));
    }
    if !scopes.is_empty() {
        s.push_str(&format!(", scope={}", quote(&scopes.join(" "))));
    }
    s
}

/// A quoted-string (RFC 7230 §3.2.6): `\` and `"` escaped, anything outside printable ASCII as `?`.
fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '\\' | '"' => {
                s.push('\\');
                s.push(c);
            }
            ' '..='~' => s.push(c),
            _ => s.push('?'),
        }
    }
    s.push('"');
    s
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

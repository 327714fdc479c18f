//! @file verifier.rs
//! @brief `Verifier` (cotter_jwt_verifier) and `Claims` (cotter_claims): ES256 access/ID token verification.

use std::ffi::c_void;
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::Duration;

use cotter_sys as sys;

use crate::call::{self, Call, Keep, StartFn};
use crate::callbacks::{clock_trampoline, log_trampoline, ClockFn, LogFn};
use crate::cstr;
use crate::error::Result;
use crate::ffi::{self, duration_ms, duration_secs};

pub use crate::callbacks::LogLevel;

/// Verifies Cotter's ES256 access and ID tokens against a static or remote JWKS.
///
/// Thread-safe (`Send + Sync`): share one verifier (e.g. in an `Arc`) across threads. `verify` may block
/// while the remote key set is fetched (the first time, and when it is stale); in async code call it from
/// `spawn_blocking`, or keep the keys fresh with [`refresh_async`](Self::refresh_async).
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    raw: NonNull<sys::cotter_jwt_verifier>,
    // Read by the library through `payload` pointers; shared with the calls in flight (refresh_async).
    hooks: Arc<VerifierHooks>,
}

struct VerifierHooks {
    log: Option<LogFn>,
    clock: Option<ClockFn>,
}

// SAFETY: cotter.h: "thread-safe and shareable"; the closures are Send + Sync.
unsafe impl Send for VerifierInner {}
unsafe impl Sync for VerifierInner {}

impl Drop for VerifierInner {
    fn drop(&mut self) {
        unsafe { sys::cotter_jwt_verifier_free(self.raw.as_ptr()) }
    }
}

impl Verifier {
    /// Starts a builder; `audience` (your API key id) and one key source are required.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// Verifies a compact JWS and returns its verified claims.
    ///
    /// Errors: a `Jwt*` kind per class of bad token, `JwksUnavailable`, `JwksInvalid`, `Invalid`.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        self.verify_bytes(token.as_bytes())
    }

    /// Like [`verify`](Self::verify) for raw bytes (need not be UTF-8 or NUL-free).
    pub fn verify_bytes(&self, token: &[u8]) -> Result<Claims> {
        let mut out: *mut sys::cotter_claims = ptr::null_mut();
        ffi::call(|err| unsafe {
            sys::cotter_jwt_verify(&mut out, self.raw(), token.as_ptr().cast(), token.len(), err)
        })?;
        Ok(Claims { raw: NonNull::new(out).expect("cotter_jwt_verify returned OK without claims") })
    }

    /// Checks a token and returns only the verdict (no claims object is built).
    pub fn check(&self, token: &str) -> Result<()> {
        ffi::call(|err| unsafe {
            sys::cotter_jwt_verify(ptr::null_mut(), self.raw(), token.as_ptr().cast(), token.len(), err)
        })
    }

    /// Fetches the remote key set now (not before the cooldown); a no-op for a static key set.
    pub fn refresh(&self) -> Result<()> {
        ffi::call(|err| unsafe { sys::cotter_jwt_verifier_refresh(self.raw(), err) })
    }

    /// [`refresh`](Self::refresh) as a [`Call`] future (concurrent refreshes share one fetch). Dropping it
    /// cancels the fetch.
    pub fn refresh_async(&self) -> Call<()> {
        let inner = self.inner.clone(); // the handle, until the call has started (it keeps the verifier then)
        let keep: Keep = inner.hooks.clone();
        let start: StartFn = Box::new(move |out, opts, err| unsafe {
            sys::cotter_jwt_verifier_refresh_start(out, inner.raw.as_ptr(), opts, err)
        });
        Call::new(keep, call::take_nothing, start)
    }

    fn raw(&self) -> *mut sys::cotter_jwt_verifier {
        self.inner.raw.as_ptr()
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

/// Options of [`Verifier`]; unset fields keep the library defaults (cotter.h).
#[derive(Default)]
pub struct VerifierBuilder {
    audience: Option<String>,
    issuer: Option<String>,
    leeway: Option<Duration>,
    jwks_json: Option<String>,
    jwks_url: Option<String>,
    ca_file: Option<String>,
    jwks_max_age: Option<Duration>,
    jwks_cooldown: Option<Duration>,
    jwks_timeout: Option<Duration>,
    jwks_max_bytes: Option<usize>,
    token_cache_size: Option<usize>,
    clock: Option<ClockFn>,
    log: Option<LogFn>,
}

impl VerifierBuilder {
    /// Required: your API key id; `aud` must contain it.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }
    /// Expected `iss` (exact match); default `https://www.cotter.app`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// Clock skew allowed for exp/nbf/iat (default 5 s, at most 300 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = Some(leeway);
        self
    }
    /// A static JWKS document (no network).
    pub fn jwks_json(mut self, jwks: impl Into<String>) -> Self {
        self.jwks_json = Some(jwks.into());
        self
    }
    /// A remote JWKS (https, or http to a loopback host), fetched on first use.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }
    /// PEM CA bundle for the JWKS fetch (default: the system store).
    pub fn ca_file(mut self, path: impl Into<String>) -> Self {
        self.ca_file = Some(path.into());
        self
    }
    /// Upper bound on how long fetched keys stay fresh (default 10 min).
    pub fn jwks_max_age(mut self, d: Duration) -> Self {
        self.jwks_max_age = Some(d);
        self
    }
    /// Minimum time between two fetches triggered by unknown `kid`s (default 30 s).
    pub fn jwks_cooldown(mut self, d: Duration) -> Self {
        self.jwks_cooldown = Some(d);
        self
    }
    /// Total timeout of one JWKS fetch (default 5 s).
    pub fn jwks_timeout(mut self, d: Duration) -> Self {
        self.jwks_timeout = Some(d);
        self
    }
    /// Cap on the JWKS response body (default 1 MiB).
    pub fn jwks_max_bytes(mut self, n: usize) -> Self {
        self.jwks_max_bytes = Some(n);
        self
    }
    /// Verified-token cache entries (default 0 = off).
    pub fn token_cache_size(mut self, n: usize) -> Self {
        self.token_cache_size = Some(n);
        self
    }
    /// Pins the clock (Unix seconds), for tests and tools. Called on the verifying thread.
    pub fn clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Box::new(now));
        self
    }
    /// Receives the library's log messages (never secrets). Called on the verifying thread.
    pub fn log(mut self, log: impl Fn(LogLevel, &str) + Send + Sync + 'static) -> Self {
        self.log = Some(Box::new(log));
        self
    }

    /// Creates the verifier. Errors: `Invalid` (bad options), `JwksInvalid`, `NoMemory`.
    pub fn build(self) -> Result<Verifier> {
        ffi::check_version()?;
        let audience = ffi::opt_cstring(self.audience.as_deref(), "audience")?;
        let issuer = ffi::opt_cstring(self.issuer.as_deref(), "issuer")?;
        let jwks_json = ffi::opt_cstring(self.jwks_json.as_deref(), "jwks_json")?;
        let jwks_url = ffi::opt_cstring(self.jwks_url.as_deref(), "jwks_url")?;
        let ca_file = ffi::opt_cstring(self.ca_file.as_deref(), "ca_file")?;

        let mut o = sys::COTTER_JWT_VERIFIER_OPTIONS_INIT;
        ffi::call(|_| unsafe { sys::cotter_jwt_verifier_options_init(&mut o, sys::COTTER_JWT_VERIFIER_OPTIONS_VERSION) })?;
        o.audience = ffi::opt_ptr(&audience);
        o.issuer = ffi::opt_ptr(&issuer);
        o.jwks_json = ffi::opt_ptr(&jwks_json);
        o.jwks_url = ffi::opt_ptr(&jwks_url);
        o.ca_file = ffi::opt_ptr(&ca_file);
        // The audience and CA file are what the builder says, whatever $COTTER_API_KEY_ID / $COTTER_CA_FILE hold.
        o.from_environment = 0;
        if let Some(d) = self.leeway {
            o.leeway_seconds = duration_secs(d);
        }
        if let Some(d) = self.jwks_max_age {
            o.jwks_max_age_ms = duration_ms(d);
        }
        if let Some(d) = self.jwks_cooldown {
            o.jwks_cooldown_ms = duration_ms(d);
        }
        if let Some(d) = self.jwks_timeout {
            o.jwks_timeout_ms = duration_ms(d);
        }
        if let Some(n) = self.jwks_max_bytes {
            o.jwks_max_bytes = n;
        }
        if let Some(n) = self.token_cache_size {
            o.token_cache_size = n;
        }
        let hooks = Arc::new(VerifierHooks { log: self.log, clock: self.clock });
        if let Some(f) = &hooks.clock {
            o.clock = Some(clock_trampoline);
            o.clock_payload = f as *const ClockFn as *mut c_void;
        }
        if let Some(f) = &hooks.log {
            o.log = Some(log_trampoline);
            o.log_payload = f as *const LogFn as *mut c_void;
        }
        let mut out: *mut sys::cotter_jwt_verifier = ptr::null_mut();
        ffi::call(|err| unsafe { sys::cotter_jwt_verifier_new(&mut out, &o, err) })?;
        let raw = NonNull::new(out).expect("cotter_jwt_verifier_new returned OK without a verifier");
        Ok(Verifier { inner: Arc::new(VerifierInner { raw, hooks }) })
    }
}

/// The verified claims of one token. Immutable, `Send + Sync`. Only exists for verified tokens.
pub struct Claims {
    raw: NonNull<sys::cotter_claims>,
}

// SAFETY: cotter.h: "Immutable; shareable across threads."
unsafe impl Send for Claims {}
unsafe impl Sync for Claims {}

macro_rules! str_claims {
    ($($(#[$doc:meta])* $name:ident => $c:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> Option<&str> {
                unsafe { cstr::borrowed_str(sys::$c(self.raw.as_ptr())) }
            }
        )*
    };
}

impl Claims {
    str_claims! {
        /// `sub`: Cotter's user id.
        sub => cotter_claims_sub;
        /// `iss`.
        iss => cotter_claims_iss;
        /// `identifier`: the user's email or phone.
        identifier => cotter_claims_identifier;
        /// `authentication_method`.
        authentication_method => cotter_claims_authentication_method;
        /// `scope`.
        scope => cotter_claims_scope;
        /// `type`: `client_access_token` or `client_id_token`.
        token_type => cotter_claims_type;
        /// `client_user_id`.
        client_user_id => cotter_claims_client_user_id;
        /// `jti`.
        jti => cotter_claims_jti;
        /// `auth_time` of ID tokens, as text.
        auth_time => cotter_claims_auth_time;
        /// `kid` of the key that verified the token.
        kid => cotter_claims_kid;
    }

    /// Every audience (`aud` as a string counts as one).
    pub fn audiences(&self) -> Vec<&str> {
        let n = unsafe { sys::cotter_claims_audience_count(self.raw.as_ptr()) };
        (0..n)
            .filter_map(|i| unsafe { cstr::borrowed_str(sys::cotter_claims_audience(self.raw.as_ptr(), i)) })
            .collect()
    }

    /// `exp` in Unix seconds.
    pub fn exp(&self) -> Option<i64> {
        nonzero(unsafe { sys::cotter_claims_exp(self.raw.as_ptr()) })
    }
    /// `iat` in Unix seconds.
    pub fn iat(&self) -> Option<i64> {
        nonzero(unsafe { sys::cotter_claims_iat(self.raw.as_ptr()) })
    }
    /// `nbf` in Unix seconds.
    pub fn nbf(&self) -> Option<i64> {
        nonzero(unsafe { sys::cotter_claims_nbf(self.raw.as_ptr()) })
    }

    /// The whole verified payload as JSON, byte for byte as signed (custom claims live here).
    pub fn json(&self) -> &str {
        let mut len = 0usize;
        unsafe {
            let p = sys::cotter_claims_json(self.raw.as_ptr(), &mut len);
            cstr::borrowed_bytes_str(p, len)
        }
    }

    /// The verified payload as your own type (feature `serde`), like `jsonwebtoken::decode::<T>`: standard and
    /// custom claims alike, `&str` fields borrowing from these claims. Only verified claims reach `T` (there is
    /// no `Claims` for a rejected token). A payload that does not fit `T` (a missing field, a wrong type) is
    /// [`crate::ErrorKind::JwtClaimType`] with serde's message (it names the field, never a value).
    ///
    /// ```no_run
    /// # fn f(verifier: &cotter::Verifier, token: &str) -> cotter::Result<()> {
    /// #[derive(serde::Deserialize)]
    /// struct MyClaims<'a> { sub: &'a str, exp: i64, #[serde(default)] roles: Vec<String> }
    /// let claims = verifier.verify(token)?;
    /// let mine: MyClaims = claims.deserialize()?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "serde")]
    pub fn deserialize<'de, T: serde::Deserialize<'de>>(&'de self) -> crate::Result<T> {
        serde_json::from_str(self.json()).map_err(|e| {
            // serde_json's message for a type mismatch quotes the value ("invalid type: string \"x\""); keep its
            // category and position only, so that a claim's value never reaches a log.
            let what = match e.classify() {
                serde_json::error::Category::Data => data_error_without_value(&e.to_string()),
                _ => "the claims are not valid JSON".to_owned(),
            };
            crate::Error::local(crate::ErrorKind::JwtClaimType, format!("claims do not fit the type: {what}"))
        })
    }
}

/// serde's data error without the offending value: "invalid type: string \"x\", expected i64 at line 1 column 9"
/// becomes "invalid type: string, expected i64 at line 1 column 9" (likewise "invalid value", "invalid length",
/// "unknown variant"); "missing field `x`" and "unknown field `x`" name a field, not a value, and stay.
#[cfg(feature = "serde")]
fn data_error_without_value(message: &str) -> String {
    const WITH_VALUE: [&str; 4] = ["invalid type: ", "invalid value: ", "invalid length ", "unknown variant "];
    if !WITH_VALUE.iter().any(|p| message.starts_with(p)) {
        return message.to_owned();
    }
    let Some(expected) = message.find(", expected") else { return message.to_owned() };
    let head = &message[..expected];
    let cut = head.find(['`', '"']).unwrap_or(head.len());
    format!("{}{}", head[..cut].trim_end(), &message[expected..])
}

fn nonzero(v: i64) -> Option<i64> {
    (v != 0).then_some(v)
}

impl Drop for Claims {
    fn drop(&mut self) {
        unsafe { sys::cotter_claims_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("sub", &self.sub())
            .field("iss", &self.iss())
            .field("aud", &self.audiences())
            .field("type", &self.token_type())
            .field("exp", &self.exp())
            .finish_non_exhaustive()
    }
}

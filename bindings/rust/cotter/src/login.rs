//! @file login.rs
//! @brief PKCE login helpers: `Pkce` (cotter_pkce), the hosted login URL, and the redirect parser.

use std::fmt;
use std::ptr::{self, NonNull};

use cotter_sys as sys;

use crate::cstr;
use crate::error::Result;
use crate::ffi::{self, Buf};
use crate::Secret;

/// A fresh PKCE verifier (32 random bytes, base64url), its S256 challenge and a state. Immutable,
/// `Send + Sync`; wiped on drop.
pub struct Pkce {
    raw: NonNull<sys::cotter_pkce>,
}

unsafe impl Send for Pkce {}
unsafe impl Sync for Pkce {}

impl Pkce {
    /// Generates a new verifier, challenge and state.
    pub fn new() -> Result<Pkce> {
        ffi::check_version()?;
        let mut out = ptr::null_mut();
        ffi::call(|err| unsafe { sys::cotter_pkce_new(&mut out, err) })?;
        Ok(Pkce { raw: NonNull::new(out).expect("cotter_pkce_new returned OK without a value") })
    }
    /// The code verifier (keep it secret until get_identity).
    pub fn verifier(&self) -> &str {
        unsafe { cstr::borrowed_str(sys::cotter_pkce_verifier(self.raw.as_ptr())).unwrap_or("") }
    }
    /// The S256 code challenge.
    pub fn challenge(&self) -> &str {
        unsafe { cstr::borrowed_str(sys::cotter_pkce_challenge(self.raw.as_ptr())).unwrap_or("") }
    }
    /// The state to compare with the redirect's.
    pub fn state(&self) -> &str {
        unsafe { cstr::borrowed_str(sys::cotter_pkce_state(self.raw.as_ptr())).unwrap_or("") }
    }
}

impl Drop for Pkce {
    fn drop(&mut self) {
        unsafe { sys::cotter_pkce_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Pkce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkce").field("challenge", &self.challenge()).finish_non_exhaustive()
    }
}

/// `base64url_nopad(SHA-256(verifier))`.
pub fn pkce_challenge_of(verifier: &str) -> Result<String> {
    ffi::check_version()?;
    let v = ffi::cstring(verifier, "verifier")?;
    let mut buf = Buf::new();
    ffi::call(|err| unsafe { sys::cotter_pkce_challenge_of(buf.as_mut_ptr(), v.as_ptr(), err) })?;
    Ok(buf.to_string_lossy())
}

/// Parameters of the hosted login page; `api_key_id`, `redirect_url`, `state` and `code_challenge` are
/// required.
#[derive(Debug, Default, Clone)]
pub struct LoginUrlOptions<'a> {
    /// The login page (default `https://js.cotter.app/app`).
    pub login_url: Option<&'a str>,
    pub api_key_id: &'a str,
    pub redirect_url: &'a str,
    pub state: &'a str,
    pub code_challenge: &'a str,
    /// `EMAIL` (default) or `PHONE`.
    pub identifier_type: Option<&'a str>,
    /// `OTP`, `MAGIC_LINK` or none.
    pub auth_method: Option<&'a str>,
    /// A prefilled identifier (sends the code at once).
    pub input: Option<&'a str>,
    pub cotter_user_id: Option<&'a str>,
}

/// Builds the hosted-login URL, every parameter percent-encoded.
pub fn login_url(opts: &LoginUrlOptions<'_>) -> Result<String> {
    ffi::check_version()?;
    let login_url = ffi::opt_cstring(opts.login_url, "login_url")?;
    let api_key_id = ffi::cstring(opts.api_key_id, "api_key_id")?;
    let redirect_url = ffi::cstring(opts.redirect_url, "redirect_url")?;
    let state = ffi::cstring(opts.state, "state")?;
    let code_challenge = ffi::cstring(opts.code_challenge, "code_challenge")?;
    let identifier_type = ffi::opt_cstring(opts.identifier_type, "identifier_type")?;
    let auth_method = ffi::opt_cstring(opts.auth_method, "auth_method")?;
    let input = ffi::opt_cstring(opts.input, "input")?;
    let cotter_user_id = ffi::opt_cstring(opts.cotter_user_id, "cotter_user_id")?;
    let mut o = sys::COTTER_LOGIN_URL_OPTIONS_INIT;
    o.login_url = ffi::opt_ptr(&login_url);
    o.api_key_id = api_key_id.as_ptr();
    o.redirect_url = redirect_url.as_ptr();
    o.state = state.as_ptr();
    o.code_challenge = code_challenge.as_ptr();
    o.identifier_type = ffi::opt_ptr(&identifier_type);
    o.auth_method = ffi::opt_ptr(&auth_method);
    o.input = ffi::opt_ptr(&input);
    o.cotter_user_id = ffi::opt_ptr(&cotter_user_id);
    o.from_environment = 0; // the page is the one given (else Cotter's), whatever $COTTER_LOGIN_URL holds
    let mut buf = Buf::new();
    ffi::call(|err| unsafe { sys::cotter_login_url(buf.as_mut_ptr(), &o, err) })?;
    Ok(buf.to_string_lossy())
}

/// What a login redirect carried.
#[derive(Debug)]
pub struct LoginRedirect {
    /// The authorization code (a secret until exchanged).
    pub code: Secret,
    pub challenge_id: i64,
}

/// Checks a redirect's query string (with or without `?`) against the expected state and extracts the
/// code and challenge id. Errors: `State` (wrong state, or the redirect carries `error`), `Protocol`.
pub fn login_redirect_parse(query: &str, expected_state: &str) -> Result<LoginRedirect> {
    ffi::check_version()?;
    let q = ffi::cstring(query, "query")?;
    let s = ffi::cstring(expected_state, "expected_state")?;
    let mut code = Buf::new();
    let mut challenge_id = 0i64;
    ffi::call(|err| unsafe {
        sys::cotter_login_redirect_parse(code.as_mut_ptr(), &mut challenge_id, q.as_ptr(), s.as_ptr(), err)
    })?;
    Ok(LoginRedirect { code: code.to_secret(), challenge_id })
}

//! @file token.rs
//! @brief `Token` (an owned cotter_token) and `TokenRef` (one borrowed from its owner): Cotter's
//! `oauth_token` set.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::{self, NonNull};

use cotter_sys as sys;

use crate::cstr;
use crate::error::Result;
use crate::ffi::{self, Buf};
use crate::Secret;

/// An `oauth_token` set seen through a reference: borrowed from an owned [`Token`] (through `Deref`) or
/// from its parent (e.g. [`Identity::token`](crate::Identity::token)). Immutable and thread-safe.
///
/// The type has no size of its own: a `&TokenRef` is the C pointer.
pub struct TokenRef {
    _opaque: [u8; 0],
    _not_send_auto: PhantomData<*mut u8>,
}

// SAFETY: cotter.h: cotter_token is "Immutable; shareable across threads".
unsafe impl Send for TokenRef {}
unsafe impl Sync for TokenRef {}

impl TokenRef {
    /// # Safety
    /// `p` must be a valid cotter_token that outlives `'a`.
    pub(crate) unsafe fn from_ptr<'a>(p: *const sys::cotter_token) -> &'a TokenRef {
        &*(p as *const TokenRef)
    }

    pub(crate) fn as_ptr(&self) -> *const sys::cotter_token {
        self as *const TokenRef as *const sys::cotter_token
    }

    /// The access token (a JWT).
    pub fn access_token(&self) -> Option<&str> {
        unsafe { cstr::borrowed_str(sys::cotter_token_access_token(self.as_ptr())) }
    }
    /// The ID token (a JWT).
    pub fn id_token(&self) -> Option<&str> {
        unsafe { cstr::borrowed_str(sys::cotter_token_id_token(self.as_ptr())) }
    }
    /// The refresh token (rotated by Cotter on every use).
    pub fn refresh_token(&self) -> Option<&str> {
        unsafe { cstr::borrowed_str(sys::cotter_token_refresh_token(self.as_ptr())) }
    }
    /// `token_type`, normally `Bearer`.
    pub fn token_type(&self) -> Option<&str> {
        unsafe { cstr::borrowed_str(sys::cotter_token_token_type(self.as_ptr())) }
    }
    /// `auth_method`, e.g. `OTP`.
    pub fn auth_method(&self) -> Option<&str> {
        unsafe { cstr::borrowed_str(sys::cotter_token_auth_method(self.as_ptr())) }
    }
    /// `expires_in` in seconds as received (0 when absent).
    pub fn expires_in(&self) -> i64 {
        unsafe { sys::cotter_token_expires_in(self.as_ptr()) }
    }
    /// `exp` of the access token read WITHOUT verification: for scheduling a refresh, never for
    /// authorisation. `None` when it cannot be read.
    pub fn access_token_expires_at(&self) -> Option<i64> {
        let v = unsafe { sys::cotter_token_access_token_expires_at(self.as_ptr()) };
        (v != 0).then_some(v)
    }
    /// The six-key `oauth_token` JSON (what Cotter's SDKs store); holds secrets.
    pub fn to_json(&self) -> Result<Secret> {
        let mut buf = Buf::new();
        ffi::call(|err| unsafe { sys::cotter_token_to_json(buf.as_mut_ptr(), self.as_ptr(), err) })?;
        Ok(buf.to_secret())
    }
    /// An owned copy (through JSON, the only copy the C ABI offers).
    pub fn to_owned_token(&self) -> Result<Token> {
        Token::from_json(&self.to_json()?)
    }
}

impl fmt::Debug for TokenRef {
    // Never prints a token: only what is not secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("token_type", &self.token_type())
            .field("auth_method", &self.auth_method())
            .field("expires_in", &self.expires_in())
            .finish_non_exhaustive()
    }
}

/// An owned `oauth_token` set; wiped and freed on drop. Dereferences to [`TokenRef`] for the getters.
pub struct Token {
    raw: NonNull<sys::cotter_token>,
}

// SAFETY: immutable C object (see TokenRef).
unsafe impl Send for Token {}
unsafe impl Sync for Token {}

impl Token {
    /// Takes ownership of a token returned by the library.
    pub(crate) fn from_raw(p: *mut sys::cotter_token, what: &str) -> Token {
        Token { raw: NonNull::new(p).unwrap_or_else(|| panic!("{what} returned OK without a token")) }
    }

    /// Parses an `oauth_token` JSON object (e.g. a token file of Cotter's Python SDK).
    /// Errors: `Protocol` (not an object, no string `access_token`), `Invalid`.
    pub fn from_json(json: &str) -> Result<Token> {
        ffi::check_version()?;
        let mut out: *mut sys::cotter_token = ptr::null_mut();
        ffi::call(|err| unsafe { sys::cotter_token_from_json(&mut out, json.as_ptr().cast(), json.len(), err) })?;
        Ok(Token::from_raw(out, "cotter_token_from_json"))
    }
}

impl Deref for Token {
    type Target = TokenRef;
    fn deref(&self) -> &TokenRef {
        unsafe { TokenRef::from_ptr(self.raw.as_ptr()) }
    }
}

impl AsRef<TokenRef> for Token {
    fn as_ref(&self) -> &TokenRef {
        self
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        unsafe { sys::cotter_token_free(self.raw.as_ptr()) }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

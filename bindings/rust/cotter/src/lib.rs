//! @file lib.rs
//! @brief Safe Rust API over libcotter's C ABI.
//!
//! - Every fallible call returns [`Result<T>`]; [`Error::kind`] tells the class ([`ErrorKind`], one per
//!   C status code).
//! - Every handle frees its C object on `Drop`.
//! - Handles are `Send + Sync` exactly where cotter.h says the object is thread-safe or immutable:
//!   [`Verifier`], [`Claims`], [`Token`], [`Client`], [`Session`], and the immutable results.
//! - Getters borrow from their owner: a `&str` lives as long as the object it came from.
//! - Every network operation has a blocking form and an `_async` form returning a [`Call`] future that works
//!   under any executor (no runtime dependency); dropping the future cancels the request. Verification
//!   (`Verifier::verify`) stays blocking: run it in `spawn_blocking` in async code (as [`middleware`] does).
//! - [`SharedStore`]: sessions shared by a fleet through Redis, over your client ([`SharedStoreAdapter`]; feature
//!   `redis`: [`redis_adapter::RedisAdapter`] over redis-rs) or the library's hiredis adapter.
//! - Feature `tower`: [`middleware::AuthLayer`], a tower layer (axum, hyper, tonic) that requires a valid token.
//! - Secrets (tokens, the API secret) never appear in `Debug` output; strings that hold tokens are
//!   returned as [`Secret`] (wiped on drop).

mod call;
mod callbacks;
mod client;
mod cstr;
mod error;
mod error_kind;
mod ffi;
mod legacy;
mod login;
mod records;
mod records_support;
#[cfg(feature = "tower")]
pub mod middleware;
mod session;
mod shared_store;
#[cfg(feature = "redis")]
pub mod redis_adapter;
mod token;
mod verifier;

pub use call::Call;
pub use client::{Client, ClientBuilder, ClientStats, CustomClaims, SocialTokenList, SocialTokenRef, UserList, UserRef};
pub use error::{status_describe, status_name, Error, Result};
pub use error_kind::ErrorKind;
pub use legacy::{event_token_verify, identity_token_verify, LEGACY_PUBLIC_KEY};
pub use records::{Identity, SocialToken, User};
pub use login::{login_redirect_parse, login_url, pkce_challenge_of, LoginRedirect, LoginUrlOptions, Pkce};
pub use session::{Session, SessionBuilder, Storage};
pub use shared_store::{EvalDone, HiredisOptions, SharedStore, SharedStoreAdapter, SharedStoreOptions, WaitDone};
pub use token::{Token, TokenRef};
pub use verifier::{Claims, LogLevel, Verifier, VerifierBuilder};

/// A string that holds a secret (an access token, a refresh token, an authorization code); wiped from
/// memory when dropped.
pub type Secret = zeroize::Zeroizing<String>;

/// Re-export of the raw declarations, for the rare call the safe API does not wrap.
pub use cotter_sys as sys;

/// `MAJOR.MINOR.PATCH` of the libcotter actually loaded.
pub fn version() -> &'static str {
    // SAFETY: static storage, NUL-terminated.
    unsafe { cstr::static_str(sys::cotter_version_string()) }
}

/// `COTTER_VERSION_NUMBER` of the loaded libcotter (major * 10000 + minor * 100 + patch).
pub fn version_number() -> i32 {
    unsafe { sys::cotter_version_number() }
}

/// Reference-counted global initialisation (libcurl's); optional, since objects initialise lazily.
/// The returned guard drops the reference.
pub fn global_init() -> Result<GlobalGuard> {
    ffi::check_version()?;
    let rc = unsafe { sys::cotter_global_init() };
    if rc != sys::COTTER_OK {
        return Err(Error::from_code(rc));
    }
    Ok(GlobalGuard { _private: () })
}

/// One reference taken by [`global_init`]; released on drop (`cotter_global_shutdown`).
#[must_use = "dropping the guard releases the global initialisation at once"]
pub struct GlobalGuard {
    _private: (),
}

impl Drop for GlobalGuard {
    fn drop(&mut self) {
        unsafe { sys::cotter_global_shutdown() }
    }
}

// Compile-time check of the thread-safety markers: cotter.h calls the verifier, client and session
// thread-safe and every other object immutable (so shareable), hence every handle is Send + Sync. A
// handle that loses a marker (e.g. a new raw-pointer field without its `unsafe impl`) fails the build.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Verifier>();
    send_sync::<VerifierBuilder>();
    send_sync::<Claims>();
    send_sync::<Token>();
    send_sync::<TokenRef>();
    send_sync::<Client>();
    send_sync::<ClientBuilder>();
    send_sync::<Session>();
    send_sync::<SharedStore>();
    send_sync::<SessionBuilder>();
    send_sync::<Identity>();
    send_sync::<User>();
    send_sync::<UserRef>();
    send_sync::<UserList>();
    send_sync::<SocialToken>();
    send_sync::<SocialTokenRef>();
    send_sync::<SocialTokenList>();
    send_sync::<Pkce>();
    send_sync::<Error>();
    send_sync::<GlobalGuard>();
    send_sync::<Call<Token>>();
    send_sync::<Call<()>>();
};

//! @file client.rs
//! @brief `Client` (cotter_client): grants, refresh, logout, custom claims, get_identity, users, social
//! provider tokens and the serverless verify call; and the result objects they return.

use std::ffi::{c_int, c_void};
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::Duration;

use cotter_sys as sys;

use crate::call::{self, Call, Keep, StartFn};
use crate::callbacks::{log_trampoline, LogFn, LogLevel};
use crate::cstr;
use crate::error::Result;
use crate::ffi::{self, duration_ms, Buf};
use crate::records::{Identity, SocialToken, User};
use crate::token::Token;
use crate::Secret;

/// A connection to Cotter's API (or a compatible server such as the emulator).
///
/// Thread-safe (`Send + Sync`) and cheap to clone (clones share one C client and its connections). Every
/// operation has a blocking form (`refresh`) and an async one (`refresh_async`, a [`Call`] future that works
/// under any executor); both run on the client's own I/O thread, where a request in flight holds a socket,
/// never a thread.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    raw: NonNull<sys::cotter_client>,
    hooks: Arc<ClientHooks>,
}

/// The closures the C client calls through `payload` pointers. Shared with the sessions on the client and
/// with its calls in flight: the library may call them as long as any of those is alive.
pub(crate) struct ClientHooks {
    log: Option<LogFn>,
}

// SAFETY: cotter.h: cotter_client is thread-safe; the log closure is Send + Sync.
unsafe impl Send for ClientInner {}
unsafe impl Sync for ClientInner {}

impl ClientInner {
    pub(crate) fn as_ptr(&self) -> *mut sys::cotter_client {
        self.raw.as_ptr()
    }

    pub(crate) fn hooks(&self) -> &Arc<ClientHooks> {
        &self.hooks
    }
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        // Sessions and calls in flight keep the C client alive on their own (cotter.h), and hold `hooks`.
        unsafe { sys::cotter_client_free(self.raw.as_ptr()) }
    }
}

/// Returns a failed [`Call`] from an async method when an argument is rejected before anything starts.
macro_rules! try_call {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Call::failed(e),
        }
    };
}
pub(crate) use try_call;

/// Counters of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// New TCP connections opened.
    pub connections: u64,
    /// Automatic retries performed.
    pub retries: u64,
}

/// The result of [`Client::custom_claims`].
#[derive(Debug)]
pub struct CustomClaims {
    /// The new access token carrying the custom claims.
    pub token: Secret,
    /// The refresh token that keeps the claims (only when a refresh token was passed in).
    pub refresh_token: Option<Secret>,
}

impl CustomClaims {
    fn from_bufs(token: &Buf, refresh_token: &Buf) -> CustomClaims {
        let rt = (!refresh_token.0.ptr.is_null() && refresh_token.0.len > 0).then(|| refresh_token.to_secret());
        CustomClaims { token: token.to_secret(), refresh_token: rt }
    }
}

impl Client {
    /// Starts a builder; `api_key_id` is required.
    pub fn builder(api_key_id: impl Into<String>) -> ClientBuilder {
        ClientBuilder { api_key_id: api_key_id.into(), ..ClientBuilder::default() }
    }

    pub(crate) fn inner(&self) -> &Arc<ClientInner> {
        &self.inner
    }

    fn raw(&self) -> *mut sys::cotter_client {
        self.inner.as_ptr()
    }

    /// An async call on this client: `start(client, out, call_options, out_error)` runs at the first poll.
    fn call<T>(
        &self, take: call::TakeFn<T>,
        start: impl FnOnce(*mut sys::cotter_client, *mut *mut sys::cotter_call, *const sys::cotter_call_options,
                          *mut *mut sys::cotter_error) -> c_int
            + Send
            + Sync
            + 'static,
    ) -> Call<T> {
        let inner = self.inner.clone(); // the handle, until the call has started (it keeps the C client then)
        let keep: Keep = inner.hooks.clone();
        let start: StartFn = Box::new(move |out, opts, err| start(inner.as_ptr(), out, opts, err));
        Call::new(keep, take, start)
    }

    /// The effective base URL.
    pub fn base_url(&self) -> &str {
        unsafe { cstr::borrowed_str(sys::cotter_client_base_url(self.raw())).unwrap_or("") }
    }

    /// The API key id the client sends.
    pub fn api_key_id(&self) -> &str {
        unsafe { cstr::borrowed_str(sys::cotter_client_api_key_id(self.raw())).unwrap_or("") }
    }

    /// Where this client's API publishes its key set (the library's rule: `<base_url>/token/jwks`), for
    /// [`crate::VerifierBuilder::jwks_url`].
    pub fn jwks_url(&self) -> Result<String> {
        let base = ffi::cstring(self.base_url(), "base_url")?;
        let mut buf = Buf::new();
        ffi::call(|err| unsafe { sys::cotter_jwks_url(buf.as_mut_ptr(), base.as_ptr(), err) })?;
        Ok(buf.to_string_lossy())
    }

    /// Request, connection and retry counters.
    pub fn stats(&self) -> Result<ClientStats> {
        let mut s = sys::cotter_client_stats { version: 0, requests: 0, connections: 0, retries: 0 };
        let rc = unsafe { sys::cotter_client_stats_get(&mut s, self.raw()) };
        if rc != sys::COTTER_OK {
            return Err(crate::Error::from_code(rc));
        }
        Ok(ClientStats { requests: s.requests, connections: s.connections, retries: s.retries })
    }

    /// Exchanges an Identity Token (JSON) for a token set. Needs the API secret. Never retried.
    pub fn grant_identity_token(&self, identity_token_json: &str) -> Result<Token> {
        let json = ffi::cstring(identity_token_json, "identity_token_json")?;
        let mut out = ptr::null_mut();
        ffi::call(|err| unsafe { sys::cotter_client_grant_identity_token(&mut out, self.raw(), json.as_ptr(), err) })?;
        Ok(Token::from_raw(out, "cotter_client_grant_identity_token"))
    }

    /// Exchanges an Event Token (JSON) for a token set. Needs the API secret. Never retried.
    pub fn grant_event_token(&self, event_token_json: &str) -> Result<Token> {
        let json = ffi::cstring(event_token_json, "event_token_json")?;
        let mut out = ptr::null_mut();
        ffi::call(|err| unsafe { sys::cotter_client_grant_event_token(&mut out, self.raw(), json.as_ptr(), err) })?;
        Ok(Token::from_raw(out, "cotter_client_grant_event_token"))
    }

    /// Refreshes a token set. Cotter rotates refresh tokens: the old one is invalid afterwards.
    /// Errors: `Reauth` when the server rejects the refresh token.
    pub fn refresh(&self, refresh_token: &str) -> Result<Token> {
        let rt = ffi::cstring(refresh_token, "refresh_token")?;
        let mut out = ptr::null_mut();
        ffi::call(|err| unsafe { sys::cotter_client_refresh(&mut out, self.raw(), rt.as_ptr(), err) })?;
        Ok(Token::from_raw(out, "cotter_client_refresh"))
    }

    /// Ends the server session of `refresh_token`.
    pub fn logout(&self, refresh_token: Option<&str>) -> Result<()> {
        let rt = ffi::opt_cstring(refresh_token, "refresh_token")?;
        ffi::call(|err| unsafe { sys::cotter_client_logout(self.raw(), ffi::opt_ptr(&rt), err) })
    }

    /// A new access token carrying `custom_attributes_json` (a JSON object) as top-level claims; with
    /// `refresh_token`, also a refresh token that keeps them.
    pub fn custom_claims(&self, access_token: &str, custom_attributes_json: &str, refresh_token: Option<&str>)
        -> Result<CustomClaims> {
        let token = ffi::cstring(access_token, "access_token")?;
        let attrs = ffi::cstring(custom_attributes_json, "custom_attributes_json")?;
        let rt = ffi::opt_cstring(refresh_token, "refresh_token")?;
        let mut token_out = Buf::new();
        let mut rt_out = Buf::new();
        ffi::call(|err| unsafe {
            sys::cotter_client_custom_claims(token_out.as_mut_ptr(), rt_out.as_mut_ptr(), self.raw(), token.as_ptr(),
                                             attrs.as_ptr(), ffi::opt_ptr(&rt), err)
        })?;
        Ok(CustomClaims::from_bufs(&token_out, &rt_out))
    }

    /// Exchanges the authorization code of a PKCE login for the user's identity and token set.
    pub fn get_identity(&self, authorization_code: &str, challenge_id: i64, code_verifier: &str, redirect_url: &str)
        -> Result<Identity> {
        let code = ffi::cstring(authorization_code, "authorization_code")?;
        let verifier = ffi::cstring(code_verifier, "code_verifier")?;
        let redirect = ffi::cstring(redirect_url, "redirect_url")?;
        let mut out = Buf::new();
        ffi::call(|err| unsafe {
            sys::cotter_client_get_identity(out.as_mut_ptr(), self.raw(), code.as_ptr(), challenge_id, verifier.as_ptr(),
                                            redirect.as_ptr(), err)
        })?;
        Identity::from_json(text(out.to_secret()))
    }

    /// Creates a user (`POST /user/create`).
    pub fn user_create(&self, identifier: &str) -> Result<User> {
        let id = ffi::cstring(identifier, "identifier")?;
        let mut out = Buf::new();
        ffi::call(|err| unsafe { sys::cotter_client_user_create(out.as_mut_ptr(), self.raw(), id.as_ptr(), err) })?;
        user_of(out.to_secret())
    }

    /// Looks a user up by email or phone. Errors: `NotFound`.
    pub fn user_get_by_identifier(&self, identifier: &str) -> Result<User> {
        let id = ffi::cstring(identifier, "identifier")?;
        let mut out = Buf::new();
        ffi::call(|err| unsafe { sys::cotter_client_user_get_by_identifier(out.as_mut_ptr(), self.raw(), id.as_ptr(), err) })?;
        user_of(out.to_secret())
    }

    /// Gets a user by Cotter user id (needs the secret). Errors: `NotFound`.
    pub fn user_get(&self, user_id: &str) -> Result<User> {
        let id = ffi::cstring(user_id, "user_id")?;
        let mut out = Buf::new();
        ffi::call(|err| unsafe { sys::cotter_client_user_get(out.as_mut_ptr(), self.raw(), id.as_ptr(), err) })?;
        user_of(out.to_secret())
    }

    /// One page of users (50 per page, newest first; needs the secret).
    pub fn user_list(&self, page: u32) -> Result<UserList> {
        let mut out = Buf::new();
        ffi::call(|err| unsafe { sys::cotter_client_user_list(out.as_mut_ptr(), self.raw(), page, err) })?;
        UserList::from_json(out.to_secret())
    }

    /// Every social-login provider token of a user (needs the secret).
    pub fn social_tokens_list(&self, cotter_user_id: &str) -> Result<SocialTokenList> {
        let id = ffi::cstring(cotter_user_id, "cotter_user_id")?;
        let mut out = Buf::new();
        ffi::call(|err| unsafe { sys::cotter_client_social_tokens_list(out.as_mut_ptr(), self.raw(), id.as_ptr(), err) })?;
        SocialTokenList::from_json(out.to_secret())
    }

    /// The user's token of one provider. Errors: `NotFound`.
    pub fn social_token_get(&self, provider: &str, cotter_user_id: &str) -> Result<SocialToken> {
        let p = ffi::cstring(provider, "provider")?;
        let id = ffi::cstring(cotter_user_id, "cotter_user_id")?;
        let mut out = Buf::new();
        ffi::call(|err| unsafe { sys::cotter_client_social_token_get(out.as_mut_ptr(), self.raw(), p.as_ptr(), id.as_ptr(), err) })?;
        social_token_of(out.to_secret())
    }

    /// Deletes the user's token of one provider. Errors: `NotFound`.
    pub fn social_token_delete(&self, provider: &str, cotter_user_id: &str) -> Result<()> {
        let p = ffi::cstring(provider, "provider")?;
        let id = ffi::cstring(cotter_user_id, "cotter_user_id")?;
        ffi::call(|err| unsafe { sys::cotter_client_social_token_delete(self.raw(), p.as_ptr(), id.as_ptr(), err) })
    }

    /// Asks Cotter's serverless verifier (`worker_url`) about an access token: `Ok(Ok(()))` when valid,
    /// `Ok(Err(reason))` when the worker says invalid, `Err` when the call itself failed.
    pub fn verify_remote(&self, access_token: &str) -> Result<std::result::Result<(), String>> {
        let token = ffi::cstring(access_token, "access_token")?;
        let mut valid: std::ffi::c_int = 0;
        let mut reason = Buf::new();
        ffi::call(|err| unsafe {
            sys::cotter_client_verify_remote(&mut valid, reason.as_mut_ptr(), self.raw(), token.as_ptr(), err)
        })?;
        Ok(if valid != 0 { Ok(()) } else { Err(reason.to_string_lossy()) })
    }

    /// Asks the trusted device of `client_user_id` to approve `event` (e.g. "LOGIN"), POST /event/create_pending
    /// (spec §2.11). Returns the event object as JSON (checked by the library; parse it with serde_json). With
    /// `code_challenge` (a PKCE challenge) only its verifier collects the tokens ([`event_get`](Self::event_get)).
    /// Errors: `NotFound` (no such user), `OAuth` (the API refused, e.g. no trusted device), `InvalidArgument`.
    pub fn event_create_pending(&self, client_user_id: &str, event: &str, code_challenge: Option<&str>)
        -> Result<Secret> {
        let user = ffi::cstring(client_user_id, "client_user_id")?;
        let ev = ffi::cstring(event, "event")?;
        let ch = ffi::opt_cstring(code_challenge, "code_challenge")?;
        let mut out = Buf::new();
        ffi::call(|err| unsafe {
            sys::cotter_client_event_create_pending(out.as_mut_ptr(), self.raw(), user.as_ptr(), ev.as_ptr(),
                                                    ffi::opt_ptr(&ch), err)
        })?;
        Ok(out.to_secret())
    }

    /// Polls an event, GET /event/get/:event_id: the event object as JSON (`new` while it waits, then
    /// `approved`). With `code_verifier`, an approved event carries `oauth_token` (once). Errors: `NotFound`.
    pub fn event_get(&self, event_id: i64, code_verifier: Option<&str>) -> Result<Secret> {
        let v = ffi::opt_cstring(code_verifier, "code_verifier")?;
        let mut out = Buf::new();
        ffi::call(|err| unsafe {
            sys::cotter_client_event_get(out.as_mut_ptr(), self.raw(), event_id, ffi::opt_ptr(&v), err)
        })?;
        Ok(out.to_secret())
    }

    // ---- Async forms: the same operations as `Call` futures (lazy; dropping one cancels it) -----------------

    /// [`grant_identity_token`](Self::grant_identity_token) as a future.
    pub fn grant_identity_token_async(&self, identity_token_json: &str) -> Call<Token> {
        let json = try_call!(ffi::cstring(identity_token_json, "identity_token_json"));
        self.call(take_token, move |c, out, o, err| unsafe {
            sys::cotter_client_grant_identity_token_start(out, c, json.as_ptr(), o, err)
        })
    }

    /// [`grant_event_token`](Self::grant_event_token) as a future.
    pub fn grant_event_token_async(&self, event_token_json: &str) -> Call<Token> {
        let json = try_call!(ffi::cstring(event_token_json, "event_token_json"));
        self.call(take_token, move |c, out, o, err| unsafe {
            sys::cotter_client_grant_event_token_start(out, c, json.as_ptr(), o, err)
        })
    }

    /// [`refresh`](Self::refresh) as a future.
    pub fn refresh_async(&self, refresh_token: &str) -> Call<Token> {
        let rt = try_call!(ffi::cstring(refresh_token, "refresh_token"));
        self.call(take_token, move |c, out, o, err| unsafe {
            sys::cotter_client_refresh_start(out, c, rt.as_ptr(), o, err)
        })
    }

    /// [`logout`](Self::logout) as a future.
    pub fn logout_async(&self, refresh_token: Option<&str>) -> Call<()> {
        let rt = try_call!(ffi::opt_cstring(refresh_token, "refresh_token"));
        self.call(call::take_nothing, move |c, out, o, err| unsafe {
            sys::cotter_client_logout_start(out, c, ffi::opt_ptr(&rt), o, err)
        })
    }

    /// [`custom_claims`](Self::custom_claims) as a future.
    pub fn custom_claims_async(&self, access_token: &str, custom_attributes_json: &str, refresh_token: Option<&str>)
        -> Call<CustomClaims> {
        let token = try_call!(ffi::cstring(access_token, "access_token"));
        let attrs = try_call!(ffi::cstring(custom_attributes_json, "custom_attributes_json"));
        let rt = try_call!(ffi::opt_cstring(refresh_token, "refresh_token"));
        self.call(take_custom_claims, move |c, out, o, err| unsafe {
            sys::cotter_client_custom_claims_start(out, c, token.as_ptr(), attrs.as_ptr(), ffi::opt_ptr(&rt), o, err)
        })
    }

    /// [`get_identity`](Self::get_identity) as a future.
    pub fn get_identity_async(&self, authorization_code: &str, challenge_id: i64, code_verifier: &str,
                              redirect_url: &str) -> Call<Identity> {
        let code = try_call!(ffi::cstring(authorization_code, "authorization_code"));
        let verifier = try_call!(ffi::cstring(code_verifier, "code_verifier"));
        let redirect = try_call!(ffi::cstring(redirect_url, "redirect_url"));
        self.call(take_identity, move |c, out, o, err| unsafe {
            sys::cotter_client_get_identity_start(out, c, code.as_ptr(), challenge_id, verifier.as_ptr(),
                                                  redirect.as_ptr(), o, err)
        })
    }

    /// [`user_create`](Self::user_create) as a future.
    pub fn user_create_async(&self, identifier: &str) -> Call<User> {
        let id = try_call!(ffi::cstring(identifier, "identifier"));
        self.call(take_user, move |c, out, o, err| unsafe {
            sys::cotter_client_user_create_start(out, c, id.as_ptr(), o, err)
        })
    }

    /// [`user_get_by_identifier`](Self::user_get_by_identifier) as a future.
    pub fn user_get_by_identifier_async(&self, identifier: &str) -> Call<User> {
        let id = try_call!(ffi::cstring(identifier, "identifier"));
        self.call(take_user, move |c, out, o, err| unsafe {
            sys::cotter_client_user_get_by_identifier_start(out, c, id.as_ptr(), o, err)
        })
    }

    /// [`user_get`](Self::user_get) as a future.
    pub fn user_get_async(&self, user_id: &str) -> Call<User> {
        let id = try_call!(ffi::cstring(user_id, "user_id"));
        self.call(take_user, move |c, out, o, err| unsafe {
            sys::cotter_client_user_get_start(out, c, id.as_ptr(), o, err)
        })
    }

    /// [`user_list`](Self::user_list) as a future.
    pub fn user_list_async(&self, page: u32) -> Call<UserList> {
        self.call(take_user_list, move |c, out, o, err| unsafe { sys::cotter_client_user_list_start(out, c, page, o, err) })
    }

    /// [`social_tokens_list`](Self::social_tokens_list) as a future.
    pub fn social_tokens_list_async(&self, cotter_user_id: &str) -> Call<SocialTokenList> {
        let id = try_call!(ffi::cstring(cotter_user_id, "cotter_user_id"));
        self.call(take_social_token_list, move |c, out, o, err| unsafe {
            sys::cotter_client_social_tokens_list_start(out, c, id.as_ptr(), o, err)
        })
    }

    /// [`social_token_get`](Self::social_token_get) as a future.
    pub fn social_token_get_async(&self, provider: &str, cotter_user_id: &str) -> Call<SocialToken> {
        let p = try_call!(ffi::cstring(provider, "provider"));
        let id = try_call!(ffi::cstring(cotter_user_id, "cotter_user_id"));
        self.call(take_social_token, move |c, out, o, err| unsafe {
            sys::cotter_client_social_token_get_start(out, c, p.as_ptr(), id.as_ptr(), o, err)
        })
    }

    /// [`social_token_delete`](Self::social_token_delete) as a future.
    pub fn social_token_delete_async(&self, provider: &str, cotter_user_id: &str) -> Call<()> {
        let p = try_call!(ffi::cstring(provider, "provider"));
        let id = try_call!(ffi::cstring(cotter_user_id, "cotter_user_id"));
        self.call(call::take_nothing, move |c, out, o, err| unsafe {
            sys::cotter_client_social_token_delete_start(out, c, p.as_ptr(), id.as_ptr(), o, err)
        })
    }

    /// [`verify_remote`](Self::verify_remote) as a future.
    pub fn verify_remote_async(&self, access_token: &str) -> Call<std::result::Result<(), String>> {
        let token = try_call!(ffi::cstring(access_token, "access_token"));
        self.call(take_verify_remote, move |c, out, o, err| unsafe {
            sys::cotter_client_verify_remote_start(out, c, token.as_ptr(), o, err)
        })
    }

    /// [`event_create_pending`](Self::event_create_pending) as a future.
    pub fn event_create_pending_async(&self, client_user_id: &str, event: &str, code_challenge: Option<&str>)
        -> Call<Secret> {
        let user = try_call!(ffi::cstring(client_user_id, "client_user_id"));
        let ev = try_call!(ffi::cstring(event, "event"));
        let ch = try_call!(ffi::opt_cstring(code_challenge, "code_challenge"));
        self.call(take_json, move |c, out, o, err| unsafe {
            sys::cotter_client_event_create_pending_start(out, c, user.as_ptr(), ev.as_ptr(), ffi::opt_ptr(&ch), o, err)
        })
    }

    /// [`event_get`](Self::event_get) as a future.
    pub fn event_get_async(&self, event_id: i64, code_verifier: Option<&str>) -> Call<Secret> {
        let v = try_call!(ffi::opt_cstring(code_verifier, "code_verifier"));
        self.call(take_json, move |c, out, o, err| unsafe {
            sys::cotter_client_event_get_start(out, c, event_id, ffi::opt_ptr(&v), o, err)
        })
    }
}

// ---- Takers: the result of a completed call, as the blocking forms return it ------------------------------

pub(crate) fn take_token(call: *mut sys::cotter_call) -> Result<Token> {
    let mut out = ptr::null_mut();
    call::take_with(|err| unsafe { sys::cotter_call_take_token(&mut out, call, err) })?;
    Ok(Token::from_raw(out, "cotter_call_take_token"))
}

fn take_custom_claims(call: *mut sys::cotter_call) -> Result<CustomClaims> {
    let mut token_out = Buf::new();
    let mut rt_out = Buf::new();
    call::take_with(|err| unsafe {
        sys::cotter_call_take_custom_claims(token_out.as_mut_ptr(), rt_out.as_mut_ptr(), call, err)
    })?;
    Ok(CustomClaims::from_bufs(&token_out, &rt_out))
}

fn take_identity(call: *mut sys::cotter_call) -> Result<Identity> {
    Identity::from_json(text(take_json(call)?))
}

/// The text of a record's JSON, moved out of its `Secret` (no copy left behind unwiped).
fn text(mut json: Secret) -> String {
    std::mem::take(&mut *json)
}

fn take_user(call: *mut sys::cotter_call) -> Result<User> {
    user_of(take_json(call)?)
}

fn take_user_list(call: *mut sys::cotter_call) -> Result<UserList> {
    UserList::from_json(take_json(call)?)
}

fn user_of(json: Secret) -> Result<User> {
    User::from_json(text(json))
}

fn social_token_of(json: Secret) -> Result<SocialToken> {
    SocialToken::from_json(text(json))
}

/// A record that crosses the ABI as JSON text (capi/abi.json `records`); wiped on drop (it may hold tokens).
fn take_json(call: *mut sys::cotter_call) -> Result<Secret> {
    let mut buf = Buf::new();
    call::take_with(|err| unsafe { sys::cotter_call_take_buf(buf.as_mut_ptr(), call, err) })?;
    Ok(buf.to_secret())
}

fn take_social_token(call: *mut sys::cotter_call) -> Result<SocialToken> {
    social_token_of(take_json(call)?)
}

fn take_social_token_list(call: *mut sys::cotter_call) -> Result<SocialTokenList> {
    SocialTokenList::from_json(take_json(call)?)
}

fn take_verify_remote(call: *mut sys::cotter_call) -> Result<std::result::Result<(), String>> {
    let mut valid: c_int = 0;
    let mut reason = Buf::new();
    call::take_with(|err| unsafe { sys::cotter_call_take_verify_remote(&mut valid, reason.as_mut_ptr(), call, err) })?;
    Ok(if valid != 0 { Ok(()) } else { Err(reason.to_string_lossy()) })
}

impl fmt::Debug for Client {
    // The secret is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base_url", &self.base_url()).finish_non_exhaustive()
    }
}

/// Options of [`Client`]; unset fields keep the library defaults (cotter.h).
#[derive(Default)]
pub struct ClientBuilder {
    api_key_id: String,
    api_secret_key: Option<zeroize::Zeroizing<String>>, // wiped on drop, built or not
    base_url: Option<String>,
    worker_url: Option<String>,
    ca_file: Option<String>,
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    max_retries: Option<u32>,
    retry_base: Option<Duration>,
    retry_max: Option<Duration>,
    max_response_bytes: Option<usize>,
    max_host_connections: Option<u32>,
    log: Option<LogFn>,
}

impl ClientBuilder {
    /// The API secret, needed by server-side calls. Copied by the library and wiped when the client is freed.
    pub fn api_secret_key(mut self, secret: impl Into<String>) -> Self {
        self.api_secret_key = Some(zeroize::Zeroizing::new(secret.into()));
        self
    }
    /// API base URL (default `$COTTER_BASE_URL`, else `https://www.cotter.app/api/v0`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
    /// Serverless verify endpoint.
    pub fn worker_url(mut self, url: impl Into<String>) -> Self {
        self.worker_url = Some(url.into());
        self
    }
    /// PEM CA bundle (default: the system store). TLS verification is always on.
    pub fn ca_file(mut self, path: impl Into<String>) -> Self {
        self.ca_file = Some(path.into());
        self
    }
    /// Connect timeout (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }
    /// Total timeout per request (default 30 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }
    /// Retries of idempotent requests (GET, DELETE) on network errors, 429 and 5xx (default 2).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = Some(n);
        self
    }
    /// First backoff (default 200 ms).
    pub fn retry_base(mut self, d: Duration) -> Self {
        self.retry_base = Some(d);
        self
    }
    /// Cap on one backoff (default 5 s).
    pub fn retry_max(mut self, d: Duration) -> Self {
        self.retry_max = Some(d);
        self
    }
    /// Response body cap (default 8 MiB).
    pub fn max_response_bytes(mut self, n: usize) -> Self {
        self.max_response_bytes = Some(n);
        self
    }
    /// Open connections per host (default 0 = no cap); further requests queue until one is free. Over
    /// HTTP/2 (TLS) concurrent requests share one connection anyway.
    pub fn max_host_connections(mut self, n: u32) -> Self {
        self.max_host_connections = Some(n);
        self
    }
    /// Receives the library's log messages (never secrets), on the client's I/O thread. Must not block.
    pub fn log(mut self, log: impl Fn(LogLevel, &str) + Send + Sync + 'static) -> Self {
        self.log = Some(Box::new(log));
        self
    }

    /// Creates the client. Errors: `Invalid` (missing key id, bad URL), `NoMemory`, `Internal`.
    pub fn build(self) -> Result<Client> {
        ffi::check_version()?;
        let key = ffi::cstring(&self.api_key_id, "api_key_id")?;
        let secret = zeroize::Zeroizing::new(ffi::opt_cstring(self.api_secret_key.as_ref().map(|s| s.as_str()), "api_secret_key")?);
        let base = ffi::opt_cstring(self.base_url.as_deref(), "base_url")?;
        let worker = ffi::opt_cstring(self.worker_url.as_deref(), "worker_url")?;
        let ca = ffi::opt_cstring(self.ca_file.as_deref(), "ca_file")?;

        let mut o = sys::COTTER_CLIENT_OPTIONS_INIT;
        ffi::call(|_| unsafe { sys::cotter_client_options_init(&mut o, sys::COTTER_CLIENT_OPTIONS_VERSION) })?;
        o.api_key_id = key.as_ptr();
        o.api_secret_key = ffi::opt_ptr(&secret);
        o.base_url = ffi::opt_ptr(&base);
        o.worker_url = ffi::opt_ptr(&worker);
        o.ca_file = ffi::opt_ptr(&ca);
        // The credentials are what the builder says: a `None` secret is none, whatever the environment holds.
        o.from_environment = 0;
        if let Some(d) = self.connect_timeout {
            o.connect_timeout_ms = duration_ms(d);
        }
        if let Some(d) = self.timeout {
            o.timeout_ms = duration_ms(d);
        }
        if let Some(n) = self.max_retries {
            o.max_retries = i32::try_from(n).unwrap_or(i32::MAX);
        }
        if let Some(d) = self.retry_base {
            o.retry_base_ms = duration_ms(d);
        }
        if let Some(d) = self.retry_max {
            o.retry_max_ms = duration_ms(d);
        }
        if let Some(n) = self.max_response_bytes {
            o.max_response_bytes = n;
        }
        if let Some(n) = self.max_host_connections {
            o.max_host_connections = std::ffi::c_long::try_from(n).unwrap_or(std::ffi::c_long::MAX);
        }
        let hooks = Arc::new(ClientHooks { log: self.log });
        if let Some(f) = &hooks.log {
            o.log = Some(log_trampoline);
            o.log_payload = f as *const LogFn as *mut c_void;
        }
        let mut out = ptr::null_mut();
        ffi::call(|err| unsafe { sys::cotter_client_new(&mut out, &o, err) })?;
        let raw = NonNull::new(out).expect("cotter_client_new returned OK without a client");
        Ok(Client { inner: Arc::new(ClientInner { raw, hooks }) })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key_id", &self.api_key_id)
            .field("api_secret_key", &self.api_secret_key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

// ------------------------------------------------------------------------------------------------
// Lists of records (each record is a generated view: records.rs, from capi/abi.json `records`)
// ------------------------------------------------------------------------------------------------

/// A user as the lists hand it out (the same type as [`User`]; the name of older versions).
pub type UserRef = User;
/// A provider token record as the lists hand it out (the same type as [`SocialToken`]).
pub type SocialTokenRef = SocialToken;

/// A page of users, with the paging facts the server sent.
pub struct UserList {
    users: Vec<User>,
    total: Option<u64>,
    has_more: Option<bool>,
}

impl UserList {
    /// From the page the library wrote (capi/abi.json `records`: user_page).
    fn from_json(json: Secret) -> Result<UserList> {
        let v = crate::records_support::parse(&json, "user_page")?;
        let users = match v.get("users").and_then(serde_json::Value::as_array) {
            Some(rows) => rows.iter().map(|u| User::from_json(u.to_string())).collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        let total = v.get("total").and_then(serde_json::Value::as_u64);
        let has_more = v.get("has_more").and_then(serde_json::Value::as_bool);
        Ok(UserList { users, total, has_more })
    }
    /// Number of users on the page.
    pub fn len(&self) -> usize {
        self.users.len()
    }
    /// Whether the page is empty.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
    /// The project's user count as the server sent it with this page (`None` when it did not say).
    pub fn total(&self) -> Option<u64> {
        self.total
    }
    /// Whether more pages follow, as the server said (`None` when it did not say).
    pub fn has_more(&self) -> Option<bool> {
        self.has_more
    }
    /// The i-th user.
    pub fn get(&self, index: usize) -> Option<&User> {
        self.users.get(index)
    }
    /// The users in order.
    pub fn iter(&self) -> impl Iterator<Item = &User> + '_ {
        self.users.iter()
    }
}

impl fmt::Debug for UserList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A list of provider token records (wiped on drop, as each record is).
pub struct SocialTokenList {
    items: Vec<SocialToken>,
}

impl SocialTokenList {
    /// From the JSON array the library checked.
    fn from_json(json: Secret) -> Result<SocialTokenList> {
        let v = crate::records_support::parse(&json, "social_token list")?;
        let items = match v.as_array() {
            Some(rows) => rows.iter().map(|t| SocialToken::from_json(t.to_string())).collect::<Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        Ok(SocialTokenList { items })
    }
    /// Number of records.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// The i-th record.
    pub fn get(&self, index: usize) -> Option<&SocialToken> {
        self.items.get(index)
    }
    /// The records in order.
    pub fn iter(&self) -> impl Iterator<Item = &SocialToken> + '_ {
        self.items.iter()
    }
}

impl fmt::Debug for SocialTokenList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

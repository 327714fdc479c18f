//! @file session.rs
//! @brief `Session` (cotter_session): one user's token set, refreshed when needed, in memory, a token file
//! or custom `Storage`.

use std::ffi::{c_char, c_int, c_void};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::Duration;

use cotter_sys as sys;

use crate::call::{self, Call, Keep, StartFn};
use crate::callbacks::{clock_trampoline, ClockFn};
use crate::client::{take_token, try_call, Client, ClientHooks};
use crate::cstr;
use crate::error::Result;
use crate::ffi::{self, duration_secs, Buf};
use crate::token::{Token, TokenRef};
use crate::{ErrorKind, Secret, SharedStore};

/// Custom token storage (keychain, database...). The first load (or store of the initial token) runs in
/// `build`, on its thread; every later call runs on the client's I/O thread, one at a time: keep it short
/// and never block on a cotter call from it. An `Err` fails the session call with `ErrorKind::User`.
pub trait Storage: Send + Sync {
    /// The stored `oauth_token` JSON, or `None` when nothing is stored.
    fn load(&self) -> std::result::Result<Option<Secret>, Box<dyn std::error::Error + Send + Sync>>;
    /// Stores `json`, or deletes the stored tokens when `None`.
    fn save(&self, json: Option<&str>) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

type ChangedFn = Box<dyn Fn(Option<&TokenRef>) + Send + Sync>;

/// One user's token set, kept valid: `access_token()` refreshes when the access token expires within the
/// margin, and concurrent callers share one refresh. Thread-safe (`Send + Sync`).
///
/// The library keeps the session's client alive: the [`Client`] it was built from may be dropped first.
/// Every operation has a blocking form and an async one (`access_token_async`, ... [`Call`] futures); the
/// operations that change the set run one at a time on the client's I/O thread.
pub struct Session {
    inner: Arc<SessionInner>,
}

struct SessionInner {
    raw: NonNull<sys::cotter_session>,
    hooks: Arc<SessionHooks>,
}

/// The closures the C session calls through `payload` pointers, and those of its client (the session uses the
/// client, so the library may log through it). Shared with the calls in flight.
struct SessionHooks {
    storage: Option<Box<dyn Storage>>,
    changed: Option<ChangedFn>,
    clock: Option<ClockFn>,
    _client: Arc<ClientHooks>,
}

// SAFETY: cotter.h: cotter_session is thread-safe; the callbacks are Send + Sync.
unsafe impl Send for SessionInner {}
unsafe impl Sync for SessionInner {}

impl Drop for SessionInner {
    fn drop(&mut self) {
        // Calls in flight keep the C session alive on their own (cotter.h), and hold `hooks`.
        unsafe { sys::cotter_session_free(self.raw.as_ptr()) }
    }
}

impl Session {
    /// Starts a builder for a session on `client`.
    pub fn builder(client: &Client) -> SessionBuilder {
        SessionBuilder { client: Some(client.clone()), ..Default::default() }
    }

    fn raw(&self) -> *mut sys::cotter_session {
        self.inner.raw.as_ptr()
    }

    /// An async call on this session: `start(session, out, call_options, out_error)` runs at the first poll.
    fn call<T>(
        &self, take: call::TakeFn<T>,
        start: impl FnOnce(*mut sys::cotter_session, *mut *mut sys::cotter_call, *const sys::cotter_call_options,
                          *mut *mut sys::cotter_error) -> c_int
            + Send
            + Sync
            + 'static,
    ) -> Call<T> {
        let inner = self.inner.clone(); // the handle, until the call has started (it keeps the C session then)
        let keep: Keep = inner.hooks.clone();
        let start: StartFn = Box::new(move |out, opts, err| start(inner.raw.as_ptr(), out, opts, err));
        Call::new(keep, take, start)
    }

    /// A valid access token, refreshed first when needed.
    /// Errors: `Reauth` (log in again), transport kinds (tokens kept), `Storage`, `User`.
    pub fn access_token(&self) -> Result<Secret> {
        let mut buf = Buf::new();
        ffi::call(|err| unsafe { sys::cotter_session_get_access_token(buf.as_mut_ptr(), self.raw(), err) })?;
        Ok(buf.to_secret())
    }

    /// The current token set, refreshed first when needed.
    pub fn token(&self) -> Result<Token> {
        let mut out = ptr::null_mut();
        ffi::call(|err| unsafe { sys::cotter_session_get_token(&mut out, self.raw(), err) })?;
        Ok(Token::from_raw(out, "cotter_session_get_token"))
    }

    /// Refreshes now, whatever the expiry, and returns the new set.
    pub fn refresh(&self) -> Result<Token> {
        let mut out = ptr::null_mut();
        ffi::call(|err| unsafe { sys::cotter_session_refresh(&mut out, self.raw(), err) })?;
        Ok(Token::from_raw(out, "cotter_session_refresh"))
    }

    /// Replaces the token set (e.g. after a login) and stores it.
    pub fn set_token(&self, token: &TokenRef) -> Result<()> {
        ffi::call(|err| unsafe { sys::cotter_session_set_token(self.raw(), token.as_ptr(), err) })
    }

    /// Ends the server session (best effort) and deletes the stored tokens.
    pub fn logout(&self) -> Result<()> {
        ffi::call(|err| unsafe { sys::cotter_session_logout(self.raw(), err) })
    }

    // ---- Async forms ([`Call`] futures: lazy; dropping one stops the wait, see below) ---------------------

    /// [`access_token`](Self::access_token) as a future. A still-valid token completes at once (inside the
    /// first poll); otherwise the future waits for the session's one refresh, shared with every caller.
    /// Dropping it stops this caller's wait; a refresh already sent still completes and is stored.
    pub fn access_token_async(&self) -> Call<Secret> {
        self.call(take_secret, |s, out, o, err| unsafe { sys::cotter_session_get_access_token_start(out, s, o, err) })
    }

    /// [`token`](Self::token) as a future.
    pub fn token_async(&self) -> Call<Token> {
        self.call(take_token, |s, out, o, err| unsafe { sys::cotter_session_get_token_start(out, s, o, err) })
    }

    /// [`refresh`](Self::refresh) as a future (joins a refresh in flight).
    pub fn refresh_async(&self) -> Call<Token> {
        self.call(take_token, |s, out, o, err| unsafe { sys::cotter_session_refresh_start(out, s, o, err) })
    }

    /// [`set_token`](Self::set_token) as a future (queued behind the session's current operation). The token
    /// is copied now.
    pub fn set_token_async(&self, token: &TokenRef) -> Call<()> {
        let copy = try_call!(token.to_owned_token());
        self.call(call::take_nothing, move |s, out, o, err| unsafe {
            sys::cotter_session_set_token_start(out, s, copy.as_ptr(), o, err)
        })
    }

    /// [`logout`](Self::logout) as a future.
    pub fn logout_async(&self) -> Call<()> {
        self.call(call::take_nothing, |s, out, o, err| unsafe { sys::cotter_session_logout_start(out, s, o, err) })
    }
}

fn take_secret(call: *mut sys::cotter_call) -> Result<Secret> {
    let mut buf = Buf::new();
    call::take_with(|err| unsafe { sys::cotter_call_take_buf(buf.as_mut_ptr(), call, err) })?;
    Ok(buf.to_secret())
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

/// Options of [`Session`]. At most one storage: [`token_file`](Self::token_file) or
/// [`storage`](Self::storage); neither keeps the tokens in memory only.
#[derive(Default)]
pub struct SessionBuilder {
    client: Option<Client>,
    refresh_margin: Option<Duration>,
    token_file: Option<String>,
    storage: Option<Box<dyn Storage>>,
    changed: Option<ChangedFn>,
    clock: Option<ClockFn>,
    shared_store: Option<SharedStore>,
    shared_session_id: Option<String>,
}

impl SessionBuilder {
    /// Refresh when the access token expires within this (default 30 s).
    pub fn refresh_margin(mut self, d: Duration) -> Self {
        self.refresh_margin = Some(d);
        self
    }
    /// A token file (the six-key `oauth_token` JSON, mode 0600, atomic replace, locked between processes).
    pub fn token_file(mut self, path: impl AsRef<Path>) -> Self {
        self.token_file = Some(path.as_ref().to_string_lossy().into_owned());
        self
    }
    /// Custom storage.
    pub fn storage(mut self, storage: impl Storage + 'static) -> Self {
        self.storage = Some(Box::new(storage));
        self
    }
    /// Called after every change of the token set (`None` after logout), on the client's I/O thread, in order.
    /// Must not block (a blocking session call from it fails with `ErrorKind::Invalid`).
    pub fn on_tokens_changed(mut self, f: impl Fn(Option<&TokenRef>) + Send + Sync + 'static) -> Self {
        self.changed = Some(Box::new(f));
        self
    }
    /// Pins the clock (Unix seconds), for tests. Called on the calling threads and the client's I/O thread.
    pub fn clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Box::new(now));
        self
    }

    /// Shares the session with a fleet through Redis (docs/rust.md, "Sessions shared by a fleet"): one refresh
    /// per expiry across every replica. Requires [`shared_session_id`](Self::shared_session_id); excludes a
    /// token file and custom storage. The session keeps the store alive.
    pub fn shared_store(mut self, store: &SharedStore) -> Self {
        self.shared_store = Some(store.clone());
        self
    }
    /// The session's id in the shared store, the same on every replica (1..200 printable ASCII without `{` `}`).
    pub fn shared_session_id(mut self, id: impl Into<String>) -> Self {
        self.shared_session_id = Some(id.into());
        self
    }

    /// Creates the session. `initial` (copied) replaces what storage holds; without it the session loads
    /// from storage (a shared store: from Redis). Errors: `Invalid`, `Storage` (unreadable or corrupt file), `User`,
    /// `NoMemory`, `SharedUnavailable` (Redis could not be read or written for the first load or store).
    pub fn build(self, initial: Option<&TokenRef>) -> Result<Session> {
        let client = self.client.expect("SessionBuilder without client");
        let token_file = ffi::opt_cstring(self.token_file.as_deref(), "token_file")?;
        let shared_session_id = ffi::opt_cstring(self.shared_session_id.as_deref(), "shared_session_id")?;
        let hooks = Arc::new(SessionHooks {
            storage: self.storage,
            changed: self.changed,
            clock: self.clock,
            _client: client.inner().hooks().clone(),
        });

        let mut o = sys::COTTER_SESSION_OPTIONS_INIT;
        ffi::call(|_| unsafe { sys::cotter_session_options_init(&mut o, sys::COTTER_SESSION_OPTIONS_VERSION) })?;
        if let Some(d) = self.refresh_margin {
            o.refresh_margin_seconds = duration_secs(d);
        }
        o.token_file = ffi::opt_ptr(&token_file);
        // The C session takes its own reference to the store: our handle only has to outlive the call.
        o.shared_store = self.shared_store.as_ref().map_or(ptr::null_mut(), SharedStore::as_ptr);
        o.shared_session_id = ffi::opt_ptr(&shared_session_id);
        // The payloads point into the Arc's allocation, which never moves.
        if let Some(s) = &hooks.storage {
            o.load = Some(load_trampoline);
            o.save = Some(save_trampoline);
            o.storage_payload = s as *const Box<dyn Storage> as *mut c_void;
        }
        if let Some(f) = &hooks.changed {
            o.on_tokens_changed = Some(changed_trampoline);
            o.on_tokens_changed_payload = f as *const ChangedFn as *mut c_void;
        }
        if let Some(f) = &hooks.clock {
            o.clock = Some(clock_trampoline);
            o.clock_payload = f as *const ClockFn as *mut c_void;
        }
        let initial_ptr = initial.map_or(ptr::null(), TokenRef::as_ptr);
        let mut out = ptr::null_mut();
        ffi::call(|err| unsafe { sys::cotter_session_new(&mut out, client.inner().as_ptr(), &o, initial_ptr, err) })?;
        let raw = NonNull::new(out).ok_or_else(|| {
            crate::Error::local(ErrorKind::Internal, "cotter_session_new returned OK without a session".into())
        })?;
        // `client` may be dropped now: the C session keeps the C client, `hooks` keeps its log closure.
        Ok(Session { inner: Arc::new(SessionInner { raw, hooks }) })
    }
}

unsafe extern "C" fn load_trampoline(out: *mut sys::cotter_buf, payload: *mut c_void) -> c_int {
    let storage = &*(payload as *const Box<dyn Storage>);
    let loaded = match catch_unwind(AssertUnwindSafe(|| storage.load())) {
        Ok(Ok(v)) => v,
        _ => return 1,
    };
    let Some(json) = loaded else { return 0 };
    // The library disposes what we hand it, so the bytes must come from its allocator.
    if sys::cotter_buf_alloc(out, json.len()) != sys::COTTER_OK {
        return 1;
    }
    ptr::copy_nonoverlapping(json.as_ptr(), (*out).ptr as *mut u8, json.len());
    0
}

unsafe extern "C" fn save_trampoline(json: *const c_char, len: usize, payload: *mut c_void) -> c_int {
    let storage = &*(payload as *const Box<dyn Storage>);
    let text = (!json.is_null()).then(|| cstr::borrowed_bytes_str(json, len));
    match catch_unwind(AssertUnwindSafe(|| storage.save(text))) {
        Ok(Ok(())) => 0,
        _ => 1,
    }
}

unsafe extern "C" fn changed_trampoline(token: *const sys::cotter_token, payload: *mut c_void) {
    let f = &*(payload as *const ChangedFn);
    let t = (!token.is_null()).then(|| TokenRef::from_ptr(token));
    let _ = catch_unwind(AssertUnwindSafe(|| f(t)));
}

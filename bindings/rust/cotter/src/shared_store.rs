//! @file shared_store.rs
//! @brief `SharedStore` (cotter_shared_store): sessions shared by a fleet through Redis (docs/shared-sessions.md),
//! over your Redis client ([`SharedStoreAdapter`]) or the hiredis adapter that ships in the library.
//!
//! The adapter lives in a `Box` whose address is the C `payload`; the library calls `release` exactly once when
//! the store's last user (the handle or a session) is gone, on that thread, and the release trampoline drops the
//! box there. A panic in the adapter never unwinds into C: the eval trampoline catches it, and the [`EvalDone`]
//! dropped by the unwind completes the eval with an error. The optional `wait` (adapter version 2: waiters woken by
//! the session's `...:changed` message) follows the same pattern with [`WaitDone`]; the library keeps the store alive
//! while a wait is pending, so `release` never races one.

use std::ffi::{c_char, c_int, c_void, CString};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::Duration;

use cotter_sys as sys;

use crate::error::Result;
use crate::ffi::{self, duration_ms};
use crate::ErrorKind;

/// Runs the store's Lua scripts on your Redis client (the `cotter_shared_store_adapter` of cotter.h).
///
/// `eval` runs `EVALSHA sha1 <keys.len()> keys... args...` and, on a `NOSCRIPT` error, `EVAL script ...`, then
/// completes `done` once: [`EvalDone::ok`] with the reply array flattened to byte strings (integers as their
/// decimal text), or [`EvalDone::fail`]. It is called on a client's I/O thread (or the thread that builds a
/// session): it must not block for the round trip; hand the work to your client's thread or event loop and
/// complete `done` from there (completing inline is allowed too). The strings are borrowed for the call only.
/// Every key of one call shares one hash tag, so a Cluster client routes the call to one slot.
///
/// [`crate::redis_adapter::RedisAdapter`] (feature `redis`) implements it over redis-rs.
pub trait SharedStoreAdapter: Send + Sync + 'static {
    /// Starts one script call; see the trait's documentation. `args` hold tokens: never log them or put them
    /// into an error message.
    fn eval(&self, script: &str, sha1: &str, keys: &[&str], args: &[&[u8]], done: EvalDone);

    /// Whether this adapter implements [`wait`](SharedStoreAdapter::wait); read once, by [`SharedStore::new`].
    /// `false` (the default): a replica that found the refresh lease held polls the store (5 ms doubling up to
    /// `SharedStoreOptions::wait`).
    fn can_wait(&self) -> bool {
        false
    }

    /// Waits for a message on the Redis pub/sub `channel` (`<prefix>:{<id>}:changed`, published by every write of
    /// the session's tokens) for at most `timeout`, then completes `done` once: [`WaitDone::message`],
    /// [`WaitDone::timed_out`] or [`WaitDone::fail`] (not connected, subscription lost). Called on a client's I/O
    /// thread: must not block (subscribe on a connection of your own in SUBSCRIBE mode, keep the channel subscribed
    /// while it has waiters, complete every waiter of a channel on each of its messages). The library reads the
    /// store again after every completion: waking too often or too late costs a read, never a wrong answer. A
    /// pending wait keeps the store, and so the adapter, alive. Only called when [`can_wait`] says `true`.
    ///
    /// [`can_wait`]: SharedStoreAdapter::can_wait
    fn wait(&self, channel: &str, timeout: Duration, done: WaitDone) {
        let _ = (channel, timeout);
        done.fail();
    }
}

/// The completion of one [`SharedStoreAdapter::eval`]: `Send`, used once (it is consumed). Dropped without being
/// completed (an adapter that lost it, a panic), it completes the eval as failed, so no caller waits forever.
pub struct EvalDone {
    done: sys::cotter_shared_store_done_fn,
    ctx: *mut c_void,
}

// SAFETY: cotter.h: `done` may be called from any thread, once; `ctx` is only handed back to it.
unsafe impl Send for EvalDone {}

impl EvalDone {
    /// The script's reply: a flat array, each item as bytes (integers as decimal text).
    pub fn ok<T: AsRef<[u8]>>(self, items: &[T]) {
        let ptrs: Vec<*const c_char> = items.iter().map(|i| i.as_ref().as_ptr() as *const c_char).collect();
        let lens: Vec<usize> = items.iter().map(|i| i.as_ref().len()).collect();
        self.finish(sys::COTTER_OK, ptrs.as_ptr(), lens.as_ptr(), items.len(), ptr::null());
    }

    /// The call failed (not connected, timed out, an error reply): the session's operation fails with
    /// `ErrorKind::SharedUnavailable`. Never put a script argument into `message`.
    pub fn fail(self, message: &str) {
        let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
        self.finish(sys::COTTER_ESHARED_UNAVAILABLE, ptr::null(), ptr::null(), 0, text.as_ptr());
    }

    fn finish(self, status: c_int, items: *const *const c_char, lens: *const usize, count: usize, message: *const c_char) {
        let this = std::mem::ManuallyDrop::new(self); // completed here, so Drop must not complete again
        if let Some(done) = this.done {
            // SAFETY: the pointers live until the call returns; the library copies what it keeps.
            unsafe { done(this.ctx, status, items as *mut *const c_char, lens, count, message) }
        }
    }
}

impl Drop for EvalDone {
    fn drop(&mut self) {
        let this = EvalDone { done: self.done.take(), ctx: self.ctx };
        this.fail("the Redis adapter dropped the call without completing it");
    }
}

impl fmt::Debug for EvalDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvalDone").finish_non_exhaustive()
    }
}

/// The completion of one [`SharedStoreAdapter::wait`]: `Send`, used once (it is consumed). Dropped without being
/// completed, it completes the wait as failed (the waiter then polls).
pub struct WaitDone {
    done: sys::cotter_shared_store_wait_done_fn,
    ctx: *mut c_void,
}

// SAFETY: cotter.h: `done` may be called from any thread, once; `ctx` is only handed back to it.
unsafe impl Send for WaitDone {}

impl WaitDone {
    /// A message arrived on the channel after the wait started.
    pub fn message(self) {
        self.finish(sys::COTTER_OK);
    }

    /// The timeout passed without a message.
    pub fn timed_out(self) {
        self.finish(sys::COTTER_ETIMEOUT);
    }

    /// The wait failed (not connected, the subscription was lost).
    pub fn fail(self) {
        self.finish(sys::COTTER_ESHARED_UNAVAILABLE);
    }

    fn finish(self, status: c_int) {
        let mut this = std::mem::ManuallyDrop::new(self); // completed here, so Drop must not complete again
        if let Some(done) = this.done.take() {
            // SAFETY: cotter.h: once, from any thread.
            unsafe { done(this.ctx, status) }
        }
    }
}

impl Drop for WaitDone {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            unsafe { done(self.ctx, sys::COTTER_ESHARED_UNAVAILABLE) }
        }
    }
}

impl fmt::Debug for WaitDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitDone").finish_non_exhaustive()
    }
}

/// Options of a [`SharedStore`] (`cotter_shared_store_options`); `None` keeps the library's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedStoreOptions {
    /// First part of every key (`<prefix>:{<session id>}:...`). Default `cotter`; 1..64 printable ASCII without
    /// `{` `}`.
    pub key_prefix: Option<String>,
    /// Lifetime of the refresh lease; a refresh request gets 3/4 of it. Default 10 s (100 ms..600 s).
    pub lease_ttl: Option<Duration>,
    /// Longest single wait of a replica that found the lease held, before it reads again. Default 100 ms
    /// (1 ms..10 s).
    pub wait: Option<Duration>,
}

/// Where the library's own hiredis adapter connects (`cotter_hiredis_options`); `None` keeps the default. No TLS,
/// Sentinel or Cluster: for those, use your redis-rs client ([`SharedStore::new`] with
/// [`crate::redis_adapter::RedisAdapter`]).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HiredisOptions {
    /// Default `127.0.0.1` (ignored with `unix_socket`).
    pub host: Option<String>,
    /// Default 6379.
    pub port: Option<u16>,
    /// A Unix socket path instead of host and port.
    pub unix_socket: Option<String>,
    /// Sent with `AUTH` after connecting. Never logged (not in `Debug` either).
    pub password: Option<String>,
    /// Default 2 s.
    pub connect_timeout: Option<Duration>,
    /// Bound of one round trip; past it the store is unavailable for that call. Default 2 s.
    pub command_timeout: Option<Duration>,
}

impl fmt::Debug for HiredisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HiredisOptions")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("unix_socket", &self.unix_socket)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .finish()
    }
}

/// Where sessions shared by a fleet keep their tokens, their refresh lease and their version
/// (docs/shared-sessions.md): one refresh per expiry across every replica. Give it to sessions with
/// [`crate::SessionBuilder::shared_store`]; they keep it alive, so the handle may be dropped first.
/// Thread-safe (`Send + Sync`); cloning shares the one store.
#[derive(Clone)]
pub struct SharedStore {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    raw: NonNull<sys::cotter_shared_store>,
}

// SAFETY: cotter.h: cotter_shared_store is thread-safe; the adapter is Send + Sync.
unsafe impl Send for StoreInner {}
unsafe impl Sync for StoreInner {}

impl Drop for StoreInner {
    fn drop(&mut self) {
        // Sessions keep the C store; the adapter is released after the last of them.
        unsafe { sys::cotter_shared_store_free(self.raw.as_ptr()) }
    }
}

type BoxedAdapter = Box<dyn SharedStoreAdapter>;

impl SharedStore {
    /// A store over your Redis client. Errors: `Invalid` (an option out of range, a bad `key_prefix`).
    pub fn new(adapter: impl SharedStoreAdapter, options: &SharedStoreOptions) -> Result<SharedStore> {
        ffi::check_version()?;
        let mut a = sys::COTTER_SHARED_STORE_ADAPTER_INIT;
        ffi::call(|_| unsafe {
            sys::cotter_shared_store_adapter_init(&mut a, sys::COTTER_SHARED_STORE_ADAPTER_VERSION)
        })?;
        // Version 2's optional `wait`: without it, waiters poll.
        a.wait = if adapter.can_wait() { Some(wait_trampoline) } else { None };
        let payload = Box::into_raw(Box::new(Box::new(adapter) as BoxedAdapter));
        a.eval = Some(eval_trampoline);
        a.release = Some(release_trampoline);
        a.payload = payload as *mut c_void;
        let created = with_options(options, |o| {
            let mut out = ptr::null_mut();
            ffi::call(|err| unsafe { sys::cotter_shared_store_new(&mut out, &a, o, err) }).map(|()| out)
        });
        match created {
            Ok(out) => SharedStore::from_raw(out, "cotter_shared_store_new"),
            Err(e) => {
                // cotter.h: on failure `release` is not called, so the box is still ours.
                drop(unsafe { Box::from_raw(payload) });
                Err(e)
            }
        }
    }

    /// A store over the hiredis adapter that ships in the library: one connection and one thread per store,
    /// connected at first use. Errors: `Invalid` (an option out of range). Redis is not contacted here.
    pub fn hiredis(redis: &HiredisOptions, options: &SharedStoreOptions) -> Result<SharedStore> {
        ffi::check_version()?;
        let host = ffi::opt_cstring(redis.host.as_deref(), "host")?;
        let unix_socket = ffi::opt_cstring(redis.unix_socket.as_deref(), "unix_socket")?;
        let password = ffi::opt_cstring(redis.password.as_deref(), "password")?;
        let mut r = sys::COTTER_HIREDIS_OPTIONS_INIT;
        ffi::call(|_| unsafe { sys::cotter_hiredis_options_init(&mut r, sys::COTTER_HIREDIS_OPTIONS_VERSION) })?;
        r.host = ffi::opt_ptr(&host);
        if let Some(p) = redis.port {
            r.port = c_int::from(p);
        }
        r.unix_socket = ffi::opt_ptr(&unix_socket);
        r.password = ffi::opt_ptr(&password);
        if let Some(d) = redis.connect_timeout {
            r.connect_timeout_ms = duration_ms(d);
        }
        if let Some(d) = redis.command_timeout {
            r.command_timeout_ms = duration_ms(d);
        }
        let out = with_options(options, |o| {
            let mut out = ptr::null_mut();
            ffi::call(|err| unsafe { sys::cotter_shared_store_new_hiredis(&mut out, &r, o, err) }).map(|()| out)
        })?;
        SharedStore::from_raw(out, "cotter_shared_store_new_hiredis")
    }

    fn from_raw(out: *mut sys::cotter_shared_store, what: &str) -> Result<SharedStore> {
        let raw = NonNull::new(out).ok_or_else(|| {
            crate::Error::local(ErrorKind::Internal, format!("{what} returned OK without a store"))
        })?;
        Ok(SharedStore { inner: Arc::new(StoreInner { raw }) })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::cotter_shared_store {
        self.inner.raw.as_ptr()
    }
}

impl fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedStore").finish_non_exhaustive()
    }
}

/// Runs `f` with the C options of `options` (their strings live for the call).
fn with_options<T>(
    options: &SharedStoreOptions, f: impl FnOnce(*const sys::cotter_shared_store_options) -> Result<T>,
) -> Result<T> {
    let prefix = ffi::opt_cstring(options.key_prefix.as_deref(), "key_prefix")?;
    let mut o = sys::COTTER_SHARED_STORE_OPTIONS_INIT;
    ffi::call(|_| unsafe { sys::cotter_shared_store_options_init(&mut o, sys::COTTER_SHARED_STORE_OPTIONS_VERSION) })?;
    o.key_prefix = ffi::opt_ptr(&prefix);
    if let Some(d) = options.lease_ttl {
        o.lease_ttl_ms = duration_ms(d);
    }
    if let Some(d) = options.wait {
        o.wait_ms = duration_ms(d);
    }
    f(&o)
}

/// Borrows `n` NUL-terminated C strings (NULL array or item: empty).
unsafe fn c_strs<'a>(items: *mut *const c_char, n: usize) -> Vec<&'a [u8]> {
    if items.is_null() || n == 0 {
        return Vec::new();
    }
    std::slice::from_raw_parts(items, n)
        .iter()
        .map(|&p| if p.is_null() { &[][..] } else { std::ffi::CStr::from_ptr(p).to_bytes() })
        .collect()
}

unsafe extern "C" fn eval_trampoline(
    payload: *mut c_void, script: *const c_char, sha1: *const c_char, keys: *mut *const c_char, key_count: usize,
    args: *mut *const c_char, arg_count: usize, done: sys::cotter_shared_store_done_fn, done_ctx: *mut c_void,
) -> c_int {
    let adapter = &*(payload as *const BoxedAdapter);
    let done = EvalDone { done, ctx: done_ctx };
    let text = |p: *const c_char| if p.is_null() { "" } else { std::ffi::CStr::from_ptr(p).to_str().unwrap_or("") };
    let (script, sha1) = (text(script), text(sha1));
    // Keys are `<prefix>:{<id>}:...`, printable ASCII by construction (the library validates both parts).
    let keys: Vec<&str> = c_strs(keys, key_count).into_iter().map(|k| std::str::from_utf8(k).unwrap_or("")).collect();
    let args = c_strs(args, arg_count);
    // A panic drops `done` while unwinding, which completes the eval as failed: the call has started either way.
    let _ = catch_unwind(AssertUnwindSafe(move || adapter.eval(script, sha1, &keys, &args, done)));
    0
}

unsafe extern "C" fn wait_trampoline(
    payload: *mut c_void, channel: *const c_char, timeout_ms: i64, done: sys::cotter_shared_store_wait_done_fn,
    done_ctx: *mut c_void,
) -> c_int {
    let adapter = &*(payload as *const BoxedAdapter);
    let done = WaitDone { done, ctx: done_ctx };
    // `<prefix>:{<id>}:changed`: printable ASCII by construction.
    let channel = if channel.is_null() { "" } else { std::ffi::CStr::from_ptr(channel).to_str().unwrap_or("") };
    let timeout = Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0).max(1));
    // A panic drops `done` while unwinding, which completes the wait as failed: it has started either way.
    let _ = catch_unwind(AssertUnwindSafe(move || adapter.wait(channel, timeout, done)));
    0
}

unsafe extern "C" fn release_trampoline(payload: *mut c_void) {
    let adapter = Box::from_raw(payload as *mut BoxedAdapter);
    let _ = catch_unwind(AssertUnwindSafe(move || drop(adapter)));
}

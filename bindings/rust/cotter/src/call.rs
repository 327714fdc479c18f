//! @file call.rs
//! @brief `Call<T>`: the future of one network operation, over a `cotter_call` (the `_start` functions of
//! cotter.h). One generic adapter for every operation: an operation is a start function and a taker.
//!
//! How it works, and why it is safe under any executor:
//! - Nothing is sent before the first poll (Rust futures are lazy). The first poll registers the waker, then
//!   calls `cotter_X_start` with a done callback whose payload is a raw `Arc<Shared>` (one strong reference,
//!   handed to C).
//! - The done callback runs exactly once (the C contract), on the client's I/O thread or inline inside
//!   `_start`. It marks the call done and takes the waker under the mutex, then wakes outside it, and finally
//!   drops the `Arc` it was given. `poll` checks `done` and stores the waker under the same mutex, so a
//!   completion between the check and the registration cannot be lost.
//! - Once done, `poll` reads the result with the operation's `cotter_call_take_*` (which never waits then),
//!   frees the call and returns.
//! - Dropping the future before completion frees the call, which cancels it; the callback still runs later,
//!   and only touches the `Shared` its own `Arc` keeps alive.
//! - The C object stays alive for the call (the library keeps it); what the library may call back into
//!   (log, clock, storage hooks: Rust closures) is kept alive by `keep` until the call has completed and been
//!   freed: by the future, and by the `Shared` until the done callback has run.

use std::ffi::{c_int, c_void};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use cotter_sys as sys;

use crate::error::{Error, Result};
use crate::ffi::duration_ms;
use crate::ErrorKind;

/// What a Rust handle lends the library through `payload` pointers (closures); shared by the handle and its
/// calls in flight, so that it outlives every use the library can make of it.
pub(crate) trait Hooks: Send + Sync {}
impl<T: Send + Sync + ?Sized> Hooks for T {}

pub(crate) type Keep = Arc<dyn Hooks>;

/// Starts one C call: `(out, call options, out_error) -> status`. Holds the inputs (copied into C strings)
/// and a reference to the Rust handle until the call has started.
pub(crate) type StartFn =
    Box<dyn FnOnce(*mut *mut sys::cotter_call, *const sys::cotter_call_options, *mut *mut sys::cotter_error) -> c_int
        + Send
        + Sync>;

/// Reads the result of a completed call (one of the `cotter_call_take_*` functions, or `cotter_call_wait`).
pub(crate) type TakeFn<T> = fn(*mut sys::cotter_call) -> Result<T>;

/// The state both sides touch: the future (poll, drop) and the done callback (I/O thread).
struct Shared {
    inner: Mutex<Completion>,
}

struct Completion {
    done: bool,
    waker: Option<Waker>,
    // Released by the done callback: until then the library may still call the handle's closures.
    keep: Option<Keep>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Completion> {
        // Never poisoned in practice (nothing panics under it); a poisoned lock still holds valid data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The done callback of every call. `payload` is the strong reference of `Arc<Shared>` given to C.
unsafe extern "C" fn done_trampoline(_call: *mut sys::cotter_call, payload: *mut c_void) {
    // SAFETY: the library runs this exactly once per started call, with the payload we passed.
    let shared = Arc::from_raw(payload as *const Shared);
    let (waker, keep) = {
        let mut c = shared.lock();
        c.done = true;
        (c.waker.take(), c.keep.take())
    };
    // Outside the lock: waking may poll (or drop) the future on this very thread. Must not unwind into C.
    if let Some(w) = waker {
        let _ = catch_unwind(AssertUnwindSafe(|| w.wake()));
    }
    let _ = catch_unwind(AssertUnwindSafe(move || drop(keep)));
    drop(shared);
}

enum State<T> {
    /// Not started (nothing sent yet).
    Idle { start: StartFn, take: TakeFn<T> },
    /// Failed before starting (a bad argument), or cancelled before starting.
    Failed(Error),
    /// Started: the call is in flight or completed, not yet read.
    Running { call: NonNull<sys::cotter_call>, shared: Arc<Shared>, take: TakeFn<T> },
    /// The result was returned.
    Finished,
}

/// The future of one network call (`Client::refresh_async`, `Session::access_token_async`, ...).
///
/// - Lazy: nothing is sent before the first poll (`.await`).
/// - Any executor: it completes through the waker from the library's I/O thread; no runtime needed.
/// - Dropping it before it completes cancels the request at whatever stage it is (queued, connecting,
///   waiting for the response, mid-body); the server sees it at most once. A session refresh that was already
///   sent still updates the session (its old refresh token is dead by then).
/// - [`timeout`](Self::timeout) gives this call its own budget (`ErrorKind::Timeout` when it runs out).
/// - `Send + Sync` and `Unpin`: spawn it, `select!` it, poll it through `&mut`.
#[must_use = "a call does nothing until it is awaited (or polled)"]
pub struct Call<T> {
    state: State<T>,
    keep: Option<Keep>,
    timeout: Option<Duration>,
}

// SAFETY: cotter_call is thread-safe (cotter.h: cancel, take, wait and free from any thread); the start closure
// is Send + Sync; T crosses threads only by value.
unsafe impl<T: Send> Send for Call<T> {}
unsafe impl<T: Send> Sync for Call<T> {}
impl<T> Unpin for Call<T> {}

impl<T> Call<T> {
    pub(crate) fn new(keep: Keep, take: TakeFn<T>, start: StartFn) -> Call<T> {
        Call { state: State::Idle { start, take }, keep: Some(keep), timeout: None }
    }

    /// A call that fails at its first poll without sending anything (an argument the crate rejects).
    pub(crate) fn failed(e: Error) -> Call<T> {
        Call { state: State::Failed(e), keep: None, timeout: None }
    }

    /// This call's total budget (queueing and retries included; for a session call, the wait for its
    /// refresh), instead of the client's `timeout`. At most 24 h (longer is `ErrorKind::Invalid`). Takes
    /// effect only before the first poll.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Cancels the call now. Awaiting it then gives `ErrorKind::Canceled`, or the result when it had completed
    /// already. Never blocks; a no-op after completion. Before the first poll, nothing will be sent.
    /// (Dropping the future cancels too; this is for when you still want to await the end.)
    pub fn cancel(&mut self) {
        match &self.state {
            State::Idle { .. } => {
                self.state = State::Failed(Error::local(ErrorKind::Canceled, "the call was cancelled".into()));
                self.keep = None;
            }
            State::Running { call, .. } => unsafe { sys::cotter_call_cancel(call.as_ptr()) },
            State::Failed(_) | State::Finished => {}
        }
    }

    /// Whether the call has completed (its result is ready; the task is woken, or about to be). `false` before
    /// the first poll.
    pub fn is_done(&self) -> bool {
        match &self.state {
            State::Running { call, .. } => unsafe { sys::cotter_call_is_done(call.as_ptr()) != 0 },
            State::Failed(_) | State::Finished => true,
            State::Idle { .. } => false,
        }
    }

    /// Starts the call; on failure the future resolves to the error.
    fn start(&mut self, waker: &Waker) {
        let State::Idle { start, take } = std::mem::replace(&mut self.state, State::Finished) else {
            unreachable!("start() outside the Idle state")
        };
        let shared = Arc::new(Shared {
            inner: Mutex::new(Completion { done: false, waker: Some(waker.clone()), keep: self.keep.clone() }),
        });
        let mut opts = sys::COTTER_CALL_OPTIONS_INIT;
        let rc = unsafe { sys::cotter_call_options_init(&mut opts, sys::COTTER_CALL_OPTIONS_VERSION) };
        if rc != sys::COTTER_OK {
            self.state = State::Failed(Error::from_code(rc));
            return;
        }
        opts.done = Some(done_trampoline);
        opts.done_payload = Arc::into_raw(shared.clone()) as *mut c_void;
        if let Some(d) = self.timeout {
            // Beyond the library's range (24 h): its own Invalid error says so.
            opts.timeout_ms = duration_ms(d).max(1);
        }
        let mut call: *mut sys::cotter_call = ptr::null_mut();
        let mut err: *mut sys::cotter_error = ptr::null_mut();
        let rc = start(&mut call, &opts, &mut err);
        match NonNull::new(call) {
            Some(call) if rc == sys::COTTER_OK => {
                if !err.is_null() {
                    unsafe { sys::cotter_error_free(err) };
                }
                self.state = State::Running { call, shared, take };
            }
            _ => {
                // No call was created, so the callback never runs: take back the reference given to C.
                unsafe { drop(Arc::from_raw(opts.done_payload as *const Shared)) };
                let e = if rc == sys::COTTER_OK {
                    Error::local(ErrorKind::Internal, "a _start function returned OK without a call".into())
                } else {
                    unsafe { Error::from_raw(rc, err) }
                };
                self.state = State::Failed(e);
            }
        }
    }
}

impl<T> Future for Call<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        if let State::Idle { .. } = this.state {
            this.start(cx.waker());
            // The callback may have run inline (a session's fresh token): fall through to look.
        }
        match &this.state {
            State::Running { shared, .. } => {
                let mut c = shared.lock();
                if !c.done {
                    match &c.waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => c.waker = Some(cx.waker().clone()),
                    }
                    return Poll::Pending;
                }
            }
            State::Failed(_) => {}
            State::Finished => panic!("cotter::Call polled after it returned its result"),
            State::Idle { .. } => unreachable!(),
        }
        let result = match std::mem::replace(&mut this.state, State::Finished) {
            State::Running { call, take, .. } => {
                let r = take(call.as_ptr());
                unsafe { sys::cotter_call_free(call.as_ptr()) };
                r
            }
            State::Failed(e) => Err(e),
            _ => unreachable!(),
        };
        this.keep = None; // the call is freed: the library no longer uses the handle's closures for it
        Poll::Ready(result)
    }
}

impl<T> Drop for Call<T> {
    fn drop(&mut self) {
        if let State::Running { call, shared, .. } = &self.state {
            shared.lock().waker = None; // nobody to wake any more
            // Cancels the call if it is in flight; its callback still runs (and releases its own references).
            unsafe { sys::cotter_call_free(call.as_ptr()) };
        }
        // `keep` is dropped after the free above (fields drop after `drop`).
    }
}

impl<T> fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle { .. } => "idle",
            State::Failed(_) => "failed",
            State::Running { .. } => "running",
            State::Finished => "finished",
        };
        f.debug_struct("Call").field("state", &state).field("timeout", &self.timeout).finish()
    }
}

/// Runs one taker: `f(out_error) -> status` with the error converted.
pub(crate) fn take_with(f: impl FnOnce(*mut *mut sys::cotter_error) -> c_int) -> Result<()> {
    crate::ffi::call(f)
}

/// The taker of operations without a result (logout, delete, set_token, verifier refresh).
pub(crate) fn take_nothing(call: *mut sys::cotter_call) -> Result<()> {
    take_with(|err| unsafe { sys::cotter_call_wait(call, err) })
}

//! @file callbacks.rs
//! @brief Rust closures behind the C callback types (`cotter_log_fn`, `cotter_clock_fn`).
//!
//! The closure lives in a `Box` owned by the Rust handle, and its address is the C `payload`; the handle
//! frees the C object before the box, so the library never calls a dangling closure. A panic in a
//! closure must not unwind into C: the log trampoline swallows it, the clock one aborts the process
//! (there is no safe time to return).

use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::cstr;

/// Log levels of `cotter_log_fn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

impl LogLevel {
    fn from_c(level: c_int) -> LogLevel {
        match level {
            l if l >= cotter_sys::COTTER_LOG_ERROR => LogLevel::Error,
            l if l >= cotter_sys::COTTER_LOG_WARNING => LogLevel::Warning,
            l if l >= cotter_sys::COTTER_LOG_INFO => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }
}

pub(crate) type LogFn = Box<dyn Fn(LogLevel, &str) + Send + Sync>;
pub(crate) type ClockFn = Box<dyn Fn() -> i64 + Send + Sync>;

pub(crate) unsafe extern "C" fn log_trampoline(level: c_int, message: *const c_char, payload: *mut c_void) {
    let f = &*(payload as *const LogFn);
    let msg = cstr::borrowed_str(message).unwrap_or("");
    let _ = catch_unwind(AssertUnwindSafe(|| f(LogLevel::from_c(level), msg)));
}

pub(crate) unsafe extern "C" fn clock_trampoline(payload: *mut c_void) -> i64 {
    let f = &*(payload as *const ClockFn);
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(now) => now,
        Err(_) => std::process::abort(),
    }
}

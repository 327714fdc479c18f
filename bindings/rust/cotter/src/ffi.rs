//! @file ffi.rs
//! @brief Conversions shared by every wrapper: strings into C, status + error object to `Result`, durations to
//! the ABI's integers, caller-owned buffers, the major-version check. Reading C strings is [`crate::cstr`]'s.

use std::ffi::{c_char, c_int, CString};
use std::ptr;
use std::sync::OnceLock;
use std::time::Duration;

use cotter_sys as sys;

use crate::error::{Error, Result};
use crate::ErrorKind;

/// `s` as a C string; a NUL byte inside is a caller error (`ErrorKind::Invalid`), never a truncation.
pub(crate) fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::local(ErrorKind::Invalid, format!("{what} contains a NUL byte")))
}

/// Like [`cstring`] for optional arguments.
pub(crate) fn opt_cstring(s: Option<&str>, what: &str) -> Result<Option<CString>> {
    s.map(|s| cstring(s, what)).transpose()
}

/// The pointer of an optional C string (NULL for `None`). The `CString` must outlive the call.
pub(crate) fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

/// Runs one C call that takes `cotter_error **out_error` last and returns a status.
pub(crate) fn call(f: impl FnOnce(*mut *mut sys::cotter_error) -> c_int) -> Result<()> {
    let mut err: *mut sys::cotter_error = ptr::null_mut();
    let rc = f(&mut err);
    if rc == sys::COTTER_OK {
        if !err.is_null() {
            unsafe { sys::cotter_error_free(err) };
        }
        return Ok(());
    }
    // SAFETY: on failure the library either left `err` NULL or stored an error object we now own.
    Err(unsafe { Error::from_raw(rc, err) })
}

/// A duration as the ABI's `int64_t` milliseconds, saturating.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A duration as the ABI's `int64_t` seconds, saturating.
pub(crate) fn duration_secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Fails unless the loaded libcotter has the major version these declarations were generated from
/// (the ABI is stable within a major version).
pub(crate) fn check_version() -> Result<()> {
    static LOADED: OnceLock<c_int> = OnceLock::new();
    let loaded = *LOADED.get_or_init(|| unsafe { sys::cotter_version_number() });
    if loaded / 10000 != sys::COTTER_VERSION_MAJOR as c_int {
        return Err(Error::local(
            ErrorKind::Invalid,
            format!(
                "libcotter {loaded} is not ABI-compatible with these bindings (major {})",
                sys::COTTER_VERSION_MAJOR
            ),
        ));
    }
    Ok(())
}

/// A caller-owned `cotter_buf`, disposed (wiped and freed by the library) on drop.
pub(crate) struct Buf(pub(crate) sys::cotter_buf);

impl Buf {
    pub(crate) fn new() -> Buf {
        Buf(sys::COTTER_BUF_INIT)
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut sys::cotter_buf {
        &mut self.0
    }

    /// The bytes as a `String`, copied into memory that is wiped on drop.
    pub(crate) fn to_secret(&self) -> crate::Secret {
        zeroize::Zeroizing::new(self.to_string_lossy())
    }

    pub(crate) fn to_string_lossy(&self) -> String {
        if self.0.ptr.is_null() {
            return String::new();
        }
        let bytes = unsafe { std::slice::from_raw_parts(self.0.ptr as *const u8, self.0.len) };
        String::from_utf8_lossy(bytes).into_owned()
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        unsafe { sys::cotter_buf_dispose(&mut self.0) }
    }
}

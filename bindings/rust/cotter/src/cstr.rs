//! @file cstr.rs
//! @brief Reading the C strings the library hands out (static names, borrowed getters, `(ptr, len)` JSON).
//! The bottom of the crate: it uses nothing of it, so [`crate::error`] and [`crate::ffi`] both stand on it.

use std::ffi::{c_char, CStr};

/// A static C string from the library (status names, version) as `&'static str`.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string with static storage.
pub(crate) unsafe fn static_str(p: *const c_char) -> &'static str {
    if p.is_null() {
        return "";
    }
    CStr::from_ptr(p).to_str().unwrap_or("")
}

/// A borrowed C string as `&'a str`; `None` for NULL. The library hands out UTF-8 only (JSON strings);
/// anything else is treated as absent rather than trusted.
///
/// # Safety
/// `p` must be NULL or valid and unchanged for `'a`.
pub(crate) unsafe fn borrowed_str<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    CStr::from_ptr(p).to_str().ok()
}

/// A borrowed `(ptr, len)` JSON document as `&'a str` (may contain NUL bytes in theory, so use the length).
///
/// # Safety
/// As [`borrowed_str`], with `len` bytes readable.
pub(crate) unsafe fn borrowed_bytes_str<'a>(p: *const c_char, len: usize) -> &'a str {
    if p.is_null() {
        return "";
    }
    std::str::from_utf8(std::slice::from_raw_parts(p as *const u8, len)).unwrap_or("")
}

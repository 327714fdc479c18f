//! @file error.rs
//! @brief `cotter::Error`: the status code and the details of a failed call, copied out of the C error
//! object (which is freed at once), and the status names. Below `ffi` (which turns a failed call into an `Error`):
//! it reads C strings through `cstr` only.

use std::fmt;
use std::time::Duration;

use cotter_sys as sys;

use crate::cstr;
use crate::ErrorKind;

/// The stable name of a status code, e.g. `"COTTER_EJWT_SIGNATURE"` (`"COTTER_EUNKNOWN"` for others).
pub fn status_name(code: i32) -> &'static str {
    unsafe { cstr::static_str(sys::cotter_status_name(code)) }
}

/// A short English description of a status code.
pub fn status_describe(code: i32) -> &'static str {
    unsafe { cstr::static_str(sys::cotter_status_describe(code)) }
}

/// `std::result::Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failed call: its class ([`ErrorKind`]), message and, for API errors, the HTTP status and the
/// server's error fields. Messages never contain secrets or tokens (the library guarantees it).
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    http_status: Option<u16>,
    oauth_error: Option<String>,
    oauth_error_description: Option<String>,
    retry_after: Option<Duration>,
}

impl Error {
    /// Copies and frees a C error object (`err` may be NULL: then only the code is known).
    ///
    /// # Safety
    /// `err` must be NULL or an error object owned by the caller.
    pub(crate) unsafe fn from_raw(code: i32, err: *mut sys::cotter_error) -> Error {
        if err.is_null() {
            return Error::from_code(code);
        }
        let status = sys::cotter_error_http_status(err);
        let retry = sys::cotter_error_retry_after(err);
        let e = Error {
            kind: ErrorKind::from_code(code),
            message: cstr::borrowed_str(sys::cotter_error_message(err)).unwrap_or("").to_owned(),
            http_status: u16::try_from(status).ok().filter(|s| *s != 0),
            oauth_error: cstr::borrowed_str(sys::cotter_error_oauth_error(err)).map(str::to_owned),
            oauth_error_description: cstr::borrowed_str(sys::cotter_error_oauth_error_description(err))
                .map(str::to_owned),
            retry_after: u64::try_from(retry).ok().map(Duration::from_secs),
        };
        debug_assert_eq!(sys::cotter_error_code(err), code);
        sys::cotter_error_free(err);
        e
    }

    /// An error with only a code (the library could not allocate details).
    pub(crate) fn from_code(code: i32) -> Error {
        Error::local(ErrorKind::from_code(code), status_describe(code).to_owned())
    }

    /// An error raised by the binding itself before calling C (a NUL byte in a string...).
    pub(crate) fn local(kind: ErrorKind, message: String) -> Error {
        Error { kind, message, http_status: None, oauth_error: None, oauth_error_description: None, retry_after: None }
    }

    /// The class of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The C status code (negative).
    pub fn code(&self) -> i32 {
        self.kind.code()
    }

    /// The stable name of the code, e.g. `"COTTER_EJWT_EXPIRED"`.
    pub fn name(&self) -> &'static str {
        status_name(self.code())
    }

    /// The library's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// HTTP status of the response that caused the error, if a response was involved.
    pub fn http_status(&self) -> Option<u16> {
        self.http_status
    }

    /// The server's error kind (RFC 6749 `error`, or Cotter's `type`).
    pub fn oauth_error(&self) -> Option<&str> {
        self.oauth_error.as_deref()
    }

    /// The server's error text (Cotter's `msg` or RFC 6749 `error_description`).
    pub fn oauth_error_description(&self) -> Option<&str> {
        self.oauth_error_description.as_deref()
    }

    /// The response's Retry-After, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), self.message)?;
        if let Some(status) = self.http_status {
            write!(f, " (HTTP {status})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("name", &self.name())
            .field("message", &self.message)
            .field("http_status", &self.http_status)
            .field("oauth_error", &self.oauth_error)
            .field("oauth_error_description", &self.oauth_error_description)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl std::error::Error for Error {}

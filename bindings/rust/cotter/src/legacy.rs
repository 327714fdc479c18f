//! @file legacy.rs
//! @brief Cotter's older Ed25519-signed Identity and Event tokens.

use std::ffi::CStr;

use cotter_sys as sys;

use crate::error::Result;
use crate::ffi;

/// Cotter's published Ed25519 public key (standard base64), the default key.
pub const LEGACY_PUBLIC_KEY: &CStr = sys::COTTER_LEGACY_PUBLIC_KEY;

/// Verifies an Identity Token (the `token` object of get_identity): signature, receiver == `api_key_id`,
/// not expired. `public_key_b64` defaults to [`LEGACY_PUBLIC_KEY`]; `now` (Unix seconds) to the clock.
/// Errors: `LegacySignature`, `LegacyClaim`, `Protocol`, `Invalid`.
pub fn identity_token_verify(identity_token_json: &str, api_key_id: &str, public_key_b64: Option<&str>,
                             now: Option<i64>) -> Result<()> {
    ffi::check_version()?;
    let json = ffi::cstring(identity_token_json, "identity_token_json")?;
    let key_id = ffi::cstring(api_key_id, "api_key_id")?;
    let key = ffi::opt_cstring(public_key_b64, "public_key_b64")?;
    ffi::call(|err| unsafe {
        sys::cotter_identity_token_verify(json.as_ptr(), key_id.as_ptr(), ffi::opt_ptr(&key), now.unwrap_or(0), err)
    })
}

/// Verifies an Event Token: signature, issuer == `api_key_id`, approved.
pub fn event_token_verify(event_token_json: &str, api_key_id: &str, public_key_b64: Option<&str>) -> Result<()> {
    ffi::check_version()?;
    let json = ffi::cstring(event_token_json, "event_token_json")?;
    let key_id = ffi::cstring(api_key_id, "api_key_id")?;
    let key = ffi::opt_cstring(public_key_b64, "public_key_b64")?;
    ffi::call(|err| unsafe { sys::cotter_event_token_verify(json.as_ptr(), key_id.as_ptr(), ffi::opt_ptr(&key), err) })
}

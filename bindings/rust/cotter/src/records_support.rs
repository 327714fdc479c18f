//! @file records_support.rs
//! @brief What the generated record views (`records.rs`, from capi/abi.json `records`) read the checked JSON with.
//! The library checked every member's type before handing the object over, so these only walk it: an absent or
//! null member is `None` (or empty).

use serde_json::Value;

use crate::error::{Error, Result};
use crate::token::Token;
use crate::ErrorKind;

/// Parses the JSON text of a record. It cannot fail for JSON the library wrote; `Protocol` if it ever did.
pub(crate) fn parse(json: &str, what: &str) -> Result<Value> {
    serde_json::from_str(json).map_err(|e| Error::local(ErrorKind::Protocol, format!("{what} record: {e}")))
}

/// `v[k1][k2]...`, `None` where a level is absent, null or not an object.
pub(crate) fn member<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |v, k| v.get(k)).filter(|v| !v.is_null())
}

pub(crate) fn string_at(v: &Value, keys: &[&str]) -> Option<String> {
    member(v, keys).and_then(Value::as_str).map(str::to_owned)
}

pub(crate) fn strings_at(v: &Value, keys: &[&str]) -> Vec<String> {
    member(v, keys)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A member that is a JSON object, as its (minified) JSON text.
pub(crate) fn object_text(v: &Value, keys: &[&str]) -> Option<String> {
    member(v, keys).filter(|v| v.is_object()).map(Value::to_string)
}

/// An `oauth_token` member as a [`Token`] (parsed by the library, with its rules).
pub(crate) fn token_at(v: &Value, keys: &[&str]) -> Result<Option<Token>> {
    member(v, keys).map(|t| Token::from_json(&t.to_string())).transpose()
}

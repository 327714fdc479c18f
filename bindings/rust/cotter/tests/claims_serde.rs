//! @file claims_serde.rs
//! @brief `Claims::deserialize::<T>()` (feature `serde`): tokens the emulator signs, with custom claims, into the
//! user's own types (owned and borrowing); a payload that does not fit is `ErrorKind::JwtClaimType` without the
//! claim's value in the message.
#![cfg(feature = "serde")]

mod common;

use std::collections::HashMap;

use common::Emulator;
use cotter::ErrorKind;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, PartialEq)]
struct MyClaims {
    sub: String,
    aud: String,
    exp: i64,
    identifier: String,
    roles: Vec<String>,
    tenant: Tenant,
    #[serde(default)]
    absent: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Tenant {
    id: u32,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Borrowed<'a> {
    sub: &'a str,
    identifier: &'a str,
}

fn minted(emu: &Emulator, claims: Value) -> Value {
    emu.dev_post("/access_token", json!({"identifier": "serde@example.com", "claims": claims}))
}

#[test]
fn verified_claims_deserialize_into_the_users_type() {
    let emu = Emulator::start();
    let verifier = emu.verifier();
    let m = minted(&emu, json!({"roles": ["admin", "dev"], "tenant": {"id": 7, "name": "acme"}}));
    let claims = verifier.verify(m["access_token"].as_str().unwrap()).unwrap();
    let mine: MyClaims = claims.deserialize().unwrap();
    assert_eq!(mine.sub, m["access_claims"]["sub"].as_str().unwrap());
    assert_eq!(mine.aud, emu.info.api_key_id);
    assert_eq!(mine.exp, claims.exp().unwrap());
    assert_eq!(mine.identifier, "serde@example.com");
    assert_eq!(mine.roles, vec!["admin".to_owned(), "dev".to_owned()]);
    assert_eq!(mine.tenant, Tenant { id: 7, name: "acme".into() });
    assert_eq!(mine.absent, None);

    // &str fields borrow from the claims (no copy), as serde_json::from_str allows.
    let borrowed: Borrowed<'_> = claims.deserialize().unwrap();
    assert_eq!(borrowed.sub, claims.sub().unwrap());
    assert_eq!(borrowed.identifier, "serde@example.com");

    // Any serde type: a map of every claim, serde_json::Value.
    let all: HashMap<String, Value> = claims.deserialize().unwrap();
    assert_eq!(all["tenant"]["name"], "acme");
    let v: Value = claims.deserialize().unwrap();
    assert_eq!(v, serde_json::from_str::<Value>(claims.json()).unwrap());
}

#[test]
fn a_payload_that_does_not_fit_is_a_claim_type_error_without_the_value() {
    let emu = Emulator::start();
    let verifier = emu.verifier();

    // roles is a string, not a list: the value ("s3cr3t-role") must not appear in the message.
    let m = minted(&emu, json!({"roles": "s3cr3t-role", "tenant": {"id": 7, "name": "acme"}}));
    let claims = verifier.verify(m["access_token"].as_str().unwrap()).unwrap();
    let e = claims.deserialize::<MyClaims>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::JwtClaimType);
    assert!(e.message().starts_with("claims do not fit the type: invalid type: string, expected a sequence"),
            "{}", e.message());
    assert!(!e.message().contains("s3cr3t-role"), "{}", e.message());

    // A number where a string is expected: serde quotes it with backticks; dropped too.
    let m = minted(&emu, json!({"roles": [], "tenant": {"id": 7, "name": 424242}}));
    let claims = verifier.verify(m["access_token"].as_str().unwrap()).unwrap();
    let e = claims.deserialize::<MyClaims>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::JwtClaimType);
    assert!(!e.message().contains("424242"), "{}", e.message());

    // A missing field is named.
    let m = minted(&emu, json!({"roles": []}));
    let claims = verifier.verify(m["access_token"].as_str().unwrap()).unwrap();
    let e = claims.deserialize::<MyClaims>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::JwtClaimType);
    assert!(e.message().contains("missing field `tenant`"), "{}", e.message());
}

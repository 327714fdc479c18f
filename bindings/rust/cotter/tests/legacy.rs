//! @file legacy.rs
//! @brief Cotter's older Ed25519 Identity and Event tokens, signed by the emulator.

mod common;

use common::{expect_kind, Emulator};
use cotter::{event_token_verify, identity_token_verify, ErrorKind};
use serde_json::json;

#[test]
fn identity_tokens() {
    let emu = Emulator::start();
    let key = Some(emu.info.identity_public_key.as_str());
    let it = emu.dev_post("/identity_token", json!({"identifier": "walter@example.com"}))["identity_token"].clone();
    let text = it.to_string();
    identity_token_verify(&text, &emu.info.api_key_id, key, None).unwrap();

    expect_kind(identity_token_verify(&text, "another-key-id", key, None), ErrorKind::LegacyClaim);
    let far = it["expire_at"].as_str().map(|s| s.parse::<i64>().unwrap()).or(it["expire_at"].as_i64()).unwrap() + 10;
    expect_kind(identity_token_verify(&text, &emu.info.api_key_id, key, Some(far)), ErrorKind::LegacyClaim);
    let mut forged = it.clone();
    forged["identifier"] = json!("eve@example.com");
    expect_kind(identity_token_verify(&forged.to_string(), &emu.info.api_key_id, key, None), ErrorKind::LegacySignature);
    // Cotter's own key did not sign the emulator's tokens.
    expect_kind(identity_token_verify(&text, &emu.info.api_key_id, None, None), ErrorKind::LegacySignature);
    expect_kind(identity_token_verify("[]", &emu.info.api_key_id, key, None), ErrorKind::Protocol);
    expect_kind(identity_token_verify(&text, &emu.info.api_key_id, Some("not base64!"), None), ErrorKind::Invalid);
    assert_eq!(cotter::LEGACY_PUBLIC_KEY.to_str().unwrap(), "qqOaiQGjGsxBMgI5rdAasaACRiJthOqadmefjY5mS/c=");
}

#[test]
fn event_tokens() {
    let emu = Emulator::start();
    let key = Some(emu.info.identity_public_key.as_str());
    let ev = emu.dev_post("/event_token", json!({"identifier": "walter@example.com"}))["event_token"].clone();
    event_token_verify(&ev.to_string(), &emu.info.api_key_id, key).unwrap();
    expect_kind(event_token_verify(&ev.to_string(), "another-key-id", key), ErrorKind::LegacyClaim);
    let denied = emu.dev_post("/event_token", json!({"identifier": "walter@example.com", "approved": false}))["event_token"].clone();
    expect_kind(event_token_verify(&denied.to_string(), &emu.info.api_key_id, key), ErrorKind::LegacyClaim);
    let mut forged = ev.clone();
    forged["event"] = json!("LOGOUT");
    expect_kind(event_token_verify(&forged.to_string(), &emu.info.api_key_id, key), ErrorKind::LegacySignature);
}

//! @file events.rs
//! @brief Trusted-device events (spec §2.11) against the emulator: create a pending event for a user with an
//! enrolled device, poll it (blocking and as a future), and the errors. The event crosses the ABI as JSON.
//! (Approving needs the device's signature: tests/python/test_events.py and tests/node/trusted_device.test.js
//! sign with a real key and collect the tokens.)

mod common;

use common::{expect_kind, Emulator};
use cotter::ErrorKind;
use futures::executor::block_on;
use serde_json::{json, Value};

#[test]
fn events_create_pending_and_poll() {
    let emu = Emulator::start();
    let client = emu.client();
    let uid = client.user_create("rust-device@example.com").unwrap().id().unwrap().to_owned();
    // No trusted device yet: the API refuses with its reason.
    let e = expect_kind(client.event_create_pending(&uid, "LOGIN", None), ErrorKind::OAuth);
    assert!(e.to_string().contains("trusted device"), "{e}");
    // Enrol a device key (RFC 8032 test 1 public key) with the secret, as a server would.
    emu.agent()
        .put(&format!("{}/user/{uid}", emu.info.base_url))
        .set("API_KEY_ID", &emu.info.api_key_id)
        .set("API_SECRET_KEY", &emu.info.api_secret_key)
        .send_json(json!({"method": "TRUSTED_DEVICE", "enrolled": true, "algorithm": "ED25519",
                          "code": "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}))
        .expect("enrol the device");

    let pkce = cotter::Pkce::new().unwrap();
    let ev: Value = serde_json::from_str(&client.event_create_pending(&uid, "LOGIN", Some(pkce.challenge())).unwrap()).unwrap();
    assert_eq!(ev["new"], true);
    assert_eq!(ev["approved"], false);
    assert_eq!(ev["event"], "LOGIN");
    let id = ev["ID"].as_i64().unwrap();
    assert!(id > 0);
    let polled: Value = serde_json::from_str(&client.event_get(id, Some(pkce.verifier())).unwrap()).unwrap();
    assert_eq!(polled["ID"], id);
    assert!(polled.get("oauth_token").is_none()); // not approved: no tokens
    let via_future: Value = serde_json::from_str(&block_on(client.event_get_async(id, None)).unwrap()).unwrap();
    assert_eq!(via_future["new"], true);
    let second: Value = serde_json::from_str(&block_on(client.event_create_pending_async(&uid, "TRANSACTION", None)).unwrap()).unwrap();
    assert!(second["ID"].as_i64().unwrap() > id);

    expect_kind(client.event_get(id + 1000, None), ErrorKind::NotFound);
    expect_kind(client.event_create_pending("no-such-user", "LOGIN", None), ErrorKind::NotFound);
    expect_kind(client.event_get(0, None), ErrorKind::Invalid);
    expect_kind(client.event_get(id, Some("short")), ErrorKind::Invalid);
    expect_kind(client.event_create_pending(&uid, "", None), ErrorKind::Invalid);
    expect_kind(client.event_create_pending(&uid, "LOGIN", Some("not a challenge")), ErrorKind::Invalid);
    expect_kind(client.event_create_pending(&uid, "LO\0GIN", None), ErrorKind::Invalid);
}

//! @file users.rs
//! @brief The user API, social-login provider tokens and the serverless verify call, against the emulator.

mod common;

use common::{expect_kind, Emulator};
use cotter::ErrorKind;
use serde_json::{json, Value};

#[test]
fn users_create_get_list() {
    let emu = Emulator::start();
    let client = emu.client();
    let created = client.user_create("Oscar@Example.com").unwrap();
    let id = created.id().unwrap().to_owned();
    assert_eq!(created.identifier(), Some("oscar@example.com"));
    assert_eq!(created.issuer(), Some(emu.info.api_key_id.as_str()));
    assert!(created.created_at().is_some());
    let _ = (created.client_user_id(), created.default_method(), created.enrolled());
    let json: Value = serde_json::from_str(created.json()).unwrap();
    assert_eq!(json["ID"], id.as_str());

    assert_eq!(client.user_get_by_identifier("oscar@example.com").unwrap().id(), Some(id.as_str()));
    assert_eq!(client.user_get(&id).unwrap().identifier(), Some("oscar@example.com"));
    expect_kind(client.user_get_by_identifier("nobody@example.com"), ErrorKind::NotFound);
    let e = expect_kind(client.user_get("00000000-0000-4000-8000-00000000abcd"), ErrorKind::NotFound);
    assert_eq!(e.http_status(), Some(404));

    // The list is newest first by creation time in milliseconds, ties in ID order: on a fast machine two
    // users created in one millisecond came out in random order. The emulator's clock moves 1 s before each.
    for i in 0..3 {
        emu.dev_post("/clock", json!({"advance_seconds": 1}));
        client.user_create(&format!("u{i}@example.com")).unwrap();
    }
    let page = client.user_list(0).unwrap();
    assert_eq!(page.len(), 4);
    assert!(!page.is_empty());
    let order: Vec<_> = page.iter().map(|u| u.identifier().unwrap().to_owned()).collect();
    assert_eq!(order, ["u2@example.com", "u1@example.com", "u0@example.com", "oscar@example.com"]); // newest first
    assert!(page.get(4).is_none());
    assert_eq!((page.total(), page.has_more()), (Some(4), Some(false))); // the server's paging facts
    assert_eq!(page.iter().count(), 4);
    assert!(client.user_list(1).unwrap().is_empty());
}

#[test]
fn social_tokens_list_get_delete() {
    let emu = Emulator::start();
    let client = emu.client();
    let user = client.user_create("peggy@example.com").unwrap();
    let uid = user.id().unwrap();
    emu.dev_post("/social_tokens", json!({"user_id": uid, "identity_provider": "GITHUB", "provider_username": "peggy",
        "tokens": {"access_token": "gho_secret", "scope": "read:user", "token_type": "bearer"}}));
    emu.dev_post("/social_tokens", json!({"user_id": uid, "identity_provider": "GOOGLE"}));

    let list = client.social_tokens_list(uid).unwrap();
    assert_eq!(list.len(), 2);
    let providers: Vec<_> = list.iter().map(|t| t.provider().unwrap().to_owned()).collect();
    assert!(providers.contains(&"GITHUB".to_owned()), "{providers:?}");
    assert!(list.get(2).is_none());

    let gh = client.social_token_get("github", uid).unwrap();
    assert_eq!(gh.provider(), Some("GITHUB"));
    assert_eq!(gh.access_token(), Some("gho_secret"));
    assert_eq!(gh.scope(), Some("read:user"));
    assert_eq!(gh.token_type(), Some("bearer"));
    assert_eq!(gh.provider_username(), Some("peggy"));
    assert_eq!(gh.user_id(), Some(uid));
    let _ = gh.provider_user_id();
    assert!(gh.json().contains("gho_secret"));
    assert!(!format!("{gh:?} {list:?}").contains("gho_secret"), "Debug leaks the provider token");

    client.social_token_delete("GITHUB", uid).unwrap();
    expect_kind(client.social_token_get("GITHUB", uid), ErrorKind::NotFound);
    expect_kind(client.social_token_delete("GITHUB", uid), ErrorKind::NotFound);
    assert!(client.social_tokens_list(uid).unwrap().len() == 1);
}

#[test]
fn verify_remote_asks_the_worker() {
    let emu = Emulator::start();
    let client = emu.client();
    let t = emu.login_token("trent@example.com");
    assert_eq!(client.verify_remote(t.access_token().unwrap()).unwrap(), Ok(()));
    let expired = emu.access_token(json!({}), -60);
    let reason = client.verify_remote(&expired).unwrap().unwrap_err();
    assert!(!reason.is_empty());
    assert!(client.verify_remote("garbage").unwrap().is_err());
}

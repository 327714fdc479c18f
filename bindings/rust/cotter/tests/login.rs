//! @file login.rs
//! @brief PKCE login end to end: Pkce, the hosted login URL, the emulator's login page (form posts and the
//! OTP from its mailbox), the redirect parser and get_identity; and their rejections.

mod common;

use common::{expect_kind, log_in_through_the_page, Emulator, REDIRECT};
use cotter::{login_redirect_parse, login_url, pkce_challenge_of, ErrorKind, LoginUrlOptions, Pkce};
use serde_json::Value;

#[test]
fn pkce_values_are_fresh_and_consistent() {
    let a = Pkce::new().unwrap();
    let b = Pkce::new().unwrap();
    assert_eq!(a.verifier().len(), 43);
    assert_eq!(a.state().len(), 22);
    assert_ne!(a.verifier(), b.verifier());
    assert_ne!(a.state(), b.state());
    assert_eq!(pkce_challenge_of(a.verifier()).unwrap(), a.challenge());
    // Known answer from an independent implementation (Python: base64url(hashlib.sha256(v).digest())).
    assert_eq!(pkce_challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWjOEjXk").unwrap(),
               "VYFANLqdx_HDV6BqEhluZJ63rtrIPROSSFdB3P6G83I");
    assert!(!format!("{a:?}").contains(a.verifier()));
}

#[test]
fn login_url_encodes_every_parameter() {
    let url = login_url(&LoginUrlOptions {
        api_key_id: "key id",
        redirect_url: "http://localhost:8080/cb?x=1&y=2",
        state: "s/t",
        code_challenge: "abc",
        identifier_type: Some("PHONE"),
        input: Some("+1 555 0100"),
        ..Default::default()
    })
    .unwrap();
    assert!(url.starts_with("https://js.cotter.app/app?"), "{url}");
    assert!(url.contains("redirect_url=http%3A%2F%2Flocalhost%3A8080%2Fcb%3Fx%3D1%26y%3D2"), "{url}");
    assert!(url.contains("api_key=key%20id"), "{url}");
    assert!(url.contains("type=PHONE"), "{url}");
    expect_kind(login_url(&LoginUrlOptions { api_key_id: "k", ..Default::default() }), ErrorKind::Invalid);
}

#[test]
fn full_login_through_the_emulator_page() {
    let emu = Emulator::start();
    let client = emu.client();
    let pkce = Pkce::new().unwrap();
    let query = log_in_through_the_page(&emu, &pkce, "judy@example.com");
    let redirect = login_redirect_parse(&query, pkce.state()).unwrap();
    assert!(redirect.challenge_id > 0);

    let identity = client.get_identity(&redirect.code, redirect.challenge_id, pkce.verifier(), REDIRECT).unwrap();
    assert_eq!(identity.identifier(), Some("judy@example.com"));
    assert_eq!(identity.identifier_type(), Some("EMAIL"));
    assert!(identity.user_id().is_some());
    let token = identity.token().expect("oauth_token");
    let claims = emu.verifier().verify(token.access_token().unwrap()).unwrap();
    assert_eq!(claims.sub(), identity.user_id());
    let body: Value = serde_json::from_str(identity.json()).unwrap();
    assert_eq!(body["identifier"]["identifier"], "judy@example.com");
    // The Identity Token of the response verifies with the emulator's Ed25519 key and can be granted.
    let it = identity.identity_token_json().unwrap();
    cotter::identity_token_verify(it, &emu.info.api_key_id, Some(&emu.info.identity_public_key), None).unwrap();
    client.grant_identity_token(it).unwrap();
    // The generated view (capi/abi.json records): the user object as sent; Debug shows no Identity Token.
    let user: Value = serde_json::from_str(identity.user_json().unwrap()).unwrap();
    assert_eq!(user["ID"].as_str(), identity.user_id());
    let signature = serde_json::from_str::<Value>(it).unwrap()["signature"].as_str().unwrap().to_owned();
    assert!(!format!("{identity:?}").contains(&signature), "Debug shows the Identity Token");

    // The code is single use.
    let e = expect_kind(client.get_identity(&redirect.code, redirect.challenge_id, pkce.verifier(), REDIRECT),
                        ErrorKind::OAuth);
    assert_eq!(e.http_status(), Some(400));
}

#[test]
fn wrong_verifier_state_or_redirect_is_rejected() {
    let emu = Emulator::start();
    let client = emu.client();
    let pkce = Pkce::new().unwrap();
    let query = log_in_through_the_page(&emu, &pkce, "mallory@example.com");
    expect_kind(login_redirect_parse(&query, "another-state"), ErrorKind::State);
    expect_kind(login_redirect_parse("?error=access_denied&state=x", "x"), ErrorKind::State);
    expect_kind(login_redirect_parse("state=x&challenge_id=1", "x"), ErrorKind::Protocol);
    let r = login_redirect_parse(&format!("?{query}"), pkce.state()).unwrap();
    let other = Pkce::new().unwrap();
    expect_kind(client.get_identity(&r.code, r.challenge_id, other.verifier(), REDIRECT), ErrorKind::OAuth);
}

//! @file jwt_verify.rs
//! @brief Verifier and Claims against tokens the emulator signs: every getter, and every class of bad
//! token with its own ErrorKind.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use common::{expect_kind, Emulator};
use cotter::{ErrorKind, Verifier};
use serde_json::{json, Value};

/// Re-encodes a token's header (keeping payload and signature), to build hostile headers.
fn with_header(token: &str, header: &str) -> String {
    let mut parts = token.splitn(2, '.');
    let _ = parts.next();
    format!("{}.{}", B64.encode(header), parts.next().unwrap())
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

#[test]
fn access_and_id_tokens_verify_with_every_claim() {
    let emu = Emulator::start();
    let verifier = emu.verifier();
    let body = emu.login("alice@example.com");
    let access = body["oauth_token"]["access_token"].as_str().unwrap();
    let claims = verifier.verify(access).expect("access token verifies");
    let user_id = body["user"]["ID"].as_str().unwrap();
    assert_eq!(claims.sub(), Some(user_id));
    assert_eq!(claims.iss(), Some("https://www.cotter.app"));
    assert_eq!(claims.identifier(), Some("alice@example.com"));
    assert_eq!(claims.token_type(), Some("client_access_token"));
    assert_eq!(claims.scope(), Some("access"));
    assert_eq!(claims.audiences(), vec![emu.info.api_key_id.as_str()]);
    assert!(claims.authentication_method().is_some());
    assert!(claims.jti().is_some());
    assert!(claims.client_user_id().is_some());
    assert_eq!(claims.kid(), header_of(access)["kid"].as_str());
    let (exp, iat) = (claims.exp().unwrap(), claims.iat().unwrap());
    assert_eq!(exp - iat, 3600);
    assert_eq!(claims.nbf(), None);
    let payload: Value = serde_json::from_str(claims.json()).unwrap();
    assert_eq!(payload["sub"], user_id);
    assert_eq!(claims.auth_time(), None);
    assert!(format!("{claims:?}").contains(user_id));

    let id = verifier.verify(body["oauth_token"]["id_token"].as_str().unwrap()).expect("id token verifies");
    assert_eq!(id.token_type(), Some("client_id_token"));
    assert!(id.auth_time().is_some());
    verifier.check(access).unwrap();
    verifier.verify_bytes(access.as_bytes()).unwrap();
}

#[test]
fn static_jwks_verifies_without_network() {
    let emu = Emulator::start();
    let jwks = emu.agent().get(&emu.info.jwks_url).call().unwrap().into_string().unwrap();
    let verifier = Verifier::builder().audience(&emu.info.api_key_id).jwks_json(jwks).build().unwrap();
    let token = emu.access_token(json!({}), 600);
    let before = emu.requests("GET /api/v0/token/jwks");
    verifier.verify(&token).unwrap();
    verifier.refresh().unwrap(); // no-op for a static key set
    assert_eq!(emu.requests("GET /api/v0/token/jwks"), before);
}

#[test]
fn every_class_of_bad_token_has_its_kind() {
    let emu = Emulator::start();
    let v = emu.verifier();
    let good = emu.access_token(json!({}), 600);
    let kid = header_of(&good)["kid"].as_str().unwrap().to_owned();

    expect_kind(v.verify("not-a-jwt"), ErrorKind::JwtMalformed);
    expect_kind(v.verify(""), ErrorKind::JwtMalformed);
    expect_kind(v.verify(&format!("{good}.x")), ErrorKind::JwtMalformed);
    expect_kind(v.verify(&".".repeat(1 << 20)), ErrorKind::JwtMalformed); // golang-jwt CVE-2025-30204
    expect_kind(v.verify(&format!("{good}{}", "A".repeat(1 << 20))), ErrorKind::JwtMalformed);
    expect_kind(v.verify_bytes(b"\xff\xfe.\x00.\x80"), ErrorKind::JwtMalformed); // not UTF-8
    expect_kind(v.verify(&with_header(&good, r#"{"alg":"none","kid":"k"}"#)), ErrorKind::JwtAlg);
    expect_kind(v.verify(&with_header(&good, &format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#))), ErrorKind::JwtAlg);
    expect_kind(v.verify(&with_header(&good, &format!(r#"{{"alg":"ES256","kid":"{kid}","jku":"http://x"}}"#))),
                ErrorKind::JwtHeader);
    expect_kind(v.verify(&with_header(&good, &format!(r#"{{"alg":"ES256","kid":"{kid}","crit":["exp"]}}"#))),
                ErrorKind::JwtCrit);
    expect_kind(v.verify(&with_header(&good, &format!(r#"{{"alg":"ES256","alg":"ES256","kid":"{kid}"}}"#))),
                ErrorKind::JwtDuplicate);

    // One signature character changed (not the last one, whose low bits must stay zero).
    let mut tampered = good.clone().into_bytes();
    let i = tampered.len() - 10;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    expect_kind(v.verify(&tampered), ErrorKind::JwtSignature);

    expect_kind(v.verify(&emu.access_token(json!({}), -120)), ErrorKind::JwtExpired);
    expect_kind(v.verify(&emu.access_token(json!({"aud": "someone-else"}), 600)), ErrorKind::JwtAudience);
    expect_kind(v.verify(&emu.access_token(json!({"iss": "https://evil.example"}), 600)), ErrorKind::JwtIssuer);
    expect_kind(v.verify(&emu.access_token(json!({"exp": null}), 600)), ErrorKind::JwtMissingClaim);
    expect_kind(v.verify(&emu.access_token(json!({"exp": "tomorrow"}), 600)), ErrorKind::JwtClaimType);
    let future = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    expect_kind(v.verify(&emu.access_token(json!({"nbf": future}), 7200)), ErrorKind::JwtNotYetValid);

    // Signature bytes of a known key under an unknown kid: refetch, still unknown.
    let fast = emu.verifier_builder().jwks_cooldown(Duration::ZERO).build().unwrap();
    expect_kind(fast.verify(&with_header(&good, r#"{"alg":"ES256","kid":"no-such-kid"}"#)), ErrorKind::JwtKeyNotFound);

    // The token's kid selects a key that may not verify ES256 (its JWK says ES384).
    let mut set: Value = serde_json::from_str(&emu.agent().get(&emu.info.jwks_url).call().unwrap().into_string().unwrap()).unwrap();
    for key in set["keys"].as_array_mut().unwrap() {
        key["alg"] = json!("ES384");
    }
    let mismatched = Verifier::builder().audience(&emu.info.api_key_id).jwks_json(set.to_string()).build().unwrap();
    expect_kind(mismatched.verify(&good), ErrorKind::JwtKeyMismatch);
}

#[test]
fn key_set_errors_and_bad_options() {
    let emu = Emulator::start();
    expect_kind(Verifier::builder().audience("a").jwks_json("{not json").build(), ErrorKind::JwksInvalid);
    expect_kind(Verifier::builder().jwks_url(&emu.info.jwks_url).build(), ErrorKind::Invalid); // no audience
    expect_kind(Verifier::builder().audience("a").build(), ErrorKind::Invalid); // no key source
    expect_kind(Verifier::builder().audience("a").jwks_url("http://example.com/jwks").build(), ErrorKind::Invalid);
    expect_kind(Verifier::builder().audience("a\0b").jwks_url(&emu.info.jwks_url).build(), ErrorKind::Invalid);
    expect_kind(Verifier::builder().audience("a").jwks_url(&emu.info.jwks_url).leeway(Duration::from_secs(301)).build(),
                ErrorKind::Invalid);

    // Nothing listens there: no keys at all. The socket stays bound, never listening, while it is used: a
    // connection is refused, and nothing else (an emulator that a test running in parallel starts, an outgoing
    // connection's source port) can take the port. (It was bound and dropped at once, freeing it for anyone.)
    let holder = tokio::net::TcpSocket::new_v4().unwrap();
    holder.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = holder.local_addr().unwrap().port();
    let dead = Verifier::builder()
        .audience(&emu.info.api_key_id)
        .jwks_url(format!("http://127.0.0.1:{port}/jwks"))
        .jwks_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let token = emu.access_token(json!({}), 600);
    expect_kind(dev_null(dead.verify(&token)), ErrorKind::JwksUnavailable);
    expect_kind(dead.refresh(), ErrorKind::JwksUnavailable);

    // The emulator's JWKS broken: an invalid document, with no keys cached yet.
    emu.fault(json!({"route": "GET /api/v0/token/jwks", "malformed_json": true}));
    let e = emu.verifier().refresh().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::JwksInvalid | ErrorKind::JwksUnavailable), "{e}");
}

fn dev_null<T>(r: cotter::Result<T>) -> cotter::Result<()> {
    r.map(|_| ())
}

#[test]
fn clock_and_log_callbacks_are_called() {
    let emu = Emulator::start();
    let token = emu.access_token(json!({}), 600);
    let logs = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = logs.clone();
    let v = emu
        .verifier_builder()
        .clock(|| 4_000_000_000) // year 2096
        .log(move |_, msg| sink.lock().unwrap().push(msg.to_owned()))
        .build()
        .unwrap();
    expect_kind(v.verify(&token), ErrorKind::JwtExpired);
    for msg in logs.lock().unwrap().iter() {
        assert!(!msg.contains(&token), "a log message contains the token");
    }
    let past = emu.verifier_builder().clock(|| 1_000_000_000).build().unwrap();
    expect_kind(past.verify(&token), ErrorKind::JwtNotYetValid);
}

#[test]
fn one_verifier_is_shared_by_many_threads() {
    let emu = Emulator::start();
    let v = Arc::new(emu.verifier());
    let tokens: Vec<String> = (0..4).map(|_| emu.access_token(json!({}), 600)).collect();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let v = v.clone();
            let t = tokens[i % tokens.len()].clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let c = v.verify(&t).unwrap();
                    assert!(c.sub().is_some());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Concurrent first use shares one fetch.
    assert_eq!(emu.requests("GET /api/v0/token/jwks"), 1);
}

/// Verifier, Claims and the rest are Send + Sync exactly where cotter.h says so.
#[test]
fn thread_safety_markers() {
    // The full list is a compile-time assertion in src/lib.rs; this proves the markers reach users.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<cotter::Verifier>();
    send_sync::<cotter::Claims>();
    send_sync::<cotter::Token>();
    send_sync::<cotter::Client>();
    send_sync::<cotter::Session>();
    send_sync::<cotter::Error>();
    send_sync::<cotter::UserList>();
    send_sync::<cotter::SocialTokenList>();
    send_sync::<cotter::Identity>();
    send_sync::<cotter::Pkce>();
    // Used across threads for real: claims verified on one thread are read on another.
    let emu = Emulator::start();
    let claims = emu.verifier().verify(&emu.access_token(json!({}), 600)).unwrap();
    let sub = std::thread::spawn(move || claims.sub().map(str::to_owned)).join().unwrap();
    assert!(sub.is_some());
}

//! @file leaks.rs
//! @brief Leak loop: every kind of handle is created and dropped over and over, and 1,000,000 tokens are
//! verified; the resident set may not grow by 1 MiB between the end of the warm-up and the end.
//!
//! Mostly offline (static JWKS), so it is fast enough to run with every `cargo test`; the objects that only
//! come from the network (client results, sessions, identities, errors with HTTP details, and the async
//! path: `Call` futures completed, dropped in flight and cancelled) get a few hundred rounds against the
//! emulator.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Instant;

use common::{log_in_through_the_page, Emulator, REDIRECT};
use cotter::{ErrorKind, Pkce, Secret, Session, Storage, Token, Verifier};
use futures::executor::block_on;
use serde_json::json;

/// Verifications in the whole test (warm-up included).
const VERIFICATIONS: usize = 1_000_000;
/// Verifications per offline round; `VERIFICATIONS / PER_ROUND` rounds.
const PER_ROUND: usize = 10;
const WARM_ROUNDS: usize = 10_000;
// Enough for the user list to reach its full page of 50: the library's per-thread parse buffers grow to the
// largest response seen (capacity, not a leak), so the warm-up must have seen the largest.
const NET_WARM: usize = 80;
const NET_ROUNDS: usize = 200;
const MAX_GROWTH_KIB: u64 = 1024;

/// VmRSS of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// glibc's `struct mallinfo2` (malloc.h).
#[allow(dead_code)]
#[repr(C)]
struct Mallinfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

extern "C" {
    fn mallinfo2() -> Mallinfo2;
}

/// Bytes malloc has handed out and not had back, over every arena (Rust's allocations included: the
/// test uses the system allocator).
fn heap_in_use() -> usize {
    let m = unsafe { mallinfo2() };
    m.uordblks + m.hblkhd
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[derive(Default)]
struct MemoryStorage(Mutex<Option<String>>);

impl Storage for MemoryStorage {
    fn load(&self) -> Result<Option<Secret>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.0.lock().unwrap().clone().map(Secret::new))
    }
    fn save(&self, json: Option<&str>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        *self.0.lock().unwrap() = json.map(str::to_owned);
        Ok(())
    }
}

struct Fixture {
    emu: Emulator,
    jwks: String,
    access: String,
    expired: String,
    bad_signature: String,
    token_json: String,
    identity_token_json: String,
    social_user: String,
}

/// One offline round: PER_ROUND verifications (valid with claims; expired, bad signature or verdict only;
/// malformed; the rest cache hits), plus now and then every object that needs no network.
fn offline_round(f: &Fixture, plain: &Verifier, cached: &Verifier, i: usize) {
    // A verifier of its own now and then (building one parses the JWKS: slower than a verification).
    let claims = if i % 50 == 0 {
        // With callbacks: their boxes are dropped with the verifier too.
        let v = Verifier::builder()
            .audience(&f.emu.info.api_key_id)
            .jwks_json(f.jwks.as_str())
            .clock(now)
            .log(|_, _| {})
            .build()
            .unwrap();
        v.verify(&f.access).unwrap()
    } else {
        plain.verify(&f.access).unwrap()
    };
    assert!(claims.sub().is_some() && !claims.json().is_empty() && !claims.audiences().is_empty());
    drop(claims);
    // One failure through the signature path per round, in turn (ES256 verification dominates the time).
    match i % 3 {
        0 => assert_eq!(plain.verify(&f.expired).unwrap_err().kind(), ErrorKind::JwtExpired),
        1 => assert_eq!(plain.verify(&f.bad_signature).unwrap_err().kind(), ErrorKind::JwtSignature),
        _ => plain.check(&f.access).unwrap(), // the verdict only: no claims object
    }
    assert_eq!(plain.verify("x.y.z").unwrap_err().kind(), ErrorKind::JwtMalformed);
    for _ in 0..PER_ROUND - 3 {
        assert!(cached.verify(&f.access).unwrap().identifier().is_some());
    }

    if i % 10 == 0 {
        let t = Token::from_json(&f.token_json).unwrap();
        assert!(t.refresh_token().is_some());
        let _ = t.to_json().unwrap();
        let _ = t.to_owned_token().unwrap();
        assert_eq!(Token::from_json("[1]").unwrap_err().kind(), ErrorKind::Protocol);
        let p = Pkce::new().unwrap();
        assert_eq!(cotter::pkce_challenge_of(p.verifier()).unwrap(), p.challenge());
        let r = cotter::login_redirect_parse("code=c&state=s&challenge_id=1", "s").unwrap();
        assert_eq!(r.challenge_id, 1);
        assert_eq!(cotter::login_redirect_parse("code=c&state=s", "t").unwrap_err().kind(), ErrorKind::State);
        let _ = cotter::login_url(&cotter::LoginUrlOptions {
            api_key_id: &f.emu.info.api_key_id,
            redirect_url: REDIRECT,
            state: p.state(),
            code_challenge: p.challenge(),
            ..Default::default()
        })
        .unwrap();
        cotter::identity_token_verify(&f.identity_token_json, &f.emu.info.api_key_id,
                                      Some(&f.emu.info.identity_public_key), None)
        .unwrap();
    }
}

/// A shared store's adapter for a Redis that is never there: fails each call inline, or drops its completion.
struct Unreachable(bool);

impl cotter::SharedStoreAdapter for Unreachable {
    fn eval(&self, _: &str, _: &str, _: &[&str], _: &[&[u8]], done: cotter::EvalDone) {
        if self.0 {
            done.fail("no Redis in this test");
        }
    }
}

/// One network round: a client of its own and every object only the network gives.
fn network_round(f: &Fixture, refresh_token: &mut String, i: usize) {
    let client = f.emu.client_builder().log(|_, _| {}).build().unwrap();
    let token = client.refresh(refresh_token).unwrap();
    *refresh_token = token.refresh_token().unwrap().to_owned();
    let user = client.user_create(&format!("leak-{i:06}@example.com")).unwrap();
    let id = user.id().unwrap().to_owned();
    assert_eq!(client.user_get(&id).unwrap().id(), Some(id.as_str()));
    assert!(client.user_get_by_identifier(&format!("leak-{i:06}@example.com")).is_ok());
    let list = client.user_list(0).unwrap();
    assert!(list.iter().all(|u| u.id().is_some()));
    let missing = client.user_get("00000000-0000-4000-8000-00000000abcd").unwrap_err();
    assert_eq!((missing.kind(), missing.http_status()), (ErrorKind::NotFound, Some(404)));
    assert_eq!(client.social_tokens_list(&f.social_user).unwrap().len(), 1);
    assert!(client.social_token_get("GITHUB", &f.social_user).unwrap().access_token().is_some());
    assert!(client.verify_remote(token.access_token().unwrap()).unwrap().is_ok());
    let session = Session::builder(&client).build(Some(&token)).unwrap();
    assert!(!session.access_token().unwrap().is_empty());
    drop(session.token().unwrap());
    // A session with every hook: custom storage, change callback, clock.
    let hooked = Session::builder(&client)
        .storage(MemoryStorage::default())
        .on_tokens_changed(|_| {})
        .clock(now)
        .build(Some(&token))
        .unwrap();
    assert!(!hooked.access_token().unwrap().is_empty());
    assert!(client.stats().unwrap().requests >= 9);
    // Shared stores (no Redis here): the adapter's box, its completion (failed inline, and dropped), the release,
    // the error; and a hiredis store that is never used.
    for fail_inline in [true, false] {
        let store = cotter::SharedStore::new(Unreachable(fail_inline), &Default::default()).unwrap();
        let e = Session::builder(&client).shared_store(&store).shared_session_id("leak").build(Some(&token)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::SharedUnavailable);
    }
    drop(cotter::SharedStore::hiredis(&Default::default(), &Default::default()).unwrap());
    async_round(f, &client, &hooked, refresh_token, i);
    if i % 10 == 0 {
        let pkce = Pkce::new().unwrap();
        let query = log_in_through_the_page(&f.emu, &pkce, &format!("page-{i:06}@example.com"));
        let r = cotter::login_redirect_parse(&query, pkce.state()).unwrap();
        let identity = client.get_identity(&r.code, r.challenge_id, pkce.verifier(), REDIRECT).unwrap();
        assert!(identity.token().is_some() && identity.user_id().is_some());
    }
}

/// Polls once with a waker that does nothing: starts a call without an executor.
fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let waker = futures::task::noop_waker();
    Pin::new(f).poll(&mut Context::from_waker(&waker))
}

/// The async path of a network round: `Call` futures completed, cancelled in flight (dropped, or cancelled
/// and awaited), a session's inline completion and its refresh through the hooks, a verifier refresh.
fn async_round(f: &Fixture, client: &cotter::Client, hooked: &Session, refresh_token: &mut String, i: usize) {
    block_on(async {
        assert!(!hooked.access_token_async().await.unwrap().is_empty()); // fresh: completes inline
        // The session rotates the round's refresh token (storing the new set through its hooks); the client
        // rotates it once more and the next round goes on from there.
        let rotated = hooked.refresh_async().await.unwrap();
        let token = client.refresh_async(rotated.refresh_token().unwrap()).await.unwrap();
        *refresh_token = token.refresh_token().unwrap().to_owned();
        let (user, list) = futures::join!(client.user_get_by_identifier_async(&format!("leak-{i:06}@example.com")),
                                          client.user_list_async(0));
        assert!(user.unwrap().id().is_some() && !list.unwrap().is_empty());
        let missing = client.user_get_async("00000000-0000-4000-8000-00000000abcd").await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
    });
    // Cancelled at whatever stage it reached: by drop, and by cancel() then awaited.
    let mut dropped = client.user_get_by_identifier_async("gone@example.com");
    let _ = poll_once(&mut dropped);
    drop(dropped);
    let mut cancelled = client.social_tokens_list_async(&f.social_user);
    let outcome = match poll_once(&mut cancelled) {
        Poll::Ready(r) => r, // loopback is fast: it may complete within its first poll
        Poll::Pending => {
            cancelled.cancel();
            block_on(cancelled)
        }
    };
    match outcome {
        Ok(list) => assert_eq!(list.len(), 1), // it had completed before the cancel
        Err(e) => assert_eq!(e.kind(), ErrorKind::Canceled),
    }
    if i % 10 == 0 {
        let verifier = f.emu.verifier();
        block_on(verifier.refresh_async()).unwrap();
    }
}

#[test]
fn every_object_and_a_million_verifications_do_not_grow_memory() {
    let emu = Emulator::start();
    let jwks = emu.agent().get(&emu.info.jwks_url).call().unwrap().into_string().unwrap();
    let access = emu.access_token(json!({}), 3600);
    let expired = emu.access_token(json!({}), -120);
    let mut bad = access.clone().into_bytes();
    let n = bad.len() - 10; // a signature character (not the last: its low bits must stay zero)
    bad[n] = if bad[n] == b'A' { b'B' } else { b'A' };
    let login = emu.login("leak@example.com");
    let social = emu.client().user_create("social@example.com").unwrap().id().unwrap().to_owned();
    emu.dev_post("/social_tokens", json!({"user_id": social, "identity_provider": "GITHUB",
                                          "tokens": {"access_token": "gho_leak"}}));
    let identity = emu.dev_post("/identity_token", json!({"identifier": "leak@example.com"}));
    let f = Fixture {
        jwks,
        access,
        expired,
        bad_signature: String::from_utf8(bad).unwrap(),
        token_json: login["oauth_token"].to_string(),
        identity_token_json: identity["identity_token"].to_string(),
        social_user: social,
        emu,
    };
    let mut refresh_token = login["oauth_token"]["refresh_token"].as_str().unwrap().to_owned();
    let plain = Verifier::builder().audience(&f.emu.info.api_key_id).jwks_json(f.jwks.as_str()).build().unwrap();
    let cached = Verifier::builder()
        .audience(&f.emu.info.api_key_id)
        .jwks_json(f.jwks.as_str())
        .token_cache_size(64)
        .build()
        .unwrap();

    let start = Instant::now();
    for i in 0..WARM_ROUNDS {
        offline_round(&f, &plain, &cached, i);
    }
    for i in 0..NET_WARM {
        network_round(&f, &mut refresh_token, i);
    }
    let before = rss_kib();
    let heap_before = heap_in_use();
    for i in WARM_ROUNDS..VERIFICATIONS / PER_ROUND {
        offline_round(&f, &plain, &cached, i);
        if i % ((VERIFICATIONS / PER_ROUND - WARM_ROUNDS) / NET_ROUNDS) == 0 {
            network_round(&f, &mut refresh_token, i);
        }
    }
    let after = rss_kib();
    let heap_after = heap_in_use();
    let grown = after.saturating_sub(before);
    eprintln!("leak loop: {VERIFICATIONS} verifications, {NET_ROUNDS} network rounds in {:.1} s; RSS {before} -> {after} KiB, \
               malloc in use {} -> {} KiB", start.elapsed().as_secs_f64(), heap_before >> 10, heap_after >> 10);
    assert!(grown < MAX_GROWTH_KIB, "RSS grew by {grown} KiB (from {before} KiB)");
    // Allocations never freed, whatever the allocator keeps around. libcurl's and OpenSSL's process-wide
    // caches still settle by some bytes per request (about 100 KiB here); one leaked result object per
    // network round would add more than 256 KiB.
    assert!(heap_after.saturating_sub(heap_before) < 256 << 10, "malloc'd bytes in use grew by {}",
            heap_after.saturating_sub(heap_before));
}

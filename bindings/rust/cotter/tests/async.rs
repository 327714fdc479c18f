//! @file async.rs
//! @brief The `_async` forms (`cotter::Call` futures) against the emulator: hundreds of calls in flight on
//! the client's I/O thread, cancellation by drop and by `Call::cancel` at each stage (waiting, mid-body,
//! queued behind the connection cap), per-call deadlines, the connection cap, one shared session refresh,
//! free order, a runtime dropped with calls in flight, the same futures under two executors, and every
//! operation against its blocking form.
//!
//! No test reads a clock: the server holds requests (30 s latency faults), the test waits until the server
//! has seen them, and asserts on order and counts.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use common::{expect_kind, log_in_through_the_page, Emulator, REDIRECT};
use cotter::{Call, Client, ErrorKind, Secret, Session, Storage, Token};
use futures::executor::block_on;
use futures::future::join_all;
use serde_json::json;

const REFRESH: &str = "POST /api/v0/token/:api_key_id";
const USER_CREATE: &str = "POST /api/v0/user/create";
const USER_GET: &str = "GET /api/v0/user";

/// Polls once with a waker that does nothing: starts a call without an executor.
fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let waker = futures::task::noop_waker();
    Pin::new(f).poll(&mut Context::from_waker(&waker))
}

fn threads_in_process() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse().unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A client whose own timeout (60 s) is far beyond the server's 30 s holds: a held request ends only by
/// cancellation or a per-call deadline.
fn patient_client(emu: &Emulator) -> Client {
    emu.client_builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// `n` refresh tokens of fresh logins.
fn refresh_tokens(emu: &Emulator, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let body = emu.login(&format!("many-{i}@example.com"));
            body["oauth_token"]["refresh_token"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn five_hundred_concurrent_refreshes_with_latency_complete() {
    const N: usize = 500;
    let emu = Emulator::start();
    let client = patient_client(&emu);
    let tokens = refresh_tokens(&emu, N);
    emu.fault(json!({"route": REFRESH, "count": N, "latency_ms": 200}));
    let results = block_on(join_all(tokens.iter().map(|rt| client.refresh_async(rt))));
    let mut rotated: Vec<String> = results
        .into_iter()
        .map(|r| r.expect("refresh").refresh_token().unwrap().to_owned())
        .collect();
    rotated.sort();
    rotated.dedup();
    assert_eq!(rotated.len(), N, "every refresh got its own new refresh token");
    assert!(rotated.iter().all(|rt| !tokens.contains(rt)));
    assert_eq!(emu.requests(REFRESH), N as u64);
}

#[test]
fn calls_in_flight_hold_sockets_not_threads_and_dropping_them_cancels() {
    const N: usize = 200;
    let emu = Emulator::start();
    let client = patient_client(&emu);
    emu.fault(json!({"route": USER_CREATE, "count": N, "latency_ms": 30_000}));
    let threads_before = threads_in_process();
    let mut calls: Vec<Call<cotter::User>> =
        (0..N).map(|i| client.user_create_async(&format!("held-{i}@example.com"))).collect();
    for c in &mut calls {
        assert!(poll_once(c).is_pending());
    }
    // All of them are at the server at once (it holds each for 30 s): they are concurrent.
    emu.wait_for_requests(USER_CREATE, N as u64);
    assert!(calls.iter().all(|c| !c.is_done()));
    // One I/O thread for the client, not one per call (other tests of this binary run threads too).
    let threads = threads_in_process();
    assert!(threads < threads_before + 20, "{threads} threads with {N} calls in flight (before: {threads_before})");
    drop(calls); // cancels every one: connections closed, nothing resent
    // A later call of the same client works, and the cancelled requests were each seen once.
    expect_kind(client.user_get_by_identifier("nobody@example.com"), ErrorKind::NotFound);
    assert_eq!(emu.requests(USER_CREATE), N as u64);
}

#[test]
fn cancel_while_waiting_mid_body_and_queued() {
    let emu = Emulator::start();
    let client = patient_client(&emu);
    let rt = refresh_tokens(&emu, 1).remove(0);

    // Waiting for the response: the server holds it.
    emu.fault(json!({"route": REFRESH, "count": 1, "latency_ms": 30_000}));
    let mut call = client.refresh_async(&rt);
    assert!(poll_once(&mut call).is_pending());
    emu.wait_for_requests(REFRESH, 1);
    call.cancel();
    expect_kind(block_on(call), ErrorKind::Canceled);

    // Mid-body: the answer drips one byte every 200 ms (a token set takes minutes).
    emu.fault(json!({"route": USER_GET, "count": 1, "slow_drip": true, "chunk_bytes": 1, "interval_ms": 200}));
    client.user_create("drip@example.com").unwrap();
    let mut call = client.user_get_by_identifier_async("drip@example.com");
    assert!(poll_once(&mut call).is_pending());
    emu.wait_for_requests(USER_GET, 1);
    call.cancel();
    expect_kind(block_on(call), ErrorKind::Canceled);

    // Queued behind the connection cap: never sent.
    let capped = emu.client_builder().timeout(Duration::from_secs(60)).max_host_connections(1).build().unwrap();
    let creates = emu.requests(USER_CREATE);
    emu.fault(json!({"route": USER_CREATE, "count": 1, "latency_ms": 30_000}));
    let mut first = capped.user_create_async("first@example.com");
    assert!(poll_once(&mut first).is_pending());
    emu.wait_for_requests(USER_CREATE, creates + 1);
    let mut queued = capped.user_create_async("queued@example.com");
    assert!(poll_once(&mut queued).is_pending());
    queued.cancel();
    expect_kind(block_on(queued), ErrorKind::Canceled);
    drop(first); // cancelled by drop
    // The connection is free again; the queued request never reached the server.
    expect_kind(capped.user_get_by_identifier("nobody@example.com"), ErrorKind::NotFound);
    assert_eq!(emu.requests(USER_CREATE), creates + 1);
    assert_eq!(emu.requests(REFRESH), 1);

    // Cancelled before the first poll: nothing is sent at all.
    let mut never = client.refresh_async(&rt);
    never.cancel();
    assert!(never.is_done());
    expect_kind(block_on(never), ErrorKind::Canceled);
    assert_eq!(emu.requests(REFRESH), 1);
}

#[test]
fn a_per_call_timeout_ends_the_call() {
    let emu = Emulator::start();
    let client = patient_client(&emu);
    let token = emu.login_token("deadline@example.com");

    emu.fault(json!({"route": REFRESH, "count": 1, "latency_ms": 30_000}));
    let r = block_on(client.refresh_async(token.refresh_token().unwrap()).timeout(Duration::from_millis(300)));
    expect_kind(r, ErrorKind::Timeout);
    assert_eq!(emu.requests(REFRESH), 1);

    // A session call's deadline bounds its wait for the refresh (which goes on).
    let session = Session::builder(&client).build(Some(&token)).unwrap();
    emu.fault(json!({"route": REFRESH, "count": 1, "latency_ms": 30_000}));
    expect_kind(block_on(session.refresh_async().timeout(Duration::from_millis(300))), ErrorKind::Timeout);

    // Beyond the library's range (24 h): rejected before anything is sent.
    let before = emu.requests(REFRESH);
    let e = expect_kind(block_on(client.refresh_async("x").timeout(Duration::from_secs(2 * 86_400))), ErrorKind::Invalid);
    assert!(e.message().contains("timeout_ms"), "{e}");
    assert_eq!(emu.requests(REFRESH), before);
}

#[test]
fn the_connection_cap_is_respected() {
    const N: usize = 40;
    let emu = Emulator::start();
    let client = emu.client_builder().timeout(Duration::from_secs(60)).max_host_connections(2).build().unwrap();
    let user = client.user_create("capped@example.com").unwrap();
    let connections_before = emu.connections();
    let client_connections_before = client.stats().unwrap().connections;
    emu.fault(json!({"route": USER_GET, "count": N, "latency_ms": 100}));
    let users = block_on(join_all((0..N).map(|_| client.user_get_by_identifier_async("capped@example.com"))));
    for u in users {
        assert_eq!(u.unwrap().id(), user.id());
    }
    assert_eq!(emu.requests(USER_GET), N as u64);
    // The client opened at most 2 connections (it may reuse the one of user_create). The server may also
    // count one connection of the test's own dev requests (its keep-alive can expire during the run).
    let opened = client.stats().unwrap().connections - client_connections_before;
    assert!(opened <= 2, "the client opened {opened} connections");
    let accepted = emu.connections() - connections_before;
    assert!(accepted <= 3, "the server accepted {accepted} connections");
}

#[test]
fn a_session_shared_by_many_futures_refreshes_once() {
    let emu = Emulator::start();
    let client = emu.client();
    let token = emu.login_token("shared@example.com");
    let offset = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let o = offset.clone();
    let session = Session::builder(&client).clock(move || now() + o.load(Ordering::SeqCst)).build(Some(&token)).unwrap();

    // A fresh token completes inside the first poll: the library calls back inline, on this thread.
    let mut call = session.access_token_async();
    match poll_once(&mut call) {
        Poll::Ready(t) => assert_eq!(&*t.unwrap(), token.access_token().unwrap()),
        Poll::Pending => panic!("a fresh token must complete inline"),
    }

    // Expired: 100 futures share one refresh.
    offset.store(7200, Ordering::SeqCst);
    emu.dev_post("/clock", json!({"advance_seconds": 7200}));
    emu.fault(json!({"route": REFRESH, "count": 1, "latency_ms": 300}));
    let tokens = block_on(join_all((0..100).map(|_| session.access_token_async())));
    let first = tokens[0].as_ref().unwrap().to_string();
    assert_ne!(first, token.access_token().unwrap());
    assert!(tokens.iter().all(|t| t.as_ref().unwrap().as_str() == first));
    assert_eq!(emu.requests(REFRESH), 1);
}

/// The same work, whichever executor drives it.
async fn scenario(client: Client, session: Arc<Session>, refresh_token: String, tag: &'static str) -> usize {
    let token = client.refresh_async(&refresh_token).await.unwrap();
    let created = client.user_create_async(&format!("{tag}@example.com")).await.unwrap();
    let (got, forced, verdict) = futures::join!(
        client.user_get_async(created.id().unwrap()),
        session.refresh_async(),
        client.verify_remote_async(token.access_token().unwrap()),
    );
    assert_eq!(got.unwrap().identifier(), Some(format!("{tag}@example.com").as_str()));
    assert_eq!(verdict.unwrap(), Ok(()));
    let forced = forced.unwrap();
    assert_eq!(session.access_token_async().await.unwrap().as_str(), forced.access_token().unwrap());
    // Spawned-style use: the futures own what they need ('static), the handles were cloned in.
    join_all((0..20).map(|_| client.user_get_by_identifier_async("nobody@example.com")))
        .await
        .into_iter()
        .filter(|r| matches!(r, Err(e) if e.kind() == ErrorKind::NotFound))
        .count()
}

#[test]
fn the_same_futures_run_under_two_executors() {
    let emu = Emulator::start();
    let client = emu.client();
    let session = Arc::new(Session::builder(&client).build(Some(&emu.login_token("exec@example.com"))).unwrap());
    let tokens = refresh_tokens(&emu, 3);

    // futures' single-thread executor.
    assert_eq!(block_on(scenario(client.clone(), session.clone(), tokens[0].clone(), "futures")), 20);

    // tokio's current-thread runtime (no I/O driver: nothing of tokio's is used by the library).
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    assert_eq!(rt.block_on(scenario(client.clone(), session.clone(), tokens[1].clone(), "tokio-ct")), 20);

    // tokio's multi-thread runtime, the future spawned onto a worker (Call is Send).
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let n = rt.block_on(async {
        tokio::spawn(scenario(client.clone(), session.clone(), tokens[2].clone(), "tokio-mt")).await.unwrap()
    });
    assert_eq!(n, 20);
}

#[test]
fn dropping_a_runtime_with_calls_in_flight_cancels_them() {
    const N: usize = 50;
    let emu = Emulator::start();
    let client = patient_client(&emu);
    emu.fault(json!({"route": USER_CREATE, "count": N, "latency_ms": 30_000}));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let finished = Arc::new(AtomicUsize::new(0));
    for i in 0..N {
        let (c, f) = (client.clone(), finished.clone());
        rt.spawn(async move {
            let _ = c.user_create_async(&format!("rt-{i}@example.com")).await;
            f.fetch_add(1, Ordering::SeqCst);
        });
    }
    emu.wait_for_requests(USER_CREATE, N as u64);
    drop(rt); // drops every task, so every future: each call is cancelled
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    expect_kind(client.user_get_by_identifier("nobody@example.com"), ErrorKind::NotFound);
    assert_eq!(emu.requests(USER_CREATE), N as u64);
}

#[derive(Default)]
struct CountingStorage {
    json: Mutex<Option<String>>,
    saves: Arc<AtomicUsize>,
}

impl Storage for CountingStorage {
    fn load(&self) -> Result<Option<Secret>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.json.lock().unwrap().clone().map(Secret::new))
    }
    fn save(&self, json: Option<&str>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        *self.json.lock().unwrap() = json.map(str::to_owned);
        self.saves.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn free_order_does_not_matter() {
    let emu = Emulator::start();
    let logged = Arc::new(AtomicUsize::new(0));
    let l = logged.clone();
    let client = emu.client_builder().log(move |_, _| { l.fetch_add(1, Ordering::SeqCst); }).build().unwrap();

    // Calls started, then the client dropped: they complete (the library keeps the client for them).
    client.user_create("order@example.com").unwrap();
    emu.fault(json!({"route": USER_GET, "count": 20, "latency_ms": 200}));
    let mut calls: Vec<_> = (0..20).map(|_| client.user_get_by_identifier_async("order@example.com")).collect();
    let mut results = Vec::new();
    calls.retain_mut(|c| match poll_once(c) {
        Poll::Ready(r) => {
            results.push(r); // (only if this thread stalled longer than the server's hold)
            false
        }
        Poll::Pending => true,
    });
    let token = emu.login_token("order@example.com");
    let saves = Arc::new(AtomicUsize::new(0));
    let session = Session::builder(&client)
        .storage(CountingStorage { saves: saves.clone(), ..Default::default() })
        .build(Some(&token))
        .unwrap();
    drop(client);
    results.extend(block_on(join_all(calls)));
    assert_eq!(results.len(), 20);
    for r in results {
        assert!(r.unwrap().id().is_some());
    }

    // A session outlives its client; a call outlives its session (Call futures are 'static).
    let call = session.refresh_async();
    drop(session);
    let saved = saves.load(Ordering::SeqCst);
    let refreshed = block_on(call).unwrap();
    assert_ne!(refreshed.refresh_token(), token.refresh_token());
    assert_eq!(saves.load(Ordering::SeqCst), saved + 1, "the new tokens were stored through the hook");
}

#[test]
fn a_refresh_that_outlives_every_handle_never_calls_the_released_hooks() {
    let emu = Emulator::start();
    // One connection: a later call queues behind the refresh, so when it is answered the refresh was handled.
    let client = emu.client_builder().max_host_connections(1).build().unwrap();
    let token = emu.login_token("orphan@example.com");
    let saves = Arc::new(AtomicUsize::new(0));
    let changes = Arc::new(AtomicUsize::new(0));
    let ch = changes.clone();
    let session = Session::builder(&client)
        .storage(CountingStorage { saves: saves.clone(), ..Default::default() })
        .on_tokens_changed(move |_| { ch.fetch_add(1, Ordering::SeqCst); })
        .build(Some(&token))
        .unwrap();
    emu.fault(json!({"route": REFRESH, "count": 1, "latency_ms": 1000}));
    let mut call = session.refresh_async();
    assert!(poll_once(&mut call).is_pending());
    emu.wait_for_requests(REFRESH, 1);
    // The caller gives up (awaiting the cancelled call, so that it has completed and been freed); the refresh
    // on the wire goes on.
    call.cancel();
    expect_kind(block_on(call), ErrorKind::Canceled);
    drop(session); // the last use: releases the storage and the change callback
    let (saved, changed) = (saves.load(Ordering::SeqCst), changes.load(Ordering::SeqCst));
    expect_kind(client.user_get_by_identifier("nobody@example.com"), ErrorKind::NotFound);
    assert_eq!(saves.load(Ordering::SeqCst), saved);
    assert_eq!(changes.load(Ordering::SeqCst), changed);
}

#[test]
fn every_async_operation_matches_its_blocking_form() {
    let emu = Emulator::start();
    let client = emu.client();
    block_on(async {
        // Grants.
        let it = emu.dev_post("/identity_token", json!({"identifier": "grant@example.com"}));
        let granted = client.grant_identity_token_async(&it["identity_token"].to_string()).await.unwrap();
        assert!(granted.access_token().is_some());
        let et = emu.dev_post("/event_token", json!({"identifier": "grant@example.com"}));
        assert!(client.grant_event_token_async(&et["event_token"].to_string()).await.unwrap().refresh_token().is_some());

        // Refresh, custom claims, remote verify, logout.
        let token = client.refresh_async(granted.refresh_token().unwrap()).await.unwrap();
        let custom = client
            .custom_claims_async(token.access_token().unwrap(), r#"{"role":"admin"}"#, token.refresh_token())
            .await
            .unwrap();
        assert!(!custom.token.is_empty() && custom.refresh_token.is_some());
        // Reusing the rotated token is refused (and, as RFC 9700 asks, revokes the login: last, then).
        expect_kind(client.refresh_async(granted.refresh_token().unwrap()).await, ErrorKind::Reauth);
        assert_eq!(client.verify_remote_async(token.access_token().unwrap()).await.unwrap(), Ok(()));
        assert!(client.verify_remote_async("not.a.token").await.unwrap().is_err());
        client.logout_async(token.refresh_token()).await.unwrap();
        expect_kind(client.refresh_async(token.refresh_token().unwrap()).await, ErrorKind::Reauth);

        // Users.
        let user = client.user_create_async("async-user@example.com").await.unwrap();
        let id = user.id().unwrap().to_owned();
        assert_eq!(client.user_get_async(&id).await.unwrap().id(), Some(id.as_str()));
        assert_eq!(client.user_get_by_identifier_async("async-user@example.com").await.unwrap().id(), Some(id.as_str()));
        let list = client.user_list_async(0).await.unwrap();
        assert_eq!(list.len(), client.user_list(0).unwrap().len());
        let missing = expect_kind(client.user_get_async("00000000-0000-4000-8000-00000000abcd").await, ErrorKind::NotFound);
        assert_eq!(missing.http_status(), Some(404));

        // Social tokens.
        emu.dev_post("/social_tokens", json!({"user_id": id, "identity_provider": "GITHUB",
                                              "tokens": {"access_token": "gho_async"}}));
        assert_eq!(client.social_tokens_list_async(&id).await.unwrap().len(), 1);
        assert_eq!(client.social_token_get_async("GITHUB", &id).await.unwrap().access_token(), Some("gho_async"));
        client.social_token_delete_async("GITHUB", &id).await.unwrap();
        expect_kind(client.social_token_get_async("GITHUB", &id).await, ErrorKind::NotFound);

        // A PKCE login through the page.
        let pkce = cotter::Pkce::new().unwrap();
        let query = log_in_through_the_page(&emu, &pkce, "async-page@example.com");
        let r = cotter::login_redirect_parse(&query, pkce.state()).unwrap();
        let identity = client.get_identity_async(&r.code, r.challenge_id, pkce.verifier(), REDIRECT).await.unwrap();
        assert_eq!(identity.identifier(), Some("async-page@example.com"));

        // Session: set, token, refresh, access token, logout.
        let session = Session::builder(&client).build(None).unwrap();
        expect_kind(session.access_token_async().await, ErrorKind::Reauth);
        session.set_token_async(identity.token().unwrap()).await.unwrap();
        let t = session.token_async().await.unwrap();
        assert_eq!(t.access_token(), identity.token().unwrap().access_token());
        let forced = session.refresh_async().await.unwrap();
        assert_eq!(session.access_token_async().await.unwrap().as_str(), forced.access_token().unwrap());
        session.logout_async().await.unwrap();
        expect_kind(session.token_async().await, ErrorKind::Reauth);

        // Verifier refresh.
        let verifier = emu.verifier();
        verifier.refresh_async().await.unwrap();
        verifier.check(&emu.access_token(json!({}), 600)).unwrap();
    });

    // Arguments the crate rejects fail at the first poll, without sending anything.
    let before = emu.requests(REFRESH);
    expect_kind(block_on(client.refresh_async("a\0b")), ErrorKind::Invalid);
    expect_kind(block_on(client.custom_claims_async("t", "{}", Some("x\0"))), ErrorKind::Invalid);
    assert_eq!(emu.requests(REFRESH), before);
    let _: Token = block_on(client.refresh_async(emu.login_token("last@example.com").refresh_token().unwrap())).unwrap();
}

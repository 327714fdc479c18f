//! @file session.rs
//! @brief Sessions against the emulator: refresh when due, single-flight across threads, token file and
//! custom storage, change callbacks, logout, rejected refresh tokens and transport errors that keep tokens.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{expect_kind, Emulator};
use cotter::{ErrorKind, Secret, Session, Storage};
use serde_json::{json, Value};

const REFRESH: &str = "POST /api/v0/token/:api_key_id";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A clock the test moves forward together with the emulator's dev clock: the session sees time pass
/// without waiting, and tokens issued afterwards are dated in the same future.
#[derive(Clone, Default)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn now(&self) -> i64 {
        now() + self.0.load(Ordering::SeqCst)
    }
    fn advance(&self, emu: &Emulator, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
        emu.dev_post("/clock", json!({"advance_seconds": secs}));
    }
}

#[test]
fn refreshes_only_when_due_and_reports_changes() {
    let emu = Emulator::start();
    let client = emu.client();
    let token = emu.login_token("sam@example.com");
    let clock = TestClock::default();
    let changes = Arc::new(AtomicUsize::new(0));
    let (c, seen) = (clock.clone(), changes.clone());
    let session = Session::builder(&client)
        .refresh_margin(Duration::from_secs(60))
        .clock(move || c.now())
        .on_tokens_changed(move |t| {
            assert!(t.is_some());
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .build(Some(&token))
        .unwrap();
    assert_eq!(&*session.access_token().unwrap(), token.access_token().unwrap());
    assert_eq!(emu.requests(REFRESH), 0);

    clock.advance(&emu, 3600 - 30); // within the margin
    let fresh = session.access_token().unwrap();
    assert_ne!(&*fresh, token.access_token().unwrap());
    assert_eq!(emu.requests(REFRESH), 1);
    assert_eq!(&*session.access_token().unwrap(), &*fresh); // valid again: no second refresh
    assert_eq!(emu.requests(REFRESH), 1);
    assert!(changes.load(Ordering::SeqCst) >= 1);

    let forced = session.refresh().unwrap();
    assert_eq!(emu.requests(REFRESH), 2);
    assert_eq!(session.token().unwrap().access_token(), forced.access_token());
}

#[test]
fn many_threads_share_one_refresh() {
    let emu = Emulator::start();
    let client = emu.client();
    let token = emu.login_token("tina@example.com");
    let clock = TestClock::default();
    clock.advance(&emu, 7200); // expired
    let c = clock.clone();
    let session = Arc::new(Session::builder(&client).clock(move || c.now()).build(Some(&token)).unwrap());
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let s = session.clone();
            std::thread::spawn(move || s.access_token().unwrap())
        })
        .collect();
    let tokens: Vec<Secret> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(tokens.iter().all(|t| **t == *tokens[0]));
    assert_eq!(emu.requests(REFRESH), 1, "32 concurrent callers must share one refresh");
}

#[test]
fn token_file_is_written_0600_and_shared_by_sessions() {
    let emu = Emulator::start();
    let client = emu.client();
    let dir = std::env::temp_dir().join(format!("cotter-rust-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tokens.json");
    let _ = std::fs::remove_file(&file);
    let token = emu.login_token("uma@example.com");

    let first = Session::builder(&client).token_file(&file).build(Some(&token)).unwrap();
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(stored["access_token"], token.access_token().unwrap());
    assert_eq!(stored.as_object().unwrap().len(), 6);

    let rotated = first.refresh().unwrap();
    let second = Session::builder(&client).token_file(&file).build(None).unwrap();
    assert_eq!(second.token().unwrap().refresh_token(), rotated.refresh_token());

    std::fs::write(&file, "{corrupt").unwrap();
    expect_kind(Session::builder(&client).token_file(&file).build(None), ErrorKind::Storage);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[derive(Default)]
struct MemoryStorage {
    json: Mutex<Option<String>>,
    saves: AtomicUsize,
    fail: bool,
}

/// The session owns its storage; the test keeps a second handle to look inside.
struct Shared(Arc<MemoryStorage>);

impl Storage for Shared {
    fn load(&self) -> Result<Option<Secret>, Box<dyn std::error::Error + Send + Sync>> {
        if self.0.fail {
            return Err("keychain locked".into());
        }
        Ok(self.0.json.lock().unwrap().clone().map(Secret::new))
    }
    fn save(&self, json: Option<&str>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.saves.fetch_add(1, Ordering::SeqCst);
        *self.0.json.lock().unwrap() = json.map(str::to_owned);
        Ok(())
    }
}

#[test]
fn custom_storage_logout_and_reauth() {
    let emu = Emulator::start();
    let client = emu.client();
    let storage = Arc::new(MemoryStorage::default());
    let token = emu.login_token("victor@example.com");
    let session = Session::builder(&client).storage(Shared(storage.clone())).build(Some(&token)).unwrap();
    assert!(storage.saves.load(Ordering::SeqCst) >= 1);
    let saved: Value = serde_json::from_str(storage.json.lock().unwrap().as_deref().unwrap()).unwrap();
    assert_eq!(saved["refresh_token"], token.refresh_token().unwrap());

    // A second session loads what the first stored.
    let again = Session::builder(&client).storage(Shared(storage.clone())).build(None).unwrap();
    assert_eq!(again.token().unwrap().refresh_token(), token.refresh_token());
    drop(again);

    session.logout().unwrap();
    assert!(storage.json.lock().unwrap().is_none(), "logout deletes the stored tokens");
    expect_kind(session.access_token(), ErrorKind::Reauth);
    session.set_token(&token).unwrap();
    assert_eq!(&*session.access_token().unwrap(), token.access_token().unwrap());

    let failing = Arc::new(MemoryStorage { fail: true, ..Default::default() });
    expect_kind(Session::builder(&client).storage(Shared(failing)).build(None), ErrorKind::User);
}

#[test]
fn rejected_refresh_needs_reauth_and_transport_errors_keep_tokens() {
    let emu = Emulator::start();
    let client = emu.client_builder().max_retries(0).build().unwrap();
    let body = emu.login("wendy@example.com");
    let token = cotter::Token::from_json(&body["oauth_token"].to_string()).unwrap();
    let session = Session::builder(&client).build(Some(&token)).unwrap();

    emu.fault(json!({"route": REFRESH, "status": 503}));
    let e = expect_kind(session.refresh(), ErrorKind::Http);
    assert_eq!(e.http_status(), Some(503));
    assert_eq!(session.token().unwrap().refresh_token(), token.refresh_token(), "tokens kept after a 5xx");
    // The reset goes to a session on a client of its own, so the request opens a fresh connection: on a reused one,
    // libcurl transparently resends a request whose connection died before any response byte, and the resend
    // succeeds (seen 1 run in 9 here; the same as in refresh.rs).
    let fresh_client = emu.client_builder().max_retries(0).build().unwrap();
    let fresh = Session::builder(&fresh_client).build(Some(&token)).unwrap();
    // A reset may have lost a rotation's answer: the session sends the refresh once more, so both attempts get it.
    emu.fault(json!({"route": REFRESH, "reset": true, "count": 2}));
    expect_kind(fresh.refresh(), ErrorKind::Network);
    assert_eq!(&*fresh.access_token().unwrap(), token.access_token().unwrap());

    emu.dev_post("/expire_tokens", json!({"user_id": body["user"]["ID"], "refresh_tokens": true}));
    expect_kind(session.refresh(), ErrorKind::Reauth);
}

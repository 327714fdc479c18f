//! @file main.rs
//! @brief The Rust worker of the fleet test (FLEET.md): N sessions `fleet-<i>` shared through Redis (redis-rs,
//! standalone or Cluster, through `cotter::redis_adapter::RedisAdapter`), CONCURRENCY lanes each keeping one
//! `access_token_async` call in flight on a random session for SECONDS, then one JSON line of counts.
//! Reads only the COTTER_FLEET_* environment. At the end or on SIGTERM: no new call, the calls in flight finish, the
//! line, exit 0. Non-zero only for a setup failure (the reason on stderr).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cotter::redis_adapter::RedisAdapter;
use cotter::{Client, Session, SharedStore, SharedStoreOptions};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigterm(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst); // async-signal-safe: the main thread notices and prints the line
}

#[derive(Default)]
struct Counts {
    calls: AtomicU64,
    ok: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn num<T: std::str::FromStr>(name: &str) -> Result<T, String> {
    env(name)?.trim().parse().map_err(|_| format!("{name} is not a number"))
}

/// The store over redis-rs: `redis://host:port` (standalone) or `redis-cluster://h:p,h:p,...` (seed nodes).
fn store(url: &str, options: &SharedStoreOptions) -> Result<SharedStore, String> {
    let adapter = match url.strip_prefix("redis-cluster://") {
        Some(nodes) => {
            let nodes: Vec<String> = nodes.split(',').map(|n| format!("redis://{n}")).collect();
            // Waiters subscribe through the first node (a classic PUBLISH reaches every node of the cluster).
            let first = redis::Client::open(nodes[0].as_str()).map_err(|e| format!("redis client: {e}"))?;
            RedisAdapter::cluster(redis::cluster::ClusterClient::new(nodes).map_err(|e| format!("cluster client: {e}"))?)
                .with_subscriber(first, &Default::default())
        }
        None => RedisAdapter::new(redis::Client::open(url).map_err(|e| format!("redis client: {e}"))?),
    };
    SharedStore::new(adapter, options).map_err(|e| format!("shared store: {e}"))
}

fn setup() -> Result<(Vec<Session>, f64, usize, Duration), String> {
    let client = Client::builder(&env("COTTER_FLEET_API_KEY_ID")?)
        .api_secret_key(env("COTTER_FLEET_API_SECRET_KEY")?)
        .base_url(env("COTTER_FLEET_BASE_URL")?)
        .build()
        .map_err(|e| format!("client: {e}"))?;
    let options = SharedStoreOptions {
        key_prefix: Some(env("COTTER_FLEET_PREFIX")?),
        lease_ttl: Some(Duration::from_millis(num("COTTER_FLEET_LEASE_MS")?)),
        ..Default::default()
    };
    let store = store(&env("COTTER_FLEET_REDIS")?, &options)?;
    let margin = Duration::from_secs(num("COTTER_FLEET_MARGIN")?);
    let n: usize = num("COTTER_FLEET_SESSIONS")?;
    let sessions = (0..n)
        .map(|i| {
            Session::builder(&client)
                .shared_store(&store)
                .shared_session_id(format!("fleet-{i}"))
                .refresh_margin(margin)
                .build(None) // seeded already: loads from the store
                .map_err(|e| format!("session fleet-{i}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((sessions, num("COTTER_FLEET_SECONDS")?, num("COTTER_FLEET_CONCURRENCY")?, Duration::from_millis(num("COTTER_FLEET_PAUSE_MS")?)))
}

/// A lane: one call in flight at a time, on a random session (xorshift seeded per lane), until stopped.
fn lane(seed: u64, sessions: Arc<Vec<Session>>, counts: Arc<Counts>, pause: Duration) {
    let mut x = seed | 1;
    while !STOP.load(Ordering::SeqCst) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let s = &sessions[(x % sessions.len() as u64) as usize];
        let result = futures::executor::block_on(s.access_token_async());
        counts.calls.fetch_add(1, Ordering::SeqCst);
        match result {
            Ok(t) if !t.is_empty() && t.matches('.').count() == 2 => {
                counts.ok.fetch_add(1, Ordering::SeqCst);
            }
            Ok(_) => {
                *counts.errors.lock().unwrap().entry("NOT_A_JWT".into()).or_default() += 1;
            }
            Err(e) => {
                let mut errors = counts.errors.lock().unwrap();
                let n = errors.entry(e.name().to_owned()).or_default();
                if *n == 0 {
                    eprintln!("fleet-rust {}: {}: {e}", std::process::id(), e.name()); // messages hold no token
                }
                *n += 1;
            }
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

fn main() {
    let (sessions, seconds, concurrency, pause) = match setup() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("fleet-rust: setup: {e}");
            std::process::exit(2);
        }
    };
    unsafe { libc::signal(libc::SIGTERM, on_sigterm as *const () as libc::sighandler_t) };
    let sessions = Arc::new(sessions);
    let counts = Arc::new(Counts::default());
    println!("ready");
    std::io::stdout().flush().unwrap();
    let seed = u64::from(std::process::id()) ^ Instant::now().elapsed().as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let lanes: Vec<_> = (0..concurrency.max(1))
        .map(|i| {
            let (sessions, counts) = (sessions.clone(), counts.clone());
            let lane_seed = seed.wrapping_mul(i as u64 + 1).wrapping_add(i as u64);
            std::thread::spawn(move || lane(lane_seed, sessions, counts, pause))
        })
        .collect();
    let end = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
    while !STOP.load(Ordering::SeqCst) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    STOP.store(true, Ordering::SeqCst);
    // Each lane finishes the call it has in flight (bounded by the lease's refresh budget): a refresh this process
    // won at Cotter is saved to the store before it exits, never lost with it (which would cost every other worker
    // a reuse of the rotated refresh token).
    for l in lanes {
        let _ = l.join();
    }
    let errors = counts.errors.lock().unwrap().clone();
    let line = serde_json::json!({
        "lang": "rust",
        "pid": std::process::id(),
        "calls": counts.calls.load(Ordering::SeqCst),
        "ok": counts.ok.load(Ordering::SeqCst),
        "errors": errors,
    });
    println!("{line}");
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

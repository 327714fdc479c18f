//! @file shared_store.rs
//! @brief Sessions shared by a fleet through a real redis-server (started here: standalone over a Unix socket in a
//! temp dir, and a 3-master Cluster on free TCP ports) and the emulator, over redis-rs (`RedisAdapter`, feature
//! `redis`), the library's hiredis adapter, and adapters of the test's own:
//!  - several processes (this test binary re-executed) x threads and async tasks share sessions whose tokens expire:
//!    exactly one refresh grant per session per expiry, no family revoked; a round on valid tokens runs 0 scripts;
//!  - Redis down: a valid cached token is still served, a needed refresh fails with `SharedUnavailable`;
//!  - a process that exits with a script call in flight exits (no crash, no hang);
//!  - a call on a kept connection that Redis dropped is tried once more on a fresh one;
//!  - an adapter that panics or drops its completion fails the call; the adapter is released once, whatever the
//!    order in which the store and the sessions are dropped;
//!  - waiters woken by the `...:changed` message (the adapter's `wait`): while the holder's save is held, messages
//!    published on the channel wake the losers (one subscriber connection for all), then one grant and every loser
//!    serves the new token; a killed subscriber connection fails its waits, the session still succeeds by reading
//!    again and the next wait subscribes on a new connection; a `wait` that panics or drops its completion fails
//!    and the waiter polls; a process exits with waits pending.
//! Time is driven by the emulator's dev clock, and the sessions' clock follows it: never by sleeps.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{expect_kind, Emulator};
use cotter::redis_adapter::{RedisAdapter, RedisAdapterOptions};
use cotter::{ErrorKind, EvalDone, HiredisOptions, Session, SharedStore, SharedStoreAdapter, SharedStoreOptions};
use serde_json::json;

const REFRESH_ROUTE: &str = "POST /api/v0/token/:api_key_id";
const SESSIONS: usize = 12;
const WORKERS: usize = 3;
const ROUNDS: usize = 2;

// ---- The sessions' clock follows the emulator's dev clock: real time plus the offset the test advanced ----------

/// The offset (seconds) of one test's emulator clock: tests run in parallel, each with its own emulator.
#[derive(Clone, Default)]
struct Clock(Arc<AtomicI64>);

impl Clock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
            + self.offset()
    }

    fn offset(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves the emulator's dev clock and the sessions' clock together.
    fn advance(&self, emu: &Emulator, seconds: i64) {
        emu.dev_post("/clock", json!({ "advance_seconds": seconds }));
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

/// (refresh grants handled, families revoked) at the emulator.
fn grants(emu: &Emulator) -> (u64, u64) {
    let s = emu.dev_get("/stats");
    (s["handled"][REFRESH_ROUTE].as_u64().unwrap_or(0), s["refresh_families_revoked"].as_u64().unwrap_or(0))
}

// ---- redis-server processes --------------------------------------------------------------------------------------

/// A temp dir removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "cotter-rs-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One redis-server (no persistence), SIGKILLed on drop.
struct RedisServer {
    child: Option<Child>,
    url: String,
}

impl RedisServer {
    /// Over a Unix socket in `dir` (no TCP: no port to pick).
    fn unix(dir: &Path) -> RedisServer {
        let sock = dir.join("redis.sock");
        let child = spawn_redis(dir, &["--port", "0", "--unixsocket", sock.to_str().unwrap(), "--unixsocketperm", "700"]);
        let s = RedisServer { child: Some(child), url: format!("redis+unix://{}", sock.display()) };
        s.wait_ready();
        s
    }

    /// A cluster node on `port` (its bus on port + 10000).
    fn cluster_node(dir: &Path, port: u16) -> RedisServer {
        let p = port.to_string();
        let conf = dir.join(format!("nodes-{port}.conf"));
        let child = spawn_redis(
            dir,
            &["--port", &p, "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-config-file",
              conf.to_str().unwrap()],
        );
        let s = RedisServer { child: Some(child), url: format!("redis://127.0.0.1:{port}") };
        s.wait_ready();
        s
    }

    fn admin(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str()).unwrap().get_connection().unwrap()
    }

    /// A hang guard (polling PING), never a timing assertion.
    fn wait_ready(&self) {
        for _ in 0..400 {
            if let Ok(mut c) = redis::Client::open(self.url.as_str()).unwrap().get_connection() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server at {} never answered", self.url);
    }

    /// SIGKILL: the socket file stays, connections to it are refused.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_redis(dir: &Path, args: &[&str]) -> Child {
    Command::new("redis-server")
        .args(args)
        .args(["--dir", dir.to_str().unwrap(), "--save", "", "--appendonly", "no", "--daemonize", "no"])
        .args(["--logfile", dir.join("redis.log").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start redis-server (scripts/install-deps.sh installs it)")
}

/// Script calls (EVALSHA + EVAL) since the last CONFIG RESETSTAT.
fn script_calls(admin: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO").arg("commandstats").query(admin).unwrap();
    ["cmdstat_evalsha:calls=", "cmdstat_eval:calls="]
        .iter()
        .map(|name| {
            info.find(name).map_or(0, |at| {
                info[at + name.len()..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
            })
        })
        .sum()
}

/// A 3-master cluster on free ports (each a free port whose port + 10000 is free too, probed by binding).
struct Cluster {
    nodes: Vec<RedisServer>,
    _dir: TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = TempDir::new("cluster");
        let mut nodes = Vec::new();
        let mut held = Vec::new(); // keep the probes bound until all three are picked, so they differ
        while nodes.len() + held.len() < 3 {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            if port < 55535 && std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
                held.push(l);
            }
        }
        let ports: Vec<u16> = held.iter().map(|l| l.local_addr().unwrap().port()).collect();
        drop(held);
        for &p in &ports {
            nodes.push(RedisServer::cluster_node(&dir.0, p));
        }
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli");
        assert!(out.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&out.stdout));
        // Every node must agree before the first command (a hang guard polling CLUSTER INFO).
        for n in &nodes {
            let mut ok = false;
            for _ in 0..600 {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut n.admin()).unwrap();
                if info.contains("cluster_state:ok") {
                    ok = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(ok, "cluster_state never ok on {}", n.url);
        }
        Cluster { nodes, _dir: dir }
    }

    fn spec(&self) -> String {
        let urls: Vec<&str> = self.nodes.iter().map(|n| n.url.as_str()).collect();
        format!("cluster:{}", urls.join(","))
    }

    fn script_calls(&self) -> u64 {
        self.nodes.iter().map(|n| script_calls(&mut n.admin())).sum()
    }

    fn reset_stats(&self) {
        for n in &self.nodes {
            let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut n.admin()).unwrap();
        }
    }
}

// ---- Fleet objects ---------------------------------------------------------------------------------------------

/// A store over redis-rs for `spec`: a `redis+unix://` URL, or `cluster:<url>,<url>,...`.
fn redis_store(spec: &str, options: &SharedStoreOptions) -> SharedStore {
    let adapter = match spec.strip_prefix("cluster:") {
        // Waiters subscribe on the first node (a classic PUBLISH reaches every node of the cluster).
        Some(urls) => RedisAdapter::cluster(redis::cluster::ClusterClient::new(urls.split(',').collect::<Vec<_>>()).unwrap())
            .with_subscriber(redis::Client::open(urls.split(',').next().unwrap()).unwrap(), &Default::default()),
        None => RedisAdapter::with_options(
            redis::Client::open(spec).unwrap(),
            RedisAdapterOptions { connections: 2, ..Default::default() },
        ),
    };
    SharedStore::new(adapter, options).unwrap()
}

fn shared_session(
    client: &cotter::Client, store: &SharedStore, clock: &Clock, id: &str, initial: Option<&cotter::TokenRef>,
) -> cotter::Result<Session> {
    let clock = clock.clone();
    Session::builder(client).shared_store(store).shared_session_id(id).clock(move || clock.now()).build(initial)
}

fn session_id(i: usize) -> String {
    format!("fleet-{i}")
}

/// Seeds `SESSIONS` sessions: each a new login stored for the fleet.
fn seed(emu: &Emulator, store: &SharedStore, clock: &Clock) {
    let client = emu.client();
    for i in 0..SESSIONS {
        let t = emu.login_token(&format!("user{i}@example.com"));
        shared_session(&client, store, clock, &session_id(i), Some(&t)).expect("seed session");
    }
}

// ---- Worker process (this test binary, re-executed): threads and async tasks over every session per round -------

/// Runs only when re-executed by a fleet test (env COTTER_T_WORKER): reads `round <clock offset>` lines and
/// answers `done <failed calls>` once its 2 threads and 2 threads of 3 async calls each have read every session.
#[test]
fn fleet_worker_process() {
    let Ok(spec) = std::env::var("COTTER_T_WORKER") else { return };
    let client = cotter::Client::builder(&std::env::var("T_KEY").unwrap())
        .api_secret_key(std::env::var("T_SECRET").unwrap())
        .base_url(std::env::var("T_BASE_URL").unwrap())
        .build()
        .unwrap();
    let store = redis_store(&spec, &SharedStoreOptions::default());
    let clock = Clock::default();
    let sessions: Arc<Vec<Session>> = Arc::new(
        (0..SESSIONS).map(|i| shared_session(&client, &store, &clock, &session_id(i), None).unwrap()).collect(),
    );
    drop(store); // the sessions keep it
    let mut out = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let Some(offset) = line.strip_prefix("round ") else { break };
        clock.0.store(offset.trim().parse().unwrap(), Ordering::SeqCst);
        let failures = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (sessions, failures) = (sessions.clone(), failures.clone());
                std::thread::spawn(move || {
                    let check = |i: usize, r: cotter::Result<cotter::Secret>| {
                        if let Err(e) = r.map(|tok| assert_eq!(tok.matches('.').count(), 2)) {
                            eprintln!("worker {}: session {i}: {e}", std::process::id());
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                    };
                    let order: Vec<usize> = (0..SESSIONS).map(|i| (i + t * 5) % SESSIONS).collect();
                    if t < 2 {
                        for &i in &order {
                            check(i, sessions[i].access_token());
                        }
                    } else {
                        // async: three calls in flight at once, on a plain executor (no runtime)
                        for chunk in order.chunks(3) {
                            let calls = chunk.iter().map(|&i| sessions[i].access_token_async());
                            let results = futures::executor::block_on(futures::future::join_all(calls));
                            for (&i, r) in chunk.iter().zip(results) {
                                check(i, r);
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        writeln!(out, "done {}", failures.load(Ordering::SeqCst)).unwrap();
        out.flush().unwrap();
    }
}

struct Worker {
    child: Child,
    from: BufReader<std::process::ChildStdout>,
}

fn spawn_worker(emu: &Emulator, spec: &str) -> Worker {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fleet_worker_process", "--nocapture", "--test-threads", "1"])
        .env("COTTER_T_WORKER", spec)
        .env("T_KEY", &emu.info.api_key_id)
        .env("T_SECRET", &emu.info.api_secret_key)
        .env("T_BASE_URL", &emu.info.base_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let from = BufReader::new(child.stdout.take().unwrap());
    Worker { child, from }
}

impl Worker {
    fn round(&mut self, offset: i64) {
        let to = self.child.stdin.as_mut().unwrap();
        writeln!(to, "round {offset}").unwrap();
        to.flush().unwrap();
    }

    /// The failed calls of the round (skipping the test harness's own output).
    fn done(&mut self) -> usize {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(self.from.read_line(&mut line).unwrap() > 0, "worker ended early");
            // (the harness's `test fleet_worker_process ... ` has no newline: it may lead the first answer)
            if let Some(at) = line.find("done ") {
                return line[at + 5..].trim().parse().unwrap();
            }
        }
    }

    fn end(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success(), "worker exit status");
    }
}

/// WORKERS processes share SESSIONS sessions: each round the clock passes every expiry, and exactly one grant per
/// session reaches the emulator, no family is revoked; the last round, on valid tokens, runs no script at all.
fn fleet_rounds(emu: &Emulator, spec: &str, reset: &dyn Fn(), calls: &dyn Fn() -> u64) {
    let clock = Clock::default();
    seed(emu, &redis_store(spec, &SharedStoreOptions::default()), &clock);
    let mut workers: Vec<Worker> = (0..WORKERS).map(|_| spawn_worker(emu, spec)).collect();
    for round in 0..=ROUNDS {
        let cached = round == ROUNDS;
        if !cached {
            clock.advance(emu, 3600);
        }
        reset();
        let (before, _) = grants(emu);
        for w in &mut workers {
            w.round(clock.offset());
        }
        for (i, w) in workers.iter_mut().enumerate() {
            assert_eq!(w.done(), 0, "round {round}: worker {i} had failed calls");
        }
        let (after, revoked) = grants(emu);
        assert_eq!(after - before, if cached { 0 } else { SESSIONS as u64 }, "round {round}: grants");
        assert_eq!(revoked, 0, "round {round}: families revoked");
        if cached {
            assert_eq!(calls(), 0, "a round on valid tokens ran Redis scripts");
        } else {
            println!("round {round}: {SESSIONS} sessions x {WORKERS} processes: {} Redis scripts", calls());
        }
    }
    for w in workers {
        w.end();
    }
}

#[test]
fn processes_share_sessions_through_standalone_redis() {
    let dir = TempDir::new("redis");
    let server = RedisServer::unix(&dir.0);
    let emu = Emulator::start();
    let admin = Mutex::new(server.admin());
    fleet_rounds(
        &emu,
        &server.url,
        &|| redis::cmd("CONFIG").arg("RESETSTAT").query::<()>(&mut *admin.lock().unwrap()).unwrap(),
        &|| script_calls(&mut admin.lock().unwrap()),
    );
}

#[test]
fn processes_share_sessions_through_a_cluster() {
    let cluster = Cluster::start();
    let emu = Emulator::start();
    let spec = cluster.spec();
    fleet_rounds(&emu, &spec, &|| cluster.reset_stats(), &|| cluster.script_calls());
    // The sessions spread over the three masters (hash tags pick the slots).
    let keys_per_node: Vec<u64> =
        cluster.nodes.iter().map(|n| redis::cmd("DBSIZE").query(&mut n.admin()).unwrap()).collect();
    assert!(keys_per_node.iter().filter(|&&k| k > 0).count() >= 2, "keys per node: {keys_per_node:?}");
}

#[test]
fn redis_down_serves_a_valid_token_and_fails_a_refresh_with_shared_unavailable() {
    let dir = TempDir::new("down");
    let mut server = RedisServer::unix(&dir.0);
    let emu = Emulator::start();
    let store = redis_store(&server.url, &SharedStoreOptions::default());
    let client = emu.client();
    let clock = Clock::default();
    let login = emu.login_token("down@example.com");
    let s = shared_session(&client, &store, &clock, "down-1", Some(&login)).unwrap();
    let cached = s.access_token().unwrap();
    server.kill();
    // Valid and cached: no round trip, still served.
    assert_eq!(*s.access_token().unwrap(), *cached);
    assert_eq!(*futures::executor::block_on(s.access_token_async()).unwrap(), *cached);
    // A session built without a token loads from the store: Redis is down.
    expect_kind(shared_session(&client, &store, &clock, "down-1", None), ErrorKind::SharedUnavailable);
    // Past expiry: the refresh needs the store. Never a local refresh.
    let (before, _) = grants(&emu);
    clock.advance(&emu, 7200);
    let e = expect_kind(s.access_token(), ErrorKind::SharedUnavailable);
    assert_eq!(e.name(), "COTTER_ESHARED_UNAVAILABLE");
    for secret in [cached.as_str(), login.refresh_token().unwrap_or("-")] {
        assert!(!e.to_string().contains(secret) && !format!("{e:?}").contains(secret), "a token in {e}");
    }
    expect_kind(futures::executor::block_on(s.access_token_async()), ErrorKind::SharedUnavailable);
    expect_kind(s.refresh(), ErrorKind::SharedUnavailable);
    assert_eq!(grants(&emu).0, before, "a refresh reached Cotter without the store");
}

#[test]
fn a_call_on_a_dead_kept_connection_is_tried_once_more_on_a_fresh_one() {
    let dir = TempDir::new("retry");
    let server = RedisServer::unix(&dir.0);
    let emu = Emulator::start();
    // One connection: every call goes through the connection that was killed.
    let adapter = RedisAdapter::new(redis::Client::open(server.url.as_str()).unwrap());
    let store = SharedStore::new(adapter, &SharedStoreOptions::default()).unwrap();
    let client = emu.client();
    let s = shared_session(&client, &store, &Clock::default(), "retry", Some(&emu.login_token("r@example.com"))).unwrap();
    for round in 0..3 {
        // Redis drops every connection the adapter keeps (CLIENT KILL skips the caller's own).
        let mut admin = server.admin();
        let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal").query(&mut admin).unwrap();
        assert!(killed >= 1, "round {round}: no adapter connection to kill");
        s.refresh().unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    assert_eq!(grants(&emu), (3, 0));
}

#[test]
fn the_hiredis_store_shares_a_session() {
    let dir = TempDir::new("hiredis");
    let server = RedisServer::unix(&dir.0);
    let emu = Emulator::start();
    let sock = dir.0.join("redis.sock").to_str().unwrap().to_owned();
    let ho = HiredisOptions {
        host: Some("127.0.0.1".into()),
        port: Some(6379),
        unix_socket: Some(sock),
        password: None,
        connect_timeout: Some(Duration::from_secs(5)),
        command_timeout: Some(Duration::from_secs(5)),
    };
    let so = SharedStoreOptions {
        key_prefix: Some("rs".into()),
        lease_ttl: Some(Duration::from_secs(8)),
        wait: Some(Duration::from_millis(20)),
    };
    let hiredis = SharedStore::hiredis(&ho, &so).unwrap();
    let rs = redis_store(&server.url, &so);
    let client = emu.client();
    let clock = Clock::default();
    let a = shared_session(&client, &hiredis, &clock, "h-1", Some(&emu.login_token("h@example.com"))).unwrap();
    let b = shared_session(&client, &rs, &clock, "h-1", None).unwrap(); // redis-rs reads what hiredis stored
    assert_eq!(*a.access_token().unwrap(), *b.access_token().unwrap());
    let (g0, _) = grants(&emu);
    let refreshed = b.refresh().unwrap();
    assert_eq!(grants(&emu).0, g0 + 1);
    let keys: Vec<String> = redis::cmd("KEYS").arg("rs:{h-1}:*").query(&mut server.admin()).unwrap();
    assert_eq!(keys, vec!["rs:{h-1}:tokens".to_owned()]);
    // a's next refresh starts from the store's set (the rotated one): one grant, nothing revoked
    let again = a.refresh().unwrap();
    assert_ne!(again.access_token(), refreshed.access_token());
    assert_eq!(grants(&emu), (g0 + 2, 0));
    // Bad options are caller errors.
    let bad = SharedStoreOptions { key_prefix: Some("a{b".into()), ..Default::default() };
    expect_kind(SharedStore::hiredis(&ho, &bad), ErrorKind::Invalid);
    expect_kind(SharedStore::new(Counted::new(Behaviour::Panic).0, &bad), ErrorKind::Invalid);
    let bad = SharedStoreOptions { lease_ttl: Some(Duration::from_millis(1)), ..Default::default() };
    expect_kind(SharedStore::hiredis(&ho, &bad), ErrorKind::Invalid);
    expect_kind(shared_session(&client, &rs, &clock, "no{braces}", None), ErrorKind::Invalid);
    assert!(!format!("{:?}", HiredisOptions { password: Some("hunter2-secret".into()), ..Default::default() }).contains("hunter2"));
}

// ---- Adapters of the test's own: misbehaviour and lifetimes -----------------------------------------------------

#[derive(Clone, Copy)]
enum Behaviour {
    Panic,
    DropDone,
    /// Completes on another thread with an error reply that echoes the args.
    FailEchoing,
}

/// An adapter that counts its drops (the store's `release`).
struct Counted {
    behaviour: Behaviour,
    dropped: Arc<AtomicUsize>,
}

impl Counted {
    fn new(behaviour: Behaviour) -> (Counted, Arc<AtomicUsize>) {
        let dropped = Arc::new(AtomicUsize::new(0));
        (Counted { behaviour, dropped: dropped.clone() }, dropped)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl SharedStoreAdapter for Counted {
    fn eval(&self, _script: &str, _sha1: &str, _keys: &[&str], args: &[&[u8]], done: EvalDone) {
        match self.behaviour {
            Behaviour::Panic => panic!("adapter bug"),
            Behaviour::DropDone => drop(done),
            Behaviour::FailEchoing => {
                let n = args.len();
                std::thread::spawn(move || done.fail(&format!("ERR wrong number of things ({n} args)")));
            }
        }
    }
}

/// Waits until the adapter was dropped (the library may drop the last use on its I/O thread, just after the last
/// handle: a hang guard, not a timing), then checks it was dropped once.
#[track_caller]
fn wait_released(dropped: &AtomicUsize) {
    for _ in 0..1200 {
        if dropped.load(Ordering::SeqCst) > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "released once, after the last user");
}

#[test]
fn a_misbehaving_adapter_fails_the_call_and_is_released_once() {
    let emu = Emulator::start();
    let client = emu.client();
    let clock = Clock::default();
    for behaviour in [Behaviour::Panic, Behaviour::DropDone, Behaviour::FailEchoing] {
        let (adapter, dropped) = Counted::new(behaviour);
        let store = SharedStore::new(adapter, &SharedStoreOptions::default()).unwrap();
        let t = emu.login_token("bad@example.com");
        // The first store of the initial token goes through the adapter.
        let e = expect_kind(shared_session(&client, &store, &clock, "bad-1", Some(&t)), ErrorKind::SharedUnavailable);
        assert!(!e.to_string().contains(t.refresh_token().unwrap_or("-")), "{e}");
        expect_kind(shared_session(&client, &store, &clock, "bad-1", None), ErrorKind::SharedUnavailable);
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        drop(store);
        wait_released(&dropped);
    }
}

/// An adapter over a standalone server that also reports each call it was handed.
struct Reporting {
    inner: RedisAdapter,
    calls: Mutex<mpsc::Sender<()>>,
    dropped: Arc<AtomicUsize>,
}

impl SharedStoreAdapter for Reporting {
    fn eval(&self, script: &str, sha1: &str, keys: &[&str], args: &[&[u8]], done: EvalDone) {
        self.inner.eval(script, sha1, keys, args, done);
        let _ = self.calls.lock().unwrap().send(());
    }
}

impl Drop for Reporting {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn sessions_and_store_drop_in_any_order_and_the_adapter_is_released_after_the_last() {
    let dir = TempDir::new("order");
    let server = RedisServer::unix(&dir.0);
    let emu = Emulator::start();
    let client = emu.client();
    let clock = Clock::default();
    for store_first in [true, false] {
        let (tx, _rx) = mpsc::channel();
        let dropped = Arc::new(AtomicUsize::new(0));
        let adapter = Reporting {
            inner: RedisAdapter::new(redis::Client::open(server.url.as_str()).unwrap()),
            calls: Mutex::new(tx),
            dropped: dropped.clone(),
        };
        let store = SharedStore::new(adapter, &SharedStoreOptions::default()).unwrap();
        let a = shared_session(&client, &store, &clock, "order", Some(&emu.login_token("o@example.com"))).unwrap();
        let b = shared_session(&client, &store, &clock, "order", None).unwrap();
        assert!(b.refresh().is_ok());
        if store_first {
            drop(store);
            drop(a);
            assert_eq!(dropped.load(Ordering::SeqCst), 0);
            drop(b);
        } else {
            drop(a);
            drop(b);
            assert_eq!(dropped.load(Ordering::SeqCst), 0);
            drop(store);
        }
        wait_released(&dropped);
    }
}

/// Re-executed by the next test (env COTTER_T_EXIT): loads its session, says `loaded`, waits for a line (the parent
/// pauses Redis meanwhile), starts a refresh whose script call Redis holds, and exits the process once the adapter
/// has been handed that call.
#[test]
fn exit_with_eval_in_flight_process() {
    let Ok(url) = std::env::var("COTTER_T_EXIT") else { return };
    let client = cotter::Client::builder(&std::env::var("T_KEY").unwrap())
        .api_secret_key(std::env::var("T_SECRET").unwrap())
        .base_url(std::env::var("T_BASE_URL").unwrap())
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let adapter = Reporting {
        inner: RedisAdapter::new(redis::Client::open(url.as_str()).unwrap()),
        calls: Mutex::new(tx),
        dropped: Arc::new(AtomicUsize::new(0)),
    };
    let store = SharedStore::new(adapter, &SharedStoreOptions::default()).unwrap();
    let s = shared_session(&client, &store, &Clock::default(), "exit", None).unwrap_or_else(|e| panic!("load: {e}"));
    rx.recv().unwrap(); // the load's call
    println!("loaded");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let call = s.refresh_async();
    let _blocked = std::thread::spawn(move || futures::executor::block_on(call));
    rx.recv().unwrap(); // the refresh's acquire, handed to the adapter (queued on or sent by its thread)
    println!("in flight");
    // Exits with the call, the session, the store and a thread blocked on the call all still alive.
    std::process::exit(0);
}

#[test]
fn a_process_exits_with_an_eval_in_flight() {
    let dir = TempDir::new("exit");
    let server = RedisServer::unix(&dir.0);
    let emu = Emulator::start();
    let client = emu.client();
    let store = redis_store(&server.url, &SharedStoreOptions::default());
    shared_session(&client, &store, &Clock::default(), "exit", Some(&emu.login_token("exit@example.com"))).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "exit_with_eval_in_flight_process", "--nocapture", "--test-threads", "1"])
        .env("COTTER_T_EXIT", &server.url)
        .env("T_KEY", &emu.info.api_key_id)
        .env("T_SECRET", &emu.info.api_secret_key)
        .env("T_BASE_URL", &emu.info.base_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut from = BufReader::new(child.stdout.take().unwrap());
    let mut out = String::new();
    while !out.contains("loaded") {
        assert!(from.read_line(&mut out).unwrap() > 0, "child output: {out}");
    }
    // Far longer than the test: every client's commands wait (the server is killed at the end).
    let mut admin = server.admin();
    let _: () = redis::cmd("CLIENT").arg("PAUSE").arg(120_000).arg("ALL").query(&mut admin).unwrap();
    writeln!(child.stdin.as_mut().unwrap(), "go").unwrap();
    let status = wait_bounded(&mut child);
    std::io::Read::read_to_string(&mut from, &mut out).unwrap();
    assert!(out.contains("in flight"), "child output: {out}");
    assert!(status.success(), "exit status {status:?}");
}

/// A hang guard for a child process (60 s on a loaded machine), never a timing assertion.
fn wait_bounded(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..1200 {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("the process hung at exit");
}

// ---- Waiters woken by the `...:changed` message ------------------------------------------------------------------

/// What the sessions' debug log says about their waits (core/token/session.cpp): woken by a message, bound passed,
/// failed.
#[derive(Clone, Default)]
struct WakeLog(Arc<[AtomicUsize; 3]>);

impl WakeLog {
    fn client(&self, emu: &Emulator) -> cotter::Client {
        let w = self.clone();
        emu.client_builder()
            .log(move |_, m| {
                let i = if m.contains("woken by the store's message") {
                    0
                } else if m.contains("no message within") {
                    1
                } else if m.contains("wait for the store's message failed") {
                    2
                } else {
                    return;
                };
                w.0[i].fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap()
    }

    fn woken(&self) -> usize {
        self.0[0].load(Ordering::SeqCst)
    }

    fn failed(&self) -> usize {
        self.0[2].load(Ordering::SeqCst)
    }
}

/// Polls `f` until it holds (a hang guard of 60 s on a loaded machine, never a timing assertion).
#[track_caller]
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..12000 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("never: {what}");
}

fn numsub(admin: &mut redis::Connection, channel: &str) -> i64 {
    let v: (String, i64) = redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query(admin).unwrap();
    v.1
}

/// The holder's adapter: a RedisAdapter whose save (the script with `'fenced'`) it keeps, when armed, until `let_go`.
struct Gate {
    inner: RedisAdapter,
    state: Arc<(Mutex<GateState>, std::sync::Condvar)>,
}

#[derive(Default)]
struct GateState {
    armed: bool,
    held: Option<(String, String, Vec<String>, Vec<Vec<u8>>, EvalDone)>,
}

impl SharedStoreAdapter for Gate {
    fn eval(&self, script: &str, sha1: &str, keys: &[&str], args: &[&[u8]], done: EvalDone) {
        let mut st = self.state.0.lock().unwrap();
        if st.armed && script.contains("'fenced'") {
            st.armed = false;
            let keys = keys.iter().map(|k| (*k).to_owned()).collect();
            st.held = Some((script.to_owned(), sha1.to_owned(), keys, args.iter().map(|a| a.to_vec()).collect(), done));
            self.state.1.notify_all();
            return;
        }
        drop(st);
        self.inner.eval(script, sha1, keys, args, done);
    }
}

/// A holder whose save is held (so the lease stays held) and the handle to let it go.
struct Held {
    state: Arc<(Mutex<GateState>, std::sync::Condvar)>,
    inner: Arc<RedisAdapter>,
}

impl Held {
    /// Saves (and publishes) what the holder wanted to save.
    fn let_go(&self) {
        let (script, sha1, keys, args, done) = self.state.0.lock().unwrap().held.take().expect("a held save");
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        self.inner.eval(&script, &sha1, &keys, &args, done);
    }
}

/// The gate's store (its adapter polls: it never waits) and the handle; `let_go` evals through `releaser`.
fn gate_store(url: &str) -> (SharedStore, Held) {
    let state = Arc::new((Mutex::new(GateState::default()), std::sync::Condvar::new()));
    let gate = Gate { inner: RedisAdapter::new(redis::Client::open(url).unwrap()), state: state.clone() };
    let so = SharedStoreOptions { lease_ttl: Some(Duration::from_secs(60)), ..Default::default() };
    let store = SharedStore::new(gate, &so).unwrap();
    (store, Held { state, inner: Arc::new(RedisAdapter::new(redis::Client::open(url).unwrap())) })
}

/// Starts the holder's access_token and waits until its save is held: the lease is held from then on.
fn hold_a_refresh(h: &Arc<Session>, held: &Held) -> std::thread::JoinHandle<cotter::Result<cotter::Secret>> {
    held.state.0.lock().unwrap().armed = true;
    let h2 = h.clone();
    let call = std::thread::spawn(move || futures::executor::block_on(h2.access_token_async()));
    let mut st = held.state.0.lock().unwrap();
    for _ in 0..600 {
        if st.held.is_some() {
            break;
        }
        st = held.state.1.wait_timeout(st, Duration::from_millis(100)).unwrap().0;
    }
    assert!(st.held.is_some(), "the holder's save was never held");
    call
}

/// A store whose waiters are woken by messages: long waits (10 s) and lease (60 s), so a loser's waits grow past
/// anything the test does and only a message (or a failure) ends them early.
fn waking_store(url: &str) -> SharedStore {
    let so = SharedStoreOptions {
        lease_ttl: Some(Duration::from_secs(60)),
        wait: Some(Duration::from_secs(10)),
        ..Default::default()
    };
    SharedStore::new(RedisAdapter::new(redis::Client::open(url).unwrap()), &so).unwrap()
}

const LOSERS: usize = 3;

#[test]
fn losers_are_woken_by_the_message_and_serve_the_holders_token() {
    let dir = TempDir::new("wake");
    let server = RedisServer::unix(&dir.0);
    let emu = Emulator::start();
    let clock = Clock::default();
    let mut admin = server.admin();
    let (gstore, held) = gate_store(&server.url);
    let h = Arc::new(shared_session(&emu.client(), &gstore, &clock, "woken", Some(&emu.login_token("w@example.com"))).unwrap());
    let log = WakeLog::default();
    let lclient = log.client(&emu);
    let store = waking_store(&server.url);
    let losers: Vec<Arc<Session>> =
        (0..LOSERS).map(|_| Arc::new(shared_session(&lclient, &store, &clock, "woken", None).unwrap())).collect();
    let channel = "cotter:{woken}:changed";
    for round in 0..2 {
        clock.advance(&emu, 3600);
        let (g0, _) = grants(&emu);
        let hc = hold_a_refresh(&h, &held);
        let lc: Vec<_> = losers
            .iter()
            .map(|l| {
                let l = l.clone();
                std::thread::spawn(move || futures::executor::block_on(l.access_token_async()))
            })
            .collect();
        // Every loser found the lease held and waits: the adapter's one connection subscribed the channel.
        wait_until("the losers' channel is subscribed", || numsub(&mut admin, channel) == 1);
        // Messages published by hand (as another replica's write would) wake the waiting losers: each reads again,
        // finds the lease still held, and waits again.
        let woken0 = log.woken();
        wait_until("messages woke the losers", || {
            let _: i64 = redis::cmd("PUBLISH").arg(channel).arg("0").query(&mut admin).unwrap();
            log.woken() >= woken0 + LOSERS
        });
        held.let_go(); // saves the next version and publishes it
        let token = hc.join().unwrap().unwrap_or_else(|e| panic!("round {round}: the holder: {e}"));
        for (i, c) in lc.into_iter().enumerate() {
            let t = c.join().unwrap().unwrap_or_else(|e| panic!("round {round}: loser {i}: {e}"));
            assert_eq!(*t, *token, "round {round}: loser {i} serves the holder's token");
        }
        assert_eq!(grants(&emu), (g0 + 1, 0), "round {round}: one grant, nothing revoked");
        assert_eq!(log.failed(), 0, "round {round}: no failed wait");
        // One subscriber connection for every waiter of the store, and it lingers after the round.
        assert_eq!(numsub(&mut admin, channel), 1, "round {round}: the channel stays subscribed");
    }
    println!("woken by a message: {} times; bounds passed: {}", log.woken(), log.0[1].load(Ordering::SeqCst));
}

#[test]
fn a_killed_subscriber_connection_fails_its_waits_and_the_session_reads_again() {
    let dir = TempDir::new("subkill");
    let server = RedisServer::unix(&dir.0);
    let emu = Emulator::start();
    let clock = Clock::default();
    let mut admin = server.admin();
    let (gstore, held) = gate_store(&server.url);
    let h = Arc::new(shared_session(&emu.client(), &gstore, &clock, "killed", Some(&emu.login_token("k@example.com"))).unwrap());
    let log = WakeLog::default();
    let store = waking_store(&server.url);
    let l = Arc::new(shared_session(&log.client(&emu), &store, &clock, "killed", None).unwrap());
    let channel = "cotter:{killed}:changed";
    clock.advance(&emu, 3600);
    let (g0, _) = grants(&emu);
    let hc = hold_a_refresh(&h, &held);
    let l2 = l.clone();
    let lc = std::thread::spawn(move || futures::executor::block_on(l2.access_token_async()));
    for kill in 0..2 {
        wait_until("the loser waits on its channel", || numsub(&mut admin, channel) == 1);
        let failed0 = log.failed();
        let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query(&mut admin).unwrap();
        assert_eq!(killed, 1, "kill {kill}: the adapter's one subscriber connection");
        // The wait fails (the subscription is lost); the session polls, reads again, finds the lease held and waits
        // again: on a new connection (the loop's next turn sees it subscribed).
        wait_until("the wait failed", || log.failed() > failed0);
    }
    wait_until("the loser subscribed again", || numsub(&mut admin, channel) == 1);
    held.let_go();
    let token = hc.join().unwrap().unwrap();
    assert_eq!(*lc.join().unwrap().unwrap(), *token, "the loser serves the holder's token");
    assert_eq!(grants(&emu), (g0 + 1, 0));
}

/// Re-executed by the next test (env COTTER_T_WAITEXIT): its session finds the lease held by a dead replica, waits
/// on the channel, and the process exits with that wait pending.
#[test]
fn exit_with_wait_pending_process() {
    let Ok(url) = std::env::var("COTTER_T_WAITEXIT") else { return };
    let client = cotter::Client::builder(&std::env::var("T_KEY").unwrap())
        .api_secret_key(std::env::var("T_SECRET").unwrap())
        .base_url(std::env::var("T_BASE_URL").unwrap())
        .build()
        .unwrap();
    let clock = Clock::default();
    clock.0.store(std::env::var("T_OFFSET").unwrap().parse().unwrap(), Ordering::SeqCst);
    let s = shared_session(&client, &waking_store(&url), &clock, "waitexit", None).unwrap();
    let call = s.access_token_async();
    let _blocked = std::thread::spawn(move || futures::executor::block_on(call));
    let mut admin = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    wait_until("the wait is pending", || numsub(&mut admin, "cotter:{waitexit}:changed") == 1);
    println!("waiting");
    std::process::exit(0);
}

#[test]
fn a_process_exits_with_a_wait_pending() {
    let dir = TempDir::new("waitexit");
    let server = RedisServer::unix(&dir.0);
    let emu = Emulator::start();
    let clock = Clock::default();
    shared_session(&emu.client(), &waking_store(&server.url), &clock, "waitexit", Some(&emu.login_token("x@example.com")))
        .unwrap();
    clock.advance(&emu, 3600);
    // A lease held by nobody alive: the child's refresh waits on the channel.
    let _: () = redis::cmd("SET").arg("cotter:{waitexit}:lease").arg("a-dead-replica").arg("PX").arg(600_000)
        .query(&mut server.admin()).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "exit_with_wait_pending_process", "--nocapture", "--test-threads", "1"])
        .env("COTTER_T_WAITEXIT", &server.url)
        .env("T_KEY", &emu.info.api_key_id)
        .env("T_SECRET", &emu.info.api_secret_key)
        .env("T_BASE_URL", &emu.info.base_url)
        .env("T_OFFSET", clock.offset().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut from = BufReader::new(child.stdout.take().unwrap());
    let status = wait_bounded(&mut child);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut from, &mut out).unwrap();
    assert!(out.contains("waiting"), "child output: {out}");
    assert!(status.success(), "exit status {status:?}");
}

/// An adapter whose `wait` misbehaves (panics, or drops its completion): each wait fails, the waiter polls.
struct BadWait {
    inner: RedisAdapter,
    panics: bool,
    waits: Arc<AtomicUsize>,
}

impl SharedStoreAdapter for BadWait {
    fn eval(&self, script: &str, sha1: &str, keys: &[&str], args: &[&[u8]], done: EvalDone) {
        self.inner.eval(script, sha1, keys, args, done);
    }

    fn can_wait(&self) -> bool {
        true
    }

    fn wait(&self, _channel: &str, _timeout: Duration, done: cotter::WaitDone) {
        self.waits.fetch_add(1, Ordering::SeqCst);
        if self.panics {
            panic!("adapter bug");
        }
        drop(done);
    }
}

#[test]
fn a_wait_that_panics_or_drops_its_completion_fails_and_the_waiter_polls() {
    let dir = TempDir::new("badwait");
    let server = RedisServer::unix(&dir.0);
    let emu = Emulator::start();
    let clock = Clock::default();
    let mut admin = server.admin();
    for panics in [true, false] {
        let id = if panics { "badwait-panic" } else { "badwait-drop" };
        let waits = Arc::new(AtomicUsize::new(0));
        let adapter =
            BadWait { inner: RedisAdapter::new(redis::Client::open(server.url.as_str()).unwrap()), panics, waits: waits.clone() };
        let so = SharedStoreOptions { wait: Some(Duration::from_millis(20)), ..Default::default() };
        let store = SharedStore::new(adapter, &so).unwrap();
        let log = WakeLog::default();
        let s = Arc::new(shared_session(&log.client(&emu), &store, &clock, id, Some(&emu.login_token("b@example.com"))).unwrap());
        clock.advance(&emu, 3600);
        let (g0, _) = grants(&emu);
        // A lease held by nobody alive: the session waits (each wait fails) and polls until the lease is gone.
        let lease = format!("cotter:{{{id}}}:lease");
        let _: () = redis::cmd("SET").arg(&lease).arg("a-dead-replica").arg("PX").arg(600_000).query(&mut admin).unwrap();
        let s2 = s.clone();
        let call = std::thread::spawn(move || futures::executor::block_on(s2.access_token_async()));
        wait_until("waits failed", || log.failed() >= 2 && waits.load(Ordering::SeqCst) >= 2);
        let _: () = redis::cmd("DEL").arg(&lease).query(&mut admin).unwrap();
        call.join().unwrap().unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(grants(&emu), (g0 + 1, 0), "{id}");
        assert_eq!(log.woken(), 0, "{id}");
    }
}

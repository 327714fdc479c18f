//! @file redis_adapter.rs
//! @brief `RedisAdapter` (feature `redis`): the shared store's [`SharedStoreAdapter`] over your redis-rs client,
//! standalone (`redis::Client`) or Cluster (`redis::cluster::ClusterClient`), so TLS, auth and Cluster come from
//! redis-rs (docs/rust.md, "Sessions shared by a fleet").
//!
//! Why threads and sync connections: the library depends on no async runtime (any executor, or none, drives its
//! futures), and redis-rs's sync connections need none either. `eval` only queues the call (it runs on the client's
//! I/O thread, which must not block); the adapter's own threads, each with one connection made at its first call
//! and again after a failure, run EVALSHA (EVAL on NOSCRIPT) and complete `done`. They are never joined: dropping
//! the adapter (the store's `release`, on whichever thread drops the last use) closes the queue, and each thread
//! ends after the calls already queued. A process that exits with calls in flight just ends them.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{Connection, ConnectionLike, ErrorKind, RedisError, ServerErrorKind, Value};

use crate::shared_store::{EvalDone, SharedStoreAdapter, WaitDone};

/// Options of a [`RedisAdapter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisAdapterOptions {
    /// Connections, each with its own thread (default 1; a refresh costs 2 script calls, a valid cached token
    /// none, so one connection serves many sessions). Calls queue behind a slow one on the same connection.
    pub connections: usize,
    /// Standalone only: bound of a connect (default 2 s). A `ClusterClient` uses its own
    /// (`ClusterClientBuilder::connection_timeout`).
    pub connect_timeout: Duration,
    /// Standalone only: bound of one round trip, past which the call fails (`SharedUnavailable`) and the connection
    /// is replaced (default 2 s). A `ClusterClient` uses its own (`ClusterClientBuilder::response_timeout`).
    pub command_timeout: Duration,
}

impl Default for RedisAdapterOptions {
    fn default() -> Self {
        RedisAdapterOptions {
            connections: 1,
            connect_timeout: Duration::from_secs(2),
            command_timeout: Duration::from_secs(2),
        }
    }
}

/// The redis-rs client the adapter connects through.
enum Target {
    Standalone(redis::Client),
    Cluster(ClusterClient),
}

enum Conn {
    Standalone(Connection),
    Cluster(ClusterConnection),
}

impl Conn {
    fn as_dyn(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Standalone(c) => c,
            Conn::Cluster(c) => c,
        }
    }
}

/// One queued script call (copied out of the borrowed strings of `eval`).
struct Job {
    script: String,
    sha1: String,
    keys: Vec<String>,
    args: Vec<Vec<u8>>,
    done: EvalDone,
}

/// A [`SharedStoreAdapter`] over a redis-rs client:
/// `SharedStore::new(RedisAdapter::new(redis::Client::open("redis://…")?), &options)`.
pub struct RedisAdapter {
    jobs: Sender<Job>,
    /// Waiters woken by the `...:changed` message: a standalone client's own, or the node client given to
    /// [`RedisAdapter::with_subscriber`]. None: waiters poll.
    subscriber: Option<Arc<Subscriber>>,
}

impl RedisAdapter {
    /// Over a standalone client (also a Sentinel-resolved or TLS `redis::Client`), with default options.
    pub fn new(client: redis::Client) -> RedisAdapter {
        RedisAdapter::with_options(client, RedisAdapterOptions::default())
    }

    /// Over a standalone client, with `options`.
    pub fn with_options(client: redis::Client, options: RedisAdapterOptions) -> RedisAdapter {
        let subscriber = Subscriber::new(client.clone(), &options);
        RedisAdapter::start(Target::Standalone(client), options).with(subscriber)
    }

    /// Over a Redis Cluster client: each call's keys share one hash tag, so it routes the call to one slot. Its
    /// waiters poll unless [`with_subscriber`](RedisAdapter::with_subscriber) gives a node to subscribe on
    /// (redis-rs's sync cluster connection has no pub/sub).
    pub fn cluster(client: ClusterClient) -> RedisAdapter {
        RedisAdapter::start(Target::Cluster(client), RedisAdapterOptions::default())
    }

    /// Over a Redis Cluster client, with `options` (only `connections` applies).
    pub fn cluster_with_options(client: ClusterClient, options: RedisAdapterOptions) -> RedisAdapter {
        RedisAdapter::start(Target::Cluster(client), options)
    }

    fn start(target: Target, options: RedisAdapterOptions) -> RedisAdapter {
        let (tx, rx) = mpsc::channel::<Job>();
        let shared = Arc::new((target, options));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..shared.1.connections.max(1) {
            let (shared, rx) = (shared.clone(), rx.clone());
            // A thread that cannot start leaves the others (or, with none, every call fails: see `eval`).
            let _ = std::thread::Builder::new()
                .name(format!("cotter-redis-{i}"))
                .spawn(move || worker(&shared.0, &shared.1, &rx));
        }
        RedisAdapter { jobs: tx, subscriber: None }
    }

    fn with(mut self, subscriber: Arc<Subscriber>) -> RedisAdapter {
        self.subscriber = Some(subscriber);
        self
    }

    /// Subscribes to the sessions' `...:changed` channels through `client` (one connection, made at the first wait):
    /// for a Cluster adapter, a `redis::Client` of any one node (a classic `PUBLISH` reaches every node of a
    /// cluster); for a standalone one, it replaces the adapter's own client. `options` bound its connect and reads.
    pub fn with_subscriber(self, client: redis::Client, options: &RedisAdapterOptions) -> RedisAdapter {
        if let Some(old) = &self.subscriber {
            old.close();
        }
        let subscriber = Subscriber::new(client, options);
        self.with(subscriber)
    }
}

impl Drop for RedisAdapter {
    fn drop(&mut self) {
        // The store's `release`: no wait is pending (the library guarantees it); the subscriber thread ends.
        if let Some(s) = &self.subscriber {
            s.close();
        }
    }
}

impl SharedStoreAdapter for RedisAdapter {
    fn eval(&self, script: &str, sha1: &str, keys: &[&str], args: &[&[u8]], done: EvalDone) {
        let job = Job {
            script: script.to_owned(),
            sha1: sha1.to_owned(),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            args: args.iter().map(|a| a.to_vec()).collect(),
            done,
        };
        // Never blocks: the queue is unbounded. It is closed only if no thread could start.
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            job.done.fail("the Redis adapter has no running thread");
        }
    }

    fn can_wait(&self) -> bool {
        self.subscriber.is_some()
    }

    fn wait(&self, channel: &str, timeout: Duration, done: WaitDone) {
        match &self.subscriber {
            Some(s) => s.wait(channel, timeout, done),
            None => done.fail(),
        }
    }
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter").finish_non_exhaustive()
    }
}

fn worker(target: &Target, options: &RedisAdapterOptions, jobs: &Mutex<Receiver<Job>>) {
    let mut conn: Option<Conn> = None;
    loop {
        let job = match jobs.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // the adapter is gone and the queue drained
            },
            Err(_) => return,
        };
        match run(target, options, &mut conn, &job) {
            Ok(items) => job.done.ok(&items),
            Err(e) => job.done.fail(&message(&e, &job.args)),
        }
    }
}

/// One call, tried once more on a fresh connection when a kept one turned out dead (every script is safe to
/// repeat); a timeout is not repeated (it already took the whole budget).
fn run(target: &Target, options: &RedisAdapterOptions, conn: &mut Option<Conn>, job: &Job) -> Result<Vec<Vec<u8>>, RedisError> {
    loop {
        let fresh = conn.is_none();
        let c = match conn {
            Some(c) => c,
            None => conn.insert(connect(target, options)?),
        };
        match eval(c.as_dyn(), job) {
            Ok(v) => return flatten(v),
            Err(e) if broken(&e) => {
                *conn = None; // its state is unknown (a late reply would answer the next command)
                if fresh || e.is_timeout() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e), // an error reply: the connection is fine
        }
    }
}

fn connect(target: &Target, options: &RedisAdapterOptions) -> Result<Conn, RedisError> {
    match target {
        Target::Standalone(client) => {
            let c = client.get_connection_with_timeout(options.connect_timeout)?;
            c.set_read_timeout(Some(options.command_timeout))?;
            c.set_write_timeout(Some(options.command_timeout))?;
            Ok(Conn::Standalone(c))
        }
        Target::Cluster(client) => Ok(Conn::Cluster(client.get_connection()?)),
    }
}

/// EVALSHA, and EVAL when the server does not have the script yet.
fn eval(conn: &mut dyn ConnectionLike, job: &Job) -> Result<Value, RedisError> {
    let command = |name: &str, first: &str| {
        let mut c = redis::cmd(name);
        c.arg(first).arg(job.keys.len());
        for k in &job.keys {
            c.arg(k.as_str());
        }
        for a in &job.args {
            c.arg(a.as_slice());
        }
        c
    };
    match command("EVALSHA", &job.sha1).query::<Value>(conn) {
        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
            command("EVAL", &job.script).query::<Value>(conn)
        }
        other => other,
    }
}

/// Whether the connection must be replaced after `e`.
fn broken(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
}

/// The script's reply array as byte strings (integers as decimal text).
fn flatten(v: Value) -> Result<Vec<Vec<u8>>, RedisError> {
    let unexpected = || RedisError::from((ErrorKind::UnexpectedReturnType, "the script's reply is not a flat array"));
    let Value::Array(items) = v else { return Err(unexpected()) };
    items
        .into_iter()
        .map(|item| match item {
            Value::BulkString(b) => Ok(b),
            Value::Int(i) => Ok(i.to_string().into_bytes()),
            Value::SimpleString(s) => Ok(s.into_bytes()),
            Value::Okay => Ok(b"OK".to_vec()),
            _ => Err(unexpected()),
        })
        .collect()
}

/// The error for `done`: redis-rs's text, with any script argument (tokens) that an error reply might echo
/// replaced.
fn message(e: &RedisError, args: &[Vec<u8>]) -> String {
    let mut text = format!("Redis: {e}");
    for a in args {
        if let Ok(a) = std::str::from_utf8(a) {
            if a.len() >= 4 && text.contains(a) {
                text = text.replace(a, "<redacted>");
            }
        }
    }
    text
}

// ---- Waiters woken by the `...:changed` message ------------------------------------------------------------------

/// How long a channel stays subscribed after its last waiter (as the hiredis adapter's): the session's next contended
/// refresh finds it subscribed, without the SUBSCRIBE race.
const LINGER: Duration = Duration::from_secs(30);
/// redis-rs's sync pub/sub cannot be woken while it reads, so the subscriber thread reads with a timeout and looks at
/// new waiters (new channels to subscribe, nearer deadlines) between reads: often while waiters wait, rarely while
/// channels only linger. With no channel at all it sleeps until a wait comes.
const TICK_WAITING: Duration = Duration::from_millis(5);
const TICK_LINGERING: Duration = Duration::from_millis(50);

/// One subscriber connection per adapter, on its own thread (started at the first wait): channel -> waiters, each
/// completed by a message on its channel, by its deadline, or failed with every other when the connection is lost.
struct Subscriber {
    client: redis::Client,
    connect_timeout: Duration,
    /// Bound of a SUBSCRIBE / UNSUBSCRIBE round trip (and of every write): a stalled server fails the waiters
    /// (they poll) instead of holding them.
    command_timeout: Duration,
    state: Mutex<SubState>,
    changed: Condvar,
}

#[derive(Default)]
struct SubState {
    closed: bool,
    thread: bool,
    channels: HashMap<String, Channel>,
}

struct Channel {
    waiters: Vec<(Instant, WaitDone)>,
    subscribed: bool,
    /// When the last waiter left (linger from here).
    idle_since: Instant,
}

impl Subscriber {
    fn new(client: redis::Client, options: &RedisAdapterOptions) -> Arc<Subscriber> {
        Arc::new(Subscriber {
            client,
            connect_timeout: options.connect_timeout,
            command_timeout: options.command_timeout,
            state: Mutex::new(SubState::default()),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Never blocks: registers the waiter (the thread subscribes its channel) and returns.
    fn wait(self: &Arc<Self>, channel: &str, timeout: Duration, done: WaitDone) {
        let mut st = self.lock();
        if st.closed {
            drop(st);
            return done.fail();
        }
        if !st.thread {
            let me = self.clone();
            let started =
                std::thread::Builder::new().name("cotter-redis-sub".into()).spawn(move || me.run()).is_ok();
            if !started {
                drop(st);
                return done.fail();
            }
            st.thread = true;
        }
        let now = Instant::now();
        let ch = st.channels.entry(channel.to_owned()).or_insert_with(|| Channel {
            waiters: Vec::new(),
            subscribed: false,
            idle_since: now,
        });
        ch.waiters.push((now + timeout, done));
        drop(st);
        self.changed.notify_all();
    }

    /// The subscriber thread: one connection at a time, made when a channel needs it, again after a loss.
    fn run(self: Arc<Self>) {
        loop {
            // Sleep while there is nothing to subscribe to.
            {
                let mut st = self.lock();
                loop {
                    if st.closed {
                        return;
                    }
                    if !st.channels.is_empty() {
                        break;
                    }
                    st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            }
            let connected = self.client.get_connection_with_timeout(self.connect_timeout).and_then(|c| {
                c.set_write_timeout(Some(self.command_timeout))?;
                Ok(c)
            });
            match connected {
                Ok(mut conn) => {
                    if self.serve(&mut conn) {
                        return;
                    }
                }
                Err(_) => self.fail_all(), // not connected: this round of waiters polls; the next wait tries again
            }
        }
    }

    /// Serves waiters on `conn` until it is lost (false) or the adapter is closed (true).
    fn serve(&self, conn: &mut Connection) -> bool {
        let mut ps = conn.as_pubsub();
        loop {
            let now = Instant::now();
            let mut expired = Vec::new();
            let (subscribe, unsubscribe, timeout) = {
                let mut st = self.lock();
                if st.closed {
                    return true;
                }
                expire(&mut st, now, &mut expired);
                let subscribe: Vec<String> =
                    st.channels.iter().filter(|(_, c)| !c.subscribed).map(|(k, _)| k.clone()).collect();
                let unsubscribe: Vec<String> = st
                    .channels
                    .iter()
                    .filter(|(_, c)| c.subscribed && c.waiters.is_empty() && now >= c.idle_since + LINGER)
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in &unsubscribe {
                    st.channels.remove(k);
                }
                let waiting = st.channels.values().any(|c| !c.waiters.is_empty());
                let next = st.channels.values().flat_map(|c| c.waiters.iter().map(|w| w.0)).min();
                let tick = if waiting { TICK_WAITING } else { TICK_LINGERING };
                let timeout = next.map_or(tick, |d| d.saturating_duration_since(now).min(tick));
                (subscribe, unsubscribe, timeout.max(Duration::from_millis(1)))
            };
            // Complete outside the lock: the library may start the next wait from `done`.
            for d in expired {
                d.timed_out();
            }
            if (!unsubscribe.is_empty() || !subscribe.is_empty())
                && ps.set_read_timeout(Some(self.command_timeout)).is_err()
            {
                self.fail_all();
                return false;
            }
            if !unsubscribe.is_empty() && ps.unsubscribe(&unsubscribe).is_err() {
                self.fail_all();
                return false;
            }
            if subscribe.is_empty() && self.lock().channels.is_empty() {
                // Nothing left (every channel lingered out): the connection goes; `run` sleeps until a wait comes.
                return false;
            }
            if !subscribe.is_empty() {
                if ps.subscribe(&subscribe).is_err() {
                    self.fail_all();
                    return false;
                }
                let mut st = self.lock();
                for k in &subscribe {
                    if let Some(c) = st.channels.get_mut(k) {
                        c.subscribed = true;
                    }
                }
            }
            if ps.set_read_timeout(Some(timeout)).is_err() {
                self.fail_all();
                return false;
            }
            match ps.get_message() {
                Ok(msg) => {
                    let woken: Vec<WaitDone> = {
                        let mut st = self.lock();
                        let now = Instant::now();
                        match st.channels.get_mut(msg.get_channel_name()) {
                            Some(c) if !c.waiters.is_empty() => {
                                c.idle_since = now;
                                c.waiters.drain(..).map(|w| w.1).collect()
                            }
                            _ => Vec::new(),
                        }
                    };
                    for d in woken {
                        d.message();
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(_) => {
                    self.fail_all(); // the subscription is lost: every waiter, at once
                    return false;
                }
            }
        }
    }

    /// Fails every waiter and forgets every channel (the connection that held them is gone).
    fn fail_all(&self) {
        let failed: Vec<WaitDone> = {
            let mut st = self.lock();
            st.channels.drain().flat_map(|(_, c)| c.waiters.into_iter().map(|w| w.1)).collect()
        };
        for d in failed {
            d.fail();
        }
    }
}

/// Moves the waiters whose deadline passed into `out`; a channel that lost its last waiter starts to linger, one
/// never subscribed is forgotten.
fn expire(st: &mut SubState, now: Instant, out: &mut Vec<WaitDone>) {
    st.channels.retain(|_, c| {
        if c.waiters.iter().any(|w| w.0 <= now) {
            let (gone, kept): (Vec<_>, Vec<_>) = c.waiters.drain(..).partition(|w| w.0 <= now);
            out.extend(gone.into_iter().map(|w| w.1));
            c.waiters = kept;
            if c.waiters.is_empty() {
                c.idle_since = now;
            }
        }
        c.subscribed || !c.waiters.is_empty()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_message_never_holds_a_script_argument() {
        let e = RedisError::from((ErrorKind::Client, "bad", "near refresh-token-abc123 in script".to_owned()));
        let m = message(&e, &[b"refresh-token-abc123".to_vec(), b"1".to_vec()]);
        assert!(!m.contains("refresh-token-abc123"), "{m}");
        assert!(m.contains("<redacted>"), "{m}");
    }

    #[test]
    fn replies_flatten_to_byte_strings() {
        let v = Value::Array(vec![Value::BulkString(b"tokens".to_vec()), Value::Int(42), Value::Okay]);
        assert_eq!(flatten(v).unwrap(), vec![b"tokens".to_vec(), b"42".to_vec(), b"OK".to_vec()]);
        assert!(flatten(Value::Nil).is_err());
        assert!(flatten(Value::Array(vec![Value::Nil])).is_err());
    }
}

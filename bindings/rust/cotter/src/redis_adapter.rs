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

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{Connection, ConnectionLike, ErrorKind, RedisError, ServerErrorKind, Value};

use crate::shared_store::{EvalDone, SharedStoreAdapter};

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
}

impl RedisAdapter {
    /// Over a standalone client (also a Sentinel-resolved or TLS `redis::Client`), with default options.
    pub fn new(client: redis::Client) -> RedisAdapter {
        RedisAdapter::start(Target::Standalone(client), RedisAdapterOptions::default())
    }

    /// Over a standalone client, with `options`.
    pub fn with_options(client: redis::Client, options: RedisAdapterOptions) -> RedisAdapter {
        RedisAdapter::start(Target::Standalone(client), options)
    }

    /// Over a Redis Cluster client: each call's keys share one hash tag, so it routes the call to one slot.
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
        RedisAdapter { jobs: tx }
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

//! @file main.rs
//! @brief 1,000 concurrent refresh grants against the emulator with 100 ms of server latency on the refresh
//! route: cotter's `Client::refresh_async` futures vs reqwest doing the same POST /token/<api_key_id> and JSON
//! parse, both driven by the same executor (tokio's current-thread runtime), each with a fresh client per
//! round (connections included), rounds interleaved. JSON lines {"bench","ops_per_sec" (grants per wall
//! second, median),"baseline","ratio","wall_ms","cpu_ms"} (cpu_ms: this process's CPU, all threads).
//! Usage: rust_async_refresh [--calls N] [--latency-ms L] [--rounds R]   (run from the repository root)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};

const REFRESH_ROUTE: &str = "POST /api/v0/token/:api_key_id";

struct Emulator {
    child: Child,
    info: Value,
}

impl Emulator {
    fn start() -> Emulator {
        let mut child = Command::new("node")
            .args(["emulator/bin/cotter-emulator.js", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node emulator/bin/cotter-emulator.js (run from the repository root)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Emulator { child, info: serde_json::from_str(&line).expect("the emulator's JSON line") }
    }
    fn s(&self, key: &str) -> String {
        self.info[key].as_str().unwrap().to_owned()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This process's CPU time (user + system, every thread), from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

async fn dev_post(http: &reqwest::Client, emu: &Emulator, path: &str, body: Value) -> Value {
    let r = http.post(format!("{}{path}", emu.s("dev_url"))).body(body.to_string())
        .header("Content-Type", "application/json").header("X-Cotter-Dev-Token", emu.s("dev_token"))
        .send().await.expect("dev request");
    assert!(r.status().is_success(), "dev {path}: {}", r.status());
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

/// `n` refresh tokens of fresh logins (50 dev requests at a time).
async fn refresh_tokens(http: &reqwest::Client, emu: &Emulator, n: usize, tag: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
        let bodies = join_all(chunk.iter().map(|i| {
            dev_post(http, emu, "/login", json!({"identifier": format!("bench-{tag}-{i}@example.com")}))
        }))
        .await;
        out.extend(bodies.iter().map(|b| b["oauth_token"]["refresh_token"].as_str().unwrap().to_owned()));
    }
    out
}

async fn with_cotter(emu: &Emulator, tokens: &[String]) -> usize {
    let client = cotter::Client::builder(emu.s("api_key_id"))
        .base_url(emu.s("base_url"))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let results = join_all(tokens.iter().map(|rt| client.refresh_async(rt))).await;
    results.iter().filter(|r| matches!(r, Ok(t) if t.refresh_token().is_some())).count()
}

async fn with_reqwest(emu: &Emulator, tokens: &[String]) -> usize {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let url = format!("{}/token/{}", emu.s("base_url"), emu.s("api_key_id"));
    let key = emu.s("api_key_id");
    let results = join_all(tokens.iter().map(|rt| {
        let req = client
            .post(&url)
            .header("API_KEY_ID", &key)
            .header("Content-Type", "application/json")
            .body(json!({"grant_type": "refresh_token", "refresh_token": rt}).to_string());
        async move {
            let r = req.send().await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            let v: Value = serde_json::from_slice(&r.bytes().await.ok()?).ok()?;
            v["refresh_token"].as_str().map(str::to_owned)
        }
    }))
    .await;
    results.iter().filter(|r| r.is_some()).count()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

fn main() {
    let mut calls = 1000usize;
    let mut latency_ms = 100u64;
    let mut rounds = 3usize;
    let args: Vec<String> = std::env::args().collect();
    for w in args.windows(2) {
        match w[0].as_str() {
            "--calls" => calls = w[1].parse().unwrap(),
            "--latency-ms" => latency_ms = w[1].parse().unwrap(),
            "--rounds" => rounds = w[1].parse().unwrap(),
            _ => {}
        }
    }
    let emu = Emulator::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let http = reqwest::Client::new();
    let (mut ours, mut peer) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for round in 0..rounds {
        // Alternate which side goes first, so that a drift in the machine's load hits both alike.
        let order = if round % 2 == 0 { ["cotter", "reqwest"] } else { ["reqwest", "cotter"] };
        for side in order {
            let tokens = rt.block_on(refresh_tokens(&http, &emu, calls, &format!("{side}{round}")));
            rt.block_on(dev_post(&http, &emu, "/faults",
                                 json!({"route": REFRESH_ROUTE, "count": calls, "latency_ms": latency_ms})));
            let (cpu0, t0) = (cpu_time(), Instant::now());
            let ok = rt.block_on(async {
                if side == "cotter" { with_cotter(&emu, &tokens).await } else { with_reqwest(&emu, &tokens).await }
            });
            let (wall, cpu) = (t0.elapsed(), cpu_time() - cpu0);
            assert_eq!(ok, calls, "{side}: {ok} of {calls} refreshes succeeded");
            let slot = if side == "cotter" { &mut ours } else { &mut peer };
            slot.0.push(wall.as_secs_f64());
            slot.1.push(cpu.as_secs_f64());
            eprintln!("round {round}: {side}: {calls} refreshes in {:.0} ms wall, {:.0} ms CPU",
                      wall.as_secs_f64() * 1e3, cpu.as_secs_f64() * 1e3);
        }
    }
    let (ow, oc) = (median(ours.0), median(ours.1));
    let (pw, pc) = (median(peer.0), median(peer.1));
    let base = format!("rust_reqwest_refresh_{calls}");
    println!("{}", json!({"bench": base, "ops_per_sec": (calls as f64 / pw).round(), "baseline": base, "ratio": 1.0,
                          "wall_ms": (pw * 1e3).round(), "cpu_ms": (pc * 1e3).round(), "latency_ms": latency_ms}));
    println!("{}", json!({"bench": format!("rust_cotter_refresh_{calls}"), "ops_per_sec": (calls as f64 / ow).round(),
                          "baseline": base, "ratio": ((pw / ow) * 1000.0).round() / 1000.0,
                          "wall_ms": (ow * 1e3).round(), "cpu_ms": (oc * 1e3).round(), "latency_ms": latency_ms,
                          "cpu_ratio": if oc > 0.0 { ((pc / oc) * 1000.0).round() / 1000.0 } else { 0.0 }}));
}

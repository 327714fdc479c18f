//! @file common/mod.rs
//! @brief Test harness: a real emulator per test (spawned on a free port, killed on drop) and its dev API.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// The repository root (bindings/rust/cotter/../../..).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..").canonicalize().unwrap()
}

/// The JSON line the emulator prints when it is ready.
#[derive(Debug, Clone)]
pub struct Info {
    pub base_url: String,
    pub login_url: String,
    pub jwks_url: String,
    pub api_key_id: String,
    pub api_secret_key: String,
    pub identity_public_key: String,
    pub worker_url: String,
    pub dev_url: String,
    /// The dev API's token, sent as `X-Cotter-Dev-Token`.
    pub dev_token: String,
    pub ca_file: Option<String>,
}

/// `node emulator/bin/cotter-emulator.js --port 0 [args]`, stopped when dropped.
pub struct Emulator {
    child: Child,
    pub info: Info,
    http: ureq::Agent,
}

impl Emulator {
    pub fn start() -> Emulator {
        Emulator::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Emulator {
        let root = repo_root();
        // A shell holds the emulator and stops it when our end of its stdin closes, so the emulator is
        // stopped even when the test process dies without running Drop (a crash in C code).
        let script = r#"node "$0" --port 0 "$@" </dev/null & pid=$!; trap 'kill $pid 2>/dev/null; wait $pid' EXIT; cat >/dev/null"#;
        let mut child = Command::new("sh")
            .args(["-c", script])
            .arg(root.join("emulator/bin/cotter-emulator.js"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot spawn node (is Node.js installed?)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("emulator stdout");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("emulator JSON line {line:?}: {e}"));
        let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("emulator info lacks {k}")).to_owned();
        let info = Info {
            base_url: s("base_url"),
            login_url: s("login_url"),
            jwks_url: s("jwks_url"),
            api_key_id: s("api_key_id"),
            api_secret_key: s("api_secret_key"),
            identity_public_key: s("identity_public_key"),
            worker_url: s("worker_url"),
            dev_url: s("dev_url"),
            dev_token: s("dev_token"),
            ca_file: v["ca_file"].as_str().map(str::to_owned),
        };
        let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).redirects(0).build();
        Emulator { child, info, http }
    }

    /// The server origin, e.g. `http://127.0.0.1:41234`.
    pub fn origin(&self) -> String {
        self.info.dev_url.trim_end_matches("/dev").to_owned()
    }

    pub fn agent(&self) -> &ureq::Agent {
        &self.http
    }

    /// A request to the dev API (`path` relative to dev_url), with the dev token.
    pub fn dev_request(&self, method: &str, path: &str) -> ureq::Request {
        self.http.request(method, &format!("{}{path}", self.info.dev_url)).set("X-Cotter-Dev-Token", &self.info.dev_token)
    }

    pub fn dev_get(&self, path: &str) -> Value {
        self.dev_request("GET", path).call().expect("dev GET").into_json().unwrap()
    }

    pub fn dev_delete(&self, path: &str) -> Value {
        self.dev_request("DELETE", path).call().expect("dev DELETE").into_json().unwrap()
    }

    pub fn dev_post(&self, path: &str, body: Value) -> Value {
        match self.dev_request("POST", path).send_json(body) {
            Ok(r) => r.into_json().unwrap(),
            Err(ureq::Error::Status(code, r)) => panic!("dev POST {path}: {code} {}", r.into_string().unwrap()),
            Err(e) => panic!("dev POST {path}: {e}"),
        }
    }

    /// Queues one fault (see emulator/README.md, "Faults").
    pub fn fault(&self, fault: Value) {
        self.dev_post("/faults", fault);
    }

    /// How many requests a route got (e.g. "POST /api/v0/token/:api_key_id").
    pub fn requests(&self, route: &str) -> u64 {
        self.dev_get("/stats")["requests"][route].as_u64().unwrap_or(0)
    }

    /// Waits until the server has received `n` requests on `route` in all (a hang guard polling the stats,
    /// never a timing assertion: what the test then asserts is ordered by what the server saw).
    #[track_caller]
    pub fn wait_for_requests(&self, route: &str, n: u64) {
        for _ in 0..12_000 {
            if self.requests(route) >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the server never saw {n} requests on {route} (saw {})", self.requests(route));
    }

    /// TCP connections the emulator accepted.
    pub fn connections(&self) -> u64 {
        self.dev_get("/stats")["connections"].as_u64().unwrap()
    }

    /// A client of the default project, with its secret.
    pub fn client(&self) -> cotter::Client {
        self.client_builder().build().expect("client")
    }

    pub fn client_builder(&self) -> cotter::ClientBuilder {
        let mut b = cotter::Client::builder(&self.info.api_key_id)
            .api_secret_key(&self.info.api_secret_key)
            .base_url(&self.info.base_url)
            .worker_url(&self.info.worker_url)
            .timeout(Duration::from_secs(10));
        if let Some(ca) = &self.info.ca_file {
            b = b.ca_file(ca);
        }
        b
    }

    /// A verifier of the default project on the emulator's remote JWKS.
    pub fn verifier(&self) -> cotter::Verifier {
        self.verifier_builder().build().expect("verifier")
    }

    pub fn verifier_builder(&self) -> cotter::VerifierBuilder {
        let mut b = cotter::Verifier::builder().audience(&self.info.api_key_id).jwks_url(&self.info.jwks_url);
        if let Some(ca) = &self.info.ca_file {
            b = b.ca_file(ca);
        }
        b
    }

    /// A logged-in user's `get_identity` body (without the page).
    pub fn login(&self, identifier: &str) -> Value {
        self.dev_post("/login", json!({ "identifier": identifier }))
    }

    /// A logged-in user's token set.
    pub fn login_token(&self, identifier: &str) -> cotter::Token {
        let body = self.login(identifier);
        cotter::Token::from_json(&body["oauth_token"].to_string()).expect("oauth_token")
    }

    /// A freshly minted access token (`/dev/access_token`) with claim overrides and a lifetime.
    pub fn access_token(&self, claims: Value, ttl: i64) -> String {
        let v = self.dev_post("/access_token", json!({ "identifier": "minted@example.com", "claims": claims, "ttl": ttl }));
        v["access_token"].as_str().unwrap().to_owned()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // EOF: the shell stops the emulator and exits
        let _ = self.child.wait();
    }
}

/// Asserts that `r` failed with `kind`, and returns the error.
#[track_caller]
pub fn expect_kind<T: std::fmt::Debug>(r: cotter::Result<T>, kind: cotter::ErrorKind) -> cotter::Error {
    match r {
        Ok(v) => panic!("expected {kind:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{e}");
            assert_eq!(e.name(), cotter::status_name(kind.code()));
            e
        }
    }
}

pub const REDIRECT: &str = "http://localhost:8080/callback";

/// Drives the login page like a browser without JavaScript and returns the redirect's query string.
pub fn log_in_through_the_page(emu: &Emulator, pkce: &cotter::Pkce, identifier: &str) -> String {
    let url = cotter::login_url(&cotter::LoginUrlOptions {
        login_url: Some(&emu.info.login_url),
        api_key_id: &emu.info.api_key_id,
        redirect_url: REDIRECT,
        state: pkce.state(),
        code_challenge: pkce.challenge(),
        auth_method: Some("OTP"),
        ..Default::default()
    })
    .unwrap();
    let query = url.split_once('?').unwrap().1.to_owned();
    let page = emu.agent().get(&url).call().unwrap();
    assert_eq!(page.status(), 200);
    let form = format!("{query}&identifier={}", identifier.replace('@', "%40"));
    emu.agent()
        .post(&format!("{}/app/identifier", emu.origin()))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string(&form)
        .unwrap();
    let mail: Value = emu.dev_get(&format!("/mailbox?to={}", identifier.replace('@', "%40")));
    let msg = mail.as_array().unwrap().last().unwrap();
    let body = format!("sid={}&otp={}", msg["session"].as_str().unwrap(), msg["otp"].as_str().unwrap());
    let resp = emu
        .agent()
        .post(&format!("{}/app/otp", emu.origin()))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string(&body)
        .unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.header("Location").unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    location.split_once('?').unwrap().1.to_owned()
}

//! @file tower_layer.rs
//! @brief cotter::middleware::AuthLayer (feature `tower`) under axum, over real HTTP with tokens minted by the
//! emulator: the shared table tests/fixtures/middleware/cases.json (also run by the Node and Go middleware tests),
//! the AuthError in the answer's extensions, and 503 while the key set cannot be fetched.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use common::{repo_root, Emulator};
use cotter::middleware::{AuthClaims, AuthError, AuthLayer};
use cotter::Verifier;
use serde_json::{json, Value};

/// The fixture's options as an AuthLayer; claimCheck {claim, equals} compares one claim of the verified payload.
fn layer_of(case: &Value, verifier: Arc<Verifier>) -> AuthLayer {
    let o = &case["options"];
    let mut layer = AuthLayer::new(verifier);
    if let Some(realm) = o["realm"].as_str() {
        layer = layer.realm(realm);
    }
    if let Some(types) = o["tokenTypes"].as_array() {
        layer = layer.token_types(types.iter().map(|t| t.as_str().unwrap().to_owned()));
    }
    if let Some(scopes) = o["requiredScopes"].as_array() {
        layer = layer.required_scopes(scopes.iter().map(|t| t.as_str().unwrap().to_owned()));
    }
    if let Some(required) = o["authRequired"].as_bool() {
        layer = layer.auth_required(required);
    }
    if o["claimCheck"].is_object() {
        let (claim, equals) = (o["claimCheck"]["claim"].as_str().unwrap().to_owned(), o["claimCheck"]["equals"].clone());
        layer = layer.claim_check(move |claims| {
            serde_json::from_str::<Value>(claims.json()).map(|payload| payload[&claim] == equals).unwrap_or(false)
        });
    }
    layer
}

/// Copies the AuthError an answer carries into headers the test client can read (an outer layer shaping answers).
async fn expose_auth_error(mut resp: Response) -> Response {
    if let Some(e) = resp.extensions().get::<AuthError>().cloned() {
        let h = resp.headers_mut();
        h.insert("x-auth-status", HeaderValue::from(e.status().as_u16()));
        h.insert("x-auth-code", HeaderValue::from_static(e.code().unwrap_or("none")));
        h.insert("x-auth-cause", HeaderValue::from_static(e.cause().map_or("none", |c| c.name())));
        h.insert("x-auth-scopes", HeaderValue::from_str(&e.scopes().join(" ")).unwrap());
    }
    resp
}

async fn handler(claims: Option<Extension<AuthClaims>>) -> String {
    format!("{{\"auth\":{}}}", claims.is_some())
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// GET over a plain socket, with exactly the given Authorization lines (several lines = several headers).
fn get_raw(addr: &str, path: &str, lines: &[String]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for l in lines {
        req.push_str(&format!("Authorization: {l}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut head = head.split("\r\n");
    let status = head.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = head.map(|l| l.split_once(": ").unwrap()).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    Answer { status, headers, body: body.to_owned() }
}

fn serve(app: Router) -> (tokio::runtime::Runtime, String) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    rt.spawn(async move { axum::serve(listener, app).await });
    (rt, addr)
}

#[test]
fn the_shared_middleware_table() {
    let table: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("tests/fixtures/middleware/cases.json")).unwrap(),
    )
    .unwrap();
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    let emu = Emulator::start();
    let verifier = Arc::new(emu.verifier());
    let mut app = Router::new();
    for (i, case) in cases.iter().enumerate() {
        app = app.route(&format!("/{i}"), get(handler).layer(layer_of(case, Arc::clone(&verifier))));
    }
    let (_rt, addr) = serve(app.layer(axum::middleware::map_response(expose_auth_error)));

    for (i, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let token = case["token"].as_object().map(|t| {
            let minted = emu.dev_post(
                "/access_token",
                json!({"identifier": "mw@example.com", "claims": t.get("claims").cloned().unwrap_or(json!({})),
                       "ttl": t.get("ttl").cloned().unwrap_or(json!(600))}),
            );
            let kind = if t["kind"] == "id" { "id_token" } else { "access_token" };
            minted[kind].as_str().unwrap().to_owned()
        });
        let lines: Vec<String> = case["authorization"]
            .as_array()
            .map(|a| a.iter().map(|l| l.as_str().unwrap().replace("{token}", token.as_deref().unwrap_or(""))).collect())
            .unwrap_or_default();
        let r = get_raw(&addr, &format!("/{i}"), &lines);
        let status = case["status"].as_u64().unwrap() as u16;
        assert_eq!(r.status, status, "{name}: {}", r.body);
        if status == 200 {
            assert_eq!(r.body, format!("{{\"auth\":{}}}", case["auth"]), "{name}");
            assert_eq!(r.header("www-authenticate"), None, "{name}");
            assert_eq!(r.header("x-auth-status"), None, "{name}");
            continue;
        }
        assert_eq!(r.header("www-authenticate"), case["www_authenticate"].as_str(), "{name}");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body.get("error").cloned().unwrap_or(Value::Null), case["error"], "{name}: {}", r.body);
        if let Some(t) = &token {
            assert!(!r.body.contains(t.as_str()), "{name}: token echoed");
        }
        // The AuthError in the answer's extensions, as an outer layer sees it.
        assert_eq!(r.header("x-auth-status"), Some(status.to_string().as_str()), "{name}");
        assert_eq!(r.header("x-auth-code"), Some(case["error"].as_str().unwrap_or("none")), "{name}");
        let www = case["www_authenticate"].as_str().unwrap();
        let cause = www.split("error_description=\"").nth(1).filter(|d| d.starts_with("COTTER_EJWT_"));
        assert_eq!(r.header("x-auth-cause").unwrap() != "none", cause.is_some(), "{name}");
        let scopes = case["options"]["requiredScopes"].as_array().map(|a| a.iter().map(|s| s.as_str().unwrap()).collect::<Vec<_>>().join(" "));
        if case["error"] == "insufficient_scope" {
            assert_eq!(r.header("x-auth-scopes"), scopes.as_deref(), "{name}");
        }
    }
}

#[test]
fn keys_unavailable_is_a_503_with_retry_after() {
    let emu = Emulator::start();
    let access = emu.access_token(json!({}), 600);
    emu.fault(json!({"route": "GET /api/v0/token/jwks", "status": 503, "count": 3}));
    let layer = AuthLayer::new(Arc::new(emu.verifier())).retry_after(7);
    let (_rt, addr) = serve(Router::new().route("/", get(handler)).layer(layer));
    let r = get_raw(&addr, "/", &[format!("Bearer {access}")]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(r.header("www-authenticate"), None);
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(body["error_description"], "COTTER_EJWKS_UNAVAILABLE");
    // Requests without a usable token are still answered from the header alone.
    assert_eq!(get_raw(&addr, "/", &[]).status, 401);
    assert_eq!(get_raw(&addr, "/", &["Bearer a b".into()]).status, 400);
}

#[test]
fn a_clone_keeps_the_policy_it_was_cloned_with() {
    let emu = Emulator::start();
    let layer = AuthLayer::new(Arc::new(emu.verifier())).required_scopes(["read"]).token_types(["*"]);
    let before = layer.clone();
    let after = layer.required_scopes(["write"]);
    let (b, a) = (format!("{before:?}"), format!("{after:?}"));
    assert!(b.contains("required_scopes: [\"read\"]") && b.contains("token_types: Some([\"*\"])"), "{b}");
    assert!(a.contains("required_scopes: [\"write\"]"), "{a}");
}

#[allow(dead_code)]
fn handler_types_compile(req: Request) -> Option<AuthClaims> {
    req.extensions().get::<AuthClaims>().cloned()
}

/// Options that could never be right panic when the layer is configured, with the sentences of Node's requireAuth
/// and Go's NewMiddleware: a scope or token type that is empty or holds whitespace, a quote or a backslash.
#[test]
fn scopes_and_token_types_must_be_words() {
    let verifier = || Arc::new(Verifier::builder().audience("aud").jwks_url("http://127.0.0.1:9/token/jwks").build().unwrap());
    let refused = |f: Box<dyn FnOnce() -> AuthLayer>| {
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map(|_| ()).unwrap_err();
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    for bad in ["read write", "", "read\twrite", "a\"b", "a\\b"] {
        let v = verifier();
        assert_eq!(refused(Box::new(move || AuthLayer::new(v).required_scopes([bad]))),
                   "AuthLayer: required_scopes must be a list of words", "{bad:?}");
        let v = verifier();
        assert_eq!(refused(Box::new(move || AuthLayer::new(v).token_types(["access_token", bad]))),
                   "AuthLayer: token_types must be a list of words", "{bad:?}");
    }
    let _ = AuthLayer::new(verifier()).required_scopes(["read:messages", "access"]).token_types(["*"]);
}

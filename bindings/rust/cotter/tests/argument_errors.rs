//! @file argument_errors.rs
//! @brief Argument mistakes show the library's own sentence (tests/fixtures/argument_errors.json, shared with the
//! C, Python, Node and Go tests): the crate passes values through and the core refuses them, so every language
//! shows the same text and kind.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use cotter::{Client, ErrorKind, Session, Verifier};

const JWKS: &str = r#"{"keys":[]}"#;
const URL: &str = "http://127.0.0.1:9/token/jwks"; // never contacted: a remote key set is fetched on first use

fn messages() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(common::repo_root().join("tests/fixtures/argument_errors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn client() -> cotter::ClientBuilder {
    Client::builder("key").base_url("http://127.0.0.1:9")
}

#[test]
fn the_library_message_reaches_rust_unchanged() {
    let messages = messages();
    let cases: Vec<(&str, cotter::Result<()>)> = vec![
        ("verifier_two_key_sources", Verifier::builder().audience("key").jwks_json(JWKS).jwks_url(URL).build().map(drop)),
        ("verifier_no_key_source", Verifier::builder().audience("key").build().map(drop)),
        ("verifier_no_audience", Verifier::builder().jwks_url(URL).build().map(drop)),
        ("verifier_leeway_301", Verifier::builder().audience("key").jwks_url(URL).leeway(Duration::from_secs(301)).build().map(drop)),
        ("verifier_jwks_timeout_0", Verifier::builder().audience("key").jwks_url(URL).jwks_timeout(Duration::ZERO).build().map(drop)),
        ("client_max_retries_11", client().max_retries(11).build().map(drop)),
        ("client_timeout_0", client().timeout(Duration::ZERO).build().map(drop)),
        (
            "session_refresh_margin_86401",
            Session::builder(&client().build().unwrap()).refresh_margin(Duration::from_secs(86401)).build(None).map(drop),
        ),
    ];
    let covered: Vec<&str> = cases.iter().map(|(name, _)| *name).collect();
    let shared: Vec<&str> = messages.keys().map(String::as_str).filter(|k| !k.starts_with('$')).collect();
    let mut sorted = covered.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, shared, "every shared mistake is covered");
    for (name, result) in cases {
        let e = common::expect_kind(result, ErrorKind::Invalid);
        assert_eq!(e.message(), messages[name], "{name}");
        assert_eq!(e.to_string(), format!("COTTER_EINVAL: {}", messages[name]), "{name}");
    }
}

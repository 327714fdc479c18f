//! @file leaks.rs
//! @brief Create/free loops over every kind of handle: the resident set must not grow with the count.

mod common;

use common::Emulator;
use cotter::{Pkce, Token, Verifier};
use serde_json::json;

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

#[test]
fn create_free_loops_do_not_grow_memory() {
    let emu = Emulator::start();
    let jwks = emu.agent().get(&emu.info.jwks_url).call().unwrap().into_string().unwrap();
    let access = emu.access_token(json!({}), 600);
    let token_json = emu.login("leak@example.com")["oauth_token"].to_string();
    let client = emu.client();

    let round = |n: usize| {
        for _ in 0..n {
            let t = Token::from_json(&token_json).unwrap();
            let _ = t.to_json().unwrap();
            let p = Pkce::new().unwrap();
            let _ = cotter::pkce_challenge_of(p.verifier()).unwrap();
            let v = Verifier::builder().audience(&emu.info.api_key_id).jwks_json(jwks.as_str()).build().unwrap();
            let c = v.verify(&access).unwrap();
            assert!(c.sub().is_some());
            assert!(v.verify("x.y.z").is_err()); // the error object is freed too
            let _ = cotter::login_redirect_parse("code=c&state=s&challenge_id=1", "s").unwrap();
        }
    };
    round(2_000); // warm up allocator pools and thread-locals
    let before = rss_kib();
    round(20_000);
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 8 * 1024, "RSS grew by {grown} KiB over 20,000 rounds");

    // Clients and their result objects (one request each).
    for i in 0..200 {
        let c = emu.client();
        let u = c.user_create(&format!("leak{i}@example.com")).unwrap();
        assert!(u.id().is_some());
    }
    drop(client);
}

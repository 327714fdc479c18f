//! @file options.rs
//! @brief Every builder option reaches the library: its effect is seen against the emulator, or a bad value
//! is refused by the library's own checks.

mod common;

use std::time::{Duration, Instant};

use common::{expect_kind, Emulator};
use cotter::ErrorKind;
use serde_json::json;

const JWKS: &str = "GET /api/v0/token/jwks";

#[test]
fn verifier_options_reach_the_library() {
    let emu = Emulator::start();
    let access = emu.access_token(json!({}), 600);

    // A body cap below the key set's size: the fetch fails.
    let small = emu.verifier_builder().jwks_max_bytes(100).build().unwrap();
    expect_kind(small.verify(&access), ErrorKind::JwksUnavailable);

    // A fetch timeout shorter than the server's delay (30 s). Ignored, the default 5 s timeout would end the
    // fetch instead: the bound lies between the two with seconds to spare. (It was 1.5 s against a 2 s delay,
    // within reach of a loaded 2-core machine.)
    emu.fault(json!({"route": JWKS, "latency_ms": 30000}));
    let hasty = emu.verifier_builder().jwks_timeout(Duration::from_millis(200)).build().unwrap();
    let start = Instant::now();
    expect_kind(hasty.verify(&access), ErrorKind::JwksUnavailable);
    assert!(start.elapsed() < Duration::from_millis(2500), "{:?}", start.elapsed());
    emu.dev_delete("/faults");

    // Keys that are never fresh for long are fetched again; long-lived ones are not (the cooldown, which
    // spaces every automatic fetch, is shortened for both).
    for (max_age, want) in [(Duration::from_millis(1), 2), (Duration::from_secs(3600), 1)] {
        let v = emu.verifier_builder().jwks_max_age(max_age).jwks_cooldown(Duration::from_millis(1)).build().unwrap();
        let before = emu.requests(JWKS);
        for _ in 0..2 {
            v.verify(&access).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(emu.requests(JWKS) - before, want, "jwks_max_age {max_age:?}");
    }

    // Out-of-range values are the library's to refuse.
    let b = || emu.verifier_builder();
    expect_kind(b().jwks_max_age(Duration::from_secs(8 * 24 * 3600)).build(), ErrorKind::Invalid);
    expect_kind(b().jwks_max_bytes(65 << 20).build(), ErrorKind::Invalid);
    expect_kind(b().jwks_timeout(Duration::from_secs(121)).build(), ErrorKind::Invalid);
    expect_kind(b().leeway(Duration::from_secs(301)).build(), ErrorKind::Invalid);
}

#[test]
fn client_options_reach_the_library() {
    let emu = Emulator::start();
    // A 1 h backoff base capped at 1 ms: two retries wait at most 1 ms each. Uncapped, the first wait would
    // be drawn from [0, 1 h] and, being longer than the 10 s timeout left (>99.7%), the 503 would be returned
    // at once: user_get below would fail. No clock is read. (It was a 10 s base and "done within 2 s".)
    let client = emu
        .client_builder()
        .timeout(Duration::from_secs(10))
        .max_retries(2)
        .retry_base(Duration::from_secs(3600))
        .retry_max(Duration::from_millis(1))
        .build()
        .unwrap();
    let user = client.user_create("retry@example.com").unwrap();
    let id = user.id().unwrap();
    emu.fault(json!({"route": "GET /api/v0/user/:id", "status": 503, "count": 2}));
    client.user_get(id).unwrap();
    assert_eq!(client.stats().unwrap().retries, 2);
    emu.fault(json!({"route": "GET /api/v0/user/:id", "status": 503, "count": 3}));
    let e = expect_kind(client.user_get(id), ErrorKind::Http);
    assert_eq!(e.http_status(), Some(503));

    expect_kind(emu.client_builder().connect_timeout(Duration::ZERO).build(), ErrorKind::Invalid);
    expect_kind(emu.client_builder().timeout(Duration::ZERO).build(), ErrorKind::Invalid);
}

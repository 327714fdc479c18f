#!/usr/bin/env bash
# Rust async benchmark driver (bench/run runs it): builds bench/rust (cotter + the reqwest peer, a package of
# its own) against the release library, then runs it from the repository root. Extra arguments go to the bench
# (--calls N --latency-ms L --rounds R).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/bench                   # bench/run's release tree
[ -f "$build/capi/libcotter.so" ] || build=build/release
export PKG_CONFIG_PATH="$PWD/$build${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$PWD/$build/capi${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CARGO_TARGET_DIR="$PWD/build/rust-bench-target"
export NO_PROXY="127.0.0.1,localhost,::1" no_proxy="127.0.0.1,localhost,::1"
cargo build --release --quiet --manifest-path bench/rust/Cargo.toml -j 2 >&2
exec "$CARGO_TARGET_DIR/release/rust_async_refresh" "$@"

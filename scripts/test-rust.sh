#!/usr/bin/env bash
# Rust packages (bindings/rust: cotter-sys and cotter, crates cotter-native-sys and cotter-native): build
# libcotter, check the bindings against capi/abi.json, then `cargo test` against the real library and the
# emulator (each test starts its own). The tests link the build tree's libcotter.so (feature `system`); the
# default feature `bundled` (the core built by the crate itself) is exercised by scripts/test-package.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/release  # the release tree of scripts/test-core.sh: under scripts/test.sh nothing is rebuilt

# The crates need Rust >= 1.80 (rust-version in bindings/rust/Cargo.toml); Debian 12's own cargo is 1.63.
rust_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if [ "$rust_minor" -lt 80 ]; then
  echo "test-rust: $(rustc --version) is too old: the Rust packages need 1.80 or newer (rustup)" >&2
  exit 1
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j 2 --target cotter

# Every function and options field of capi/abi.json is bound, and libcotter exports exactly the described
# functions (the declarations themselves are generated: scripts/gen.py --check, in scripts/test-core.sh)...
python3 tests/check_binding_coverage.py --lang rust --lib "$build/capi/libcotter.so"
# ...and the check can fail: a function, a field and a _start form added to a copy of the description are reported.
python3 tests/check_binding_coverage.py --self-test --lang rust --lib "$build/capi/libcotter.so"
# The generated sys declarations and layout test are those of the description.
python3 scripts/gen.py --check

# cotter-native-sys (feature system) finds libcotter through the build tree's cotter.pc; tests load it from there.
export PKG_CONFIG_PATH="$PWD/$build${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$PWD/$build/capi${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost,::1${no_proxy:+,$no_proxy}"
# Features `tower` (cotter::middleware), `serde` (Claims::deserialize, tests/claims_serde.rs) and `redis`
# (cotter::redis_adapter, tests/shared_store.rs: starts redis-server itself) are tested too; without them the library
# depends on no HTTP crate and no runtime.
cargo test --manifest-path bindings/rust/Cargo.toml --workspace --locked -j 2 \
  --no-default-features --features cotter-native-sys/system,cotter-native/tower,cotter-native/serde,cotter-native/redis
# (serde_json, and the serde it is built on, are required: records cross the C ABI as JSON, src/records.rs.)
if cargo tree --manifest-path bindings/rust/Cargo.toml -p cotter-native --locked -e normal \
    --no-default-features --features system | grep -E '^[^a-z]*(tokio|http|tower-[a-z]+) v'; then
  echo "test-rust: without feature tower the library must not depend on tokio, http or tower" >&2
  exit 1
fi
# The redis-rs adapter runs sync connections on its own threads: feature `redis` brings no async runtime either.
if cargo tree --manifest-path bindings/rust/Cargo.toml -p cotter-native --locked -e normal \
    --no-default-features --features system,redis | grep -E '^[^a-z]*(tokio|async-std|smol) v'; then
  echo "test-rust: feature redis must not depend on an async runtime" >&2
  exit 1
fi

#!/usr/bin/env bash
# The fleet test (issue 17, docs/shared-sessions.md "The fleet test"): worker processes of every language share 200
# sessions through a real redis-server (standalone, then a 3-master cluster) against the emulator, with random
# SIGKILLs; tests/fleet/fleet.py checks one refresh grant per session per expiry, no re-login, no revoked family.
# Runs after the language parts, whose builds it uses (build/release, build/venv, the Node addon, the Go package).
# About 2 minutes on an idle machine (a 60 s and a 20 s phase).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/release  # the release tree of scripts/test-core.sh: under scripts/test.sh nothing is rebuilt

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j 2 --target cotter

# The workers find libcotter as the language parts do: cgo through cotter.pc, the rest through the build tree.
export PKG_CONFIG_PATH="$PWD/$build${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$PWD/$build/capi${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost,::1${no_proxy:+,$no_proxy}"
export CGO_ENABLED=1
export COTTER_FLEET_BUILD="$PWD/$build"
# A missing worker of these languages is a failure (Rust's is optional: run when present).
export COTTER_FLEET_REQUIRE="${COTTER_FLEET_REQUIRE-c,python,node,go}"
export COTTER_FLEET_SECONDS="${COTTER_FLEET_SECONDS:-60}"
export COTTER_FLEET_CLUSTER_SECONDS="${COTTER_FLEET_CLUSTER_SECONDS:-20}"
# First, the checks can fail: two sessions broken by the driver are reported, and nothing else (10 s, C only).
COTTER_FLEET_REQUIRE=c python3 tests/fleet/fleet.py --self-test
python3 tests/fleet/fleet.py
echo "test-fleet: ok" >&2

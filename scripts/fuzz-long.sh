#!/usr/bin/env bash
# The documented long fuzz run (docs/hardening.md): every target for SECONDS each (default 3600), two at a
# time, keeping the grown corpus in build/fuzz/corpus/<name> so the next run continues where this one stopped.
# Not part of the test command. Usage: bash scripts/fuzz-long.sh [SECONDS] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3600}
shift || true
COTTER_FUZZ_SECONDS=$seconds COTTER_FUZZ_TARGETS="${*:-}" exec bash scripts/test-fuzz.sh

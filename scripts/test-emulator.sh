#!/usr/bin/env bash
# The emulator's own suites: every endpoint and rejection, jose cross-check, headless Chromium login.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix emulator --no-audit --no-fund >/dev/null
node --test --test-concurrency=1 emulator/test/

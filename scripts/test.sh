#!/usr/bin/env bash
# The one test command (README): installs what it needs on a fresh Debian 12 and runs every test suite.
# Each part lives in scripts/test-<part>.sh and is run in this order; any failure fails the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

parts=(core emulator python node rust go fleet fuzz package hardening)
failed=()
for part in "${parts[@]}"; do
  script="scripts/test-$part.sh"
  [ -f "$script" ] || continue
  echo "==> $part" >&2
  start=$(date +%s)
  if bash "$script"; then
    echo "==> $part: ok ($(( $(date +%s) - start )) s)" >&2
  else
    echo "==> $part: FAILED ($(( $(date +%s) - start )) s)" >&2
    failed+=("$part")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED parts: ${failed[*]}" >&2
  exit 1
fi
echo "all test parts passed" >&2

#!/usr/bin/env bash
# Node part of the test command: `npm ci` (dev tools; the package has no install script), `npm run build:native`
# (cotter.node through cmake-js and the one CMake graph into build/node, against this Node's own headers), the
# node:test suites against the emulator, and `tsc --strict` on the typed examples and the type test of index.d.ts.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
npm run build:native

# One test file at a time: the machine has 2 cores and several suites measure the event loop.
node --test --test-concurrency=1 tests/node/

npx --no-install tsc -p node/examples/tsconfig.json
npx --no-install tsc -p tests/node/types/tsconfig.json
echo "test-node: ok" >&2

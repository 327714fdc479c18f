#!/usr/bin/env bash
# Go package (bindings/go/cotter): build libcotter, check the package against capi/abi.json, then
# `go vet` and `go test -race` against the real library and the emulator (each test starts its own),
# then the full-size leak loop without -race.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/release  # the release tree of scripts/test-core.sh: under scripts/test.sh nothing is rebuilt

# The package needs Go >= 1.22 (bindings/go/go.mod); Debian 12's own golang-go is 1.19.
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
if [ "$go_minor" -lt 22 ]; then
  echo "test-go: $(go env GOVERSION) is too old: the Go package needs 1.22 or newer" >&2
  exit 1
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j 2 --target cotter

# Every function and options field of capi/abi.json is bound, and libcotter exports exactly the described
# functions (cgo checks each call against cotter.h, itself generated from the description)...
python3 tests/check_binding_coverage.py --lang go --lib "$build/capi/libcotter.so"
# ...and the check can fail: a function, a field and a _start form added to a copy of the description are reported.
python3 tests/check_binding_coverage.py --self-test --lang go --lib "$build/capi/libcotter.so"

# cgo finds libcotter through the build tree's cotter.pc (which also sets its rpath).
export PKG_CONFIG_PATH="$PWD/$build${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$PWD/$build/capi${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost,::1${no_proxy:+,$no_proxy}"
export CGO_ENABLED=1
cd bindings/go
go vet ./...
go test -race -count=1 ./...
# The go-redis adapter for shared sessions: a nested module (bindings/go/redisstore, so that package cotter
# does not depend on go-redis), built against this checkout through its replace directive. Its tests start
# redis-server (standalone and a 3-master cluster) and re-execute themselves as fleet replicas.
(cd redisstore && go vet ./... && go test -race -count=1 ./...)
# The fleet test's Go worker (tests/fleet/go, its own module too) builds.
(cd ../../tests/fleet/go && go vet . && go build -o /dev/null .)
# The leak loop again without the race detector (whose shadow memory grows with every allocation), at full
# size: 1,000,000 verifications and every object type, anonymous RSS growth < 1 MiB.
go test -count=1 -run '^TestLeakLoop$' ./...

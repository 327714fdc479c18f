#!/usr/bin/env bash
# @file tests/leaks/node_asan.sh
# @brief Builds the Node addon with -DCOTTER_SANITIZE=address,undefined into BUILDDIR and runs the Node test suite
# (tests/node/) against it, with the ASan runtime preloaded into the uninstrumented node.
#
# Usage: bash tests/leaks/node_asan.sh BUILDDIR
# scripts/test-hardening.sh calls it with LD_PRELOAD=libasan and ASAN_OPTIONS/UBSAN_OPTIONS already set; run alone,
# it sets the same. The build runs WITHOUT the preload (cmake, ninja and the compiler need no sanitizer runtime).
# The addon is configured with plain CMake (same CMakeLists graph and options as node/scripts/build.js, minus
# cmake-js, which may wipe a build directory), and the suite finds it through COTTER_NODE_ADDON.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
[ $# -eq 1 ] || { echo "usage: $0 BUILDDIR" >&2; exit 2; }
dir=$(realpath -m "$1")

libasan=$(gcc -print-file-name=libasan.so)
preload=${LD_PRELOAD:-$libasan}
asan_options=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:verify_asan_link_order=0}
ubsan_options=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
unset LD_PRELOAD

[ -d node_modules/node-addon-api ] || npm ci --ignore-scripts --no-audit --no-fund >/dev/null

node_prefix=$(node -p "require('path').resolve(process.execPath, '..', '..')")
addon_api=$(node -p "require('path').dirname(require.resolve('node-addon-api/package.json'))")
echo "node_asan: building the ASan+UBSan addon in $dir" >&2
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOTTER_SANITIZE=address,undefined \
      -DCOTTER_BUILD_NODE=ON -DCOTTER_BUILD_SHARED=OFF -DCOTTER_BUILD_TESTS=OFF \
      -DCOTTER_NODE_INCLUDE_DIR="$node_prefix/include/node" -DCOTTER_NODE_ADDON_API_DIR="$addon_api" >/dev/null
cmake --build "$dir" --target cotter_node -j 2
addon=$dir/node/cotter.node  # node/CMakeLists.txt's target, at its place in a plain CMake tree
[ -f "$addon" ] || { echo "node_asan: no $addon" >&2; exit 1; }
# Proof that this addon is the instrumented one (the suite loads it through COTTER_NODE_ADDON).
if ! nm "$addon" 2>/dev/null | grep -q '__asan_report' && ! ldd "$addon" | grep -q libasan; then
  echo "node_asan: $addon is not built with ASan" >&2
  exit 1
fi

echo "node_asan: running tests/node against $addon" >&2
start=$(date +%s)
env LD_PRELOAD="$preload" ASAN_OPTIONS="$asan_options" UBSAN_OPTIONS="$ubsan_options" \
    COTTER_NODE_ADDON="$addon" COTTER_NODE_ASAN=1 node --test --test-concurrency=1 tests/node/
echo "node_asan: suite passed under ASan+UBSan in $(( $(date +%s) - start )) s" >&2

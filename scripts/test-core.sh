#!/usr/bin/env bash
# Core and C ABI: build under ASan+UBSan and run ctest (C++ unit tests, C99 ABI tests, header test,
# exported symbols); then the concurrency tests under TSan; then a plain build for the bindings.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

# The generated layers match their description (capi/abi.json), before anything is built from them.
python3 scripts/gen.py --check

# Sanitized build: every C/C++ test runs under AddressSanitizer + UndefinedBehaviorSanitizer.
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCOTTER_BUILD_TESTS=ON \
      -DCOTTER_SANITIZE=address,undefined >/dev/null
cmake --build build/asan -j "$jobs"

# Release build (what the bindings link against) with the C test programs, which scripts/test-hardening.sh runs
# under valgrind. The C++ tests are not built again here: they ran under ASan+UBSan above.
# The benchmarks (bench/) are built here too, not run: bench/run is never part of the test command, and a bench that
# no longer compiles against the C ABI would otherwise go unnoticed until someone runs it.
# It builds in the background, at a low priority (nice 10), while the ASan and TSan tests run: the tests leave a core
# idle much of the time (they wait on their servers, and the last ones run alone), the tree shares nothing with them,
# and the foreground keeps the CPU it had (the TSan build gets the cores first). Its output is shown once it is done.
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOTTER_BUILD_TESTS=ON \
      -DCOTTER_BUILD_BENCH=ON >/dev/null
c_targets=()
for src in tests/c/test_*.c; do c_targets+=("c_$(basename "$src" .c)"); done
# setsid: its own process group, so that the exit trap stops ninja and the compilers too when a test fails first.
setsid -w nice -n 10 cmake --build build/release -j "$jobs" --target cotter cotter_static "${c_targets[@]}" \
  verify_bench client_bench shared_session_bench >build/release-build.log 2>&1 &
release_pid=$!
trap '[ -z "$release_pid" ] || kill -- "-$release_pid" 2>/dev/null || true' EXIT
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure -j "$jobs"

# ThreadSanitizer on the tests labelled "concurrency".
cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCOTTER_BUILD_TESTS=ON \
      -DCOTTER_SANITIZE=thread >/dev/null
# Only the programs run below are built (the rest of the suite ran under ASan above).
tsan_targets=(cpp_test_jwks_remote cpp_test_http_transport cpp_test_http_async c_test_async)
for src in tests/cpp/test_*concurrency*.cpp tests/c/test_*concurrency*.c; do
  name=$(basename "$src"); name=${name%.*}
  case $src in *.c) tsan_targets+=("c_$name") ;; *) tsan_targets+=("cpp_$name") ;; esac
done
cmake --build build/tsan -j "$jobs" --target "${tsan_targets[@]}"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build/tsan --output-on-failure -L concurrency --no-tests=ignore
# ... and the files whose threaded cases are not named "concurrency": concurrent JWKS misses sharing one fetch
# (test_jwks_remote), the transport used from several threads (test_http_transport), the event loop's completions,
# cancellation and timers (test_http_async), and the asynchronous C ABI (c/test_async).
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build/tsan --output-on-failure --no-tests=error -j "$jobs" \
    -R '^cpp/test_(jwks_remote|http_transport|http_async)$|^c/test_async$'

# The release build started above.
release_rc=0
wait "$release_pid" || release_rc=$?
release_pid=""
cat build/release-build.log
[ "$release_rc" -eq 0 ] || { echo "test-core: the release build failed" >&2; exit "$release_rc"; }

#!/usr/bin/env bash
# Hardening gate (docs/hardening.md), after the language suites:
#   1. valgrind memcheck on every C test program of a non-sanitized build: no invalid access, no definite leak;
#   2. leak loops: every object type created and freed, and 1,000,000 tokens verified, in C, Python and Node
#      (and Rust/Go when their packages have leak loops): RSS growth under 1 MiB after a warm-up (Node: its native
#      memory and its retained JS objects, apart, since V8 sizes its heap by timing: tests/leaks/leak_node.js);
#   3. the Python and Node test suites once more against an ASan+UBSan build of the extension/addon, with the
#      ASan runtime preloaded into the (uninstrumented) interpreter.
# COTTER_LEAK_N overrides the number of verifications of the leak loops (default 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=build/hardening
leak_n=${COTTER_LEAK_N:-1000000}
failed=()
mkdir -p "$build"

step() { echo "--- hardening [$SECONDS s]: $*" >&2; }
fail() { echo "--- hardening: FAILED: $*" >&2; failed+=("$1"); }

# --- 0. A non-sanitized build with the tests (valgrind and RSS measurements need uninstrumented code) ---------
# The release tree of scripts/test-core.sh (same configuration), so under scripts/test.sh nothing is rebuilt.
cbuild=build/release
step "build ($cbuild, RelWithDebInfo)"
cmake -S . -B "$cbuild" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOTTER_BUILD_TESTS=ON >/dev/null
# Only the library and the C test programs (valgrind's subjects): the C++ tests already ran in scripts/test-core.sh.
c_targets=()
for src in tests/c/test_*.c; do c_targets+=("c_$(basename "$src" .c)"); done
cmake --build "$cbuild" -j 2 --target cotter "${c_targets[@]}"
cc -std=c99 -O2 -g -Wall -Wextra -pedantic -Werror -D_POSIX_C_SOURCE=200809L -Icapi/include \
   tests/leaks/leak_loop.c -o "$build/leak_loop" -L"$cbuild/capi" -lcotter -Wl,-rpath,"$root/$cbuild/capi"

# --- The emulator and the leak material (JWKS, a valid token, credentials...) shared by every leak loop -----
emu_pid=""
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true; }
trap cleanup EXIT
node emulator/bin/cotter-emulator.js --port 0 >"$build/emulator.json" 2>"$build/emulator.log" &
emu_pid=$!
# Wait for the whole JSON line (it ends in a newline), up to 60 s: a loaded machine can take more than the 10 s
# this used to allow, after which material.js got an empty or partial line.
for _ in $(seq 600); do
  [ -s "$build/emulator.json" ] && [ "$(tail -c1 "$build/emulator.json" | wc -l)" -eq 1 ] && break
  kill -0 "$emu_pid" 2>/dev/null || break
  sleep 0.1
done
if ! [ "$(tail -c1 "$build/emulator.json" 2>/dev/null | wc -l)" -eq 1 ]; then
  echo "test-hardening: the emulator printed no JSON line within 60 s" >&2
  cat "$build/emulator.log" >&2
  exit 1
fi
node tests/leaks/material.js "$(head -1 "$build/emulator.json")" "$build/leak-material" >"$build/leak-material.json"

# --- 1. valgrind on the C tests --------------------------------------------------------------------------------
valgrind_run() {  # <log name> <program> [args...]
  local name=$1; shift
  valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
           --trace-children=no --track-fds=no --num-callers=30 --log-file="$build/valgrind/$name.log" "$@" \
           >"$build/valgrind/$name.out" 2>&1
}
mkdir -p "$build/valgrind"
shopt -s nullglob
c_tests=("$cbuild"/tests/c_test_*)
step "valgrind memcheck on ${#c_tests[@]} C test programs and the C leak loop, two at a time"
# Two at a time: each program runs single-threaded under valgrind (it serialises a program's threads), so one run
# leaves the second core idle. The runs share nothing: every C test starts its own emulator on port 0 (ctest runs
# them two at a time under ASan too), the leak loop talks to the shared emulator (the leak loops below share it
# too), and every run has its own .log/.out. The results are reported in the same order as one run after another.
# The C leak loop runs through valgrind with every object type (few iterations: valgrind is ~50x slower; RSS is
# meaningless there). It is the longest run, so it starts first.
rm -f "$build"/valgrind/*.status
vg_pids=()
vg_start() {  # <name> <program> [args...]: starts a run once fewer than two run; status and seconds in <name>.status
  local pid alive=()
  [ ${#vg_pids[@]} -lt 2 ] || wait -n "${vg_pids[@]}" || true
  for pid in "${vg_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
  vg_pids=(${alive[@]+"${alive[@]}"})
  ( start=$(date +%s) rc=0
    COTTER_SOURCE_DIR="$root" valgrind_run "$@" || rc=$?
    echo "$rc $(( $(date +%s) - start ))" >"$build/valgrind/$1.status" ) &
  vg_pids+=($!)
}
vg_names=(leak_loop)
vg_start leak_loop "$build/leak_loop" "$build/leak-material" 3000 --no-rss
for t in "${c_tests[@]}"; do vg_names+=("$(basename "$t")"); vg_start "$(basename "$t")" "$t"; done
for pid in "${vg_pids[@]}"; do wait "$pid" || true; done
for name in "${vg_names[@]:1}" leak_loop; do
  read -r rc secs <"$build/valgrind/$name.status" || rc=1
  if [ "$rc" = 0 ]; then
    echo "valgrind $name: clean (${secs} s)" >&2
  else
    fail "valgrind:$name"
    grep -E "definitely lost|Invalid|uninitialised|ERROR SUMMARY" "$build/valgrind/$name.log" | head -20 >&2 || true
    [ "$name" = leak_loop ] || tail -20 "$build/valgrind/$name.out" >&2 || true
  fi
done

# --- 2. Leak loops: 1,000,000 verifications each, growth < 1 MiB (Node: see its header) ------------------------
# All loops run at once: each measures only its own memory, so sharing the cores changes their time, not their
# result (V8 sizes its heap by timing, and the Node loop subtracts that heap).
step "leak loops ($leak_n verifications each)"
declare -A loop_pids=()
start_loop() {  # <name> <command...>: output in $build/leak_<name>.out
  local name=$1; shift
  # Two malloc arenas: every client owns an I/O thread, and each new thread may open a fresh glibc arena (up to 16
  # here) whose pages stay: RSS noise that warm-up cannot exhaust, not a leak. A per-call leak still shows.
  MALLOC_ARENA_MAX=2 "$@" >"$build/leak_$name.out" 2>&1 &
  loop_pids[$name]=$!
}
start_loop c "$build/leak_loop" "$build/leak-material" "$leak_n"
if [ -x build/venv/bin/python ] && build/venv/bin/python -c "import cotter" 2>/dev/null; then
  # The release package installed by scripts/test-python.sh.
  start_loop python build/venv/bin/python tests/leaks/leak_python.py "$build/leak-material.json" "$leak_n"
else
  echo "leak loop python: build/venv has no cotter package (run scripts/test-python.sh first)" >&2
  fail "leak:python(missing)"
fi
if [ -f node/CMakeLists.txt ] && [ -f tests/leaks/leak_node.js ]; then
  start_loop node node --expose-gc tests/leaks/leak_node.js "$build/leak-material.json" "$leak_n"
fi
for name in c python node; do
  [ -n "${loop_pids[$name]:-}" ] || continue
  if wait "${loop_pids[$name]}"; then cat "$build/leak_$name.out" >&2; else fail "leak:$name"; cat "$build/leak_$name.out" >&2; fi
done

# --- 3. Python and Node suites against an ASan+UBSan build of the extension/addon ------------------------------
# The interpreters are not instrumented: the ASan runtime is preloaded (it must come first in the process), and
# leak detection is off for them (CPython and V8 keep memory alive at exit by design; the C leak checks above
# cover the library). PYTHONMALLOC=malloc routes Python's small objects through ASan too.
# libstdc++ is preloaded right after the runtime: python does not link it, and ASan resolves the real __cxa_throw
# when it starts, so without it the first C++ exception in the extension dies in "CHECK failed: real___cxa_throw".
# Reports go to files (pytest captures fd 2, and an abort loses what it captured); they are printed on failure.
libasan=$(gcc -print-file-name=libasan.so)
libstdcxx=$(gcc -print-file-name=libstdc++.so.6)
san_logs=$root/$build/sanitizer-logs
rm -rf "$san_logs" && mkdir -p "$san_logs"
asan_env=(LD_PRELOAD="$libasan $libstdcxx"
          ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:verify_asan_link_order=0:log_path=$san_logs/asan
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$san_logs/ubsan)
san_reports() {  # prints (the head of) every sanitizer report written so far; fails when there is one
  local f found=1
  for f in "$san_logs"/*; do [ -f "$f" ] && { echo "== $f" >&2; head -60 "$f" >&2; found=0; }; done
  [ $found -ne 0 ]
}
if [ -f pyproject.toml ] && [ -d tests/python ]; then
  step "Python suite against the ASan+UBSan extension"
  venv=$build/venv-asan
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt
  # The Node step below configures this tree with COTTER_BUILD_NODE=ON, which stays in its cache: turned off here, so
  # that a second run does not link the extension against the addon's static TLS stack. The core's flags do not
  # depend on it, so switching it recompiles nothing.
  CMAKE_BUILD_PARALLEL_LEVEL=2 "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation . \
      -C build-dir="$build/asan-tree" -C cmake.build-type=RelWithDebInfo \
      -C cmake.define.COTTER_SANITIZE=address,undefined -C cmake.define.COTTER_BUILD_NODE=OFF
  if [ -f tests/python/browser/package-lock.json ] && [ ! -d tests/python/browser/node_modules ]; then
    (cd tests/python/browser && npm ci --silent --no-audit --no-fund >/dev/null)
  fi
  # Left out here (both run in scripts/test-python.sh): test_leak.py measures RSS, which ASan's quarantine inflates
  # (the leak loops above measure the release build); test_login_browser.py starts Chromium, which inherits the
  # preloaded runtime (the CLI login itself runs here too, in test_cli.py, with the page driven over HTTP).
  if (cd tests && env "${asan_env[@]}" PYTHONMALLOC=malloc "../$venv/bin/python" -m pytest -q -p no:cacheprovider \
        --durations=15 -c ../pyproject.toml --rootdir .. \
        --ignore=python/test_leak.py --ignore=python/test_login_browser.py python) \
     && san_reports; then
    echo "python suite under ASan+UBSan: passed" >&2
  else
    fail "asan:python"; san_reports || true
  fi
fi
if [ -f node/CMakeLists.txt ] && [ -f scripts/test-node.sh ] && [ -f tests/leaks/node_asan.sh ]; then
  step "Node suite against the ASan+UBSan addon"
  rm -f "$san_logs"/*
  # The Python step's CMake tree: the core's flags are the same (RelWithDebInfo, ASan+UBSan, static, and no define
  # from the addon's static libcurl: node/CMakeLists.txt), so only the addon's own sources are compiled here.
  if env "${asan_env[@]}" bash tests/leaks/node_asan.sh "$build/asan-tree" && san_reports; then
    echo "node suite under ASan+UBSan: passed" >&2
  else
    fail "asan:node"; san_reports || true
  fi
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "hardening: FAILED: ${failed[*]} ($SECONDS s)" >&2
  exit 1
fi
echo "hardening: all gates passed ($SECONDS s)" >&2

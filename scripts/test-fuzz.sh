#!/usr/bin/env bash
# Fuzz gate: builds every libFuzzer target (fuzz/fuzz_<name>.cpp, clang, ASan+UBSan), replays every committed
# regression and seed (ctest -L fuzz), then fuzzes each target for a short bounded time and prints the
# executions it reached. Any crash, leak, timeout, OOM or broken invariant fails the gate; the input is kept
# under build/fuzz/artifacts/<name>/ — copy it to fuzz/regressions/<name>/ once fixed.
#
#   COTTER_FUZZ_SECONDS   time per target (default 20; scripts/fuzz-long.sh raises it)
#   COTTER_FUZZ_TARGETS   space-separated subset of target names (default: all)
#   COTTER_FUZZ_PARALLEL  targets fuzzed at once (default: 2, one per core of the CI machine)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=build/fuzz
seconds=${COTTER_FUZZ_SECONDS:-20}
parallel=${COTTER_FUZZ_PARALLEL:-2}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOTTER_BUILD_FUZZ=ON \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCOTTER_BUILD_SHARED=OFF -DCOTTER_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j 2

targets=()
if [ -n "${COTTER_FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$COTTER_FUZZ_TARGETS"
else
  shopt -s nullglob
  for src in fuzz/fuzz_*.cpp; do n=$(basename "$src" .cpp); targets+=("${n#fuzz_}"); done
fi

# 1. Replay: every input that ever crashed a target, and every committed seed, must pass.
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir "$build/fuzz" -L fuzz --output-on-failure --no-tests=ignore

# Seeds from tests/fixtures (shared with every language's tests) for the targets that parse tokens and key sets:
# every token, key set and legacy token the fixtures hold, one file each.
seed_fixtures() {  # <name> <corpus dir>
  python3 - "$1" "$2" <<'PY'
import json, os, sys
name, out = sys.argv[1], sys.argv[2]
def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
def put(stem, data):
    with open(os.path.join(out, "fixture_" + stem), "w") as f:
        f.write(data)
jwt, legacy = load("tests/fixtures/jwt/cases.json"), load("tests/fixtures/legacy/cases.json")
if name == "jwt_verify" and jwt:
    for i, case in enumerate(jwt.get("cases", [])):
        if isinstance(case.get("token"), str):
            put(f"{i}.jwt", case["token"])
elif name == "jwks":
    for path in ("tests/fixtures/jwt/jwks.json",):
        if os.path.exists(path):
            put("jwks.json", open(path).read())
elif name == "legacy" and legacy:
    for kind in ("identity", "event"):
        for i, case in enumerate(legacy.get(kind, [])):
            if isinstance(case.get("token"), dict):
                put(f"{kind}_{i}.json", json.dumps(case["token"], separators=(",", ":")))
PY
}

# 2. Fuzz each target for $seconds, $parallel at a time. The grown corpus stays in build/fuzz/corpus/<name>.
run_one() {  # <name>: fuzzes one target, writes its log, returns libFuzzer's status
  local name=$1
  local corpus="$build/corpus/$name" artifacts="$build/artifacts/$name/" log="$build/logs/$name.log"
  mkdir -p "$corpus" "$artifacts" "$build/logs"
  [ -d "fuzz/corpus/$name" ] && cp -rn "fuzz/corpus/$name/." "$corpus/" 2>/dev/null || true
  seed_fixtures "$name" "$corpus"
  local dict=()
  [ -f "fuzz/dict/$name.dict" ] && dict=(-dict="fuzz/dict/$name.dict")
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/fuzz/fuzz_$name" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=5 \
      -print_final_stats=1 -artifact_prefix="$artifacts" "${dict[@]}" "$corpus" >"$log" 2>&1
}

declare -A pids=()
failed=()
report() {  # <name> <status>
  local name=$1 status=$2 log="$build/logs/$1.log" execs cov
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ "$status" -eq 0 ]; then
    printf 'fuzz %-14s ok      %10s execs in %ss (%s/s), coverage %s edges\n' \
      "$name" "${execs:-?}" "$seconds" "$(( ${execs:-0} / seconds ))" "${cov:-?}"
  else
    printf 'fuzz %-14s FAILED  (status %s) — see %s; reproducer in %s\n' "$name" "$status" "$log" "$build/artifacts/$name/"
    grep -m1 -E 'ERROR|invariant|runtime error|SUMMARY' "$log" || true
    failed+=("$name")
  fi
}
for name in "${targets[@]}"; do
  [ -x "$build/fuzz/fuzz_$name" ] || { echo "fuzz: no target fuzz_$name" >&2; failed+=("$name"); continue; }
  while [ "${#pids[@]}" -ge "$parallel" ]; do
    wait -n || true
    for n in "${!pids[@]}"; do
      if ! kill -0 "${pids[$n]}" 2>/dev/null; then
        st=0; wait "${pids[$n]}" || st=$?
        report "$n" "$st"; unset "pids[$n]"
      fi
    done
  done
  run_one "$name" &
  pids[$name]=$!
done
for n in "${!pids[@]}"; do
  st=0; wait "${pids[$n]}" || st=$?
  report "$n" "$st"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED targets: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets clean (${seconds}s each)" >&2

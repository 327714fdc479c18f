#!/usr/bin/env python3
"""
@file python_verify.py
@brief ES256 verification from Python, side by side in one run. JSON lines {"bench","ops_per_sec","baseline","ratio"}:
  - python_cotter_verify      cotter.Verifier.verify (claims object), vs PyJWT (+cryptography) on the same token;
  - python_cotter_vs_c_raw    the same figure vs the raw OpenSSL loop of bench/verify_bench (if a built binary is
                              found: build/*/bench/verify_bench); python_cotter_vs_c_abi vs its C ABI loop;
  - python_cotter_verify_cached  token_cache_size=1024 (a hit), vs PyJWT;
  - python_cotter_threads2    two threads on one shared Verifier vs one thread (the GIL is released).
Targets (docs/python.md): >= 1.6x PyJWT, >= 0.90x the C loop, 2 threads >= 1.8x one.
Usage: build/venv/bin/python bench/python_verify.py [--verify-bench PATH] [--seconds S]
"""
from __future__ import annotations

import argparse
import glob
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/python"))  # the test-side token builder (cryptography), shared with tests

import jwt as pyjwt  # noqa: E402  (PyJWT)

import cotter  # noqa: E402
from jwt_tools import AUD, ISS, Key, jwks, make  # noqa: E402


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of `fn` over about `seconds` (batches of 50 between clock reads)."""
    n = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        for _ in range(50):
            fn()
        n += 50
        now = time.perf_counter()
        if now >= end:
            return n / (now - start)


def median_rates(fns: dict[str, Callable[[], object]], seconds: float, rounds: int) -> dict[str, float]:
    """Interleaved rounds so that machine noise hits every contender alike; the median of each."""
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(rate(fn, seconds))
    return {k: statistics.median(v) for k, v in samples.items()}


def threaded_rate(fn: Callable[[], object], threads: int, seconds: float) -> tuple[float, float]:
    """(calls per second, CPU seconds per wall second) with `threads` threads calling `fn`."""
    counts = [0] * threads
    stop = threading.Event()

    def work(i: int) -> None:
        while not stop.is_set():
            for _ in range(20):
                fn()
            counts[i] += 20

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start, cpu = time.perf_counter(), time.process_time()
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in ts:
        t.join()
    wall = time.perf_counter() - start
    return sum(counts) / wall, (time.process_time() - cpu) / wall


def c_loop_rates(path: Optional[str], round_ms: int) -> dict[str, float]:
    """ops/s of the C bench's lines (raw_openssl_verify, cotter_jwt_verify_claims...), one round run now, or {}."""
    candidates = [path] if path else sorted(glob.glob(str(ROOT / "build/*/bench/verify_bench")))
    for c in candidates:
        if c and Path(c).exists():
            out = subprocess.run([c, "1", str(round_ms)], capture_output=True, text=True, timeout=300).stdout
            rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            return {row["bench"]: float(row["ops_per_sec"]) for row in rows}
    return {}


def emit(bench: str, ops: float, baseline: str, base_ops: Optional[float], **extra: object) -> None:
    row = {"bench": bench, "ops_per_sec": round(ops), "baseline": baseline,
           "ratio": round(ops / base_ops, 3) if base_ops else None, **extra}
    print(json.dumps(row), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--verify-bench", help="path of the C bench binary (default: build/*/bench/verify_bench)")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    key = Key()
    token = make(key)
    doc = jwks(key)
    verifier = cotter.Verifier(AUD, jwks=doc)
    cached = cotter.Verifier(AUD, jwks=doc, token_cache_size=1024)
    pyjwk = pyjwt.PyJWK.from_json(json.dumps(key.jwk(alg="ES256")))
    assert verifier.verify(token).sub == pyjwt.decode(token, pyjwk, algorithms=["ES256"], audience=AUD, issuer=ISS)["sub"]

    rates = median_rates({
        "pyjwt": lambda: pyjwt.decode(token, pyjwk, algorithms=["ES256"], audience=AUD, issuer=ISS),
        "cotter": lambda: verifier.verify(token),
        "cotter_cached": lambda: cached.verify(token),
    }, args.seconds, args.rounds)
    emit("python_pyjwt_decode", rates["pyjwt"], "python_pyjwt_decode", rates["pyjwt"])
    emit("python_cotter_verify", rates["cotter"], "python_pyjwt_decode", rates["pyjwt"], target=1.6)
    # Against the C loops: rounds interleaved with the C bench (one round of it each time), medians of both, so
    # that a change in the machine's load hits both sides alike.
    py_samples: list[float] = []
    c_samples: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        py_samples.append(rate(lambda: verifier.verify(token), args.seconds))
        for name, ops in c_loop_rates(args.verify_bench, int(args.seconds * 1000)).items():
            c_samples.setdefault(name, []).append(ops)
    py_median = statistics.median(py_samples)
    if "raw_openssl_verify" in c_samples:  # the target: >= 0.90x the raw OpenSSL loop in C
        emit("python_cotter_vs_c_raw", py_median, "raw_openssl_verify", statistics.median(c_samples["raw_openssl_verify"]),
             target=0.90)
    if "cotter_jwt_verify_claims" in c_samples:  # the binding's own overhead over the C ABI
        emit("python_cotter_vs_c_abi", py_median, "cotter_jwt_verify_claims",
             statistics.median(c_samples["cotter_jwt_verify_claims"]))
    emit("python_cotter_verify_cached", rates["cotter_cached"], "python_pyjwt_decode", rates["pyjwt"])

    # cpu_per_wall shows whether the cores were free: with the GIL released, two threads use ~2.0 on an idle
    # 2-core machine; a busy machine caps both figures.
    one = max(threaded_rate(lambda: verifier.verify(token), 1, args.seconds) for _ in range(args.rounds))
    two = max(threaded_rate(lambda: verifier.verify(token), 2, args.seconds) for _ in range(args.rounds))
    emit("python_cotter_threads2", two[0], "python_cotter_threads1", one[0], target=1.8,
         cpu_per_wall_1=round(one[1], 2), cpu_per_wall_2=round(two[1], 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

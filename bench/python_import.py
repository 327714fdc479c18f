#!/usr/bin/env python3
"""
@file python_import.py
@brief `import cotter` wall time in a fresh interpreter (best of N), against the 50 ms target; `import requests`
and `import jwt` (PyJWT) measured the same way for scale. JSON lines {"bench","ops_per_sec","baseline","ratio","ms"}.
"""
from __future__ import annotations

import json
import subprocess
import sys

CODE = "import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"


def best_ms(module: str, runs: int = 15) -> float:
    return min(float(subprocess.run([sys.executable, "-c", CODE.format(m=module)], capture_output=True, text=True,
                                    check=True).stdout) for _ in range(runs)) * 1000


def main() -> int:
    target_ms = 50.0
    for module in ("cotter", "requests", "jwt"):
        ms = best_ms(module)
        print(json.dumps({"bench": f"python_import_{module}", "ops_per_sec": round(1000 / ms, 1),
                          "baseline": "target_50ms", "ratio": round(target_ms / ms, 2), "ms": round(ms, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""
@file python_refresh.py
@brief CPU per refresh grant from Python: cotter.Client.refresh vs `requests` doing the same POST
/token/<api_key_id> and JSON parse, against the emulator on loopback (keep-alive for both). Measures the
process CPU time (all threads) per call, so the server's time does not count.
JSON lines {"bench","ops_per_sec" (refreshes per CPU-second),"baseline","ratio","cpu_us_per_call"}.
Usage: build/venv/bin/python bench/python_refresh.py [--calls N]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict

import requests

import cotter

ROOT = Path(__file__).resolve().parents[1]


def cpu_per_call(fn: Callable[[], None], calls: int) -> float:
    for _ in range(20):  # warm-up: connections, caches
        fn()
    start = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - start) / calls


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=400)
    args = ap.parse_args()
    emu = subprocess.Popen(["node", str(ROOT / "emulator/bin/cotter-emulator.js"), "--port", "0"],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert emu.stdout is not None
        info: Dict[str, Any] = json.loads(emu.stdout.readline())

        def login() -> str:
            req = urllib.request.Request(info["dev_url"] + "/login", json.dumps({"identifier": "bench@example.com"}).encode(),
                                         {"Content-Type": "application/json", "X-Cotter-Dev-Token": info["dev_token"]})
            rt: str = json.load(urllib.request.urlopen(req))["oauth_token"]["refresh_token"]
            return rt

        client = cotter.Client(info["api_key_id"], base_url=info["base_url"])
        state = {"rt": login()}

        def with_cotter() -> None:
            state["rt"] = client.refresh(state["rt"]).refresh_token or ""

        session = requests.Session()
        url = f"{info['base_url']}/token/{info['api_key_id']}"
        headers = {"API_KEY_ID": info["api_key_id"], "Content-Type": "application/json"}
        state_r = {"rt": login()}

        def with_requests() -> None:
            r = session.post(url, json={"grant_type": "refresh_token", "refresh_token": state_r["rt"]}, headers=headers)
            r.raise_for_status()
            state_r["rt"] = r.json()["refresh_token"]

        rounds = [(cpu_per_call(with_cotter, args.calls), cpu_per_call(with_requests, args.calls)) for _ in range(3)]
        cot = sorted(r[0] for r in rounds)[1]
        req = sorted(r[1] for r in rounds)[1]
        print(json.dumps({"bench": "python_requests_refresh_cpu", "ops_per_sec": round(1 / req), "baseline": "python_requests_refresh_cpu",
                          "ratio": 1.0, "cpu_us_per_call": round(req * 1e6, 1)}))
        print(json.dumps({"bench": "python_cotter_refresh_cpu", "ops_per_sec": round(1 / cot), "baseline": "python_requests_refresh_cpu",
                          "ratio": round(req / cot, 3), "cpu_us_per_call": round(cot * 1e6, 1)}))
    finally:
        emu.terminate()
        emu.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

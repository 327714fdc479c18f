#!/usr/bin/env python3
"""
@file python_aio.py
@brief 1,000 concurrent refresh grants from asyncio, the emulator holding each response 100 ms (latency fault on
the refresh route): cotter.aio.AsyncClient.refresh vs aiohttp doing the same POST /token/<api_key_id> and JSON parse.
Both warm (a first batch opens the connections) and with the same connection cap: 1,000 (every grant on its own
connection: cotter max_host_connections=1000, aiohttp TCPConnector(limit=1000)), and 100 (aiohttp's default) as a
second row. Each library gets its own 1,000 fresh refresh tokens per batch (they rotate); rounds alternate the two
libraries. Reports wall time per batch (grants/s = 1000 / wall) and the client process's CPU time per grant.

JSON lines {"bench","ops_per_sec","baseline","ratio","wall_ms","cpu_us_per_grant"}: python_aiohttp_refresh_1000,
python_aio_refresh_1000 (ratio = its grants/s over aiohttp's; the target of issue 12 is >= 1.0), and the same with
the suffix _cap100.
Usage: build/venv/bin/python bench/python_aio.py [--rounds 5] [--concurrency 1000] [--latency-ms 100]
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import resource
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import aiohttp

from cotter import aio

ROOT = Path(__file__).resolve().parents[1]
ROUTE = "POST /api/v0/token/:api_key_id"


class Dev:
    """The emulator's /dev API over one keep-alive connection (logins are many)."""

    def __init__(self, dev_url: str, dev_token: str) -> None:
        u = urllib.parse.urlsplit(dev_url)
        self.token = dev_token
        self.prefix = u.path
        self.conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port)

    def post(self, path: str, body: Any) -> Any:
        self.conn.request("POST", self.prefix + path, json.dumps(body),
                          {"Content-Type": "application/json", "X-Cotter-Dev-Token": self.token})
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise RuntimeError(f"/dev{path}: HTTP {r.status} {data[:200]!r}")
        return json.loads(data)

    def refresh_tokens(self, n: int) -> List[str]:
        return [self.post("/login", {"identifier": f"bench{i % 50}@example.com"})["oauth_token"]["refresh_token"]
                for i in range(n)]


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def batch(grant: Callable[[str], Awaitable[str]], tokens: List[str]) -> Tuple[float, float]:
    """Runs every grant at once; returns (wall seconds, CPU seconds of this process)."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    new = await asyncio.gather(*(grant(rt) for rt in tokens))
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    if len(set(new)) != len(tokens) or any(not t for t in new):
        raise RuntimeError("a grant returned no new refresh token")
    return wall, cpu


async def run(info: Dict[str, Any], dev: Dev, rounds: int, n: int, latency_ms: int,
              cap: int) -> Dict[str, List[Tuple[float, float]]]:
    key = info["api_key_id"]
    client = aio.AsyncClient(key, base_url=info["base_url"], max_host_connections=cap)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=cap))
    url = f"{info['base_url']}/token/{key}"
    headers = {"API_KEY_ID": key}

    async def with_cotter(rt: str) -> str:
        return (await client.refresh(rt)).refresh_token or ""

    async def with_aiohttp(rt: str) -> str:
        async with session.post(url, json={"grant_type": "refresh_token", "refresh_token": rt}, headers=headers) as r:
            r.raise_for_status()
            body = await r.json()
        return str(body["refresh_token"])

    peers = {"cotter": with_cotter, "aiohttp": with_aiohttp}
    out: Dict[str, List[Tuple[float, float]]] = {name: [] for name in peers}
    try:
        for rnd in range(rounds + 1):  # round 0 warms up: connections, imports, caches
            order = list(peers) if rnd % 2 == 0 else list(reversed(peers))
            for name in order:
                tokens = dev.refresh_tokens(n)
                dev.post("/faults", {"route": ROUTE, "latency_ms": latency_ms, "count": n})
                result = await batch(peers[name], tokens)
                if rnd > 0:
                    out[name].append(result)
    finally:
        await session.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=1000)
    ap.add_argument("--latency-ms", type=int, default=100)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # 1,000 sockets per library
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    emu = subprocess.Popen(["node", str(ROOT / "emulator/bin/cotter-emulator.js"), "--port", "0"],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert emu.stdout is not None
        info: Dict[str, Any] = json.loads(emu.stdout.readline())
        dev = Dev(info["dev_url"], info["dev_token"])
        results = {cap: asyncio.run(run(info, dev, args.rounds, args.concurrency, args.latency_ms, cap))
                   for cap in (args.concurrency, 100)}
    finally:
        emu.terminate()
        emu.wait()
    n = args.concurrency
    for cap, per_peer in results.items():
        suffix = "" if cap == n else f"_cap{cap}"
        summary = {}
        for name, rows in per_peer.items():
            wall = statistics.median(r[0] for r in rows)
            cpu = statistics.median(r[1] for r in rows)
            summary[name] = (n / wall, wall, cpu / n)
        base = summary["aiohttp"][0]
        for name, bench in (("aiohttp", "python_aiohttp_refresh_1000"), ("cotter", "python_aio_refresh_1000")):
            ops, wall, cpu = summary[name]
            print(json.dumps({"bench": bench + suffix, "ops_per_sec": round(ops, 1),
                              "baseline": "python_aiohttp_refresh_1000" + suffix, "ratio": round(ops / base, 3),
                              "wall_ms": round(wall * 1000, 1), "cpu_us_per_grant": round(cpu * 1e6, 1),
                              "concurrency": n, "connections_cap": cap, "latency_ms": args.latency_ms}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""
@file worker.py
@brief The Python worker of the fleet test (tests/fleet/fleet.py; the contract is in the fleet brief, mirrored in
docs/python.md): asyncio, one AsyncRedisStore over redis.asyncio (Redis or RedisCluster as COTTER_FLEET_REDIS
says), COTTER_FLEET_SESSIONS sessions `fleet-<i>` loaded from the store, COTTER_FLEET_CONCURRENCY lanes calling
access_token() on random sessions for COTTER_FLEET_SECONDS. Prints `ready`, then one JSON line of counts; SIGTERM
stops it early with the same line. Exit status non-zero only for a setup failure (reason on stderr).
Run as `python3 tests/fleet/worker.py` with the cotter package (and redis-py) importable.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
from typing import Any, Dict, List, Tuple


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"{name} is not set")
    return value


def redis_client(url: str) -> Any:
    import redis.asyncio
    from redis.asyncio.cluster import ClusterNode

    if url.startswith("redis-cluster://"):
        nodes: List[Tuple[str, int]] = []
        for seed in url[len("redis-cluster://"):].split(","):
            host, _, port = seed.rpartition(":")
            nodes.append((host, int(port)))
        return redis.asyncio.RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes])
    return redis.asyncio.Redis.from_url(url)


async def main() -> int:
    import cotter
    import cotter.aio
    import cotter.redis

    try:
        base_url = env("COTTER_FLEET_BASE_URL")
        client = cotter.Client(env("COTTER_FLEET_API_KEY_ID"), env("COTTER_FLEET_API_SECRET_KEY"), base_url=base_url)
        r = redis_client(env("COTTER_FLEET_REDIS"))
        store = cotter.redis.AsyncRedisStore(r, key_prefix=env("COTTER_FLEET_PREFIX"),
                                             lease_ttl=int(env("COTTER_FLEET_LEASE_MS")) / 1000)
        n = int(env("COTTER_FLEET_SESSIONS"))
        seconds = float(env("COTTER_FLEET_SECONDS"))
        concurrency = int(env("COTTER_FLEET_CONCURRENCY"))
        margin = int(env("COTTER_FLEET_MARGIN"))
        pause = int(env("COTTER_FLEET_PAUSE_MS")) / 1000
        sessions = [await cotter.aio.AsyncTokenSession.create(client, shared_store=store,
                                                              shared_session_id=f"fleet-{i}", refresh_margin=margin)
                    for i in range(n)]
    except Exception as e:  # a setup failure: the only non-zero exit
        print(f"fleet worker setup failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return 1

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    calls, ok = 0, 0
    errors: Dict[str, int] = {}
    deadline = time.monotonic() + seconds
    print("ready", flush=True)

    async def lane() -> None:
        nonlocal calls, ok
        while not stop.is_set() and time.monotonic() < deadline:
            calls += 1
            try:
                token = await random.choice(sessions).access_token()
                if isinstance(token, str) and token.count(".") == 2:
                    ok += 1
                else:
                    name = "NOT_A_JWT"
                    errors[name] = errors.get(name, 0) + 1
            except Exception as e:
                name = getattr(e, "code", None) or type(e).__name__
                if name not in errors:  # the message names no token (the library's rule)
                    print(f"{name}: {e}", file=sys.stderr, flush=True)
                errors[name] = errors.get(name, 0) + 1
            if pause > 0:
                try:
                    await asyncio.wait_for(stop.wait(), pause)
                except asyncio.TimeoutError:
                    pass

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    print(json.dumps({"lang": "python", "pid": os.getpid(), "calls": calls, "ok": ok, "errors": errors}), flush=True)
    await store.aclose()
    await r.aclose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

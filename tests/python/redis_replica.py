"""
@file redis_replica.py
@brief One replica of test_redis_store.py's fleet (run as a subprocess, not collected by pytest): a client, a shared
store over redis-py (sync with threads, or asyncio with tasks; standalone or cluster), and the given sessions loaded
from Redis. Prints "ready", waits for a line on stdin (so every replica starts at once), then each lane reads every
session's access token (in its own order) and prints one JSON line: {"tokens": {session id: [tokens seen]}}.
"""
from __future__ import annotations

import asyncio
import json
import random
import sys
import threading
from typing import Any, Dict, List

import cotter
import cotter.aio
import cotter.redis


def sync_client(conf: Dict[str, Any]) -> Any:
    import redis

    if conf.get("cluster"):
        host, port = conf["cluster"][0].split(":")
        return redis.RedisCluster(host=host, port=int(port))
    return redis.Redis(unix_socket_path=conf["unix_socket"])


def async_client(conf: Dict[str, Any]) -> Any:
    import redis.asyncio

    if conf.get("cluster"):
        host, port = conf["cluster"][0].split(":")
        return redis.asyncio.RedisCluster(host=host, port=int(port))
    return redis.asyncio.Redis(unix_socket_path=conf["unix_socket"])


def client(conf: Dict[str, Any]) -> cotter.Client:
    return cotter.Client(conf["api_key_id"], conf["api_secret_key"], base_url=conf["base_url"])


WAITS: Dict[str, int] = {}  # how the store's waits ended (pub/sub wake-ups, timeouts, failures)


def record(seen: Dict[str, List[str]], sid: str, token: str) -> None:
    seen.setdefault(sid, []).append(token)


def run_sync(conf: Dict[str, Any]) -> Dict[str, List[str]]:
    store = cotter.redis.RedisStore(sync_client(conf), key_prefix=conf["prefix"], workers=4)
    c = client(conf)
    sessions = {sid: cotter.TokenSession(c, shared_store=store, shared_session_id=sid,
                                         refresh_margin=conf["margin"]) for sid in conf["sessions"]}
    print("ready", flush=True)
    sys.stdin.readline()
    seen: Dict[str, List[str]] = {}
    lock = threading.Lock()

    def lane(seed: int) -> None:
        order = list(sessions)
        random.Random(seed).shuffle(order)
        for sid in order:
            t = sessions[sid].access_token()
            with lock:
                record(seen, sid, t)

    threads = [threading.Thread(target=lane, args=(i,)) for i in range(conf["lanes"])]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    store.close()
    WAITS.update(store.wait_stats)
    return seen


async def run_async(conf: Dict[str, Any]) -> Dict[str, List[str]]:
    r = async_client(conf)
    async with cotter.redis.AsyncRedisStore(r, key_prefix=conf["prefix"]) as store:
        c = client(conf)
        sessions = {sid: await cotter.aio.AsyncTokenSession.create(c, shared_store=store, shared_session_id=sid,
                                                                   refresh_margin=conf["margin"])
                    for sid in conf["sessions"]}
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        seen: Dict[str, List[str]] = {}

        async def lane(seed: int) -> None:
            order = list(sessions)
            random.Random(seed).shuffle(order)
            for sid in order:
                record(seen, sid, await sessions[sid].access_token())

        await asyncio.gather(*(lane(i) for i in range(conf["lanes"])))
        WAITS.update(store.wait_stats)
    await r.aclose()
    return seen


def main() -> None:
    conf = json.loads(sys.argv[1])
    seen = asyncio.run(run_async(conf)) if conf["mode"] == "async" else run_sync(conf)
    print(json.dumps({"tokens": seen, "waits": WAITS}), flush=True)


if __name__ == "__main__":
    main()

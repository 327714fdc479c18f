"""
@file test_redis_store.py
@brief cotter.redis: sessions shared by a fleet through a real redis-server (started here; standalone over a Unix
socket, and a 3-master cluster), the emulator counting the refresh grants. Token expiry is driven without clocks:
each round's replicas use a refresh margin wider than the lifetime of the tokens they find (so each session needs
exactly one refresh) and narrower than that of the tokens the emulator issues in that round (so those stay fresh).
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import pytest
import redis
import redis.asyncio

import cotter
import cotter.aio
import cotter.redis

HERE = Path(__file__).resolve().parent
GRANTS = "POST /api/v0/token/:api_key_id"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server (scripts/install-deps.sh)")


def _wait_until(check: Any, what: str, limit: float = 60.0) -> None:
    """Polls `check` (a start-up bound, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.02)


class RedisServer:
    """A redis-server without persistence on a Unix socket (and a TCP port when asked), killed by stop()."""

    def __init__(self, directory: Path, *extra: str, port: int = 0) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.socket = str(directory / "redis.sock")
        self.port = port
        guard = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []
        self.proc = subprocess.Popen(
            [*guard, "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--unixsocket", self.socket,
             "--save", "", "--appendonly", "no", "--dir", str(directory), "--enable-debug-command", "yes", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.admin = redis.Redis(unix_socket_path=self.socket)

        def up() -> bool:
            try:
                return bool(self.admin.ping())
            except redis.ConnectionError:
                return False

        _wait_until(up, "redis-server")

    def scripts_run(self) -> int:
        """EVALSHA + EVAL calls so far (INFO commandstats)."""
        stats = self.admin.info("commandstats")
        return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))

    def stop(self) -> None:
        self.admin.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _free_port() -> int:
    """A port free now whose cluster bus port (+10000) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[List[RedisServer]]:
    base = tmp_path_factory.mktemp("cluster")
    nodes: List[RedisServer] = []
    try:
        for i in range(3):
            port = _free_port()
            nodes.append(RedisServer(base / f"n{i}", "--cluster-enabled", "yes", "--cluster-config-file",
                                     str(base / f"nodes-{port}.conf"), port=port))
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=120)
        for n in nodes:
            _wait_until(lambda: b"cluster_state:ok" in n.admin.execute_command("CLUSTER", "INFO"), "cluster_state:ok")
        yield nodes
    finally:
        for n in nodes:
            n.stop()


def _login(emulator: Any, who: str) -> cotter.Token:
    return cotter.Token.from_dict(emulator.login(who)["oauth_token"])


def _seed_session_behind_a_foreign_lease(emulator: Any, client: cotter.Client, redis_server: RedisServer, prefix: str,
                                         sid: str, who: str) -> None:
    """A shared session whose tokens are due (10 s access TTL) and whose lease another replica holds for 10 min:
    a session that uses it waits (for a message on its channel, or the lease's end)."""
    emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})
    with cotter.redis.RedisStore(redis.Redis(unix_socket_path=redis_server.socket), key_prefix=prefix,
                                 pubsub=False) as seeder:
        cotter.TokenSession(client, token=_login(emulator, who), shared_store=seeder, shared_session_id=sid).close()
    redis_server.admin.set(f"{prefix}:{{{sid}}}:lease", "someone-else", px=600000)


def _seed(emulator: Any, client: cotter.Client, store: cotter.redis.SharedStore, ids: List[str]) -> None:
    """Stores a fresh login for each id (access tokens that live 10 s: stale for any margin above that)."""
    emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": len(ids)})
    for sid in ids:
        cotter.TokenSession(client, token=_login(emulator, f"{sid}@example.com"), shared_store=store,
                            shared_session_id=sid).close()


WAITS_SEEN: List[Dict[str, int]] = []  # every replica's wait_stats (printed by -s runs: what pub/sub did)


def _replicas(conf: Dict[str, Any], modes: List[str]) -> List[Dict[str, List[str]]]:
    """Runs one replica process per mode, all released at once; returns what each saw. No replica's wait failed:
    its pub/sub subscriber (standalone or cluster) stayed connected."""
    procs = [subprocess.Popen([sys.executable, str(HERE / "redis_replica.py"), json.dumps({**conf, "mode": m})],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for m in modes]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        out = []
        for p in procs:
            stdout, _ = p.communicate(timeout=300)
            assert p.returncode == 0
            result = json.loads(stdout.strip().splitlines()[-1])
            assert result["waits"].get("failed", 0) == 0, result["waits"]
            out.append(result["tokens"])
            WAITS_SEEN.append(result["waits"])
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _contention(emulator: Any, client: cotter.Client, store: cotter.redis.SharedStore, conf: Dict[str, Any]) -> None:
    """Two expiries of every session, each met by 3 replicas (threads and asyncio tasks) at once: exactly one
    refresh grant per session per expiry, every caller of a round gets the same token, no login revoked."""
    ids: List[str] = conf["sessions"]
    _seed(emulator, client, store, ids)
    previous: Dict[str, str] = {}
    # (the margin the replicas use, the lifetime of the tokens issued during the round)
    for margin, ttl in ((100, 1000), (5000, 20000)):
        emulator.dev("/expire_tokens", {"next_access_ttl": ttl, "count": 1000000})
        emulator.dev("/stats/reset", {})
        seen = _replicas({**conf, "margin": margin, "lanes": 3}, ["sync", "async", "sync"])
        stats = emulator.dev("/stats")
        assert stats["requests"].get(GRANTS, 0) == len(ids), f"margin {margin}: one grant per session"
        assert stats["refresh_families_revoked"] == 0
        for sid in ids:
            tokens = {t for replica in seen for t in replica[sid]}
            assert len(tokens) == 1, f"{sid}: every replica got the one refreshed token"
            token = tokens.pop()
            assert token.count(".") == 2 and token != previous.get(sid)
            previous[sid] = token
    emulator.dev("/expire_tokens", {"next_access_ttl": 3600, "count": 1})


def test_fleet_standalone_one_grant_per_expiry(emulator: Any, client: cotter.Client,
                                               redis_server: RedisServer) -> None:
    ids = [f"std-{i}" for i in range(12)]
    with cotter.redis.RedisStore(redis.Redis(unix_socket_path=redis_server.socket), key_prefix="t1") as store:
        _contention(emulator, client, store, {
            "sessions": ids, "prefix": "t1", "unix_socket": redis_server.socket, "base_url": emulator.base_url,
            "api_key_id": emulator.api_key_id, "api_secret_key": emulator.api_secret_key})
    assert redis_server.admin.hget(f"t1:{{{ids[0]}}}:tokens", "v") == b"3"  # seeded, then two refreshes


def test_fleet_cluster_one_grant_per_expiry(emulator: Any, client: cotter.Client,
                                            redis_cluster: List[RedisServer]) -> None:
    ids = [f"cl-{i}" for i in range(12)]
    seeds = [f"127.0.0.1:{n.port}" for n in redis_cluster]
    rc = redis.RedisCluster(host="127.0.0.1", port=redis_cluster[0].port)
    try:
        with cotter.redis.RedisStore(rc, key_prefix="t4") as store:
            _contention(emulator, client, store, {
                "sessions": ids, "prefix": "t4", "cluster": seeds, "base_url": emulator.base_url,
                "api_key_id": emulator.api_key_id, "api_secret_key": emulator.api_secret_key})
    finally:
        rc.close()
    holding = [n for n in redis_cluster if n.admin.dbsize() > 0]
    assert len(holding) >= 2, "the sessions spread over the cluster's masters"


def test_valid_cached_token_costs_no_redis_command(emulator: Any, client: cotter.Client,
                                                   redis_server: RedisServer) -> None:
    with cotter.redis.RedisStore(redis.Redis(unix_socket_path=redis_server.socket), key_prefix="t2") as store:
        seeded = cotter.TokenSession(client, token=_login(emulator, "cached@example.com"), shared_store=store,
                                     shared_session_id="cached")
        s = cotter.TokenSession(client, shared_store=store, shared_session_id="cached")  # loads: 1 script
        token = s.access_token()
        before = redis_server.scripts_run()
        for _ in range(50):
            assert s.access_token() == token
            assert seeded.access_token() == token

        async def many() -> None:
            a = cotter.aio.AsyncTokenSession(client, shared_store=store, shared_session_id="cached")
            for _ in range(50):
                assert await a.access_token() == token

        asyncio.run(many())
        # The async session's first load was one script: everything else came from memory.
        assert redis_server.scripts_run() - before == 1
        # ... and the count does move when Redis is needed (a forced refresh: acquire + save).
        s.refresh()
        assert redis_server.scripts_run() - before >= 3


_NO_RETRY = redis.retry.Retry(redis.backoff.NoBackoff(), 0)
_NO_ASYNC_RETRY = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0)


def test_redis_down_serves_cached_and_fails_refresh_with_stable_code(
        emulator: Any, client: cotter.Client, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "down")
    try:
        # No retries in redis-py: its default (redis-py 8: 10 retries, backoff up to 1 s) only delays each failure
        # by seconds (this test took 8 s with it); what the store makes of a failure is the same.
        r = redis.Redis(unix_socket_path=server.socket, socket_timeout=30, retry=_NO_RETRY)
        with cotter.redis.RedisStore(r, key_prefix="t3") as store:
            fresh = _login(emulator, "down-fresh@example.com")
            s = cotter.TokenSession(client, token=fresh, shared_store=store, shared_session_id="fresh")
            emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})
            stale = cotter.TokenSession(client, token=_login(emulator, "down-stale@example.com"),
                                        shared_store=store, shared_session_id="stale")
            server.stop()  # Redis is gone (its socket file too)
            emulator.dev("/stats/reset", {})
            assert s.access_token() == fresh.access_token  # still valid: served from memory
            with pytest.raises(cotter.SharedStoreUnavailable) as e:
                stale.access_token()  # needs a refresh: never a local one
            assert e.value.code == "COTTER_ESHARED_UNAVAILABLE"
            with pytest.raises(cotter.SharedStoreUnavailable):
                s.refresh()
            assert fresh.refresh_token not in str(e.value) and fresh.access_token not in str(e.value)
            assert emulator.dev("/stats")["requests"].get(GRANTS, 0) == 0
    finally:
        server.stop()


def test_async_store_down_fails_with_stable_code(emulator: Any, client: cotter.Client, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "adown")

    async def main() -> None:
        r = redis.asyncio.Redis(unix_socket_path=server.socket, retry=_NO_ASYNC_RETRY)  # as above
        async with cotter.redis.AsyncRedisStore(r, key_prefix="t5") as store:
            emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})
            s = await cotter.aio.AsyncTokenSession.create(client, token=_login(emulator, "adown@example.com"),
                                                          shared_store=store, shared_session_id="a")
            with pytest.raises(cotter.InvalidArgument):  # would block the loop that serves the store
                cotter.aio.AsyncTokenSession(client, shared_store=store, shared_session_id="a")
            server.stop()
            with pytest.raises(cotter.SharedStoreUnavailable):
                await s.access_token()
        await r.aclose()

    try:
        asyncio.run(main())
    finally:
        server.stop()


def test_closed_store_fails_and_repr_hides_tokens(emulator: Any, client: cotter.Client,
                                                  redis_server: RedisServer) -> None:
    store = cotter.redis.RedisStore(redis.Redis(unix_socket_path=redis_server.socket), key_prefix="t6")
    t = _login(emulator, "closed@example.com")
    s = cotter.TokenSession(client, token=t, shared_store=store, shared_session_id="c")
    assert t.access_token not in repr(s) and "shared_session_id='c'" in repr(s)
    store.close()
    with pytest.raises(cotter.SharedStoreUnavailable):
        s.refresh()
    with pytest.raises(cotter.InvalidArgument):
        cotter.redis.RedisStore(redis.Redis(unix_socket_path=redis_server.socket), key_prefix="bad{prefix}")
    with pytest.raises(cotter.InvalidArgument):
        cotter.redis.RedisStore(redis.Redis(unix_socket_path=redis_server.socket), lease_ttl=0.01)
    with pytest.raises(cotter.InvalidArgument):
        cotter.TokenSession(client, shared_store=store, shared_session_id="has{brace}")
    with pytest.raises(cotter.InvalidArgument):  # one storage only
        cotter.TokenSession(client, shared_store=store, shared_session_id="c", storage=_Memory())
    with pytest.raises(cotter.InvalidArgument):
        cotter.TokenSession(client, shared_store=store)  # no id


class _Memory:
    def load(self) -> None:
        return None

    def save(self, token_json: Any) -> None:
        pass


def test_store_and_sessions_freed_in_any_order(emulator: Any, client: cotter.Client,
                                               redis_server: RedisServer) -> None:
    import gc

    def workers() -> Set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("cotter-redis-")}

    # By identity: the workers of an earlier test's store may still be ending.
    before = workers()
    store = cotter.redis.RedisStore(redis.Redis(unix_socket_path=redis_server.socket), key_prefix="t7", workers=2)
    mine = workers() - before
    assert len(mine) == 3  # 2 workers and the pub/sub subscriber
    s = cotter.TokenSession(client, token=_login(emulator, "order@example.com"), shared_store=store,
                            shared_session_id="o")
    del store
    gc.collect()
    old = s.access_token()
    assert s.refresh().access_token != old  # the session kept its store open
    s2 = cotter.TokenSession(client, shared_store=s.shared_store, shared_session_id="o")
    s.close()
    del s
    gc.collect()
    assert s2.access_token() != old
    s2.close()
    del s2
    gc.collect()  # the last user is gone: the store closes and its workers end
    _wait_until(lambda: not any(t.is_alive() for t in mine), "the store's workers to end")


def test_hiredis_store_shares_one_refresh(emulator: Any, client: cotter.Client, redis_server: RedisServer,
                                         tmp_path: Path) -> None:
    """The library's own hiredis adapter (no redis-py): sessions of two clients share one refresh; a redis-py
    store sees the same keys; Redis gone: SharedStoreUnavailable."""
    store = cotter.redis.HiredisStore(unix_socket=redis_server.socket, key_prefix="t8", password=None)
    assert "t8" in repr(store)
    emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})
    t = _login(emulator, "hiredis@example.com")
    other = cotter.Client(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url)
    a = cotter.TokenSession(client, token=t, shared_store=store, shared_session_id="h")
    b = cotter.TokenSession(other, shared_store=store, shared_session_id="h")
    emulator.dev("/stats/reset", {})
    tokens: List[str] = []
    threads = [threading.Thread(target=lambda s=s: tokens.append(s.access_token())) for s in (a, b) * 4]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(tokens)) == 1 and tokens[0] != t.access_token
    assert emulator.dev("/stats")["requests"].get(GRANTS, 0) == 1
    with cotter.redis.RedisStore(redis.Redis(unix_socket_path=redis_server.socket), key_prefix="t8") as py_store:
        assert cotter.TokenSession(client, shared_store=py_store, shared_session_id="h").access_token() == tokens[0]
    gone = cotter.redis.HiredisStore(unix_socket=str(tmp_path / "no-redis.sock"), password="hunter2")
    assert "hunter2" not in repr(gone)
    with pytest.raises(cotter.SharedStoreUnavailable):
        cotter.TokenSession(client, token=t, shared_store=gone, shared_session_id="h")


EXIT_SCRIPT = r"""
import asyncio, sys, threading
import redis, redis.asyncio
import cotter, cotter.aio, cotter.redis

conf = {conf}
c = cotter.Client(conf["api_key_id"], conf["api_secret_key"], base_url=conf["base_url"])
token = cotter.Token.from_dict(conf["token"])
admin = redis.Redis(unix_socket_path=conf["socket"])

def stall():
    # From now on Redis holds every script (CLIENT PAUSE WRITE, 10 minutes: the test kills it long before), while
    # the rest (a connection's handshake, PING) still runs: the eval is sent and stays unanswered, and nothing else
    # waits for Redis. (A DEBUG SLEEP held the handshake of the eval's connection too: redis-py then ended the
    # cancelled eval only when Redis woke up, and the exit waited out the sleep.)
    admin.execute_command("CLIENT", "PAUSE", "600000", "WRITE")

if conf["mode"] == "sync":
    sent = threading.Event()
    class Client(redis.Redis):
        def evalsha(self, *a, **k):
            sent.set()
            return super().evalsha(*a, **k)
    store = cotter.redis.RedisStore(Client(unix_socket_path=conf["socket"], socket_timeout=None))
    s = cotter.TokenSession(c, token=token, shared_store=store, shared_session_id="exit")
    sent.clear()
    stall()
    threading.Thread(target=s.refresh, daemon=True).start()
    sent.wait()
else:
    async def main():
        sent = asyncio.Event()
        class Client(redis.asyncio.Redis):
            async def evalsha(self, *a, **k):
                sent.set()
                return await super().evalsha(*a, **k)
        # No socket timeout: with one, redis-py on Python < 3.12 can miss the loop's cancellation of an eval it has
        # just sent (asyncio.wait_for around the send) and retries its timeouts: a 60 s exit (10 x 5 s by default).
        store = cotter.redis.AsyncRedisStore(Client(unix_socket_path=conf["socket"], socket_timeout=None))
        s = await cotter.aio.AsyncTokenSession.create(c, token=token, shared_store=store, shared_session_id="exit")
        sent.clear()
        stall()
        task = asyncio.ensure_future(s.refresh())
        await sent.wait()
        if conf["mode"] == "async-loop-left":
            return  # asyncio.run cancels the refresh and the eval
        sys.exit(0)  # the interpreter exits from inside the running loop
    asyncio.run(main())
print("exiting", flush=True)
"""


@pytest.mark.parametrize("mode", ["sync", "async-loop-left", "async-exit-in-loop"])
def test_interpreter_exit_with_evals_in_flight(emulator: Any, tmp_path: Path, mode: str) -> None:
    server = RedisServer(tmp_path / "exit")
    try:
        conf = {"mode": mode, "socket": server.socket, "base_url": emulator.base_url,
                "api_key_id": emulator.api_key_id, "api_secret_key": emulator.api_secret_key,
                "token": emulator.login("exit@example.com")["oauth_token"]}
        # The bound is a hang detector (Redis holds the script for 10 minutes), not a timing assertion.
        p = subprocess.run([sys.executable, "-c", EXIT_SCRIPT.replace("{conf}", repr(conf))], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert "Fatal" not in p.stderr and "terminate called" not in p.stderr
    finally:
        server.stop()


SPIN_SCRIPT = r"""
import threading
import cotter._native as n
q = n.EvalQueue(True)
spinning = [threading.Event() for _ in range(4)]
def spin(ready):
    while True:
        q.close("closed")  # releases the GIL for the completion, every time
        ready.set()
for e in spinning:
    threading.Thread(target=spin, args=(e,), daemon=True).start()
for e in spinning:
    e.wait()  # every thread is in its loop: the interpreter exits under them
"""


def test_exit_while_daemon_threads_complete_evals() -> None:
    """Regression: a store's daemon worker that released the GIL to complete an eval took it back during
    finalization, inside C++ frames: std::terminate (4 threads in a loop aborted every run before the fix)."""
    for _ in range(3):
        p = subprocess.run([sys.executable, "-c", SPIN_SCRIPT], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr



BUSY_EXIT_SCRIPT = r"""
import json, os, sys, threading
import redis
import cotter, cotter.redis

conf = {conf}
N = 4  # callers, and as many threads creating sessions


def scenario():
    # Everything is made after the fork: the child starts with no thread but this one.
    client = cotter.Client(conf["api_key_id"], conf["api_secret_key"], base_url=conf["base_url"])
    token = cotter.Token.from_dict(conf["token"])  # its access token is stale for refresh_margin=100
    held = threading.Semaphore(0)

    class HeldClient(redis.Redis):
        armed = False

        def evalsha(self, *a, **k):  # once armed, a script stays in flight: its worker waits here for good
            if HeldClient.armed:
                held.release()
                threading.Event().wait()
            return super().evalsha(*a, **k)

    store = cotter.redis.RedisStore(HeldClient(unix_socket_path=conf["socket"]), workers=2 * N, pubsub=False)
    sessions = [cotter.TokenSession(client, token=token, shared_store=store, shared_session_id=f"s{i}",
                                    refresh_margin=100) for i in range(N)]
    HeldClient.armed = True

    def caller(s):  # a worker that retries on every error: its calls go on while the interpreter exits
        while True:
            try:
                s.access_token()
            except cotter.CotterError:
                pass

    def creator(i):  # a session made while the interpreter exits (its first read of Redis is held too)
        while True:
            try:
                cotter.TokenSession(client, shared_store=store, shared_session_id=f"c{i}", refresh_margin=100)
            except cotter.CotterError:
                pass

    for i, s in enumerate(sessions):
        threading.Thread(target=caller, args=(s,), daemon=True).start()
        threading.Thread(target=creator, args=(i,), daemon=True).start()
    for _ in range(2 * N):
        held.acquire()  # every caller and creator waits for a script in flight: exit now


statuses = []
for _ in range(conf["runs"]):
    pid = os.fork()
    if pid == 0:
        scenario()
        break  # this child's interpreter exits now, its daemon threads inside sync calls
    statuses.append(os.waitpid(pid, 0)[1])
else:
    print(json.dumps(statuses), flush=True)
"""


def test_exit_with_daemon_threads_busy_in_sync_calls(emulator: Any, tmp_path: Path) -> None:
    """Regression (issue 17): daemon threads blocked in sync session calls over a RedisStore, and looping on them,
    while the interpreter exits. Each of 20 forked children exits with 4 threads waiting in access_token() and 4 in
    TokenSession() (each on a script held in flight), all of them retrying on errors. Before the fix, every run
    aborted: a daemon thread ended by CPython (pthread_exit) while it took the GIL back in a destructor, or while it
    built the CotterError inside pybind11's catch handlers, met std::terminate."""
    server = RedisServer(tmp_path / "busy")
    try:
        emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})
        conf = {"runs": 20, "socket": server.socket, "base_url": emulator.base_url,
                "api_key_id": emulator.api_key_id, "api_secret_key": emulator.api_secret_key,
                "token": emulator.login("busy@example.com")["oauth_token"]}
        # The bound is a hang detector, not a timing assertion.
        p = subprocess.run([sys.executable, "-c", BUSY_EXIT_SCRIPT.replace("{conf}", repr(conf))],
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr
        statuses = json.loads(p.stdout)
        assert statuses == [0] * 20, (statuses, p.stderr)  # a wait status: 0 = exited with 0, no signal
        assert "terminate" not in p.stderr and "Fatal" not in p.stderr and "FATAL" not in p.stderr, p.stderr
    finally:
        server.stop()

# --- Waiters woken by the session's `…:changed` message (adapter version 2: RedisStore(pubsub=True)) -----------

class _HeldSaveClient(redis.Redis):
    """The holder's client: once armed, a script that carries a token set (the holder's `save`) waits for `release`
    before it is sent, so the lease stays held while the losers wait."""

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.armed = False
        self.holding = threading.Event()
        self.release = threading.Event()

    def _hold(self, args: Any) -> None:
        if self.armed and any(isinstance(x, bytes) and b"access_token" in x for x in args):
            self.holding.set()
            self.release.wait()

    def evalsha(self, *args: Any) -> Any:  # type: ignore[override]
        self._hold(args)
        return super().evalsha(*args)

    def eval(self, *args: Any) -> Any:  # type: ignore[override]
        self._hold(args)
        return super().eval(*args)


class _DeadPubSubRedis(redis.Redis):
    """A client whose pub/sub connection can never be made: every wait fails (at once: no reconnect backoff)."""

    class _DeadPubSub:
        def subscribe(self, *channels: Any) -> None:
            raise redis.ConnectionError("the test's pub/sub connection is refused")

        def close(self) -> None:
            pass

    def pubsub(self, **kwargs: Any) -> Any:
        return self._DeadPubSub()


def _contended_with_held_save(emulator: Any, redis_server: RedisServer, prefix: str, subscriber: str) -> None:
    """A holder refreshes with its save held; 4 losers (own clients and sessions, one pub/sub store) find the lease
    held and wait. While they wait, the test publishes on the channel (a loser woken finds the lease still held and
    waits again: proves the wake-up is the message's); `subscriber` "killed": first CLIENT KILL of the subscriber
    connection (redis-py subscribes again, messages wake again), "dead": its connection can never be made (every
    wait fails, the losers poll). Then the save goes on: one grant, every loser ends with the holder's new token."""
    sid = "w"
    channel = f"{prefix}:{{{sid}}}:changed"
    emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})
    seed = _login(emulator, "waiter@example.com")
    emulator.dev("/expire_tokens", {"next_access_ttl": 3600, "count": 1000000})
    held = _HeldSaveClient(unix_socket_path=redis_server.socket)
    losers_redis = (_DeadPubSubRedis if subscriber == "dead" else redis.Redis)(unix_socket_path=redis_server.socket)

    def new_client() -> cotter.Client:
        return cotter.Client(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url)

    # The holder's lease outlives any hold of this test (a loser must never take it over: one grant).
    with cotter.redis.RedisStore(held, key_prefix=prefix, pubsub=False, lease_ttl=600) as hstore, \
            cotter.redis.RedisStore(losers_redis, key_prefix=prefix, wait=10) as store:
        holder = cotter.TokenSession(new_client(), token=seed, shared_store=hstore, shared_session_id=sid,
                                     refresh_margin=100)  # the seed's 10 s token is stale for a 100 s margin
        losers = [cotter.TokenSession(new_client(), shared_store=store, shared_session_id=sid, refresh_margin=100)
                  for _ in range(4)]
        emulator.dev("/stats/reset", {})
        held.armed = True
        got: Dict[str, str] = {}
        errors: List[BaseException] = []

        def run(name: str, s: cotter.TokenSession) -> None:
            try:
                got[name] = s.access_token()
            except BaseException as e:  # reported by the assertion below
                errors.append(e)

        threads = [threading.Thread(target=run, args=("holder", holder))]
        threads[0].start()
        assert held.holding.wait(120), "the holder reached its save"
        threads += [threading.Thread(target=run, args=(f"loser{i}", s)) for i, s in enumerate(losers)]
        for th in threads[1:]:
            th.start()
        if subscriber == "dead":
            _wait_until(lambda: store.wait_stats["failed"] >= 4, "the losers' failed waits")
        else:
            _wait_until(lambda: redis_server.admin.pubsub_numsub(channel)[0][1] >= 1, "the losers' subscription")
        if subscriber == "killed":
            # The waits on it fail, or redis-py reconnects and subscribes again (they then end by message or bound).
            assert redis_server.admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub") >= 1
            _wait_until(lambda: redis_server.admin.pubsub_numsub(channel)[0][1] >= 1, "a subscription again")
        before = store.wait_stats

        # Only the test publishes while the save is held: a wake-up counted now is this message's.
        def woken() -> bool:
            redis_server.admin.publish(channel, "0")
            return store.wait_stats["woken"] > before["woken"]

        if subscriber != "dead":
            _wait_until(woken, "a waiter woken by the test's message")
        if subscriber == "alive":
            assert store.wait_stats["failed"] == 0
        assert "holder" not in got, "the holder's save was still held"
        held.release.set()
        for th in threads:
            th.join(300)
        assert not errors, errors
        assert len(got) == 5 and len(set(got.values())) == 1 and got["holder"] != seed.access_token
        assert emulator.dev("/stats")["requests"].get(GRANTS, 0) == 1
        assert emulator.dev("/stats")["refresh_families_revoked"] == 0
        if subscriber == "dead":
            assert store.wait_stats["woken"] == 0
        if subscriber == "alive":
            assert store.wait_stats["failed"] == 0
            # The channel lingers subscribed after its last waiter (no SUBSCRIBE race next time).
            assert redis_server.admin.pubsub_numsub(channel)[0][1] == 1


def test_waiters_woken_by_message(emulator: Any, redis_server: RedisServer) -> None:
    _contended_with_held_save(emulator, redis_server, "w1", "alive")


def test_waiters_survive_killed_subscriber(emulator: Any, redis_server: RedisServer) -> None:
    _contended_with_held_save(emulator, redis_server, "w2", "killed")


def test_failed_waits_fall_back_to_polling(emulator: Any, redis_server: RedisServer) -> None:
    _contended_with_held_save(emulator, redis_server, "w4", "dead")


def test_async_waiters_woken_by_message(emulator: Any, redis_server: RedisServer) -> None:
    """The asyncio twin: a sync holder with its save held, 4 async losers on one AsyncRedisStore (one pub/sub
    connection read by a task of the loop) woken by the test's message, then the holder's token for all."""
    prefix, sid = "w3", "w"
    channel = f"{prefix}:{{{sid}}}:changed"
    emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})
    seed = _login(emulator, "async-waiter@example.com")
    emulator.dev("/expire_tokens", {"next_access_ttl": 3600, "count": 1000000})
    held = _HeldSaveClient(unix_socket_path=redis_server.socket)

    def new_client() -> cotter.Client:
        return cotter.Client(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url)

    async def numsub() -> int:
        return int((await asyncio.to_thread(redis_server.admin.pubsub_numsub, channel))[0][1])

    async def until(check: Any, what: str) -> None:
        for _ in range(3000):  # a hang detector, not a timing assertion
            if await check():
                return
            await asyncio.sleep(0.02)
        raise RuntimeError(f"timed out waiting for {what}")

    with cotter.redis.RedisStore(held, key_prefix=prefix, pubsub=False, lease_ttl=600) as hstore:
        holder = cotter.TokenSession(new_client(), token=seed, shared_store=hstore, shared_session_id=sid,
                                     refresh_margin=100)
        emulator.dev("/stats/reset", {})
        held.armed = True
        got: Dict[str, str] = {}
        th = threading.Thread(target=lambda: got.__setitem__("holder", holder.access_token()))
        th.start()
        assert held.holding.wait(120), "the holder reached its save"

        async def main() -> List[str]:
            r = redis.asyncio.Redis(unix_socket_path=redis_server.socket)
            async with cotter.redis.AsyncRedisStore(r, key_prefix=prefix, wait=10) as store:
                losers = [await cotter.aio.AsyncTokenSession.create(new_client(), shared_store=store,
                                                                    shared_session_id=sid, refresh_margin=100)
                          for _ in range(4)]
                tasks = [asyncio.ensure_future(s.access_token()) for s in losers]
                await until(lambda: _ge(numsub(), 1), "the losers' subscription")
                before = store.wait_stats["woken"]

                async def woken() -> bool:
                    await asyncio.to_thread(redis_server.admin.publish, channel, "0")
                    return store.wait_stats["woken"] > before

                await until(woken, "a waiter woken by the test's message")
                assert not any(t.done() for t in tasks), "the holder's save was still held"
                held.release.set()
                tokens = list(await asyncio.gather(*tasks))
                assert store.wait_stats["failed"] == 0
                assert await numsub() == 1  # lingering after the last waiter
            await r.aclose()
            return tokens

        tokens = asyncio.run(main())
        th.join(300)
    assert set(tokens) == {got["holder"]} and got["holder"] != seed.access_token
    assert emulator.dev("/stats")["requests"].get(GRANTS, 0) == 1


async def _ge(value: Any, n: int) -> bool:
    return int(await value) >= n


# The start of the exit scripts: session "x" stored, and its refresh lease held by another replica (for 600 s), so
# the losers the scripts start find it held and wait.
_LOSERS_PREAMBLE = r"""
import asyncio, sys, threading, time
import redis, redis.asyncio
import cotter, cotter.aio, cotter.redis

conf = {conf}
def new_client():
    return cotter.Client(conf["api_key_id"], conf["api_secret_key"], base_url=conf["base_url"])
admin = redis.Redis(unix_socket_path=conf["socket"])
channel = "cotter:{x}:changed"

token = cotter.Token.from_dict(conf["token"])
with cotter.redis.RedisStore(redis.Redis(unix_socket_path=conf["socket"]), pubsub=False) as seeder:
    cotter.TokenSession(new_client(), token=token, shared_store=seeder, shared_session_id="x").close()
admin.set("cotter:{x}:lease", "someone-else", px=600000)
"""

WAIT_EXIT_SCRIPT = _LOSERS_PREAMBLE + r"""

def subscribed():
    while admin.pubsub_numsub(channel)[0][1] < 1:
        time.sleep(0.02)

if conf["mode"] == "sync":
    store = cotter.redis.RedisStore(redis.Redis(unix_socket_path=conf["socket"]), wait=10)
    losers = [cotter.TokenSession(new_client(), shared_store=store, shared_session_id="x", refresh_margin=100)
              for _ in range(3)]
    for s in losers:
        threading.Thread(target=s.access_token, daemon=True).start()
    subscribed()
else:
    async def main():
        store = cotter.redis.AsyncRedisStore(redis.asyncio.Redis(unix_socket_path=conf["socket"]), wait=10)
        losers = [await cotter.aio.AsyncTokenSession.create(new_client(), shared_store=store,
                                                            shared_session_id="x", refresh_margin=100)
                  for _ in range(3)]
        tasks = [asyncio.ensure_future(s.access_token()) for s in losers]
        await asyncio.to_thread(subscribed)
        if conf["mode"] == "async-loop-left":
            return  # asyncio.run cancels the waiting calls and the store's tasks
        print("exiting", flush=True)
        sys.exit(0)  # the interpreter exits from inside the running loop
    asyncio.run(main())
print("exiting", flush=True)
"""


@pytest.mark.parametrize("mode", ["sync", "async-loop-left", "async-exit-in-loop"])
def test_interpreter_exit_with_waits_pending(emulator: Any, tmp_path: Path, mode: str) -> None:
    server = RedisServer(tmp_path / "wexit")
    try:
        emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})
        conf = {"mode": mode, "socket": server.socket, "base_url": emulator.base_url,
                "api_key_id": emulator.api_key_id, "api_secret_key": emulator.api_secret_key,
                "token": emulator.login("wexit@example.com")["oauth_token"]}
        # The bound is a hang detector (the losers wait up to 10 s each, the lease lives 10 s), not a timing check.
        p = subprocess.run([sys.executable, "-c", WAIT_EXIT_SCRIPT.replace("{conf}", repr(conf))],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert "exiting" in p.stdout
        assert "Fatal" not in p.stderr and "terminate called" not in p.stderr
        assert "Task was destroyed" not in p.stderr, p.stderr
    finally:
        server.stop()


LOOP_END_SCRIPT = _LOSERS_PREAMBLE + r"""

async def main():
    loop = asyncio.get_running_loop()
    ending = False
    settled = asyncio.Event()  # an eval was sent after the loop began to end, or every loser's call ended

    class Client(redis.asyncio.Redis):
        async def evalsha(self, *a, **k):
            if ending:
                settled.set()
                await asyncio.Event().wait()  # unanswered
            return await super().evalsha(*a, **k)

    store = cotter.redis.AsyncRedisStore(Client(unix_socket_path=conf["socket"]), wait=10)
    left = [3]

    def ended():
        left[0] -= 1
        if left[0] == 0:
            settled.set()

    # Blocking calls on threads: the loop's end does not cancel them, so their failed waits always read the
    # store again (the calls of tasks race their own cancellation, and did so in 1 exit run in ~15).
    def loser():
        try:
            cotter.TokenSession(new_client(), shared_store=store, shared_session_id="x",
                                refresh_margin=100).access_token()
        except cotter.CotterError:
            pass
        try:
            loop.call_soon_threadsafe(ended)
        except RuntimeError:
            pass  # the loop is closed

    for _ in range(3):
        threading.Thread(target=loser, daemon=True).start()
    # Every loser waits (a message or 10 s): no eval is in flight or queued when the loop begins to end.
    while len(store._waiters.by_channel.get(channel, ())) < 3:
        await asyncio.sleep(0.02)

    async def linger():  # holds asyncio.run's end until the losers reacted to it
        nonlocal ending
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            ending = True
            await settled.wait()

    held.append(asyncio.ensure_future(linger()))  # held: the loop holds tasks weakly
    await asyncio.sleep(0)
    return loop

held = []
loop = asyncio.run(main())  # it cancels the store's tasks
print("pending:", sorted(repr(t) for t in asyncio.all_tasks(loop)), flush=True)
"""


def test_loop_end_leaves_no_store_task_pending(emulator: Any, tmp_path: Path) -> None:
    """Regression ("Task was destroyed but it is pending!", 1 exit run in ~15): the loop's end cancelled the pub/sub
    task, which failed the waits; their sessions read the store again, and the store made a task for that eval which
    the closing loop never ran to its end. The store now closes first: those evals fail at once, with no task.
    (Here an eval sent once the loop began to end stays unanswered: before the fix, its task was left every run.)"""
    server = RedisServer(tmp_path / "lend")
    try:
        emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})
        conf = {"socket": server.socket, "base_url": emulator.base_url, "api_key_id": emulator.api_key_id,
                "api_secret_key": emulator.api_secret_key, "token": emulator.login("lend@example.com")["oauth_token"]}
        # The bound is a hang detector, not a timing check.
        p = subprocess.run([sys.executable, "-c", LOOP_END_SCRIPT.replace("{conf}", repr(conf))],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert "pending: []" in p.stdout, p.stdout
        assert "Task was destroyed" not in p.stderr, p.stderr
    finally:
        server.stop()


def _redis_with_pubsub(pubsub_class: Any) -> Any:
    """An asyncio Redis client class whose pubsub() makes a `pubsub_class` (a PubSub that misbehaves on cue)."""
    class _Redis(redis.asyncio.Redis):
        def pubsub(self, **kwargs: Any) -> Any:
            return pubsub_class(self.connection_pool, **kwargs)
    return _Redis


class _SwallowingPubSub(redis.asyncio.client.PubSub):
    """Once armed, subscribe waits until cancelled and turns the cancellation into the client's own TimeoutError, as
    a client's read timeout can."""
    armed = False
    entered: "asyncio.Event | None" = None

    async def subscribe(self, *args: Any, **kwargs: Any) -> Any:
        if _SwallowingPubSub.armed and _SwallowingPubSub.entered is not None:
            _SwallowingPubSub.armed = False  # once
            _SwallowingPubSub.entered.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                raise redis.exceptions.TimeoutError("Timeout reading from socket")
        return await super().subscribe(*args, **kwargs)


async def _session_on_armed_pubsub(pubsub_class: Any, client: cotter.Client, redis_server: RedisServer, prefix: str,
                                   sid: str) -> Any:
    """An async client whose pub/sub is `pubsub_class` (armed: its next subscribe misbehaves), a store on it and
    a session of `sid` (seeded by _seed_session_behind_a_foreign_lease, so its first refresh waits)."""
    r = _redis_with_pubsub(pubsub_class)(unix_socket_path=redis_server.socket)
    _SwallowingPubSub.entered = asyncio.Event()
    _SwallowingPubSub.armed = True
    store = cotter.redis.AsyncRedisStore(r, key_prefix=prefix, wait=10)
    session = await cotter.aio.AsyncTokenSession.create(client, shared_store=store, shared_session_id=sid,
                                                        refresh_margin=100)
    return r, store, session


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is Python 3.11+")
def test_async_pubsub_task_ends_when_the_client_swallows_its_cancellation(
        emulator: Any, client: cotter.Client, redis_server: RedisServer) -> None:
    """Regression (a hang of asyncio.run's end, 1 run in ~40 of the exit tests): the store's pub/sub task, cancelled
    inside the client's subscribe, got the client's TimeoutError instead, took it for a lost connection, subscribed
    again and waited for good."""
    prefix, sid = "sw", "s"
    _seed_session_behind_a_foreign_lease(emulator, client, redis_server, prefix, sid, "swallow@example.com")

    async def main() -> None:
        r, store, session = await _session_on_armed_pubsub(_SwallowingPubSub, client, redis_server, prefix, sid)
        call = asyncio.ensure_future(session.access_token())
        await asyncio.wait_for(_SwallowingPubSub.entered.wait(), 120)  # a hang detector
        manager = store._manager
        assert manager is not None
        manager.cancel()
        done, _ = await asyncio.wait({manager}, timeout=120)  # a hang detector, not a timing check
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)
        await store.aclose()  # ends the task in any case (its queue is closed)
        await r.aclose()
        assert manager in done, "the cancelled pub/sub task ended"

    asyncio.run(main())


class _CancellingRedis(redis.asyncio.Redis):
    """Once armed, evalsha raises CancelledError on its own, with no cancellation of the task that awaits it."""
    armed = False

    async def evalsha(self, *args: Any, **kwargs: Any) -> Any:
        if _CancellingRedis.armed:
            _CancellingRedis.armed = False  # once
            raise asyncio.CancelledError()
        return await super().evalsha(*args, **kwargs)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is Python 3.11+")
def test_a_client_raising_cancelled_error_does_not_close_the_async_store(
        emulator: Any, client: cotter.Client, redis_server: RedisServer) -> None:
    """Only the loop's end closes an AsyncRedisStore whose eval task is cancelled (the fix of the test above): a
    CancelledError a Redis client raises by itself fails that one eval, and the store goes on."""
    async def main() -> None:
        r = _CancellingRedis(unix_socket_path=redis_server.socket)
        store = cotter.redis.AsyncRedisStore(r, key_prefix="cself", pubsub=False)
        try:
            session = await cotter.aio.AsyncTokenSession.create(
                client, token=_login(emulator, "cself@example.com"), shared_store=store, shared_session_id="s")
            _CancellingRedis.armed = True
            with pytest.raises(cotter.CotterError):
                await session.refresh()
            assert not _CancellingRedis.armed, "the fault was used"
            assert (await session.refresh()).access_token, "the store still serves its sessions"
            await session.aclose()
        finally:
            await store.aclose()
            await r.aclose()

    asyncio.run(main())


def test_eval_sent_as_the_loop_ends_to_a_store_with_no_task(emulator: Any, client: cotter.Client,
                                                            tmp_path: Path) -> None:
    """Regression ("Task was destroyed but it is pending!"): a store with no task of its own (no pub/sub, no eval in
    flight) when asyncio.run began to end got an eval from a blocking call on a thread; its task, made after
    asyncio.run had taken the tasks it cancels, was still pending when the loop closed (every run). The store now
    ends with the loop (loop.shutdown_asyncgens): that eval is cancelled and run to its end there, the call fails
    with SharedStoreUnavailable, and a later eval fails at once. Redis holds the eval (CLIENT PAUSE WRITE) until then.
    """
    server = RedisServer(tmp_path / "notask")
    token = _login(emulator, "notask@example.com")
    outcome: List[str] = []
    go = threading.Event()
    held: List[Any] = []  # the tasks made here (the loop holds tasks weakly)

    def caller(s: cotter.TokenSession) -> None:
        go.wait()
        try:
            s.refresh()
            outcome.append("refreshed")
        except cotter.CotterError as e:
            outcome.append(e.code)

    async def main() -> Any:
        sent = asyncio.Event()

        class Client(redis.asyncio.Redis):
            async def evalsha(self, *a: Any, **k: Any) -> Any:
                sent.set()
                return await super().evalsha(*a, **k)

        store = cotter.redis.AsyncRedisStore(Client(unix_socket_path=server.socket, socket_timeout=None),
                                             key_prefix="nt", pubsub=False)
        # A blocking session on a thread: the loop's end does not cancel its calls. (Made there: its first write to
        # the store waits for this loop.)
        s = await asyncio.to_thread(cotter.TokenSession, client, token=token, shared_store=store,
                                    shared_session_id="n")
        assert all(t.done() for t in store._tasks), "the store has no task in flight"
        server.admin.execute_command("CLIENT", "PAUSE", "600000", "WRITE")  # the next eval stays in flight
        sent.clear()
        thread = threading.Thread(target=caller, args=(s,), daemon=True)
        thread.start()

        async def linger() -> None:  # the app's task: holds asyncio.run's end until the eval's task runs
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                go.set()
                await sent.wait()

        held.append(asyncio.ensure_future(linger()))
        await asyncio.sleep(0)
        return asyncio.get_running_loop(), store, s, thread

    try:
        loop, store, s, thread = asyncio.run(main())
        pending = asyncio.all_tasks(loop)
        closed = store._queue.closed
        store.close()  # (before the fix: fails the eval held in flight, so the thread ends)
        thread.join()
        assert not pending, pending
        assert closed, "the loop's end closed the store"
        assert outcome == ["COTTER_ESHARED_UNAVAILABLE"]
        with pytest.raises(cotter.SharedStoreUnavailable):  # a later eval fails at once
            s.refresh()
        # Nothing was lost or half-written: Redis holds the tokens the session stored, and no lease.
        server.admin.execute_command("CLIENT", "UNPAUSE")
        version, stored = server.admin.hmget("nt:{n}:tokens", "v", "json")
        assert version == b"1" and json.loads(stored)["access_token"] == token.access_token
        assert not server.admin.exists("nt:{n}:lease")
    finally:
        server.stop()


class _HeldClosePubSub(_SwallowingPubSub):
    """As _SwallowingPubSub (its cancelled subscribe fails as a lost connection), and its close waits until cancelled
    (a close held up by its peer)."""
    closes: List[str] = []

    async def aclose(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            _HeldClosePubSub.closes.append("cancelled")
            raise


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is Python 3.11+")
def test_close_of_a_pubsub_lost_as_the_loop_ends_is_not_left_pending(
        emulator: Any, client: cotter.Client, redis_server: RedisServer) -> None:
    """Regression ("Task was destroyed but it is pending!"): asyncio.run's end cancelled the pub/sub task inside a
    subscribe that failed as a lost connection; the task that closes a lost connection, made then, was still pending
    when the loop closed (every run, with a close that takes longer than the loop's last steps). The store now ends
    with the loop and cancels and runs that close to its end there."""
    prefix, sid = "hc", "s"
    _seed_session_behind_a_foreign_lease(emulator, client, redis_server, prefix, sid, "heldclose@example.com")
    _HeldClosePubSub.closes = []
    held: List[Any] = []  # the tasks made here (the loop holds tasks weakly)

    async def main() -> Any:
        r, store, session = await _session_on_armed_pubsub(_HeldClosePubSub, client, redis_server, prefix, sid)
        held.append(asyncio.ensure_future(session.access_token()))
        await asyncio.wait_for(_SwallowingPubSub.entered.wait(), 120)  # a hang detector

        async def close_client() -> None:  # the app closes its client as the loop ends
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                await r.aclose()

        held.append(asyncio.ensure_future(close_client()))
        await asyncio.sleep(0)
        return asyncio.get_running_loop(), store  # asyncio.run cancels the pub/sub task inside subscribe

    loop, store = asyncio.run(main())
    pending = asyncio.all_tasks(loop)
    assert not pending, pending
    assert store._queue.closed
    assert _HeldClosePubSub.closes == ["cancelled"], "the lost connection's close was cancelled and ended"

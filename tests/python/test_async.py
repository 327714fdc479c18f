"""
@file test_async.py
@brief cotter.aio on the asynchronous C ABI: real asyncio futures completed from the client's I/O thread, many
calls in flight on few threads and capped connections, cancellation (waiting for the response, mid-body, queued
behind the connection cap) through task.cancel, asyncio.wait_for, asyncio.timeout and the per-call timeout=, event
loops closed with calls in flight, several loops in several threads, a session shared by many tasks, its hooks on
the I/O thread, a session dropped while its refresh is in flight, interpreter exit and fork with calls in flight.

No timings: the server holds requests (latency faults of 30 s) and the tests wait for what it saw. Waits have a
hang guard (20 s, far below the 30 s hold) so that a cancellation that did not stop the request fails the test.
"""
from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import pytest

import cotter
from cotter import _native, aio

USER = "GET /api/v0/user"
USER_BY_ID = "GET /api/v0/user/:id"
REFRESH = "POST /api/v0/token/:api_key_id"
HOLD_MS = 30000  # a server hold no test waits out
GUARD_S = 20.0   # hang guard of every wait below (well under the hold)


def _client(emulator: Any, **kw: Any) -> aio.AsyncClient:
    return aio.AsyncClient(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url, **kw)


async def _until(pred: Callable[[], bool], what: str) -> None:
    """Waits (on the loop) until `pred()` holds. A hang guard, not a timing assertion."""
    deadline = time.monotonic() + GUARD_S
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.005)


def _until_sync(pred: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + GUARD_S
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


def _no_call_in_flight() -> bool:
    return bool(_native._async_in_flight() == 0)


def _login(emulator: Any, who: str, **expire: Any) -> cotter.Token:
    if expire:
        emulator.dev("/expire_tokens", {**expire, "count": 1})
    return cotter.Token.from_dict(emulator.login(who)["oauth_token"])


# --- Many calls, few connections ------------------------------------------------------------------


def test_1000_concurrent_calls_share_capped_connections(emulator: Any) -> None:
    """1,000 calls in flight at once on one I/O thread; with a cap of 100 the server sees at most 100 connections."""
    uid = emulator.dev("/users", {"identifier": "many@example.com"})["ID"]
    n, cap = 1000, 100

    async def main() -> List[cotter.User]:
        c = _client(emulator, max_host_connections=cap)
        emulator.fault(USER_BY_ID, latency_ms=50, count=n)
        users = await asyncio.gather(*(c.get_user(uid) for _ in range(n)))
        assert c.stats().requests == n
        assert c.stats().connections <= cap
        return users

    before = emulator.dev("/stats")
    users = asyncio.run(main())
    after = emulator.dev("/stats")
    assert [u.id for u in users] == [uid] * n
    assert after["requests"][USER_BY_ID] == before["requests"].get(USER_BY_ID, 0) + n
    # + the fault request and the second stats request, each on a connection of its own (urllib)
    assert after["connections"] - before["connections"] <= cap + 2
    assert _no_call_in_flight()


def test_calls_overlap_on_one_thread(emulator: Any) -> None:
    """40 calls are all at the server at the same time (held there), and no thread was started per call."""
    n = 40

    async def main() -> None:
        c = _client(emulator)
        before = threading.active_count()
        base = emulator.requests_seen(USER)
        emulator.fault(USER, latency_ms=HOLD_MS, count=n)
        tasks = [asyncio.ensure_future(c.get_user_by_identifier("overlap@example.com")) for _ in range(n)]
        await _until(lambda: emulator.requests_seen(USER) >= base + n, "all 40 requests at the server at once")
        assert threading.active_count() == before  # the I/O thread is not a Python thread; no executor either
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert all(t.cancelled() for t in tasks)
        await _until(_no_call_in_flight, "every cancelled call completed")
        assert emulator.requests_seen(USER) == base + n  # each request was sent once

    asyncio.run(main())


# --- Cancellation ---------------------------------------------------------------------------------


def _cancel_case(emulator: Any, route: str, fault: Dict[str, Any], start: Callable[[aio.AsyncClient], Any],
                 **client_kw: Any) -> None:
    async def main() -> None:
        c = _client(emulator, **client_kw)
        base = emulator.requests_seen(route)
        emulator.fault(route, **fault)
        task = asyncio.ensure_future(start(c))
        await _until(lambda: emulator.requests_seen(route) == base + 1, "the server saw the request")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The C call ends at once (long before the server's hold): its completion has come through the queue.
        await _until(_no_call_in_flight, "the cancelled call completed")
        assert emulator.requests_seen(route) == base + 1
        # The client is fine afterwards (the cancelled connection was closed, not reused half-read).
        assert (await c.create_user("after-cancel@example.com")).identifier == "after-cancel@example.com"

    asyncio.run(main())


def test_cancel_while_waiting_for_the_response(emulator: Any) -> None:
    _cancel_case(emulator, USER, {"latency_ms": HOLD_MS}, lambda c: c.get_user_by_identifier("w@example.com"))


def test_cancel_mid_body(emulator: Any) -> None:
    """The server sends the headers, then one byte per second: the task is cancelled while the body drips."""
    _cancel_case(emulator, USER, {"slow_drip": True, "chunk_bytes": 1, "interval_ms": 1000},
                 lambda c: c.get_user_by_identifier("drip@example.com"))


def test_cancel_a_refresh_grant(emulator: Any) -> None:
    rt = _login(emulator, "cancel-refresh@example.com").refresh_token or ""
    _cancel_case(emulator, REFRESH, {"latency_ms": HOLD_MS}, lambda c: c.refresh(rt))


def test_cancel_while_queued_behind_the_connection_cap(emulator: Any) -> None:
    """With one connection, the second call waits in the client's queue; cancelled there, it is never sent."""
    async def main() -> None:
        c = _client(emulator, max_host_connections=1)
        base = emulator.requests_seen(USER)
        emulator.fault(USER, latency_ms=HOLD_MS, count=1)
        first = asyncio.ensure_future(c.get_user_by_identifier("first@example.com"))
        await _until(lambda: emulator.requests_seen(USER) == base + 1, "the first request holds the connection")
        queued = asyncio.ensure_future(c.get_user_by_identifier("queued@example.com"))
        await asyncio.sleep(0)  # the queued call is started
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await _until(_no_call_in_flight, "both calls completed")
        assert emulator.requests_seen(USER) == base + 1  # the queued one never reached the server
        emulator.dev("/users", {"identifier": "next@example.com"})
        assert (await c.get_user_by_identifier("next@example.com")).identifier == "next@example.com"
        assert emulator.requests_seen(USER) == base + 2

    asyncio.run(main())


def test_asyncio_wait_for_cancels_the_call(emulator: Any) -> None:
    async def main() -> None:
        c = _client(emulator)
        base = emulator.requests_seen(USER)
        emulator.fault(USER, latency_ms=HOLD_MS)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.get_user_by_identifier("wait-for@example.com"), 0.5)
        await _until(_no_call_in_flight, "the call was cancelled")
        assert emulator.requests_seen(USER) == base + 1

    asyncio.run(main())


@pytest.mark.skipif(not hasattr(asyncio, "timeout"), reason="asyncio.timeout is Python 3.11+")
def test_asyncio_timeout_cancels_the_call(emulator: Any) -> None:
    async def main() -> None:
        c = _client(emulator)
        emulator.fault(USER, latency_ms=HOLD_MS)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):  # type: ignore[attr-defined]
                await c.get_user_by_identifier("timeout-cm@example.com")
        await _until(_no_call_in_flight, "the call was cancelled")

    asyncio.run(main())


def test_per_call_timeout(emulator: Any) -> None:
    """timeout= (seconds) is the C call's budget: it ends with cotter.Timeout (also a TimeoutError)."""
    async def main() -> None:
        c = _client(emulator)
        emulator.fault(USER, latency_ms=HOLD_MS)
        with pytest.raises(cotter.Timeout) as e:
            await c.get_user_by_identifier("deadline@example.com", timeout=0.5)
        assert isinstance(e.value, TimeoutError) and e.value.code == "COTTER_ETIMEOUT"  # type: ignore[attr-defined]
        assert (await c.create_user("deadline@example.com", timeout=20)).identifier

    asyncio.run(main())
    sync = cotter.Client(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url)
    emulator.fault(USER, latency_ms=HOLD_MS)
    with pytest.raises(cotter.Timeout):
        sync.get_user_by_identifier("deadline-sync@example.com", timeout=0.5)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 86401, True, "1"])
def test_bad_timeouts_are_invalid_arguments(emulator: Any, bad: Any) -> None:
    sync = cotter.Client(emulator.api_key_id, base_url=emulator.base_url)
    with pytest.raises(cotter.InvalidArgument):
        sync.get_user_by_identifier("x@example.com", timeout=bad)

    async def main() -> None:
        with pytest.raises(cotter.InvalidArgument):
            await _client(emulator).get_user_by_identifier("x@example.com", timeout=bad)

    asyncio.run(main())


def test_results_and_errors_arrive_as_exceptions_of_their_class(emulator: Any) -> None:
    async def main() -> None:
        c = _client(emulator)
        with pytest.raises(cotter.NotFound):
            await c.get_user("00000000-0000-0000-0000-000000000000")
        with pytest.raises(cotter.ReauthRequired):
            await c.refresh("1:not-a-refresh-token")
        with pytest.raises(cotter.InvalidArgument):  # from `_start` itself: nothing is started
            await c.get_user("a\0b")
        assert _no_call_in_flight()

    asyncio.run(main())


# --- Event loops ----------------------------------------------------------------------------------


def test_asyncio_run_ending_with_calls_in_flight_cancels_them(emulator: Any) -> None:
    """asyncio.run cancels the tasks left over when main() returns; their C calls are cancelled with them."""
    n = 20
    base = emulator.requests_seen(USER)
    left: List["asyncio.Task[Any]"] = []

    async def main() -> None:
        c = _client(emulator)
        emulator.fault(USER, latency_ms=HOLD_MS, count=n)
        left.extend(asyncio.ensure_future(c.get_user_by_identifier("left@example.com")) for _ in range(n))
        await _until(lambda: emulator.requests_seen(USER) == base + n, "all requests at the server")

    asyncio.run(main())
    assert all(t.cancelled() for t in left)
    _until_sync(_no_call_in_flight, "the left-over calls were cancelled")
    assert emulator.requests_seen(USER) == base + n


def test_closing_a_loop_with_calls_in_flight(emulator: Any) -> None:
    """A loop closed under pending tasks drops its completion queue, which cancels their calls (no hang, no crash,
    no Python object touched later by the I/O thread)."""
    n = 10
    base = emulator.requests_seen(USER)
    loop = asyncio.new_event_loop()
    c = _client(emulator)
    emulator.fault(USER, latency_ms=HOLD_MS, count=n)
    tasks = [loop.create_task(c.get_user_by_identifier("closed@example.com")) for _ in range(n)]
    loop.run_until_complete(_until(lambda: emulator.requests_seen(USER) == base + n, "all requests sent"))
    assert not any(t.done() for t in tasks)
    loop.close()
    _until_sync(_no_call_in_flight, "the calls of the closed loop were cancelled")
    # The abandoned tasks stay pending forever, as asyncio leaves them; dropping them is safe.
    del tasks
    gc.collect()
    # The client still works, from a new loop.
    assert asyncio.run(c.create_user("after-close@example.com")).identifier == "after-close@example.com"


def test_a_stopped_loop_resumes_its_calls(emulator: Any) -> None:
    """A completion that arrives while the loop is not running waits in its queue until the loop runs again."""
    loop = asyncio.new_event_loop()
    try:
        c = _client(emulator)
        base = emulator.requests_seen("POST /api/v0/user/create")
        emulator.fault("POST /api/v0/user/create", latency_ms=1000)  # answered long after the loop stopped
        task = loop.create_task(c.create_user("stopped@example.com"))
        loop.run_until_complete(_until(lambda: emulator.requests_seen("POST /api/v0/user/create") == base + 1,
                                       "the request is at the server"))
        _until_sync(_no_call_in_flight, "the call completed on the I/O thread")
        assert not task.done()
        assert loop.run_until_complete(task).identifier == "stopped@example.com"
    finally:
        loop.close()


def test_several_loops_in_several_threads(emulator: Any) -> None:
    """Four threads, each with its own loop, share one AsyncClient; every future resolves on its own loop."""
    c = _client(emulator)
    uid = emulator.dev("/users", {"identifier": "threads@example.com"})["ID"]
    results: List[List[Optional[str]]] = []
    errors: List[BaseException] = []

    def run() -> None:
        async def main() -> List[Optional[str]]:
            me = asyncio.get_running_loop()
            users = await asyncio.gather(*(c.get_user(uid) for _ in range(50)))
            assert asyncio.get_running_loop() is me
            return [u.id for u in users]

        try:
            results.append(asyncio.run(main()))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results == [[uid] * 50] * 4
    assert _no_call_in_flight()


# --- Sessions -------------------------------------------------------------------------------------


def test_a_session_shared_by_50_tasks_refreshes_once(emulator: Any) -> None:
    t = _login(emulator, "shared-session@example.com", next_access_ttl=10)  # within the 30 s margin

    async def main() -> None:
        c = _client(emulator)
        s = aio.AsyncTokenSession(c, token=t)
        base = emulator.requests_seen(REFRESH)
        emulator.fault(REFRESH, latency_ms=200)
        tokens = await asyncio.gather(*(s.access_token() for _ in range(50)))
        assert len(set(tokens)) == 1 and tokens[0] != t.access_token
        assert emulator.requests_seen(REFRESH) == base + 1
        assert await s.access_token() == tokens[0]  # fresh now: completed inline, no request
        assert emulator.requests_seen(REFRESH) == base + 1

    asyncio.run(main())


class _Storage:
    """Storage hooks that record the thread they run on."""

    def __init__(self, initial: Optional[str]) -> None:
        self.value = initial
        self.load_threads: List[int] = []
        self.save_threads: List[int] = []
        self.saved: List[Optional[str]] = []
        self.fail_next_save = False

    def load(self) -> Optional[str]:
        self.load_threads.append(threading.get_ident())
        return self.value

    def save(self, token_json: Optional[str]) -> None:
        self.save_threads.append(threading.get_ident())
        if self.fail_next_save:
            self.fail_next_save = False
            raise KeyError("the keychain is locked")
        self.saved.append(token_json)
        self.value = token_json


def test_hooks_run_on_the_io_thread_except_the_first_load(emulator: Any) -> None:
    t = _login(emulator, "hooks-aio@example.com")
    storage = _Storage(json.dumps(t.to_dict()))
    changed: List[Optional[str]] = []
    changed_threads: List[int] = []

    def on_changed(tok: Optional[cotter.Token]) -> None:
        changed_threads.append(threading.get_ident())
        changed.append(tok.access_token if tok else None)

    async def main() -> None:
        me = threading.get_ident()
        s = aio.AsyncTokenSession(_client(emulator), storage=storage, on_tokens_changed=on_changed)
        assert storage.load_threads == [me]  # the first load: in the constructor, on this thread
        new = await s.refresh()
        assert storage.saved and json.loads(storage.saved[-1] or "{}")["access_token"] == new.access_token
        assert changed[-1] == new.access_token
        # Later hooks run on the client's I/O thread (never this loop's thread, which they would block).
        assert me not in storage.save_threads and me not in changed_threads
        assert set(storage.load_threads[1:]) | set(storage.save_threads) | set(changed_threads) != {me}
        # A hook's exception reaches the awaiting task unchanged (the tokens stay in memory).
        storage.fail_next_save = True
        with pytest.raises(KeyError, match="keychain"):
            await s.refresh()
        await s.logout()
        assert storage.saved[-1] is None and changed[-1] is None

    asyncio.run(main())


def test_a_blocking_call_from_a_hook_is_refused(emulator: Any, client: cotter.Client) -> None:
    """A hook runs on the client's I/O thread: a blocking call on that client from inside it would wait for the
    thread it runs on, so it fails at once with InvalidArgument instead of deadlocking."""
    t = _login(emulator, "hook-blocking@example.com")
    seen: List[BaseException] = []

    def on_changed(tok: Optional[cotter.Token]) -> None:
        try:
            client.create_user("from-a-hook@example.com")
        except cotter.CotterError as e:
            seen.append(e)

    s = cotter.TokenSession(client, token=t, on_tokens_changed=on_changed)
    s.refresh()
    assert len(seen) == 1 and isinstance(seen[0], cotter.InvalidArgument), seen


def test_sync_calls_release_the_gil_for_hooks_on_the_io_thread(emulator: Any, client: cotter.Client) -> None:
    """A blocking session call whose hooks run on the I/O thread: if the caller kept the GIL while waiting, the
    hooks (which need it) could never run, and the call would never return."""
    t = _login(emulator, "hooks-sync@example.com")
    storage = _Storage(json.dumps(t.to_dict()))
    s = cotter.TokenSession(client, storage=storage)
    me = threading.get_ident()
    new = s.refresh()
    assert json.loads(storage.saved[-1] or "{}")["refresh_token"] == new.refresh_token
    assert storage.load_threads[0] == me and me not in storage.save_threads


def test_a_session_dropped_while_its_refresh_is_in_flight(emulator: Any) -> None:
    """The refresh goes on after its task was cancelled and the session dropped; the session's hooks must never run
    afterwards (their owner is gone: before the C ABI stopped them, this called freed memory). A later call on the
    same single connection is answered only after the refresh's response was processed."""
    t = _login(emulator, "dropped@example.com")
    storage = _Storage(json.dumps(t.to_dict()))

    async def main() -> None:
        c = _client(emulator, max_host_connections=1)
        s: Optional[aio.AsyncTokenSession] = aio.AsyncTokenSession(c, storage=storage)
        base = emulator.requests_seen(REFRESH)
        emulator.fault(REFRESH, latency_ms=2000)  # lands long after the session is dropped
        assert s is not None
        task = asyncio.ensure_future(s.refresh())
        await _until(lambda: emulator.requests_seen(REFRESH) == base + 1, "the refresh was sent")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        del task, s
        gc.collect()
        calls = len(storage.load_threads) + len(storage.save_threads)
        assert (await c.create_user("dropped@example.com")).identifier == "dropped@example.com"
        assert emulator.requests_seen(REFRESH) == base + 1
        assert len(storage.load_threads) + len(storage.save_threads) == calls, "a hook ran after the session was gone"

    asyncio.run(main())


def test_free_order_does_not_matter(emulator: Any) -> None:
    """The native session keeps its client alive: nothing in Python has to (no keep-alive reference)."""
    t = _login(emulator, "free-order@example.com")
    c = cotter.Client(emulator.api_key_id, base_url=emulator.base_url)
    n = _native.Session(client=c._n, refresh_margin_seconds=30, token_file=None, load=None, save=None,
                        on_tokens_changed=None, initial=t._n)
    del c
    gc.collect()
    assert n.refresh(0).access_token != t.access_token


# --- Interpreter exit and fork (in child processes) -----------------------------------------------


def _run_child(emulator: Any, body: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent("""
        import asyncio, json, os, sys, threading, time, urllib.request
        import cotter
        from cotter import aio
        info = json.loads(sys.argv[1])

        def dev(path, body=None):
            req = urllib.request.Request(info["dev_url"] + path, json.dumps(body).encode() if body is not None
                                         else None, {"Content-Type": "application/json",
                                                "X-Cotter-Dev-Token": info["dev_token"]})
            with urllib.request.urlopen(req) as r:
                return json.load(r)

        def seen(route):
            return dev("/stats")["requests"].get(route, 0)

        def until(pred):
            deadline = time.monotonic() + 20
            while not pred():
                assert time.monotonic() < deadline, "hang guard"
                time.sleep(0.005)
    """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script, json.dumps(emulator.info)], capture_output=True,
                          text=True, timeout=60)


def test_interpreter_exit_with_calls_in_flight(emulator: Any) -> None:
    """A daemon thread's event loop with 20 calls in flight, another daemon thread in a blocking call, a session
    refresh in flight with Python storage hooks, and two threads completing calls without pause (each logs through
    Python from the I/O thread): the interpreter exits cleanly. Without the atexit hook, an I/O thread asking for
    the GIL during finalization is killed inside native code (std::terminate)."""
    r = _run_child(emulator, """
        client = aio.AsyncClient(info["api_key_id"], info["api_secret_key"], base_url=info["base_url"])
        base = seen("GET /api/v0/user")
        dev("/faults", {"route": "GET /api/v0/user", "latency_ms": 30000, "count": 21})
        dev("/faults", {"route": "POST /api/v0/token/:api_key_id", "latency_ms": 30000, "count": 1})

        def quietly(fn):
            def run():
                try:
                    fn()
                except BaseException as e:  # cotter.Cancelled at exit, reported by nobody
                    pass
            return run

        def loop_thread():
            async def main():
                await asyncio.gather(*(client.get_user_by_identifier("exit@example.com") for _ in range(20)))
            asyncio.run(main())

        class Storage:
            def load(self): return None
            def save(self, token_json): pass

        login = dev("/login", {"identifier": "exit@example.com"})
        session = cotter.TokenSession(client.sync, storage=Storage(),
                                      token=cotter.Token.from_dict(login["oauth_token"]))
        threading.Thread(target=quietly(loop_thread), daemon=True).start()
        threading.Thread(target=quietly(lambda: client.sync.get_user_by_identifier("exit@example.com")),
                         daemon=True).start()
        threading.Thread(target=quietly(session.refresh), daemon=True).start()

        # ... and calls completing all the time (each attempt logs through Python from the I/O thread).
        def busy_sync():
            while True:
                client.sync.create_user("busy-sync@example.com")

        def busy_async():
            async def main():
                while True:
                    await client.create_user("busy-async@example.com")
            asyncio.run(main())

        threading.Thread(target=quietly(busy_sync), daemon=True).start()
        threading.Thread(target=quietly(busy_async), daemon=True).start()
        until(lambda: seen("GET /api/v0/user") == base + 21 and seen("POST /api/v0/token/:api_key_id") >= 1
              and seen("POST /api/v0/user/create") > 50)
        print("exiting", flush=True)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "exiting"
    assert r.stderr == "", r.stderr


def test_exit_cancels_blocking_calls_with_cotter_cancelled(emulator: Any) -> None:
    """The exit hook (called directly here) cancels a thread's blocking call, which raises cotter.Cancelled, and
    every blocking call started after it raises at once, without giving up the GIL."""
    r = _run_child(emulator, """
        client = cotter.Client(info["api_key_id"], base_url=info["base_url"])
        base = seen("GET /api/v0/user")
        dev("/faults", {"route": "GET /api/v0/user", "latency_ms": 30000, "count": 1})
        outcome = []

        def blocked():
            try:
                client.get_user_by_identifier("cancelled@example.com")
            except cotter.CotterError as e:
                outcome.append(e)

        t = threading.Thread(target=blocked)
        t.start()
        until(lambda: seen("GET /api/v0/user") == base + 1)
        cotter._native._shutdown()
        t.join()
        assert isinstance(outcome[0], cotter.Cancelled) and outcome[0].code == "COTTER_ECANCELED", outcome
        try:
            client.create_user("after-exit@example.com")
            raise AssertionError("a blocking call after the exit hook ran")
        except cotter.Cancelled:
            pass
        assert seen("GET /api/v0/user") == base + 1
        print("ok", flush=True)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok" and r.stderr == "", r.stdout + r.stderr


def test_fork_with_calls_in_flight(emulator: Any) -> None:
    """The parent has a blocking and an asyncio call in flight (other threads) when it forks. The child makes
    blocking and asyncio calls on the same client, with a new event loop, and exits cleanly (its atexit hook does
    not wait for the parent's calls); the parent's calls complete."""
    r = _run_child(emulator, """
        import os
        client = aio.AsyncClient(info["api_key_id"], info["api_secret_key"], base_url=info["base_url"])
        uid = dev("/users", {"identifier": "fork@example.com"})["ID"]
        base = seen("GET /api/v0/user")
        dev("/faults", {"route": "GET /api/v0/user", "latency_ms": 1000, "count": 2})
        kept = asyncio.new_event_loop()  # a loop with a completion queue, not running at the fork
        kept.run_until_complete(client.create_user("kept@example.com"))
        got = []
        a = threading.Thread(target=lambda: got.append(asyncio.run(client.get_user_by_identifier("fork@example.com"))))
        b = threading.Thread(target=lambda: got.append(client.sync.get_user_by_identifier("fork@example.com")))
        a.start()
        b.start()
        until(lambda: seen("GET /api/v0/user") == base + 2)
        pid = os.fork()
        if pid == 0:
            assert client.sync.get_user(uid).id == uid
            async def child():
                return [u.id for u in await asyncio.gather(*(client.get_user(uid) for _ in range(5)))]
            assert asyncio.run(child()) == [uid] * 5
            try:  # the inherited loop shares its epoll set with the parent's: refused, untouched
                kept.run_until_complete(client.create_user("kept@example.com"))
                raise AssertionError("a call on an inherited event loop")
            except RuntimeError as e:
                assert "fork" in str(e), e
            print("child ok", flush=True)
            # The exit hook must not wait for the parent's calls. Then leave without finalizing: collecting the
            # inherited loop would close it, and asyncio's close() edits the epoll set the parent still uses.
            import atexit
            atexit._run_exitfuncs()
            os._exit(0)
        a.join()
        b.join()
        assert [u.identifier for u in got] == ["fork@example.com"] * 2
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert kept.run_until_complete(client.create_user("kept@example.com")).identifier == "kept@example.com"
        kept.close()
        print("parent ok", flush=True)
    """)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == ["child ok", "parent ok"], r.stdout + r.stderr

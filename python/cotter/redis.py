"""
@file redis.py
@brief Sessions shared by a fleet through Redis (docs/shared-sessions.md, docs/python.md): a shared store over the
redis-py client the application already has, sync (``redis.Redis`` / ``redis.RedisCluster``) or asyncio
(``redis.asyncio.Redis`` / ``redis.asyncio.RedisCluster``).

The library asks for one script at a time ("EVALSHA sha1 keys args", EVAL on NOSCRIPT) on a client's I/O thread,
which must neither wait for the GIL nor for Redis. So the native side only queues the request and bumps an eventfd
(cotter._native.EvalQueue); here, worker threads (sync) or the event loop (asyncio) read it, run the script on the
user's client and complete the request. redis-py itself is not imported here: the client object is duck-typed
(``evalsha``/``eval``), so ``pip install 'cotter-native[redis]'`` only pins a tested redis-py.
"""
from __future__ import annotations

import asyncio
import os
import threading
import weakref

from . import _native

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Set, Union


def _ms(name: str, seconds: Optional[float]) -> Optional[int]:
    """Seconds (int or float) to whole milliseconds; the library checks the range (same message everywhere)."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != seconds:
        from ._errors import InvalidArgument

        raise InvalidArgument(f"{name} must be a number of seconds", status=_native.STATUS_CODES["COTTER_EINVAL"],
                              code="COTTER_EINVAL")
    return int(min(max(round(seconds * 1000), -(2**62)), 2**62))


def _is_noscript(e: BaseException) -> bool:
    return type(e).__name__ == "NoScriptError" or str(e).startswith("NOSCRIPT")


def _message(e: BaseException, args: List[bytes]) -> str:
    """Why a script failed, for COTTER_ESHARED_UNAVAILABLE: never a script argument (they hold tokens)."""
    text = f"Redis: {type(e).__name__}: {e}"
    for a in args:
        if len(a) >= 4:
            text = text.replace(a.decode("utf-8", "replace"), "<redacted>")
    return text


def _flat(reply: Any) -> List[Any]:
    """The script's reply as a flat list (the protocol's replies are flat arrays of strings and integers)."""
    return list(reply) if isinstance(reply, (list, tuple)) else [reply]


def _complete(req: _native.EvalRequest, reply: Any) -> None:
    try:
        req.done(_flat(reply))
    except TypeError as e:  # a nested or odd reply: the client is not the one the protocol expects
        req.fail(f"Redis: unexpected reply ({e})")


def _eval_sync(client: Any, req: _native.EvalRequest) -> None:
    keys, args = req.keys, req.args
    try:
        try:
            reply = client.evalsha(req.sha1, len(keys), *keys, *args)
        except Exception as e:
            if not _is_noscript(e):
                raise
            reply = client.eval(req.script, len(keys), *keys, *args)
    except Exception as e:
        req.fail(_message(e, args))
        return
    _complete(req, reply)


async def _eval_async(client: Any, req: _native.EvalRequest) -> None:
    keys, args = req.keys, req.args
    try:
        try:
            reply = await client.evalsha(req.sha1, len(keys), *keys, *args)
        except Exception as e:
            if not _is_noscript(e):
                raise
            reply = await client.eval(req.script, len(keys), *keys, *args)
    except BaseException as e:  # cancelled too (the loop is closing): the session's call must still end
        req.fail(_message(e, args) if isinstance(e, Exception) else "Redis: the eval was cancelled")
        if not isinstance(e, Exception):
            raise
        return
    _complete(req, reply)


class SharedStore:
    """A shared session store: give it to sessions as ``shared_store=``, with ``shared_session_id=``.

    ``key_prefix`` (default "cotter"), ``lease_ttl`` (seconds, default 10: the longest a refresh may hold the
    fleet's lease; a refresh request gets 3/4 of it) and ``wait`` (seconds, default 0.1: the longest single wait of
    a replica that found the lease held) are cotter_shared_store_options. A context manager; ``close()`` fails the
    evals not answered yet and every later one (COTTER_ESHARED_UNAVAILABLE). Sessions keep their store open.
    """

    _n: _native.SharedStore
    _queue: _native.EvalQueue

    def __init__(self, queue: _native.EvalQueue, key_prefix: Optional[str], lease_ttl: Optional[float],
                 wait: Optional[float]) -> None:
        self._queue = queue
        self._n = _native.SharedStore(queue, key_prefix, _ms("lease_ttl", lease_ttl), _ms("wait", wait))
        self.key_prefix = key_prefix or "cotter"
        # Closed when this object goes (sessions hold it while they use it): the workers then end.
        self._closer = weakref.finalize(self, queue.close, "the shared store was closed")

    def close(self) -> None:
        self._closer()

    def __enter__(self) -> "SharedStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_prefix={self.key_prefix!r})"


class HiredisStore:
    """A shared store over the hiredis adapter that ships in the library (one connection and one native thread per
    store; no Python thread, no redis-py). No TLS, Sentinel or Cluster: use RedisStore over your client for those.
    Timeouts are in seconds; ``password`` is sent with AUTH and never shown. Redis is not contacted here."""

    def __init__(self, *, host: Optional[str] = None, port: Optional[int] = None, unix_socket: Optional[str] = None,
                 password: Optional[str] = None, connect_timeout: Optional[float] = None,
                 command_timeout: Optional[float] = None, key_prefix: Optional[str] = None,
                 lease_ttl: Optional[float] = None, wait: Optional[float] = None) -> None:
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
            raise TypeError("port must be an int")
        self._n = _native.SharedStore.hiredis(
            host, port, unix_socket, password, _ms("connect_timeout", connect_timeout),
            _ms("command_timeout", command_timeout), key_prefix, _ms("lease_ttl", lease_ttl), _ms("wait", wait))
        self.key_prefix = key_prefix or "cotter"
        self.where = unix_socket or f"{host or '127.0.0.1'}:{port or 6379}"

    def __repr__(self) -> str:
        return f"HiredisStore({self.where!r}, key_prefix={self.key_prefix!r})"  # never the password


def _serve(queue: _native.EvalQueue, client: Any) -> None:
    """A worker thread of a RedisStore: one eval at a time, until the store is closed."""
    while True:
        try:
            os.read(queue.fd, 8)  # a semaphore eventfd: one wake-up per queued eval (all of them once closed)
        except InterruptedError:
            continue
        req = queue.pop()
        if req is None:
            if queue.closed:
                return
            continue
        _eval_sync(client, req)


class RedisStore(SharedStore):
    """A shared store over a sync redis-py client (``redis.Redis``, ``redis.RedisCluster``, or anything with their
    ``evalsha``/``eval``). ``workers`` threads run the scripts (at most that many round trips at once)."""

    def __init__(self, redis_client: Any, *, key_prefix: Optional[str] = None, lease_ttl: Optional[float] = None,
                 wait: Optional[float] = None, workers: int = 4) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
            raise ValueError("workers must be an int in 1..256")
        super().__init__(_native.EvalQueue(True), key_prefix, lease_ttl, wait)
        for i in range(workers):  # daemon: an exit with evals in flight fails them (never waits for Redis)
            threading.Thread(target=_serve, args=(self._queue, redis_client), name=f"cotter-redis-{i}",
                             daemon=True).start()


class AsyncRedisStore(SharedStore):
    """A shared store over an asyncio redis-py client (``redis.asyncio.Redis``, ``redis.asyncio.RedisCluster``).

    Create it inside the event loop that owns the client: the scripts run as tasks of that loop. Sessions that use
    it are made with ``await AsyncTokenSession.create(...)`` (their first read of Redis must not block the loop).
    Close it (``await store.aclose()``, or ``async with``) before the loop ends; evals left then fail.
    """

    def __init__(self, redis_client: Any, *, key_prefix: Optional[str] = None, lease_ttl: Optional[float] = None,
                 wait: Optional[float] = None) -> None:
        loop = asyncio.get_running_loop()
        super().__init__(_native.EvalQueue(False), key_prefix, lease_ttl, wait)
        self._client = redis_client
        self._loop = loop
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._thread = threading.get_ident()
        loop.add_reader(self._queue.fd, self._drain)

    def _drain(self) -> None:
        try:
            os.read(self._queue.fd, 8)
        except BlockingIOError:
            pass
        while True:
            req = self._queue.pop()
            if req is None:
                break
            task = self._loop.create_task(_eval_async(self._client, req))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._queue.closed:
            self._loop.remove_reader(self._queue.fd)

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.remove_reader(self._queue.fd)
        super().close()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> "AsyncRedisStore":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


__all__ = ["AsyncRedisStore", "HiredisStore", "RedisStore", "SharedStore"]

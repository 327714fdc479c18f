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
import heapq
import itertools
import os
import select
import threading
import time
import weakref

from . import _native

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, AsyncGenerator, Callable, Dict, List, Optional, Set, Tuple, Union


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


async def _eval_async(client: Any, req: _native.EvalRequest, on_cancel: Callable[[], None]) -> None:
    keys, args = req.keys, req.args
    try:
        try:
            reply = await client.evalsha(req.sha1, len(keys), *keys, *args)
        except Exception as e:
            if not _is_noscript(e):
                raise
            reply = await client.eval(req.script, len(keys), *keys, *args)
    except BaseException as e:  # cancelled too (the loop is closing): the session's call must still end
        # Before the session hears of it (it may send another eval). Only for a cancellation of this task: a
        # CancelledError a Redis client raised on its own must not close the store (3.9/3.10 cannot tell them apart).
        if isinstance(e, asyncio.CancelledError) and _cancel_requested(unknown=True):
            on_cancel()
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
                 wait: Optional[float], with_wait: bool = False) -> None:
        self._queue = queue
        self._waiters = _Waiters()
        self._n = _native.SharedStore(queue, key_prefix, _ms("lease_ttl", lease_ttl), _ms("wait", wait), with_wait)
        self.key_prefix = key_prefix or "cotter"
        # Closed when this object goes (sessions hold it while they use it): the workers then end.
        self._closer = weakref.finalize(self, queue.close, "the shared store was closed")

    def close(self) -> None:
        self._closer()

    @property
    def wait_stats(self) -> Dict[str, int]:
        """How the waits of replicas that found the lease held ended: ``woken`` by a message, ``timed_out``, or
        ``failed`` (no subscriber connection). All zero without pub/sub."""
        return dict(self._waiters.stats)

    def __enter__(self) -> "SharedStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_prefix={self.key_prefix!r})"


#: How long a channel stays subscribed after its last waiter (as the hiredis adapter): a session contended again
#: within that time finds it subscribed, and its losers never race their SUBSCRIBE against the holder's message.
SUBSCRIBE_LINGER = 30.0


class _Waiters:
    """The waits of one store (adapter version 2, docs/shared-sessions.md "Waiters"): channel -> waiters, their
    timers, the channels subscribed and those lingering. Bookkeeping only: one thread or one event loop drives it,
    and does the pub/sub I/O. Each wait completes once: woken (a message), timed out, or failed."""

    def __init__(self) -> None:
        self.by_channel: Dict[str, Set[_native.WaitRequest]] = {}
        self.subscribed: Set[str] = set()
        self.lingering: Dict[str, float] = {}  # channel without waiters -> when to unsubscribe it
        self.timers: List[Tuple[float, int, _native.WaitRequest, str]] = []
        self.seq = itertools.count()
        self.stats = {"woken": 0, "timed_out": 0, "failed": 0}

    def add(self, w: _native.WaitRequest, now: float) -> None:
        ch = w.channel
        self.by_channel.setdefault(ch, set()).add(w)
        self.lingering.pop(ch, None)
        heapq.heappush(self.timers, (now + w.timeout_ms / 1000.0, next(self.seq), w, ch))

    def message(self, channel: Any) -> None:
        ch = channel.decode("utf-8", "replace") if isinstance(channel, bytes) else str(channel)
        woken = self.by_channel.pop(ch, ())
        for w in woken:
            if not w.completed:
                w.woken()
                self.stats["woken"] += 1
        if woken and ch in self.subscribed:
            self.lingering[ch] = time.monotonic() + SUBSCRIBE_LINGER

    def expire(self, now: float) -> None:
        """Times out the waits whose bound passed."""
        while self.timers and self.timers[0][0] <= now:
            _, _, w, ch = heapq.heappop(self.timers)
            waiting = self.by_channel.get(ch)
            if waiting is not None:
                waiting.discard(w)
                if not waiting:
                    del self.by_channel[ch]
                    self.lingering[ch] = now + SUBSCRIBE_LINGER
            if not w.completed:
                w.timed_out()
                self.stats["timed_out"] += 1

    def fail(self, w: Optional[_native.WaitRequest] = None) -> None:
        """Fails one wait, or (None) every wait: the subscriber connection is gone; nothing is subscribed now."""
        pending = [w] if w is not None else [x for ws in self.by_channel.values() for x in ws]
        if w is None:
            self.by_channel.clear()
            self.subscribed.clear()
            self.lingering.clear()
            self.timers.clear()
        for x in pending:
            if not x.completed:
                x.failed()
                self.stats["failed"] += 1

    def unsubscribe_due(self, now: float) -> List[str]:
        due = [ch for ch, t in self.lingering.items() if t <= now and ch not in self.by_channel]
        for ch in due:
            del self.lingering[ch]
            self.subscribed.discard(ch)
        return due

    def next_deadline(self) -> Optional[float]:
        times = [t[0] for t in self.timers[:1]] + list(self.lingering.values())
        return min(times) if times else None


def _drop(pubsub: Any) -> None:
    try:
        pubsub.close()
    except Exception:
        pass


def _subscriber(queue: _native.EvalQueue, client: Any, waiters: _Waiters) -> None:
    """A RedisStore's subscriber thread: ONE pub/sub connection (made on the first wait, again after a failure),
    channels subscribed on their first waiter and unsubscribed SUBSCRIBE_LINGER after their last, a timer per wait.
    Sleeps in select() on the queue's wait eventfd and the subscriber socket."""
    pubsub: Any = None
    while True:
        try:
            os.read(queue.wait_fd, 8)
        except (BlockingIOError, InterruptedError):
            pass
        now = time.monotonic()
        while True:
            w = queue.pop_wait()
            if w is None:
                break
            try:
                if pubsub is None:
                    pubsub = client.pubsub()
                if w.channel not in waiters.subscribed:
                    pubsub.subscribe(w.channel)
                    waiters.subscribed.add(w.channel)
            except Exception:  # not connected: this wait fails (the waiter polls once), the next one tries again
                waiters.fail()
                waiters.fail(w)
                if pubsub is not None:
                    _drop(pubsub)
                    pubsub = None
                continue
            waiters.add(w, now)
        if queue.closed:
            waiters.fail()
            if pubsub is not None:
                _drop(pubsub)
            return
        if pubsub is not None:
            try:
                while True:
                    m = pubsub.get_message(timeout=0)
                    if m is None:
                        break
                    if m.get("type") == "message":
                        waiters.message(m.get("channel"))
                now = time.monotonic()
                due = waiters.unsubscribe_due(now)
                if due:
                    pubsub.unsubscribe(*due)
            except Exception:  # the connection was lost: its waiters fail (they read the store again at once)
                waiters.fail()
                _drop(pubsub)
                pubsub = None
        waiters.expire(time.monotonic())
        fds = [queue.wait_fd]
        sock = getattr(getattr(pubsub, "connection", None), "_sock", None) if pubsub is not None else None
        deadline = waiters.next_deadline()
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if sock is not None:
            fds.append(sock)
        elif pubsub is not None:  # a client without a socket to watch: look for messages every 5 ms
            timeout = 0.005 if timeout is None else min(timeout, 0.005)
        try:
            select.select(fds, [], [], timeout)
        except (OSError, ValueError):  # the socket was closed under us: the next get_message says why
            pass


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
    ``evalsha``/``eval``). ``workers`` threads run the scripts (at most that many round trips at once).

    ``pubsub`` (default True): a replica that finds the refresh lease held is woken by the session's ``…:changed``
    message instead of only polling; this takes one more connection (``client.pubsub()``, made on the first wait)
    and one more thread. False: waiters poll (no subscriber)."""

    def __init__(self, redis_client: Any, *, key_prefix: Optional[str] = None, lease_ttl: Optional[float] = None,
                 wait: Optional[float] = None, workers: int = 4, pubsub: bool = True) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
            raise ValueError("workers must be an int in 1..256")
        super().__init__(_native.EvalQueue(True), key_prefix, lease_ttl, wait, bool(pubsub))
        for i in range(workers):  # daemon: an exit with evals in flight fails them (never waits for Redis)
            threading.Thread(target=_serve, args=(self._queue, redis_client), name=f"cotter-redis-{i}",
                             daemon=True).start()
        if pubsub:  # daemon too: an exit with waits pending fails them (shutdown closes the queue)
            threading.Thread(target=_subscriber, args=(self._queue, redis_client, self._waiters),
                             name="cotter-redis-sub", daemon=True).start()


class AsyncRedisStore(SharedStore):
    """A shared store over an asyncio redis-py client (``redis.asyncio.Redis``, ``redis.asyncio.RedisCluster``).

    Create it inside the event loop that owns the client: the scripts run as tasks of that loop. Sessions that use
    it are made with ``await AsyncTokenSession.create(...)`` (their first read of Redis must not block the loop).
    Close it (``await store.aclose()``, or ``async with``) before the loop ends; evals and waits left then fail. A
    store still open at ``asyncio.run``'s end closes itself: when the loop cancels its tasks, else when the loop shuts
    down its async generators (``loop.shutdown_asyncgens()``, after those tasks ended), where it cancels and runs to
    their end the evals it still runs; evals sent from then on fail at once.
    ``pubsub`` as for RedisStore: one more connection (``client.pubsub()``) read by a task of the loop.
    """

    def __init__(self, redis_client: Any, *, key_prefix: Optional[str] = None, lease_ttl: Optional[float] = None,
                 wait: Optional[float] = None, pubsub: bool = True) -> None:
        loop = asyncio.get_running_loop()
        super().__init__(_native.EvalQueue(False), key_prefix, lease_ttl, wait, bool(pubsub))
        self._client = redis_client
        self._loop = loop
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._thread = threading.get_ident()
        loop.add_reader(self._queue.fd, self._drain)
        # Pub/sub (waiters): the waits are popped by _drain_waits; one task subscribes and runs the timers, one
        # reads the messages of the one pub/sub connection.
        self._pubsub: Any = None
        self._reader: Optional["asyncio.Task[None]"] = None
        self._to_subscribe: Set[str] = set()
        self._kick = asyncio.Event()
        self._manager: Optional["asyncio.Task[None]"] = None
        if pubsub:
            loop.add_reader(self._queue.wait_fd, self._drain_waits)
        # The loop's end even when the store has no task then (asyncio.run cancels only the tasks it found):
        # loop.shutdown_asyncgens(), which asyncio.run awaits after those tasks ended and before the loop closes,
        # closes this generator, and the store ends there (_loop_shut_down).
        ref: List[Callable[[], Optional[AsyncRedisStore]]] = [weakref.ref(self)]
        end = _until_loop_end(ref)
        _step(end.asend(None))  # started here: the loop's firstiter hook holds it (weakly) from now on
        weakref.finalize(self, _forget, end, ref)

    def _drain(self) -> None:
        try:
            os.read(self._queue.fd, 8)
        except BlockingIOError:
            pass
        while True:
            req = self._queue.pop()
            if req is None:
                break
            task = self._loop.create_task(_eval_async(self._client, req, self._loop_ending))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._queue.closed:
            self._loop.remove_reader(self._queue.fd)

    def _drain_waits(self) -> None:
        try:
            os.read(self._queue.wait_fd, 8)
        except BlockingIOError:
            pass
        now = time.monotonic()
        while True:
            w = self._queue.pop_wait()
            if w is None:
                break
            self._waiters.add(w, now)
            if w.channel not in self._waiters.subscribed:
                self._to_subscribe.add(w.channel)
            if self._manager is None:  # made on the first wait (a store whose sessions never wait has no task)
                self._manager = self._loop.create_task(self._manage_pubsub())
        if self._queue.closed:
            self._loop.remove_reader(self._queue.wait_fd)
        self._kick.set()

    def _loop_ending(self) -> None:
        """A task of this store was cancelled, which only the loop's end does (asyncio.run cancels every task): the
        store closes, so that an eval its sessions send from now on fails at once instead of becoming a task that
        the closing loop never runs to its end ("Task was destroyed but it is pending!")."""
        if not self._queue.closed:
            self.close()

    def _lost(self) -> None:
        """The pub/sub connection failed: its waiters fail (they read the store again), the next wait reconnects."""
        self._waiters.fail()
        self._to_subscribe.clear()
        pubsub, self._pubsub = self._pubsub, None
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if pubsub is not None:
            task = self._loop.create_task(_aclose_quietly(pubsub))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _loop_shut_down(self) -> None:
        """The loop shuts down (asyncio.run's end, once the tasks it cancelled ended): the store closes, so an eval
        sent from now on fails at once instead of becoming a task the closing loop destroys pending; what it still
        runs (an eval sent after asyncio.run took its tasks, the close of a lost pub/sub connection, a task of its
        own made then) is cancelled and run to its end here, as asyncio.run does for the tasks it found."""
        self.close()
        while True:
            left = [t for t in (*self._tasks, self._manager, self._reader) if t is not None and not t.done()]
            if not left:
                return
            for t in left:
                t.cancel()
            await asyncio.gather(*left, return_exceptions=True)

    async def _read_messages(self, pubsub: Any) -> None:
        try:
            while True:
                m = await pubsub.get_message(timeout=None)
                if m is not None and m.get("type") == "message":
                    self._waiters.message(m.get("channel"))
                    self._kick.set()  # a channel may linger now
        except asyncio.CancelledError:
            raise
        except Exception:
            if pubsub is self._pubsub:
                self._reader = None
                self._lost()

    async def _manage_pubsub(self) -> None:
        try:
            while not self._queue.closed and not _cancel_requested():
                deadline = self._waiters.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                # The timeout is a timer that sets the kick: no task per wait. Not asyncio.wait_for: on Python < 3.12
                # it swallows a cancellation that arrives as the kick does (it returns the kick's result), and this
                # loop then waited for good, holding up asyncio.run's end.
                timer = None if timeout is None else self._loop.call_later(timeout, self._kick.set)
                try:
                    await self._kick.wait()
                finally:
                    if timer is not None:
                        timer.cancel()
                self._kick.clear()
                now = time.monotonic()
                self._waiters.expire(now)
                try:
                    if self._to_subscribe:
                        if self._pubsub is None:
                            self._pubsub = self._client.pubsub()
                        channels = sorted(self._to_subscribe)
                        self._to_subscribe.clear()
                        await self._pubsub.subscribe(*channels)
                        self._waiters.subscribed.update(channels)
                        if self._reader is None:
                            self._reader = self._loop.create_task(self._read_messages(self._pubsub))
                    due = self._waiters.unsubscribe_due(now)
                    if due and self._pubsub is not None:
                        await self._pubsub.unsubscribe(*due)
                except Exception:
                    self._lost()
        finally:  # closed, or the loop ends: nothing answers these waits any more
            self._loop_ending()  # first: the failed waits read the store again, and those evals must not make tasks
            self._waiters.fail()
            if self._reader is not None:
                self._reader.cancel()
            if self._pubsub is not None:
                pubsub, self._pubsub = self._pubsub, None
                try:
                    await _aclose_quietly(pubsub)
                except BaseException:
                    pass

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.remove_reader(self._queue.fd)
            self._loop.remove_reader(self._queue.wait_fd)
        super().close()
        if self._manager is not None and not self._loop.is_closed():
            self._kick.set()  # the manager sees the queue closed, fails what is left and closes the connection

    async def aclose(self) -> None:
        self.close()
        if self._manager is not None:
            try:
                await self._manager
            except BaseException:
                pass

    async def __aenter__(self) -> "AsyncRedisStore":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _cancel_requested(unknown: bool = False) -> bool:
    """This task's cancellation was requested (Task.cancelling(), Python 3.11+; `unknown` before 3.11), even if a
    client swallowed the CancelledError (turned it into its own timeout or connection error, which the pub/sub
    task takes for a lost connection and retries: it would then wait for good and hold up asyncio.run's end)."""
    cancelling = getattr(asyncio.current_task(), "cancelling", None)
    return unknown if cancelling is None else bool(cancelling())


async def _until_loop_end(ref: List[Callable[[], Optional[AsyncRedisStore]]]) -> AsyncGenerator[None, None]:
    """An AsyncRedisStore's hook on its loop's end (loop.shutdown_asyncgens closes the generators left open)."""
    try:
        yield
    finally:
        store = ref[0]()
        if store is not None:
            await store._loop_shut_down()


def _step(awaitable: Any) -> None:
    """Runs the hook's start, or its close once the store is gone: neither awaits anything, so no loop is needed."""
    try:
        awaitable.send(None)
    except StopIteration:
        return
    raise RuntimeError("the store's loop-end hook awaited outside its loop")


def _forget(end: Any, ref: List[Any]) -> None:
    """The store is gone first (or the interpreter exits): its hook ends here, not in a task the loop would make."""
    ref[0] = lambda: None
    try:
        _step(end.aclose())
    except RuntimeError:  # running: the loop was stopped while it ended the store (an exit during asyncio.run's end)
        pass


async def _aclose_quietly(pubsub: Any) -> None:
    try:
        close = getattr(pubsub, "aclose", None) or pubsub.close
        await close()
    except Exception:
        pass


__all__ = ["AsyncRedisStore", "HiredisStore", "RedisStore", "SharedStore"]

"""
@file test_leak.py
@brief Leak loop: create and drop every object type many times, and run asyncio calls on loops created and
closed (calls completed, failed, cancelled in flight, left running when the loop ends); resident memory must stay
flat and no file descriptor may be left open.
"""
from __future__ import annotations

import asyncio
import gc
import os
import time
from typing import Any, Callable

import cotter
from cotter import _native, aio
from jwt_tools import AUD, Key, jwks, make


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _eventfds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"
        except OSError:  # the descriptor listdir itself used
            pass
    return n


def _growth(fn: Callable[[], Any], rounds: int) -> int:
    for _ in range(rounds // 4):  # warm-up: allocator pools, caches, lazy imports
        fn()
    gc.collect()
    before = _rss_kib()
    for _ in range(rounds):
        fn()
    gc.collect()
    return _rss_kib() - before


def test_offline_objects_do_not_leak() -> None:
    key = Key()
    doc = jwks(key)
    token = make(key)
    verifier = cotter.Verifier(AUD, jwks=doc)
    oauth = '{"access_token":"%s","refresh_token":"1:abc","id_token":"x","token_type":"Bearer","expires_in":3600}' % token

    def once() -> None:
        v = cotter.Verifier(AUD, jwks=doc)
        c = v.verify(token)
        assert c.sub and c.json and c.aud
        verifier.verify(token)
        t = cotter.Token.from_json(oauth)
        assert t.to_dict()
        p = cotter.Pkce.generate()
        cotter.login_url(AUD, "http://127.0.0.1:1", p.state, p.challenge, login_url="http://127.0.0.1:2/app")
        try:
            verifier.verify(token[:-3] + "AAA")
        except cotter.JWTError:
            pass
        try:
            cotter.Token.from_json("[]")
        except cotter.ProtocolError:
            pass

    growth = _growth(once, 20000)
    assert growth < 4096, f"RSS grew by {growth} KiB over 20000 rounds"


def test_client_objects_do_not_leak(emulator: Any) -> None:
    base = cotter.Client(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url)
    login = emulator.login("leak@example.com")
    user_id = login["user"]["ID"]
    token = cotter.Token.from_dict(login["oauth_token"])

    def once() -> None:
        c = cotter.Client(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url)
        s = cotter.TokenSession(c, token=token)
        assert s.access_token()
        assert base.get_user(user_id).id == user_id
        base.social_tokens(user_id)
        try:
            base.get_user("00000000-0000-0000-0000-000000000000")
        except cotter.NotFound:
            pass

    growth = _growth(once, 600)
    assert growth < 4096, f"RSS grew by {growth} KiB over 600 rounds"


def test_async_calls_do_not_leak(emulator: Any) -> None:
    gc.collect()
    eventfds_before = _eventfds()  # other tests' live clients each own an I/O thread with its wakeup eventfd
    client = aio.AsyncClient(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url)
    login = emulator.login("leak-aio@example.com")
    user_id = login["user"]["ID"]
    token = cotter.Token.from_dict(login["oauth_token"])

    async def calls() -> None:
        s = aio.AsyncTokenSession(client, token=token)
        assert await s.access_token() == token.access_token  # inline completion
        users = await asyncio.gather(*(client.get_user(user_id) for _ in range(4)))
        assert {u.id for u in users} == {user_id}
        try:
            await client.get_user("00000000-0000-0000-0000-000000000000")
        except cotter.NotFound:
            pass
        tasks = [asyncio.ensure_future(client.get_user(user_id)) for _ in range(4)]
        await asyncio.sleep(0)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.ensure_future(client.get_user(user_id))  # left running: asyncio.run cancels it

    def once() -> None:
        asyncio.run(calls())

    once()
    growth = _growth(once, 150)
    assert growth < 4096, f"RSS grew by {growth} KiB over 150 event loops"
    gc.collect()
    # Alive: the client's I/O thread (one eventfd). Gone: every event loop's completion queue (one eventfd each).
    assert _eventfds() == eventfds_before + 1, "an event loop's completion queue (its eventfd) outlived the loop"
    deadline = time.monotonic() + 20  # a hang guard: the last cancelled calls complete on the I/O thread
    while _native._async_in_flight() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert _native._async_in_flight() == 0
    del client  # the last reference: its I/O thread stops and closes its eventfd
    gc.collect()
    while _eventfds() != eventfds_before and time.monotonic() < deadline:
        time.sleep(0.005)
    assert _eventfds() == eventfds_before, "a freed client's I/O thread kept its eventfd"

"""
@file leak_python.py
@brief Python leak loop: creates and drops every object type of the `cotter` package and verifies N tokens
(default 1,000,000), with blocking and asyncio calls (event loops created and closed, calls cancelled in flight,
a session's inline completion); RSS after the loop may exceed RSS after a warm-up by at most 1 MiB, and no file
descriptor (the event loops' eventfds) may be left open.

Usage: python tests/leaks/leak_python.py MATERIAL.json [N] — MATERIAL.json is the line printed by
tests/leaks/material.js against a running emulator. Run by scripts/test-hardening.sh on the release build of the
package (sanitizer quarantines make RSS meaningless).
"""
from __future__ import annotations

import asyncio
import gc
import json
import os
import sys

import cotter
from cotter import aio


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def eventfds() -> int:
    """Open eventfds (each event loop's completion queue has one while the loop lives)."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"
        except OSError:  # the descriptor listdir itself used
            pass
    return n


def main() -> int:
    with open(sys.argv[1]) as f:
        m = json.load(f)
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    token, aud = m["access_token"], m["api_key_id"]
    verifier = cotter.Verifier(aud, jwks=m["jwks"])
    client = cotter.Client(aud, m["api_secret_key"], base_url=m["base_url"], worker_url=m["worker_url"])
    oauth = json.dumps({"access_token": token, "refresh_token": "41:r", "id_token": "x", "token_type": "Bearer",
                        "auth_method": "OTP", "expires_in": 3600})

    def churn_offline() -> None:
        v = cotter.Verifier(aud, jwks=m["jwks"], token_cache_size=16)
        assert v.verify(token).sub and v.verify(token).sub
        try:
            v.verify("a.b.c")
        except cotter.JWTError:
            pass
        t = cotter.Token.from_json(oauth)
        assert cotter.Token.from_json(t.to_json()).access_token == token
        try:
            cotter.Token.from_json("[]")
        except cotter.ProtocolError:
            pass
        p = cotter.Pkce.generate()
        cotter.login_url(aud, "http://localhost:8080", p.state, p.challenge)
        assert cotter.parse_redirect("code=abc&challenge_id=7&state=s", "s") == ("abc", 7)
        try:
            cotter.parse_redirect("code=abc&state=t", "s")
        except cotter.StateMismatch:
            pass
        cotter.identity_token_verify(m["identity_token"], aud, public_key=m["identity_public_key"])
        c = cotter.Client(aud, m["api_secret_key"], base_url=m["base_url"])
        assert cotter.TokenSession(c, token=t).access_token() == token
        asyncio.run(async_offline())

    aclient = aio.AsyncClient(aud, m["api_secret_key"], base_url=m["base_url"], worker_url=m["worker_url"])

    async def async_offline() -> None:
        # A fresh token completes inline, inside `_start`; a queue is made for this loop and dropped with it.
        s = aio.AsyncTokenSession(aclient, token=cotter.Token.from_json(oauth))
        assert await s.access_token() == token

    async def async_online() -> None:
        users = await asyncio.gather(*(aclient.get_user_by_identifier(m["identifier"]) for _ in range(8)))
        assert {u.id for u in users} == {m["user_id"]}
        assert (await aclient.social_tokens(m["user_id"]))[0].access_token == "gho_leak"
        try:
            await aclient.refresh("not-a-refresh-token")
        except cotter.CotterError:
            pass
        # Cancelled at whatever stage they are (queued, sent, answered): every one ends once.
        tasks = [asyncio.ensure_future(aclient.get_user(m["user_id"])) for _ in range(8)]
        await asyncio.sleep(0)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        v = aclient.verifier()
        assert (await v.verify(token)).sub
        # Left running when the loop ends: asyncio.run cancels it (and with it the C call).
        asyncio.ensure_future(aclient.get_user(m["user_id"]))

    def churn_online() -> None:
        asyncio.run(async_online())
        assert client.get_user_by_identifier(m["identifier"]).id == m["user_id"]
        assert client.list_users(0)
        client.social_tokens(m["user_id"])
        client.social_token("GITHUB", m["user_id"])
        client.verify_remote(token)
        try:
            client.refresh("not-a-refresh-token")
        except cotter.CotterError:
            pass

    def run(count: int) -> None:
        for i in range(count):
            assert verifier.verify(token).sub
            if i % 1000 == 0:
                churn_offline()
            if i % 20000 == 0:
                churn_online()

    run(min(50_000, n // 10))
    # The asyncio churns run rarely in that warm-up; allocator pools take a few hundred loops to settle.
    for _ in range(300):
        asyncio.run(async_online())
        asyncio.run(async_offline())
    gc.collect()
    before, fds_before = rss_kib(), eventfds()
    run(n)
    gc.collect()
    after, fds_after = rss_kib(), eventfds()
    print(f"leak_python: {n} verifications (+{n // 1000 + 1} object churns, {n // 20000 + 1} asyncio rounds): "
          f"RSS {before} KiB -> {after} KiB (growth {after - before} KiB, limit 1024); "
          f"open eventfds {fds_before} -> {fds_after}")
    return 0 if after - before < 1024 and fds_after <= fds_before else 1


if __name__ == "__main__":
    sys.exit(main())

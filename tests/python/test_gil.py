"""
@file test_gil.py
@brief The GIL is released during every network call and every verification, and the asyncio variant never
blocks the event loop. No timings: each test is built so that it can only finish if Python code on another
thread (or the loop) runs while the native call is in flight.

 - Network calls go to a server written in Python (a thread of this process). If a call kept the GIL, that
   thread could never answer and the call would end in COTTER_ETIMEOUT instead of the server's reply.
 - CPU-only verification: with the switch interval at 1000 s, a waiting thread gets the GIL only when the
   holder releases it explicitly; a waiting thread running during a loop of verify() calls proves they do.
 - asyncio: the server holds each response until a coroutine on the loop opens its gate; a call that
   blocked the loop would keep the gate shut and get the "gate never opened" reply.
"""
from __future__ import annotations

import asyncio
import http.server
import json
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import cotter
from cotter import aio
from jwt_tools import AUD, Key, jwks, make

SECRET = "gil-test-secret"
GATE_WAIT_SECONDS = 20.0  # how long a gated response waits for the loop before giving up


class PyServer:
    """An HTTP server on 127.0.0.1 whose handler threads are Python threads of this process.

    Every request is recorded; /jwks serves a key set, anything else gets 503 with a Cotter error body. When
    ``gated``, each response first waits for ``gate`` and reports whether the gate opened in time.
    """

    def __init__(self, key: Key) -> None:
        self.seen: List[str] = []
        self.arrived = threading.Event()
        self.gate = threading.Event()
        self.gated = False
        self.gate_timeouts = 0
        jwks_body = jwks(key).encode()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                server.seen.append(f"{self.command} {self.path}")
                server.arrived.set()
                if server.gated and not server.gate.wait(GATE_WAIT_SECONDS):
                    server.gate_timeouts += 1
                if self.path.endswith("/jwks"):
                    status, body = 200, jwks_body
                else:
                    status, body = 503, json.dumps({"msg": "served by a Python thread", "type": ""}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reset(self, *, gated: bool = False) -> None:
        self.seen.clear()
        self.arrived.clear()
        self.gate.clear()
        self.gated = gated
        self.gate_timeouts = 0

    def close(self) -> None:
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def key() -> Key:
    return Key()


@pytest.fixture(scope="module")
def pyserver(key: Key) -> Iterator[PyServer]:
    s = PyServer(key)
    yield s
    s.close()


def _client(server: PyServer, **kw: Any) -> cotter.Client:
    # A generous timeout: if a call kept the GIL, it would end in Timeout after 20 s instead of hanging.
    return cotter.Client(AUD, SECRET, base_url=server.base + "/api/v0", worker_url=server.base + "/worker",
                         max_retries=0, timeout=20, **kw)


OAUTH = {"access_token": "a.b.c", "refresh_token": "1:rt", "id_token": "x", "token_type": "Bearer",
         "expires_in": 3600}

# Every network call of the Python API, as (name, function of a client).
NETWORK_CALLS: Dict[str, Callable[[cotter.Client], Any]] = {
    "grant_identity_token": lambda c: c.grant_identity_token({"identifier": "x"}),
    "grant_event_token": lambda c: c.grant_event_token({"event": "x"}),
    "refresh": lambda c: c.refresh("1:rt"),
    "logout": lambda c: c.logout("1:rt"),
    "custom_claims": lambda c: c.custom_claims("a.b.c", {"role": "x"}),
    "get_identity": lambda c: c.get_identity("code", 1, "v" * 43, "http://localhost:1"),
    "verify_remote": lambda c: c.verify_remote("a.b.c"),
    "create_user": lambda c: c.create_user("gil@example.com"),
    "get_user": lambda c: c.get_user("u1"),
    "get_user_by_identifier": lambda c: c.get_user_by_identifier("gil@example.com"),
    "list_users": lambda c: c.list_users(0),
    "social_tokens": lambda c: c.social_tokens("u1"),
    "social_token": lambda c: c.social_token("GITHUB", "u1"),
    "delete_social_token": lambda c: c.delete_social_token("GITHUB", "u1"),
    "session_refresh": lambda c: cotter.TokenSession(c, token=cotter.Token.from_dict(OAUTH)).refresh(),
    "session_logout": lambda c: cotter.TokenSession(c, token=cotter.Token.from_dict(OAUTH)).logout(),
}


@pytest.mark.parametrize("name", sorted(NETWORK_CALLS))
def test_network_calls_release_the_gil(pyserver: PyServer, name: str) -> None:
    pyserver.reset()
    client = _client(pyserver)
    outcome: Optional[BaseException] = None
    try:
        NETWORK_CALLS[name](client)
    except cotter.CotterError as e:
        outcome = e
    assert not isinstance(outcome, cotter.Timeout), "the Python server thread could not run during the call"
    assert pyserver.seen, "the request never reached the Python server"
    if outcome is not None:  # the server's 503 reached the caller (logout is best effort and may swallow it)
        assert isinstance(outcome, (cotter.HTTPError, cotter.OAuthError, cotter.ReauthRequired)), repr(outcome)


def test_jwks_fetch_inside_verify_releases_the_gil(pyserver: PyServer, key: Key) -> None:
    pyserver.reset()
    v = cotter.Verifier(AUD, jwks_url=pyserver.base + "/jwks", jwks_timeout=20, jwks_cooldown=0)
    assert v.verify(make(key)).aud == [AUD]  # the first verify fetched the keys from the Python thread
    v.refresh()
    assert pyserver.seen.count("GET /jwks") >= 2


def _runs_while(work: Callable[[], object], rounds: int = 20000) -> int:
    """Calls `work` until a waiting thread has run (returns how many calls that took) or `rounds` calls.

    The switch interval is raised to 1000 s so that the interpreter never forces a switch: the waiting
    thread can only get the GIL when `work` releases it. It is raised before the waiter starts, and the
    waiter gets time to park in `go.wait()`: a thread that began waiting for the GIL under the old 5 ms
    interval keeps that interval and would force a switch (CI once saw the control let it in that way).
    """
    go = threading.Event()
    parked = threading.Event()
    ran = threading.Event()

    def waiter() -> None:
        parked.set()
        go.wait()
        ran.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    t = threading.Thread(target=waiter)
    calls = 0
    try:
        t.start()
        parked.wait()
        time.sleep(0.1)  # releases the GIL: every thread's pending wait for it (old interval) ends here
        go.set()  # the waiter now needs the GIL, which this thread holds
        while not ran.is_set() and calls < rounds:
            work()
            calls += 1
    finally:
        sys.setswitchinterval(old)
        go.set()
        if t.ident is not None:  # started
            t.join()
    return calls


def test_the_gil_probe_detects_a_holder() -> None:
    """Control for the probe below: pure Python work never lets the waiting thread in."""
    assert _runs_while(lambda: sum(range(50)), rounds=20000) == 20000


def test_verification_releases_the_gil(key: Key, emulator: Any) -> None:
    token = make(key)
    v = cotter.Verifier(AUD, jwks=jwks(key))
    assert _runs_while(lambda: v.verify(token)) < 20000
    assert _runs_while(lambda: v.check(token)) < 20000
    assert _runs_while(lambda: v.is_valid(token[:-4] + "AAAA")) < 20000
    # (A cache hit goes through the same glue function; at ~1 µs its GIL-free window is shorter than a thread's
    # wake-up, so the probe cannot observe it reliably and is not used there.)

    it = emulator.dev("/identity_token", {"identifier": "gil@example.com"})["identity_token"]
    pub = emulator.identity_public_key
    assert _runs_while(lambda: cotter.identity_token_verify(it, emulator.api_key_id, public_key=pub)) < 20000
    ev = emulator.dev("/event_token", {"identifier": "gil@example.com"})["event_token"]
    assert _runs_while(lambda: cotter.event_token_verify(ev, emulator.api_key_id, public_key=pub)) < 20000


# --- asyncio ----------------------------------------------------------------------------------------

ASYNC_CALLS: Dict[str, Callable[[aio.AsyncClient, str, str], Any]] = {
    "client.get_user": lambda c, base, token: c.get_user("u1"),
    "client.refresh": lambda c, base, token: c.refresh("1:rt"),
    "client.create_user": lambda c, base, token: c.create_user("aio@example.com"),
    "client.social_tokens": lambda c, base, token: c.social_tokens("u1"),
    "session.refresh": lambda c, base, token: aio.AsyncTokenSession(c, token=cotter.Token.from_dict(OAUTH)).refresh(),
    "verifier.verify": lambda c, base, token: aio.AsyncVerifier(AUD, jwks_url=base + "/jwks").verify(token),
}


@pytest.mark.parametrize("name", sorted(ASYNC_CALLS))
def test_asyncio_calls_never_block_the_loop(pyserver: PyServer, key: Key, name: str) -> None:
    pyserver.reset(gated=True)

    async def main() -> Optional[BaseException]:
        c = aio.AsyncClient(AUD, SECRET, base_url=pyserver.base + "/api/v0", max_retries=0, timeout=30)
        task = asyncio.ensure_future(ASYNC_CALLS[name](c, pyserver.base, make(key)))
        # This coroutine runs on the same loop: it can only open the gate if the call is not blocking it.
        while not pyserver.arrived.is_set():
            await asyncio.sleep(0.005)
        pyserver.gate.set()
        try:
            await task
        except cotter.CotterError as e:
            return e
        return None

    outcome = asyncio.run(main())
    assert pyserver.gate_timeouts == 0, "the loop was blocked while the call was in flight"
    assert not isinstance(outcome, cotter.Timeout), repr(outcome)

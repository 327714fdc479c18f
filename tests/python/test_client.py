"""
@file test_client.py
@brief Every Client call against the real emulator: grants, custom claims, get_identity, users, social
tokens, the worker verdict, stats (keep-alive), logging, reprs without secrets, and the asyncio variant.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, List

import pytest

import cotter
from cotter import aio


def test_repr_hides_the_secret(emulator: Any, client: cotter.Client) -> None:
    assert emulator.api_secret_key not in repr(client)
    assert client.base_url == emulator.base_url and client.jwks_url.endswith("/token/jwks")


def test_api_key_from_environment(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Cotter's SDK read its credentials from the environment; the library does it for Python (from_environment),
    # so the rule and its message live once, in the core.
    monkeypatch.setenv("COTTER_API_KEY_ID", emulator.api_key_id)
    monkeypatch.setenv("COTTER_API_SECRET_KEY", emulator.api_secret_key)
    monkeypatch.setenv("COTTER_BASE_URL", emulator.base_url)
    c = cotter.Client()
    assert c.api_key_id == emulator.api_key_id and c.base_url == emulator.base_url
    it = emulator.dev("/identity_token", {"identifier": "env@example.com"})["identity_token"]
    assert c.grant_identity_token(it).token_type == "Bearer"  # the secret came from the environment too
    assert cotter.Client("given-key").api_key_id == "given-key"  # what is passed wins
    monkeypatch.delenv("COTTER_API_KEY_ID")
    with pytest.raises(cotter.InvalidArgument) as info:
        cotter.Client()
    assert info.value.message == "api_key_id (your Cotter API key id) is required: pass it or set COTTER_API_KEY_ID"
    monkeypatch.delenv("COTTER_API_SECRET_KEY")
    no_secret = cotter.Client(emulator.api_key_id)
    with pytest.raises(cotter.InvalidArgument, match="secret"):
        no_secret.grant_identity_token(it)


def test_identity_and_event_grants(emulator: Any, client: cotter.Client) -> None:
    it = emulator.dev("/identity_token", {"identifier": "grant@example.com"})["identity_token"]
    t = client.grant_identity_token(it)
    assert t.auth_method == "OTP" and t.token_type == "Bearer" and t.expires_in == 3600
    claims = client.verifier().verify(t.access_token or "")
    assert claims.identifier == "grant@example.com"
    ev = emulator.dev("/event_token", {"identifier": "grant@example.com"})["event_token"]
    t2 = client.grant_event_token(ev)
    assert t2.auth_method == "TRUSTED_DEVICE"
    with pytest.raises(cotter.OAuthError):
        client.grant_identity_token(dict(it, identifier="forged@example.com"))


def test_grants_need_the_secret(emulator: Any) -> None:
    no_secret = cotter.Client(emulator.api_key_id, base_url=emulator.base_url)
    it = emulator.dev("/identity_token", {"identifier": "grant@example.com"})["identity_token"]
    with pytest.raises(cotter.InvalidArgument, match="secret"):  # checked before any request is sent
        no_secret.grant_identity_token(it)


def test_custom_claims(emulator: Any, client: cotter.Client) -> None:
    token = cotter.Token.from_dict(emulator.login("custom@example.com")["oauth_token"])
    result = client.custom_claims(token.access_token or "", {"role": "admin", "level": 3},
                                  refresh_token=token.refresh_token)
    assert "<redacted>" in repr(result) and result.token not in repr(result)
    claims = client.verifier().verify(result.token)
    assert claims["role"] == "admin" and claims["level"] == 3
    assert result.refresh_token
    refreshed = client.refresh(result.refresh_token)
    assert client.verifier().verify(refreshed.access_token or "")["role"] == "admin"
    plain = client.custom_claims(token.access_token or "", {"x": 1})
    assert plain.refresh_token is None
    with pytest.raises(cotter.OAuthError):
        client.custom_claims(token.access_token or "", {"iss": "https://evil"})


def test_users(client: cotter.Client) -> None:
    u = client.create_user("Users@Example.com")
    assert u.identifier == "users@example.com" and u.issuer == client.api_key_id and u.enrolled == ()
    assert client.create_user("users@example.com").id == u.id  # idempotent
    assert client.get_user(u.id or "") == u
    assert client.get_user_by_identifier("users@example.com").id == u.id
    ids = [x.id for x in client.list_users(0)]
    assert u.id in ids
    assert u.raw["ID"] == u.id
    assert client.list_users(999) == []


def test_social_tokens(emulator: Any, client: cotter.Client) -> None:
    user = client.create_user("social@example.com")
    emulator.dev("/social_tokens", {"user_id": user.id, "identity_provider": "GITHUB", "provider_username": "octo",
                                    "tokens": {"access_token": "gho_SECRETVALUE", "scope": "repo", "token_type": "bearer"}})
    tokens = client.social_tokens(user.id or "")
    assert [t.provider for t in tokens] == ["GITHUB"]
    assert "gho_SECRETVALUE" not in repr(tokens)
    one = client.social_token("github", user.id or "")
    assert one.access_token == "gho_SECRETVALUE" and one.provider_username == "octo" and one.scope == "repo"
    client.delete_social_token("GITHUB", user.id or "")
    assert client.social_tokens(user.id or "") == []
    with pytest.raises(cotter.NotFound):
        client.social_token("GITHUB", user.id or "")


def test_verify_remote(emulator: Any, client: cotter.Client) -> None:
    token = emulator.dev("/access_token", {"identifier": "remote@example.com"})["access_token"]
    assert client.verify_remote(token) == cotter.RemoteVerdict(valid=True, reason=None)
    verdict = client.verify_remote(token[:-4] + "AAAA")
    assert not verdict.valid and verdict.reason


def test_get_identity_through_the_login_page(emulator: Any, client: cotter.Client) -> None:
    from demo_login_driver import drive_login

    identity: List[cotter.Identity] = []

    def browser(url: str) -> None:  # a "browser" over plain HTTP, on another thread
        threading.Thread(target=drive_login, args=(url, emulator.dev_url, emulator.dev_token, "page@example.com"), daemon=True).start()

    identity.append(cotter.login(client, open_url=browser, timeout=30, login_page_url=emulator.login_url))
    got = identity[0]
    assert got.identifier == "page@example.com" and got.identifier_type == "EMAIL" and got.token is not None
    assert got.identity_token and got.identity_token["receiver"] == client.api_key_id
    cotter.identity_token_verify(got.identity_token, client.api_key_id, public_key=emulator.identity_public_key)
    assert client.verifier().verify(got.token.access_token or "").identifier == "page@example.com"


def test_keep_alive_and_stats(emulator: Any, client: cotter.Client) -> None:
    for _ in range(10):
        client.create_user("keepalive@example.com")
    stats = client.stats()
    assert stats.requests >= 10 and stats.connections <= 2 and stats.retries == 0


def test_retries_are_counted(emulator: Any, client: cotter.Client) -> None:
    emulator.fault("GET /api/v0/user/:id", status=503, count=1)
    u = client.create_user("retry@example.com")
    assert client.get_user(u.id or "").id == u.id
    assert client.stats().retries == 1


def test_log_lines_reach_the_cotter_logger(emulator: Any, client: cotter.Client,
                                           caplog: pytest.LogCaptureFixture) -> None:
    emulator.fault("GET /api/v0/user/:id", status=503, count=1)
    u = client.create_user("log@example.com")
    with caplog.at_level(logging.DEBUG, logger="cotter"):
        client.get_user(u.id or "")
    assert any(r.name == "cotter" for r in caplog.records), "the retry should be logged"
    assert emulator.api_secret_key not in caplog.text


def test_debug_lines_follow_the_logger_level(emulator: Any, client: cotter.Client) -> None:
    """Every request logs a debug line on the client's I/O thread. While the "cotter" logger would drop it, the
    line must not even reach Python (it cost a Python thread state and frame stack per request there); once the
    level allows it, each request's line arrives again."""
    from cotter import _native
    from cotter._util import native_log

    logger = logging.getLogger("cotter")
    reached: List[int] = []
    kept: List[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append(record.getMessage())

    def spy(level: int, message: str) -> None:
        reached.append(level)
        native_log(level, message)

    handler = Keep()
    old_level, old_disabled = logger.level, logger.disabled
    logger.addHandler(handler)
    _native.set_log_handler(spy)
    try:
        rt = cotter.Token.from_dict(emulator.login("debuglines@example.com")["oauth_token"]).refresh_token or ""
        logger.setLevel(logging.WARNING)
        rt = client.refresh(rt).refresh_token or ""  # the first debug line asks logging (and fills its cache)
        reached.clear()
        for _ in range(3):
            rt = client.refresh(rt).refresh_token or ""
        assert reached == [] and kept == []
        logger.setLevel(logging.DEBUG)
        for _ in range(3):
            rt = client.refresh(rt).refresh_token or ""
        assert reached == [logging.DEBUG] * 3
        assert len(kept) == 3 and all("/token/" in m for m in kept), kept
        logger.disabled = True
        reached.clear()
        for _ in range(2):
            rt = client.refresh(rt).refresh_token or ""
        assert reached == []
    finally:
        _native.set_log_handler(native_log)
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.disabled = old_disabled


def test_aio_client(emulator: Any) -> None:
    async def main() -> None:
        c = aio.AsyncClient(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url)
        # That the calls overlap and never block the loop is proven without timings in test_gil.py.
        users = await asyncio.gather(*(c.create_user(f"aio{i}@example.com") for i in range(4)))
        assert sorted(u.identifier or "" for u in users) == [f"aio{i}@example.com" for i in range(4)]
        token = cotter.Token.from_dict(emulator.login("aio@example.com")["oauth_token"])
        new = await c.refresh(token.refresh_token or "")
        v = aio.AsyncVerifier(emulator.api_key_id, jwks_url=emulator.jwks_url)
        assert (await v.verify(new.access_token or "")).identifier == "aio@example.com"
        s = aio.AsyncTokenSession(c, token=new)
        assert await s.access_token() == new.access_token
        assert (await s.refresh()).access_token != new.access_token
        await s.logout()
        with pytest.raises(cotter.ReauthRequired):
            await s.access_token()

    asyncio.run(main())


def test_login_ignores_a_redirect_with_the_wrong_state(emulator: Any, client: cotter.Client,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A forged redirect (another page hitting the local port) is refused and the real login still completes."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from demo_login_driver import drive_login

    forged: List[int] = []

    def browser(url: str) -> None:
        redirect = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["redirect_url"][0]

        def attacker_then_user() -> None:
            try:
                urllib.request.urlopen(redirect + "/?code=forged&state=wrong&challenge_id=1", timeout=10)
            except urllib.error.HTTPError as e:
                forged.append(e.code)
            drive_login(url, emulator.dev_url, emulator.dev_token, "state@example.com")

        threading.Thread(target=attacker_then_user, daemon=True).start()

    with caplog.at_level(logging.WARNING, logger="cotter"):
        identity = cotter.login(client, open_url=browser, timeout=30, login_page_url=emulator.login_url)
    assert forged == [400]
    assert identity.identifier == "state@example.com"
    assert "wrong state" in caplog.text


def test_async_classes_mirror_the_sync_ones() -> None:
    import inspect

    for sync_cls, async_cls in ((cotter.Client, aio.AsyncClient), (cotter.Verifier, aio.AsyncVerifier),
                                (cotter.TokenSession, aio.AsyncTokenSession)):
        for name, fn in vars(sync_cls).items():
            if name.startswith("_") or not callable(fn):
                continue
            assert hasattr(async_cls, name), f"{async_cls.__name__}.{name} is missing"
            twin = getattr(async_cls, name)
            assert list(inspect.signature(twin).parameters) == list(inspect.signature(fn).parameters), name
            if name.startswith("iter_"):  # walks pages: an async iterator
                assert inspect.isasyncgenfunction(twin), name
                continue
            blocking = name not in ("stats", "verifier", "close")  # these never touch the network
            assert inspect.iscoroutinefunction(twin) == blocking, name
        # The constructors spell the same options (no **kwargs), with the same defaults.
        sync_params = inspect.signature(sync_cls.__init__).parameters
        async_params = inspect.signature(async_cls.__init__).parameters
        assert [(p.name, p.kind, p.default) for p in async_params.values()] == \
            [(p.name, p.kind, p.default) for p in sync_params.values()], async_cls.__name__


def test_every_async_call(emulator: Any) -> None:
    async def main() -> None:
        c = aio.AsyncClient(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url,
                            worker_url=emulator.worker_url)
        assert emulator.api_secret_key not in repr(c)
        it = emulator.dev("/identity_token", {"identifier": "every-aio@example.com"})["identity_token"]
        t = await c.grant_identity_token(it)
        ev = emulator.dev("/event_token", {"identifier": "every-aio@example.com"})["event_token"]
        assert (await c.grant_event_token(ev)).auth_method == "TRUSTED_DEVICE"
        v = c.verifier()
        claims = await v.verify(t.access_token or "")
        assert claims.identifier == "every-aio@example.com"
        await v.check(t.access_token or "")
        assert await v.is_valid(t.access_token or "") and not await v.is_valid((t.access_token or "")[:-4] + "AAAA")
        await v.refresh()
        cc = await c.custom_claims(t.access_token or "", {"tier": "gold"})
        assert (await v.verify(cc.token))["tier"] == "gold"
        assert (await c.verify_remote(t.access_token or "")).valid
        u = await c.create_user("every-aio@example.com")
        assert (await c.get_user(u.id or "")).id == u.id
        assert (await c.get_user_by_identifier("every-aio@example.com")).id == u.id
        assert u.id in [x.id for x in await c.list_users(0)]
        emulator.dev("/social_tokens", {"user_id": u.id, "identity_provider": "GITHUB",
                                        "tokens": {"access_token": "gho_AIO", "scope": "repo"}})
        assert [s.provider for s in await c.social_tokens(u.id or "")] == ["GITHUB"]
        assert (await c.social_token("GITHUB", u.id or "")).access_token == "gho_AIO"
        await c.delete_social_token("GITHUB", u.id or "")
        with pytest.raises(cotter.NotFound):
            await c.social_token("GITHUB", u.id or "")
        with pytest.raises(cotter.OAuthError):
            await c.get_identity("no-such-code", 1, "v" * 43, "http://localhost:1")
        s = aio.AsyncTokenSession(c)
        await s.set_token(t)
        assert (await s.token()).access_token == t.access_token
        new = await s.refresh()
        await c.logout(new.refresh_token)
        with pytest.raises(cotter.ReauthRequired):
            await c.refresh(new.refresh_token or "")
        assert c.stats().requests > 10

    asyncio.run(main())

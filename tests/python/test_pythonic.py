"""
@file test_pythonic.py
@brief Issue 15, items 5-8: Claims is a read-only Mapping; Token and Claims pickle, compare and hash; Client,
Verifier, TokenSession and the async ones are (async) context managers whose calls after close() raise Closed;
every option is spelled (mypy --strict catches a typo); durations are seconds, the old ``*_ms`` names warn;
list_users returns a page keeping the server's total/has_more, and iter_users/iter_user_pages walk every page.
All against the real emulator.
"""
from __future__ import annotations

import asyncio
import copy
import json
import pickle
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import cotter
from cotter import aio

LIST_ROUTE = "GET /api/v0/user/list"


def _minted(emulator: Any, **claims: Any) -> Tuple[str, Dict[str, Any]]:
    minted = emulator.dev("/access_token", {"identifier": "mapping@example.com", "claims": claims})
    return minted["access_token"], minted["access_claims"]


# --- item 5: Claims is a Mapping ------------------------------------------------------------------------


def test_claims_is_a_read_only_mapping(emulator: Any, client: cotter.Client) -> None:
    from collections.abc import Mapping

    token, expected = _minted(emulator, plan="pro", roles=["a", "b"], org={"id": 7})
    claims = client.verifier().verify(token)
    assert isinstance(claims, Mapping)
    assert dict(claims) == expected and len(claims) == len(expected) and set(claims) == set(expected)
    assert "plan" in claims and "nope" not in claims and 7 not in claims
    assert claims["roles"] == ["a", "b"] and claims.get("nope", 1) == 1 and claims.get("org") == {"id": 7}
    assert json.loads(json.dumps(dict(claims))) == expected
    assert dict(claims.items()) == expected and list(claims.keys()) == list(expected)
    with pytest.raises(KeyError):
        claims["nope"]
    with pytest.raises(TypeError):
        claims["plan"] = "free"  # type: ignore[index]
    # Changing a copy (to_dict or dict()) never changes the claims.
    d = claims.to_dict()
    d["plan"] = "free"
    dict(claims)["plan"] = "free"
    assert claims["plan"] == "pro"
    # The typed properties are still there.
    assert claims.sub == expected["sub"] and claims.aud == [emulator.api_key_id] and claims.exp == expected["exp"]


def test_claims_compare_hash_and_pickle(emulator: Any, client: cotter.Client) -> None:
    token, expected = _minted(emulator, plan="pro")
    v = client.verifier()
    a, b = v.verify(token), v.verify(token)
    assert a is not b and a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a == expected and a != {**expected, "plan": "free"} and a != "not a mapping"
    other = v.verify(_minted(emulator, plan="free")[0])
    assert a != other

    back = pickle.loads(pickle.dumps(a))
    assert type(back) is cotter.Claims and back == a and hash(back) == hash(a) and dict(back) == expected
    for name in ("sub", "iss", "aud", "identifier", "scope", "type", "jti", "kid", "exp", "iat", "nbf", "json"):
        assert getattr(back, name) == getattr(a, name), name
    assert copy.deepcopy(a) == a and repr(back) == repr(a)


def test_token_compare_hash_and_pickle_without_secrets_in_repr(emulator: Any) -> None:
    oauth = emulator.login("pickle@example.com")["oauth_token"]
    t1, t2 = cotter.Token.from_dict(oauth), cotter.Token.from_dict(oauth)
    assert t1 == t2 and hash(t1) == hash(t2) and t1 != cotter.Token.from_dict({**oauth, "refresh_token": "x"})
    assert t1 != oauth  # a Token equals Tokens only
    back = pickle.loads(pickle.dumps(t1))
    assert type(back) is cotter.Token and back == t1 and back.to_dict() == t1.to_dict()
    assert back.refresh_token == oauth["refresh_token"]  # it carries the tokens (that is the point)...
    for secret in (oauth["refresh_token"], oauth["access_token"], oauth["id_token"]):
        assert secret not in repr(back) and secret not in repr(t1)  # ... but never shows them


# --- item 5: close() and context managers ------------------------------------------------------------


def test_sync_objects_are_context_managers_and_refuse_calls_after_close(emulator: Any) -> None:
    with cotter.Client(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url) as c:
        assert c.create_user("closing@example.com").identifier == "closing@example.com"
        with c.verifier() as v, cotter.TokenSession(
                c, token=cotter.Token.from_dict(emulator.login("closing@example.com")["oauth_token"])) as s:
            access = s.access_token()
            assert v.verify(access).identifier == "closing@example.com"
    calls = [
        lambda: c.get_user_by_identifier("closing@example.com"), lambda: c.list_users(), lambda: c.stats(),
        lambda: v.verify(access), lambda: v.check(access), lambda: v.is_valid(access), lambda: v.refresh(),
        lambda: s.access_token(), lambda: s.token(), lambda: s.refresh(), lambda: s.logout(),
    ]
    for call in calls:
        with pytest.raises(cotter.Closed) as e:
            call()
        assert e.value.code == "COTTER_EINVAL" and "closed" in e.value.message
        assert isinstance(e.value, cotter.InvalidArgument) and isinstance(e.value, ValueError)
    # Closing twice is fine, and the reprs still work (for logs of a shutting-down app).
    c.close(), v.close(), s.close()
    assert emulator.api_key_id in repr(c) and "Verifier(" in repr(v) and "TokenSession(" in repr(s)


def test_closing_a_client_leaves_what_was_made_from_it_working(emulator: Any) -> None:
    c = cotter.Client(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url)
    s = cotter.TokenSession(c, token=cotter.Token.from_dict(emulator.login("after@example.com")["oauth_token"]))
    v = c.verifier()
    c.close()
    assert v.verify(s.refresh().access_token or "").identifier == "after@example.com"


def test_async_objects_are_async_context_managers(emulator: Any) -> None:
    async def main() -> None:
        async with aio.AsyncClient(emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url) as c:
            oauth = emulator.login("aclose@example.com")["oauth_token"]
            async with c.verifier() as v, aio.AsyncTokenSession(c, token=cotter.Token.from_dict(oauth)) as s:
                access = await s.access_token()
                assert (await v.verify(access)).identifier == "aclose@example.com"
        for coro in (c.list_users(), c.get_user("u"), v.verify(access), v.refresh(), s.access_token(), s.refresh()):
            with pytest.raises(cotter.Closed) as e:
                await coro
            assert e.value.code == "COTTER_EINVAL"
        await c.aclose()  # idempotent, awaitable
        with pytest.raises(cotter.Closed):
            c.stats()

    asyncio.run(main())


# --- item 7: durations are seconds; the *_ms names are deprecated aliases -------------------------------


def test_durations_are_seconds(emulator: Any) -> None:
    # Each is observable: a fault stalls the server far beyond the budget, so the client gives up.
    c = cotter.Client(emulator.api_key_id, base_url=emulator.base_url, timeout=0.25, max_retries=0,
                      connect_timeout=5.5, retry_base=0.01, retry_max=0.02)
    emulator.fault("GET /api/v0/user/:id", latency_ms=30000)
    with pytest.raises(cotter.Timeout):
        c.get_user("u")
    v = cotter.Verifier(emulator.api_key_id, jwks_url=emulator.jwks_url, jwks_timeout=0.25, jwks_cooldown=0,
                        jwks_max_age=1.5, leeway=2.5)
    emulator.fault("GET /api/v0/token/jwks", latency_ms=30000)
    with pytest.raises(cotter.JWKSUnavailable):
        v.refresh()
    s = cotter.TokenSession(c, refresh_margin=0.5)
    assert "TokenSession(" in repr(s)


@pytest.mark.parametrize("make", [
    lambda: cotter.Client("key", timeout=float("nan")),
    lambda: cotter.Client("key", connect_timeout="1"),  # type: ignore[arg-type]
    lambda: cotter.Client("key", retry_base=-1.0),
    lambda: cotter.Verifier("aud", jwks='{"keys":[]}', leeway=float("inf")),
    lambda: cotter.Verifier("aud", jwks_url="http://127.0.0.1:1/j", jwks_timeout=0),
    lambda: cotter.Verifier("aud", jwks_url="http://127.0.0.1:1/j", jwks_max_age=1e30),
])
def test_bad_durations_are_invalid_arguments(make: Any) -> None:
    with pytest.raises(cotter.InvalidArgument) as e:
        make()
    assert e.value.code == "COTTER_EINVAL"


def test_old_millisecond_names_still_work_with_a_deprecation_warning(emulator: Any) -> None:
    with pytest.warns(DeprecationWarning, match="timeout_ms is deprecated.*use timeout") as w:
        c = cotter.Client(emulator.api_key_id, base_url=emulator.base_url, timeout_ms=250, max_retries=0)
    assert w[0].filename == __file__  # the warning points at the caller's line, not at cotter
    emulator.fault("GET /api/v0/user/:id", latency_ms=30000)
    with pytest.raises(cotter.Timeout):
        c.get_user("u")
    for old in ("connect_timeout_ms", "retry_base_ms", "retry_max_ms"):
        with pytest.warns(DeprecationWarning, match=old):
            cotter.Client("key", **{old: 100})
    for old in ("jwks_max_age_ms", "jwks_cooldown_ms", "jwks_timeout_ms"):
        with pytest.warns(DeprecationWarning, match=old):
            cotter.Verifier("aud", jwks_url=emulator.jwks_url, **{old: 1000})
        with pytest.warns(DeprecationWarning, match=old):
            c.verifier(**{old: 1000})
        with pytest.warns(DeprecationWarning, match=old):
            aio.AsyncVerifier("aud", jwks_url=emulator.jwks_url, **{old: 1000})
    with pytest.warns(DeprecationWarning, match="timeout_ms"):
        aio.AsyncClient("key", timeout_ms=1000)
    with pytest.warns(DeprecationWarning, match="jwks_timeout_ms"):
        v = cotter.Verifier(emulator.api_key_id, jwks_url=emulator.jwks_url, jwks_timeout_ms=250, jwks_cooldown=0)
    emulator.fault("GET /api/v0/token/jwks", latency_ms=30000)
    with pytest.raises(cotter.JWKSUnavailable):
        v.refresh()
    # Both names at once is ambiguous.
    with pytest.warns(DeprecationWarning), pytest.raises(cotter.InvalidArgument, match="not both"):
        cotter.Client("key", timeout=1, timeout_ms=1000)


# --- item 6: every option spelled, __all__ everywhere, mypy --strict catches a typo ------------------------

GOOD_PROGRAM = '''
from typing import List
import cotter
from cotter import aio

def main(key: str, token: str) -> None:
    with cotter.Client(key, timeout=5.0, connect_timeout=2, retry_base=0.1) as client:
        verifier = client.verifier(leeway=10, jwks_timeout=2.5)
        claims: cotter.Claims = verifier.verify(token)
        plan: object = claims["plan"]
        as_dict = dict(claims)
        page = client.list_users(0)
        users: List[cotter.User] = page
        more: bool | None = page.has_more
        every = [u.id for u in client.iter_users()]
    aio.AsyncVerifier(key, jwks_url="https://example.com/jwks", jwks_cooldown=1.0)
    aio.AsyncClient(key, max_retries=1)
'''

TYPOS = {
    "AsyncClient": "aio.AsyncClient(key, max_retires=1)",
    "AsyncVerifier": 'aio.AsyncVerifier(key, jwks_ulr="https://example.com/jwks")',
    "Client.verifier": "client.verifier(leway=10)",
    "AsyncClient.verifier": "aio.AsyncClient(key).verifier(jwks_timout=1.0)",
    "AsyncTokenSession": "aio.AsyncTokenSession(client, token_fle='x')",
}


def _mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "user_program.py").write_text(source)
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-version", "3.10",
                           "--cache-dir", str(tmp_path / ".mypy_cache"), "user_program.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_mypy_strict_accepts_a_typed_user_program_and_catches_misspelled_options(tmp_path: Path) -> None:
    good = _mypy(tmp_path, GOOD_PROGRAM)
    assert good.returncode == 0, good.stdout + good.stderr
    body = "".join(f"    {line}\n" for line in TYPOS.values())
    bad = _mypy(tmp_path, "import cotter\nfrom cotter import aio\n\ndef f(key: str, client: cotter.Client) -> None:\n"
                + body)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    for where, line in TYPOS.items():
        lineno = 5 + list(TYPOS).index(where)
        assert f"user_program.py:{lineno}: error: Unexpected keyword argument" in bad.stdout, (where, bad.stdout)


PUBLIC_MODULES = ["cotter", "cotter.aio", "cotter.client", "cotter.errors", "cotter.login", "cotter.session",
                  "cotter.tokens", "cotter.verifier", "cotter.tokenhandler", "cotter.validate", "cotter.cli"]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_module_has_a_complete_all(name: str) -> None:
    import importlib
    import inspect

    module = importlib.import_module(name)
    exported = module.__dict__.get("__all__")
    assert exported is not None, f"{name} has no __all__"
    assert len(set(exported)) == len(exported) and all(hasattr(module, n) for n in exported)
    # Every public class and function defined in the module is exported.
    defined = {n for n, v in vars(module).items() if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
               and getattr(v, "__module__", None) == name}
    assert defined <= set(exported), defined - set(exported)


def test_no_public_signature_takes_arbitrary_keywords() -> None:
    import importlib
    import inspect

    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for export in module.__all__:
            obj = getattr(module, export)
            members = [obj] + [m for _, m in inspect.getmembers(obj, inspect.isfunction)] if inspect.isclass(obj) else [obj]
            for fn in members:
                fn_name = getattr(fn, "__name__", "")
                if fn is not obj and fn_name.startswith("_") and fn_name != "__init__":
                    continue
                try:
                    sig = inspect.signature(fn)
                except (TypeError, ValueError):
                    continue
                kinds = {p.kind for p in sig.parameters.values()}
                assert inspect.Parameter.VAR_KEYWORD not in kinds, f"{name}.{export}: {fn} takes **kwargs"


# --- item 8: list_users pages ------------------------------------------------------------------------


@pytest.fixture
def crowded(emulator: Any) -> Iterator[Tuple[cotter.Client, List[str], str]]:
    """A fresh project with 123 users (two full pages of 50 and one of 23)."""
    project = emulator.dev("/projects", {"api_key_id": str(uuid.uuid4())})
    ids = [emulator.dev("/users", {"identifier": f"u{i}@example.com", "api_key_id": project["api_key_id"]})["ID"]
           for i in range(123)]
    with cotter.Client(project["api_key_id"], project["api_secret_key"], base_url=emulator.base_url) as c:
        yield c, ids, project["api_secret_key"]


def test_list_users_returns_a_page_with_the_servers_paging_facts(crowded: Tuple[cotter.Client, List[str], str]) -> None:
    c, ids, _ = crowded
    first = c.list_users()
    assert isinstance(first, cotter.UserPage) and isinstance(first, list)  # as before: a list of users
    assert (len(first), first.page, first.total, first.has_more, first.next_page) == (50, 0, 123, True, 1)
    last = c.list_users(2)
    assert (len(last), last.page, last.total, last.has_more, last.next_page) == (23, 2, 123, False, None)
    beyond = c.list_users(9)
    assert beyond == [] and beyond.has_more is False and beyond.total == 123 and beyond.next_page is None
    assert "total=123" in repr(first) and "has_more=True" in repr(first)


def test_a_bare_user_array_is_a_page_without_paging_facts(emulator: Any, crowded: Tuple[cotter.Client, List[str], str]) -> None:
    """Cotter's documented answer is a bare array: the library's page then says null, and the typed User keeps
    what it does not model in .raw."""
    c, _, _ = crowded
    emulator.fault(LIST_ROUTE, status=200, count=1,
                   body='[{"ID":"u-1","identifier":"bare@example.com","enrolled":["OTP",null],"extra":{"k":[1]}}]')
    page = c.list_users(4)
    assert (len(page), page.page, page.total, page.has_more, page.next_page) == (1, 4, None, None, 5)
    user = page[0]
    assert isinstance(user, cotter.User)
    assert (user.id, user.identifier, user.enrolled, user.issuer) == ("u-1", "bare@example.com", ("OTP",), None)
    assert user.raw["extra"] == {"k": [1]}


def test_iter_users_walks_every_page_once(emulator: Any, crowded: Tuple[cotter.Client, List[str], str]) -> None:
    c, ids, _ = crowded
    before = emulator.requests_seen(LIST_ROUTE)
    got = [u.id for u in c.iter_users()]
    assert sorted(got) == sorted(ids) and len(got) == 123  # every user once (newest first)
    assert emulator.requests_seen(LIST_ROUTE) - before == 3  # one request per page, none after the last
    pages = list(c.iter_user_pages(start_page=1))
    assert [(p.page, len(p)) for p in pages] == [(1, 50), (2, 23)]


def test_async_list_users_and_iterators(emulator: Any, crowded: Tuple[cotter.Client, List[str], str]) -> None:
    c, ids, secret = crowded

    async def main() -> None:
        async with aio.AsyncClient(c.api_key_id, secret, base_url=emulator.base_url) as ac:
            page = await ac.list_users(1)
            assert (len(page), page.total, page.has_more, page.next_page) == (50, 123, True, 2)
            got = [u.id async for u in ac.iter_users()]
            assert sorted(got) == sorted(ids)
            assert [len(p) async for p in ac.iter_user_pages(start_page=2)] == [23]

    asyncio.run(main())

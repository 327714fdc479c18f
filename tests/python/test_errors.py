"""
@file test_errors.py
@brief The error model: the class table matches cotter.h exactly, and every reachable error class is raised by
a real failure (real library, real emulator, real faults) with its code, status and HTTP details.
"""
from __future__ import annotations

import contextlib
import json
import re
import socket
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

import cotter
from cotter import _errors, _native
from conftest import ROOT
from jwt_tools import Key, make


def _header_codes() -> Dict[str, int]:
    text = (ROOT / "capi/include/cotter.h").read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\s+(COTTER_E[A-Z0-9_]+) = (-\d+)", text, re.M)}


def test_table_matches_the_header_exactly() -> None:
    compiled = dict(_native.STATUS_CODES)
    assert compiled == _header_codes(), "the extension was built from another cotter.h"
    assert set(_errors.CLASS_FOR_CODE) == set(compiled), "a code without a class, or a class without a code"
    assert len(set(_errors.CLASS_FOR_CODE.values())) == len(compiled), "one class per code"
    for name, cls in _errors.CLASS_FOR_CODE.items():
        assert issubclass(cls, cotter.CotterError)
        assert cls.code == name and cls.status == compiled[name]
        assert _native.status_name(cls.status) == name
        assert getattr(cotter, cls.__name__) is cls, f"{cls.__name__} is not exported from cotter"


def test_families() -> None:
    for name, cls in _errors.CLASS_FOR_CODE.items():
        if name.startswith("COTTER_EJWT_"):
            assert issubclass(cls, cotter.JWTError)
        elif name.startswith("COTTER_EJWKS_"):
            assert issubclass(cls, cotter.JWKSError)
        elif name.startswith("COTTER_ELEGACY_"):
            assert issubclass(cls, cotter.LegacyTokenError)
    assert issubclass(cotter.InvalidArgument, ValueError)
    assert issubclass(cotter.Timeout, TimeoutError) and issubclass(cotter.NetworkError, ConnectionError)
    assert issubclass(cotter.NotFound, LookupError)


def test_unknown_status_maps_to_the_base() -> None:
    e = _errors.from_native(-999, "future code", 0, None, None, -1)
    assert type(e) is cotter.CotterError and e.code == "COTTER_EUNKNOWN" and e.retry_after is None


@contextlib.contextmanager
def _closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs.

    The socket stays bound but never listens: a connection is refused, and no other socket (a listener from
    bind(0), or the source port of an outgoing connection) can take the port meanwhile. (It used to be bound
    and closed at once, leaving a freshly freed port that anything could grab before the test used it.)
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def test_einval() -> None:
    with pytest.raises(cotter.InvalidArgument) as e:
        cotter.Verifier("aud", jwks='{"keys":[]}', leeway=301)
    assert e.value.code == "COTTER_EINVAL" and e.value.status == -1 and e.value.http_status == 0
    with pytest.raises(cotter.InvalidArgument):
        cotter.Client("key", base_url="not a url")


def test_enetwork() -> None:
    with _closed_port() as port, pytest.raises(cotter.NetworkError) as e:
        cotter.Client("key", base_url=f"http://127.0.0.1:{port}/api/v0", max_retries=0).get_user("u")
    assert e.value.code == "COTTER_ENETWORK" and e.value.http_status == 0


def test_etimeout(emulator: Any) -> None:
    c = cotter.Client(emulator.api_key_id, base_url=emulator.base_url, timeout=0.3, max_retries=0)
    emulator.fault("GET /api/v0/user/:id", latency_ms=30000)  # far beyond the 300 ms budget, even on a stalled machine
    with pytest.raises(cotter.Timeout) as e:
        c.get_user("u")
    assert e.value.code == "COTTER_ETIMEOUT"


def test_etls_without_the_ca(tls_emulator: Any) -> None:
    c = cotter.Client(tls_emulator.api_key_id, base_url=tls_emulator.base_url, max_retries=0)
    with pytest.raises(cotter.TLSError) as e:
        c.create_user("tls@example.com")
    assert e.value.code == "COTTER_ETLS"
    ok = cotter.Client(tls_emulator.api_key_id, base_url=tls_emulator.base_url, ca_file=tls_emulator.ca_file)
    assert ok.create_user("tls@example.com").identifier == "tls@example.com"


def test_ehttp_with_retry_after(emulator: Any) -> None:
    c = cotter.Client(emulator.api_key_id, base_url=emulator.base_url, max_retries=0)
    emulator.fault("GET /api/v0/user/:id", status=503, retry_after=7, body="<html>down</html>")
    with pytest.raises(cotter.HTTPError) as e:
        c.get_user("u")
    assert e.value.http_status == 503 and e.value.retry_after == 7 and e.value.code == "COTTER_EHTTP"


def test_eoauth(client: cotter.Client) -> None:
    with pytest.raises(cotter.OAuthError) as e:
        client.get_identity("no-such-code", 1, "v" * 43, "http://localhost:1")
    assert e.value.http_status == 400 and e.value.oauth_error_description
    assert "COTTER_EOAUTH" in str(e.value) and "OAuthError" in repr(e.value)


def test_eprotocol(emulator: Any, client: cotter.Client) -> None:
    emulator.fault("POST /api/v0/user/create", malformed_json=True)
    with pytest.raises(cotter.ProtocolError):
        client.create_user("proto@example.com")


def test_ereauth_and_no_secret_in_message(emulator: Any, client: cotter.Client) -> None:
    token = cotter.Token.from_dict(emulator.login("reauth@example.com")["oauth_token"])
    assert token.refresh_token
    client.refresh(token.refresh_token)
    with pytest.raises(cotter.ReauthRequired) as e:
        client.refresh(token.refresh_token)
    assert token.refresh_token.split(":")[1] not in str(e.value) + repr(e.value)
    assert emulator.api_secret_key not in str(e.value)


def test_ecredentials_not_ereauth(emulator: Any, client: cotter.Client) -> None:
    """A wrong API key id or secret is a configuration error: CredentialsRejected, never ReauthRequired (the emulator
    says "API_KEY_ID is not valid", and "not valid" used to mean "log in again"). The refresh token is not spent,
    and a session keeps its tokens and asks the server again next time."""
    token = cotter.Token.from_dict(emulator.login("creds@example.com")["oauth_token"])
    assert token.refresh_token
    wrong_key = cotter.Client("0e0e0e0e-0000-4000-8000-00000000bad5", base_url=emulator.base_url)
    with pytest.raises(cotter.CredentialsRejected) as e:
        wrong_key.refresh(token.refresh_token)
    assert not isinstance(e.value, cotter.ReauthRequired)
    assert e.value.code == "COTTER_ECREDENTIALS" and e.value.status == -16 and e.value.http_status == 401
    assert "log in again" not in str(e.value)
    session = cotter.TokenSession(wrong_key, token=token)
    for _ in range(2):
        with pytest.raises(cotter.CredentialsRejected) as e:
            session.refresh()
        assert e.value.http_status == 401, "asked the server again (a rejected refresh token would not)"
    wrong_secret = cotter.Client(emulator.api_key_id, "wrong-secret-value", base_url=emulator.base_url)
    with pytest.raises(cotter.CredentialsRejected) as e:
        wrong_secret.list_users()
    assert "wrong-secret-value" not in str(e.value) + repr(e.value)
    assert client.refresh(token.refresh_token).access_token, "the refresh token was not spent"


def test_estorage(client: cotter.Client, tmp_path: Path) -> None:
    f = tmp_path / "tokens.json"
    f.write_text("{ not json")
    with pytest.raises(cotter.StorageError):
        cotter.TokenSession(client, token_file=str(f))


def test_enotfound(client: cotter.Client) -> None:
    with pytest.raises(cotter.NotFound) as e:
        client.get_user("00000000-0000-0000-0000-00000000dead")
    assert e.value.http_status == 404
    with pytest.raises(cotter.NotFound):
        client.get_user_by_identifier("nobody-here@example.com")


def test_estate() -> None:
    with pytest.raises(cotter.StateMismatch):
        cotter.parse_redirect("code=abc&state=other&challenge_id=3", "expected")
    with pytest.raises(cotter.StateMismatch):
        cotter.parse_redirect("error=access_denied&state=expected", "expected")
    assert cotter.parse_redirect("?code=abc&state=s&challenge_id=3", "s") == ("abc", 3)
    with pytest.raises(cotter.ProtocolError):
        cotter.parse_redirect("state=s", "s")


def test_callback_exception_propagates_unchanged(client: cotter.Client) -> None:
    class Boom(Exception):
        pass

    class Storage:
        def load(self) -> str:
            raise Boom("storage unavailable")

        def save(self, token_json: Any) -> None:
            pass

    with pytest.raises(Boom):
        cotter.TokenSession(client, storage=Storage())


def test_euser_when_a_hook_returns_garbage(client: cotter.Client) -> None:
    class Storage:
        def load(self) -> Any:
            return 42  # neither str nor bytes: the hook fails without a Python exception of its own

        def save(self, token_json: Any) -> None:
            pass

    with pytest.raises(cotter.CallbackError) as e:
        cotter.TokenSession(client, storage=Storage())
    assert e.value.code == "COTTER_EUSER"


def test_jwks_and_legacy_errors(emulator: Any) -> None:
    with pytest.raises(cotter.JWKSInvalid):
        cotter.Verifier("aud", jwks='{"keys": 5}')
    with _closed_port() as port, pytest.raises(cotter.JWKSUnavailable):
        cotter.Verifier("aud", jwks_url=f"http://127.0.0.1:{port}/jwks", jwks_timeout=0.5).verify(make(Key()))

    minted = emulator.dev("/identity_token", {"identifier": "legacy@example.com"})["identity_token"]
    key = emulator.identity_public_key
    cotter.identity_token_verify(minted, emulator.api_key_id, public_key=key)
    with pytest.raises(cotter.LegacySignatureError):
        cotter.identity_token_verify(dict(minted, identifier="evil@example.com"), emulator.api_key_id, public_key=key)
    with pytest.raises(cotter.LegacyClaimError):
        cotter.identity_token_verify(minted, "another-key", public_key=key)
    with pytest.raises(cotter.LegacyClaimError):
        cotter.identity_token_verify(minted, emulator.api_key_id, public_key=key, now=int(minted["expire_at"]) + 1)

    event = emulator.dev("/event_token", {"identifier": "legacy@example.com"})["event_token"]
    cotter.event_token_verify(json.dumps(event), emulator.api_key_id, public_key=key)
    with pytest.raises(cotter.LegacySignatureError):
        cotter.event_token_verify(dict(event, event="OTHER"), emulator.api_key_id, public_key=key)
    rejected = emulator.dev("/event_token", {"identifier": "legacy@example.com", "approved": False})["event_token"]
    with pytest.raises(cotter.LegacyClaimError):
        cotter.event_token_verify(rejected, emulator.api_key_id, public_key=key)


NUL_CASES = {
    "verifier audience": lambda c: cotter.Verifier("aud\x00extra", jwks='{"keys":[]}'),
    "verifier issuer": lambda c: cotter.Verifier("aud", jwks='{"keys":[]}', issuer="https://www.cotter.app\x00x"),
    "verifier jwks_url": lambda c: cotter.Verifier("aud", jwks_url="http://127.0.0.1:1/jwks\x00x"),
    "client api_key_id": lambda c: cotter.Client("key\x00x"),
    "client secret": lambda c: cotter.Client("key", "secret\x00x"),
    "client base_url": lambda c: cotter.Client("key", base_url="http://127.0.0.1:1/api/v0\x00x"),
    "get_user": lambda c: c.get_user("u\x00/../list"),
    "create_user": lambda c: c.create_user("a@example.com\x00b"),
    "refresh": lambda c: c.refresh("1:rt\x00x"),
    "custom_claims": lambda c: c.custom_claims("a.b.c\x00", {"k": "v"}),
    "social_token": lambda c: c.social_token("GITHUB\x00", "u"),
    "login_url": lambda c: cotter.login_url("key", "http://127.0.0.1:1", "st\x00ate", "challenge"),
    "parse_redirect": lambda c: cotter.parse_redirect("code=a&state=s&challenge_id=1", "s\x00"),
    "identity_token_verify": lambda c: cotter.identity_token_verify({"a": 1}, "key\x00x"),
    "token_file": lambda c: cotter.TokenSession(c, token_file="/tmp/x\x00y"),
}


@pytest.mark.parametrize("name", sorted(NUL_CASES))
def test_embedded_nul_is_rejected_not_truncated(client: cotter.Client, name: str) -> None:
    """C strings end at the first NUL: passing "aud\\0extra" on would verify tokens for "aud". Refused instead."""
    with pytest.raises(cotter.InvalidArgument) as e:
        NUL_CASES[name](client)
    assert e.value.code == "COTTER_EINVAL" and "NUL" in e.value.message


INT_CASES = {
    "client timeout too big": lambda c: cotter.Client("key", timeout=2**70),
    "client timeout not finite": lambda c: cotter.Client("key", timeout=float("inf")),
    "client max_retries beyond int": lambda c: cotter.Client("key", max_retries=2**40),
    "client max_response_bytes negative": lambda c: cotter.Client("key", max_response_bytes=-1),
    "client timeout as str": lambda c: cotter.Client("key", timeout="5"),  # type: ignore[arg-type]
    "verifier jwks_timeout as bool": lambda c: cotter.Verifier("aud", jwks_url="http://127.0.0.1:1/j", jwks_timeout=True),
    "client max_retries as bool": lambda c: cotter.Client("key", max_retries=True),
    "verifier leeway beyond int64": lambda c: cotter.Verifier("aud", jwks='{"keys":[]}', leeway=2**64),
    "verifier now beyond int64": lambda c: cotter.Verifier("aud", jwks='{"keys":[]}', now=2**63),
    "verifier jwks_max_bytes negative": lambda c: cotter.Verifier("aud", jwks_url="http://127.0.0.1:1/j", jwks_max_bytes=-1),
    "verifier token_cache_size negative": lambda c: cotter.Verifier("aud", jwks='{"keys":[]}', token_cache_size=-5),
    "list_users negative page": lambda c: c.list_users(-1),
    "list_users page beyond unsigned": lambda c: c.list_users(2**32),
    "session refresh_margin beyond int64": lambda c: cotter.TokenSession(c, refresh_margin=2**64),
    "identity_token_verify now beyond int64": lambda c: cotter.identity_token_verify({"a": 1}, "key", now=-(2**63) - 1),
}


@pytest.mark.parametrize("name", sorted(INT_CASES))
def test_integers_that_do_not_fit_c_are_invalid_arguments(client: cotter.Client, name: str) -> None:
    """Not pybind11's TypeError, and never a value wrapped around on its way to C."""
    with pytest.raises(cotter.InvalidArgument) as e:
        INT_CASES[name](client)
    assert e.value.code == "COTTER_EINVAL"


def test_meaningful_ranges_are_checked_by_the_library() -> None:
    with pytest.raises(cotter.InvalidArgument):
        cotter.Verifier("aud", jwks='{"keys":[]}', leeway=-1)
    with pytest.raises(cotter.InvalidArgument):
        cotter.Client("key", timeout=-1)

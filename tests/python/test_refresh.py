"""
@file test_refresh.py
@brief Refresh grants: rotation, a response without refresh_token keeps the old one, never retried,
and Token parsing/serialising of Cotter's six-key oauth_token.
"""
from __future__ import annotations

import json
from typing import Any

import pytest

import cotter


def test_rotation(emulator: Any, client: cotter.Client) -> None:
    t0 = cotter.Token.from_dict(emulator.login("rot@example.com")["oauth_token"])
    t1 = client.refresh(t0.refresh_token or "")
    assert t1.refresh_token != t0.refresh_token and t1.access_token != t0.access_token
    t2 = client.refresh(t1.refresh_token or "")
    assert t2.access_token
    with pytest.raises(cotter.ReauthRequired):
        client.refresh(t0.refresh_token or "")
    # Reuse of a rotated token revokes the whole login (RFC 9700 §4.14.2; the emulator's refresh families).
    with pytest.raises(cotter.ReauthRequired):
        client.refresh(t2.refresh_token or "")


def test_response_without_refresh_token_keeps_ours(emulator: Any, client: cotter.Client) -> None:
    t0 = cotter.Token.from_dict(emulator.login("keep@example.com")["oauth_token"])
    minted = emulator.dev("/access_token", {"identifier": "keep@example.com"})
    body = {"access_token": minted["access_token"], "id_token": minted["id_token"], "token_type": "Bearer",
            "expires_in": 3600, "auth_method": "OTP"}
    emulator.fault("POST /api/v0/token/:api_key_id", status=200, body=body)
    t1 = client.refresh(t0.refresh_token or "")
    assert t1.access_token == minted["access_token"] and t1.refresh_token == t0.refresh_token


def test_refresh_is_never_retried(emulator: Any, client: cotter.Client) -> None:
    t0 = cotter.Token.from_dict(emulator.login("noretry@example.com")["oauth_token"])
    emulator.dev("/stats/reset", {})
    emulator.fault("POST /api/v0/token/:api_key_id", status=503, count=1)
    with pytest.raises(cotter.HTTPError):
        client.refresh(t0.refresh_token or "")
    assert emulator.dev("/stats")["requests"]["POST /api/v0/token/:api_key_id"] == 1
    assert client.refresh(t0.refresh_token or "").access_token  # the token was not consumed


def test_lost_response_after_rotation(emulator: Any, client: cotter.Client) -> None:
    t0 = cotter.Token.from_dict(emulator.login("lost@example.com")["oauth_token"])
    emulator.fault("POST /api/v0/token/:api_key_id", reset=True, after=True)
    with pytest.raises(cotter.NetworkError):
        client.refresh(t0.refresh_token or "")


def test_token_json_round_trip() -> None:
    original = {"access_token": "a.b.c", "id_token": "d.e.f", "refresh_token": "17:xyz", "token_type": "Bearer",
                "auth_method": "OTP", "expires_in": 3600}
    t = cotter.Token.from_json(json.dumps(original))
    assert t.to_dict() == original
    assert cotter.Token.from_dict(original).to_dict() == original
    assert "17:xyz" not in repr(t) and "refresh_token='<redacted>'" in repr(t)
    assert t.expires_at == 0  # not a readable JWT
    partial = cotter.Token.from_dict({"access_token": "x"})
    assert partial.refresh_token is None and partial.expires_in == 0
    with pytest.raises(cotter.ProtocolError):
        cotter.Token.from_json("[]")
    with pytest.raises(cotter.ProtocolError):
        cotter.Token.from_json('{"refresh_token": "1:a"}')


def test_expires_at_reads_the_jwt(emulator: Any) -> None:
    r = emulator.dev("/access_token", {"identifier": "exp@example.com"})
    t = cotter.Token.from_dict({"access_token": r["access_token"]})
    assert t.expires_at == r["access_claims"]["exp"]


def test_client_logout_revokes(emulator: Any, client: cotter.Client) -> None:
    t0 = cotter.Token.from_dict(emulator.login("logout@example.com")["oauth_token"])
    client.logout(t0.refresh_token)
    with pytest.raises(cotter.ReauthRequired):
        client.refresh(t0.refresh_token or "")
    client.logout(None)  # idempotent, no token

"""
@file test_session.py
@brief TokenSession: refresh only when needed, single-flight across threads (GIL released), token file
0600 and atomic, custom storage hooks, tokens-changed callback, logout, and transport errors keep tokens.
"""
from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any, List, Optional

import pytest

import cotter


def _login(emulator: Any, who: str) -> cotter.Token:
    return cotter.Token.from_dict(emulator.login(who)["oauth_token"])


def test_no_refresh_while_fresh(emulator: Any, client: cotter.Client) -> None:
    t = _login(emulator, "fresh@example.com")
    s = cotter.TokenSession(client, token=t)
    emulator.dev("/stats/reset", {})
    assert s.access_token() == t.access_token
    assert s.token().refresh_token == t.refresh_token
    assert emulator.dev("/stats")["requests"] == {}


def test_refresh_when_expiring_single_flight(emulator: Any, client: cotter.Client) -> None:
    emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})
    t = _login(emulator, "flight@example.com")  # access token expires within the 30 s margin
    s = cotter.TokenSession(client, token=t)
    emulator.dev("/stats/reset", {})
    emulator.fault("POST /api/v0/token/:api_key_id", latency_ms=300)
    results: List[str] = []
    threads = [threading.Thread(target=lambda: results.append(s.access_token())) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(results)) == 1 and results[0] != t.access_token
    assert emulator.dev("/stats")["requests"]["POST /api/v0/token/:api_key_id"] == 1


def test_token_file_is_0600_and_shared(emulator: Any, client: cotter.Client, tmp_path: Path) -> None:
    path = tmp_path / "tok.json"
    t = _login(emulator, "file@example.com")
    s = cotter.TokenSession(client, token_file=str(path), token=t)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["refresh_token"] == t.refresh_token
    new = s.refresh()
    assert json.loads(path.read_text())["refresh_token"] == new.refresh_token
    other = cotter.TokenSession(client, token_file=str(path))  # loads from the file
    assert other.access_token() == new.access_token
    other.logout()
    assert not path.exists()
    with pytest.raises(cotter.ReauthRequired):
        other.access_token()


def test_transport_error_keeps_the_tokens(emulator: Any, client: cotter.Client, tmp_path: Path) -> None:
    path = tmp_path / "keep.json"
    t = _login(emulator, "transport@example.com")
    s = cotter.TokenSession(client, token_file=str(path), token=t)
    # More than once: a session sends a refresh whose answer was lost once more with the same token, and libcurl
    # silently re-sends a request whose reused keep-alive connection died before any answer. Cleared after.
    emulator.fault("POST /api/v0/token/:api_key_id", reset=True, count=4)
    with pytest.raises(cotter.NetworkError):
        s.refresh()
    emulator.dev("/faults", method="DELETE")
    assert json.loads(path.read_text())["refresh_token"] == t.refresh_token
    assert s.refresh().access_token


def test_rejected_refresh_needs_reauth(emulator: Any, client: cotter.Client) -> None:
    t = _login(emulator, "expired-rt@example.com")
    s = cotter.TokenSession(client, token=t)
    emulator.dev("/expire_tokens", {"identifier": "expired-rt@example.com", "refresh_tokens": True})
    with pytest.raises(cotter.ReauthRequired):
        s.refresh()


def test_storage_hooks_and_changes(emulator: Any, client: cotter.Client) -> None:
    class Memory:
        def __init__(self) -> None:
            self.value: Optional[str] = None
            self.saves = 0

        def load(self) -> Optional[str]:
            return self.value

        def save(self, token_json: Optional[str]) -> None:
            self.saves += 1
            self.value = token_json

    store = Memory()
    changes: List[Optional[cotter.Token]] = []
    t = _login(emulator, "hooks@example.com")
    s = cotter.TokenSession(client, storage=store, token=t, on_tokens_changed=changes.append)
    assert store.value and json.loads(store.value)["refresh_token"] == t.refresh_token
    new = s.refresh()
    assert json.loads(store.value or "{}")["refresh_token"] == new.refresh_token
    assert changes and changes[-1] is not None and changes[-1].refresh_token == new.refresh_token
    s2 = cotter.TokenSession(client, storage=store)
    assert s2.access_token() == new.access_token
    s2.logout()
    assert store.value is None and changes[-1] is not None  # the other session's callback is not s2's
    with pytest.raises(ValueError):
        cotter.TokenSession(client, storage=type("Half", (), {"load": lambda self: None, "save": None})())


def test_changed_callback_exception_is_raised_after_the_change(emulator: Any, client: cotter.Client) -> None:
    def boom(token: Optional[cotter.Token]) -> None:
        raise RuntimeError("listener failed")

    t = _login(emulator, "boom@example.com")
    s = cotter.TokenSession(client, token=t)
    s2 = cotter.TokenSession(client, token=t, on_tokens_changed=None)
    del s2
    listener = cotter.TokenSession(client, on_tokens_changed=boom)
    with pytest.raises(RuntimeError, match="listener failed"):
        listener.set_token(t)
    assert listener.access_token() == t.access_token  # the change itself happened
    assert s.access_token() == t.access_token


def test_set_token_and_logout(emulator: Any, client: cotter.Client) -> None:
    s = cotter.TokenSession(client)
    with pytest.raises(cotter.ReauthRequired):
        s.access_token()
    t = _login(emulator, "set@example.com")
    s.set_token(t)
    assert s.token().access_token == t.access_token
    emulator.dev("/stats/reset", {})
    s.logout()
    assert emulator.dev("/stats")["requests"].get("DELETE /api/v0/token/:api_key_id") == 1
    with pytest.raises(cotter.ReauthRequired):
        client.refresh(t.refresh_token or "")


def test_session_keeps_its_client_alive(emulator: Any) -> None:
    import gc

    c = cotter.Client(emulator.api_key_id, base_url=emulator.base_url)
    s = cotter.TokenSession(c, token=_login(emulator, "alive@example.com"))
    del c
    gc.collect()
    assert s.refresh().access_token

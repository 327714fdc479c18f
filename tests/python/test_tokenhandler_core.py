"""
@file test_tokenhandler_core.py
@brief cotter.tokenhandler sits on the library's token-file session (core/token/storage.cpp, session.cpp): two
callers of get_token_from_file on one expiring file refresh once (the library's file lock and single flight),
where two Python re-implementations each refreshed (the second with a rotated, rejected refresh token).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, List

import pytest

from cotter import tokenhandler

REFRESH = "POST /api/v0/token/:api_key_id"


@pytest.fixture
def compat_env(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("COTTER_BASE_URL", emulator.base_url)
    return emulator


def test_two_callers_on_one_expiring_file_refresh_once(compat_env: Any, tmp_path: Path) -> None:
    emulator = compat_env
    emulator.dev("/expire_tokens", {"next_access_ttl": 5, "count": 1})
    oauth = emulator.login("tokenhandler-once@example.com")["oauth_token"]
    f = tmp_path / "t.json"
    tokenhandler.store_token_to_file(oauth, str(f))
    emulator.dev("/stats/reset", {})
    # A slow refresh keeps the first caller's refresh in flight while the second one starts (counts only, no
    # timing is asserted: with the library's lock the outcome is one refresh whatever the interleaving).
    emulator.fault(REFRESH, latency_ms=500, count=1)
    results: List[Dict[str, Any]] = []
    errors: List[BaseException] = []

    def call() -> None:
        try:
            results.append(tokenhandler.get_token_from_file(str(f), emulator.api_key_id))
        except BaseException as e:  # noqa: B036 (reported to the test thread)
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert emulator.requests_seen(REFRESH) == 1
    assert len(results) == 2 and results[0] == results[1]
    assert results[0]["access_token"] != oauth["access_token"]

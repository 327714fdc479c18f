"""
@file test_examples.py
@brief The examples in python/examples/ (type-checked with mypy --strict by scripts/test-python.sh) also run, as
programs, against the emulator, and print what they promise.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

from conftest import ROOT

EXAMPLES = ROOT / "python/examples"


def _run(name: str, *args: str, cwd: Path, env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60)


def _env(emulator: Any) -> Dict[str, str]:
    return {"COTTER_API_KEY_ID": emulator.api_key_id, "COTTER_API_SECRET_KEY": emulator.api_secret_key,
            "COTTER_BASE_URL": emulator.base_url}


def test_verify_token(emulator: Any, tmp_path: Path) -> None:
    minted = emulator.dev("/access_token", {"identifier": "example@example.com"})
    ok = _run("verify_token.py", emulator.api_key_id, emulator.jwks_url, minted["access_token"], cwd=tmp_path, env={})
    assert ok.returncode == 0 and ok.stdout.strip() == minted["access_claims"]["sub"], ok.stderr
    bad = _run("verify_token.py", emulator.api_key_id, emulator.jwks_url, minted["access_token"][:-4] + "AAAA",
               cwd=tmp_path, env={})
    assert bad.returncode == 1 and bad.stderr.strip() == "rejected: COTTER_EJWT_SIGNATURE"


def test_session_refresh(emulator: Any, tmp_path: Path) -> None:
    no_tokens = _run("session_refresh.py", cwd=tmp_path, env=_env(emulator))
    assert no_tokens.returncode == 0 and no_tokens.stdout.startswith("log in again wit")
    emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})  # so that the example refreshes
    oauth = emulator.login("example-session@example.com")["oauth_token"]
    (tmp_path / "tokens.json").write_text(json.dumps(oauth))
    r = _run("session_refresh.py", cwd=tmp_path, env=_env(emulator))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("tokens changed: Token(access_token='eyJ") and oauth["refresh_token"] not in r.stdout
    assert lines[1] == json.loads((tmp_path / "tokens.json").read_text())["access_token"][:16]


def test_legacy_sdk_script(emulator: Any, tmp_path: Path) -> None:
    oauth = emulator.login("example-legacy@example.com")["oauth_token"]
    (tmp_path / "cottertoken.json").write_text(json.dumps(oauth))
    r = _run("legacy_sdk_script.py", cwd=tmp_path, env=_env(emulator))
    assert r.returncode == 0 and r.stdout.strip() == "example-legacy@example.com", r.stderr


def test_async_server(emulator: Any, client: Any, tmp_path: Path) -> None:
    client.create_user("example-async@example.com")
    r = _run("async_server.py", cwd=tmp_path, env=_env(emulator))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("[") and "'example-async@example.com'" in r.stdout  # the project's users

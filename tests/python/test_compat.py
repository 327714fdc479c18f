"""
@file test_compat.py
@brief Scripts written against Cotter's original Python SDK (spec §5.1) run unchanged: the four login
functions, cotter.tokenhandler and cotter.validate keep their signatures and return shapes, minus the bugs
(state checked, own success page, refresh only when needed, old refresh token kept, 0600 atomic file).
"""
from __future__ import annotations

import inspect
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Dict, List

import pytest

import cotter
from cotter import tokenhandler, validate
from cotter.errors import RefreshTokenFailedError, RefreshTokenNotExistError
from demo_login_driver import drive_login


@pytest.fixture
def compat_env(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("COTTER_BASE_URL", emulator.base_url)
    monkeypatch.setenv("COTTER_LOGIN_URL", emulator.login_url)
    return emulator


def test_signatures_match_the_original() -> None:
    for fn in (cotter.login_with_email_link, cotter.login_with_email_otp, cotter.login_with_phone_link,
               cotter.login_with_phone_otp):
        assert list(inspect.signature(fn).parameters) == ["api_key", "port"]
    assert list(inspect.signature(tokenhandler.store_token_to_file).parameters) == ["oauth_token", "filename"]
    assert list(inspect.signature(tokenhandler.get_token_from_file).parameters) == ["filename", "api_key"]
    assert list(inspect.signature(tokenhandler.refresh_token).parameters) == ["oauth_token", "api_key"]
    assert list(inspect.signature(validate.validate_access_token).parameters) == ["access_token", "api_key"]
    assert list(inspect.signature(validate.validate_id_token).parameters) == ["id_token", "api_key"]


@pytest.mark.parametrize("fn,who,kind", [
    ("login_with_email_otp", "compat-otp@example.com", "OTP"),
    ("login_with_email_link", "compat-link@example.com", "MAGIC_LINK"),
    ("login_with_phone_otp", "+14155550100", "OTP"),
])
def test_login_functions(compat_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                         fn: str, who: str, kind: str) -> None:
    emulator = compat_env
    opened = []

    def fake_browser(url: str) -> bool:  # webbrowser.open: the "user" completes the page on another thread
        opened.append(url)
        threading.Thread(target=drive_login, args=(url, emulator.dev_url, emulator.dev_token, who), daemon=True).start()
        return True

    monkeypatch.setattr("webbrowser.open", fake_browser)
    from cotter.login import free_port

    port = free_port()
    response: Dict[str, Any] = getattr(cotter, fn)(emulator.api_key_id, port)
    assert f"redirect_url=http%3A%2F%2Flocalhost%3A{port}" in opened[0] and f"auth_method={kind}" in opened[0]
    assert set(response) >= {"identifier", "token", "oauth_token", "user"}  # the whole get_identity body
    printed = capsys.readouterr().out
    assert printed.startswith("Open this link to login at your browser: " + opened[0] + "\n")
    oauth = response["oauth_token"]
    assert validate.validate_access_token(oauth["access_token"], emulator.api_key_id)["identifier"] == who.lower()
    assert validate.validate_id_token(oauth["id_token"], emulator.api_key_id)["identifier"] == who.lower()


def test_store_and_get_token_file(compat_env: Any, tmp_path: Path) -> None:
    emulator = compat_env
    oauth = emulator.login("compat-file@example.com")["oauth_token"]
    f = tmp_path / "cottertoken.json"
    tokenhandler.store_token_to_file(oauth, str(f))
    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and json.loads(f.read_text()) == oauth
    assert [p.name for p in tmp_path.iterdir()] == ["cottertoken.json"], "no temporary file left behind"

    emulator.dev("/stats/reset", {})
    before = f.stat()
    assert tokenhandler.get_token_from_file(str(f), emulator.api_key_id) == oauth
    assert emulator.dev("/stats")["requests"] == {}, "a fresh token must not be refreshed"
    assert (f.stat().st_ino, f.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "nor rewritten"


def test_get_token_from_file_refreshes_when_expiring(compat_env: Any, tmp_path: Path) -> None:
    emulator = compat_env
    emulator.dev("/expire_tokens", {"next_access_ttl": 5, "count": 1})
    oauth = emulator.login("compat-exp@example.com")["oauth_token"]
    f = tmp_path / "t.json"
    tokenhandler.store_token_to_file(oauth, str(f))
    fresh = tokenhandler.get_token_from_file(str(f), emulator.api_key_id)
    assert fresh["access_token"] != oauth["access_token"] and fresh["refresh_token"] != oauth["refresh_token"]
    assert json.loads(f.read_text()) == fresh
    assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_refresh_keeps_the_refresh_token_when_absent(compat_env: Any) -> None:
    emulator = compat_env
    emulator.dev("/expire_tokens", {"next_access_ttl": -5, "count": 1})
    oauth = emulator.login("compat-keep@example.com")["oauth_token"]
    minted = emulator.dev("/access_token", {"identifier": "compat-keep@example.com"})
    emulator.fault("POST /api/v0/token/:api_key_id", status=200,
                   body={"access_token": minted["access_token"], "id_token": minted["id_token"],
                         "token_type": "Bearer", "expires_in": 3600, "auth_method": "OTP"})
    fresh = tokenhandler.refresh_token(oauth, emulator.api_key_id)
    assert fresh["access_token"] == minted["access_token"] and fresh["refresh_token"] == oauth["refresh_token"]


def test_refresh_errors(compat_env: Any) -> None:
    emulator = compat_env
    emulator.dev("/expire_tokens", {"next_access_ttl": -5, "count": 1})
    oauth = emulator.login("compat-err@example.com")["oauth_token"]
    with pytest.raises(RefreshTokenNotExistError):
        tokenhandler.refresh_token(dict(oauth, refresh_token=""), emulator.api_key_id)
    emulator.dev("/expire_tokens", {"identifier": "compat-err@example.com", "refresh_tokens": True})
    with pytest.raises(RefreshTokenFailedError) as e:
        tokenhandler.refresh_token(oauth, emulator.api_key_id)
    assert isinstance(e.value.__cause__, cotter.ReauthRequired)


def test_validate_rejects(compat_env: Any) -> None:
    emulator = compat_env
    token = emulator.dev("/access_token", {"identifier": "v@example.com", "ttl": -60})["access_token"]
    with pytest.raises(cotter.JWTExpired):
        validate.validate_access_token(token, emulator.api_key_id)
    good = emulator.dev("/access_token", {"identifier": "v@example.com"})["access_token"]
    with pytest.raises(cotter.JWTAudienceError):
        validate.validate_access_token(good, "another-api-key")


def test_original_script_runs_unchanged(compat_env: Any, tmp_path: Path) -> None:
    """The original README's token-file usage, as a separate program."""
    emulator = compat_env
    oauth = emulator.login("script@example.com")["oauth_token"]
    script = tmp_path / "app.py"
    script.write_text(
        "import sys\n"
        "from cotter import tokenhandler, validate\n"
        "API_KEY = sys.argv[1]\n"
        "tokenhandler.store_token_to_file(" + json.dumps(oauth) + ", 'cottertoken.json')\n"
        "oauth_token = tokenhandler.get_token_from_file('cottertoken.json', API_KEY)\n"
        "print(validate.validate_access_token(oauth_token['access_token'], API_KEY)['identifier'])\n"
    )
    r = subprocess.run([sys.executable, str(script), emulator.api_key_id], cwd=tmp_path, capture_output=True,
                       text=True, env={**os.environ, "COTTER_BASE_URL": emulator.base_url})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "script@example.com"


def _child(args: List[str], cwd: Path, **variables: str) -> str:
    """Runs a Python child whose environment has no COTTER_* variable but `variables`: the library reads the
    environment there, never in this test process. Returns its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COTTER_")}
    r = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env={**env, **variables})
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_validate_trusts_cotter_ca_file_read_by_the_library(tls_emulator: Any, tmp_path: Path) -> None:
    """$COTTER_CA_FILE is the CA bundle validate_* trust for the key set: the library reads it (the verifier's
    from_environment), the binding no longer does. Without it, the system store does not know the emulator's CA."""
    emu = tls_emulator
    token = emu.dev("/access_token", {"identifier": "ca-file@example.com"})["access_token"]
    script = ("import sys\nimport cotter\nfrom cotter import validate\n"
              "try:\n    print(validate.validate_access_token(sys.argv[1], sys.argv[2])['identifier'])\n"
              "except cotter.CotterError as e:\n    print(type(e).__name__)\n")
    args = ["-c", script, token, emu.api_key_id]
    assert _child(args, tmp_path, COTTER_BASE_URL=emu.base_url, COTTER_CA_FILE=emu.ca_file) == "ca-file@example.com"
    assert _child(args, tmp_path, COTTER_BASE_URL=emu.base_url) == "JWKSUnavailable"
    # An explicit Verifier reads the variable only when asked.
    explicit = ("import sys\nimport cotter\n"
                "for env in (False, True):\n"
                "    v = cotter.Verifier(sys.argv[2], jwks_url=sys.argv[3], from_environment=env)\n"
                "    try:\n        print(v.verify(sys.argv[1]).to_dict()['identifier'])\n"
                "    except cotter.CotterError as e:\n        print(type(e).__name__)\n")
    out = _child(["-c", explicit, token, emu.api_key_id, emu.base_url + "/token/jwks"], tmp_path,
                 COTTER_CA_FILE=emu.ca_file)
    assert out.split() == ["JWKSUnavailable", "ca-file@example.com"]


def test_login_url_default_is_read_by_the_library(emulator: Any, tmp_path: Path) -> None:
    """cotter.login_url's default page is $COTTER_LOGIN_URL, read by the library (login-URL options'
    from_environment), else Cotter's; a given login_url wins."""
    script = ("import sys\nimport cotter\n"
              "print(cotter.login_url('key', 'http://localhost:1', 's', 'c'))\n"
              "print(cotter.login_url('key', 'http://localhost:1', 's', 'c', login_url='https://given.example/app'))\n")
    lines = _child(["-c", script], tmp_path, COTTER_LOGIN_URL=emulator.login_url).splitlines()
    assert lines[0].startswith(emulator.login_url + "?api_key=key&")
    assert lines[1].startswith("https://given.example/app?api_key=key&")
    assert _child(["-c", script], tmp_path).splitlines()[0].startswith("https://js.cotter.app/app?api_key=key&")


def test_get_token_from_file_refuses_fifo_symlink_and_keeps_file_not_found(compat_env: Any, tmp_path: Path) -> None:
    """The token file is read as the C library reads it: a FIFO used to hang open() forever, a symlink was
    followed. A missing file is still the original SDK's FileNotFoundError."""
    emulator = compat_env
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    outcome: List[BaseException] = []

    def read_fifo() -> None:
        try:
            tokenhandler.get_token_from_file(str(fifo), emulator.api_key_id)
        except BaseException as e:  # noqa: B036 (reported to the test thread)
            outcome.append(e)

    t = threading.Thread(target=read_fifo, daemon=True)
    t.start()
    t.join(30)
    if t.is_alive():  # unblock the reader (a writer appears, then EOF) before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(30)
        pytest.fail("get_token_from_file blocked on a FIFO")
    assert len(outcome) == 1 and isinstance(outcome[0], cotter.StorageError), outcome
    assert "not a regular file" in str(outcome[0])

    real = tmp_path / "real.json"
    tokenhandler.store_token_to_file(emulator.login("compat-link@example.com")["oauth_token"], str(real))
    link = tmp_path / "link.json"
    link.symlink_to(real)
    with pytest.raises(cotter.StorageError, match="symbolic link"):
        tokenhandler.get_token_from_file(str(link), emulator.api_key_id)
    with pytest.raises(FileNotFoundError):
        tokenhandler.get_token_from_file(str(tmp_path / "missing.json"), emulator.api_key_id)
    assert tokenhandler.get_token_from_file(str(real), emulator.api_key_id)["access_token"]

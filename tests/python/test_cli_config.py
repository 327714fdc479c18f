"""
@file test_cli_config.py
@brief `cotter` like gh (issue 15, items 11 and 12), in real processes against the emulator with a real login
through its page: after `cotter login`, token/whoami/verify/social-tokens work with no environment variable (the
profile in $XDG_CONFIG_HOME/cotter/config.json); `cotter config`, `--profile`; logout removes the lock file;
`--json` puts exactly one JSON document on stdout; out-of-range numbers are usage errors; the progress line.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from demo_login_driver import drive_login


def _bare_env(config_home: Path, **extra: str) -> Dict[str, str]:
    """Nothing but what a shell always has: no COTTER_* variable at all. The sanitizer runtime's variables pass
    through (scripts/test-hardening.sh runs this suite with libasan preloaded; without it the CLI cannot load the
    instrumented extension)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(config_home.parent / "home"),
           "XDG_CONFIG_HOME": str(config_home)}
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "PYTHONMALLOC"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env


def _run(args: List[str], env: Dict[str, str], input: Optional[str] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cotter", *args], capture_output=True, text=True, env=env,
                          input=input, timeout=60)


def _login(emulator: Any, env: Dict[str, str], identifier: str, *extra: str) -> Tuple[subprocess.CompletedProcess[str], List[str]]:
    """`cotter login --no-browser --json ...`: the URL and the progress line arrive on stderr while the CLI waits;
    then the page is driven over HTTP. Returns the finished process and the stderr lines read before the login."""
    proc = subprocess.Popen([sys.executable, "-m", "cotter", "login", "--no-browser", "--json", "--timeout", "30",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    early: List[str] = []
    try:
        while not (early and early[-1].startswith("Waiting for the login")):
            line = proc.stderr.readline()
            assert line, f"stderr ended early: {early}"
            early.append(line.rstrip("\n"))
        url = next(line for line in early if line.startswith("http"))
        assert url.startswith(emulator.login_url + "?"), url
        assert "cotter-success" in drive_login(url, emulator.dev_url, emulator.dev_token, identifier)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for stream in (proc.stdout, proc.stderr):  # closed on every path: a failed login leaks no pipe into later tests
            if stream is not None:
                stream.close()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "\n".join(early) + "\n" + err), early


def _first_login(emulator: Any, tmp_path: Path, identifier: str, *extra: str) -> Tuple[Dict[str, str], Path]:
    """Logs in with the settings given once (as the environment), and returns a bare environment for what follows."""
    config_home = tmp_path / "config"
    env = _bare_env(config_home, COTTER_BASE_URL=emulator.base_url, COTTER_LOGIN_URL=emulator.login_url,
                    COTTER_API_KEY_ID=emulator.api_key_id)
    r, _ = _login(emulator, env, identifier, *extra)
    assert r.returncode == 0, r.stderr
    return _bare_env(config_home), config_home


def test_after_login_commands_need_no_environment(emulator: Any, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(emulator.api_secret_key + "\n")
    env, config_home = _first_login(emulator, tmp_path, "remember@example.com", "--api-secret-key-file", str(secret))

    config = config_home / "cotter" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert emulator.api_secret_key not in config.read_text()
    assert json.loads(config.read_text()) == {"profiles": {"default": {
        "api_key_id": emulator.api_key_id, "base_url": emulator.base_url, "login_url": emulator.login_url,
        "api_secret_key_file": str(secret)}}}
    assert [p.name for p in config.parent.iterdir() if p.name.startswith(".config.")] == []  # no temp file left

    tok = _run(["token"], env)
    assert tok.returncode == 0, tok.stderr
    access = tok.stdout.strip()
    who = _run(["whoami", "--json"], env)
    assert who.returncode == 0 and json.loads(who.stdout)["identifier"] == "remember@example.com", who.stderr
    ver = _run(["verify", access], env)  # audience and JWKS URL from the profile
    assert ver.returncode == 0, ver.stderr
    claims = json.loads(ver.stdout)
    assert claims["identifier"] == "remember@example.com" and claims["aud"] == emulator.api_key_id

    # social-tokens: the secret from the profile's api_secret_key_file, USER_ID defaults to the logged-in user.
    emulator.dev("/social_tokens", {"user_id": claims["sub"], "identity_provider": "GITHUB",
                                    "provider_username": "remember", "tokens": {"access_token": "gho_REMEMBER",
                                                                                "scope": "repo", "token_type": "bearer"}})
    lst = _run(["social-tokens", "list", "--json"], env)
    assert lst.returncode == 0, lst.stderr
    assert [(t["provider"], t["user_id"]) for t in json.loads(lst.stdout)] == [("GITHUB", claims["sub"])]
    assert _run(["social-tokens", "get", "GITHUB"], env).stdout == "gho_REMEMBER\n"
    assert emulator.api_secret_key not in lst.stdout + lst.stderr

    # A flag still wins over the profile: a wrong audience is rejected.
    wrong = _run(["verify", access, "--audience", "someone-else"], env)
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: COTTER_EJWT_AUDIENCE: "), wrong.stderr

    # The remembered secret file is read only by the commands that need the secret.
    secret.unlink()
    assert _run(["token"], env).returncode == 0
    gone = _run(["social-tokens", "list"], env)
    assert gone.returncode == 2 and f"cannot read the profile's api_secret_key_file {secret}" in gone.stderr, gone.stderr


def test_verify_without_any_setting_is_a_usage_error(tmp_path: Path) -> None:
    env = _bare_env(tmp_path / "config")
    r = _run(["verify", "a.b.c"], env)
    assert r.returncode == 2 and "--audience" in r.stderr
    r = _run(["verify", "a.b.c", "--audience", "x"], env)
    assert r.returncode == 2 and "--jwks-url" in r.stderr


def test_logout_removes_the_lock_file_and_keeps_the_settings(emulator: Any, tmp_path: Path) -> None:
    env, config_home = _first_login(emulator, tmp_path, "lockfile@example.com")
    tokens = config_home / "cotter" / f"{emulator.api_key_id}.json"
    assert _run(["token", "--force-refresh"], env).returncode == 0  # takes the session's lock
    lock = Path(str(tokens) + ".lock")
    assert lock.exists()
    out = _run(["logout", "--json"], env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"logged_out": True, "token_file": str(tokens)}
    assert not tokens.exists() and not lock.exists()
    assert sorted(p.name for p in tokens.parent.iterdir()) == ["config.json"]
    again = _run(["logout", "--json"], env)
    assert again.returncode == 0 and json.loads(again.stdout)["logged_out"] is False
    assert _run(["config", "get", "api_key_id"], env).stdout == emulator.api_key_id + "\n"


def test_named_profiles(emulator: Any, tmp_path: Path) -> None:
    other = emulator.dev("/projects", {})
    env, config_home = _first_login(emulator, tmp_path, "default-profile@example.com")
    work_env = _bare_env(config_home, COTTER_BASE_URL=emulator.base_url, COTTER_LOGIN_URL=emulator.login_url,
                         COTTER_API_KEY_ID=other["api_key_id"])
    r, _ = _login(emulator, work_env, "work-profile@example.com", "--profile", "work")
    assert r.returncode == 0, r.stderr
    assert "profile 'work'" in r.stderr
    profiles = json.loads((config_home / "cotter" / "config.json").read_text())["profiles"]
    assert profiles["default"]["api_key_id"] == emulator.api_key_id
    assert profiles["work"]["api_key_id"] == other["api_key_id"]

    def who(*args: str, **extra: str) -> str:
        w = _run([*args], {**env, **extra})
        assert w.returncode == 0, w.stderr
        return str(json.loads(w.stdout)["identifier"])

    assert who("whoami", "--json") == "default-profile@example.com"
    assert who("whoami", "--json", "--profile", "work") == "work-profile@example.com"
    assert who("--profile", "work", "whoami", "--json") == "work-profile@example.com"
    assert who("whoami", "--json", COTTER_PROFILE="work") == "work-profile@example.com"
    token = _run(["--profile", "work", "token"], env).stdout.strip()
    assert json.loads(_run(["verify", token, "--profile", "work"], env).stdout)["aud"] == other["api_key_id"]
    assert _run(["verify", token], env).returncode == 1  # the default profile's audience is another project
    missing = _run(["whoami", "--profile", "nobody"], env)
    assert missing.returncode == 2 and "API key id" in missing.stderr
    bad = _run(["whoami", "--profile", "../x"], env)
    assert bad.returncode == 2 and "invalid profile name" in bad.stderr


def test_config_get_set_list_unset(tmp_path: Path) -> None:
    config_home = tmp_path / "config"
    env = _bare_env(config_home)
    assert _run(["config", "list", "--json"], env).stdout == "{}\n"
    s = _run(["config", "set", "base_url", "https://api.example.com/api/v0"], env)
    assert s.returncode == 0 and s.stdout == "", s.stderr
    assert _run(["config", "set", "api_secret_key_file", "rel/secret"], {**env}).returncode == 0
    listed = _run(["config", "list", "--json"], env)
    assert json.loads(listed.stdout) == {"base_url": "https://api.example.com/api/v0",
                                         "api_secret_key_file": os.path.abspath("rel/secret")}
    assert _run(["config", "list"], env).stdout.splitlines()[1] == "base_url=https://api.example.com/api/v0"
    assert _run(["config", "get", "base_url"], env).stdout == "https://api.example.com/api/v0\n"
    assert json.loads(_run(["config", "--json", "get", "base_url"], env).stdout) == {
        "base_url": "https://api.example.com/api/v0"}
    unset = _run(["config", "unset", "base_url", "--json"], env)
    assert json.loads(unset.stdout) == {"api_secret_key_file": os.path.abspath("rel/secret")}
    gone = _run(["config", "get", "base_url"], env)
    assert gone.returncode == 1 and gone.stderr.startswith("error: COTTER_ENOTFOUND: ") and gone.stdout == ""
    work = _run(["config", "set", "login_url", "https://login.example.com/app", "--profile", "work"], env)
    assert work.returncode == 0
    assert _run(["config", "get", "login_url"], env).returncode == 1
    assert _run(["config", "get", "login_url", "--profile", "work"], env).stdout == "https://login.example.com/app\n"
    path = config_home / "cotter" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    for argv, needle in ((["config", "set", "api_secret_key", "s3cret-value"], "never stored"),
                         (["config", "set", "colour", "blue"], "unknown key"),
                         (["config", "get", "nope"], "unknown key"),
                         (["config", "set", "base_url", "ftp://x"], "http(s) URL"),
                         (["config", "list", "--profile", "a/b"], "invalid profile name")):
        r = _run(argv, env)
        assert r.returncode == 2 and needle in r.stderr and "s3cret-value" not in path.read_text(), (argv, r.stderr)


def test_a_bad_config_file_is_a_clean_error(tmp_path: Path) -> None:
    config_home = tmp_path / "config"
    env = _bare_env(config_home, COTTER_API_KEY_ID="k")
    path = config_home / "cotter" / "config.json"
    path.parent.mkdir(parents=True)
    for content in ("{not json", '{"profiles": 3}', "[]"):
        path.write_text(content)
        for argv in (["config", "list"], ["token"], ["config", "set", "base_url", "https://x"]):
            r = _run(argv, {**env, "COTTER_API_KEY_ID": ""} if argv == ["token"] else env)
            assert r.returncode == 1 and r.stderr.startswith("error: COTTER_ESTORAGE: ") and "Traceback" not in r.stderr, \
                (content, argv, r.stderr)
        assert path.read_text() == content, "never overwritten"
    path.unlink()
    target = tmp_path / "elsewhere.json"
    target.write_text('{"profiles": {}}')
    path.symlink_to(target)
    r = _run(["config", "list"], env)
    assert r.returncode == 1 and r.stderr.startswith("error: COTTER_ESTORAGE: "), r.stderr
    path.unlink()
    os.mkfifo(path)
    r = _run(["config", "list"], env)  # a FIFO is refused at once, not waited on
    assert r.returncode == 1 and "not a regular file" in r.stderr, r.stderr


def test_json_stdout_is_exactly_one_document(emulator: Any, tmp_path: Path) -> None:
    config_home = tmp_path / "config"
    env = _bare_env(config_home, COTTER_BASE_URL=emulator.base_url, COTTER_LOGIN_URL=emulator.login_url,
                    COTTER_API_KEY_ID=emulator.api_key_id)
    r, early = _login(emulator, env, "onedoc@example.com")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)  # the whole of stdout: the URL went to stderr
    assert result["identifier"] == "onedoc@example.com"
    assert early[0] == "Open this link to log in:" and early[1].startswith(emulator.login_url + "?")
    assert early[2] == "Waiting for the login to finish in the browser (up to 30 s; Ctrl-C to cancel)..."
    bare = _bare_env(config_home)
    for argv in (["token", "--json"], ["token", "--force-refresh", "--json"], ["whoami", "--json"],
                 ["config", "list", "--json"], ["config", "set", "jwks_url", emulator.jwks_url, "--json"],
                 ["logout", "--json"]):
        out = _run(argv, bare)
        assert out.returncode == 0, (argv, out.stderr)
        json.loads(out.stdout)  # exactly one document, nothing else


def test_progress_line_while_waiting_without_json(emulator: Any, cli_env: Dict[str, str]) -> None:
    """Without --json, --no-browser keeps the URL on stdout (scripts read it) and the progress line on stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "cotter", "login", "--no-browser", "--timeout", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **cli_env})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out.startswith(emulator.login_url + "?")
    assert err.splitlines()[:2] == ["Open this link to log in:",
                                    "Waiting for the login to finish in the browser (up to 1 s; Ctrl-C to cancel)..."]
    assert err.splitlines()[-1].startswith("error: COTTER_ETIMEOUT")


@pytest.mark.parametrize("value", ["500", "301", "-1"])
def test_leeway_out_of_range_is_a_usage_error(value: str, tmp_path: Path) -> None:
    r = _run(["verify", "a.b.c", "--jwks-file", "/dev/null", "--audience", "x", "--leeway", value],
             _bare_env(tmp_path / "config"))
    assert r.returncode == 2 and "--leeway" in r.stderr and "is not in [0, 300]" in r.stderr, r.stderr


def test_leeway_at_the_limit_is_accepted(emulator: Any, tmp_path: Path) -> None:
    minted = emulator.dev("/access_token", {"identifier": "leeway@example.com"})
    r = _run(["verify", minted["access_token"], "--jwks-url", emulator.jwks_url, "--audience", emulator.api_key_id,
              "--leeway", "300"], _bare_env(tmp_path / "config"))
    assert r.returncode == 0, r.stderr


def test_flag_then_environment_then_profile_for_each_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The order lives in one place, cotter._config.setting, with the variable of each key in ENVIRONMENT: the flag
    wins, then the environment, then the profile (read only when needed); empty counts as unset."""
    from cotter import _config

    assert set(_config.ENVIRONMENT) == {"base_url", "login_url", "api_key_id", "ca_file"}
    for key, variable in _config.ENVIRONMENT.items():
        assert f"--{key.replace('_', '-')}" in _config.KEYS[key] and f"${variable}" in _config.KEYS[key]
        reads: List[str] = []

        def profile() -> Dict[str, str]:
            reads.append(key)
            return {key: "from-profile"}

        monkeypatch.setenv(variable, "from-env")
        assert _config.setting(key, "from-flag", profile) == "from-flag" and reads == []
        assert _config.setting(key, None, profile) == "from-env" and reads == []
        assert _config.setting(key, "", profile) == "from-env"
        monkeypatch.setenv(variable, "")
        assert _config.setting(key, None, profile) == "from-profile" and reads == [key]
        monkeypatch.delenv(variable)
        assert _config.setting(key, None, profile) == "from-profile"
        assert _config.setting(key, None, lambda: {}) is None
    # A key with no variable (the profile or its flag only), and a key that is not a setting at all.
    monkeypatch.setenv("COTTER_JWKS_URL", "ignored")
    assert _config.setting("jwks_url", None, lambda: {"jwks_url": "p"}) == "p"
    with pytest.raises(_config.ConfigKeyError):
        _config.setting("api_secret_key", None, lambda: {})

"""
@file test_cli.py
@brief The `cotter` command end to end in real processes against the emulator: login (--no-browser, the page
driven over HTTP), token, --force-refresh, whoami, logout, users, social-tokens, --json, exit codes.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

import cotter
from cotter import cli
from conftest import run_cli
from demo_login_driver import drive_login


def _login(emulator: Any, env: Dict[str, str], identifier: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`cotter login --no-browser`, the page driven over HTTP. The URL is on stdout, or on stderr with --json
    (stdout then holds only the result); either way the returned stdout starts with the URL line."""
    proc = subprocess.Popen([sys.executable, "-m", "cotter", "login", "--no-browser", "--timeout", "30", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    assert proc.stdout is not None and proc.stderr is not None
    early = ""
    if "--json" in extra:
        while not early.endswith("\n") or not early.splitlines()[-1].startswith("http"):
            chunk = proc.stderr.readline()
            assert chunk, early
            early += chunk
        url = early.splitlines()[-1]
    else:
        url = proc.stdout.readline().strip()
    assert url.startswith(emulator.login_url + "?"), url
    page = drive_login(url, emulator.dev_url, emulator.dev_token, identifier)
    assert "cotter-success" in page
    out, err = proc.communicate(timeout=30)
    if "--json" in extra:
        json.loads(out)  # exactly one JSON document on stdout
    return subprocess.CompletedProcess(proc.args, proc.returncode, url + "\n" + out, early + err)


def test_login_token_whoami_logout(emulator: Any, cli_env: Dict[str, str]) -> None:
    r = _login(emulator, cli_env, "cli-user@example.com", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout.splitlines()[1])
    path = Path(info["token_file"])
    assert path == Path(cli_env["XDG_CONFIG_HOME"]) / "cotter" / f"{emulator.api_key_id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "Logged in as cli-user@example.com" in r.stderr
    stored = json.loads(path.read_text())
    assert set(stored) >= {"access_token", "refresh_token", "id_token"}

    tok = run_cli(["token"], env=cli_env)
    assert tok.returncode == 0 and tok.stdout.strip() == stored["access_token"]
    forced = run_cli(["token", "--force-refresh"], env=cli_env)
    assert forced.returncode == 0 and forced.stdout.strip() != stored["access_token"]
    assert json.loads(path.read_text())["refresh_token"] != stored["refresh_token"]

    ver = run_cli(["verify", forced.stdout.strip(), "--jwks-url", emulator.jwks_url, "--audience", emulator.api_key_id])
    assert ver.returncode == 0 and json.loads(ver.stdout)["identifier"] == "cli-user@example.com"

    who = run_cli(["whoami", "--json"], env=cli_env)
    assert who.returncode == 0 and json.loads(who.stdout)["identifier"] == "cli-user@example.com"
    human = run_cli(["whoami"], env=cli_env)
    assert human.stdout.startswith("cli-user@example.com (user ")

    out = run_cli(["logout"], env=cli_env)
    assert out.returncode == 0 and not path.exists()
    again = run_cli(["token"], env=cli_env)
    assert again.returncode == 1 and again.stderr.startswith("error: COTTER_EREAUTH: ")


def test_login_magic_link_phone_and_token_file(emulator: Any, cli_env: Dict[str, str], tmp_path: Path) -> None:
    f = tmp_path / "phone.json"
    r = _login(emulator, cli_env, "+12025550123", "--phone", "--magic-link", "--token-file", str(f))
    assert r.returncode == 0, r.stderr
    assert f.exists() and "+12025550123" in r.stdout
    assert "PHONE" in r.stdout.splitlines()[0] and "MAGIC_LINK" in r.stdout.splitlines()[0]
    assert run_cli(["token", "--token-file", str(f)], env=cli_env).returncode == 0


def test_login_times_out_cleanly(cli_env: Dict[str, str]) -> None:
    r = run_cli(["login", "--no-browser", "--timeout", "0.5"], env=cli_env)
    assert r.returncode == 1 and "error: COTTER_ETIMEOUT" in r.stderr


def test_users_and_social_tokens(emulator: Any, cli_env: Dict[str, str]) -> None:
    created = run_cli(["users", "create", "cli-social@example.com", "--json"], env=cli_env)
    assert created.returncode == 0, created.stderr
    user = json.loads(created.stdout)
    uid = user["ID"]
    got = run_cli(["users", "get", uid], env=cli_env)
    assert got.returncode == 0 and got.stdout.strip() == f"{uid}\tcli-social@example.com"
    by_ident = run_cli(["users", "--json", "get", "--identifier", "cli-social@example.com"], env=cli_env)
    assert json.loads(by_ident.stdout)["ID"] == uid
    listed = run_cli(["users", "list", "--json"], env=cli_env)
    assert uid in [u["ID"] for u in json.loads(listed.stdout)]
    missing = run_cli(["users", "get", "00000000-0000-0000-0000-00000000beef"], env=cli_env)
    assert missing.returncode == 1 and missing.stderr.startswith("error: COTTER_ENOTFOUND: ")
    both = run_cli(["users", "get", uid, "--identifier", "x"], env=cli_env)
    assert both.returncode == 2

    emulator.dev("/social_tokens", {"user_id": uid, "identity_provider": "GITHUB", "provider_username": "octo",
                                    "tokens": {"access_token": "gho_CLI", "scope": "repo", "token_type": "bearer"}})
    lst = run_cli(["social-tokens", "list", uid], env=cli_env)
    assert lst.returncode == 0 and lst.stdout.startswith("GITHUB\tocto")
    assert "gho_CLI" not in lst.stdout
    one = run_cli(["social-tokens", "get", "GITHUB", uid], env=cli_env)
    assert one.stdout.strip() == "gho_CLI"
    deleted = run_cli(["social-tokens", "delete", "GITHUB", uid, "--json"], env=cli_env)
    assert deleted.returncode == 0 and json.loads(deleted.stdout) == {"deleted": True}
    empty = run_cli(["social-tokens", "--json", "list", uid], env=cli_env)
    assert json.loads(empty.stdout) == []


def test_flags_override_environment(emulator: Any, tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "COTTER_API_KEY_ID": "", "COTTER_BASE_URL": "http://127.0.0.1:9/api/v0"}
    r = run_cli(["users", "create", "flags@example.com", "--base-url", emulator.base_url,
                 "--api-key-id", emulator.api_key_id], env=env)
    assert r.returncode == 0, r.stderr


def test_usage_errors_exit_2(cli_env: Dict[str, str]) -> None:
    assert run_cli([]).returncode == 2
    assert run_cli(["nope"]).returncode == 2
    no_key = run_cli(["token"], env={"COTTER_API_KEY_ID": ""})
    assert no_key.returncode == 2 and "COTTER_API_KEY_ID" in no_key.stderr
    no_secret = run_cli(["users", "list"], env={**cli_env, "COTTER_API_SECRET_KEY": ""})
    assert no_secret.returncode == 2
    help_ = run_cli(["--help"])
    assert help_.returncode == 0 and "Exit codes" in help_.stdout
    version = run_cli(["--version"])
    assert version.returncode == 0 and version.stdout == f"cotter {cotter.__version__}\n"


def test_secret_never_printed(emulator: Any, cli_env: Dict[str, str]) -> None:
    r = run_cli(["users", "list", "--json"], env=cli_env)
    assert emulator.api_secret_key not in r.stdout + r.stderr
    bad = run_cli(["users", "list"], env={**cli_env, "COTTER_API_SECRET_KEY": "wrong-secret-value"})
    assert bad.returncode == 1 and "wrong-secret-value" not in bad.stdout + bad.stderr


def test_console_script_installed() -> None:
    exe = Path(sys.executable).parent / "cotter"
    assert exe.exists()
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("usage: cotter")


def test_default_config_dir_without_xdg(emulator: Any, cli_env: Dict[str, str], tmp_path: Path) -> None:
    """Without $XDG_CONFIG_HOME the tokens go to ~/.config/cotter (directory 0700, file 0600)."""
    home = tmp_path / "home"
    env = {**cli_env, "XDG_CONFIG_HOME": "", "HOME": str(home)}
    r = _login(emulator, env, "home@example.com")
    assert r.returncode == 0, r.stderr
    path = home / ".config" / "cotter" / f"{emulator.api_key_id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert str(path) in r.stderr
    assert run_cli(["token"], env=env).stdout.strip() == json.loads(path.read_text())["access_token"]


def test_results_on_stdout_status_on_stderr(emulator: Any, cli_env: Dict[str, str]) -> None:
    r = _login(emulator, cli_env, "streams@example.com")
    assert r.returncode == 0
    url, identifier = r.stdout.splitlines()  # the --no-browser URL, then the result
    assert identifier == "streams@example.com"
    assert "Open this link to log in" in r.stderr and "Logged in as streams@example.com" in r.stderr
    forced = run_cli(["token", "--force-refresh"], env=cli_env)
    assert forced.returncode == 0 and len(forced.stdout.splitlines()) == 1 and forced.stdout.count(".") == 2
    assert forced.stderr == "Refreshed the tokens\n"
    as_json = json.loads(run_cli(["token", "--json"], env=cli_env).stdout)
    assert as_json["access_token"] == forced.stdout.strip() and as_json["expires_at"] > 0
    out = run_cli(["logout"], env=cli_env)
    assert out.returncode == 0 and out.stdout == "" and out.stderr.startswith("Logged out")
    again = run_cli(["logout"], env=cli_env)
    assert again.returncode == 0 and again.stderr == "Not logged in\n"


def test_secret_key_flag(emulator: Any, tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "COTTER_BASE_URL": emulator.base_url,
           "COTTER_API_KEY_ID": emulator.api_key_id, "COTTER_API_SECRET_KEY": ""}
    assert run_cli(["users", "list"], env=env).returncode == 2
    r = run_cli(["users", "list", "--json", "--api-secret-key", emulator.api_secret_key], env=env)
    assert r.returncode == 0 and isinstance(json.loads(r.stdout), list)
    assert emulator.api_secret_key not in r.stdout + r.stderr


def test_secret_key_flag_with_a_leading_dash(emulator: Any, tmp_path: Path) -> None:
    """A secret may start with '-' (argparse alone would read it as an option); '--x' stays a usage error."""
    secret = "-" + "Ab1_" * 8
    project = emulator.dev("/projects", {"api_secret_key": secret})
    env = {"XDG_CONFIG_HOME": str(tmp_path), "COTTER_BASE_URL": emulator.base_url,
           "COTTER_API_KEY_ID": project["api_key_id"], "COTTER_API_SECRET_KEY": ""}
    for argv in (["users", "list", "--json", "--api-secret-key", secret],
                 ["users", "list", "--api-secret-key", secret, "--json"],
                 ["users", "list", "--json", f"--api-secret-key={secret}"]):
        r = run_cli(argv, env=env)
        assert r.returncode == 0, r.stderr
        assert isinstance(json.loads(r.stdout), list)
        assert secret not in r.stdout + r.stderr
    wrong = run_cli(["users", "list", "--api-secret-key", "-" + "Zz9_" * 8], env=env)
    assert wrong.returncode == 1
    assert wrong.stderr.splitlines() == [cli.SECRET_ON_COMMAND_LINE_WARNING, wrong.stderr.splitlines()[1]]
    assert wrong.stderr.splitlines()[1].startswith("error: COTTER_ECREDENTIALS: ")
    missing = run_cli(["users", "list", "--api-secret-key", "--json"], env=env)
    assert missing.returncode == 2 and "expected one argument" in missing.stderr


def test_ca_file_flag_and_environment(tls_emulator: Any, tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "COTTER_BASE_URL": tls_emulator.base_url,
           "COTTER_API_KEY_ID": tls_emulator.api_key_id, "COTTER_CA_FILE": ""}
    untrusted = run_cli(["users", "create", "ca@example.com"], env=env)
    assert untrusted.returncode == 1 and untrusted.stderr.startswith("error: COTTER_ETLS: ")
    by_flag = run_cli(["users", "create", "ca@example.com", "--ca-file", tls_emulator.ca_file], env=env)
    assert by_flag.returncode == 0 and by_flag.stdout.endswith("\tca@example.com\n")
    by_env = run_cli(["users", "get", "--identifier", "ca@example.com"],
                     env={**env, "COTTER_CA_FILE": tls_emulator.ca_file})
    assert by_env.returncode == 0
    token = tls_emulator.dev("/access_token", {"identifier": "ca@example.com"})["access_token"]
    ver = run_cli(["verify", token, "--jwks-url", tls_emulator.jwks_url, "--audience", tls_emulator.api_key_id,
                   "--ca-file", tls_emulator.ca_file], env=env)
    assert ver.returncode == 0 and json.loads(ver.stdout)["identifier"] == "ca@example.com"


def test_bad_numbers_are_usage_errors(cli_env: Dict[str, str]) -> None:
    for args in (["users", "list", "--page", "-1"], ["users", "list", "--page", "x"], ["login", "--port", "99999"],
                 ["login", "--timeout", "-5"], ["login", "--timeout", "nan"],
                 ["verify", "a.b.c", "--jwks-file", "/dev/null", "--audience", "x", "--now", "9" * 30],
                 ["verify", "a.b.c", "--jwks-file", "/dev/null", "--audience", "x", "--leeway", "-" + "9" * 30]):
        r = run_cli(args, env=cli_env)
        assert r.returncode == 2 and "Traceback" not in r.stderr and "error: argument" in r.stderr, (args, r.stderr)


def test_login_local_problems_are_clean_errors(cli_env: Dict[str, str], tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_cli(["login", "--no-browser", "--port", str(port)], env=cli_env)
    assert r.returncode == 1 and r.stderr.startswith("error: COTTER_ENETWORK: cannot listen on 127.0.0.1:")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    r = run_cli(["login", "--no-browser", "--token-file", str(not_a_dir / "tokens.json")], env=cli_env)
    assert r.returncode == 1 and r.stderr.startswith("error: COTTER_ESTORAGE: cannot create ")
    assert r.stdout == "", "the check happens before the login URL is shown"


def test_token_refreshes_only_when_needed(emulator: Any, cli_env: Dict[str, str]) -> None:
    emulator.dev("/expire_tokens", {"next_access_ttl": 10, "count": 1})  # inside the 30 s refresh margin
    r = _login(emulator, cli_env, "expiring@example.com", "--json")
    assert r.returncode == 0, r.stderr
    path = Path(json.loads(r.stdout.splitlines()[1])["token_file"])
    stored = json.loads(path.read_text())
    first = run_cli(["token"], env=cli_env)
    assert first.returncode == 0 and first.stdout.strip() != stored["access_token"], "expiring: refreshed"
    assert json.loads(path.read_text())["access_token"] == first.stdout.strip()
    emulator.dev("/stats/reset", {})
    second = run_cli(["token"], env=cli_env)
    assert second.stdout == first.stdout, "fresh now: the stored token is printed as is"
    assert emulator.dev("/stats")["requests"] == {}


# --- issue 13: token-file hygiene, the redirect listener, the secret off the command line ---------------------


def _redirect_port(login_url: str) -> int:
    import urllib.parse

    redirect = urllib.parse.parse_qs(urllib.parse.urlsplit(login_url).query)["redirect_url"][0]
    port = urllib.parse.urlsplit(redirect).port
    assert port is not None
    return port


def test_token_file_fifo_symlink_are_clean_errors(emulator: Any, cli_env: Dict[str, str], tmp_path: Path) -> None:
    """A FIFO at the token path hung `cotter token` forever (open(O_RDONLY) waits for a writer); a symlink was
    followed. Both are now COTTER_ESTORAGE at once, and a dangling symlink is not "not logged in"."""
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for cmd in (["token"], ["whoami"], ["logout"]):
        r = run_cli([*cmd, "--token-file", str(fifo)], env=cli_env)
        assert r.returncode == 1 and r.stderr.startswith("error: COTTER_ESTORAGE: "), (cmd, r.stderr)
        assert "not a regular file" in r.stderr
    real = tmp_path / "real.json"
    real.write_text(json.dumps(emulator.login("symlink@example.com")["oauth_token"]))
    link = tmp_path / "link.json"
    link.symlink_to(real)
    r = run_cli(["token", "--token-file", str(link)], env=cli_env)
    assert r.returncode == 1 and r.stderr.startswith("error: COTTER_ESTORAGE: ") and "symbolic link" in r.stderr
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere.json")
    r = run_cli(["token", "--token-file", str(dangling)], env=cli_env)
    assert r.returncode == 1 and r.stderr.startswith("error: COTTER_ESTORAGE: "), r.stderr
    assert run_cli(["token", "--token-file", str(real)], env=cli_env).returncode == 0


def test_login_is_served_past_an_idle_connection(emulator: Any, cli_env: Dict[str, str]) -> None:
    """One idle TCP connection to the redirect listener used to block it (a one-at-a-time server reading the
    idle connection's request line forever): the browser's redirect was never answered."""
    import socket

    proc = subprocess.Popen([sys.executable, "-m", "cotter", "login", "--no-browser", "--timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **cli_env})
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with socket.create_connection(("127.0.0.1", _redirect_port(url))):  # connects, never sends a byte
            page = drive_login(url, emulator.dev_url, emulator.dev_token, "idle-conn@example.com")
            assert "cotter-success" in page
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "Logged in as idle-conn@example.com" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_login_timeout_is_honoured_with_an_idle_connection(cli_env: Dict[str, str]) -> None:
    """--timeout 2 with an idle connection held open for the whole test: exit 1 with COTTER_ETIMEOUT, not a hang
    (the subprocess bound below, 60 s, is far beyond the 2 s budget)."""
    import socket

    proc = subprocess.Popen([sys.executable, "-m", "cotter", "login", "--no-browser", "--timeout", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **cli_env})
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        with socket.create_connection(("127.0.0.1", _redirect_port(url))):
            try:
                _, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                pytest.fail("cotter login ignored --timeout while a connection was idle")
        assert proc.returncode == 1 and "error: COTTER_ETIMEOUT" in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_redirect_receiver_serves_concurrently_and_closes_idle_connections() -> None:
    import socket
    import threading
    import urllib.request

    from cotter.login import RedirectReceiver

    answers: List[int] = []
    with RedirectReceiver(expected_state="s") as r:
        idle = [socket.create_connection(("127.0.0.1", r.port)) for _ in range(3)]
        half = socket.create_connection(("127.0.0.1", r.port))
        half.sendall(b"GET /?code=x&state=other HTTP/1.1\r\n")  # a request line, and then nothing

        def browser() -> None:
            with urllib.request.urlopen(f"http://127.0.0.1:{r.port}/?code=c&state=s&challenge_id=1", timeout=30) as resp:
                answers.append(resp.status)

        t = threading.Thread(target=browser)
        t.start()
        assert r.wait(30) == "code=c&state=s&challenge_id=1"
        t.join(30)
    assert answers == [200]
    for conn in (*idle, half):  # close() shut them: the peer sees EOF, not an endless wait
        conn.settimeout(30)
        assert conn.recv(1) == b""
        conn.close()


def _secret_env(emulator: Any, tmp_path: Path) -> Dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path), "COTTER_BASE_URL": emulator.base_url,
            "COTTER_API_KEY_ID": emulator.api_key_id, "COTTER_API_SECRET_KEY": ""}


def test_secret_key_file_and_stdin(emulator: Any, tmp_path: Path) -> None:
    env = _secret_env(emulator, tmp_path)
    secret_file = tmp_path / "secret"
    secret_file.write_text(emulator.api_secret_key + "\n")
    secret_file.chmod(0o600)
    r = run_cli(["users", "list", "--json", "--api-secret-key-file", str(secret_file)], env=env)
    assert r.returncode == 0 and isinstance(json.loads(r.stdout), list), r.stderr
    assert r.stderr == "" and emulator.api_secret_key not in r.stdout
    piped = run_cli(["users", "list", "--json", "--api-secret-key-file", "-"], env=env,
                    input=emulator.api_secret_key + "\r\n")
    assert piped.returncode == 0 and isinstance(json.loads(piped.stdout), list), piped.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong-secret-value")
    bad = run_cli(["users", "list", "--api-secret-key-file", str(wrong)], env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("error: COTTER_ECREDENTIALS: ")
    assert "wrong-secret-value" not in bad.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for argv, needle in ((["--api-secret-key-file", str(empty)], "is empty"),
                         (["--api-secret-key-file", str(tmp_path / "missing")], "cannot read --api-secret-key-file"),
                         (["--api-secret-key-file", str(secret_file), "--api-secret-key", "x" * 32], "not both")):
        u = run_cli(["users", "list", *argv], env=env)
        assert u.returncode == 2 and needle in u.stderr and emulator.api_secret_key not in u.stderr, (argv, u.stderr)
    big = tmp_path / "big"
    big.write_text("x" * 5000)
    assert run_cli(["users", "list", "--api-secret-key-file", str(big)], env=env).returncode == 2


def test_secret_stays_out_of_the_process_list(emulator: Any, tmp_path: Path) -> None:
    """With --api-secret-key-file the secret never reaches /proc/PID/cmdline; with --api-secret-key it does, and
    the CLI says so in one line on stderr. The file is a FIFO (as `<(pass show cotter)` gives): opening its write
    end returns once the CLI has opened it, so its command line is complete when we read it."""
    env = {**os.environ, **_secret_env(emulator, tmp_path)}
    fifo = tmp_path / "secret.fifo"
    os.mkfifo(fifo, 0o600)
    proc = subprocess.Popen([sys.executable, "-m", "cotter", "users", "list", "--json", "--api-secret-key-file", str(fifo)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    spare_reader: List[int] = []

    def unblock_if_it_exits() -> None:  # a CLI that exits without opening the FIFO must not hang the open below
        proc.wait()
        spare_reader.append(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))

    import threading

    watchdog = threading.Thread(target=unblock_if_it_exits, daemon=True)
    watchdog.start()
    try:
        with open(fifo, "w") as writer:  # returns once the CLI has opened the FIFO for reading
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes() if proc.poll() is None else b""
            writer.write(emulator.api_secret_key + "\n")
        assert b"--api-secret-key-file" in cmdline and emulator.api_secret_key.encode() not in cmdline
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        watchdog.join(30)
        for fd in spare_reader:
            os.close(fd)
    assert proc.returncode == 0 and isinstance(json.loads(out), list) and err == "", err
    flag = run_cli(["users", "list", "--json", "--api-secret-key", emulator.api_secret_key], env=env)
    assert flag.returncode == 0
    assert flag.stderr == cli.SECRET_ON_COMMAND_LINE_WARNING + "\n"
    assert "--api-secret-key-file" in flag.stderr and emulator.api_secret_key not in flag.stderr


def test_a_wrong_api_key_id_is_not_log_in_again(emulator: Any, cli_env: Dict[str, str], tmp_path: Path) -> None:
    """The emulator answers a wrong API_KEY_ID with 401 "API_KEY_ID is not valid": the CLI said COTTER_EREAUTH (log
    in again) and the session remembered the good refresh token as rejected. Now COTTER_ECREDENTIALS, tokens kept."""
    f = tmp_path / "tokens.json"
    emulator.dev("/expire_tokens", {"next_access_ttl": -5, "count": 1})  # expired: `token` must refresh
    f.write_text(json.dumps(emulator.login("wrong-key@example.com")["oauth_token"]))
    f.chmod(0o600)
    before = f.read_text()
    env = {**cli_env, "COTTER_API_KEY_ID": "0e0e0e0e-0000-4000-8000-00000000bad4"}
    r = run_cli(["token", "--token-file", str(f)], env=env)
    assert r.returncode == 1 and r.stderr.startswith("error: COTTER_ECREDENTIALS: "), r.stderr
    assert "log in again" not in r.stderr and f.read_text() == before
    ok = run_cli(["token", "--token-file", str(f)], env=cli_env)
    assert ok.returncode == 0 and ok.stdout.strip() != json.loads(before)["access_token"]

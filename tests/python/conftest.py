"""
@file conftest.py
@brief Shared fixtures: the real emulator (started once per session on port 0, plus a TLS one on demand),
its dev API, clients, and helpers to run the `cotter` CLI as a subprocess.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "scripts"))  # demo_login_driver


class Emulator:
    """A running `node emulator/bin/cotter-emulator.js --port 0` and its JSON line."""

    def __init__(self, *flags: str) -> None:
        # The emulator gets SIGTERM when this process dies, even by a signal or an abort that skips the fixture's
        # teardown (setpriv is util-linux, always on Debian): no emulator is ever left behind.
        guard = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
        self.proc = subprocess.Popen(
            [*guard, "node", str(ROOT / "emulator/bin/cotter-emulator.js"), "--port", "0", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the emulator did not start")
        self.info: Dict[str, Any] = json.loads(line)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.info[name]
        except KeyError:
            raise AttributeError(name) from None

    def dev(self, path: str, body: Optional[Any] = None, method: Optional[str] = None) -> Any:
        """Calls the emulator's /dev API."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.info["dev_url"] + path, data=data, method=method,
            headers={"Content-Type": "application/json", "X-Cotter-Dev-Token": self.info["dev_token"]},
        )
        ctx = None
        if self.info.get("ca_file"):
            import ssl

            ctx = ssl.create_default_context(cafile=self.info["ca_file"])
        with urllib.request.urlopen(req, context=ctx) as resp:
            return json.load(resp)

    def login(self, identifier: str = "user@example.com") -> Dict[str, Any]:
        """A full get_identity body for `identifier`, without the page (POST /dev/login)."""
        result: Dict[str, Any] = self.dev("/login", {"identifier": identifier})
        return result

    def fault(self, route: str, **fault: Any) -> None:
        self.dev("/faults", {"route": route, **fault})

    def requests_seen(self, route: str) -> int:
        """How many requests the server has received on `route` (e.g. "GET /api/v0/user")."""
        return int(self.dev("/stats")["requests"].get(route, 0))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    emu = Emulator()
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def tls_emulator() -> Iterator[Emulator]:
    emu = Emulator("--tls")
    yield emu
    emu.stop()


@pytest.fixture(autouse=True)
def _clean_emulator_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """No fault or clock offset leaks from one test into the next."""
    yield
    for name in ("emulator", "tls_emulator"):
        if name in request.fixturenames:
            emu = request.getfixturevalue(name)
            emu.dev("/faults", method="DELETE")
            emu.dev("/clock", {"offset_seconds": 0})


@pytest.fixture
def client(emulator: Emulator) -> Any:
    import cotter

    return cotter.Client(
        emulator.api_key_id, emulator.api_secret_key, base_url=emulator.base_url,
        worker_url=emulator.worker_url, retry_base=0.01, retry_max=0.05,
    )


def run_cli(args: List[str], *, env: Optional[Dict[str, str]] = None, input: Optional[str] = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Runs `python -m cotter ARGS` (the same entry point as the `cotter` console script)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "cotter", *args], capture_output=True, text=True,
                          env=full_env, input=input, timeout=timeout)


@pytest.fixture
def cli_env(emulator: Emulator, tmp_path: Path) -> Dict[str, str]:
    """Environment for CLI runs against the emulator, with a private config directory."""
    return {
        "COTTER_BASE_URL": emulator.base_url,
        "COTTER_API_KEY_ID": emulator.api_key_id,
        "COTTER_API_SECRET_KEY": emulator.api_secret_key,
        "COTTER_LOGIN_URL": emulator.login_url,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }

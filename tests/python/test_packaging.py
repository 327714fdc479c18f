"""
@file test_packaging.py
@brief The installed extension: only PyInit__native is exported, the system libssl is shared with Python's own
_ssl (one copy in the process), https from urllib and from cotter coexist (also concurrently), versions agree,
and `import cotter` is quick.
"""
from __future__ import annotations

import importlib.metadata
import re
import ssl
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any, List

import cotter
from cotter import _native
from conftest import ROOT


def test_only_the_module_init_is_exported() -> None:
    so = Path(_native.__file__)
    out = subprocess.run(["nm", "-D", "--defined-only", str(so)], capture_output=True, text=True, check=True).stdout
    symbols = [line.split()[-1] for line in out.splitlines() if line.strip()]
    assert symbols == ["PyInit__native"], symbols


def test_links_system_libraries_dynamically() -> None:
    out = subprocess.run(["ldd", _native.__file__], capture_output=True, text=True, check=True).stdout
    for lib in ("libssl.so.3", "libcrypto.so.3", "libcurl", "libsimdjson"):
        assert lib in out, f"{lib} should be a dynamic dependency:\n{out}"


def test_one_libssl_in_the_process() -> None:
    maps = Path("/proc/self/maps").read_text()
    paths = {line.split()[-1] for line in maps.splitlines() if re.search(r"/libssl\.so", line)}
    assert len({Path(p).resolve() for p in paths}) == 1, paths
    assert ssl.OPENSSL_VERSION.startswith("OpenSSL 3")


def test_urllib_https_and_cotter_https_in_one_process(tls_emulator: Any) -> None:
    ctx = ssl.create_default_context(cafile=tls_emulator.ca_file)
    client = cotter.Client(tls_emulator.api_key_id, tls_emulator.api_secret_key, base_url=tls_emulator.base_url,
                           ca_file=tls_emulator.ca_file)
    verifier = client.verifier()
    errors: List[BaseException] = []

    def urllib_loop() -> None:
        try:
            for _ in range(20):
                with urllib.request.urlopen(tls_emulator.jwks_url, context=ctx) as r:
                    assert b'"keys"' in r.read()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def cotter_loop() -> None:
        try:
            for i in range(20):
                u = client.create_user(f"tls{i}@example.com")
                token = tls_emulator.dev("/access_token", {"user_id": u.id})["access_token"]
                assert verifier.verify(token).sub == u.id
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=f) for f in (urllib_loop, cotter_loop, urllib_loop, cotter_loop)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_versions_agree() -> None:
    header = (ROOT / "capi/include/cotter.h").read_text()
    parts = [re.search(rf"#define COTTER_VERSION_{p} (\d+)", header).group(1) for p in ("MAJOR", "MINOR", "PATCH")]  # type: ignore[union-attr]
    expected = ".".join(parts)
    assert cotter.__version__ == expected == importlib.metadata.version("cotter-native")
    assert _native.version_number() == _native.HEADER_VERSION_NUMBER


def test_py_typed_and_stub_shipped() -> None:
    pkg = Path(cotter.__file__).parent
    assert (pkg / "py.typed").exists() and (pkg / "_native.pyi").exists()


def test_native_stub_matches_the_module() -> None:
    """mypy's stubtest: every name, parameter and property of cotter._native is in _native.pyi, and nothing else."""
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "cotter._native", "--allowlist",
                        str(ROOT / "tests/python/stubtest_allowlist.txt")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cotter_first_then_ssl_in_a_fresh_process(tls_emulator: Any) -> None:
    """The other import order, in a fresh interpreter: cotter's TLS runs before Python's _ssl is even loaded."""
    code = (
        "import sys, cotter\n"
        "base, key, ca, jwks = sys.argv[1:5]\n"
        "c = cotter.Client(key, base_url=base, ca_file=ca)\n"
        "assert c.create_user('order@example.com').identifier == 'order@example.com'\n"
        "assert 'ssl' not in sys.modules and '_ssl' not in sys.modules\n"
        "import ssl, urllib.request\n"
        "body = urllib.request.urlopen(jwks, context=ssl.create_default_context(cafile=ca)).read()\n"
        "assert b'keys' in body\n"
        "assert c.get_user_by_identifier('order@example.com').identifier == 'order@example.com'\n"
        "print('ok', ssl.OPENSSL_VERSION)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, tls_emulator.base_url, tls_emulator.api_key_id,
                        tls_emulator.ca_file, tls_emulator.jwks_url], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("ok OpenSSL 3"), r.stdout + r.stderr

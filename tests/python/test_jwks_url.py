"""
@file test_jwks_url.py
@brief The JWKS URL of a base URL and the base URL's environment default come from the library (cotter_jwks_url),
not from Python: Client.jwks_url, cotter.validate and the CLI ask it.
"""
from __future__ import annotations

import pytest

import cotter
from cotter import _native, validate


def test_client_jwks_url_is_the_library_rule() -> None:
    c = cotter.Client("key", base_url="http://127.0.0.1:9/api/v0//")
    assert c.base_url == "http://127.0.0.1:9/api/v0"
    assert c.jwks_url == "http://127.0.0.1:9/api/v0/token/jwks"


def test_the_default_comes_from_the_environment_then_cotter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COTTER_BASE_URL", raising=False)
    assert _native.jwks_url(None) == "https://www.cotter.app/api/v0/token/jwks"
    monkeypatch.setenv("COTTER_BASE_URL", "http://localhost:9/x/")
    assert _native.jwks_url(None) == "http://localhost:9/x/token/jwks"
    assert cotter.Client("key").jwks_url == "http://localhost:9/x/token/jwks"
    # cotter.validate (the original SDK's module) takes its key set from the same place.
    assert validate._verifier("validate-key").jwks_url == "http://localhost:9/x/token/jwks"


def test_a_base_url_a_client_would_refuse_is_refused() -> None:
    with pytest.raises(cotter.InvalidArgument) as info:
        _native.jwks_url("http://cotter.example/api")
    assert info.value.message == "base_url must be https (or http to a loopback host)"

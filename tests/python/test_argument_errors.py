"""
@file test_argument_errors.py
@brief Argument mistakes show the library's own sentence (tests/fixtures/argument_errors.json, shared with the C,
Node, Rust and Go tests): the binding passes values through and the core refuses them, so every language shows the
same text and code. Out-of-range numbers get the core's range message, not a Python restatement.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Dict

import pytest

import cotter
from conftest import ROOT

MESSAGES: Dict[str, str] = json.loads((ROOT / "tests/fixtures/argument_errors.json").read_text())
JWKS = '{"keys":[]}'
URL = "http://127.0.0.1:9/token/jwks"  # never contacted: a remote key set is fetched on first use


def _client(**kw: Any) -> cotter.Client:
    return cotter.Client("key", base_url="http://127.0.0.1:9", **kw)


MISTAKES: Dict[str, Callable[[], Any]] = {
    "verifier_two_key_sources": lambda: cotter.Verifier("key", jwks=JWKS, jwks_url=URL),
    "verifier_no_key_source": lambda: cotter.Verifier("key"),
    "verifier_no_audience": lambda: cotter.Verifier("", jwks_url=URL),
    "verifier_leeway_301": lambda: cotter.Verifier("key", jwks_url=URL, leeway=301),
    "verifier_jwks_timeout_0": lambda: cotter.Verifier("key", jwks_url=URL, jwks_timeout=0),
    "client_max_retries_11": lambda: _client(max_retries=11),
    "client_timeout_0": lambda: _client(timeout=0),
    "session_refresh_margin_86401": lambda: cotter.TokenSession(_client(), refresh_margin=86401),
}


def test_every_shared_mistake_is_covered() -> None:
    assert set(MISTAKES) == {k for k in MESSAGES if not k.startswith("$")}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_the_library_message_reaches_python_unchanged(case: str) -> None:
    with pytest.raises(cotter.InvalidArgument) as info:
        MISTAKES[case]()
    assert info.value.code == "COTTER_EINVAL"
    assert info.value.message == MESSAGES[case]
    assert str(info.value) == f"COTTER_EINVAL: {MESSAGES[case]}"


def test_left_out_options_take_the_library_defaults() -> None:
    # No default is restated in Python: the bounds are accepted, and leaving a value out is not an error.
    cotter.Verifier("key", jwks_url=URL, leeway=300, jwks_timeout=120)
    cotter.Verifier("key", jwks_url=URL)
    _client(max_retries=10)
    cotter.TokenSession(_client(), refresh_margin=86400)

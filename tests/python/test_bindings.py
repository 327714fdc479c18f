"""
@file test_bindings.py
@brief python/src/_native.cpp documents every C function it wraps with its exact C signature
(`// COTTER_API ...;`), every comment matches cotter.h, and every function of cotter.h is wrapped
(save the few the C++ wrapper consumes itself, listed with the reason). A blocking network function
`cotter_X` counts as bound when its `cotter_X_start` is: the glue starts every call and waits for it itself
(with the GIL released, cancellable at exit, with a per-call timeout the blocking forms do not take).
"""
from __future__ import annotations

import re
from typing import Dict

from conftest import ROOT

# Used inside capi/include/cotter.hpp rather than exposed to Python.
CONSUMED_BY_THE_WRAPPER = {
    "cotter_error_code": "cotter::Error reads it",
    "cotter_error_message": "cotter::Error reads it",
    "cotter_error_http_status": "cotter::Error reads it",
    "cotter_error_oauth_error": "cotter::Error reads it",
    "cotter_error_oauth_error_description": "cotter::Error reads it",
    "cotter_error_retry_after": "cotter::Error reads it",
    "cotter_error_free": "cotter::Error frees it",
    "cotter_buf_dispose": "cotter::unique_buf disposes every buffer",
    "cotter_global_init": "objects initialise lazily; Python has no static-init problem to control",
    "cotter_global_shutdown": "see cotter_global_init",
    "cotter_call_is_done": "completions are pushed to the event loop by the done callback: nothing polls",
}


def _normalise(decl: str) -> str:
    decl = re.sub(r"\b(COTTER_NODISCARD|COTTER_NOEXCEPT|COTTER_API)\b", " ", decl)
    decl = re.sub(r"\s+", " ", decl).strip().rstrip(";").strip()
    return re.sub(r"\s*([(),*])\s*", r"\1", decl)


def _header_functions() -> Dict[str, str]:
    text = (ROOT / "capi/include/cotter.h").read_text()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    out = {}
    for m in re.finditer(r"COTTER_API[^;{}#]*?\b(cotter_\w+)\s*\([^;]*?\)\s*COTTER_NOEXCEPT\s*;", text, re.S):
        out[m.group(1)] = _normalise(m.group(0))
    return out


def _documented() -> Dict[str, str]:
    src = (ROOT / "python/src/_native.cpp").read_text()
    out = {}
    for m in re.finditer(r"^\s*// (COTTER_API [^\n]*?\b(cotter_\w+)\s*\([^\n]*\);)", src, re.M):
        out.setdefault(m.group(2), _normalise(m.group(1)))
    return out


def test_every_comment_matches_the_header() -> None:
    header, documented = _header_functions(), _documented()
    assert len(header) > 100
    for name, decl in documented.items():
        assert name in header, f"{name} is not in cotter.h"
        assert decl == header[name], f"signature drift for {name}:\n  glue:   {decl}\n  header: {header[name]}"


def test_every_function_is_wrapped() -> None:
    header, documented = _header_functions(), _documented()
    blocking_through_start = {name for name in header if name + "_start" in documented}
    missing = set(header) - set(documented) - set(CONSUMED_BY_THE_WRAPPER) - blocking_through_start
    assert not missing, f"functions of cotter.h with no binding: {sorted(missing)}"

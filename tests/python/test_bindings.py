"""
@file test_bindings.py
@brief python/src/_native.cpp binds every function of the C ABI as capi/abi.json describes it: each one is
named in a `// COTTER_API ...;` comment equal to its declaration there and called in the code (not only named in
a comment), save the few that capi/include/cotter.hpp consumes itself (listed with the reason, and checked to be
called there). A blocking network function `cotter_X` counts as bound when its `cotter_X_start` is: the glue
starts every call and waits for it itself (with the GIL released, cancellable at exit, with a per-call timeout
the blocking forms do not take). A function added to abi.json and not bound here fails this test.
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any, Dict, List

from conftest import ROOT

# Used inside capi/include/cotter.hpp rather than exposed to Python.
CONSUMED_BY_THE_WRAPPER = {
    "cotter_error_code": "not needed: the status the call returned is the code (cotter::Error keeps it)",
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
# Of those, the ones nothing calls, on purpose.
NOT_CALLED = {"cotter_error_code", "cotter_global_init", "cotter_global_shutdown", "cotter_call_is_done"}


def _abi() -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads((ROOT / "capi/abi.json").read_text())
    return data


def _normalise(decl: str) -> str:
    decl = re.sub(r"\b(COTTER_NODISCARD|COTTER_NOEXCEPT|COTTER_API)\b", " ", decl)
    decl = re.sub(r"\s+", " ", decl).strip().rstrip(";").strip()
    return re.sub(r"\s*([(),*])\s*", r"\1", decl)


def declarations(abi: Dict[str, Any]) -> Dict[str, str]:
    """name -> normalised C declaration, written from the description (not read back from cotter.h)."""
    out = {}
    for f in abi["functions"]:
        params = ", ".join(f"{p['type']} {p['name']}" for p in f["params"]) or "void"
        out[f["name"]] = _normalise(f"{f['returns']} {f['name']}({params})")
    return out


def _without_comments(src: str) -> str:
    return re.sub(r"//[^\n]*|/\*.*?\*/", " ", src, flags=re.S)


def problems(abi: Dict[str, Any], native: str, hpp: str) -> List[str]:
    """Every way _native.cpp (and cotter.hpp for what it consumes) falls short of the description."""
    decls = declarations(abi)
    out: List[str] = []
    documented: Dict[str, str] = {}
    for m in re.finditer(r"^\s*// (COTTER_API [^\n]*?\b(cotter_\w+)\s*\([^\n]*\);)", native, re.M):
        documented.setdefault(m.group(2), _normalise(m.group(1)))
    for name, decl in documented.items():
        if name not in decls:
            out.append(f"_native.cpp documents {name}, which capi/abi.json does not describe")
        elif decl != decls[name]:
            out.append(f"signature drift for {name}:\n  glue: {decl}\n  abi:  {decls[name]}")
    code, hpp_code = _without_comments(native), _without_comments(hpp)
    starts = {a["start"] for a in abi["async_calls"]}
    # Entries marked `bound_later` in abi.json (C only for now, with the reason; none today).
    later = {f["name"] for f in abi["functions"] if f.get("bound_later")}
    for name in decls:
        if name in later:
            continue
        if name in CONSUMED_BY_THE_WRAPPER:
            if name not in NOT_CALLED and not re.search(rf"\b{name}\b", hpp_code):
                out.append(f"{name} is listed as consumed by cotter.hpp, which does not call it")
        elif name + "_start" in starts and name + "_start" in documented:
            continue  # bound through its _start form
        elif name not in documented:
            out.append(f"{name} (capi/abi.json) has no binding in python/src/_native.cpp")
        elif not re.search(rf"\b{name}\b", code + hpp_code):
            out.append(f"{name} is named in a comment of _native.cpp but never called")
    return out


def _sources() -> tuple[str, str]:
    return ((ROOT / "python/src/_native.cpp").read_text(), (ROOT / "capi/include/cotter.hpp").read_text())


def test_every_function_of_the_abi_is_bound_as_described() -> None:
    abi = _abi()
    assert len(abi["functions"]) > 100
    assert problems(abi, *_sources()) == []


def _function(abi: Dict[str, Any], name: str) -> Dict[str, Any]:
    return next(f for f in abi["functions"] if f["name"] == name)


def _mutated(edit: Any) -> Dict[str, Any]:
    abi = copy.deepcopy(_abi())
    edit(abi)
    return abi


def test_the_check_fails_on_drift() -> None:
    """A new function, a changed parameter type, and a binding that names but never calls a function are each
    reported (on copies: the description and the sources in the tree are untouched)."""
    native, hpp = _sources()
    new = dict(_function(_abi(), "cotter_client_user_get"), name="cotter_client_not_yet_described")
    unwrapped = hpp.replace("return cotter_pkce_state(ptr_);", "return nullptr;")
    assert unwrapped != hpp
    cases: List[tuple[str, Dict[str, Any], str, str]] = [
        ("a new function", _mutated(lambda a: a["functions"].append(new)), hpp,
         "cotter_client_not_yet_described (capi/abi.json) has no binding"),
        ("a parameter type", _mutated(lambda a: _function(a, "cotter_jwt_verify")["params"][3].update(type="int")),
         hpp, "signature drift for cotter_jwt_verify"),
        ("named, not called", _abi(), unwrapped, "cotter_pkce_state is named in a comment of _native.cpp but never"),
    ]
    for what, abi, wrapper, expected in cases:
        found = problems(abi, native, wrapper)
        assert any(expected in p for p in found), f"{what}: not reported ({found})"

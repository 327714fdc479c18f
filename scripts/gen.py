#!/usr/bin/env python3
"""
@file gen.py
@brief Writes the mechanical layers of the C ABI from its description, capi/abi.json.

    python3 scripts/gen.py            (re)writes every generated file and block
    python3 scripts/gen.py --check    exits 1, naming each file, when anything differs (drift; run by test-core.sh)
    python3 scripts/gen.py --self-test  proves --check fails: on a copy of the outputs, a hand edit of each one
                                       and a change of the description must each be reported

capi/abi.json is the one place for status codes (name, pinned value, message, per-language names), log levels,
the version, the default constants and the structs (fields, types, defaults, ranges, the version that added each
field), the handles and callback types, and every ABI function in full (types, parameters with direction,
nullability and ownership, result, thread-safety, doc comment; --check: cotter.h declares exactly those, all in
generated blocks), with each network function's `_start` form and result taker. From it come:

  whole files   core/common/status.hpp        the core's status codes, names and messages
                python/cotter/_records.py, bindings/go/cotter/records_gen.go, bindings/rust/cotter/src/records.rs
                                              the typed views of the records (data that crosses the ABI as JSON)
                core/common/constants.hpp     the core's version, log levels and default constants
                core/common/options.hpp       the options structs' versions, defaults, ranges and range messages
                capi/src/abi_values_check.cpp static_asserts that cotter.h re-exports the core's values, that
                                              each struct's field types, order, version and defaults are described,
                                              and that each (hand-written) callback typedef is the described type
                capi/src/blocking_calls.cpp   the blocking form of each async call (`_start` + the taker's wait),
                                              except those marked `by_hand` (with the reason)
                tests/c/option_ranges.inc     the values tests/c/test_options.c tries against each range
                capi/src/start_calls_gen.cpp  the `_start` shims of the client's calls that name their `core` result
                bindings/rust/cotter/src/error_kind.rs    Rust ErrorKind
                bindings/rust/cotter-sys/src/bindings.rs  Rust raw declarations of everything cotter.h declares
                bindings/rust/cotter-sys/tests/layout.rs, layout_probe.c   the struct layout test (Rust vs C compiler)
                bindings/go/cotter/status_gen.go          Go Code constants and sentinel errors
                bindings/go/cotter/getters_gen.go         Go structs of the claims and token set, from their getters
                python/src/cotter_status_table.inc        Python's _native.STATUS_CODES
  blocks        capi/include/cotter.h         version, status codes, log levels, each struct (its *_VERSION, definition
                                              and *_INIT), the constants' #define lines, and `functions: <block>`:
                                              the function declarations and their doc comments
  (BEGIN/END    node/lib/index.js             `codes`, `records` (the record classes), `client calls` (Client's
   GENERATED)                                 methods that forward to the addon)
                node/lib/index.d.ts           CotterErrorCode, `records` (their declarations), `client calls`,
                                              `session calls` (the network methods' declarations)
                python/cotter/_errors.py      CLASS_FOR_CODE
                docs/c-api.md                 the tables of status codes, asynchronous calls, options structs, records
                capi/include/cotter.hpp       the 1:1 methods: each call's `_start` (and simple blocking) form on
                                              ClientRef/SessionRef, the getters of claims, token set and PKCE
                python/src/_native.cpp        each call's `_start` function and def_call, the getters' properties
                python/cotter/_native.pyi     their types
                node/src/addon.cpp            each call's method of NativeClient/NativeSession, and its
                                              InstanceMethod entry
                docs/{python,node,rust,go}.md `calls`: each language's table of the client's and session's calls
                python/cotter/aio.py          the `async def` twin of each network method of Client (client.py)
                                              and TokenSession (session.py), and their imports: read from those
                                              hand-written files (ast), which stay the one description in Python

A block sits between two marker lines, `BEGIN GENERATED <name>` and `END GENERATED <name>`, written in the
file's own comment syntax; everything outside the markers stays hand-written. Python standard library only.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = "capi/abi.json"
NOTE = "generated by scripts/gen.py from capi/abi.json; do not edit"


class Spec:
    def __init__(self, data: dict) -> None:
        self.version = data["version"]
        self.status_doc: list[str] = data["status_doc"]
        self.statuses: list[dict] = data["statuses"]
        self.log_levels: list[dict] = data["log_levels"]
        self.constants: list[dict] = data["constants"]
        self.structs: list[dict] = data["structs"]
        self.handles: list[dict] = data["handles"]
        self.callbacks: list[dict] = data["callbacks"]
        self.functions: list[dict] = data["functions"]
        self.function_names: list[str] = [f["name"] for f in self.functions]
        self.async_calls: list[dict] = data["async_calls"]
        self.records: list[dict] = data.get("records", [])
        self._validate()

    @property
    def blocks(self) -> list[str]:
        """The names of the header's function blocks, in order."""
        return list(dict.fromkeys(f["block"] for f in self.functions))

    @property
    def errors(self) -> list[dict]:
        return [s for s in self.statuses if s["value"] != 0]

    @property
    def options(self) -> list[dict]:
        return [s for s in self.structs if s["kind"] == "options"]

    @property
    def version_string(self) -> str:
        v = self.version
        return f"{v['major']}.{v['minor']}.{v['patch']}"

    def _validate(self) -> None:
        names = [s["name"] for s in self.statuses]
        values = [s["value"] for s in self.statuses]
        problems = []
        if len(set(names)) != len(names) or len(set(values)) != len(values):
            problems.append("status names and values must be unique")
        if self.statuses[0]["name"] != "COTTER_OK" or self.statuses[0]["value"] != 0:
            problems.append("the first status must be COTTER_OK = 0")
        for s in self.statuses:
            if not re.fullmatch(r"COTTER_(OK|E[A-Z0-9_]+)", s["name"]):
                problems.append(f"bad status name {s['name']!r}")
            if not s.get("message"):
                problems.append(f"{s['name']} has no message")
            if s["value"] < 0:
                for key in ("doc", "rust", "go", "python"):
                    if not s.get(key):
                        problems.append(f"{s['name']} has no {key!r}")
            if not -999 <= s["value"] <= 0:
                problems.append(f"{s['name']} = {s['value']} is outside 0..-999")
        if values[1:] != sorted(values[1:], reverse=True):
            problems.append("error codes must be listed in order (-1, -2, ...)")
        for key in ("rust", "go", "python"):
            langs = [s[key] for s in self.errors]
            if len(set(langs)) != len(langs):
                problems.append(f"{key} names must be unique")
        if len(set(self.function_names)) != len(self.function_names):
            problems.append("functions must be unique")
        problems += function_problems(self)
        for a in self.async_calls:
            for key in ("blocking", "start", "result"):
                if a[key] not in self.function_names:
                    problems.append(f"async call {a['blocking']}: {a[key]} is not in functions")
            if a["start"] != a["blocking"] + "_start":
                problems.append(f"async call {a['blocking']}: its start form must be {a['blocking']}_start")
            if "by_hand" in a and not (isinstance(a["by_hand"], str) and a["by_hand"]):
                problems.append(f"async call {a['blocking']}: `by_hand` is the reason its blocking form is not generated")
        starts = {a["start"] for a in self.async_calls}
        for f in self.function_names:
            if f.endswith("_start") and f not in starts:
                problems.append(f"{f} is not listed in async_calls")
        problems += struct_problems(self.structs)
        problems += record_problems(self)
        if problems:
            raise SystemExit("gen.py: capi/abi.json: " + "; ".join(problems))


C_INTS = {"int": (-2**31, 2**31 - 1), "long": (-2**63, 2**63 - 1), "int64_t": (-2**63, 2**63 - 1),
          "unsigned int": (0, 2**32 - 1), "size_t": (0, 2**64 - 1), "uint64_t": (0, 2**64 - 1)}
INT64_MAX = 2**63 - 1
HEADER_WIDTH = 120  # the column limit of cotter.h


SCALARS = {"void", "char", "int", "long", "unsigned int", "size_t", "int64_t", "uint64_t", "uint8_t"}
RESULTS = {"status", "value", "borrowed", "static"}
THREAD_SAFETY = {"any", "blocking", "exclusive"}


def type_problems(spec: "Spec", t: str, where: str) -> list[str]:
    """A C type as the description writes it: `[const ]base[ *[*]]`, base a scalar or a described type."""
    m = re.fullmatch(r"(const )?([a-z_0-9]+(?: int)?)( \*{1,2})?", t)
    if not m:
        return [f"{where}: type {t!r} is not written `[const ]base[ *|**]`"]
    known = SCALARS | {h["name"] for h in spec.handles} | {s["name"] for s in spec.structs} | {
        c["name"] for c in spec.callbacks}
    if m.group(2) not in known:
        return [f"{where}: type {t!r} names no scalar, handle, struct or callback of the description"]
    if m.group(2) in {h["name"] for h in spec.handles} and not m.group(3):
        return [f"{where}: handle {m.group(2)} is only ever behind a pointer"]
    return []


def function_problems(spec: "Spec") -> list[str]:
    """Each function entry is complete: types known, directions, results, frees and blocks that exist."""
    problems = []
    names = set(spec.function_names)
    for h in spec.handles:
        if h["free"] not in names:
            problems.append(f"handle {h['name']}: {h['free']} is not in functions")
    for c in spec.callbacks:
        for t, where in [(c["returns"], c["name"])] + [(p["type"], f"{c['name']}.{p['name']}") for p in c["params"]]:
            problems += type_problems(spec, t, where)
    seen_blocks: list[str] = []
    for f in spec.functions:
        n = f["name"]
        if not re.fullmatch(r"cotter_[a-z0-9_]+", n):
            problems.append(f"bad function name {n!r}")
        if not seen_blocks or seen_blocks[-1] != f["block"]:
            if f["block"] in seen_blocks:
                problems.append(f"{n}: the functions of block {f['block']!r} must be listed together")
            seen_blocks.append(f["block"])
        problems += type_problems(spec, f["returns"], f"{n} result")
        if f["returns"] != "void" and f.get("result") not in RESULTS:
            problems.append(f"{n}: `result` must be one of {sorted(RESULTS)}")
        if f.get("result") == "status" and (f["returns"] != "int" or not f.get("nodiscard")):
            problems.append(f"{n}: a status result is a COTTER_NODISCARD int")
        if f.get("result") == "borrowed" and not f.get("lifetime"):
            problems.append(f"{n}: a borrowed result says its `lifetime`")
        if f.get("thread_safety") not in THREAD_SAFETY:
            problems.append(f"{n}: `thread_safety` must be one of {sorted(THREAD_SAFETY)}")
        pnames = [p["name"] for p in f["params"]]
        if len(set(pnames)) != len(pnames):
            problems.append(f"{n}: parameter names must be unique")
        for p in f["params"]:
            where = f"{n}({p['name']})"
            problems += type_problems(spec, p["type"], where)
            if p.get("dir") not in ("in", "out", "inout") or not isinstance(p.get("nullable"), bool):
                problems.append(f"{where}: needs `dir` (in/out/inout) and `nullable` (true/false)")
            if p["dir"] != "in" and "*" not in p["type"]:
                problems.append(f"{where}: an out-parameter is a pointer")
            if "free" in p and p["free"] not in names:
                problems.append(f"{where}: {p['free']} is not in functions")
            if p["dir"] == "out" and p["type"].endswith("**") and "free" not in p:
                problems.append(f"{where}: an object out-parameter names the function that frees it (`free`)")
        if "out_error" in pnames and pnames[-1] != "out_error":
            problems.append(f"{n}: `out_error` comes last")
        if set(f.get("bind", {})) - {"go"}:
            problems.append(f"{n}: a function's `bind` names its Go field (`go`)")
        for key in ("doc", "note"):
            if key in f and (not isinstance(f[key], list) or any("*/" in line for line in f[key])):
                problems.append(f"{n}: `{key}` is a list of lines without `*/`")
    # A `_start` form takes the blocking form's inputs between its call handle and call options; its taker
    # hands back the blocking form's outputs.
    by_name = {f["name"]: f for f in spec.functions}
    for a in spec.async_calls:
        if not all(a[k] in by_name for k in ("blocking", "start", "result")):
            continue  # reported by _validate
        blocking, start, taker = by_name[a["blocking"]], by_name[a["start"]], by_name[a["result"]]
        shape = lambda ps: [(p["type"], p["name"]) for p in ps]  # noqa: E731
        ins = [p for p in blocking["params"] if p["dir"] == "in"]
        outs = [p for p in blocking["params"] if p["dir"] == "out" and p["name"] != "out_error"]
        expected = ([("cotter_call **", "out")] + shape(ins)
                    + [("const cotter_call_options *", "call_opts"), ("cotter_error **", "out_error")])
        if shape(start["params"]) != expected:
            problems.append(f"{a['start']}: parameters must be (cotter_call **out, the inputs of {a['blocking']}, "
                            f"const cotter_call_options *call_opts, cotter_error **out_error)")
        nullable = {p["name"]: p["nullable"] for p in ins}
        if any(p["nullable"] != nullable.get(p["name"], p["nullable"]) for p in start["params"]):
            problems.append(f"{a['start']}: an input is nullable exactly when it is in {a['blocking']}")
        bind = a.get("bind", {})
        langs = ("node", "python", "rust", "go")
        if set(bind) - {*langs, *(f"{lang}_args" for lang in langs), "node_bytes", "node_types", "node_defaults",
                        "node_shape", "doc"} \
                or set(bind.get("doc", {})) - set(langs) \
                or any(set(bind.get(f"{lang}_args", {})) - set(nullable) for lang in langs) \
                or set(bind.get("node_bytes", [])) - set(nullable) \
                or set(bind.get("node_types", {})) - set(nullable) \
                or set(bind.get("node_defaults", {})) - set(nullable) \
                or bind.get("node_shape", "by_hand") != "by_hand":
            problems.append(f"{a['blocking']}: `bind` has node, python, rust, go (the method), node_args, "
                            f"python_args, rust_args, go_args (C name: that language's name), node_bytes (C names), "
                            f"node_types (C name: its TypeScript type), node_defaults (C name: its JS default), "
                            f"node_shape (\"by_hand\": index.js and index.d.ts write the method), doc (language: "
                            f"the call's summary there)")
        if set(a) - {"blocking", "start", "result", "json", "bind", "core", "by_hand"} \
                or (a.get("json") and a["result"] != "cotter_call_take_buf") \
                or (a.get("core") and not a["blocking"].startswith("cotter_client_")):
            problems.append(f"{a['blocking']}: an async call has blocking, start, result, json (a JSON record in a "
                            f"cotter_call_take_buf result), bind, by_hand and core (a client's call: the core's result "
                            f"struct, its `_start` shim is generated)")
        taken = [p["type"] for p in taker["params"] if p["dir"] == "out" and p["name"] != "out_error"]
        if taken != [p["type"] for p in outs]:
            problems.append(f"{a['result']} does not hand back what {a['blocking']} gives ({[p['type'] for p in outs]})")
    return problems


def struct_problems(structs: list[dict]) -> list[str]:
    """The structs' descriptions: kinds, versions, fields (unique, typed), defaults inside ranges, `since`."""
    problems = []
    if len({s["name"] for s in structs}) != len(structs):
        problems.append("struct names must be unique")
    for s in structs:
        n = s["name"]
        if s.get("kind") not in ("options", "buffer", "output"):
            problems.append(f"{n}: kind must be options, buffer or output")
        names = [f["name"] for f in s["fields"]]
        if len(set(names)) != len(names):
            problems.append(f"{n}: field names must be unique")
        if s.get("kind") == "options":
            for key in ("label", "core", "version"):
                if not s.get(key):
                    problems.append(f"{n}: an options struct needs {key!r}")
            if names[:1] != ["version"] or s["fields"][0]["type"] != "unsigned int":
                problems.append(f"{n}: an options struct starts with `unsigned int version`")
        since = 1
        for f in s["fields"]:
            where = f"{n}.{f['name']}"
            if not re.fullmatch(r"(const )?[a-z_0-9 ]+?( \*)?", f["type"]):
                problems.append(f"{where}: bad type {f['type']!r}")
            if f.get("since", 1) < since:
                problems.append(f"{where}: fields of a later version go after those of an earlier one (append-only)")
            since = f.get("since", 1)
            if since > s.get("version", 1):
                problems.append(f"{where}: since {since} is beyond the struct's version")
            if "default" in f or "range" in f:
                if f["type"] not in C_INTS:
                    problems.append(f"{where}: a default or range needs an integer type")
                    continue
                lo_t, hi_t = C_INTS[f["type"]]
                lo, hi = f.get("range", [lo_t, None])
                hi = min(hi_t, INT64_MAX) if hi is None else hi
                if not lo_t <= lo <= hi <= hi_t:
                    problems.append(f"{where}: range {lo}..{hi} does not fit {f['type']}")
                if not lo <= f.get("default", 0) <= hi:
                    problems.append(f"{where}: the default {f.get('default', 0)} is outside {lo}..{hi}")
    return problems


def field_default(s: dict, f: dict) -> str:
    """The C initialiser of a field: the version macro, its described default, else NULL or 0."""
    if s["kind"] == "options" and f["name"] == "version":
        return version_macro(s)
    if "default" in f:
        return str(f["default"])
    return "NULL" if "*" in f["type"] or f["type"].endswith("_fn") else "0"


def version_macro(s: dict) -> str:
    return s["name"].upper() + "_VERSION"


def range_text(f: dict) -> str:
    lo, hi = f["range"]
    return f"{lo}..{hi}" if hi is not None else f"at least {lo}"


def field_doc(s: dict, f: dict) -> str:
    """The field's doc, then its default and range (from the description, so the prose cannot disagree)."""
    if s["kind"] == "options" and f["name"] == "version":
        return version_macro(s)
    parts = [f["doc"]] if f.get("doc") else []
    if "default" in f:
        d = f["default"]
        parts.append(f"Default {d}{f' ({d >> 20} MiB)' if d >= 1 << 20 and d % (1 << 20) == 0 else ''}.")
    if "range" in f:
        r = range_text(f)
        parts.append(f"Range {r}." if f["range"][1] is not None else f"{r[0].upper()}{r[1:]}.")
    return " ".join(parts)


def range_message(s: dict, f: dict) -> str:
    lo, hi = f["range"]
    what = f"must be within {lo}..{hi}" if hi is not None else f"must be at least {lo}"
    return f"{s['label']}: {f['name']} {what}"


# ------------------------------------------------------------------------------------------------
# The core (never includes cotter.h: these are its own definitions, which the C ABI re-exports)
# ------------------------------------------------------------------------------------------------


def c_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=True)  # a JSON string literal is a valid C string literal for ASCII text


def core_status_hpp(spec: Spec) -> str:
    width = max(len(s["name"]) for s in spec.statuses)
    o = [f"// @{NOTE}.",
         "/**",
         " * @file status.hpp",
         " * @brief The status codes of the core: names, pinned values and messages. cotter.h re-exports them as",
         " * `cotter_status` (capi/src/abi_values_check.cpp asserts each value equal). The enumerators carry the C",
         " * names, in this namespace, so that core code reads like the ABI without including cotter.h.",
         " */",
         "#pragma once",
         "",
         "namespace cotter::core {",
         "",
         "/// Every status; 0 is success, errors are negative. Values are pinned (capi/abi.json).",
         "enum status : int {"]
    for s in spec.statuses:
        o.append(f"    {s['name']} = {s['value']},")
    o += ["};", "",
          "struct status_entry {",
          "    int code;",
          "    const char *name;",
          "    const char *message;",
          "};", "",
          "/// One row per status, in the order of the description.",
          "inline constexpr status_entry k_statuses[] = {"]
    for s in spec.statuses:
        o.append(f"    {{{s['name']},{' ' * (width - len(s['name']))} {c_string(s['name'])}, {c_string(s['message'])}}},")
    o += ["};", "",
          "inline const status_entry *find_status(int code) noexcept {",
          "    for (const auto &e : k_statuses)",
          "        if (e.code == code) return &e;",
          "    return nullptr;",
          "}", "",
          "/// The stable name (\"COTTER_EJWT_SIGNATURE\"); \"COTTER_EUNKNOWN\" for a value that is not a status.",
          "inline const char *status_name(int code) noexcept {",
          "    const status_entry *e = find_status(code);",
          "    return e ? e->name : \"COTTER_EUNKNOWN\";",
          "}", "",
          "/// A short English description; \"unknown status\" for a value that is not a status.",
          "inline const char *status_describe(int code) noexcept {",
          "    const status_entry *e = find_status(code);",
          "    return e ? e->message : \"unknown status\";",
          "}", "",
          "}  // namespace cotter::core", ""]
    return "\n".join(o)


def core_constants_hpp(spec: Spec) -> str:
    v = spec.version
    o = [f"// @{NOTE}.",
         "/**",
         " * @file constants.hpp",
         " * @brief The version, log levels and default constants of the core. cotter.h re-exports them",
         " * (COTTER_VERSION_*, cotter_log_level, COTTER_DEFAULT_*), checked by capi/src/abi_values_check.cpp.",
         " */",
         "#pragma once",
         "",
         "namespace cotter::core {",
         "",
         f"inline constexpr int k_version_major = {v['major']};",
         f"inline constexpr int k_version_minor = {v['minor']};",
         f"inline constexpr int k_version_patch = {v['patch']};",
         "inline constexpr int k_version_number = k_version_major * 10000 + k_version_minor * 100 + k_version_patch;",
         f"inline constexpr char k_version_string[] = {c_string(spec.version_string)};",
         "",
         "/// Levels of the log callbacks (the C names, in this namespace).",
         "enum log_level : int {"]
    for lv in spec.log_levels:
        o.append(f"    {lv['name']} = {lv['value']},")
    o += ["};", ""]
    for c in spec.constants:
        o.append(f"/// {c['name']} of cotter.h.")
        o.append(f"inline constexpr char {c['core']}[] = {c_string(c['value'])};")
    o += ["", "}  // namespace cotter::core", ""]
    return "\n".join(o)


CORE_INT = {"int": "int", "long": "long", "int64_t": "int64_t", "unsigned int": "unsigned int", "size_t": "size_t",
            "uint64_t": "uint64_t"}


def core_options_hpp(spec: Spec) -> str:
    o = [f"// @{NOTE}.",
         "/**",
         " * @file options.hpp",
         " * @brief The versions, defaults and ranges of the C ABI's options structs (cotter_client_options...), and the",
         " * message of a value outside its range. The core's own configuration starts from these defaults and checks",
         " * these ranges, so no other layer restates them; cotter.h's *_INIT macros are asserted equal",
         " * (capi/src/abi_values_check.cpp).",
         " */",
         "#pragma once",
         "",
         "#include <cstddef>",
         "#include <cstdint>",
         "#include <type_traits>",
         "",
         "#include \"common/error.hpp\"",
         "",
         "namespace cotter::core::options {",
         "",
         "/// The accepted values of an integer option, lo..hi (hi = INT64_MAX: no upper bound), and the message of any other.",
         "struct range {",
         "    int64_t lo;",
         "    int64_t hi;",
         "    const char *message;",
         "};",
         "",
         "template <class T>",
         "constexpr bool in_range(const range &r, T v) noexcept {",
         "    if constexpr (std::is_unsigned_v<T>)",
         "        return v >= static_cast<uint64_t>(r.lo) && v <= static_cast<uint64_t>(r.hi);",
         "    else",
         "        return static_cast<int64_t>(v) >= r.lo && static_cast<int64_t>(v) <= r.hi;",
         "}",
         "",
         "/// Throws error(COTTER_EINVAL, r.message) when `v` is outside `r`.",
         "template <class T>",
         "void check(const range &r, T v) {",
         "    if (!in_range(r, v)) fail(COTTER_EINVAL, r.message);",
         "}"]
    for s in spec.options:
        o += ["", f"/// {s['name']}", f"namespace {s['core']} {{",
              f"inline constexpr unsigned int version = {s['version']};"]
        for f in s["fields"]:
            if "default" in f:
                o.append(f"inline constexpr {CORE_INT[f['type']]} {f['name']} = {f['default']};")
            if "range" in f:
                lo, hi = f["range"]
                o.append(f"inline constexpr range {f['name']}_range{{{lo}, {'INT64_MAX' if hi is None else hi}, "
                         f"{c_string(range_message(s, f))}}};")
        o.append(f"}}  // namespace {s['core']}")
    o += ["", "}  // namespace cotter::core::options", ""]
    return "\n".join(o)


def capi_check_cpp(spec: Spec) -> str:
    o = [f"// @{NOTE}.",
         "/**",
         " * @file abi_values_check.cpp",
         " * @brief Compile-time proof that cotter.h re-exports the core's values unchanged: both are generated from",
         " * capi/abi.json, and a hand edit of either one stops the build here.",
         " */",
         "#include <cstddef>",
         "#include <cstring>",
         "#include <type_traits>",
         "",
         "#include \"common/constants.hpp\"",
         "#include \"common/options.hpp\"",
         "#include \"common/status.hpp\"",
         "#include \"cotter.h\"",
         "",
         "namespace {",
         "constexpr bool same(const char *a, const char *b) {",
         "    return *a == *b && (*a == '\\0' || same(a + 1, b + 1));",
         "}",
         "}  // namespace",
         "",
         "static_assert(COTTER_VERSION_MAJOR == cotter::core::k_version_major, \"COTTER_VERSION_MAJOR\");",
         "static_assert(COTTER_VERSION_MINOR == cotter::core::k_version_minor, \"COTTER_VERSION_MINOR\");",
         "static_assert(COTTER_VERSION_PATCH == cotter::core::k_version_patch, \"COTTER_VERSION_PATCH\");",
         "static_assert(COTTER_VERSION_NUMBER == cotter::core::k_version_number, \"COTTER_VERSION_NUMBER\");"]
    for s in spec.statuses + spec.log_levels:
        n = s["name"]
        o.append(f"static_assert(static_cast<int>(::{n}) == static_cast<int>(cotter::core::{n}), \"{n}\");")
    for c in spec.constants:
        o.append(f"static_assert(same({c['name']}, cotter::core::{c['core']}), \"{c['name']}\");")
    # Callbacks: the hand-written typedefs are the described function-pointer types.
    o.append("")
    for c in spec.callbacks:
        params = ", ".join(p["type"] for p in c["params"]) or "void"
        o.append(f"static_assert(std::is_same_v<{c['name']}, {c['returns']} (*)({params})>, \"{c['name']}\");")
    # Structs: each field's type and order as described; options: version and defaults equal the core's.
    for s in spec.structs:
        n = s["name"]
        o += ["", f"// {n}"]
        for f in s["fields"]:
            o.append(f"static_assert(std::is_same_v<decltype({n}::{f['name']}), {f['type']}>, \"{n}.{f['name']}: type\");")
        for a, b in zip(s["fields"], s["fields"][1:]):
            o.append(f"static_assert(offsetof({n}, {a['name']}) < offsetof({n}, {b['name']}), \"{n}.{b['name']}: order\");")
        o.append(f"static_assert(sizeof({n}) == offsetof({n}, {s['fields'][-1]['name']}) + "
                 f"sizeof({n}::{s['fields'][-1]['name']}), \"{n}: no field after {s['fields'][-1]['name']}\");")
        if s["kind"] != "options":
            continue
        core = f"cotter::core::options::{s['core']}"
        o.append(f"static_assert({version_macro(s)} == {core}::version, \"{version_macro(s)}\");")
        o.append(f"constexpr {n} k_{s['core']}_init = {n.upper()}_INIT;")
        for f in s["fields"]:
            if "default" in f:
                o.append(f"static_assert(k_{s['core']}_init.{f['name']} == {core}::{f['name']}, \"{n}.{f['name']}: default\");")
    o.append("")
    return "\n".join(o)


# ------------------------------------------------------------------------------------------------
# cotter.h blocks
# ------------------------------------------------------------------------------------------------


def h_version(spec: Spec) -> str:
    v = spec.version
    return "\n".join([
        f"#define COTTER_VERSION_MAJOR {v['major']}",
        f"#define COTTER_VERSION_MINOR {v['minor']}",
        f"#define COTTER_VERSION_PATCH {v['patch']}",
        "#define COTTER_VERSION_NUMBER (COTTER_VERSION_MAJOR * 10000 + COTTER_VERSION_MINOR * 100 + COTTER_VERSION_PATCH)"])


def _wrap(text: str, width: int) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    return lines + ([cur] if cur else [])


def h_status(spec: Spec) -> str:
    o = ["/**"]
    for i, line in enumerate(spec.status_doc):
        o.append(f" * {'@brief ' if i == 0 else ''}{line}".rstrip())
    o += [" */", "typedef enum cotter_status {"]
    # One alignment column per group (general, JWT, JWKS, legacy), a blank line between groups.
    groups: list[list[dict]] = []
    for s in spec.statuses:
        g = 0 if s["value"] > -20 else 1 if s["value"] > -40 else 2 if s["value"] > -50 else 3
        while len(groups) <= g:
            groups.append([])
        groups[g].append(s)
    last = spec.statuses[-1]["name"]
    for gi, group in enumerate(g for g in groups if g):
        if gi:
            o.append("")
        width = max(len(f"{s['name']} = {s['value']},") for s in group if s["value"] != 0)
        for s in group:
            item = f"{s['name']} = {s['value']}{'' if s['name'] == last else ','}"
            if "doc" not in s:
                o.append(f"    {item}")
                continue
            prefix = f"    {item.ljust(width)} /**< "
            lines = _wrap(s["doc"], max(40, 116 - len(prefix)))
            if len(lines) == 1:
                o.append(f"{prefix}{lines[0]} */")
            else:
                o.append(f"{prefix}{lines[0]}")
                for mid in lines[1:-1]:
                    o.append(" " * len(prefix) + mid)
                o.append(" " * len(prefix) + lines[-1] + " */")
    o.append("} cotter_status;")
    return "\n".join(o)


def h_log_levels(spec: Spec) -> str:
    o = ["/** @brief Log levels passed to cotter_log_fn. */", "typedef enum cotter_log_level {"]
    for i, lv in enumerate(spec.log_levels):
        o.append(f"    {lv['name']} = {lv['value']}{',' if i + 1 < len(spec.log_levels) else ''}")
    o.append("} cotter_log_level;")
    return "\n".join(o)


def h_struct(s: dict) -> str:
    o = []
    if s["kind"] == "options":
        o += [f"#define {version_macro(s)} {s['version']}", ""]
    doc = s["doc"]
    o += [f"/** {doc} */"] if isinstance(doc, str) else ["/**"] + [f" * {line}".rstrip() for line in doc] + [" */"]
    o.append(f"typedef struct {s['name']} {{")
    decls = [f"    {f['type']}{'' if f['type'].endswith('*') else ' '}{f['name']};" for f in s["fields"]]
    width = max(len(d) for d in decls) + 1
    since = 1
    for f, decl in zip(s["fields"], decls):
        if f.get("since", 1) != since:
            since = f["since"]
            o.append(f"    /* Version {since}. */")
        doc = field_doc(s, f)
        if not doc:
            o.append(decl)
            continue
        prefix = f"{decl.ljust(width)}/**< "
        lines = _wrap(doc, max(40, 116 - len(prefix)))
        if len(lines) == 1:
            o.append(f"{prefix}{lines[0]} */")
        else:
            o.append(f"{prefix}{lines[0]}")
            o += [" " * len(prefix) + mid for mid in lines[1:-1]]
            o.append(" " * len(prefix) + lines[-1] + " */")
    o.append(f"}} {s['name']};")
    if s["kind"] != "output":
        init = "{" + ", ".join(field_default(s, f) for f in s["fields"]) + "}"
        name = "COTTER_BUF_INIT" if s["name"] == "cotter_buf" else f"{s['name'].upper()}_INIT"
        line = f"#define {name} {init}"
        o += ["", line if len(line) <= 120 else f"#define {name} \\\n    {init}"]
    return "\n".join(o)


def _comment(lines: list[str], doc: bool) -> list[str]:
    """A doc (/** */) or plain (/* */) comment: one line when it fits, else one line per line of text."""
    opener = "/**" if doc else "/*"
    if len(lines) == 1 and len(f"{opener} {lines[0]} */") <= HEADER_WIDTH:
        return [f"{opener} {lines[0]} */"]
    if not doc:  # a plain comment heading a group: no opener line of its own
        return [f"/* {lines[0]}"] + [f" * {line}".rstrip() for line in lines[1:-1]] + [f" * {lines[-1]} */"]
    return ["/**"] + [f" * {line}".rstrip() for line in lines] + [" */"]


def c_decl(t: str, name: str) -> str:
    """`const char *` + `token` -> `const char *token`."""
    return f"{t}{name}" if t.endswith("*") else f"{t} {name}"


def h_function(f: dict) -> list[str]:
    """One declaration, in clang-format's layout: on one line when it fits, else the parameters packed after `(`."""
    head = ("COTTER_NODISCARD " if f.get("nodiscard") else "") + "COTTER_API " + c_decl(f["returns"], f["name"])
    return _cpp_signature(head, [c_decl(p["type"], p["name"]) for p in f["params"]] or ["void"], " COTTER_NOEXCEPT;")


def h_functions(spec: Spec, block: str) -> str:
    """The declarations and doc comments of one block. A blank line sets apart each declaration that has a comment
    of several lines or a group note, except a `_start` form, which follows its blocking form."""
    o: list[str] = []
    previous_long = False
    for f in (f for f in spec.functions if f["block"] == block):
        lines = f.get("doc", []) + ([record_doc_line(f)] if "record" in f else [])
        doc = _comment(lines, True) if lines else []
        note = _comment(f["note"], False) if "note" in f else []
        long = len(doc) > 1 or bool(note)
        if o and (long or previous_long) and not f["name"].endswith("_start"):
            o.append("")
        o += note + doc + h_function(f)
        previous_long = len(doc) > 1
    return "\n".join(o)


def h_constants(spec: Spec, text: str) -> str:
    """Rewrites the `#define NAME "value"` line of each constant where the header keeps it (next to what uses it)."""
    for c in spec.constants:
        pattern = rf"^#define {c['name']} .*$"
        if len(re.findall(pattern, text, re.M)) != 1:
            raise SystemExit(f"gen.py: cotter.h must define {c['name']} on exactly one line")
        text = re.sub(pattern, lambda _m, c=c: f"#define {c['name']} {c_string(c['value'])}", text, flags=re.M)
    return text


# ------------------------------------------------------------------------------------------------
# C ABI shims: each blocking network function is its `_start` form plus a wait (async_calls)
# ------------------------------------------------------------------------------------------------

CAPI_WIDTH = HEADER_WIDTH  # capi/src has cotter.h's column limit


def _cpp_signature(head: str, params: list[str], tail: str) -> list[str]:
    """`head(params)tail` in clang-format's layout: on one line when it fits, else the parameters packed under
    the first one (cotter.h's declarations, capi/src's definitions)."""
    one = head + "(" + ", ".join(params) + ")" + tail
    if len(one) <= CAPI_WIDTH:
        return [one]
    indent = " " * (len(head) + 1)
    lines, cur = [], head + "("
    for i, p in enumerate(params):
        piece = p + (")" + tail if i == len(params) - 1 else ",")
        if not cur.endswith("(") and len(cur) + 1 + len(piece) > CAPI_WIDTH:
            lines.append(cur)
            cur = indent + piece
        else:
            cur += ("" if cur.endswith("(") else " ") + piece
    return lines + [cur]


def blocking_shim(spec: Spec, a: dict) -> list[str]:
    """The blocking form of one async call: clear and check its out-parameters (before anything is sent), start
    the call without call options, and hand the result over with the taker (which waits). An out-parameter the
    blocking form accepts as NULL but the taker requires means: wait for the outcome without taking the result."""
    by_name = {f["name"]: f for f in spec.functions}
    blocking, taker = by_name[a["blocking"]], by_name[a["result"]]
    if blocking.get("result") != "status":
        raise SystemExit(f"gen.py: {a['blocking']}: a generated blocking form returns a status")
    outs = [p for p in blocking["params"] if p["dir"] == "out" and p["name"] != "out_error"]
    ins = [p for p in blocking["params"] if p["dir"] == "in"]
    taken = [p for p in taker["params"] if p["dir"] == "out" and p["name"] != "out_error"]
    o = _cpp_signature(f"COTTER_API int {a['blocking']}", [c_decl(p["type"], p["name"]) for p in blocking["params"]],
                       " noexcept {")
    for p in outs:
        o.append(f"    COTTER_CLEAR_OUT({p['name']});")
    for p in outs:
        if not p["nullable"]:
            o.append(f"    COTTER_CHECK_ARG({p['name']} != nullptr, \"{p['name']} must not be NULL\", out_error);")
    o.append("    cotter_call *call = nullptr;")
    o += _cpp_signature(f"    const int rc = {a['start']}", ["&call"] + [p["name"] for p in ins] + ["nullptr", "out_error"], ";")
    take_args = []
    optional = []  # the blocking form's NULL-able outs that the taker requires
    for p in taker["params"]:
        if p["type"] == "cotter_call *":
            take_args.append("c")
        elif p["name"] == "out_error":
            take_args.append("out_error")
        else:
            mine = outs[taken.index(p)]
            take_args.append(mine["name"])
            if mine["nullable"] and not p["nullable"]:
                optional.append(mine["name"])
    take = f"{a['result']}({', '.join(take_args)})"
    one = f"    return finish_blocking(rc, &call, [&](cotter_call *c) {{ return {take}; }});"
    if not optional and len(one) <= CAPI_WIDTH:
        o.append(one)
    else:
        o.append("    return finish_blocking(rc, &call, [&](cotter_call *c) {")
        if optional:
            cond = " || ".join(f"!{n}" for n in optional)
            o.append(f"        if ({cond}) return cotter_call_wait(c, out_error);  // nothing to take the result into")
        o += [f"        return {take};", "    });"]
    o.append("}")
    return o


def capi_blocking_cpp(spec: Spec) -> str:
    o = [f"// @{NOTE}.",
         "/**",
         " * @file blocking_calls.cpp",
         " * @brief The blocking form of each network call (capi/abi.json, `async_calls`): its out-parameters checked",
         " * before anything is sent, then its `_start` form and the taker of its result, which waits. The `_start`",
         " * forms (hand-written next to their handles) check the inputs; nothing here restates a check.",
         " */",
         '#include "call.hpp"',
         "",
         "using cotter::capi::finish_blocking;",
         "",
         'extern "C" {']
    for a in spec.async_calls:
        if a.get("by_hand"):
            continue
        o.append("")
        o += blocking_shim(spec, a)
    o += ["", '}  // extern "C"', ""]
    return "\n".join(o)


# ------------------------------------------------------------------------------------------------
# Bindings
# ------------------------------------------------------------------------------------------------


def rust_error_kind(spec: Spec) -> str:
    errors = spec.errors
    o = [f"// @{NOTE}.", "//! One [`ErrorKind`] per `cotter_status` error code.", "",
         "use cotter_sys as sys;", "",
         "/// The class of a failure: one variant per negative `cotter_status` (see cotter.h for each meaning).",
         "#[non_exhaustive]", "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]", "pub enum ErrorKind {"]
    for s in errors:
        o.append(f"    /// `{s['name']}` ({s['value']})")
        o.append(f"    {s['rust']},")
    o += ["    /// A code this version of the crate does not know (a newer libcotter).", "    Unknown(i32),", "}", "",
          "impl ErrorKind {", "    /// The kind of a negative status code.", "    pub fn from_code(code: i32) -> ErrorKind {",
          "        match code {"]
    for s in errors:
        o.append(f"            sys::{s['name']} => ErrorKind::{s['rust']},")
    o += ["            other => ErrorKind::Unknown(other),", "        }", "    }", "",
          "    /// The C status code.", "    pub fn code(self) -> i32 {", "        match self {"]
    for s in errors:
        o.append(f"            ErrorKind::{s['rust']} => sys::{s['name']},")
    o += ["            ErrorKind::Unknown(code) => code,", "        }", "    }", "",
          "    /// Every known kind, in the order of cotter.h.", "    pub const ALL: &'static [ErrorKind] = &["]
    for s in errors:
        o.append(f"        ErrorKind::{s['rust']},")
    o += ["    ];", "}", ""]
    return "\n".join(o)


RUST_SCALARS = {"int": "c_int", "unsigned int": "c_uint", "long": "c_long", "char": "c_char", "void": "c_void",
                "size_t": "usize", "int64_t": "i64", "uint64_t": "u64", "uint8_t": "u8"}


def rust_type(t: str) -> str:
    """`const char *` -> `*const c_char`, `cotter_token **` -> `*mut *mut cotter_token`, `void` -> `()`."""
    m = re.fullmatch(r"(const )?([a-z_0-9]+(?: int)?)(?: (\*+))?", t)
    const, base, stars = bool(m.group(1)), RUST_SCALARS.get(m.group(2), m.group(2)), len(m.group(3) or "")
    if stars == 0:
        return "()" if base == "c_void" else base
    out = ("*const " if const else "*mut ") + base
    for _ in range(stars - 1):
        out = "*mut " + out
    return out


def rust_params(params: list[dict]) -> str:
    return ", ".join(f"{p['name']}: {rust_type(p['type'])}" for p in params)


def rust_ret(t: str) -> str:
    return "" if t == "void" else f" -> {rust_type(t)}"


def rust_init_value(spec: Spec, s: dict, f: dict) -> str:
    value = field_default(s, f)
    if value == "NULL":
        if f["type"] in {c["name"] for c in spec.callbacks}:
            return "None"
        return "core::ptr::null()" if f["type"].startswith("const ") else "core::ptr::null_mut()"
    if value == version_macro(s):
        return value if f["type"] == "unsigned int" else f"{value} as {rust_type(f['type'])}"
    return value  # an integer literal: the field's type gives it its type


def rust_sys(spec: Spec) -> str:
    """cotter-sys's raw declarations of everything cotter.h declares (bindgen would need libclang)."""
    o = [f"// @{NOTE}.", "//! Raw declarations of every item in cotter.h.", ""]
    o.append("use core::ffi::{c_char, c_int, c_long, c_uint, c_void, CStr};")
    o += ["", "// ---- Macros ----"]
    v = spec.version
    for name, value in [("MAJOR", v["major"]), ("MINOR", v["minor"]), ("PATCH", v["patch"]),
                        ("NUMBER", v["major"] * 10000 + v["minor"] * 100 + v["patch"])]:
        o.append(f"pub const COTTER_VERSION_{name}: c_uint = {value};")
    for s in spec.options:
        o.append(f"pub const {version_macro(s)}: c_uint = {s['version']};")
    for c in spec.constants:
        o.append(f'pub const {c["name"]}: &CStr = c"{c["value"]}";')
    o += ["", "// ---- Enums ----"]
    for enum, values in (("cotter_status", spec.statuses), ("cotter_log_level", spec.log_levels)):
        o.append(f"pub type {enum} = c_int;")
        o += [f"pub const {e['name']}: {enum} = {e['value']};" for e in values]
    o += ["", "// ---- Opaque objects (only ever behind pointers) ----"]
    for h in spec.handles:
        o += ["#[repr(C)]", f"pub struct {h['name']} {{", "    _private: [u8; 0],",
              "    _marker: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,", "}"]
    o += ["", "// ---- Callbacks ----"]
    for c in spec.callbacks:
        o.append(f"pub type {c['name']} =")
        o.append(f'    Option<unsafe extern "C" fn({rust_params(c["params"])}){rust_ret(c["returns"])}>;')
    o += ["", "// ---- Transparent structs ----"]
    for s in spec.structs:
        o += ["#[repr(C)]", "#[derive(Debug, Clone, Copy)]", f"pub struct {s['name']} {{"]
        o += [f"    pub {f['name']}: {rust_type(f['type'])}," for f in s["fields"]]
        o.append("}")
    o += ["", "// ---- Initialiser macros ----"]
    for s in spec.structs:
        if s["kind"] not in ("options", "buffer"):
            continue
        o.append(f"pub const {s['name'].upper()}_INIT: {s['name']} = {s['name']} {{")
        o += [f"    {f['name']}: {rust_init_value(spec, s, f)}," for f in s["fields"]]
        o.append("};")
    o += ["", "// ---- Functions ----"]
    # No #[link] attribute: build.rs says how libcotter is linked (static from the crate's own build, or the
    # shared library pkg-config finds).
    o.append('extern "C" {')
    for f in spec.functions:
        if f.get("nodiscard"):
            o.append("    #[must_use]")
        o.append(f"    pub fn {f['name']}({rust_params(f['params'])}){rust_ret(f['returns'])};")
    o += ["}", ""]
    return "\n".join(o)


def layout_probe_c(spec: Spec) -> str:
    """The C half of cotter-sys's layout test: prints what the C compiler makes of each struct."""
    o = [f"/* @{NOTE}. */",
         "/* Compiled and run by tests/layout.rs, which compares its output with Rust's view of the same structs. */",
         "#include <stddef.h>", "#include <stdio.h>", "", '#include "cotter.h"', "", "int main(void) {"]
    for s in spec.structs:
        n = s["name"]
        o.append(f'    printf("{n} size %zu align %zu\\n", sizeof({n}), (size_t)_Alignof({n}));')
        o += [f'    printf("{n}.{f["name"]} offset %zu size %zu\\n", offsetof({n}, {f["name"]}), '
              f'sizeof((({n} *)0)->{f["name"]}));' for f in s["fields"]]
    o += ["    return 0;", "}", ""]
    return "\n".join(o)


def rust_layout_test(spec: Spec) -> str:
    """The Rust half: size, alignment, and each field's offset and size, against the C compiler's at test time."""
    o = [f"// @{NOTE}.",
         "//! Struct layouts: what Rust makes of src/bindings.rs against what the C compiler makes of cotter.h,",
         "//! measured when the test runs (tests/layout_probe.c is compiled with $CC, else `cc`, and run), so the",
         "//! check holds on every target, with no number written down.",
         "",
         "use core::mem::{align_of, offset_of, size_of};",
         "use cotter_sys::*;",
         "use std::path::Path;",
         "use std::process::Command;",
         "",
         "fn size_of_field<T>(_: *const T) -> usize {",
         "    size_of::<T>()",
         "}",
         "",
         "fn rust_layout() -> Vec<String> {",
         "    let mut out = Vec::new();"]
    for s in spec.structs:
        n = s["name"]
        o.append(f'    out.push(format!("{n} size {{}} align {{}}", size_of::<{n}>(), align_of::<{n}>()));')
        o.append(f"    let probe = core::mem::MaybeUninit::<{n}>::uninit();")
        for f in s["fields"]:
            o.append(f'    out.push(format!("{n}.{f["name"]} offset {{}} size {{}}", offset_of!({n}, {f["name"]}), '
                     f'size_of_field(unsafe {{ core::ptr::addr_of!((*probe.as_ptr()).{f["name"]}) }})));')
    o += ["    out",
          "}",
          "",
          "fn c_layout() -> Vec<String> {",
          '    let here = Path::new(env!("CARGO_MANIFEST_DIR"));',
          '    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cotter_layout_probe");',
          '    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());',
          "    let status = Command::new(&cc)",
          '        .args(["-std=c11", "-Wall", "-Werror", "-I"])',
          '        .arg(here.join("native/capi/include"))',
          '        .arg(here.join("tests/layout_probe.c"))',
          '        .arg("-o")',
          "        .arg(&exe)",
          "        .status()",
          '        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc:?} for the layout probe: {e}"));',
          '    assert!(status.success(), "the layout probe does not compile");',
          '    let out = Command::new(&exe).output().expect("run the layout probe");',
          '    assert!(out.status.success(), "the layout probe failed");',
          '    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()',
          "}",
          "",
          "#[test]",
          "fn struct_layouts_match_the_c_compiler() {",
          "    let (rust, c) = (rust_layout(), c_layout());",
          f"    assert_eq!(rust.len(), {sum(1 + len(s['fields']) for s in spec.structs)});",
          "    for (r, c) in rust.iter().zip(c.iter()) {",
          '        assert_eq!(r, c, "Rust (left) and C (right) lay this out differently");',
          "    }",
          "    assert_eq!(rust.len(), c.len());",
          "}",
          ""]
    return "\n".join(o)


def go_status(spec: Spec) -> str:
    """Laid out as gofmt lays it out (aligned columns), so gofmt leaves the committed file unchanged."""
    code = [("CodeOK" if s["value"] == 0 else f"Code{s['go']}", s["name"]) for s in spec.statuses]
    cw = max(len(n) for n, _ in code)
    ew = max(len(f"Err{s['go']}") for s in spec.errors)
    mw = max(len(f"Code{s['go']}:") for s in spec.errors)
    o = [f"// Code {NOTE.replace('do not edit', 'DO NOT EDIT')}.", "", "package cotter", "", "// #include <cotter.h>",
         'import "C"', "",
         "// Status codes of cotter.h. The values come from the C header through cgo, so they cannot differ.",
         "const ("]
    for n, c in code:
        o.append(f"\t{n.ljust(cw)} Code = C.{c}")
    o += [")", "", "// Sentinel errors, one per code, for errors.Is(err, cotter.ErrJWTExpired).", "var ("]
    for s in spec.errors:
        o.append(f"\t{('Err' + s['go']).ljust(ew)} = &Error{{Code: Code{s['go']}, Name: \"{s['name']}\"}}")
    o += [")", "", "// sentinels maps a code to its sentinel error.", "var sentinels = map[Code]*Error{"]
    for s in spec.errors:
        o.append(f"\t{('Code' + s['go'] + ':').ljust(mw)} Err{s['go']},")
    o += ["}", ""]
    return "\n".join(o)


def python_status_inc(spec: Spec) -> str:
    return "\n".join([f"/* {NOTE} */"] + [f"X({s['name']})" for s in spec.errors]) + "\n"


def python_class_map(spec: Spec) -> str:
    return "\n".join(["CLASS_FOR_CODE: Dict[str, Type[CotterError]] = {"]
                     + [f"    \"{s['name']}\": {s['python']}," for s in spec.errors] + ["}"])


def node_codes(spec: Spec) -> str:
    return "\n".join(["const codes = Object.freeze({"]
                     + [f"  {s['name']}: {s['value']}," for s in spec.statuses] + ["});"])


def node_error_code_type(spec: Spec) -> str:
    lines, cur = [], ""
    for s in spec.errors:
        item = f" | '{s['name']}'"
        if cur and len(cur) + len(item) > 118:
            lines.append(cur)
            cur = ""
        cur = (cur or " ") + item
    lines.append(cur)
    return "\n".join(["/** The stable C ABI status names (capi/include/cotter.h). */", "export type CotterErrorCode ="]
                     + lines) + ";"


def docs_async_table(spec: Spec) -> str:
    o = ["| blocking | non-blocking | result |", "|---|---|---|"]
    for a in spec.async_calls:
        o.append(f"| `{a['blocking']}` | `{a['start']}` | `{a['result']}` |")
    return "\n".join(o)


def docs_options_table(spec: Spec) -> str:
    o = []
    for s in spec.options:
        if o:
            o.append("")
        # Name the _init() function only where the ABI has one (the login URL options have the macro alone).
        init = f", `{s['name']}_init()`" if f"{s['name']}_init" in spec.function_names else ""
        o += [f"`{s['name']}` (version {s['version']}, `{s['name'].upper()}_INIT`{init}):", "",
              "| field | type | default | range | version | meaning |", "|---|---|---|---|---|---|"]
        for f in s["fields"][1:]:
            default = field_default(s, f)
            rng = range_text(f) if "range" in f else ""
            doc = (f.get("doc") or "").replace("|", "\\|")
            o.append(f"| `{f['name']}` | `{f['type']}` | {default} | {rng} | {f.get('since', 1)} | {doc} |")
    return "\n".join(o)


def test_option_ranges(spec: Spec) -> str:
    """For tests/c/test_options.c: per range, the values just outside it (each must fail with the message) and its
    bounds (each must be accepted)."""
    o = [f"/* {NOTE} */",
         "/* OPTION_REJECT(struct, field, value, message) and OPTION_ACCEPT(struct, field, value), from the ranges. */"]
    for s in spec.options:
        for f in s["fields"]:
            if "range" not in f:
                continue
            lo_t, hi_t = C_INTS[f["type"]]
            lo, hi = f["range"]
            msg = c_string(range_message(s, f))
            if lo > lo_t:
                o.append(f"OPTION_REJECT({s['core']}, {f['name']}, {lo - 1}LL, {msg})")
            if hi is not None and hi < hi_t:
                o.append(f"OPTION_REJECT({s['core']}, {f['name']}, {hi + 1}LL, {msg})")
            o.append(f"OPTION_ACCEPT({s['core']}, {f['name']}, {lo}LL)")
            if hi is not None:
                o.append(f"OPTION_ACCEPT({s['core']}, {f['name']}, {hi}LL)")
    return "\n".join(o) + "\n"


def header_function_problems(spec: Spec, header: str) -> list[str]:
    """No function declared by hand outside the generated blocks: the names cotter.h declares, in order, are the
    description's (a declaration added by hand is reported, to be described in capi/abi.json instead)."""
    declared = re.findall(r"COTTER_API[^;{}#]*?\b(cotter_\w+)\s*\(", header)
    if declared == spec.function_names:
        return []
    missing = [f for f in spec.function_names if f not in declared]
    extra = [f for f in declared if f not in spec.function_names]
    what = f"missing {missing}, not described {extra}" if missing or extra else "in another order"
    return [f"capi/include/cotter.h declares other functions than {SPEC} lists ({what})"]


def docs_status_table(spec: Spec) -> str:
    o = ["| Code | Value | `cotter_status_describe()` | Meaning | Python | Rust `ErrorKind` | Go |",
         "|---|---|---|---|---|---|---|"]
    for s in spec.errors:
        doc = s["doc"].replace("|", "\\|")
        o.append(f"| `{s['name']}` | {s['value']} | {s['message']} | {doc} | "
                 f"`{s['python']}` | `{s['rust']}` | `Err{s['go']}` |")
    return "\n".join(o)


# ------------------------------------------------------------------------------------------------
# The binding glue: what only restates a C signature in cotter.hpp, python/src/_native.cpp, _native.pyi,
# node/src/addon.cpp and the Go package. The converters of results and everything idiomatic stay hand-written.
# Names follow rules; abi.json's `bind` (on an async call or a getter) holds the exceptions:
#  - a call's method is its C name without `cotter_<handle>_` (cotter_client_user_get: user_get) in C++ and
#    Python; Node names it in camelCase (userGet) unless `bind.node` says otherwise;
#  - an argument keeps its C name in C++ and Python; Node names it (in error messages) in camelCase without a
#    `_json` suffix unless `bind.node_args` says otherwise; `bind.node_bytes` lists the string arguments that
#    may also be a Uint8Array (tokens);
#  - a Go getter field is the C getter's name in Go's CamelCase (ID, JTI in capitals) unless `bind.go` says.
# ------------------------------------------------------------------------------------------------

# The handles whose asynchronous calls the glue binds: the C++ view class, the Python glue struct (and the
# member holding its cotter.hpp owner) and the Node ObjectWrap class.
CALL_OWNERS = {
    "cotter_client": {"hpp": "ClientRef", "py": "Client", "py_member": "c", "node": "Client", "node_ref": "c"},
    "cotter_session": {"hpp": "SessionRef", "py": "Session", "py_member": "s", "node": "Session", "node_ref": "s"},
}
# Records that cross the ABI as handles today and become JSON (issue 16, item 4): no getter and no blocking
# wrapper is generated for them; the calls that start them are.
RECORD_HANDLES = {"cotter_user", "cotter_user_list", "cotter_social_token", "cotter_social_token_list",
                  "cotter_identity"}
GLUE_WIDTH = 120  # the column limit of the C++ and Python glue
GENERATED_NOTE = "scripts/gen.py from capi/abi.json; do not edit"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def pascal(name: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in name.split("_"))


def pack(head: str, items: list[str], tail: str, width: int = GLUE_WIDTH, indent: str | None = None) -> list[str]:
    """`head` + items joined by ", " + `tail`, on one line when it fits, else the items packed after `head`
    with continuation lines aligned under the first item (clang-format's layout)."""
    one = head + ", ".join(items) + tail
    if len(one) <= width or not items:
        return [one]
    indent = " " * len(head) if indent is None else indent
    lines, cur = [], head
    for i, item in enumerate(items):
        piece = item + (tail if i == len(items) - 1 else ",")
        if cur not in (head, indent) and len(cur) + 1 + len(piece) > width:
            lines.append(cur)
            cur = indent
        cur += ("" if cur in (head, indent) else " ") + piece
    return lines + [cur]


class Call:
    """One asynchronous call of a handle, as the glue sees it."""

    def __init__(self, spec: Spec, pairing: dict) -> None:
        by_name = {f["name"]: f for f in spec.functions}
        self.pairing = pairing
        self.blocking = by_name[pairing["blocking"]]
        self.start = by_name[pairing["start"]]
        self.handle = self.start["params"][1]["type"].rstrip(" *")
        self.op = pairing["blocking"][len(self.handle) + 1:]
        self.bind: dict = pairing.get("bind", {})
        self.args: list[dict] = self.start["params"][2:-2]  # between the handle and call_opts
        # What the taker hands back: the name of its result, which picks each binding's converter.
        taker = pairing["result"]
        self.kind = "json" if pairing.get("json") else "nothing" if taker == "cotter_call_wait" else \
            taker[len("cotter_call_take_"):]

    def rule(self, table: dict, table_name: str, p: dict, key: str | None = None) -> tuple:
        """The entry of `table` for argument `p`: by `key`, else its C type with `?` when nullable, else its type."""
        for k in (key, p["type"] + ("?" if p["nullable"] else ""), p["type"]):
            if k in table:
                return table[k]
        raise SystemExit(f"gen.py: {self.start['name']}({p['name']}): no rule for a `{p['type']}` argument in "
                         f"{table_name}: add one")

    @property
    def node_name(self) -> str:
        return self.bind.get("node") or camel(self.op)

    def node_arg(self, p: dict) -> str:
        return self.bind.get("node_args", {}).get(p["name"]) or camel(re.sub(r"_json$", "", p["name"]))

    def c_decl_comment(self) -> str:
        """The `// COTTER_API ...;` line the binding tests compare with the description."""
        f = self.start
        params = ", ".join(c_decl(p["type"], p["name"]) for p in f["params"])
        return f"// COTTER_API {c_decl(f['returns'], f['name'])}({params});"


def calls_of(spec: Spec, handle: str) -> list[Call]:
    return [c for c in (Call(spec, a) for a in spec.async_calls) if c.handle == handle]


# --- cotter.hpp ---------------------------------------------------------------------------------

HPP_ARG = {"const cotter_token *": ("TokenRef {n}", "{n}.ptr()")}  # else the C type, passed as is
# The blocking forms whose one result cotter.hpp wraps in an owner: out-parameter type -> (C++ type, its
# declaration, the out argument, the returned value).
HPP_BLOCKING = {
    "cotter_token **": ("Token", "cotter_token *out = nullptr;", "&out", "Token(out)"),
    "cotter_buf *": ("unique_buf", "unique_buf out;", "out.get()", "out"),
}


def hpp_arg(p: dict) -> tuple[str, str]:
    decl, val = HPP_ARG.get(p["type"], (c_decl(p["type"], "{n}"), "{n}"))
    return decl.format(n=p["name"]), val.format(n=p["name"])


def hpp_calls(spec: Spec, handle: str) -> str:
    """A handle's calls in its ...Ref class: each blocking form whose result is a token, a buffer or nothing,
    then every `_start` form (the others' blocking forms, with results of their own, are written by hand)."""
    o: list[str] = []
    for c in calls_of(spec, handle):
        outs = [p for p in c.blocking["params"] if p["dir"] == "out" and p["name"] != "out_error"]
        if len(outs) > 1 or (outs and outs[0]["type"] not in HPP_BLOCKING):
            continue
        decls, vals = zip(*[hpp_arg(p) for p in c.args]) if c.args else ((), ())
        if outs:
            ret, init, out_arg, value = HPP_BLOCKING[outs[0]["type"]]
        else:
            ret, init, out_arg, value = "void", "", None, ""
        o += pack(f"    {ret} {c.op}(", list(decls), ") const {")
        if init:
            o.append(f"        {init}")
        args = ([out_arg] if out_arg else []) + ["ptr_"] + list(vals) + ["e"]
        one = f"        detail::call([&](cotter_error **e) {{ return {c.blocking['name']}({', '.join(args)}); }});"
        if len(one) <= GLUE_WIDTH:
            o.append(one)
        else:  # the lambda's body on lines of its own
            o.append("        detail::call([&](cotter_error **e) {")
            o += pack(f"            return {c.blocking['name']}(", args, ");")
            o.append("        });")
        if value:
            o.append(f"        return {value};")
        o.append("    }")
    o.append("    // Asynchronous forms (cotter.h, \"Asynchronous calls\"); `opts` may be NULL.")
    for c in calls_of(spec, handle):
        decls, vals = zip(*[hpp_arg(p) for p in c.args]) if c.args else ((), ())
        o += pack(f"    Call {c.op}_start(", list(decls) + ["const cotter_call_options *opts"], ") const {")
        o.append("        return detail::start([&](cotter_call **o, cotter_error **e) {")
        o += pack(f"            return {c.start['name']}(", ["o", "ptr_"] + list(vals) + ["opts", "e"], ");")
        o += ["        });", "    }"]
    return "\n".join(o)


def getters_of(spec: Spec, handle: str) -> list[dict]:
    """A handle's plain getters: (const handle *) or (const handle *, size_t index), returning a borrowed string
    or a value. Not for records (RECORD_HANDLES) nor the `_json` getters (which also give a length)."""
    out = []
    for f in spec.functions:
        ps = f["params"]
        if handle in RECORD_HANDLES or not f["name"].startswith(handle + "_") or not ps:
            continue
        if ps[0]["type"] != f"const {handle} *" or f.get("result") not in ("borrowed", "value"):
            continue
        if len(ps) == 1 or (len(ps) == 2 and ps[1]["type"] == "size_t" and ps[1]["dir"] == "in"):
            if f["returns"] in ("const char *", "int64_t", "size_t", "int"):
                out.append(f)
    return out


def hpp_getters(spec: Spec, handle: str) -> str:
    o = []
    for f in getters_of(spec, handle):
        name = f["name"][len(handle) + 1:]
        extra = [c_decl(p["type"], p["name"]) for p in f["params"][1:]]
        args = ", ".join(["ptr_"] + [p["name"] for p in f["params"][1:]])
        o.append(f"    {c_decl(f['returns'], name)}({', '.join(extra)}) const noexcept "
                 f"{{ return {f['name']}({args}); }}")
    return "\n".join(o)


# --- python/src/_native.cpp and python/cotter/_native.pyi ---------------------------------------

PY_ARG = {  # C type (? = nullable) -> (the start function's parameter, the value passed on, the stub's type)
    "const char *": ("const cstr &{n}", "{n}.c_str()", "str"),
    "const char *?": ("const std::optional<cstr> &{n}", "c_or_null({n})", "Optional[str]"),
    "int64_t": ("int64_t {n}", "{n}", "int"),
    "unsigned int": ("unsigned int {n}", "{n}", "int"),
    "const cotter_token *": ("const Token &{n}", "{n}.t", "Token"),
}
# The result of each kind of call: its converter (hand-written in _native.cpp: as_<kind>) and its stub type.
PY_RESULT = {
    "nothing": "None",
    "token": "Token",
    "buf": "str",
    "json": "Dict[str, Any]",
    "identity": "Dict[str, Any]",
    "user": "Dict[str, Any]",
    "user_list": "Tuple[List[Dict[str, Any]], Optional[int], Optional[bool]]",
    "social_token": "Dict[str, Any]",
    "social_token_list": "List[Dict[str, Any]]",
    "custom_claims": "Tuple[str, Optional[str]]",
    "verify_remote": "Tuple[bool, Optional[str]]",
}


def python_calls(spec: Spec, handle: str) -> str:
    """The start function of each call of a handle (`<handle>_<op>`, for def_call) and `def_<handle>_calls`,
    which registers the blocking and asyncio forms of every one with the converter of its result."""
    owner = CALL_OWNERS[handle]
    short = handle[len("cotter_"):]
    o: list[str] = []
    for c in calls_of(spec, handle):
        arg = [c.rule(PY_ARG, "PY_ARG", p) for p in c.args]
        decls = [a[0].format(n=p["name"]) for a, p in zip(arg, c.args)]
        vals = [a[1].format(n=p["name"]) for a, p in zip(arg, c.args)]
        o.append(c.c_decl_comment())
        sig = pack(f"cotter::Call {short}_{c.op}(", [f"{owner['py']} &self", "const cotter_call_options *o"] + decls,
                   ") {")
        body = pack(f"    return self.{owner['py_member']}.{c.op}_start(", vals + ["o"], ");")
        if len(sig) == 1 and len(body) == 1 and len(sig[0][:-2] + " {" + body[0][3:] + " }") <= GLUE_WIDTH:
            o.append(sig[0] + body[0][3:] + " }")
        else:
            o += sig + body + ["}"]
    o += ["", f"/// Registers `op(...)` and `op_async(completions, ...)` of every call of {owner['py']} (def_call).",
          f"void def_{short}_calls(py::class_<{owner['py']}> &cls) {{"]
    for c in calls_of(spec, handle):
        o += pack("    def_call(", ["cls", f"\"{c.op}\"", f"&{short}_{c.op}", f"&as_{c.kind}"]
                  + [f"\"{p['name']}\"_a" for p in c.args], ");")
    o.append("}")
    return "\n".join(o)


def python_stub_calls(spec: Spec, handle: str) -> str:
    o: list[str] = []
    for c in calls_of(spec, handle):
        args = [f"{p['name']}: {c.rule(PY_ARG, 'PY_ARG', p)[2]}" for p in c.args]
        result = "List[Dict[str, Any]]" if c.blocking.get("record", "").endswith("[]") else PY_RESULT[c.kind]
        o += pack(f"    def {c.op}(", ["self"] + args + ["timeout_ms: int = 0"], f") -> {result}: ...")
        o += pack(f"    def {c.op}_async(", ["self", "completions: Completions"] + args + ["timeout_ms: int = 0"],
                  ") -> _F: ...")
    return "\n".join(o)


# The handles whose plain getters become read-only properties in Python: the glue struct and its member.
GETTER_OWNERS = {"cotter_claims": {"py": "Claims", "py_member": "c"}, "cotter_token": {"py": "Token", "py_member": "t"}}


def python_getters_of(spec: Spec, handle: str) -> list[dict]:
    """The getters that become one property each: not an indexed getter nor its `_count`, which together make a
    list (written by hand)."""
    getters = getters_of(spec, handle)
    indexed = {f["name"] for f in getters if len(f["params"]) == 2}
    return [f for f in getters if len(f["params"]) == 1 and not (f["name"].endswith("_count")
                                                               and f["name"][:-len("_count")] in indexed)]


def python_getters(spec: Spec, handle: str) -> str:
    """`def_<handle>_getters`: a read-only property per plain getter (a borrowed string is a str or None)."""
    owner = GETTER_OWNERS[handle]
    short = handle[len("cotter_"):]
    o = [f"void def_{short}_getters(py::class_<{owner['py']}> &cls) {{"]
    for f in python_getters_of(spec, handle):
        name = f["name"][len(handle) + 1:]
        o.append(f"    // COTTER_API {c_decl(f['returns'], f['name'])}("
                 + ", ".join(c_decl(p["type"], p["name"]) for p in f["params"]) + ");")
        value = f"self.{owner['py_member']}.{name}()"
        value = f"opt_str({value})" if f["returns"] == "const char *" else value
        getter = f"[](const {owner['py']} &self) {{ return {value}; }}"
        o += pack("    cls.def_property_readonly(", [f"\"{name}\"", getter], ");")
    o.append("}")
    return "\n".join(o)


def python_stub_getters(spec: Spec, handle: str) -> str:
    o = []
    for f in python_getters_of(spec, handle):
        t = "Optional[str]" if f["returns"] == "const char *" else "int"
        o += ["    @property", f"    def {f['name'][len(handle) + 1:]}(self) -> {t}: ..."]
    return "\n".join(o)


# --- node/src/addon.cpp -------------------------------------------------------------------------

NODE_ARG = {  # C type (? = nullable) -> (reading info[i] into `n`; every read refuses a wrong type with
    # COTTER_EINVAL naming the argument), the value passed on
    "const char *": ("ArgString {n}(ReqString(env, info[{i}], \"{js}\"));", "{n}.c_str()"),
    "bytes": ("ArgString {n}(NoNul(env, TokenArg(env, info[{i}], \"{js}\"), \"{js}\"));", "{n}.c_str()"),
    "const char *?": ("ArgString {n}(OptStringArg(env, info[{i}], \"{js}\"));", "{n}.c_str()"),
    "int64_t": ("const int64_t {n} = ReqInt(env, info[{i}], \"{js}\", kMinSafe, kMaxSafe);", "{n}"),
    "unsigned int": ("const auto {n} = static_cast<unsigned int>(ReqInt(env, info[{i}], \"{js}\", 0, kUintMax));",
                     "{n}"),
    "const cotter_token *": ("const cotter::Token {n} = TokenJsonArg(env, info[{i}], \"{js}\");", "{n}"),
}


def node_calls(spec: Spec, handle: str) -> str:
    """One method per call of a handle: read the arguments, start the call (Run: the taker settles the promise
    on the JS thread). String arguments are wiped when the method returns (ArgString): many are secrets."""
    owner = CALL_OWNERS[handle]
    ref = f"cotter::{owner['hpp']}"
    o: list[str] = []
    for c in calls_of(spec, handle):
        o.append("    " + c.c_decl_comment())
        o.append(f"    Napi::Value {pascal(c.op)}(const Napi::CallbackInfo &info) {{")
        vals = []
        if c.args:
            o.append("        Napi::Env env = info.Env();")
        for i, p in enumerate(c.args):
            read, val = c.rule(NODE_ARG, "NODE_ARG", p, "bytes" if p["name"] in c.bind.get("node_bytes", []) else None)
            o.append("        " + read.format(n=p["name"], i=i, js=c.node_arg(p)))
            vals.append(val.format(n=p["name"]))
        r = owner["node_ref"]
        capture = "&" if c.args else ""
        call = f"{r}.{c.op}_start(" + ", ".join(vals + ["o"]) + ")"
        taker = "TakeJsonObject" if c.kind == "json" else f"Take{pascal(c.kind)}"
        head = f"        return Run(info, {len(c.args)}, &{taker}, "
        lam = f"[{capture}]({ref} {r}, const cotter_call_options *o) {{"
        one = f"{head}{lam} return {call}; }});"
        if len(one) <= GLUE_WIDTH:
            o.append(one)
        else:
            o.append(head + lam)
            o += pack(f"            return {r}.{c.op}_start(", vals + ["o"], ");")
            o.append("        });")
        o.append("    }")
    return "\n".join(o)


def node_methods(spec: Spec, handle: str) -> str:
    """The InstanceMethod entries of the calls (the class's other methods follow them, by hand)."""
    node = CALL_OWNERS[handle]["node"]
    return "\n".join(f"                            InstanceMethod<&{node}::{pascal(c.op)}>(\"{c.node_name}\"),"
                     for c in calls_of(spec, handle))


# --- Go -----------------------------------------------------------------------------------------

GO_INITIALISMS = {"id": "ID", "jti": "JTI", "url": "URL", "json": "JSON"}
GO_TYPES = {"const char *": ("string", "goString({call})"), "int64_t": ("int64", "int64({call})")}


def go_field(f: dict, handle: str) -> str:
    if f.get("bind", {}).get("go"):
        return f["bind"]["go"]
    return "".join(GO_INITIALISMS.get(w, w[:1].upper() + w[1:]) for w in f["name"][len(handle) + 1:].split("_"))


def go_getters(spec: Spec) -> str:
    """The Go structs of the claims and the token set, built from their C getters (a list of audiences and the
    JSON, which take more than one C call, are added by hand in verifier.go). Laid out as gofmt lays it out."""
    o = [f"// Code {NOTE.replace('do not edit', 'DO NOT EDIT')}.", "", "package cotter", "", "// #include <cotter.h>",
         'import "C"', ""]
    for handle, struct, fn in (("cotter_claims", "Claims", "claimFieldsOf"),
                               ("cotter_token", "TokenInfo", "tokenInfoOf")):
        getters = [f for f in getters_of(spec, handle) if len(f["params"]) == 1 and f["returns"] in GO_TYPES]
        width = max(len(go_field(f, handle)) for f in getters) + 1
        o += [f"// {fn} reads every field of {struct} that one C getter gives.",
              f"func {fn}(p *C.{handle}) *{struct} {{", f"\treturn &{struct}{{"]
        for f in getters:
            value = GO_TYPES[f["returns"]][1].format(call=f"C.{f['name']}(p)")
            o.append(f"\t\t{(go_field(f, handle) + ':').ljust(width)} {value},")
        o += ["\t}", "}", ""]
    return "\n".join(o).rstrip("\n") + "\n"




# Records: the data that crosses the ABI as JSON (capi/abi.json `records`), and its typed views
# ------------------------------------------------------------------------------------------------

RECORD_TYPES = {"string", "string[]", "integer", "boolean", "object", "token"}


def record_problems(spec: "Spec") -> list[str]:
    """Each record: unique names, known field types, keys that are dotted paths, views named in every language."""
    problems = []
    names = [r["name"] for r in spec.records]
    if len(set(names)) != len(names):
        problems.append("record names must be unique")
    for r in spec.records:
        fields = [f["name"] for f in r["fields"]]
        if len(set(fields)) != len(fields):
            problems.append(f"record {r['name']}: field names must be unique")
        if r.get("views", True):
            for lang in ("python", "node", "rust", "go"):
                if not r.get(lang):
                    problems.append(f"record {r['name']}: needs its {lang} class name (or \"views\": false)")
        for f in r["fields"]:
            where = f"record {r['name']}.{f['name']}"
            t = f["type"]
            if t not in RECORD_TYPES and not (t.endswith("[]") and t[:-2] in names):
                problems.append(f"{where}: type {t!r} is not one of {sorted(RECORD_TYPES)} or <record>[]")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", f.get("key", "")):
                problems.append(f"{where}: `key` is a JSON member name, or two joined by a dot (nested)")
            if not isinstance(f.get("nullable"), bool) or not f.get("doc"):
                problems.append(f"{where}: needs `nullable` (true/false) and `doc`")
    for f in spec.functions:
        if "record" in f and f["record"].removesuffix("[]") not in names:
            problems.append(f"{f['name']}: record {f['record']!r} is not in records")
    return problems


def record_doc_line(f: dict) -> str:
    r = f["record"]
    what = f"a JSON array of `{r[:-2]}` records" if r.endswith("[]") else f"the `{r}` record as JSON"
    return f"@param[out] out {what} (capi/abi.json `records`); release with cotter_buf_dispose()."


def _views(spec: "Spec") -> list[dict]:
    return [r for r in spec.records if r.get("views", True)]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _pascal(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def _path(f: dict) -> list[str]:
    return f["key"].split(".")


def _secret_record(r: dict) -> bool:
    return any(f.get("secret") or f["type"] == "token" for f in r["fields"])


# --- Python: python/cotter/_records.py ------------------------------------------------------------

PY_TYPES = {"string": "str", "integer": "int", "boolean": "bool", "object": "Dict[str, Any]", "token": "Token"}


def python_records(spec: Spec) -> str:
    o = [f"# @{NOTE}.",
         '"""',
         "@file _records.py",
         "@brief The typed views of the records that cross the C ABI as JSON (capi/abi.json `records`): read-only",
         "classes built from the object the core checked (simdjson: required members present, types right), so a",
         "member is read without checking it again. ``raw`` is that whole object.",
         '"""',
         "from __future__ import annotations",
         "",
         "from ._record import Record, member, strings, token_or_none",
         "",
         "TYPE_CHECKING = False",
         "if TYPE_CHECKING:",
         "    from typing import Any, Dict, Optional, Tuple",
         "",
         "    from .tokens import Token"]
    for r in _views(spec):
        fields = r["fields"]
        names = [f.get("python", f["name"]) for f in fields]
        hidden = [n for f, n in zip(fields, names) if f.get("secret")]

        def py_type(f: dict) -> str:
            if f["type"] == "string[]":
                return "Tuple[str, ...]"
            t = PY_TYPES[f["type"]]
            return t if not f["nullable"] else f"Optional[{t}]"

        o += ["", "", f"class {r['python']}(Record):", f'    """{doc_in(r["doc"], "python", r["name"])}"""', "", "    __slots__ = _fields = ("]
        o += [f"        {n!r}," for n in names + ["raw"]]
        o.append("    )")
        if hidden:
            o.append(f"    _hidden = ({', '.join(repr(n) for n in hidden)},)")
        o.append('    _uncompared = ("raw",)')
        for f, n in zip(fields, names):
            o += [f"    #: {doc_in(f['doc'], 'python', r['name'])}", f"    {n}: {py_type(f)}"]
        o += ["    #: The whole object as received (unknown members included).", "    raw: Dict[str, Any]", ""]
        o.append("    def __init__(")
        o.append("        self,")
        o.append("        *,")
        o += [f"        {n}: {py_type(f)}," for f, n in zip(fields, names)]
        o += ["        raw: Dict[str, Any],", "    ) -> None:", "        self._set("]
        o += [f"            {n}={n}," for n in names]
        o += ["            raw=raw,", "        )", "",
              "    @classmethod",
              f"    def _from_json(cls, d: Dict[str, Any]) -> \"{r['python']}\":",
              "        return cls("]
        for f, n in zip(fields, names):
            get = f"member(d, {', '.join(repr(k) for k in _path(f))})"
            if f["type"] == "string[]":
                get = f"strings({get})"
            elif f["type"] == "token":
                get = f"token_or_none({get})"
            o.append(f"            {n}={get},")
        o += ["            raw=d,", "        )"]
    return "\n".join(o) + "\n"


# --- Node: the record classes of node/lib/index.js and their declarations in index.d.ts ----------

TS_TYPES = {"string": "string", "integer": "number", "boolean": "boolean", "object": "Record<string, unknown>",
            "token": "Token"}


def node_records(spec: Spec) -> str:
    o = []
    for r in _views(spec):
        secret = _secret_record(r)
        private = [f for f in r["fields"] if f.get("secret")]
        if o:
            o.append("")
        o.append(f"/** {doc_in(r['doc'], 'node', r['name'])} */")
        o.append(f"class {r['node']} {{")
        privs = [f"#{f.get('node', _camel(f['name']))};" for f in private] + (["#raw;"] if secret else [])
        if privs:
            o.append("  " + " ".join(privs))
        o.append("  constructor(json) {")
        for f in r["fields"]:
            n = f.get("node", _camel(f["name"]))
            get = f"member(json, {', '.join(repr(k) for k in _path(f))})"
            if f["type"] == "string[]":
                get = f"strings({get})"
            elif f["type"] == "token":
                get = f"tokenOrNull({get})"
            o.append(f"    this.{'#' if f.get('secret') else ''}{n} = {get};")
        o.append(f"    this.{'#' if secret else ''}raw = json;")
        o += ["    Object.freeze(this);", "  }"]
        for f in private:
            n = f.get("node", _camel(f["name"]))
            o.append(f"  /** {doc_in(f['doc'], 'node', r['name'])} */")
            o.append(f"  get {n}() {{ return this.#{n}; }}")
        if secret:
            o += ["  /** The whole object as the API sent it (holds secrets). */", "  get raw() { return this.#raw; }"]
            hidden = ", ".join(f"{f.get('node', _camel(f['name']))}: this.#{f.get('node', _camel(f['name']))} === null "
                               f"? null : REDACTED" for f in private)
            o.append(f"  toJSON() {{ return {{ ...this{', ' + hidden if hidden else ''} }}; }}")
            o.append(f"  [inspectCustom](depth, options, inspect) {{ return `{r['node']} ${{inspect(this.toJSON(), options)}}`; }}")
        o.append("}")
    return "\n".join(o)


def node_records_dts(spec: Spec) -> str:
    o = []
    for r in _views(spec):
        if o:
            o.append("")
        o += [f"/** {doc_in(r['doc'], 'node', r['name'])} */", f"export class {r['node']} {{", "  private constructor();"]
        for f in r["fields"]:
            if f["type"] == "string[]":
                t = "string[]"
            else:
                t = f.get("ts", TS_TYPES[f["type"]]) + (" | null" if f["nullable"] else "")
            o += [f"  /** {doc_in(f['doc'], 'node', r['name'])}{' Hidden from inspect and JSON.' if f.get('secret') else ''} */",
                  f"  readonly {f.get('node', _camel(f['name']))}: {t};"]
        o += [f"  /** The whole object as the API sent it{' (holds secrets)' if _secret_record(r) else ''}. */",
              "  readonly raw: Record<string, unknown>;"]
        if _secret_record(r):
            o.append("  toJSON(): Record<string, unknown>;")
        o.append("}")
    return "\n".join(o)


# --- Node: the network methods of Client and TokenSession (index.d.ts; Client's forwarding in index.js) ----
# A call whose Node shape is not its C arguments in order (an options object, say) has `bind.node_shape:
# "by_hand"`: both files write it by hand. Otherwise:
#  - name and arguments as the addon's (Call.node_name / node_arg); a nullable argument is optional (`?: T | null`),
#    one with `bind.node_defaults` optional with that default;
#  - an argument's type by NODE_TS_ARG (its C type; `bytes` for `bind.node_bytes`, `json` for a `_json` string),
#    unless `bind.node_types` names it;
#  - the result: a JSON record's view class (or an array of them; a page without views: its list), else by
#    NODE_RESULTS (the kind of the taker);
#  - the doc comment: the C function's first sentence; `options?: CallOptions` last.

NODE_TS_ARG = {"const char *": "string", "bytes": "string | Uint8Array", "json": "Record<string, unknown> | string",
               "int64_t": "number", "unsigned int": "number", "const cotter_token *": "Token | OAuthToken | string"}
NODE_RESULTS = {"token": "Token", "nothing": "void", "buf": "string", "custom_claims": "CustomClaimsResult",
                "verify_remote": "RemoteVerdict"}


def node_record_result(spec: Spec, c: Call) -> tuple[str, str] | None:
    """A JSON call's (TypeScript type, JS expression of the taken value `r`), from the blocking form's record."""
    if c.kind != "json" or not c.blocking.get("record"):
        return None
    name = c.blocking["record"]
    records = {r["name"]: r for r in spec.records}
    many = name.endswith("[]")
    r = records[name[:-2] if many else name]
    if r.get("views", True):
        cls = r["node"]
        return (f"{cls}[]", f"r.map((x) => new {cls}(x))") if many else (cls, f"new {cls}(r)")
    # A page (no views of its own): the list it holds, e.g. user_page.users.
    f = next(f for f in r["fields"] if f["type"].endswith("[]") and f["type"][:-2] in records)
    cls = records[f["type"][:-2]]["node"]
    return f"{cls}[]", f"r.{f['key']}.map((x) => new {cls}(x))"


def node_result(spec: Spec, c: Call) -> str:
    rec = node_record_result(spec, c)
    if rec:
        return rec[0]
    if c.kind == "json":
        return "CotterEvent"  # the event calls hand back the object as sent
    if c.kind not in NODE_RESULTS:
        raise SystemExit(f"gen.py: {c.blocking['name']}: no TypeScript result for `{c.kind}` in NODE_RESULTS: add one")
    return NODE_RESULTS[c.kind]


def node_ts_arg(c: Call, p: dict) -> str:
    key = "bytes" if p["name"] in c.bind.get("node_bytes", []) else \
        "json" if p["type"] == "const char *" and p["name"].endswith("_json") else p["type"]
    t = c.bind.get("node_types", {}).get(p["name"]) or NODE_TS_ARG.get(key)
    if t is None:
        raise SystemExit(f"gen.py: {c.start['name']}({p['name']}): no TypeScript type for `{key}` in NODE_TS_ARG: "
                         f"add one")
    if p["nullable"]:
        return f"{c.node_arg(p)}?: {t} | null"
    return f"{c.node_arg(p)}{'?' if p['name'] in c.bind.get('node_defaults', {}) else ''}: {t}"


def node_calls_by_rule(spec: Spec, handle: str) -> list[Call]:
    return [c for c in calls_of(spec, handle) if c.bind.get("node_shape") != "by_hand"]


def jsdoc_summary(c: "Call") -> str:
    """The call's summary for Node (call_doc), without the Markdown escapes."""
    return call_doc(c, "node").replace("\\|", "|").replace("&lt;", "<").replace("&gt;", ">").replace("*/", "*\\/")


def node_calls_dts(spec: Spec, handle: str) -> str:
    o = []
    for c in node_calls_by_rule(spec, handle):
        o.append(f"  /** {jsdoc_summary(c)} */")
        args = [node_ts_arg(c, p) for p in c.args] + ["options?: CallOptions"]
        o += pack(f"  {c.node_name}(", args, f"): Promise<{node_result(spec, c)}>;", indent="    ")
    return "\n".join(o)


def node_client_methods_js(spec: Spec) -> str:
    """Client's methods that only forward to the addon: arguments as given (a JSON argument as an object or its
    text, a nullable one as null when absent), the result wrapped in its class."""
    o = []
    for c in node_calls_by_rule(spec, "cotter_client"):
        params, pre, vals = [], [], []
        for p in c.args:
            n = c.node_arg(p)
            default = c.bind.get("node_defaults", {}).get(p["name"])
            params.append(n if default is None else f"{n} = {json.dumps(default)}")
            if p["type"] == "const char *" and p["name"].endswith("_json"):
                pre.append(f"    const {n}Json = jsonText({n}, '{n}');")
                vals.append(f"{n}Json")
            else:
                vals.append(f"{n} ?? null" if p["nullable"] else n)
        call = f"run(callOptions(options), (t, c) => this.#n.{c.node_name}({', '.join(vals + ['t', 'c'])}))"
        if len(f"    const r = await {call};") > GLUE_WIDTH:
            call = call.replace("(options), ", "(options),\n      ", 1)
        rec = node_record_result(spec, c)
        wrap = {"token": "new Token(r)", "custom_claims": "redactedPair(r.token, r.refresh_token)"}.get(c.kind)
        wrap = rec[1] if rec else wrap
        if c.kind == "nothing":
            body = [f"    await {call};"]
        elif wrap is None:
            body = [f"    return {call};"]
        else:
            body = [f"    const r = await {call};", f"    return {wrap};"]
        o.append(f"  /** {jsdoc_summary(c)} */")
        o.append(f"  async {c.node_name}({', '.join(params + ['options'])}) {{")
        o += pre + body + ["  }"]
    return "\n".join(o)


# --- Go: bindings/go/cotter/records_gen.go --------------------------------------------------------

GO_RECORD_TYPES = {"string": "string", "string[]": "[]string", "integer": "int64", "boolean": "bool", "object": "string",
            "token": "*Token"}
GO_WIRE = {"string": "string", "string[]": "[]string", "integer": "int64", "boolean": "bool",
           "object": "json.RawMessage", "token": "json.RawMessage"}


def go_records(spec: Spec) -> str:
    # Tagged cgo like every file that uses the cgo types (Token): without cgo, cgo_required.go is the package.
    o = [f"// Code {NOTE.replace('do not edit', 'DO NOT EDIT')}.", "", "//go:build cgo", "", "package cotter", "",
         'import "encoding/json"', "",
         "// The typed views of the records that cross the C ABI as JSON (capi/abi.json `records`): each decodes the",
         "// object the library checked, and keeps it in JSON."]
    for r in _views(spec):
        fields = r["fields"]
        gname = lambda f: f.get("go") or _pascal(f["name"])  # noqa: E731
        o += ["", f"// {r['go']}: {doc_in(r['doc'][:1].lower() + r['doc'][1:], 'go', r['name'])}", f"type {r['go']} struct {{"]
        for f in fields:
            o.append(f"\t{gname(f)} {GO_RECORD_TYPES[f['type']]} // {doc_in(f['doc'], 'go', r['name'])}")
        o += ["\tJSON []byte // the object as received (unknown members included)", "}", "",
              f"// UnmarshalJSON decodes the object the library checked (capi/abi.json `records`).",
              f"func (r *{r['go']}) UnmarshalJSON(b []byte) error {{", "\tvar w struct {"]
        tops: dict[str, list[dict]] = {}
        for f in fields:
            tops.setdefault(_path(f)[0], []).append(f)
        whole = {_path(f)[0] for f in fields if len(_path(f)) == 1}
        nested_after: list[tuple[str, list[dict]]] = []  # a member read whole and also inside: decoded twice
        for key, group in tops.items():
            inner = [f for f in group if len(_path(f)) == 2]
            for f in group:
                if len(_path(f)) == 1:
                    o.append(f"\t\t{gname(f)} {GO_WIRE[f['type']]} `json:\"{key}\"`")
            if inner and key in whole:
                nested_after.append((key, inner))
            elif inner:
                o.append(f"\t\t{_pascal(key)} struct {{")
                for f in inner:
                    o.append(f"\t\t\t{gname(f)} {GO_WIRE[f['type']]} `json:\"{_path(f)[1]}\"`")
                o.append(f"\t\t}} `json:\"{key}\"`")
        o += ["\t}", "\tif err := json.Unmarshal(b, &w); err != nil {", "\t\treturn err", "\t}"]
        src: dict[str, str] = {}
        for key, inner in nested_after:
            whole_field = next(f for f in fields if f["key"] == key)
            var = "w" + _pascal(key)
            o.append(f"\tvar {var} struct {{")
            for f in inner:
                o.append(f"\t\t{gname(f)} {GO_WIRE[f['type']]} `json:\"{_path(f)[1]}\"`")
            o += ["\t}", f"\tif len(w.{gname(whole_field)}) > 0 {{",
                  f"\t\tif err := json.Unmarshal(w.{gname(whole_field)}, &{var}); err != nil {{", "\t\t\treturn err",
                  "\t\t}", "\t}"]
            for f in inner:
                src[f["name"]] = f"{var}.{gname(f)}"
        for f in fields:
            if f["name"] not in src:
                p = _path(f)
                src[f["name"]] = f"w.{gname(f)}" if len(p) == 1 else f"w.{_pascal(p[0])}.{gname(f)}"
        o.append(f"\tv := {r['go']}{{JSON: append([]byte(nil), b...)}}")
        for f in fields:
            s = src[f["name"]]
            if f["type"] == "object":
                o.append(f"\tv.{gname(f)} = rawObject({s})")
            elif f["type"] == "token":
                o += [f"\ttoken{gname(f)}, err := tokenOrNil({s})", "\tif err != nil {", "\t\treturn err", "\t}",
                      f"\tv.{gname(f)} = token{gname(f)}"]
            else:
                o.append(f"\tv.{gname(f)} = {s}")
        o += ["\t*r = v", "\treturn nil", "}"]
        if any(f.get("secret") for f in fields):
            shown = [f for f in fields if not f.get("secret") and f["type"] == "string"]
            fmt_ = " ".join(f"{gname(f)}:%q" for f in shown)
            args = ", ".join(f"r.{gname(f)}" for f in shown)
            o += ["", "// String hides the secrets (" + ", ".join(gname(f) for f in fields if f.get("secret")) + ").",
                  f"func (r {r['go']}) String() string {{",
                  f"\treturn fmt.Sprintf(\"{r['go']}{{{fmt_}}}\", {args})", "}", "",
                  "// GoString hides them from %#v too.", f"func (r {r['go']}) GoString() string {{ return r.String() }}"]
    text = "\n".join(_go_align(o)) + "\n"
    if "fmt.Sprintf" in text:
        text = text.replace('import "encoding/json"', 'import (\n\t"encoding/json"\n\t"fmt"\n)')
    return text


def _go_align(lines: list[str]) -> list[str]:
    """Aligns runs of struct fields (`name type [tag|// comment]` at one indentation) in columns, as gofmt does."""
    field = re.compile(r"^(\t+)(\w+) (struct \{|\S+)(?: (`.*`|//.*))?$")
    out, run = [], []

    def flush() -> None:
        if run:
            wn = max(len(m.group(2)) for m in run)
            wt = max(len(m.group(3)) for m in run if m.group(4)) if any(m.group(4) for m in run) else 0
            for m in run:
                line = f"{m.group(1)}{m.group(2).ljust(wn)} {m.group(3)}"
                out.append(f"{line.ljust(len(m.group(1)) + wn + 1 + wt)} {m.group(4)}" if m.group(4) else line)
            run.clear()

    for line in lines:
        m = field.match(line)
        if m and run and run[0].group(1) == m.group(1):
            run.append(m)
        else:
            flush()
            if m:
                run.append(m)
            else:
                out.append(line)
    flush()
    return out


# --- Rust: bindings/rust/cotter/src/records.rs ----------------------------------------------------

RUST_FIELD = {"string": "Option<String>", "string[]": "Vec<String>", "integer": "Option<i64>",
              "boolean": "Option<bool>", "object": "Option<String>", "token": "Option<Token>"}


def _rust_helpers(spec: Spec) -> list[str]:
    """The records_support readers the views use (an unused import is a warning)."""
    types = {f["type"] for r in _views(spec) for f in r["fields"]}
    need = {"string": "string_at", "string[]": "strings_at", "integer": "member", "boolean": "member",
            "object": "object_text", "token": "token_at"}
    return sorted({need[t] for t in types})


def rust_records(spec: Spec) -> str:
    o = [f"// @{NOTE}.",
         "//! The typed views of the records that cross the C ABI as JSON (capi/abi.json `records`), read from the",
         "//! object the library checked. Secret-bearing records wipe their strings on drop.",
         "",
         "use std::fmt;",
         "",
         "use serde_json::Value;",
         "use zeroize::Zeroize;",
         "",
         "use crate::records_support::{" + ", ".join(_rust_helpers(spec)) + "};",
         "use crate::{Result, Token, TokenRef};"]
    for r in _views(spec):
        fields = r["fields"]
        rname = lambda f: f.get("rust", f["name"])  # noqa: E731
        o += ["", f"/// {doc_in(r['doc'], 'rust', r['name'])}", f"pub struct {r['rust']} {{"]
        for f in fields:
            o.append(f"    {rname(f)}: {RUST_FIELD[f['type']]},")
        o += ["    json: String,", "}", "", f"impl {r['rust']} {{",
              "    /// Reads the checked object (its JSON text, kept for [`json`](Self::json)).",
              f"    pub(crate) fn from_json(json: String) -> Result<{r['rust']}> {{",
              f"        let v: Value = crate::records_support::parse(&json, \"{r['name']}\")?;",
              f"        Ok({r['rust']} {{"]
        for f in fields:
            keys = "&[" + ", ".join(f'"{k}"' for k in _path(f)) + "]"
            get = {"string": f"string_at(&v, {keys})", "string[]": f"strings_at(&v, {keys})",
                   "integer": f"member(&v, {keys}).and_then(Value::as_i64)",
                   "boolean": f"member(&v, {keys}).and_then(Value::as_bool)",
                   "object": f"object_text(&v, {keys})", "token": f"token_at(&v, {keys})?"}[f["type"]]
            o.append(f"            {rname(f)}: {get},")
        o += ["            json,", "        })", "    }"]
        for f in fields:
            n = rname(f)
            o.append(f"    /// {doc_in(f['doc'], 'rust', r['name'])}")
            if f["type"] in ("string", "object"):
                o.append(f"    pub fn {n}(&self) -> Option<&str> {{\n        self.{n}.as_deref()\n    }}")
            elif f["type"] == "string[]":
                o.append(f"    pub fn {n}(&self) -> Vec<&str> {{\n        self.{n}.iter().map(String::as_str).collect()\n    }}")
            elif f["type"] == "token":
                o.append(f"    pub fn {n}(&self) -> Option<&TokenRef> {{\n        self.{n}.as_deref()\n    }}")
            else:
                o.append(f"    pub fn {n}(&self) -> {RUST_FIELD[f['type']]} {{\n        self.{n}\n    }}")
        secret = _secret_record(r)
        o += [f"    /// The object as JSON, as received (unknown members included{'; holds secrets' if secret else ''}).",
              "    pub fn json(&self) -> &str {", "        &self.json", "    }", "}", "",
              f"impl fmt::Debug for {r['rust']} {{", "    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {",
              f"        f.debug_struct(\"{r['rust']}\")"]
        for f in fields:
            if f.get("secret"):
                continue
            o.append(f"            .field(\"{rname(f)}\", &self.{rname(f)}())")
        o += ["            .finish_non_exhaustive()", "    }", "}"]
        if secret:
            wiped = [rname(f) for f in fields if f["type"] in ("string", "object", "string[]")]
            o += ["", f"impl Drop for {r['rust']} {{", "    fn drop(&mut self) {"]
            o += [f"        self.{n}.zeroize();" for n in wiped]
            o += ["        self.json.zeroize();", "    }", "}"]
    return "\n".join(o) + "\n"


# --- docs/c-api.md: the fields of each record ------------------------------------------------------


def docs_records_table(spec: Spec) -> str:
    o = []
    returns: dict[str, list[str]] = {}
    for f in spec.functions:
        if "record" in f:
            returns.setdefault(f["record"].removesuffix("[]"), []).append(
                f"`{f['name']}`" + (" (an array of them)" if f["record"].endswith("[]") else ""))
    for r in spec.records:
        if o:
            o.append("")
        views = (f" Python `{r['python']}`, Node `{r['node']}`, Rust `{r['rust']}`, Go `{r['go']}`."
                 if r.get("views", True) else " Each binding reads it into its own page type.")
        o += [f"`{r['name']}`: {r['doc']} From {', '.join(returns.get(r['name'], ['-']))}.{views}", "",
              "| field | JSON key | type | null/absent | meaning |", "|---|---|---|---|---|"]
        for f in r["fields"]:
            doc = f["doc"].replace("|", "\\|") + (" Secret (hidden from reprs)." if f.get("secret") else "")
            o.append(f"| `{f['name']}` | `{f['key']}` | {f['type']} | {'yes' if f['nullable'] else 'no'} | {doc} |")
    return "\n".join(o)


# ------------------------------------------------------------------------------------------------
# Reference tables of docs/python.md, node.md, rust.md, go.md: each network call in that language
# ------------------------------------------------------------------------------------------------
# A call's name and arguments follow each language's rule, unless the pairing's `bind` says otherwise
# (`python`, `rust`, `go` as `node`: the method; `<lang>_args`: C argument name -> that language's):
#   Python  the public method of cotter.Client / TokenSession (and the same `async def` on cotter.aio's
#           classes): the C name without `cotter_client_`/`cotter_session_`; arguments as in C without `_json`;
#   Node    as its addon method (Call.node_name / node_arg);
#   Rust    the method of cotter::Client / Session (and `<name>_async`): as Python's rule; arguments as in C;
#   Go      the method of *cotter.Client / *Session: that name in CamelCase (ID, URL, JSON in capitals),
#           arguments in camelCase (after `ctx`).
# tests/python/test_docs_tables.py checks each table against the real methods (Python signatures, Node classes,
# Rust's `pub fn` and Go's `func` lines), so a wrong rule or a missing exception fails there.
# What a call returns in each language, by the kind of its taker (Call.kind).
DOC_RESULTS = {
    "python": {"token": "Token", "nothing": "None", "custom_claims": "CustomClaims", "identity": "Identity",
               "user": "User", "user_list": "UserPage", "social_token_list": "List[SocialToken]",
               "social_token": "SocialToken", "verify_remote": "RemoteVerdict", "json": "dict", "buf": "str"},
    "node": {"token": "Token", "nothing": "void", "custom_claims": "CustomClaimsResult", "identity": "Identity",
             "user": "User", "user_list": "User[]", "social_token_list": "SocialToken[]",
             "social_token": "SocialToken", "verify_remote": "RemoteVerdict", "json": "CotterEvent",
             "buf": "string"},
    "rust": {"token": "Token", "nothing": "()", "custom_claims": "CustomClaims", "identity": "Identity",
             "user": "User", "user_list": "UserList", "social_token_list": "SocialTokenList",
             "social_token": "SocialToken", "verify_remote": "Result<(), String>", "json": "Secret",
             "buf": "Secret"},
    "go": {"token": "*Token", "nothing": "", "custom_claims": "*CustomClaims", "identity": "*Identity",
           "user": "*User", "user_list": "[]User", "social_token_list": "[]SocialToken",
           "social_token": "*SocialToken", "verify_remote": "(valid bool, reason string)",
           "json": "json.RawMessage", "buf": "string"},
}
DOC_OWNERS = {"cotter_client": {"python": "Client", "node": "Client", "rust": "Client", "go": "*Client"},
              "cotter_session": {"python": "TokenSession", "node": "TokenSession", "rust": "Session",
                                 "go": "*Session"}}


# A JSON call's row in DOC_RESULTS, by the record its blocking form hands over (the event calls: `json`).
DOC_RECORD_KINDS = {"user": "user", "user_page": "user_list", "social_token": "social_token",
                    "social_token[]": "social_token_list", "identity": "identity"}


def doc_kind(c: Call) -> str:
    return DOC_RECORD_KINDS[c.blocking["record"]] if c.kind == "json" and c.blocking.get("record") else c.kind


def doc_name(c: Call, lang: str) -> str:
    if lang == "node":
        return c.node_name
    if lang in ("python", "rust"):
        return c.bind.get(lang) or c.op
    return c.bind.get("go") or "".join(GO_INITIALISMS.get(w, w[:1].upper() + w[1:]) for w in c.op.split("_"))


def doc_arg(c: Call, lang: str, p: dict) -> str:
    given = c.bind.get(f"{lang}_args", {}).get(p["name"])
    if lang == "node":
        name = c.node_arg(p)
    elif given:
        name = given
    elif lang == "python":
        name = re.sub(r"_json$", "", p["name"])
    elif lang == "rust":
        name = p["name"]
    else:
        head, *rest = p["name"].split("_")
        name = head + "".join(GO_INITIALISMS.get(w, w[:1].upper() + w[1:]) for w in rest)
    return name + ("?" if p["nullable"] else "")


# Each language's generated docs in its own terms: the doc comments of abi.json are C ("may be NULL", "a cotter_buf").
# DOC_WORDS rewrites the C words for each binding; what no rule covers fails the generator (C_ONLY_WORDS), so a C
# sentence never reaches a TypeScript, Python, Rust or Go doc. A call's summary can be written per language in its
# pairing's `bind` (`"doc": {"<language>": "..."}`) where the rule does not fit.
C_ONLY_WORDS = re.compile(r"\bNULL\b|\bNUL\b|NUL-terminated|\bcotter_buf\b|\bout[- ]param(?:eter)?s?\b|\bout_error\b"
                          r"|\bcotter_(?:buf_dispose|\w+_free)\b|\bconst char \*|\bsize_t\b")
DOC_WORDS = {
    "python": [(r"\bmay be NULL\b", "may be None"), (r"\bNULL\b", "None")],
    "node": [(r"\bmay be NULL\b", "may be null or omitted"), (r"\bNULL\b", "null")],
    "rust": [(r"\bmay be NULL\b", "may be None"), (r"\bNULL\b", "None")],
    "go": [(r"\bmay be NULL\b", "may be empty"), (r"\bNULL\b", "empty")],
}
for _words in DOC_WORDS.values():  # the same for every language
    _words += [(r",? ?NUL-terminated,?", ""), (r"\ba cotter_buf\b", "a string"), (r"\bcotter_buf\b", "string"),
               (r"\bout[- ]param(?:eter)?s?\b", "result")]


def doc_in(text: str, lang: str, where: str) -> str:
    """`text` in `lang`'s terms (DOC_WORDS); exits naming the word when a C-only word is left."""
    for pattern, words in DOC_WORDS[lang]:
        text = re.sub(pattern, words, text)
    if m := C_ONLY_WORDS.search(text):
        raise SystemExit(f"gen.py: {where}: the {lang} doc says C's `{m.group(0)}` ({text!r}): add a rule to DOC_WORDS "
                         f"or write that language's text (a call: `bind.doc.{lang}` of its pairing)")
    return text


def call_doc(c: "Call", lang: str) -> str:
    """A call's summary in `lang`: its pairing's `bind.doc.<lang>`, else the C summary in that language's terms."""
    return doc_in(c.bind.get("doc", {}).get(lang) or doc_summary(c.blocking), lang, c.blocking["name"])


def doc_summary(f: dict) -> str:
    """The first sentence of a function's doc comment, without its Doxygen tags."""
    text = " ".join(f["doc"])
    text = re.split(r"\s@(?:return|param|note)\b", " " + text)[0].replace("@brief", "").strip()
    m = re.match(r"(.+?(?<!e\.g)(?<!i\.e)\.)(\s|$)", text)  # "e.g." ends no sentence
    text = m.group(1) if m else text
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def docs_calls_table(spec: Spec, lang: str) -> str:
    """One row per network call of Client and the session: its name, arguments and result in `lang`, the C
    function under it and what it does (the doc comment's first sentence)."""
    o = ["| call | arguments | result | C function | what it does |", "|---|---|---|---|---|"]
    for handle, owners in DOC_OWNERS.items():
        for c in calls_of(spec, handle):
            args = ", ".join(doc_arg(c, lang, p) for p in c.args)
            result = node_result(spec, c) if lang == "node" else DOC_RESULTS[lang][doc_kind(c)]
            o.append(f"| `{owners[lang].lstrip('*')}.{doc_name(c, lang)}` | {args and f'`{args}`'} | "
                     f"{result and f'`{result}`'} | `{c.blocking['name']}` | {call_doc(c, lang)} |")
    return "\n".join(o)


# ------------------------------------------------------------------------------------------------
# python/cotter/aio.py: the asyncio twin of each network method of Client and TokenSession
# ------------------------------------------------------------------------------------------------
# The sync method (python/cotter/client.py, session.py) is the one description of a call in Python: its
# signature, docstring and conversions. Its twin is the same method as an `async def` whose native call
# `self._n.<op>(...)` becomes `await _call(self._n.<op>_async, ...)` (a value handed back as is is cast to the
# annotated result, as `_call` returns Any). A method is twinned when it calls an `async_calls` op of its handle.
PY_SYNC_CLASSES = {"cotter_client": ("python/cotter/client.py", "Client"),
                   "cotter_session": ("python/cotter/session.py", "TokenSession")}
PY_AIO_INDENT = "    "


def _py_module(root: Path, path: str) -> ast.Module:
    return ast.parse((root / path).read_text(), path)


def _native_call(node: ast.AST, ops: set[str]) -> ast.Call | None:
    """The `self._n.<op>(...)` call inside `node`, if any."""
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ops \
                and ast.unparse(n.func.value) == "self._n":
            return n
    return None


def _py_signature(fn: ast.FunctionDef) -> list[str]:
    """`async def` + the sync method's parameters (annotations, defaults, `*`), laid out as pack() does."""
    def param(p: ast.arg, default: ast.expr | None) -> str:
        text = p.arg + (f": {ast.unparse(p.annotation)}" if p.annotation else "")
        return text + (f" = {ast.unparse(default)}" if default is not None else "")

    a = fn.args
    positional = a.posonlyargs + a.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    items = [param(p, d) for p, d in zip(positional, defaults)]
    if a.kwonlyargs:
        items += ["*"] + [param(p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    returns = ast.unparse(fn.returns) if fn.returns else "None"
    return pack(f"{PY_AIO_INDENT}async def {fn.name}(", items, f") -> {returns}:")


def _py_statement(stmt: ast.stmt, call: ast.Call | None, returns: str, src: str) -> list[str]:
    ind = PY_AIO_INDENT * 2
    if call is None:  # unchanged: its own text
        text = ast.get_source_segment(src, stmt, padded=True) or ast.unparse(stmt)
        return [ind + text.lstrip()]
    placeholder = ast.Name(id="__native_call__")
    direct = isinstance(stmt, ast.Return) and stmt.value is call
    holder = stmt
    for parent in ast.walk(stmt):
        for field, value in ast.iter_fields(parent):
            if value is call:
                setattr(parent, field, placeholder)
            elif isinstance(value, list) and call in value:
                value[value.index(call)] = placeholder
    head, tail = ast.unparse(holder).split("__native_call__")
    prefix = f"cast({returns}, await _call(" if direct else "await _call("
    items = [f"self._n.{call.func.attr}_async"] + [ast.unparse(a) for a in call.args]  # type: ignore[attr-defined]
    return pack(ind + head + prefix, items, ")" + (")" if direct else "") + tail)


def python_async_twins(root: Path, handle: str) -> str:
    """The `async def` twins of the network methods of the sync class of `handle`, in its order."""
    path, cls_name = PY_SYNC_CLASSES[handle]
    src = (root / path).read_text()
    cls = next(n for n in ast.parse(src).body if isinstance(n, ast.ClassDef) and n.name == cls_name)
    ops = {c.op for c in calls_of(Spec(json.loads((root / SPEC).read_text())), handle)}
    out: list[str] = []
    for fn in cls.body:
        if not isinstance(fn, ast.FunctionDef) or _native_call(fn, ops) is None:
            continue
        returns = ast.unparse(fn.returns) if fn.returns else "None"
        out += ([""] if out else []) + _py_signature(fn)
        for stmt in fn.body:
            out += _py_statement(stmt, _native_call(stmt, ops), returns, src)
    return "\n".join(out)


def python_async_imports(root: Path) -> str:
    """What the twins name, imported from where their sync classes get it (typing at run time: cast())."""
    names: dict[str, str] = {}
    for handle, (path, cls_name) in PY_SYNC_CLASSES.items():
        module = _py_module(root, path)
        origin: dict[str, str] = {}
        for node in ast.walk(module):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    origin[alias.asname or alias.name] = ("typing" if node.module == "typing" else
                                                          "." * node.level + (node.module or ""))
            elif isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node in module.body:
                origin[node.name] = "." + Path(path).stem
        twins = ast.parse("class _T:\n" + python_async_twins(root, handle))
        for n in ast.walk(twins):
            if isinstance(n, ast.Name) and n.id in origin:
                names[n.id] = origin[n.id]
    names.update({"cast": "typing"})
    by_module: dict[str, list[str]] = {}
    for name, mod in names.items():
        by_module.setdefault(mod, []).append(name)
    lines = []
    for mod in sorted(by_module, key=lambda m: (m != "typing", m)):
        one = f"from {mod} import {', '.join(sorted(by_module[mod]))}"
        lines += [one] if len(one) <= GLUE_WIDTH else pack(f"from {mod} import (", sorted(by_module[mod]), ")")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# capi/src/start_calls_gen.cpp: the `_start` shims of the client's calls
# ------------------------------------------------------------------------------------------------
# A client pairing with `core` (the core's result struct) has its `_start` form written here: the pointer checks,
# then start_client_call<T> with the core's `<op>_async`, the C arguments in order (a nullable string as ""). A JSON
# record (`json: true`; the struct keeps the checked object in `json`) is the call's result as that JSON; any other
# result is converted by the conversion of cotter_call::result for T (capi/src/call.hpp). Validation stays in the
# core. What is not this shape stays hand-written in capi/src/client.cpp (the grants: one core call, grant_async,
# serves two C functions with a constant grant type that is not a C argument).
CORE_ARG = {"const char *": "{n}", "const char *?": "{n} ? {n} : \"\"", "int64_t": "{n}", "unsigned int": "{n}"}


def capi_start_calls(spec: Spec) -> str:
    o = [f"// {NOTE}.", "// The `_start` shims of the client's calls that name their `core` result (capi/abi.json). Each",
         "// checks its pointers, then starts the core's asynchronous call; the core validates the values.",
         '#include "client_objects.hpp"', "", "namespace tk = cotter::core::token;", "", 'extern "C" {']
    for c in calls_of(spec, "cotter_client"):
        core = c.pairing.get("core")
        if not core:
            continue
        f = c.start
        params = [c_decl(p["type"], p["name"]) for p in f["params"]]
        o += [""] + pack(f"COTTER_API int {f['name']}(", params, ") noexcept {")
        o += ["    COTTER_CLEAR_OUT(out);"]
        for p in f["params"]:  # `out`, then each required input pointer (out_error and call_opts may be NULL)
            if p["name"] == "out" or (p["type"].endswith("*") and not p["nullable"] and p["dir"] == "in"):
                o.append(f'    COTTER_CHECK_ARG({p["name"]} != nullptr, "{p["name"]} must not be NULL", out_error);')
        o += ["    COTTER_CHECK_CALL_OPTIONS(call_opts, out_error);", "    COTTER_API_BEGIN",
              f"    return cotter::capi::start_client_call<tk::{core}>(", "        out, client, call_opts,",
              "        [&](tk::client &c, auto done, int64_t timeout) {"]
        args = [c.rule(CORE_ARG, "CORE_ARG", p).format(n=p["name"]) for p in c.args]
        o += pack(f"            return c.{c.op}_async(", args + ["std::move(done)", "timeout"], ");")
        o += ["        },", "        cotter::capi::record_json{});"] if c.pairing.get("json") else ["        });"]
        o += ["    COTTER_API_END(out_error)", "}"]
    return "\n".join(o + ["", '}  // extern "C"', ""])


# ------------------------------------------------------------------------------------------------
# Putting it together
# ------------------------------------------------------------------------------------------------

WHOLE = {
    "core/common/status.hpp": core_status_hpp,
    "core/common/constants.hpp": core_constants_hpp,
    "core/common/options.hpp": core_options_hpp,
    "capi/src/abi_values_check.cpp": capi_check_cpp,
    "capi/src/blocking_calls.cpp": capi_blocking_cpp,
    "capi/src/start_calls_gen.cpp": capi_start_calls,
    "bindings/rust/cotter/src/error_kind.rs": rust_error_kind,
    "bindings/rust/cotter-sys/src/bindings.rs": rust_sys,
    "bindings/rust/cotter-sys/tests/layout.rs": rust_layout_test,
    "bindings/rust/cotter-sys/tests/layout_probe.c": layout_probe_c,
    "bindings/go/cotter/status_gen.go": go_status,
    "bindings/go/cotter/getters_gen.go": go_getters,
    "python/src/cotter_status_table.inc": python_status_inc,
    "python/cotter/_records.py": python_records,
    "bindings/go/cotter/records_gen.go": go_records,
    "bindings/rust/cotter/src/records.rs": rust_records,
    "tests/c/option_ranges.inc": test_option_ranges,
}

BLOCKS = {
    "capi/include/cotter.h": {"version": h_version, "status codes": h_status, "log levels": h_log_levels},
    "node/lib/index.js": {"status codes": node_codes, "records": node_records, "client calls": node_client_methods_js},
    "node/lib/index.d.ts": {"status codes": node_error_code_type, "records": node_records_dts,
                            "client calls": lambda spec: node_calls_dts(spec, "cotter_client"),
                            "session calls": lambda spec: node_calls_dts(spec, "cotter_session")},
    "capi/include/cotter.hpp": {"claims getters": lambda spec: hpp_getters(spec, "cotter_claims"),
                                "token getters": lambda spec: hpp_getters(spec, "cotter_token"),
                                "pkce getters": lambda spec: hpp_getters(spec, "cotter_pkce"),
                                "client calls": lambda spec: hpp_calls(spec, "cotter_client"),
                                "session calls": lambda spec: hpp_calls(spec, "cotter_session")},
    "node/src/addon.cpp": {"client methods": lambda spec: node_methods(spec, "cotter_client"),
                           "client calls": lambda spec: node_calls(spec, "cotter_client"),
                           "session methods": lambda spec: node_methods(spec, "cotter_session"),
                           "session calls": lambda spec: node_calls(spec, "cotter_session")},
    "python/src/_native.cpp": {"claims getters": lambda spec: python_getters(spec, "cotter_claims"),
                               "token getters": lambda spec: python_getters(spec, "cotter_token"),
                               "client calls": lambda spec: python_calls(spec, "cotter_client"),
                               "session calls": lambda spec: python_calls(spec, "cotter_session")},
    "python/cotter/_native.pyi": {"claims getters": lambda spec: python_stub_getters(spec, "cotter_claims"),
                                  "token getters": lambda spec: python_stub_getters(spec, "cotter_token"),
                                  "client calls": lambda spec: python_stub_calls(spec, "cotter_client"),
                                  "session calls": lambda spec: python_stub_calls(spec, "cotter_session")},
    "python/cotter/_errors.py": {"status codes": python_class_map},
    "python/cotter/aio.py": {},  # its blocks are read from client.py and session.py too: see render()
    "docs/c-api.md": {"status codes": docs_status_table, "asynchronous calls": docs_async_table,
                      "options structs": docs_options_table,
                      "records": docs_records_table},
    **{f"docs/{lang}.md": {"calls": lambda spec, lang=lang: docs_calls_table(spec, lang)}
       for lang in ("python", "node", "rust", "go")},
}

OUTPUTS = sorted(set(WHOLE) | set(BLOCKS))
INPUTS = [path for path, _ in PY_SYNC_CLASSES.values()]  # hand-written, read by the generator besides the description


def replace_block(text: str, name: str, body: str, path: str) -> str:
    # The name ends at the marker's note, the comment's end or the line's end ("client" is not "client stats").
    after = r"(?=\s+\(|\s*\*/|\s*-->|\s*$)"
    begin = re.compile(rf"^.*\bBEGIN GENERATED {re.escape(name)}{after}.*$", re.M)
    end = re.compile(rf"^.*\bEND GENERATED {re.escape(name)}{after}.*$", re.M)
    b, e = list(begin.finditer(text)), list(end.finditer(text))
    if len(b) != 1 or len(e) != 1 or b[0].end() > e[0].start():
        raise SystemExit(f"gen.py: {path} needs one 'BEGIN GENERATED {name}' line followed by one "
                         f"'END GENERATED {name}' line")
    return text[:b[0].end()] + "\n" + body + "\n" + text[e[0].start():]


def render(root: Path) -> dict[str, str]:
    """Every output file's expected text (blocks are filled into the file's current text)."""
    spec = Spec(json.loads((root / SPEC).read_text()))
    out = {path: fn(spec) for path, fn in WHOLE.items()}
    for path, blocks in BLOCKS.items():
        text = (root / path).read_text()
        if path == "capi/include/cotter.h":  # one block per struct, named after it; the function blocks
            blocks = {**blocks, **{s["name"]: (lambda spec, s=s: h_struct(s)) for s in spec.structs},
                      **{f"functions: {b}": (lambda spec, b=b: h_functions(spec, b)) for b in spec.blocks}}
        if path == "python/cotter/aio.py":
            blocks = {"client imports": lambda spec: python_async_imports(root),
                      **{f"{h[len('cotter_'):]} calls": (lambda spec, h=h: python_async_twins(root, h))
                         for h in PY_SYNC_CLASSES}}
        for name, fn in blocks.items():
            text = replace_block(text, name, fn(spec), path)
        if path == "capi/include/cotter.h":
            text = h_constants(spec, text)
        out[path] = text
    return out


def drift(root: Path) -> list[str]:
    rendered = render(root)
    spec = Spec(json.loads((root / SPEC).read_text()))
    problems = header_function_problems(spec, rendered["capi/include/cotter.h"])
    for path, text in rendered.items():
        f = root / path
        if not f.exists():
            problems.append(f"{path} is missing")
            continue
        current = f.read_text()
        if current != text:
            diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(), f"{path} (committed)",
                                             f"{path} (from {SPEC})", n=0, lineterm=""))
            problems.append(f"{path} differs from what {SPEC} gives:\n  " + "\n  ".join(diff[:12]))
    return problems


def self_test() -> int:
    """On a copy of the outputs: the unmodified copy passes; a hand edit of each output, and a change of the
    description (a renumbered status, a new one, a renamed Rust variant), are each reported."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def fresh() -> None:
            for rel in OUTPUTS + [SPEC] + INPUTS:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ROOT / rel, root / rel)

        fresh()
        if drift(root):
            failures.append(f"the unmodified tree already drifts: {drift(root)}")
        for rel in OUTPUTS:
            fresh()
            f = root / rel
            text = f.read_text()
            # Edit inside what is generated: the first C name in the file, or in its first block.
            span = (0, len(text)) if rel in WHOLE else _first_block(text)
            m = re.compile(r"cotter_\w+|OPTION_\w+", re.I).search(text, *span) or re.compile(r"\w+").search(text, *span)
            if not m:
                failures.append(f"{rel}: no C name to edit")
                continue
            f.write_text(text[:m.end()] + "X" + text[m.end():])
            if not any(p.startswith(rel) for p in drift(root)):
                failures.append(f"a hand edit of {rel} was not reported")
        # A declaration written by hand outside the generated blocks (to be described in abi.json instead).
        fresh()
        header = root / "capi/include/cotter.h"
        header.write_text(header.read_text().replace(
            "#ifdef __cplusplus\n} /* extern \"C\" */",
            "COTTER_API int cotter_by_hand(void) COTTER_NOEXCEPT;\n\n#ifdef __cplusplus\n} /* extern \"C\" */"))
        if not any("not described ['cotter_by_hand']" in p for p in drift(root)):
            failures.append("a function declared by hand in cotter.h was not reported")
        # The asyncio twins follow the sync method: a parameter renamed in client.py must show in aio.py.
        fresh()
        client_py = root / "python/cotter/client.py"
        renamed = client_py.read_text().replace("def get_user(self, user_id: str", "def get_user(self, uid: str")
        client_py.write_text(renamed)
        aio_drifts = any(p.startswith("python/cotter/aio.py") for p in drift(root))
        if "def get_user(self, uid: str" not in renamed or not aio_drifts:
            failures.append("a parameter renamed in client.py was not reported in aio.py's twins")
        # A Node argument renamed in abi.json renames it in index.d.ts (and the forwarding method of index.js).
        fresh()
        data = json.loads((root / SPEC).read_text())
        next(a for a in data["async_calls"] if a["blocking"] == "cotter_client_refresh").setdefault(
            "bind", {})["node_args"] = {"refresh_token": "renamedToken"}
        (root / SPEC).write_text(json.dumps(data))
        if not all(any(p.startswith(f"node/lib/index.{ext}") and "renamedToken" in p for p in drift(root))
                   for ext in ("d.ts", "js")):
            failures.append("a Node argument renamed in abi.json was not reported in index.d.ts and index.js")
        # A C-only word in a doc that a binding's generated doc repeats (a record field's, a call's) is refused.
        for what, change in [("record field", lambda d: d["records"][0]["fields"][0].update(
                                 doc="Freed with cotter_buf_dispose().")),
                             ("call", lambda d: _function(d, "cotter_client_refresh")["doc"].insert(
                                 0, "@brief Writes the token to an out_error."))]:
            fresh()
            data = json.loads((root / SPEC).read_text())
            change(data)
            (root / SPEC).write_text(json.dumps(data))
            try:
                drift(root)
                failures.append(f"C wording in a {what}'s doc reached a binding's generated doc")
            except SystemExit as e:
                if "doc says C's" not in str(e.code):
                    failures.append(f"C wording in a {what}'s doc: {e.code}")
        changes = 0
        for what, edit in [("renumbered status", lambda d: d["statuses"][3].update(value=-99)),
                           ("appended status", lambda d: d["statuses"].append(dict(d["statuses"][-1], name="COTTER_ENEW",
                                                                                      value=-52, rust="New", go="New",
                                                                                      python="NewError"))),
                           ("renamed Rust variant", lambda d: d["statuses"][1].update(rust="Invalidd")),
                           ("function left out", lambda d: d["functions"].remove(_function(d, "cotter_token_free"))),
                           ("parameter type changed", lambda d: _function(d, "cotter_jwt_verify")["params"][3]
                            .update(type="int")),
                           ("renamed Node method", lambda d: d["async_calls"][1]["bind"].update(node="exchange")),
                           ("renamed Go field", lambda d: _function(d, "cotter_claims_sub")["bind"].update(go="Sub")),
                           ("changed result taker", lambda d: d["async_calls"][0].update(result="cotter_call_take_buf")),
                           ("start form's nullability differs", lambda d: _function(
                               d, "cotter_client_logout_start")["params"][2].update(nullable=False)),
                           ("blocking form taken out of the generated shims",
                            lambda d: d["async_calls"][1].update(by_hand="for the self-test")),
                           ("start form out of step", lambda d: _function(d, "cotter_client_refresh_start")["params"]
                            .pop(2)),
                           ("changed option default", lambda d: _field(d, "cotter_client_options", "timeout_ms")
                            .update(default=31000)),
                           ("changed option range", lambda d: _field(d, "cotter_client_options", "max_retries")
                            .update(range=[0, 11])),
                           ("appended option field", lambda d: _struct(d, "cotter_session_options")["fields"].append(
                               {"name": "new_field", "type": "int64_t", "default": 1, "range": [0, 9]})),
                           ("default outside its range", lambda d: _field(d, "cotter_session_options",
                                                                          "refresh_margin_seconds").update(default=-1)),
                           ("changed record key", lambda d: d["records"][0]["fields"][0].update(key="Id")),
                           ("record field of no known type", lambda d: d["records"][0]["fields"][0].update(type="float")),
                           ("record of no function", lambda d: _function(d, "cotter_client_user_get").update(
                               record="widget"))]:
            fresh()
            changes += 1
            data = json.loads((root / SPEC).read_text())
            edit(data)
            (root / SPEC).write_text(json.dumps(data))
            try:
                problems = drift(root)
            except SystemExit as e:  # the description itself is refused (values out of order...)
                problems = [str(e.code)]
            if not problems:
                failures.append(f"a {what} in {SPEC} was not reported")
    for f in failures:
        print(f"gen.py: SELF-TEST FAIL: {f}", file=sys.stderr)
    if failures:
        return 1
    print(f"gen.py: self-test ok ({len(OUTPUTS)} outputs: each hand edit and a hand-written declaration detected; "
          f"{changes} description changes detected)")
    return 0


def _function(data: dict, name: str) -> dict:
    return next(f for f in data["functions"] if f["name"] == name)


def _struct(data: dict, name: str) -> dict:
    return next(s for s in data["structs"] if s["name"] == name)


def _field(data: dict, struct: str, name: str) -> dict:
    return next(f for f in _struct(data, struct)["fields"] if f["name"] == name)


def _first_block(text: str) -> tuple[int, int]:
    m = re.search(r"BEGIN GENERATED[^\n]*\n(.*?)\n[^\n]*END GENERATED", text, re.S)
    return (m.start(1), m.end(1)) if m else (0, 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="fail on any difference instead of writing")
    ap.add_argument("--self-test", action="store_true", help="prove that --check detects drift")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if args.check:
        problems = drift(ROOT)
        for p in problems:
            print(f"gen.py: DRIFT: {p}", file=sys.stderr)
        if problems:
            print(f"gen.py: {len(problems)} file(s) differ from {SPEC}: run `python3 scripts/gen.py` and commit",
                  file=sys.stderr)
            return 1
        print(f"gen.py: ok ({len(OUTPUTS)} generated files match {SPEC})")
        return 0
    for path, text in render(ROOT).items():
        f = ROOT / path
        if not f.exists() or f.read_text() != text:
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
            print(f"gen.py: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

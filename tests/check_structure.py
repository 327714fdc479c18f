#!/usr/bin/env python3
"""
@file check_structure.py
@brief The layering rules of issue 16, checked on the sources (and on a build's compile lines when given one):

  - nothing under core/ includes the C ABI (cotter.h, cotter.hpp, anything under capi/) or calls an exported
    cotter_* function: the core is the ground floor, the ABI re-exports its values (core/common/status.hpp...);
  - no binding (python/, node/, bindings/, the C tests) has core/ on its include path: bindings go through
    cotter.h (and cotter.hpp) only. core/CMakeLists.txt makes the core's headers PRIVATE, so the build enforces it;
    this check names the offender (an include directory added by hand, a compile line of the build given with
    --build). ctest's structure/binding_cannot_include_core builds a file that tries it, and must fail to;
  - the modules of each Rust crate (bindings/rust/*/src) form no circle: a module uses `crate::x` of modules
    below it only (the crate root, lib.rs, declares and re-exports them all and is left out);
  - every C function the docs name as `cotter_x()` (docs/*.md and the READMEs) is declared in cotter.h (the
    login URL options' table once named a `cotter_login_url_options_init()` that the ABI never had).

    python3 tests/check_structure.py [--root DIR] [--build BUILD_DIR]
    python3 tests/check_structure.py --self-test     a circle put into a copy of the Rust crate, and a doc naming
                                                     a function cotter.h lacks, are reported
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What a binding's build may never name: the core's sources as an include directory.
BINDING_BUILD_FILES = ["python/CMakeLists.txt", "node/CMakeLists.txt", "node/scripts/build.js",
                       "bindings/rust/cotter-sys/build.rs"]
BINDING_DIRS = ["python", "node", "bindings", "tests/c", "tests/headertest", "tests/package"]


def abi_functions(root: Path) -> set[str]:
    header = (root / "capi/include/cotter.h").read_text()
    return set(re.findall(r"COTTER_API[^;{}#]*?\b(cotter_\w+)\s*\(", header))


def core_problems(root: Path) -> list[str]:
    problems = []
    functions = abi_functions(root)
    for path in sorted((root / "core").rglob("*")):
        if path.suffix not in (".hpp", ".cpp", ".h", ".c", ".txt"):
            continue
        rel = path.relative_to(root)
        text = path.read_text()
        for m in re.finditer(r'^\s*#\s*include\s*[<"]([^">]+)[">]', text, re.M):
            inc = m.group(1)
            if Path(inc).name in ("cotter.h", "cotter.hpp") or inc.startswith("capi/") or "/capi/" in inc:
                problems.append(f"{rel} includes {inc}: the core never includes the C ABI")
        comments = r"#[^\n]*" if path.suffix == ".txt" else r"//[^\n]*|/\*.*?\*/"
        code = re.sub(comments, "", text, flags=re.S)
        for name in sorted(set(re.findall(r"\b(cotter_\w+)\s*\(", code)) & functions):
            problems.append(f"{rel} calls {name}(), a function of the C ABI: the core is below it")
        if path.name == "CMakeLists.txt" and re.search(r"capi/include", code):
            problems.append(f"{rel} puts capi/include on the core's include path")
    return problems


def binding_build_problems(root: Path) -> list[str]:
    problems = []
    for rel in BINDING_BUILD_FILES:
        path = root / rel
        if not path.exists():
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = re.sub(r"#.*|//.*", "", line) if not rel.endswith(".rs") else re.sub(r"//.*", "", line)
            if re.search(r"include", code, re.I) and re.search(r"(PROJECT_SOURCE_DIR\}|\.\./|/)core\b", code):
                problems.append(f"{rel}:{n} puts core/ on a binding's include path: {line.strip()}")
    for path in sorted((root / "bindings/go").rglob("*.go")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.startswith("#cgo") and re.search(r"-I\S*core\b", line):
                problems.append(f"{path.relative_to(root)}:{n} puts core/ on the cgo include path")
    return problems


def compile_line_problems(root: Path, build: Path) -> list[str]:
    """Every compile line of the build for a binding's (or a C test's) source: no -I into core/."""
    db = build / "compile_commands.json"
    if not db.exists():
        return [f"{db} is missing (configure with CMAKE_EXPORT_COMPILE_COMMANDS, as CMakeLists.txt does)"]
    core = str((root / "core").resolve())
    problems, seen = [], 0
    for entry in json.loads(db.read_text()):
        src = Path(entry["file"]).resolve()
        try:
            rel = src.relative_to(root.resolve())
        except ValueError:
            continue
        if not any(str(rel).startswith(d + "/") for d in BINDING_DIRS):
            continue
        seen += 1
        args = entry.get("arguments") or entry["command"].split()
        for i, a in enumerate(args):
            inc = a[2:] if a.startswith("-I") and len(a) > 2 else args[i + 1] if a in ("-I", "-isystem") else None
            if inc and (Path(entry["directory"]) / inc).resolve() == Path(core):
                problems.append(f"{rel} is compiled with {a} {inc if a in ('-I', '-isystem') else ''}".rstrip()
                                + ": a binding must not see core/")
    if seen == 0:
        problems.append(f"no binding or C test source in {db}: nothing was checked")
    return problems


def rust_module_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the sibling modules it names (`crate::m`, `use crate::{m, Name}` with Name re-exported from m by
    lib.rs), read from the text with comments removed."""
    modules = {p.stem for p in src.glob("*.rs") if p.stem not in ("lib", "main")}
    lib = re.sub(r"//[^\n]*", "", (src / "lib.rs").read_text()) if (src / "lib.rs").exists() else ""
    home: dict[str, str] = {}  # a name lib.rs re-exports -> the module that defines it
    for m in re.finditer(r"pub use (\w+)::\{?([\w\s,]+)\}?;", lib):
        if m.group(1) in modules:
            for name in re.findall(r"\w+", m.group(2)):
                home[name] = m.group(1)
    graph: dict[str, set[str]] = {}
    for mod in sorted(modules):
        code = re.sub(r"//[^\n]*", "", (src / f"{mod}.rs").read_text())
        names = set(re.findall(r"\bcrate::(\w+)", code))
        for group in re.findall(r"\buse crate::\{([^}]*)\}", code):
            names |= set(re.findall(r"\b(\w+)\b", group))
        graph[mod] = {n if n in modules else home.get(n, "") for n in names} - {"", mod}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def rust_module_problems(root: Path) -> list[str]:
    problems = []
    for src in sorted((root / "bindings/rust").glob("*/src")):
        graph = rust_module_graph(src)
        for group in circles(graph):
            ties = "; ".join(f"{a}.rs uses {', '.join(sorted(graph[a] & set(group)))}" for a in group)
            problems.append(f"{src.relative_to(root)}: the modules {', '.join(group)} form a circle ({ties})")
    return problems


DOC_FILES = ["docs/*.md", "*.md", "*/README.md", "bindings/*/README.md", "bindings/*/*/README.md"]


def doc_function_problems(root: Path) -> list[str]:
    functions = abi_functions(root)
    problems = []
    for pattern in DOC_FILES:
        for doc in sorted(root.glob(pattern)):
            for n, line in enumerate(doc.read_text().splitlines(), 1):
                for name in re.findall(r"\b(cotter_\w+)\(\)", line):
                    if name not in functions:
                        problems.append(f"{doc.relative_to(root)}:{n}: names {name}(), which cotter.h does not declare")
    return problems


def self_test() -> int:
    """The Rust check on this tree passes, and on a copy of the crate with error.rs using ffi.rs (the circle issue
    16 broke) it reports that circle."""
    failures = []
    if rust_module_problems(ROOT):
        failures.append(f"the tree already fails: {rust_module_problems(ROOT)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "bindings/rust/cotter/src", root / "bindings/rust/cotter/src")
        error = root / "bindings/rust/cotter/src/error.rs"
        error.write_text(error.read_text().replace("use crate::cstr;", "use crate::cstr;\nuse crate::ffi::Buf;"))
        found = rust_module_problems(root)
        if not any("error, " in p and "ffi" in p for p in found):
            failures.append(f"a circle error.rs -> ffi.rs -> error.rs was not reported ({found})")
    if doc_function_problems(ROOT):
        failures.append(f"the docs already fail: {doc_function_problems(ROOT)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "capi/include").mkdir(parents=True)
        shutil.copy(ROOT / "capi/include/cotter.h", root / "capi/include/cotter.h")
        (root / "docs").mkdir()
        (root / "docs/c-api.md").write_text("Use `cotter_client_new()` after `cotter_login_url_options_init()`.\n")
        found = doc_function_problems(root)
        if found != ["docs/c-api.md:1: names cotter_login_url_options_init(), which cotter.h does not declare"]:
            failures.append(f"a doc naming a function cotter.h lacks was not reported alone ({found})")
    for f in failures:
        print(f"check_structure: SELF-TEST FAIL: {f}", file=sys.stderr)
    if failures:
        return 1
    print("check_structure: self-test ok (a circle of Rust modules, a doc naming a missing function are reported)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=ROOT, help="source tree to check (default: this one)")
    ap.add_argument("--build", type=Path, help="a CMake build directory whose compile lines to check too")
    ap.add_argument("--self-test", action="store_true", help="prove that a circle of Rust modules is reported")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    root = args.root.resolve()
    problems = (core_problems(root) + binding_build_problems(root) + rust_module_problems(root) +
                doc_function_problems(root))
    if args.build:
        problems += compile_line_problems(root, args.build)
    for p in problems:
        print(f"check_structure: FAIL: {p}", file=sys.stderr)
    if problems:
        return 1
    print("check_structure: ok (core/ is below the C ABI; no binding sees core/; no circle of Rust modules; "
          "the docs name only functions of cotter.h)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

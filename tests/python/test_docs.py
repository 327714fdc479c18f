"""
@file test_docs.py
@brief Docs that run (issue 15, item 13): every fenced code block of README.md, docs/*.md and the other READMEs
is extracted and run, compiled or parsed here, against the real emulator.

What happens to a block, by its fence's language:

| language | what the test does |
|---|---|
| `python` | runs it (a fresh interpreter, an empty directory as cwd, the environment below) |
| `js` | runs it with `node`, from the repository root |
| `sh` | `bash -n` (syntax); preceded by `<!-- run -->`, runs it with `bash -euo pipefail` |
| `c` | compiles it as a C99 file after `#include <cotter.h>`, `<stdio.h>`, `<stdlib.h>`, `<string.h>` (`-Wall -Wextra -Werror`) and links it against libcotter (the static library `scripts/test-python.sh` built, `build/python`), so every function it names must be exported; a block without `main` gets an empty one. A complete program preceded by `<!-- run: args=… -->` runs, against the emulator, with those arguments (`{access_token}`: a fresh login's access token) and must exit 0 |
| `json`, `toml` | parses it |
| none | text (a synopsis, an output sample): not code |

A block that cannot run says why, in an HTML comment on the line before its fence (blank lines allowed):
`<!-- norun: reason -->` skips it, `<!-- check: reason -->` only compiles it (`python`: compile(); `js`:
`node --check`). `<!-- run -->` runs a `sh` block (`<!-- run: args=… -->` a C program, see above); `<!-- run: cwd=root -->` runs a block from the repository
root instead of an empty directory (for scripts that start `emulator/bin/cotter-emulator.js` themselves). Any
other language needs `norun` (e.g. Rust and Go fragments: their tests live in their packages), so no block is
forgotten.

The environment a block runs in: what a user of the emulator would have set, $COTTER_BASE_URL,
$COTTER_API_KEY_ID, $COTTER_API_SECRET_KEY, $COTTER_LOGIN_URL (from the emulator's JSON line), $COTTER_DEV_URL
and $COTTER_DEV_TOKEN, a private $XDG_CONFIG_HOME, the venv's `cotter` on $PATH, and $BROWSER set to
tests/python/doc_browser.py, which fills in the hosted login page as a user would: a block may log in.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from conftest import ROOT

#: Directories never searched for Markdown (dependencies, build output).
_SKIP_DIRS = {"node_modules", "build", "target", "dist", ".git", ".venv", "venv"}
_FENCE = re.compile(r"^```([A-Za-z0-9_+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*(norun|check|run)\b\s*:?\s*(.*?)\s*-->\s*$")
#: Each block's own time limit; the whole file stays within about a minute.
_BLOCK_TIMEOUT = 60


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    marker: Optional[str]  # norun, check, run
    reason: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}:{self.lang}"


def _markdown_files() -> List[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        if "README.md" in filenames and Path(dirpath) != ROOT:
            files.append(Path(dirpath) / "README.md")
    return files


def extract(path: Path) -> List[Block]:
    """The fenced blocks of one Markdown file, with the marker (if any) on the last non-blank line before each."""
    blocks: List[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1).lower()
        end = start + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        marker = reason = None
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        mm = _MARKER.match(lines[j].strip()) if j >= 0 else None
        if mm:
            marker, reason = mm.group(1), mm.group(2)
        if lang:
            blocks.append(Block(path, start + 1, lang, "\n".join(lines[start + 1:end]) + "\n", marker, reason or ""))
        i = end + 1
    return blocks


BLOCKS = [b for f in _markdown_files() for b in extract(f)]


def test_the_extractor_finds_the_docs() -> None:
    ids = [b.id for b in BLOCKS]
    assert any(i.startswith("README.md:") for i in ids) and any(i.startswith("docs/python.md:") for i in ids)
    assert any(i.startswith("emulator/README.md:") for i in ids)
    for b in BLOCKS:  # a marker must say why
        assert b.marker not in ("norun", "check") or b.reason, f"{b.id}: give a reason after '{b.marker}:'"


@pytest.fixture(scope="module")
def doc_env(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, str]:
    home = tmp_path_factory.mktemp("doc-home")
    env = dict(os.environ)
    for k in [k for k in env if k.startswith("COTTER_")]:
        del env[k]
    env.update({
        "COTTER_BASE_URL": emulator.base_url, "COTTER_API_KEY_ID": emulator.api_key_id,
        "COTTER_API_SECRET_KEY": emulator.api_secret_key, "COTTER_LOGIN_URL": emulator.login_url,
        "COTTER_DEV_URL": emulator.dev_url, "COTTER_DEV_TOKEN": emulator.dev_token,
        "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "BROWSER": str(ROOT / "tests/python/doc_browser.py"),  # one executable: webbrowser does not split $BROWSER
        "PYTHONPATH": "",
    })
    return env


def _run(argv: List[str], *, cwd: Path, env: Dict[str, str], code: Optional[str] = None) -> str:
    r = subprocess.run(argv, cwd=cwd, env=env, input=code, capture_output=True, text=True, timeout=_BLOCK_TIMEOUT)
    assert r.returncode == 0, f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
    return r.stdout


#: What a C block links against: the static library and the libraries it needs, one path per line (written by
#: CMake next to the build tree of `pip install .`, which scripts/test-python.sh runs first).
_C_LINK_LIST = ROOT / "build/python/cotter_static_link.txt"
_C_MAIN = re.compile(r"\bint\s+main\s*\(")


def _c_block(block: Block, tmp_path: Path, env: Dict[str, str], emulator: Any) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    cxx = shutil.which("c++") or shutil.which("g++")
    assert cc and cxx, "a C and a C++ compiler are needed"
    has_main = bool(_C_MAIN.search(block.code))
    unit = tmp_path / "block.c"
    unit.write_text("#include <cotter.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#line 1\n"
                    + block.code + ("" if has_main else "\nint main(void) { return 0; }\n"))
    obj = tmp_path / "block.o"
    # Compiled on its own first (-c: gcc reports an ignored COTTER_NODISCARD result only when it generates code).
    _run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", "-o", str(obj), "-I", str(ROOT / "capi/include"),
          str(unit)], cwd=tmp_path, env=env)
    if block.marker == "check":
        return
    if not _C_LINK_LIST.is_file():
        pytest.skip(f"compiled only: no library to link ({_C_LINK_LIST.relative_to(ROOT)}: run scripts/test-python.sh)")
    libs = [line for line in _C_LINK_LIST.read_text().splitlines() if line]
    exe = tmp_path / "block"
    # The C++ driver: libcotter_static is C++ inside (libstdc++, threads).
    _run([cxx, "-o", str(exe), str(obj), *libs, "-pthread"], cwd=tmp_path, env=env)
    if block.marker == "run":
        assert has_main and block.reason.startswith("args="), f"{block.id}: `run` needs `args=…` and a main()"
        token = emulator.login("docs-c@example.com")["oauth_token"]["access_token"]
        args = [a.replace("{access_token}", token) for a in block.reason[len("args="):].split()]
        _run([str(exe), *args], cwd=tmp_path, env=env)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_doc_block(block: Block, doc_env: Dict[str, str], tmp_path: Path, emulator: Any) -> None:
    if block.marker == "norun":
        pytest.skip(f"norun: {block.reason}")
    check_only = block.marker == "check"
    src = tmp_path / f"block.{block.lang}"
    src.write_text(block.code)
    env = {**doc_env, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    cwd = ROOT if block.marker == "run" and block.reason == "cwd=root" else tmp_path
    if block.lang == "python":
        if check_only:
            import ast

            compile(block.code, block.id, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        else:
            _run([sys.executable, str(src)], cwd=cwd, env=env)
    elif block.lang in ("js", "javascript"):
        node = shutil.which("node")
        assert node, "node is needed (the emulator runs on it)"
        js = tmp_path / "block.cjs"
        js.write_text(block.code)
        if check_only:
            _run([node, "--check", str(js)], cwd=ROOT, env=env)
        else:  # from stdin, so that require('./emulator') resolves from the repository root as the docs say
            _run([node, "-"], cwd=ROOT, env=env, code=block.code)
    elif block.lang in ("sh", "bash", "shell"):
        if block.marker == "run":
            _run(["bash", "-euo", "pipefail", str(src)], cwd=cwd, env=env)
        else:
            _run(["bash", "-n", str(src)], cwd=tmp_path, env=env)
    elif block.lang == "c":
        _c_block(block, tmp_path, env, emulator)
    elif block.lang == "json":
        json.loads(block.code)
    elif block.lang == "toml":
        tomllib.loads(block.code)
    else:
        pytest.fail(f"{block.id}: no runner for '{block.lang}'; mark it <!-- norun: reason --> if it cannot run")

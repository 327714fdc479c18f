#!/usr/bin/env python3
"""
@file scripts/package_report.py
@brief Writes the "Package sizes" section of docs/benchmarks.md from the artifacts in dist/ (scripts/package.sh):
each artifact's size, and what it contains (the wheel's and the tarball's bundled libraries, by size).
bench/run keeps this section when it rewrites the rest of the file.

Usage: python3 scripts/package_report.py [--dist dist] [--out docs/benchmarks.md]    (`bash scripts/package.sh report`)
"""
from __future__ import annotations

import argparse
import io
import re
import tarfile
import zipfile
from pathlib import Path
from typing import List, Tuple

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- package sizes: written by scripts/package_report.py, kept by bench/run -->"
END = "<!-- end of package sizes -->"


def mib(n: int) -> str:
    return f"{n / 1048576:.2f} MiB"


def kib(n: int) -> str:
    return f"{n / 1024:.0f} KiB"


def libs_line(entries: List[Tuple[str, int]]) -> str:
    """`libfoo-hash.so.1` (123 KiB) ... → 'libfoo (123 KiB), ...' sorted by size, largest first."""
    parts = []
    for name, size in sorted(entries, key=lambda e: -e[1]):
        base = re.sub(r"-[0-9a-f]{8}(?=[.])", "", Path(name).name)
        base = re.sub(r"\.so.*$", "", base)
        parts.append(f"{base} {kib(size)}")
    return ", ".join(parts)


def section(dist: Path) -> str:
    out = [BEGIN, "## Package sizes", ""]
    out.append("What `bash scripts/package.sh` builds into `dist/` on this machine (Debian 12, x86_64, "
               "CPython 3.11, Node 20); `scripts/test-package.sh` installs and uses each one. Details and the "
               "reasons for what is bundled: [packaging.md](packaging.md).")
    out.append("")
    out.append("| artifact | size | unpacked | what it contains |")
    out.append("|---|---|---|---|")
    for path in sorted(dist.iterdir()):
        size = path.stat().st_size
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as z:
                infos = z.infolist()
                unpacked = sum(i.file_size for i in infos)
                libs = [(i.filename, i.file_size) for i in infos if i.filename.startswith("cotter_native.libs/") and not i.is_dir()]
                ext = [i for i in infos if re.match(r"cotter/_native.*\.so$", i.filename)]
                py = sum(i.file_size for i in infos if i.filename.endswith((".py", ".pyi")))
            what = (f"`cotter/_native` {kib(ext[0].file_size) if ext else '?'} (core, C ABI, pybind11 glue), "
                    f"Python code {kib(py)}, and {len(libs)} libraries in `cotter_native.libs/` "
                    f"({mib(sum(s for _, s in libs))}): {libs_line(libs)}. Uses the system's libssl.so.3/libcrypto.so.3.")
        elif path.name.endswith(".tgz"):
            with tarfile.open(path) as t:
                members = [m for m in t.getmembers() if m.isfile()]
            unpacked = sum(m.size for m in members)
            pre = [(m.name, m.size) for m in members if "/node/prebuilds/" in m.name]
            addon = [s for n, s in pre if n.endswith("cotter.node")]
            libs = [(n, s) for n, s in pre if not n.endswith("cotter.node")]
            src = sum(m.size for m in members if "/node/prebuilds/" not in m.name)
            what = (f"`node/prebuilds/linux-x64/cotter.node` {mib(addon[0]) if addon else '?'} (core, C ABI, addon "
                    f"glue, and libcurl + OpenSSL + libssh2 linked in statically and hidden), {len(libs)} libraries "
                    f"beside it ({mib(sum(s for _, s in libs))}): {libs_line(libs)}; JavaScript, types and the C/C++ "
                    f"sources for a build from source {kib(src)}.")
        elif path.name.endswith(".tar.gz"):
            with tarfile.open(path) as t:
                members = [m for m in t.getmembers() if m.isfile()]
            unpacked = sum(m.size for m in members)
            what = f"the sdist: {len(members)} files (sources, tests, docs, emulator); `pip install` of it compiles"
        elif path.suffix == ".crate":
            with tarfile.open(path) as t:
                members = [m for m in t.getmembers() if m.isfile()]
            unpacked = sum(m.size for m in members)
            native = sum(1 for m in members if "/native/" in m.name)
            what = (f"{len(members)} files, {native} of them the C/C++ sources under `native/` that the default "
                    f"feature builds" if native else f"{len(members)} files: the safe Rust API")
        else:
            continue
        out.append(f"| `{path.name}` | {mib(size)} | {mib(unpacked)} | {what} |")
    out.append("")
    out.append(END)
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dist", type=Path, default=ROOT / "dist")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args()
    text = section(args.dist)
    doc = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + text + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    args.out.write_text(doc)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

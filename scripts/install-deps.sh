#!/usr/bin/env bash
# Installs every system package the build, the tests and the demo need on a fresh Debian 12 (as root).
# Idempotent and quick when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libssl-dev libcurl4-openssl-dev libsimdjson-dev doctest-dev     # the core
  libhiredis-dev redis-server                                     # shared sessions: the hiredis adapter, and the Redis the tests start
  clang libclang-rt-14-dev llvm valgrind                          # sanitizers, fuzzers, leak checks
  nodejs npm                                                      # the emulator and the Node package
  libssh2-1-dev                                                   # libssh2.a: the Node addon links libcurl's TLS stack statically
  python3 python3-pip python3-venv                                # the Python package
  chromium openssl procps                                         # browser tests, emulator TLS
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node, Python, Go and Rust may come from elsewhere on a machine (nodesource, pyenv, rustup, go tarball):
# only install Debian's copy when the command is missing.
drop() {  # removes exact package names from missing
  local keep=() p d
  for p in "${missing[@]}"; do
    for d in "$@"; do [ "$p" = "$d" ] && continue 2; done
    keep+=("$p")
  done
  missing=("${keep[@]}")
}
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && drop nodejs npm
if command -v python3 >/dev/null 2>&1; then
  drop python3
  python3 -m pip --version >/dev/null 2>&1 && drop python3-pip
  # venv needs ensurepip (Debian splits it into python3-venv; pyenv/python.org builds include it).
  python3 -c 'import ensurepip, venv' >/dev/null 2>&1 && drop python3-venv
fi
# Debian's nodejs ships no headers (nodesource's and nvm's do); the Node addon builds against libnode-dev's.
for p in "${missing[@]}"; do [ "$p" = nodejs ] && missing+=(libnode-dev) && break; done
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v cargo >/dev/null 2>&1 || missing+=(cargo)

list=()
for p in "${missing[@]}"; do [ -n "$p" ] && list+=("$p"); done
if [ ${#list[@]} -gt 0 ]; then
  echo "install-deps: installing ${list[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${list[@]}" >/dev/null
fi
echo "install-deps: system packages ready" >&2

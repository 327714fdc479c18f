#!/usr/bin/env bash
# Installs every system package the build, the tests and the demo need on a fresh Debian 12 (as root).
# Idempotent and quick when everything is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libssl-dev libcurl4-openssl-dev libsimdjson-dev doctest-dev     # the core
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
command -v node >/dev/null 2>&1 && missing=("${missing[@]/nodejs}") && missing=("${missing[@]/npm}")
command -v python3 >/dev/null 2>&1 && command -v pip3 >/dev/null 2>&1 && missing=("${missing[@]/python3-pip}") && missing=("${missing[@]/python3-venv}") && missing=("${missing[@]/python3}")
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

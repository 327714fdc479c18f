#!/usr/bin/env bash
# Runs inside the minimal root of tests/package/in_root.sh (as a new user with only Python or only Node would):
#   0. proves what the root lacks: no compiler, linker, CMake or pkg-config; no headers; no libcurl or
#      libsimdjson, neither as a file nor for the dynamic loader;
#   1. the wheel from /pkg in a fresh venv (pip, offline): `cotter --version`, `cotter verify` against the
#      emulator's JWKS (a good token passes with its claims; a tampered one fails with its error code);
#   2. the npm tarball from /pkg with --ignore-scripts in a fresh project: a token verified through `require`
#      and through `import`, and once more under the drop-in name cotter-node.
set -euo pipefail
fail() { echo "package root: FAILED: $*" >&2; exit 1; }
ok() { echo "package root: ok: $*" >&2; }
field() { python3 -c 'import json, sys; print(json.load(open("/material.json"))[sys.argv[1]])' "$1"; }

jwks_url=$(field jwks_url)
audience=$(field api_key_id)
token=$(field access_token)
user_id=$(field user_id)
# The same token with its signature's first character changed (still base64url): a bad signature.
sig=${token##*.}
case ${sig:0:1} in A) c=B ;; *) c=A ;; esac
tampered=${token%.*}.$c${sig:1}

# --- 0. what is not here ---------------------------------------------------------------------------------
for tool in cc gcc g++ c++ cpp clang clang++ ld ld.bfd ld.gold as cmake ninja make pkg-config pkgconf curl; do
  if command -v "$tool" >/dev/null 2>&1; then fail "$tool is visible at $(command -v "$tool")"; fi
done
[ ! -e /usr/include ] && [ ! -e /usr/local/include ] || fail "a system include directory exists"
found=$(find / \( -path /proc -o -path /dev -o -path /sys -o -path /pkg \) -prune -o \
  \( -name 'libcurl*' -o -name 'libsimdjson*' -o -name '*.h' -o -name '*.hpp' -o -name '*.pc' \) -print | head -5)
[ -z "$found" ] || fail "found $found"
python3 - <<'EOF' || fail "the dynamic loader finds a libcurl or a libsimdjson"
import ctypes
for name in ("libcurl.so.4", "libcurl-gnutls.so.4", "libsimdjson.so.14", "libsimdjson.so"):
    try:
        ctypes.CDLL(name)
    except OSError:
        continue
    raise SystemExit(f"{name} loads")
ctypes.CDLL("libssl.so.3")  # the OpenSSL that Python's _ssl uses is here, and the wheel uses it too
EOF
ok "no compiler, linker, cmake, pkg-config, header, libcurl or libsimdjson in the root"

# --- 1. the wheel ----------------------------------------------------------------------------------------
python3 -m venv /tmp/venv
/tmp/venv/bin/python -m pip install -q --no-index --disable-pip-version-check /pkg/cotter_native-*.whl
version=$(/tmp/venv/bin/cotter --version)
[[ $version =~ ^cotter\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "cotter --version printed '$version'"
claims=$(/tmp/venv/bin/cotter verify "$token" --jwks-url "$jwks_url" --audience "$audience")
sub=$(printf '%s' "$claims" | python3 -c 'import json, sys; print(json.load(sys.stdin)["sub"])')
[ "$sub" = "$user_id" ] || fail "cotter verify: sub is '$sub', expected '$user_id'"
if /tmp/venv/bin/cotter verify "$tampered" --jwks-url "$jwks_url" --audience "$audience" >/tmp/out 2>/tmp/err; then
  fail "cotter verify accepted a tampered token"
fi
grep -q '^error: COTTER_EJWT' /tmp/err || fail "cotter verify of a tampered token said: $(cat /tmp/err)"
ok "wheel: $version; cotter verify: sub $sub; tampered token: $(head -c 60 /tmp/err)"

# --- 2. the npm tarball ----------------------------------------------------------------------------------
npm() { node "$NPM_CLI" --offline --no-audit --no-fund --loglevel=error "$@"; }
mkdir -p /tmp/app && cd /tmp/app
npm init -y >/dev/null
tgz=$(echo /pkg/cotter-native-*.tgz)
npm install --ignore-scripts "$tgz" >/dev/null
addon=node_modules/cotter-native/node/prebuilds/linux-x64/cotter.node
[ -f "$addon" ] || fail "no prebuilt addon at $addon"
[ ! -e node_modules/cotter-native/build ] || fail "something built the addon at install time"
# Every library the addon loads comes from its own directory, except glibc, libstdc++ and libgcc_s.
libs=$(/lib64/ld-linux-x86-64.so.2 --list "$addon")
if printf '%s\n' "$libs" | grep -q 'not found'; then fail "unresolved libraries: $libs"; fi
others=$(printf '%s\n' "$libs" | grep '=>' | grep -v "=> /tmp/app/node_modules/cotter-native/node/prebuilds/linux-x64/" |
  grep -Ev '^\s*(libc|libm|libstdc\+\+|libgcc_s|libresolv)\.so' || true)
[ -z "$others" ] || fail "the addon loads system libraries beyond glibc/libstdc++: $others"
export JWKS_URL=$jwks_url AUDIENCE=$audience TOKEN=$token TAMPERED=$tampered USER_ID=$user_id
node -e '
  const assert = require("node:assert/strict");
  const { Verifier, CotterError } = require("cotter-native");
  const v = new Verifier({ audience: process.env.AUDIENCE, jwksUrl: process.env.JWKS_URL });
  v.verify(process.env.TOKEN).then(async (claims) => {
    assert.equal(claims.sub, process.env.USER_ID);
    await assert.rejects(v.verify(process.env.TAMPERED), (e) => e instanceof CotterError && /^COTTER_EJWT/.test(e.code));
  }).catch((e) => { console.error(e); process.exit(1); });' || fail "require('cotter-native')"
node --input-type=module -e '
  import assert from "node:assert/strict";
  import { Verifier, version } from "cotter-native";
  const v = new Verifier({ audience: process.env.AUDIENCE, jwksUrl: process.env.JWKS_URL });
  assert.equal((await v.verify(process.env.TOKEN)).sub, process.env.USER_ID);
  assert.match(version, /^\d+\.\d+\.\d+$/);' || fail "import from 'cotter-native'"
# The drop-in for code written against Cotter's original package (an npm alias; from the registry it is
# "cotter-node": "npm:cotter-native@^0.1").
npm install --ignore-scripts "cotter-node@file:$tgz" >/dev/null
node -e '
  const { Verifier, CotterValidateJWT } = require("cotter-node");
  if (typeof CotterValidateJWT !== "function") throw new Error("no CotterValidateJWT");
  new Verifier({ audience: process.env.AUDIENCE, jwksUrl: process.env.JWKS_URL }).verify(process.env.TOKEN)
    .then((c) => { if (c.sub !== process.env.USER_ID) throw new Error(c.sub); })
    .catch((e) => { console.error(e); process.exit(1); });' || fail "require('cotter-node') through the alias"
ok "npm tarball (--ignore-scripts): require, import and the cotter-node alias verify a token; the addon loads only glibc/libstdc++ from the system"

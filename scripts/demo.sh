#!/usr/bin/env bash
# The README's demo: from a fresh clone, install what is needed, start the Cotter emulator, and use the
# `cotter` CLI end to end with no person at the keyboard:
#   login (the emulator's hosted page is driven over plain HTTP by scripts/demo_login_driver.py, which reads
#   the one-time code from the emulator's dev mailbox), token, verify, whoami, a forced refresh, social
#   tokens, logout. Everything runs on 127.0.0.1; your own ~/.config is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Installing system packages, the Python venv and the cotter package (first run takes a few minutes)"
bash scripts/install-deps.sh
[ -x build/venv/bin/python ] || python3 -m venv build/venv
build/venv/bin/python -m pip install -q --disable-pip-version-check "scikit-build-core==1.1.2" "pybind11==3.1.0"
build/venv/bin/python -m pip install -q --disable-pip-version-check --no-build-isolation .
export PATH="$PWD/build/venv/bin:$PATH"

work=$(mktemp -d)
emulator_pid=""
cleanup() {
  [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step "Starting the Cotter emulator"
mkfifo "$work/emulator.out"
# setpriv --pdeathsig: the emulator also stops if this script is killed outright (no trap runs then).
guard=(); command -v setpriv >/dev/null && guard=(setpriv --pdeathsig TERM)
"${guard[@]}" node emulator/bin/cotter-emulator.js --port 0 >"$work/emulator.out" 2>"$work/emulator.log" &
emulator_pid=$!
read -r info <"$work/emulator.out"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$info" "$1"; }
export COTTER_BASE_URL=$(field base_url) COTTER_LOGIN_URL=$(field login_url)
export COTTER_API_KEY_ID=$(field api_key_id) COTTER_API_SECRET_KEY=$(field api_secret_key)
export XDG_CONFIG_HOME="$work/config"
dev_url=$(field dev_url)
dev_token=$(field dev_token)   # the dev API answers only requests that carry it (X-Cotter-Dev-Token)
jwks_url=$(field jwks_url)
echo "emulator at $COTTER_BASE_URL (project $COTTER_API_KEY_ID)"

step "cotter login --no-browser   (the page is filled in by scripts/demo_login_driver.py)"
cotter login --no-browser >"$work/login.out" &
login_pid=$!
for _ in $(seq 100); do [ -s "$work/login.out" ] && break; sleep 0.1; done
url=$(head -n 1 "$work/login.out")
echo "login page: ${url%%\?*}?…"
python3 scripts/demo_login_driver.py "$url" "$dev_url" "$dev_token" "demo@example.com"
wait "$login_pid"

step "Who am I? (the stored access token, verified against the JWKS)"
show cotter whoami

step "A valid access token for your API calls"
token=$(cotter token)
echo "${token:0:40}…  (${#token} characters)"

step "Verify it like a backend would (prints the verified claims)"
echo '$ cotter verify "$token" --jwks-url "$jwks_url" --audience "$COTTER_API_KEY_ID" --pretty'
cotter verify "$token" --jwks-url "$jwks_url" --audience "$COTTER_API_KEY_ID" --pretty

step "Force a refresh (Cotter rotates the refresh token)"
new_token=$(cotter token --force-refresh)
[ "$new_token" != "$token" ] && echo "new access token: ${new_token:0:40}…"

step "A tampered token is rejected with a stable error code"
set +e
cotter verify "${new_token%?????}AAAAA" --jwks-url "$jwks_url" --audience "$COTTER_API_KEY_ID"
echo "(exit code $?)"
set -e

step "Social-login provider tokens (one GitHub token seeded through the emulator's dev API)"
user_id=$(cotter whoami --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["sub"])')
python3 - "$dev_url" "$dev_token" "$user_id" <<'PY'
import json, sys, urllib.request
body = {"user_id": sys.argv[3], "identity_provider": "GITHUB", "provider_username": "octocat",
        "tokens": {"access_token": "gho_demo_token", "scope": "repo,user", "token_type": "bearer"}}
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/social_tokens", json.dumps(body).encode(),
                                              {"Content-Type": "application/json", "X-Cotter-Dev-Token": sys.argv[2]})).read()
PY
show cotter social-tokens list "$user_id"

step "Log out (ends the server session, deletes the token file)"
show cotter logout
set +e
cotter token
echo "(exit code $?: log in again)"
set -e

step "Done. Try it yourself: cotter --help"

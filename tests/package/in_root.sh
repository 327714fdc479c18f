#!/usr/bin/env bash
# Runs tests/package/root_steps.sh inside a minimal root that holds a Python, a Node with npm, bash and a few
# coreutils, and the libraries those programs load (glibc, libstdc++, OpenSSL 3 for Python's _ssl, ...), and
# nothing else: no compiler, no linker, no header, no -dev package, no libcurl, no libsimdjson, no cmake.
# Started by scripts/test-package.sh as `unshare --mount --propagation private bash tests/package/in_root.sh ...`:
# every mount below lives in that private mount namespace and disappears with it; the root is a tmpfs.
#
# Usage: in_root.sh ROOT_DIR DIST_DIR MATERIAL_JSON
#   ROOT_DIR       an empty directory to mount the root on
#   DIST_DIR       the artifacts (dist/): bound read-only at /pkg
#   MATERIAL_JSON  the emulator's details and a minted token (tests/leaks/material.js): copied to /material.json
set -euo pipefail
root=$1 dist=$2 material=$3
here=$(cd "$(dirname "$0")" && pwd)

python=$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')
stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
site=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
node=$(readlink -f "$(command -v node)")
npm_cli=$(readlink -f "$(command -v npm)")  # <npm>/bin/npm-cli.js, wherever this Node's npm lives
npm_dir=$(dirname "$(dirname "$npm_cli")")

mount -t tmpfs -o size=2g,mode=0755 cotter-root "$root"
mkdir -p "$root"/{usr/bin,usr/lib/x86_64-linux-gnu,usr/lib64,etc,tmp,root,proc,dev,pkg}
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
chmod 1777 "$root/tmp"

bind_ro() {  # <host path> : the same path inside the root, read-only
  local src=$1 dst=$root$1
  if [ -d "$src" ]; then mkdir -p "$dst"; else mkdir -p "$(dirname "$dst")" && : >"$dst"; fi
  mount --bind "$src" "$dst"
  mount -o remount,bind,ro "$dst"
}
copy_with_libs() {  # <host file>... : each file and every library it loads, at their own paths in the root
  local f lib
  for f in "$@"; do
    [ -e "$root$f" ] || { mkdir -p "$root$(dirname "$f")" && cp -L "$f" "$root$f"; }
    for lib in $(ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
      lib=${lib/#\/lib\//\/usr\/lib\/}
      lib=${lib/#\/lib64\//\/usr\/lib64\/}
      [ -e "$root$lib" ] || { mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"; }
    done
  done
}

# The shell and the few tools root_steps.sh uses.
copy_with_libs /usr/bin/bash /usr/bin/env /usr/bin/cat /usr/bin/ls /usr/bin/mkdir /usr/bin/rm /usr/bin/grep \
               /usr/bin/find /usr/bin/head
# Python: the interpreter, its standard library (read-only) and what its extension modules load (its headers
# are not there). Its global site-packages, when it lies inside the standard library's directory (this machine's
# pip-installed tools), is hidden behind an empty tmpfs. Debian's Python keeps the wheels ensurepip installs
# into a venv in /usr/share/python-wheels.
copy_with_libs "$python"
bind_ro "$stdlib"
copy_with_libs "$stdlib"/lib-dynload/*.so
[ -d "$root$site" ] && mount -t tmpfs -o size=1m,mode=0755 empty "$root$site"
[ -d /usr/share/python-wheels ] && bind_ro /usr/share/python-wheels
ln -s "$python" "$root/usr/bin/python3"
# Node and npm (npm is JavaScript; it runs on this node).
copy_with_libs "$node"
[ "$node" = /usr/bin/node ] || ln -s "$node" "$root/usr/bin/node"
bind_ro "$npm_dir"
# The kernel interfaces, the artifacts and the test material.
mount --rbind /dev "$root/dev"
mount --rbind /proc "$root/proc"
mount --bind "$dist" "$root/pkg" && mount -o remount,bind,ro "$root/pkg"
cp "$material" "$root/material.json"
cp "$here/root_steps.sh" "$root/root_steps.sh"
printf 'root:x:0:0:root:/root:/usr/bin/bash\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"

exec chroot "$root" /usr/bin/env -i PATH=/usr/bin HOME=/root NPM_CLI="$npm_cli" \
  NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost /usr/bin/bash /root_steps.sh

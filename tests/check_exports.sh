#!/bin/sh
# libcotter must export cotter_* and nothing else (hidden visibility + version script + --exclude-libs).
set -eu
lib="$1"
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -vE '^cotter_' || true)
if [ -n "$bad" ]; then
  echo "symbols outside cotter_* exported by $lib:"; echo "$bad" | head -20; exit 1
fi
count=$(nm -D --defined-only "$lib" | grep -c ' T cotter_')
echo "exports ok: $count cotter_* functions, nothing else"
readelf -d "$lib" | grep -q "SONAME.*libcotter.so.[0-9]" || { echo "SONAME missing"; exit 1; }

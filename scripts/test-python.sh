#!/usr/bin/env bash
# Python part of the test command: a venv (PEP 668-safe), `pip install .` (scikit-build-core drives the one
# CMake graph into build/python), the pinned test dependencies, pytest, and mypy --strict on the examples.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=build/venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt
# --no-build-isolation: build with the pinned scikit-build-core/pybind11 just installed (and reuse build/python).
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation .

# playwright-core for the real-browser login test (system chromium; nothing is downloaded at run time).
if [ -f tests/python/browser/package-lock.json ]; then
  (cd tests/python/browser && npm ci --silent --no-audit --no-fund >/dev/null)
fi

# Run from outside the source tree so `import cotter` is the installed package, not python/cotter.
# The browser test must run here (not skip): everything it needs was installed above.
(cd tests && COTTER_TEST_REQUIRE_BROWSER=1 "../$venv/bin/python" -m pytest -q -rs -c ../pyproject.toml --rootdir .. python "$@")
"$venv/bin/python" -m mypy --strict --no-incremental python/examples
# ... and on the package itself (installed copy, with its stub for the native module).
(cd build && "../$venv/bin/python" -m mypy --strict --no-incremental --config-file ../pyproject.toml -p cotter)

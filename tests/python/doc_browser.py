#!/usr/bin/env python3
"""
@file doc_browser.py
@brief A stand-in for the user's browser, for code that calls ``webbrowser`` (``cotter.login``, ``cotter login``):
set ``BROWSER=/path/to/tests/python/doc_browser.py`` (executable; stdlib only). Like a real browser it returns at once (it forks), then
fills in the emulator's hosted login page over HTTP (scripts/demo_login_driver.py) with the identifier in
$DOC_LOGIN_IDENTIFIER (default docs@example.com), using $COTTER_DEV_URL and $COTTER_DEV_TOKEN.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from demo_login_driver import drive_login  # noqa: E402


def main() -> None:
    url = sys.argv[1]
    if os.fork():
        return  # the "browser" opened: webbrowser.open() returns while the page is filled in
    code = 0
    try:
        drive_login(url, os.environ["COTTER_DEV_URL"], os.environ["COTTER_DEV_TOKEN"],
                    os.environ.get("DOC_LOGIN_IDENTIFIER") or "docs@example.com")
    except BaseException as e:  # noqa: BLE001 -- reported, and the login then times out with a clear error
        print(f"doc_browser: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        code = 1
    os._exit(code)


if __name__ == "__main__":
    main()

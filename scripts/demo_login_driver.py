#!/usr/bin/env python3
"""
@file demo_login_driver.py
@brief Plays the user on the emulator's hosted login page over plain HTTP (no browser): GET the page, POST the
identifier, read the code from the emulator's dev mailbox, POST it (or open the magic link), and follow the
final redirect to the CLI's local port — exactly what a person would do in a browser.

Usage: demo_login_driver.py LOGIN_URL DEV_URL DEV_TOKEN IDENTIFIER
  LOGIN_URL as printed by `cotter login --no-browser`; DEV_URL and DEV_TOKEN (the dev API's token, sent as
  X-Cotter-Dev-Token) from the emulator's JSON line. Only the standard library; the emulator must be on loopback.
"""
from __future__ import annotations

import html
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None  # surface the 302 so we can follow it ourselves and see where it goes


_opener = urllib.request.build_opener(_NoRedirect)


def _hidden_inputs(page: str) -> Dict[str, str]:
    fields = {}
    for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page):
        fields[m.group(1)] = html.unescape(m.group(2))
    return fields


def _location_of(req: urllib.request.Request) -> str:
    try:
        resp = _opener.open(req, timeout=10)
    except urllib.error.HTTPError as e:
        if e.code in (301, 302, 303, 307, 308):
            return str(e.headers["Location"])
        raise RuntimeError(f"login page answered HTTP {e.code}: {e.read()[:200]!r}") from None
    raise RuntimeError(f"expected a redirect, got HTTP {resp.status}")


def drive_login(login_url: str, dev_url: str, dev_token: str, identifier: str) -> str:
    """Completes the login; returns the body of the page served at the redirect (the CLI's success page)."""
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(login_url))
    page = urllib.request.urlopen(login_url, timeout=10).read().decode()
    form = _hidden_inputs(page)
    form["identifier"] = identifier
    urllib.request.urlopen(origin + "/app/identifier", data=urllib.parse.urlencode(form).encode(), timeout=10).read()

    deadline = time.monotonic() + 10
    while True:
        box = json.load(urllib.request.urlopen(urllib.request.Request(
            f"{dev_url}/mailbox?to={urllib.parse.quote(identifier.lower())}", headers={"X-Cotter-Dev-Token": dev_token})))
        if box:
            message = box[-1]
            break
        if time.monotonic() > deadline:
            raise RuntimeError("no message in the dev mailbox")
        time.sleep(0.05)

    if message.get("auth_method") == "MAGIC_LINK":
        location = _location_of(urllib.request.Request(message["magic_link"]))
    else:
        print(f"[user] types the code {message['otp']} from the message sent to {identifier}", file=sys.stderr)
        data = urllib.parse.urlencode({"sid": message["session"], "otp": message["otp"]}).encode()
        location = _location_of(urllib.request.Request(origin + "/app/otp", data=data))
    # The browser would now load the redirect URL: the CLI's one-shot local server.
    return urllib.request.urlopen(location, timeout=10).read().decode()


def main() -> int:
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    page = drive_login(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
    print("[browser] " + ("success page shown" if "cotter-success" in page else "unexpected page"), file=sys.stderr)
    return 0 if "cotter-success" in page else 1


if __name__ == "__main__":
    sys.exit(main())

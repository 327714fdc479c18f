#!/bin/sh
# BROWSER for the CLI under test (python's webbrowser waits for this command): hand the URL to the playwright
# driver in the background and return at once, as a real browser launcher does.
cd "$(dirname "$0")" && nohup node drive.mjs "$1" >/dev/null 2>&1 &
exit 0

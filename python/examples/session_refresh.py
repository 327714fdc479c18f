"""Keep a user's tokens fresh in a long-running script, stored in a 0600 token file."""
from __future__ import annotations

from typing import Optional

import cotter


def on_change(token: Optional[cotter.Token]) -> None:
    print("tokens changed:", token)  # the repr never shows a usable token


def call_api(session: cotter.TokenSession) -> str:
    try:
        return session.access_token()
    except cotter.ReauthRequired:
        return "log in again with `cotter login`"
    except cotter.TransportError as e:
        return f"offline ({e.code}); the stored tokens were kept"


def main() -> None:
    client = cotter.Client()  # COTTER_API_KEY_ID, COTTER_BASE_URL from the environment
    session = cotter.TokenSession(client, token_file="tokens.json", on_tokens_changed=on_change)
    print(call_api(session)[:16])
    stats: cotter.ClientStats = client.stats()
    print(stats.requests, stats.connections)


if __name__ == "__main__":
    main()

"""Use cotter from asyncio without blocking the event loop."""
from __future__ import annotations

import asyncio
from typing import List

import cotter
from cotter import aio


async def identifiers(client: aio.AsyncClient, verifier: aio.AsyncVerifier, tokens: List[str]) -> List[str]:
    claims = await asyncio.gather(*(verifier.verify(t) for t in tokens), return_exceptions=True)
    out: List[str] = []
    for c in claims:
        if isinstance(c, cotter.Claims):
            out.append(c.identifier or "?")
        elif isinstance(c, cotter.CotterError):
            out.append(c.code)
    users: List[cotter.User] = await client.list_users(0)
    out.extend(u.identifier or "?" for u in users)
    return out


async def main() -> None:
    client = aio.AsyncClient()
    verifier = aio.AsyncVerifier(client.sync.api_key_id, jwks_url=client.sync.jwks_url)
    print(await identifiers(client, verifier, []))


if __name__ == "__main__":
    asyncio.run(main())

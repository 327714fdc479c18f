"""
@file aio.py
@brief asyncio variants: every blocking call runs in the loop's default thread pool (the native code
releases the GIL), so the event loop never blocks.
"""
from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable, List, Mapping, Optional, TypeVar, Union

from .client import Client, ClientStats, CustomClaims, Identity, RemoteVerdict, SocialToken, User
from .session import TokenSession
from .tokens import Claims, Token
from .verifier import Verifier

T = TypeVar("T")


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))


class AsyncVerifier:
    """Verifier with awaitable verify(); ``sync`` is the underlying thread-safe Verifier."""

    def __init__(self, audience: str, **kwargs: Any) -> None:
        self.sync = Verifier(audience, **kwargs)

    async def verify(self, token: Union[str, bytes]) -> Claims:
        return await _run(self.sync.verify, token)

    async def check(self, token: Union[str, bytes]) -> None:
        await _run(self.sync.check, token)

    async def is_valid(self, token: Union[str, bytes]) -> bool:
        return await _run(self.sync.is_valid, token)

    async def refresh(self) -> None:
        await _run(self.sync.refresh)

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"


class AsyncClient:
    """Client with awaitable methods; ``sync`` is the underlying thread-safe Client."""

    def __init__(self, api_key_id: Optional[str] = None, api_secret_key: Optional[str] = None, **kwargs: Any) -> None:
        self.sync = Client(api_key_id, api_secret_key, **kwargs)

    def stats(self) -> ClientStats:
        return self.sync.stats()

    def verifier(self, **kwargs: Any) -> AsyncVerifier:
        """An AsyncVerifier for this project (see Client.verifier)."""
        v = AsyncVerifier.__new__(AsyncVerifier)
        v.sync = self.sync.verifier(**kwargs)
        return v

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    async def grant_identity_token(self, identity_token: Union[str, Mapping[str, Any]]) -> Token:
        return await _run(self.sync.grant_identity_token, identity_token)

    async def grant_event_token(self, event_token: Union[str, Mapping[str, Any]]) -> Token:
        return await _run(self.sync.grant_event_token, event_token)

    async def refresh(self, refresh_token: str) -> Token:
        return await _run(self.sync.refresh, refresh_token)

    async def logout(self, refresh_token: Optional[str] = None) -> None:
        await _run(self.sync.logout, refresh_token)

    async def custom_claims(
        self, token: str, attributes: Mapping[str, Any], *, refresh_token: Optional[str] = None
    ) -> CustomClaims:
        return await _run(self.sync.custom_claims, token, attributes, refresh_token=refresh_token)

    async def get_identity(self, code: str, challenge_id: int, code_verifier: str, redirect_url: str) -> Identity:
        return await _run(self.sync.get_identity, code, challenge_id, code_verifier, redirect_url)

    async def verify_remote(self, access_token: str) -> RemoteVerdict:
        return await _run(self.sync.verify_remote, access_token)

    async def create_user(self, identifier: str) -> User:
        return await _run(self.sync.create_user, identifier)

    async def get_user(self, user_id: str) -> User:
        return await _run(self.sync.get_user, user_id)

    async def get_user_by_identifier(self, identifier: str) -> User:
        return await _run(self.sync.get_user_by_identifier, identifier)

    async def list_users(self, page: int = 0) -> List[User]:
        return await _run(self.sync.list_users, page)

    async def social_tokens(self, user_id: str) -> List[SocialToken]:
        return await _run(self.sync.social_tokens, user_id)

    async def social_token(self, provider: str, user_id: str) -> SocialToken:
        return await _run(self.sync.social_token, provider, user_id)

    async def delete_social_token(self, provider: str, user_id: str) -> None:
        await _run(self.sync.delete_social_token, provider, user_id)


class AsyncTokenSession:
    """TokenSession with awaitable methods (callbacks run on the pool thread that triggered them)."""

    def __init__(self, client: Union[AsyncClient, Client], **kwargs: Any) -> None:
        self.sync = TokenSession(client.sync if isinstance(client, AsyncClient) else client, **kwargs)

    async def access_token(self) -> str:
        return await _run(self.sync.access_token)

    async def token(self) -> Token:
        return await _run(self.sync.token)

    async def refresh(self) -> Token:
        return await _run(self.sync.refresh)

    async def set_token(self, token: Token) -> None:
        await _run(self.sync.set_token, token)

    async def logout(self) -> None:
        await _run(self.sync.logout)

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

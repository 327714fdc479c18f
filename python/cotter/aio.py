"""
@file aio.py
@brief asyncio variants: every network call is a real asyncio future, completed on the event loop's thread from
the client's I/O thread (no thread per call, no executor); cancelling the task cancels the request.

How a call completes: the C call's done callback runs on the client's I/O thread and only appends it to the
loop's completion queue (C++, no GIL) and wakes the loop through an eventfd watched with ``loop.add_reader``. The
loop drains the queue in batches, converting the results with the GIL it already holds (docs/python.md,
"asyncio", has the measurements against ``loop.call_soon_threadsafe``). One queue per event loop: several loops
in several threads each get their own; closing a loop cancels what it still had in flight.
"""
from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from typing import Any, AsyncIterator, Callable, Mapping, Optional, TypeVar, Union

from . import _native
from ._errors import InvalidArgument
from ._util import timeout_ms
from .client import Client, ClientStats, User, UserPage
from .redis import AsyncRedisStore, HiredisStore, SharedStore
from .session import TokenSession, TokenStorage
from .tokens import Claims, Token
from .verifier import Verifier

# What the generated methods below name (scripts/gen.py: from client.py's and session.py's imports).
# BEGIN GENERATED client imports (scripts/gen.py from capi/abi.json, client.py and session.py; do not edit)
from typing import Any, Dict, List, Mapping, Optional, Union, cast
from ._records import Identity, SocialToken, User
from ._util import I64, U32, c_int, timeout_ms
from .client import CustomClaims, RemoteVerdict, UserPage, _json_text
from .tokens import Token
# END GENERATED client imports

T = TypeVar("T")

#: The completion queue of each running event loop, by id(loop). Weak: a queue lives as long as its loop watches
#: its eventfd (closing the loop drops the reader, then the queue, which cancels the calls still in flight).
_queues: "weakref.WeakValueDictionary[int, _native.Completions]" = weakref.WeakValueDictionary()


def _completions() -> _native.Completions:
    """The running loop's completion queue, created (and registered with the loop) on first use."""
    loop = asyncio.get_running_loop()
    q = _queues.get(id(loop))
    if q is None or not q.serves(loop):
        q = _native.Completions(loop)
        loop.add_reader(q.fd, q.drain)
        _queues[id(loop)] = q
    return q


async def _call(start: Callable[..., "asyncio.Future[Any]"], *args: Any) -> Any:
    """Starts a native `_async` call on the running loop and awaits it; a cancelled wait cancels the C call."""
    q = _completions()
    fut = start(q, *args)
    # Only a weak reference while waiting: the queue holds the future, the future the task, the task this frame;
    # a strong one here would keep the queue (and its calls) alive after its loop was closed.
    queue = weakref.ref(q)
    del q
    try:
        return await fut
    except asyncio.CancelledError:
        live = queue()
        if live is not None:
            live.cancel(fut)  # the request stops at whatever stage it is; the server saw it at most once
        raise


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """CPU work (verification) on the loop's default executor, with the GIL released while it runs."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))


_Closing = TypeVar("_Closing", bound="_AsyncClosing")


class _AsyncClosing:
    """close(), aclose() and ``async with`` for the async wrappers: each closes its sync object (``self.sync``),
    after which calls raise ``cotter.Closed``."""

    sync: Any

    def close(self) -> None:
        """Closes the underlying sync object; later calls raise ``cotter.Closed``."""
        self.sync.close()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self: _Closing) -> _Closing:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class AsyncVerifier(_AsyncClosing):
    """Verifier with awaitable methods; ``sync`` is the underlying thread-safe Verifier.

    ``verify``/``check``/``is_valid`` are CPU work (one ECDSA verification) and run on the loop's default executor;
    a remote key set is fetched first with a real asyncio call (``refresh``), so that the executor never waits on
    the network for it (a later refetch for an unknown ``kid`` still happens inside the verification).
    """

    sync: Verifier

    def __init__(
        self,
        audience: str,
        *,
        jwks: Union[str, Mapping[str, Any], None] = None,
        jwks_url: Optional[str] = None,
        issuer: Optional[str] = None,
        leeway: Optional[float] = None,
        ca_file: Optional[str] = None,
        jwks_max_age: Optional[float] = None,
        jwks_cooldown: Optional[float] = None,
        jwks_timeout: Optional[float] = None,
        jwks_max_bytes: Optional[int] = None,
        token_cache_size: Optional[int] = None,
        now: Optional[int] = None,
        jwks_max_age_ms: Optional[int] = None,
        jwks_cooldown_ms: Optional[int] = None,
        jwks_timeout_ms: Optional[int] = None,
        from_environment: bool = False,
    ) -> None:
        """The options are Verifier's."""
        self._wrap(Verifier(
            audience, jwks=jwks, jwks_url=jwks_url, issuer=issuer, leeway=leeway, ca_file=ca_file,
            jwks_max_age=jwks_max_age, jwks_cooldown=jwks_cooldown, jwks_timeout=jwks_timeout,
            jwks_max_bytes=jwks_max_bytes, token_cache_size=token_cache_size, now=now, jwks_max_age_ms=jwks_max_age_ms,
            jwks_cooldown_ms=jwks_cooldown_ms, jwks_timeout_ms=jwks_timeout_ms, from_environment=from_environment,
        ))

    def _wrap(self, sync: Verifier) -> "AsyncVerifier":
        self.sync = sync
        self._keys_fetched = sync.jwks_url is None
        return self

    async def _keys(self) -> None:
        if not self._keys_fetched:
            await self.refresh()  # concurrent first calls share one fetch
            self._keys_fetched = True

    async def verify(self, token: Union[str, bytes]) -> Claims:
        await self._keys()
        return await _run(self.sync.verify, token)

    async def check(self, token: Union[str, bytes]) -> None:
        await self._keys()
        await _run(self.sync.check, token)

    async def is_valid(self, token: Union[str, bytes]) -> bool:
        await self._keys()
        return await _run(self.sync.is_valid, token)

    async def refresh(self, *, timeout: Optional[float] = None) -> None:
        await _call(self.sync._n.refresh_async, timeout_ms(timeout))

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"


class AsyncClient(_AsyncClosing):
    """Client with awaitable methods; ``sync`` is the underlying thread-safe Client (the same connections)."""

    sync: Client

    def __init__(
        self,
        api_key_id: Optional[str] = None,
        api_secret_key: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        worker_url: Optional[str] = None,
        ca_file: Optional[str] = None,
        connect_timeout: Optional[float] = None,
        timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        retry_base: Optional[float] = None,
        retry_max: Optional[float] = None,
        max_response_bytes: Optional[int] = None,
        max_host_connections: Optional[int] = None,
        connect_timeout_ms: Optional[int] = None,
        timeout_ms: Optional[int] = None,
        retry_base_ms: Optional[int] = None,
        retry_max_ms: Optional[int] = None,
    ) -> None:
        """The options are Client's."""
        self.sync = Client(
            api_key_id, api_secret_key, base_url=base_url, worker_url=worker_url, ca_file=ca_file,
            connect_timeout=connect_timeout, timeout=timeout, max_retries=max_retries, retry_base=retry_base,
            retry_max=retry_max, max_response_bytes=max_response_bytes, max_host_connections=max_host_connections,
            connect_timeout_ms=connect_timeout_ms, timeout_ms=timeout_ms, retry_base_ms=retry_base_ms,
            retry_max_ms=retry_max_ms,
        )

    @property
    def _n(self) -> _native.Client:
        return self.sync._n  # read each time: close() replaces it

    def stats(self) -> ClientStats:
        return self.sync.stats()

    def verifier(
        self,
        *,
        issuer: Optional[str] = None,
        leeway: Optional[float] = None,
        ca_file: Optional[str] = None,
        jwks_max_age: Optional[float] = None,
        jwks_cooldown: Optional[float] = None,
        jwks_timeout: Optional[float] = None,
        jwks_max_bytes: Optional[int] = None,
        token_cache_size: Optional[int] = None,
        now: Optional[int] = None,
        jwks_max_age_ms: Optional[int] = None,
        jwks_cooldown_ms: Optional[int] = None,
        jwks_timeout_ms: Optional[int] = None,
    ) -> AsyncVerifier:
        """An AsyncVerifier for this project (see Client.verifier)."""
        return AsyncVerifier.__new__(AsyncVerifier)._wrap(self.sync.verifier(
            issuer=issuer, leeway=leeway, ca_file=ca_file, jwks_max_age=jwks_max_age, jwks_cooldown=jwks_cooldown,
            jwks_timeout=jwks_timeout, jwks_max_bytes=jwks_max_bytes, token_cache_size=token_cache_size, now=now,
            jwks_max_age_ms=jwks_max_age_ms, jwks_cooldown_ms=jwks_cooldown_ms, jwks_timeout_ms=jwks_timeout_ms,
        ))

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    # The network calls: each the `async def` twin of Client's method (its signature, docstring and conversions),
    # with `await _call(self._n.<op>_async, ...)` for the native call.
    # BEGIN GENERATED client calls (scripts/gen.py from capi/abi.json and client.py; do not edit)
    async def grant_identity_token(self, identity_token: Union[str, Mapping[str, Any]], *,
                                   timeout: Optional[float] = None) -> Token:
        """Exchanges an Identity Token (the ``token`` object of get_identity) for a token set. Needs the secret."""
        return Token(await _call(self._n.grant_identity_token_async, _json_text(identity_token), timeout_ms(timeout)))

    async def grant_event_token(self, event_token: Union[str, Mapping[str, Any]], *,
                                timeout: Optional[float] = None) -> Token:
        """Exchanges an Event Token for a token set. Needs the secret."""
        return Token(await _call(self._n.grant_event_token_async, _json_text(event_token), timeout_ms(timeout)))

    async def refresh(self, refresh_token: str, *, timeout: Optional[float] = None) -> Token:
        """A new token set. Cotter rotates refresh tokens: the old one is invalid afterwards."""
        return Token(await _call(self._n.refresh_async, refresh_token, timeout_ms(timeout)))

    async def logout(self, refresh_token: Optional[str] = None, *, timeout: Optional[float] = None) -> None:
        """Ends the server session of ``refresh_token``."""
        await _call(self._n.logout_async, refresh_token, timeout_ms(timeout))

    async def custom_claims(self, token: str, attributes: Mapping[str, Any], *, refresh_token: Optional[str] = None,
                            timeout: Optional[float] = None) -> CustomClaims:
        """A new JWT carrying ``attributes`` as top-level claims (and a refresh token that keeps them)."""
        import json
        new_token, new_refresh = await _call(self._n.custom_claims_async, token, json.dumps(dict(attributes)),
                                             refresh_token, timeout_ms(timeout))
        return CustomClaims(token=new_token, refresh_token=new_refresh)

    async def get_identity(self, code: str, challenge_id: int, code_verifier: str, redirect_url: str, *,
                           timeout: Optional[float] = None) -> Identity:
        """Exchanges a login redirect's authorization code (PKCE) for the user's identity and token set."""
        return Identity._from_json(await _call(self._n.get_identity_async, code, challenge_id, code_verifier,
                                               redirect_url, timeout_ms(timeout)))

    async def verify_remote(self, access_token: str, *, timeout: Optional[float] = None) -> RemoteVerdict:
        """Asks Cotter's serverless verifier (the worker) about ``access_token``."""
        valid, reason = await _call(self._n.verify_remote_async, access_token, timeout_ms(timeout))
        return RemoteVerdict(valid=valid, reason=reason)

    async def create_user(self, identifier: str, *, timeout: Optional[float] = None) -> User:
        return User._from_json(await _call(self._n.user_create_async, identifier, timeout_ms(timeout)))

    async def get_user(self, user_id: str, *, timeout: Optional[float] = None) -> User:
        """Raises NotFound when there is no such user."""
        return User._from_json(await _call(self._n.user_get_async, user_id, timeout_ms(timeout)))

    async def get_user_by_identifier(self, identifier: str, *, timeout: Optional[float] = None) -> User:
        """Raises NotFound when no user has this email or phone."""
        return User._from_json(await _call(self._n.user_get_by_identifier_async, identifier, timeout_ms(timeout)))

    async def list_users(self, page: int = 0, *, timeout: Optional[float] = None) -> UserPage:
        """One page (50, newest first) of the project's users, with the server's ``total`` and ``has_more``.
        Needs the secret."""
        return UserPage._from_json(page, await _call(self._n.user_list_async, c_int('page', page, U32),
                                                     timeout_ms(timeout)))

    async def social_tokens(self, user_id: str, *, timeout: Optional[float] = None) -> List[SocialToken]:
        return [SocialToken._from_json(d) for d in await _call(self._n.social_tokens_list_async, user_id,
                                                               timeout_ms(timeout))]

    async def social_token(self, provider: str, user_id: str, *, timeout: Optional[float] = None) -> SocialToken:
        """Raises NotFound when the user has no token from ``provider``."""
        return SocialToken._from_json(await _call(self._n.social_token_get_async, provider, user_id,
                                                  timeout_ms(timeout)))

    async def delete_social_token(self, provider: str, user_id: str, *, timeout: Optional[float] = None) -> None:
        await _call(self._n.social_token_delete_async, provider, user_id, timeout_ms(timeout))

    async def create_pending_event(self, client_user_id: str, event: str = 'LOGIN', *,
                                   code_challenge: Optional[str] = None,
                                   timeout: Optional[float] = None) -> Dict[str, Any]:
        """Asks the trusted device of ``client_user_id`` to approve ``event`` (spec §2.11, POST
        /event/create_pending) and returns the event object (a dict: ``ID``, ``new`` True, ``approved`` False...).
        With ``code_challenge`` (``Pkce.generate().challenge``) only the holder of its verifier collects the tokens of the
        approved event (get_event). Raises NotFound for an unknown user, OAuthError when the API refuses (e.g.
        the user has no trusted device)."""
        return cast(Dict[str, Any], await _call(self._n.event_create_pending_async, client_user_id, event,
                                                code_challenge, timeout_ms(timeout)))

    async def get_event(self, event_id: int, *, code_verifier: Optional[str] = None,
                        timeout: Optional[float] = None) -> Dict[str, Any]:
        """Polls an event (GET /event/get/:event_id): ``new`` is True while it waits, then ``approved`` tells
        the answer. With ``code_verifier`` an approved event also carries ``oauth_token`` (the user's tokens,
        issued once). Raises NotFound for an unknown event."""
        return cast(Dict[str, Any], await _call(self._n.event_get_async, c_int('event_id', event_id, I64),
                                                code_verifier, timeout_ms(timeout)))
    # END GENERATED client calls

    async def iter_user_pages(self, *, start_page: int = 0,
                              timeout: Optional[float] = None) -> AsyncIterator[UserPage]:
        """Every page from ``start_page`` on (see Client.iter_user_pages): ``async for page in ...``."""
        page: Optional[int] = start_page
        while page is not None:
            result = await self.list_users(page, timeout=timeout)
            yield result
            page = result.next_page

    async def iter_users(self, *, start_page: int = 0, timeout: Optional[float] = None) -> AsyncIterator[User]:
        """Every user of every page: ``async for user in client.iter_users()``."""
        async for result in self.iter_user_pages(start_page=start_page, timeout=timeout):
            for user in result:
                yield user


class AsyncTokenSession(_AsyncClosing):
    """TokenSession with awaitable methods. The constructor does the first load from storage (on this thread);
    later storage hooks and ``on_tokens_changed`` run on the client's I/O thread, as for TokenSession.

    Concurrent tasks share one refresh. A task cancelled while it waits for a refresh stops waiting, but the
    refresh goes on and its tokens are stored (the old refresh token is dead at the server by then).
    """

    sync: TokenSession

    def __init__(
        self,
        client: Union[AsyncClient, Client],
        *,
        token: Optional[Token] = None,
        token_file: Optional[str] = None,
        storage: Optional[TokenStorage] = None,
        refresh_margin: Optional[float] = None,
        on_tokens_changed: Optional[Callable[[Optional[Token]], None]] = None,
        shared_store: Optional[Union[SharedStore, HiredisStore]] = None,
        shared_session_id: Optional[str] = None,
    ) -> None:
        """The options are TokenSession's. With an AsyncRedisStore, use ``await AsyncTokenSession.create(...)``:
        the first read of Redis runs on the store's event loop, which this constructor would block."""
        if isinstance(shared_store, AsyncRedisStore) and shared_store._thread == threading.get_ident():
            raise InvalidArgument(
                "a session over an AsyncRedisStore is made with `await AsyncTokenSession.create(...)` on its loop "
                "(the constructor would block the loop that serves the store)",
                status=_native.STATUS_CODES["COTTER_EINVAL"], code="COTTER_EINVAL")
        self.sync = TokenSession(client.sync if isinstance(client, AsyncClient) else client, token=token,
                                 token_file=token_file, storage=storage, refresh_margin=refresh_margin,
                                 on_tokens_changed=on_tokens_changed, shared_store=shared_store,
                                 shared_session_id=shared_session_id)

    @classmethod
    async def create(cls, client: Union[AsyncClient, Client], **options: Any) -> "AsyncTokenSession":
        """``AsyncTokenSession(client, **options)`` built on a worker thread, so that the running loop stays free
        for what the constructor waits for (the first read of an AsyncRedisStore, a slow storage hook)."""
        return await asyncio.get_running_loop().run_in_executor(None, lambda: cls(client, **options))

    @property
    def _n(self) -> _native.Session:
        return self.sync._n  # read each time: close() replaces it

    # BEGIN GENERATED session calls (scripts/gen.py from capi/abi.json and session.py; do not edit)
    async def access_token(self, *, timeout: Optional[float] = None) -> str:
        """A valid access token, refreshed first when it expires within the margin."""
        return cast(str, await _call(self._n.get_access_token_async, timeout_ms(timeout)))

    async def token(self, *, timeout: Optional[float] = None) -> Token:
        """The current token set, refreshed first when needed."""
        return Token(await _call(self._n.get_token_async, timeout_ms(timeout)))

    async def refresh(self, *, timeout: Optional[float] = None) -> Token:
        """Refreshes now, whatever the expiry (joining a refresh already in flight)."""
        return Token(await _call(self._n.refresh_async, timeout_ms(timeout)))

    async def set_token(self, token: Token, *, timeout: Optional[float] = None) -> None:
        """Replaces the token set (e.g. after a login) and stores it."""
        await _call(self._n.set_token_async, token._n, timeout_ms(timeout))

    async def logout(self, *, timeout: Optional[float] = None) -> None:
        """Ends the server session (best effort) and deletes the stored tokens."""
        await _call(self._n.logout_async, timeout_ms(timeout))
    # END GENERATED session calls

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"


__all__ = ["AsyncClient", "AsyncTokenSession", "AsyncVerifier"]

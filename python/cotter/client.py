"""
@file client.py
@brief Client: Cotter's token, user and social-token APIs, plus the typed results they return (the records among
them, User, SocialToken and Identity, are generated into _records.py from capi/abi.json).

Every call blocks with the GIL released while the client's I/O thread does the work (cotter.aio has the same
calls as asyncio coroutines). ``timeout=`` (seconds) bounds one call, queueing and retries included.
"""
from __future__ import annotations

from . import _native
from ._record import Record
from ._records import Identity, SocialToken, User
from ._util import I32, I64, U32, U64, c_int, closed_native, duration_ms, opt_c_int, redact_jwt, redact_secret, timeout_ms
from .tokens import Token

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

    from .verifier import Verifier


class UserPage(list[User]):  # a list subclass: list_users returned a list before
    """One page of ``list_users``: a list of its users (as ``list_users`` always returned), with the paging facts the
    server sent. ``total`` and ``has_more`` are None when the server did not say; ``next_page`` is the page to ask
    for next, None after the last."""

    __slots__ = ("page", "total", "has_more")
    page: int
    total: Optional[int]
    has_more: Optional[bool]

    def __init__(self, users: Iterable[User], *, page: int, total: Optional[int], has_more: Optional[bool]) -> None:
        super().__init__(users)
        self.page = page
        self.total = total
        self.has_more = has_more

    @property
    def next_page(self) -> Optional[int]:
        # An empty page ends the walk even if the server says more (never loop on a confused server).
        more = self.has_more if self.has_more is not None else True
        return self.page + 1 if more and len(self) > 0 else None

    @classmethod
    def _from_json(cls, page: int, d: Dict[str, Any]) -> "UserPage":
        """From the page the core wrote (capi/abi.json `records`: user_page)."""
        return cls((User._from_json(u) for u in d["users"]), page=page, total=d["total"], has_more=d["has_more"])

    def __repr__(self) -> str:
        return (f"UserPage(page={self.page!r}, users={len(self)}, total={self.total!r}, "
                f"has_more={self.has_more!r})")


class CustomClaims(Record):
    """The result of custom_claims: the new JWT, and the special refresh token when one was given."""

    __slots__ = _fields = ("token", "refresh_token")
    token: str
    refresh_token: Optional[str]

    def __init__(self, *, token: str, refresh_token: Optional[str]) -> None:
        self._set(token=token, refresh_token=refresh_token)

    def __repr__(self) -> str:
        return f"CustomClaims(token={redact_jwt(self.token)!r}, refresh_token={redact_secret(self.refresh_token)!r})"


class RemoteVerdict(Record):
    """The serverless verifier's answer."""

    __slots__ = _fields = ("valid", "reason")
    valid: bool
    reason: Optional[str]

    def __init__(self, *, valid: bool, reason: Optional[str]) -> None:
        self._set(valid=valid, reason=reason)


class ClientStats(Record):
    """Counters of one client."""

    __slots__ = _fields = ("requests", "connections", "retries")
    requests: int
    connections: int
    retries: int

    def __init__(self, *, requests: int, connections: int, retries: int) -> None:
        self._set(requests=requests, connections=connections, retries=retries)


def _json_text(value: Union[str, Mapping[str, Any]]) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(dict(value))


class Client:
    """A connection to Cotter's API (or a compatible server such as the emulator). Thread-safe.

    ``api_key_id``/``api_secret_key``/``base_url`` default to $COTTER_API_KEY_ID, $COTTER_API_SECRET_KEY and
    $COTTER_BASE_URL (else Cotter's), as Cotter's own SDK did: the library reads them (``from_environment``).
    The secret is needed only by server-side calls and is never shown.
    Requests run on the client's own I/O thread, over shared keep-alive connections: at most
    ``max_host_connections`` per host (0 = no cap; further requests queue).

    Durations are seconds (int or float): ``connect_timeout`` (default 10), ``timeout`` (one request, default 30),
    ``retry_base``/``retry_max`` (backoff, default 0.2 and 5). The ``*_ms`` names are deprecated aliases.
    A context manager: ``close()`` (or leaving the ``with`` block) releases the client; later calls raise
    ``cotter.Closed``.
    """

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
        self._n = _native.Client(
            api_key_id=api_key_id or None,
            api_secret_key=api_secret_key or None,
            base_url=base_url,
            worker_url=worker_url,
            ca_file=ca_file,
            connect_timeout_ms=duration_ms("connect_timeout", connect_timeout, "connect_timeout_ms", connect_timeout_ms),
            timeout_ms=duration_ms("timeout", timeout, "timeout_ms", timeout_ms),
            max_retries=opt_c_int("max_retries", max_retries, I32),
            retry_base_ms=duration_ms("retry_base", retry_base, "retry_base_ms", retry_base_ms),
            retry_max_ms=duration_ms("retry_max", retry_max, "retry_max_ms", retry_max_ms),
            max_response_bytes=opt_c_int("max_response_bytes", max_response_bytes, U64),
            max_host_connections=opt_c_int("max_host_connections", max_host_connections, I64),
            from_environment=True,  # Cotter's SDK read its credentials from the environment: the library does
            log=True,
        )
        self.api_key_id: str = self._n.api_key_id or ""
        self.ca_file = ca_file
        self._base_url = self._n.base_url or ""

    def close(self) -> None:
        """Releases the client (its I/O thread stops once no session or verifier made from it still uses it).
        Idempotent; any later call raises ``cotter.Closed``."""
        self._n = closed_native("Client")

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """The effective base URL, e.g. "https://www.cotter.app/api/v0"."""
        return self._base_url

    @property
    def jwks_url(self) -> str:
        """Where this client's API publishes its key set (the library's rule: ``<base_url>/token/jwks``)."""
        return _native.jwks_url(self.base_url)

    def stats(self) -> ClientStats:
        """Requests sent, TCP connections opened and retries performed by this client."""
        return ClientStats(**self._n.stats())

    # --- tokens --------------------------------------------------------------------------------------

    def grant_identity_token(self, identity_token: Union[str, Mapping[str, Any]], *,
                             timeout: Optional[float] = None) -> Token:
        """Exchanges an Identity Token (the ``token`` object of get_identity) for a token set. Needs the secret."""
        return Token(self._n.grant_identity_token(_json_text(identity_token), timeout_ms(timeout)))

    def grant_event_token(self, event_token: Union[str, Mapping[str, Any]], *,
                          timeout: Optional[float] = None) -> Token:
        """Exchanges an Event Token for a token set. Needs the secret."""
        return Token(self._n.grant_event_token(_json_text(event_token), timeout_ms(timeout)))

    def refresh(self, refresh_token: str, *, timeout: Optional[float] = None) -> Token:
        """A new token set. Cotter rotates refresh tokens: the old one is invalid afterwards."""
        return Token(self._n.refresh(refresh_token, timeout_ms(timeout)))

    def logout(self, refresh_token: Optional[str] = None, *, timeout: Optional[float] = None) -> None:
        """Ends the server session of ``refresh_token``."""
        self._n.logout(refresh_token, timeout_ms(timeout))

    def custom_claims(
        self, token: str, attributes: Mapping[str, Any], *, refresh_token: Optional[str] = None,
        timeout: Optional[float] = None
    ) -> CustomClaims:
        """A new JWT carrying ``attributes`` as top-level claims (and a refresh token that keeps them)."""
        import json

        new_token, new_refresh = self._n.custom_claims(token, json.dumps(dict(attributes)), refresh_token,
                                                       timeout_ms(timeout))
        return CustomClaims(token=new_token, refresh_token=new_refresh)

    def get_identity(self, code: str, challenge_id: int, code_verifier: str, redirect_url: str, *,
                     timeout: Optional[float] = None) -> Identity:
        """Exchanges a login redirect's authorization code (PKCE) for the user's identity and token set."""
        return Identity._from_json(
            self._n.get_identity(code, challenge_id, code_verifier, redirect_url, timeout_ms(timeout)))

    def verify_remote(self, access_token: str, *, timeout: Optional[float] = None) -> RemoteVerdict:
        """Asks Cotter's serverless verifier (the worker) about ``access_token``."""
        valid, reason = self._n.verify_remote(access_token, timeout_ms(timeout))
        return RemoteVerdict(valid=valid, reason=reason)

    # --- users ---------------------------------------------------------------------------------------

    def create_user(self, identifier: str, *, timeout: Optional[float] = None) -> User:
        return User._from_json(self._n.user_create(identifier, timeout_ms(timeout)))

    def get_user(self, user_id: str, *, timeout: Optional[float] = None) -> User:
        """Raises NotFound when there is no such user."""
        return User._from_json(self._n.user_get(user_id, timeout_ms(timeout)))

    def get_user_by_identifier(self, identifier: str, *, timeout: Optional[float] = None) -> User:
        """Raises NotFound when no user has this email or phone."""
        return User._from_json(self._n.user_get_by_identifier(identifier, timeout_ms(timeout)))

    def list_users(self, page: int = 0, *, timeout: Optional[float] = None) -> UserPage:
        """One page (50, newest first) of the project's users, with the server's ``total`` and ``has_more``.
        Needs the secret."""
        return UserPage._from_json(page, self._n.user_list(c_int("page", page, U32), timeout_ms(timeout)))

    def iter_user_pages(self, *, start_page: int = 0, timeout: Optional[float] = None) -> Iterator[UserPage]:
        """Every page from ``start_page`` on, one request per page, until the server says there are no more.
        ``timeout`` bounds each request. Users created meanwhile shift the pages (newest first): dedupe by id."""
        page: Optional[int] = start_page
        while page is not None:
            result = self.list_users(page, timeout=timeout)
            yield result
            page = result.next_page

    def iter_users(self, *, start_page: int = 0, timeout: Optional[float] = None) -> Iterator[User]:
        """Every user of every page (see iter_user_pages)."""
        for result in self.iter_user_pages(start_page=start_page, timeout=timeout):
            yield from result

    # --- social-login provider tokens ----------------------------------------------------------------

    def social_tokens(self, user_id: str, *, timeout: Optional[float] = None) -> List[SocialToken]:
        return [SocialToken._from_json(d) for d in self._n.social_tokens_list(user_id, timeout_ms(timeout))]

    def social_token(self, provider: str, user_id: str, *, timeout: Optional[float] = None) -> SocialToken:
        """Raises NotFound when the user has no token from ``provider``."""
        return SocialToken._from_json(self._n.social_token_get(provider, user_id, timeout_ms(timeout)))

    def delete_social_token(self, provider: str, user_id: str, *, timeout: Optional[float] = None) -> None:
        self._n.social_token_delete(provider, user_id, timeout_ms(timeout))

    # --- trusted-device events ------------------------------------------------------------------------

    def create_pending_event(self, client_user_id: str, event: str = "LOGIN", *, code_challenge: Optional[str] = None,
                             timeout: Optional[float] = None) -> Dict[str, Any]:
        """Asks the trusted device of ``client_user_id`` to approve ``event`` (spec §2.11, POST
        /event/create_pending) and returns the event object (a dict: ``ID``, ``new`` True, ``approved`` False...).
        With ``code_challenge`` (``Pkce.generate().challenge``) only the holder of its verifier collects the tokens of the
        approved event (get_event). Raises NotFound for an unknown user, OAuthError when the API refuses (e.g.
        the user has no trusted device)."""
        return self._n.event_create_pending(client_user_id, event, code_challenge, timeout_ms(timeout))

    def get_event(self, event_id: int, *, code_verifier: Optional[str] = None,
                  timeout: Optional[float] = None) -> Dict[str, Any]:
        """Polls an event (GET /event/get/:event_id): ``new`` is True while it waits, then ``approved`` tells
        the answer. With ``code_verifier`` an approved event also carries ``oauth_token`` (the user's tokens,
        issued once). Raises NotFound for an unknown event."""
        return self._n.event_get(c_int("event_id", event_id, I64), code_verifier, timeout_ms(timeout))

    # --- helpers -------------------------------------------------------------------------------------

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
    ) -> "Verifier":
        """A Verifier for this project: audience = the API key id, keys from ``<base_url>/token/jwks``, this
        client's ``ca_file`` unless given. The options are Verifier's."""
        from .verifier import Verifier

        return Verifier(
            self.api_key_id, jwks_url=self.jwks_url, issuer=issuer, leeway=leeway,
            ca_file=ca_file if ca_file is not None else self.ca_file, jwks_max_age=jwks_max_age,
            jwks_cooldown=jwks_cooldown, jwks_timeout=jwks_timeout, jwks_max_bytes=jwks_max_bytes,
            token_cache_size=token_cache_size, now=now, jwks_max_age_ms=jwks_max_age_ms,
            jwks_cooldown_ms=jwks_cooldown_ms, jwks_timeout_ms=jwks_timeout_ms,
        )

    def __repr__(self) -> str:
        return f"Client(api_key_id={self.api_key_id!r}, base_url={self.base_url!r})"


__all__ = ["Client", "ClientStats", "CustomClaims", "Identity", "RemoteVerdict", "SocialToken", "User", "UserPage"]

"""
@file session.py
@brief TokenSession: one user's token set kept valid (refresh when needed, single-flight, storage).
"""
from __future__ import annotations

from . import _native
from ._util import closed_native, timeout_ms, whole_seconds
from .client import Client
from .tokens import Token

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Protocol, Union

    from .redis import HiredisStore, SharedStore

    class TokenStorage(Protocol):
        def load(self) -> Union[str, bytes, None]: ...

        def save(self, token_json: Optional[str]) -> None: ...

else:

    class TokenStorage:
        """Custom storage (keychain, database...), duck-typed: load() returns the stored oauth_token JSON or
        None; save(json) stores it, save(None) deletes it. Exceptions propagate to the caller of the session
        method. (A typing.Protocol for type checkers; a plain class at run time, to keep imports light.)"""


class TokenSession:
    """One user's tokens, kept valid. Thread-safe; concurrent callers share one refresh.

    Storage: ``token_file`` (six-key JSON, mode 0600, atomic replace, locked so that processes sharing it
    refresh once), or ``storage``, or none (memory only). ``token`` replaces what storage holds.
    A transport error never destroys stored tokens; ReauthRequired means the user must log in again.
    The first ``storage.load()`` (or store of ``token``) runs in the constructor, on its thread; later ones, every
    ``save()`` and ``on_tokens_changed`` run on the client's I/O thread, one at a time and in order.
    ``shared_store`` (a ``cotter.redis.RedisStore``) with ``shared_session_id`` shares the session with every
    replica of a fleet through Redis: one refresh per expiry across all of them (docs/python.md); ``token``, if
    given, is stored there for the fleet, else the session starts from what Redis holds.
    ``refresh_margin`` is in seconds (int or float; whole seconds, rounded up). A context manager: after
    ``close()`` every call raises ``cotter.Closed`` (the stored tokens stay; ``logout()`` deletes them).
    """

    def __init__(
        self,
        client: Client,
        *,
        token: Optional[Token] = None,
        token_file: Optional[str] = None,
        storage: Optional[TokenStorage] = None,
        refresh_margin: Optional[float] = None,
        on_tokens_changed: Optional[Callable[[Optional[Token]], None]] = None,
        shared_store: Optional[Union[SharedStore, HiredisStore]] = None,
        shared_session_id: Optional[str] = None,
    ) -> None:
        changed = None
        if on_tokens_changed is not None:
            callback = on_tokens_changed

            def changed(native: Optional["_native.Token"]) -> None:
                callback(Token(native) if native is not None else None)

        self._n = _native.Session(
            client=client._n,
            refresh_margin_seconds=whole_seconds("refresh_margin", refresh_margin),
            token_file=token_file,
            load=storage.load if storage is not None else None,
            save=storage.save if storage is not None else None,
            on_tokens_changed=changed,
            initial=token._n if token is not None else None,
            shared_store=shared_store._n if shared_store is not None else None,
            shared_session_id=shared_session_id,
        )
        self.token_file = token_file
        self.shared_store = shared_store  # kept open while this session may use it
        self.shared_session_id = shared_session_id

    def close(self) -> None:
        """Releases the session (not the stored tokens). Idempotent; any later call raises ``cotter.Closed``."""
        self._n = closed_native("TokenSession")

    def __enter__(self) -> "TokenSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def access_token(self, *, timeout: Optional[float] = None) -> str:
        """A valid access token, refreshed first when it expires within the margin."""
        return self._n.get_access_token(timeout_ms(timeout))

    def token(self, *, timeout: Optional[float] = None) -> Token:
        """The current token set, refreshed first when needed."""
        return Token(self._n.get_token(timeout_ms(timeout)))

    def refresh(self, *, timeout: Optional[float] = None) -> Token:
        """Refreshes now, whatever the expiry (joining a refresh already in flight)."""
        return Token(self._n.refresh(timeout_ms(timeout)))

    def set_token(self, token: Token, *, timeout: Optional[float] = None) -> None:
        """Replaces the token set (e.g. after a login) and stores it."""
        self._n.set_token(token._n, timeout_ms(timeout))

    def logout(self, *, timeout: Optional[float] = None) -> None:
        """Ends the server session (best effort) and deletes the stored tokens."""
        self._n.logout(timeout_ms(timeout))

    def __repr__(self) -> str:
        if self.shared_store is not None:
            return f"TokenSession(shared_store={self.shared_store!r}, shared_session_id={self.shared_session_id!r})"
        where = f"token_file={self.token_file!r}" if self.token_file else "storage=<custom or memory>"
        return f"TokenSession({where})"


__all__ = ["TokenSession", "TokenStorage"]

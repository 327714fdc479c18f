"""
@file verifier.py
@brief Verifier: Cotter's ES256 access and ID tokens against a JWKS (static or remote), GIL released.
"""
from __future__ import annotations

from . import _native
from ._util import I64, U64, closed_native, duration_ms, opt_c_int, timeout_ms, whole_seconds
from .tokens import Claims

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping, Optional, Union


class Verifier:
    """Verifies Cotter's ES256 JWTs. Thread-safe and shareable; verification releases the GIL.

    Exactly one key source: ``jwks`` (a JWKS document as str or dict, no network) or ``jwks_url``.
    ``now`` pins the clock (Unix seconds), for tools and tests. ``from_environment=True`` (what ``cotter.validate``
    passes) lets the library read an empty ``audience`` from $COTTER_API_KEY_ID and a missing ``ca_file`` from
    $COTTER_CA_FILE; without it the environment is never read.
    Durations are seconds (int or float): ``leeway`` (default 5; whole seconds, rounded up), ``jwks_max_age``
    (default 600), ``jwks_cooldown`` (default 30), ``jwks_timeout`` (default 5). The ``*_ms`` names are deprecated
    aliases. A context manager: after ``close()`` every call raises ``cotter.Closed``.
    """

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
        import json

        jwks_json = jwks if isinstance(jwks, str) or jwks is None else json.dumps(dict(jwks))
        self._n = _native.Verifier(
            audience=audience,
            issuer=issuer,
            leeway_seconds=whole_seconds("leeway", leeway),
            jwks_json=jwks_json,
            jwks_url=jwks_url,
            ca_file=ca_file,
            jwks_max_age_ms=duration_ms("jwks_max_age", jwks_max_age, "jwks_max_age_ms", jwks_max_age_ms),
            jwks_cooldown_ms=duration_ms("jwks_cooldown", jwks_cooldown, "jwks_cooldown_ms", jwks_cooldown_ms),
            jwks_timeout_ms=duration_ms("jwks_timeout", jwks_timeout, "jwks_timeout_ms", jwks_timeout_ms),
            jwks_max_bytes=opt_c_int("jwks_max_bytes", jwks_max_bytes, U64),
            token_cache_size=opt_c_int("token_cache_size", token_cache_size, U64),
            now=opt_c_int("now", now, I64),
            from_environment=bool(from_environment),
            log=True,
        )
        self.audience = audience
        self.issuer = issuer
        self.jwks_url = jwks_url

    def close(self) -> None:
        """Releases the verifier (its key set and cache). Idempotent; any later call raises ``cotter.Closed``."""
        self._n = closed_native("Verifier")

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def verify(self, token: Union[str, bytes]) -> Claims:
        """Verifies ``token`` and returns its claims; raises a JWTError / JWKSError subclass when rejected."""
        return Claims(self._n.verify(token))

    def check(self, token: Union[str, bytes]) -> None:
        """Like verify() but builds no claims (the verdict only)."""
        self._n.check(token)

    def is_valid(self, token: Union[str, bytes]) -> bool:
        """True when ``token`` verifies. Key-set failures (JWKSError) still raise: they are not a verdict."""
        from ._errors import JWTError

        try:
            self._n.check(token)
            return True
        except JWTError:
            return False

    def refresh(self, *, timeout: Optional[float] = None) -> None:
        """Refetches a remote key set now (a no-op for a static one). Concurrent refreshes share one fetch."""
        self._n.refresh(timeout_ms(timeout))

    def __repr__(self) -> str:
        source = f"jwks_url={self.jwks_url!r}" if self.jwks_url else "jwks=<static>"
        return f"Verifier(audience={self.audience!r}, {source})"


__all__ = ["Verifier"]

"""
@file _errors.py
@brief The exception classes: one CotterError base, one subclass per C ABI status code, grouped in families.

Every class carries the stable name of its code (``.code``, e.g. ``"COTTER_EJWT_SIGNATURE"``) and the
integer (``.status``). The table below names a class for each code of cotter.h; the native module exports
the codes compiled from cotter.h (``_native.STATUS_CODES``) and tests/python/test_errors.py fails when the
two differ, so the table cannot drift from the header.
"""
from __future__ import annotations

import builtins

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Optional, Type


class CotterError(Exception):
    """Base of every error raised by cotter. Messages never contain secrets or tokens."""

    #: The stable name of the status code, e.g. "COTTER_EOAUTH" (class default; the instance may differ).
    code: str = "COTTER_EUNKNOWN"
    #: The integer status code (negative).
    status: int = 0

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
        http_status: int = 0,
        oauth_error: Optional[str] = None,
        oauth_error_description: Optional[str] = None,
        retry_after: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        #: HTTP status of the response involved, 0 when none.
        self.http_status = http_status
        #: The server's error kind (RFC 6749 `error` or Cotter's `type`), if any.
        self.oauth_error = oauth_error
        #: The server's error text (`msg` / `error_description`), if any.
        self.oauth_error_description = oauth_error_description
        #: Retry-After in seconds, if the server sent one.
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        extra = f", http_status={self.http_status}" if self.http_status else ""
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}{extra})"


# --- general ----------------------------------------------------------------------------------------


class InvalidArgument(CotterError, ValueError):
    """A bad argument or option value (COTTER_EINVAL)."""


class Closed(InvalidArgument):
    """A call on a Client, Verifier or TokenSession (or an async one) after its ``close()`` (COTTER_EINVAL, like
    Python's ValueError for I/O on a closed file)."""


class OutOfMemory(CotterError):
    """The library could not allocate memory (COTTER_ENOMEM)."""


class TransportError(CotterError):
    """The request did not get a response: network, timeout or TLS. Stored tokens are kept."""


class NetworkError(TransportError, ConnectionError):
    """Connection failed, was reset, or the response was cut short (COTTER_ENETWORK)."""


class Timeout(TransportError, builtins.TimeoutError):
    """The connect or total timeout expired (COTTER_ETIMEOUT)."""


class TLSError(TransportError):
    """TLS handshake or certificate verification failed (COTTER_ETLS)."""


class HTTPError(CotterError):
    """A non-2xx status without a usable error body, e.g. 5xx or 429 after retries (COTTER_EHTTP)."""


class OAuthError(CotterError):
    """The API rejected the request with an error body (COTTER_EOAUTH); see ``oauth_error_description``."""


class ProtocolError(CotterError):
    """A malformed, oversized or unexpected response (COTTER_EPROTOCOL)."""


class CallbackError(CotterError):
    """A callback aborted the operation (COTTER_EUSER)."""


class InternalError(CotterError):
    """A bug in cotter (COTTER_EINTERNAL); please report it."""


class ReauthRequired(CotterError):
    """No usable refresh token: the user must log in again (COTTER_EREAUTH)."""


class StorageError(CotterError, OSError):
    """Token storage failed: I/O error, corrupt file, lock failure (COTTER_ESTORAGE)."""


class NotFound(CotterError, LookupError):
    """The requested user or provider token does not exist (COTTER_ENOTFOUND)."""


class StateMismatch(CotterError):
    """A login redirect carried the wrong `state`, or an `error` (COTTER_ESTATE)."""


class CredentialsRejected(CotterError):
    """The server rejected the API key id or secret (COTTER_ECREDENTIALS): a configuration error. The user's
    tokens are fine; fix the key id or secret (unlike ReauthRequired, logging in again does not help)."""


class SharedStoreUnavailable(CotterError):
    """A refresh needed the shared session store (Redis) and could not reach it (COTTER_ESHARED_UNAVAILABLE).
    Nothing was refreshed; a still-valid access token keeps being served. Retry later."""


class Cancelled(CotterError):
    """The call was cancelled by the library, not by you: the interpreter is exiting (COTTER_ECANCELED).

    Deliberately not an ``asyncio.CancelledError``: cancelling an asyncio task that awaits a cotter call (directly,
    or through ``asyncio.wait_for``/``asyncio.timeout``) cancels the request and the task sees asyncio's own
    ``CancelledError``, as asyncio requires; this class never stands in for it, and ``except Exception`` sees it.
    """


# --- JWT verification: the token is invalid ---------------------------------------------------------


class JWTError(CotterError):
    """The token was rejected (any COTTER_EJWT_* code). Claims are never returned for it."""


class JWTMalformed(JWTError):
    """Not a JWS compact token: segments, base64url, JSON, size limits."""


class JWTAlgorithmError(JWTError):
    """`alg` missing, not a string, `none`, or not the pinned ES256."""


class JWTHeaderError(JWTError):
    """A forbidden or malformed header member (`jwk`, `jku`, `x5u`, `x5c`, bad `kid`, `b64`)."""


class JWTCritError(JWTError):
    """`crit` present: unknown extension, malformed, or empty."""


class JWTDuplicateMember(JWTError):
    """A JSON member name appears twice in the header or payload."""


class JWTKeyNotFound(JWTError):
    """No key in the key set matches the token's `kid` (after a refetch)."""


class JWTKeyMismatch(JWTError):
    """The selected key cannot verify ES256."""


class JWTSignatureError(JWTError):
    """The signature is malformed or does not verify."""


class JWTClaimTypeError(JWTError):
    """A registered claim has the wrong JSON type or range."""


class JWTIssuerError(JWTError):
    """`iss` is not exactly the expected issuer."""


class JWTAudienceError(JWTError):
    """`aud` does not contain the expected audience."""


class JWTExpired(JWTError):
    """`exp` is in the past (beyond the leeway)."""


class JWTNotYetValid(JWTError):
    """`nbf` or `iat` is in the future (beyond the leeway)."""


class JWTMissingClaim(JWTError):
    """A required claim (`exp`, `iss`, `aud`) is absent."""


# --- key sets: the verifier is unavailable or misconfigured -----------------------------------------


class JWKSError(CotterError):
    """The key set is invalid or could not be fetched."""


class JWKSInvalid(JWKSError):
    """The key set document or one of its keys is invalid."""


class JWKSUnavailable(JWKSError):
    """Keys could not be fetched and none are cached. Retryable."""


# --- Cotter's older Ed25519 tokens ------------------------------------------------------------------


class LegacyTokenError(CotterError):
    """An Identity or Event token was rejected."""


class LegacySignatureError(LegacyTokenError):
    """The Ed25519 signature does not verify."""


class LegacyClaimError(LegacyTokenError):
    """Expired, for another API key, or not approved."""


#: One class per status code of cotter.h (checked against the compiled header by the tests).
# BEGIN GENERATED status codes (scripts/gen.py from capi/abi.json; do not edit)
CLASS_FOR_CODE: Dict[str, Type[CotterError]] = {
    "COTTER_EINVAL": InvalidArgument,
    "COTTER_ENOMEM": OutOfMemory,
    "COTTER_ENETWORK": NetworkError,
    "COTTER_ETIMEOUT": Timeout,
    "COTTER_ETLS": TLSError,
    "COTTER_EHTTP": HTTPError,
    "COTTER_EOAUTH": OAuthError,
    "COTTER_EPROTOCOL": ProtocolError,
    "COTTER_EUSER": CallbackError,
    "COTTER_EINTERNAL": InternalError,
    "COTTER_EREAUTH": ReauthRequired,
    "COTTER_ESTORAGE": StorageError,
    "COTTER_ENOTFOUND": NotFound,
    "COTTER_ESTATE": StateMismatch,
    "COTTER_ECANCELED": Cancelled,
    "COTTER_ECREDENTIALS": CredentialsRejected,
    "COTTER_ESHARED_UNAVAILABLE": SharedStoreUnavailable,
    "COTTER_EJWT_MALFORMED": JWTMalformed,
    "COTTER_EJWT_ALG": JWTAlgorithmError,
    "COTTER_EJWT_HEADER": JWTHeaderError,
    "COTTER_EJWT_CRIT": JWTCritError,
    "COTTER_EJWT_DUPLICATE": JWTDuplicateMember,
    "COTTER_EJWT_KEY_NOT_FOUND": JWTKeyNotFound,
    "COTTER_EJWT_KEY_MISMATCH": JWTKeyMismatch,
    "COTTER_EJWT_SIGNATURE": JWTSignatureError,
    "COTTER_EJWT_CLAIM_TYPE": JWTClaimTypeError,
    "COTTER_EJWT_ISSUER": JWTIssuerError,
    "COTTER_EJWT_AUDIENCE": JWTAudienceError,
    "COTTER_EJWT_EXPIRED": JWTExpired,
    "COTTER_EJWT_NOT_YET_VALID": JWTNotYetValid,
    "COTTER_EJWT_MISSING_CLAIM": JWTMissingClaim,
    "COTTER_EJWKS_INVALID": JWKSInvalid,
    "COTTER_EJWKS_UNAVAILABLE": JWKSUnavailable,
    "COTTER_ELEGACY_SIGNATURE": LegacySignatureError,
    "COTTER_ELEGACY_CLAIM": LegacyClaimError,
}
# END GENERATED status codes


def _bind_codes() -> None:
    """Sets each class's default `.code` and `.status` from the compiled header's values."""
    from . import _native

    for name, cls in CLASS_FOR_CODE.items():
        cls.code = name
        cls.status = int(_native.STATUS_CODES.get(name, 0))


def from_native(
    status: int,
    message: str,
    http_status: int,
    oauth_error: Optional[str],
    oauth_error_description: Optional[str],
    retry_after: int,
) -> CotterError:
    """Builds the exception for a failed C call (called by cotter._native's exception translator)."""
    from . import _native

    name = _native.status_name(status)
    cls = CLASS_FOR_CODE.get(name, CotterError)
    return cls(
        message,
        status=status,
        code=name,
        http_status=http_status,
        oauth_error=oauth_error,
        oauth_error_description=oauth_error_description,
        retry_after=None if retry_after < 0 else retry_after,
    )


_bind_codes()

"""
@file __init__.py
@brief cotter: the native SDK for Cotter's passwordless-login token API (ES256 verification, token
client, sessions, login, CLI), over the C ABI of libcotter.

Also a drop-in for Cotter's original Python SDK: ``login_with_email_link/_otp``,
``login_with_phone_link/_otp``, ``cotter.tokenhandler`` and ``cotter.validate``.
"""
from __future__ import annotations

from . import _native
from ._errors import (
    CallbackError,
    Cancelled,
    Closed,
    CotterError,
    CredentialsRejected,
    HTTPError,
    InternalError,
    InvalidArgument,
    JWKSError,
    JWKSInvalid,
    JWKSUnavailable,
    JWTAlgorithmError,
    JWTAudienceError,
    JWTClaimTypeError,
    JWTCritError,
    JWTDuplicateMember,
    JWTError,
    JWTExpired,
    JWTHeaderError,
    JWTIssuerError,
    JWTKeyMismatch,
    JWTKeyNotFound,
    JWTMalformed,
    JWTMissingClaim,
    JWTNotYetValid,
    JWTSignatureError,
    LegacyClaimError,
    LegacySignatureError,
    LegacyTokenError,
    NetworkError,
    NotFound,
    OAuthError,
    OutOfMemory,
    ProtocolError,
    ReauthRequired,
    SharedStoreUnavailable,
    StateMismatch,
    StorageError,
    Timeout,
    TLSError,
    TransportError,
)
from .client import Client, ClientStats, CustomClaims, Identity, RemoteVerdict, SocialToken, User, UserPage
from .login import Pkce, login, login_url, parse_redirect
from .session import TokenSession, TokenStorage
from .tokens import Claims, Token
from .verifier import Verifier

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict

__version__: str = _native.version_string()

# Every log line of the native library goes to logging.getLogger("cotter") (set once: clients and verifiers only
# say whether they log, so no native thread ever holds a reference to a callable its owner could free).
from ._util import native_log as _native_log  # noqa: E402

_native.set_log_handler(_native_log)

# The extension and the C library it links are built together, but check the ABI major anyway (as every
# binding does) so a mismatched build fails at import, not with a crash later.
if _native.version_number() // 10000 != _native.HEADER_VERSION_NUMBER // 10000:  # pragma: no cover
    raise ImportError(f"cotter: libcotter {_native.version_string()} does not match this package's major version")


def identity_token_verify(identity_token: Any, api_key_id: str, *, public_key: str | None = None, now: int = 0) -> None:
    """Verifies an Identity Token (Ed25519, Cotter's older API). Raises a LegacyTokenError subclass."""
    import json

    text = identity_token if isinstance(identity_token, str) else json.dumps(identity_token)
    from ._util import I64, c_int

    _native.identity_token_verify(text, api_key_id, public_key, c_int("now", now, I64))


def event_token_verify(event_token: Any, api_key_id: str, *, public_key: str | None = None) -> None:
    """Verifies an Event Token (Ed25519, Cotter's older API). Raises a LegacyTokenError subclass."""
    import json

    text = event_token if isinstance(event_token, str) else json.dumps(event_token)
    _native.event_token_verify(text, api_key_id, public_key)


# --- drop-in for Cotter's original SDK --------------------------------------------------------------


def _compat_login(api_key: str, port: int, identifier_type: str, auth_method: str) -> Dict[str, Any]:
    from .login import open_in_browser

    def show(url: str) -> None:  # the original's message, so scripts and users see the same thing
        print("Open this link to login at your browser: " + url, flush=True)
        open_in_browser(url)

    client = Client(api_key)
    identity = login(
        client, identifier_type=identifier_type, auth_method=auth_method, port=port, redirect_host="localhost",
        open_url=show,
    )
    print("Logged in as " + (identity.identifier or "?"))
    return identity.raw


def login_with_email_link(api_key: str, port: int) -> Dict[str, Any]:
    """Original SDK: log in with an email magic link; returns the get_identity response (use ["oauth_token"])."""
    return _compat_login(api_key, port, "EMAIL", "MAGIC_LINK")


def login_with_email_otp(api_key: str, port: int) -> Dict[str, Any]:
    """Original SDK: log in with an email OTP."""
    return _compat_login(api_key, port, "EMAIL", "OTP")


def login_with_phone_link(api_key: str, port: int) -> Dict[str, Any]:
    """Original SDK: log in with a phone magic link."""
    return _compat_login(api_key, port, "PHONE", "MAGIC_LINK")


def login_with_phone_otp(api_key: str, port: int) -> Dict[str, Any]:
    """Original SDK: log in with a phone OTP."""
    return _compat_login(api_key, port, "PHONE", "OTP")


__all__ = [
    "CallbackError", "Cancelled", "Claims", "Closed", "Client", "ClientStats", "CotterError", "CredentialsRejected", "CustomClaims", "HTTPError", "Identity",
    "InternalError", "InvalidArgument", "JWKSError", "JWKSInvalid", "JWKSUnavailable", "JWTAlgorithmError",
    "JWTAudienceError", "JWTClaimTypeError", "JWTCritError", "JWTDuplicateMember", "JWTError", "JWTExpired",
    "JWTHeaderError", "JWTIssuerError", "JWTKeyMismatch", "JWTKeyNotFound", "JWTMalformed", "JWTMissingClaim",
    "JWTNotYetValid", "JWTSignatureError", "LegacyClaimError", "LegacySignatureError", "LegacyTokenError",
    "NetworkError", "NotFound", "OAuthError", "OutOfMemory", "Pkce", "ProtocolError", "ReauthRequired",
    "RemoteVerdict", "SharedStoreUnavailable", "SocialToken", "StateMismatch", "StorageError", "TLSError", "Timeout", "Token",
    "TokenSession", "TokenStorage", "TransportError", "User", "UserPage", "Verifier", "event_token_verify",
    "identity_token_verify", "login", "login_url", "login_with_email_link", "login_with_email_otp",
    "login_with_phone_link", "login_with_phone_otp", "parse_redirect",
]

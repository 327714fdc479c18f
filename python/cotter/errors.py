"""
@file errors.py
@brief The exceptions of Cotter's original Python SDK (cotter.errors), for scripts written against it.
"""
from __future__ import annotations

from ._errors import CotterError, ReauthRequired


class RefreshTokenNotExistError(ReauthRequired):
    """The token object has no refresh token (original SDK name)."""


class RefreshTokenFailedError(CotterError):
    """The refresh request failed (original SDK name). ``__cause__`` holds the precise CotterError."""


__all__ = ["RefreshTokenFailedError", "RefreshTokenNotExistError"]

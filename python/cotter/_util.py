"""
@file _util.py
@brief Small shared helpers: the "cotter" logger bridge, redaction for reprs, environment defaults.
"""
from __future__ import annotations

import logging
import os
from typing import Optional

#: Every message of the native library goes to this logger (levels are the logging module's).
logger = logging.getLogger("cotter")


def native_log(level: int, message: str) -> None:
    """Receives the C library's log lines (on the thread that did the work). Messages carry no secrets."""
    if logger.isEnabledFor(level):
        logger.log(level, message)


def redact_jwt(token: Optional[str]) -> Optional[str]:
    """Shows only the start of a JWT's header (which is public) so reprs never carry a usable token."""
    if token is None:
        return None
    return token[:10] + "…" if len(token) > 10 else "…"


def redact_secret(value: Optional[str]) -> Optional[str]:
    return None if value is None else "<redacted>"


def env(name: str) -> Optional[str]:
    """An environment variable, None when unset or empty."""
    value = os.environ.get(name)
    return value if value else None

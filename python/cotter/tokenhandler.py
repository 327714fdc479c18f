"""
@file tokenhandler.py
@brief Drop-in for Cotter's original SDK module ``cotter.tokenhandler``: same functions and return shapes,
minus its bugs.

Differences, all fixes: the file is written 0600 and atomically (never a half-written token file); a
refresh happens only when the access token expires within 30 s (not on any error, e.g. a network
failure); a refresh response without ``refresh_token`` keeps the old one; the file is rewritten only
when the tokens changed. Base URL: $COTTER_BASE_URL, else Cotter's.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any, Dict, Mapping

from ._errors import CotterError, ReauthRequired
from .client import Client
from .errors import RefreshTokenFailedError, RefreshTokenNotExistError
from .tokens import Token

#: Refresh when the access token expires within this many seconds.
REFRESH_MARGIN_SECONDS = 30


def store_token_to_file(oauth_token: Mapping[str, Any], filename: str) -> None:
    """Writes the oauth_token object as JSON to ``filename``: mode 0600, atomic replace, fsync'd."""
    directory = os.path.dirname(os.path.abspath(filename))
    fd, tmp = tempfile.mkstemp(prefix=".cotter-", dir=directory)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(dict(oauth_token), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filename)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def refresh_token(oauth_token: Mapping[str, Any], api_key: str) -> Dict[str, Any]:
    """Returns a valid oauth_token dict: ``oauth_token`` itself while its access token is fresh, else the
    refreshed set (keeping the old refresh token when the server sends none)."""
    token = Token.from_dict(oauth_token)
    if token.expires_at > time.time() + REFRESH_MARGIN_SECONDS:
        return dict(oauth_token)
    rt = token.refresh_token
    if not rt:
        raise RefreshTokenNotExistError("no refresh token: log in again", code="COTTER_EREAUTH")
    try:
        return Client(api_key).refresh(rt).to_dict()
    except ReauthRequired as e:
        raise RefreshTokenFailedError(e.message, code=e.code, status=e.status, http_status=e.http_status) from e
    except CotterError as e:
        raise RefreshTokenFailedError(e.message, code=e.code, status=e.status, http_status=e.http_status) from e


def get_token_from_file(filename: str, api_key: str) -> Dict[str, Any]:
    """Loads the token file, refreshes when needed (rewriting the file only then), returns the oauth_token dict."""
    with open(filename, encoding="utf-8") as f:
        current = json.load(f)
    fresh = refresh_token(current, api_key)
    if fresh != current:
        store_token_to_file(fresh, filename)
    return fresh

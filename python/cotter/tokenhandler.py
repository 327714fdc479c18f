"""
@file tokenhandler.py
@brief Drop-in for Cotter's original SDK module ``cotter.tokenhandler``: same functions and return shapes,
minus its bugs.

Reading the file, the refresh decision and rewriting the file are the library's (a TokenSession on the token
file: core/token/storage.cpp and session.cpp; the file gets the library's ``<file>.lock`` beside it, so two
processes refresh once). The file is written 0600 and atomically (never a half-written token file); it is read
with the library's rules (no symlink followed, no FIFO blocked on, only a regular file of ours of at most 1 MiB:
StorageError otherwise); a refresh happens only when the access token expires within the session's margin (30 s; not on any error, e.g. a
network failure); a refresh response without ``refresh_token`` keeps the old one; the file is rewritten only
when the tokens changed. Base URL: the library's default ($COTTER_BASE_URL, else Cotter's).
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
from typing import Any, Dict, Mapping

from ._errors import CotterError, ReauthRequired, StorageError
from .client import Client
from .errors import RefreshTokenFailedError, RefreshTokenNotExistError
from .session import TokenSession
from .tokens import Token


def store_token_to_file(oauth_token: Mapping[str, Any], filename: str) -> None:
    """Writes the oauth_token object as JSON to ``filename``: mode 0600, atomic replace, fsync'd.

    Written here, not by a TokenSession: the library's token file keeps a ``<file>.lock`` beside it (for
    get_token_from_file's refresh across processes), which the original SDK's store never left behind."""
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


def _valid(session: TokenSession) -> Token:
    """The session's valid token set (the library decides whether to refresh), with the original SDK's errors:
    RefreshTokenNotExistError when there is no refresh token to use (no request was sent: http_status 0),
    RefreshTokenFailedError when the refresh failed or the server rejected it."""
    try:
        return session.token()
    except ReauthRequired as e:
        if e.http_status == 0:
            raise RefreshTokenNotExistError(e.message, code=e.code, status=e.status) from e
        raise RefreshTokenFailedError(e.message, code=e.code, status=e.status, http_status=e.http_status) from e
    except StorageError:
        raise  # the token file itself (unreadable, a symlink, a FIFO, corrupt): not a refresh failure
    except CotterError as e:
        raise RefreshTokenFailedError(e.message, code=e.code, status=e.status, http_status=e.http_status) from e


def refresh_token(oauth_token: Mapping[str, Any], api_key: str) -> Dict[str, Any]:
    """Returns a valid oauth_token dict: ``oauth_token`` itself while its access token is fresh, else the
    refreshed set (keeping the old refresh token when the server sends none)."""
    stored = Token.from_dict(oauth_token)
    fresh = _valid(TokenSession(Client(api_key), token=stored))
    if fresh.access_token == stored.access_token:
        return dict(oauth_token)
    return fresh.to_dict()


def get_token_from_file(filename: str, api_key: str) -> Dict[str, Any]:
    """Loads the token file, refreshes when needed (rewriting the file only then), returns the oauth_token dict."""
    if not os.path.lexists(filename):  # as the original SDK's open() did
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), filename)
    return _valid(TokenSession(Client(api_key), token_file=filename)).to_dict()


__all__ = ["get_token_from_file", "refresh_token", "store_token_to_file"]

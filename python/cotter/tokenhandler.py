"""
@file tokenhandler.py
@brief Drop-in for Cotter's original SDK module ``cotter.tokenhandler``: same functions and return shapes,
minus its bugs.

Differences, all fixes: the file is written 0600 and atomically (never a half-written token file); it is
read as the C library reads it (no symlink followed, no FIFO blocked on, only a regular file of ours of at
most 1 MiB: StorageError otherwise); a refresh happens only when the access token expires within 30 s (not
on any error, e.g. a network failure); a refresh response without ``refresh_token`` keeps the old one; the
file is rewritten only when the tokens changed. Base URL: $COTTER_BASE_URL, else Cotter's.
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
#: The largest token file read (the C library's cap too).
MAX_TOKEN_FILE_BYTES = 1024 * 1024


def _read_token_file(filename: str) -> bytes:
    """The file's bytes, with the C library's rules (core/token/storage.cpp): O_NOFOLLOW so a planted symlink is
    not followed, O_NONBLOCK so a FIFO cannot block the open, then fstat: a regular file owned by us (or root),
    at most 1 MiB. A missing file raises FileNotFoundError, as the original SDK's open() did."""
    import stat

    from ._errors import StorageError

    try:
        fd = os.open(filename, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as e:
        import errno

        if e.errno == errno.ELOOP:
            raise StorageError(f"token file '{filename}' is a symbolic link; give the real path") from None
        raise StorageError(f"cannot open token file '{filename}': {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StorageError(f"token file '{filename}' is not a regular file")
        if st.st_uid not in (os.geteuid(), 0):
            raise StorageError(f"token file '{filename}' belongs to another user")
        data = f.read(MAX_TOKEN_FILE_BYTES + 1)
    if len(data) > MAX_TOKEN_FILE_BYTES:
        raise StorageError(f"token file '{filename}' is larger than 1 MiB")
    return data


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
    current = json.loads(_read_token_file(filename).decode("utf-8"))
    fresh = refresh_token(current, api_key)
    if fresh != current:
        store_token_to_file(fresh, filename)
    return fresh


__all__ = ["get_token_from_file", "refresh_token", "store_token_to_file"]

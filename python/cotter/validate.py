"""
@file validate.py
@brief Drop-in for Cotter's original SDK module ``cotter.validate``: same functions, same return shapes.

Unlike the original (which fetched the JWKS on every call and took ``keys[0]``), keys are fetched once per
API key and cached, selected by ``kid``, and ``iss`` is checked too. Base URL: $COTTER_BASE_URL, else Cotter's;
CA file for the key-set fetch: $COTTER_CA_FILE, else the system store (the library reads both variables).
"""
from __future__ import annotations

import threading
from typing import Any, Dict, Tuple

from . import _native
from .verifier import Verifier

_lock = threading.Lock()
_verifiers: Dict[Tuple[str, str], Verifier] = {}


def _verifier(api_key: str) -> Verifier:
    jwks_url = _native.jwks_url(None)  # the library reads $COTTER_BASE_URL (else Cotter's base URL)
    with _lock:
        v = _verifiers.get((api_key, jwks_url))
        if v is None:
            v = Verifier(api_key, jwks_url=jwks_url, from_environment=True)  # $COTTER_CA_FILE: the library reads it
            _verifiers[(api_key, jwks_url)] = v
        return v


def validate_access_token(access_token: str, api_key: str) -> Dict[str, Any]:
    """Verifies an access token (ES256, exp, aud = api_key, iss) and returns its claims as a dict.
    Raises a cotter.JWTError subclass when it is invalid."""
    return _verifier(api_key).verify(access_token).to_dict()


def validate_id_token(id_token: str, api_key: str) -> Dict[str, Any]:
    """Verifies an ID token like validate_access_token."""
    return _verifier(api_key).verify(id_token).to_dict()


__all__ = ["validate_access_token", "validate_id_token"]

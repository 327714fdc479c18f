"""
@file jwt_tools.py
@brief Test-side ES256 JWT and JWKS builder (Python `cryptography`), independent of the code under test,
so hostile tokens (bad-inputs.md §1c) can be made byte for byte.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Dict, List, Optional, Union

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

AUD = "6d1a8a4c-1111-4b8e-9a4b-2c1f0e3d4c5b"
ISS = "https://www.cotter.app"
KID = "SPACE_JWT_PUBLIC:8028AAA3-EC2D-4BAA-BE7A-7C8359CCB9F9"
#: The instant every test token is built around (tests pass it to `cotter verify --now`).
BASE_NOW = int(time.time())
N_P256 = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64u(data: Union[bytes, str]) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Key:
    def __init__(self, kid: Optional[str] = KID, curve: ec.EllipticCurve = ec.SECP256R1()) -> None:
        self.kid = kid
        self.priv = ec.generate_private_key(curve)
        self.pub = self.priv.public_key()

    def jwk(self, **extra: Any) -> Dict[str, Any]:
        nums = self.pub.public_numbers()
        size = (self.pub.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp256k1": "secp256k1"}[self.pub.curve.name]
        d: Dict[str, Any] = {"kty": "EC", "crv": crv, "x": b64u(nums.x.to_bytes(size, "big")),
                             "y": b64u(nums.y.to_bytes(size, "big")), "use": "sig"}
        if self.kid is not None:
            d["kid"] = self.kid
        d.update(extra)
        return d

    def pem(self) -> bytes:
        return self.pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def raw_sig(self, signing_input: bytes) -> bytes:
        der = self.priv.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        size = (self.pub.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def jwks(*keys: Key, **extra: Any) -> str:
    return json.dumps({"keys": [k.jwk(**extra) for k in keys]})


def claims(**overrides: Any) -> Dict[str, Any]:
    now = BASE_NOW
    c: Dict[str, Any] = {"sub": "user-1", "aud": AUD, "iss": ISS, "iat": now, "exp": now + 3600,
                         "identifier": "a@example.com", "authentication_method": "OTP", "scope": "access"}
    for k, v in overrides.items():
        if v is ...:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def make(key: Key, payload: Optional[Dict[str, Any]] = None, *, header: Optional[Dict[str, Any]] = None,
         raw_header: Optional[str] = None, raw_payload: Optional[str] = None,
         signature: Optional[bytes] = None) -> str:
    """A compact JWS; by default a valid ES256 token for AUD/ISS signed by `key`."""
    h = header if header is not None else {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    hs = b64u(raw_header if raw_header is not None else json.dumps(h, separators=(",", ":")))
    ps = b64u(raw_payload if raw_payload is not None else json.dumps(payload if payload is not None else claims(),
                                                                       separators=(",", ":")))
    signing_input = f"{hs}.{ps}".encode()
    sig = signature if signature is not None else key.raw_sig(signing_input)
    return f"{hs}.{ps}.{b64u(sig)}"


def hs256(key_bytes: bytes, payload: Dict[str, Any], kid: Optional[str] = KID, alg: str = "HS256") -> str:
    h: Dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid:
        h["kid"] = kid
    hs = b64u(json.dumps(h))
    ps = b64u(json.dumps(payload))
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    mac = hmac.new(key_bytes, f"{hs}.{ps}".encode(), digest).digest()
    return f"{hs}.{ps}.{b64u(mac)}"


def resign(token: str, key: Key) -> str:
    """Re-signs the first two segments as they are."""
    hs, ps, _ = token.split(".")
    return f"{hs}.{ps}.{b64u(key.raw_sig(f'{hs}.{ps}'.encode()))}"


def segments(token: str) -> List[str]:
    return token.split(".")

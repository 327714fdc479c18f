"""
@file tokens.py
@brief Token (an oauth_token set) and Claims (the verified payload of a JWT).
"""
from __future__ import annotations

from . import _native
from ._util import redact_jwt, redact_secret

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping as _MappingABC
    from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

    _ClaimsBase = _MappingABC[str, Any]
else:
    from collections.abc import Mapping as _MappingABC

    _ClaimsBase = _MappingABC


class Token:
    """Cotter's ``oauth_token``: access, ID and refresh tokens. Immutable; wiped from native memory when dropped.

    Its repr shows no usable token: ``Token(access_token='eyJhbGciOi…', refresh_token='<redacted>', ...)``.
    """

    __slots__ = ("_n",)

    def __init__(self, native: "_native.Token") -> None:
        self._n = native

    @classmethod
    def from_json(cls, data: Union[str, bytes]) -> "Token":
        """Parses an ``oauth_token`` JSON object (e.g. a token file written by Cotter's original SDK)."""
        return cls(_native.Token.from_json(data))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Token":
        import json

        return cls.from_json(json.dumps(dict(data)))

    def to_json(self) -> str:
        """The six-key ``oauth_token`` JSON (absent values omitted). Holds secrets."""
        return self._n.to_json()

    def to_dict(self) -> Dict[str, Any]:
        import json

        result: Dict[str, Any] = json.loads(self.to_json())
        return result

    @property
    def access_token(self) -> Optional[str]:
        return self._n.access_token

    @property
    def id_token(self) -> Optional[str]:
        return self._n.id_token

    @property
    def refresh_token(self) -> Optional[str]:
        return self._n.refresh_token

    @property
    def token_type(self) -> Optional[str]:
        return self._n.token_type

    @property
    def auth_method(self) -> Optional[str]:
        return self._n.auth_method

    @property
    def expires_in(self) -> int:
        """``expires_in`` as received (seconds); 0 when absent."""
        return self._n.expires_in

    @property
    def expires_at(self) -> int:
        """``exp`` of the access token read WITHOUT verification (for scheduling, never authorisation); 0 if unreadable."""
        return self._n.access_token_expires_at

    # Equal when every field is; hashable (immutable). Pickles as its oauth_token JSON, which holds the tokens
    # (that is the point of pickling it); the repr stays redacted.
    def _key(self) -> Tuple[Any, ...]:
        return (self.access_token, self.id_token, self.refresh_token, self.token_type, self.auth_method,
                self.expires_in)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Token) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_token_from_json, (self.to_json(),))

    def __repr__(self) -> str:
        return (
            f"Token(access_token={redact_jwt(self.access_token)!r}, id_token={redact_jwt(self.id_token)!r}, "
            f"refresh_token={redact_secret(self.refresh_token)!r}, token_type={self.token_type!r}, "
            f"auth_method={self.auth_method!r}, expires_in={self.expires_in!r})"
        )


class Claims(_ClaimsBase):
    """The verified claims of a JWT: a read-only ``Mapping[str, Any]`` of the payload (custom claims included:
    ``claims["email"]``, ``"email" in claims``, ``dict(claims)``, ``json.dumps(dict(claims))``), plus typed
    properties for Cotter's claims. Exists only for tokens whose signature and claims were verified (or unpickled:
    pickle trusts its input anyway). Equal to another Claims or a mapping with the same payload; hashable.
    """

    __slots__ = ("_n", "_dict")

    def __init__(self, native: "Union[_native.Claims, _Payload]") -> None:
        self._n = native
        self._dict: Optional[Dict[str, Any]] = None

    @property
    def sub(self) -> Optional[str]:
        return self._n.sub

    @property
    def iss(self) -> Optional[str]:
        return self._n.iss

    @property
    def aud(self) -> List[str]:
        """Every audience (a string ``aud`` counts as one)."""
        return [a for a in self._n.audience if a is not None]

    @property
    def identifier(self) -> Optional[str]:
        return self._n.identifier

    @property
    def authentication_method(self) -> Optional[str]:
        return self._n.authentication_method

    @property
    def scope(self) -> Optional[str]:
        return self._n.scope

    @property
    def type(self) -> Optional[str]:
        return self._n.type

    @property
    def client_user_id(self) -> Optional[str]:
        return self._n.client_user_id

    @property
    def jti(self) -> Optional[str]:
        return self._n.jti

    @property
    def auth_time(self) -> Optional[str]:
        return self._n.auth_time

    @property
    def kid(self) -> Optional[str]:
        """The ``kid`` of the key that verified the token."""
        return self._n.kid

    @property
    def exp(self) -> int:
        return self._n.exp

    @property
    def iat(self) -> int:
        return self._n.iat

    @property
    def nbf(self) -> int:
        return self._n.nbf

    @property
    def json(self) -> str:
        """The verified payload, byte for byte as signed (custom claims live here)."""
        return self._n.json

    def _payload(self) -> Dict[str, Any]:
        if self._dict is None:
            import json

            self._dict = json.loads(self._n.json)
        return self._dict

    def to_dict(self) -> Dict[str, Any]:
        """The whole payload, custom claims included (a new dict: changing it changes nothing here)."""
        return dict(self._payload())

    # --- Mapping ---------------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        return self._payload()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._payload())

    def __len__(self) -> int:
        return len(self._payload())

    def __contains__(self, name: object) -> bool:
        return name in self._payload()

    def get(self, name: str, default: Any = None) -> Any:
        return self._payload().get(name, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Claims):
            return self._payload() == other._payload()
        if isinstance(other, _MappingABC):
            return self._payload() == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        # From the registered claims only: equal payloads have equal ones (custom claims may be unhashable).
        return hash((self.sub, self.iss, self.exp, self.iat, self.jti, len(self._payload())))

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_claims_from_payload, (self._n.json, self._n.kid))

    def __repr__(self) -> str:
        return f"Claims(sub={self.sub!r}, iss={self.iss!r}, aud={self.aud!r}, exp={self.exp!r}, kid={self.kid!r})"


def _token_from_json(data: str) -> Token:
    return Token.from_json(data)


class _Payload:
    """An unpickled Claims' payload, read the way the library reads a verified one (same types, same defaults)."""

    __slots__ = ("json", "kid", "_d")

    def __init__(self, json_text: str, kid: Optional[str]) -> None:
        import json

        self.json = json_text
        self.kid = kid
        self._d: Dict[str, Any] = json.loads(json_text)

    def _str(self, name: str) -> Optional[str]:
        v = self._d.get(name)
        return v if isinstance(v, str) else None

    def _int(self, name: str) -> int:
        v = self._d.get(name)
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0

    sub = property(lambda self: self._str("sub"))
    iss = property(lambda self: self._str("iss"))
    identifier = property(lambda self: self._str("identifier"))
    authentication_method = property(lambda self: self._str("authentication_method"))
    scope = property(lambda self: self._str("scope"))
    type = property(lambda self: self._str("type"))
    client_user_id = property(lambda self: self._str("client_user_id"))
    jti = property(lambda self: self._str("jti"))
    auth_time = property(lambda self: self._str("auth_time"))
    exp = property(lambda self: self._int("exp"))
    iat = property(lambda self: self._int("iat"))
    nbf = property(lambda self: self._int("nbf"))

    @property
    def audience(self) -> List[Optional[str]]:
        aud = self._d.get("aud")
        if isinstance(aud, str):
            return [aud]
        return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def _claims_from_payload(json_text: str, kid: Optional[str]) -> Claims:
    return Claims(_Payload(json_text, kid))

__all__ = ["Claims", "Token"]

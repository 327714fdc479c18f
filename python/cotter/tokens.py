"""
@file tokens.py
@brief Token (an oauth_token set) and Claims (the verified payload of a JWT).
"""
from __future__ import annotations

from . import _native
from ._util import redact_jwt, redact_secret

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Union


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

    def __repr__(self) -> str:
        return (
            f"Token(access_token={redact_jwt(self.access_token)!r}, id_token={redact_jwt(self.id_token)!r}, "
            f"refresh_token={redact_secret(self.refresh_token)!r}, token_type={self.token_type!r}, "
            f"auth_method={self.auth_method!r}, expires_in={self.expires_in!r})"
        )


class Claims:
    """The verified claims of a JWT. Exists only for tokens whose signature and claims were verified."""

    __slots__ = ("_n", "_dict")

    def __init__(self, native: "_native.Claims") -> None:
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

    def to_dict(self) -> Dict[str, Any]:
        """The whole payload, custom claims included."""
        if self._dict is None:
            import json

            self._dict = json.loads(self._n.json)
        return dict(self._dict)

    def __getitem__(self, name: str) -> Any:
        return self.to_dict()[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.to_dict().get(name, default)

    def __repr__(self) -> str:
        return f"Claims(sub={self.sub!r}, iss={self.iss!r}, aud={self.aud!r}, exp={self.exp!r}, kid={self.kid!r})"

"""
@file _record.py
@brief A tiny immutable record base for the typed results (User, SocialToken, Identity...). Used instead of
dataclasses because importing dataclasses (and inspect) would double the time of `import cotter`.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Tuple


class Record:
    """Subclasses list their fields in ``_fields``; ``_hidden`` ones are shown as '<redacted>' in the repr,
    ``_uncompared`` ones (raw JSON) are left out of the repr, equality and hash."""

    __slots__ = ()
    _fields: Tuple[str, ...] = ()
    _hidden: Tuple[str, ...] = ()
    _uncompared: Tuple[str, ...] = ()

    def _set(self, **values: Any) -> None:
        for name in self._fields:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _key(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._fields if f not in self._uncompared)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and type(other) is type(self) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__,) + tuple(v if not isinstance(v, (dict, list)) else id(v) for v in self._key()))

    def __repr__(self) -> str:
        parts = []
        for f in self._fields:
            if f in self._uncompared:
                continue
            v = getattr(self, f)
            parts.append(f"{f}={'<redacted>' if f in self._hidden and v is not None else v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


# Readers for the generated record classes (_records.py): the core checked each member's type, so these only walk
# the object and map absence to None / ().


def member(d: Any, *keys: str) -> Any:
    """``d[k1][k2]...``, None where a level is absent, null or not an object."""
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def strings(v: Any) -> Tuple[str, ...]:
    return tuple(x for x in v if isinstance(x, str)) if isinstance(v, list) else ()


def token_or_none(v: Any) -> Any:
    """An ``oauth_token`` object as a Token (parsed by the library), None when absent."""
    if v is None:
        return None
    from .tokens import Token

    return Token.from_dict(v)

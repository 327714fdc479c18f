"""
@file _util.py
@brief Small shared helpers: the "cotter" logger bridge, redaction for reprs, environment defaults.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any, Optional, Tuple


class _Logger:
    """The "cotter" logger, created on first use (importing logging costs several ms of `import cotter`)."""

    def get(self) -> logging.Logger:
        import logging

        return logging.getLogger("cotter")

    def warning(self, message: str) -> None:
        self.get().warning(message)


#: Every message of the native library goes to logging.getLogger("cotter") (levels are the logging module's).
logger = _Logger()


def native_log(level: int, message: str) -> None:
    """Receives the C library's log lines (on the thread that did the work). Messages carry no secrets."""
    log = logger.get()
    if log.isEnabledFor(level):
        log.log(level, message)


def redact_jwt(token: Optional[str]) -> Optional[str]:
    """Shows only the start of a JWT's header (which is public) so reprs never carry a usable token."""
    if token is None:
        return None
    return token[:10] + "…" if len(token) > 10 else "…"


def redact_secret(value: Optional[str]) -> Optional[str]:
    return None if value is None else "<redacted>"


I32 = (-(2**31), 2**31 - 1)
I64 = (-(2**63), 2**63 - 1)
U32 = (0, 2**32 - 1)
U64 = (0, 2**64 - 1)


def c_int(name: str, value: int, bounds: Tuple[int, int]) -> int:
    """``value`` if it is an int that fits the C parameter, else InvalidArgument (never pybind11's TypeError or a
    wrapped-around value). The library checks the meaningful range itself (e.g. leeway 0..300)."""
    if isinstance(value, bool) or not isinstance(value, int) or not bounds[0] <= value <= bounds[1]:
        from ._errors import InvalidArgument

        raise InvalidArgument(f"{name} must be an integer in [{bounds[0]}, {bounds[1]}], not {value!r}")
    return value


def opt_c_int(name: str, value: Optional[int], bounds: Tuple[int, int]) -> Optional[int]:
    """c_int() of an option whose None means "the library's default" (no default is restated in Python)."""
    return None if value is None else c_int(name, value, bounds)


def timeout_ms(timeout: Optional[float]) -> int:
    """A call's ``timeout=`` (seconds, int or float) as the C call option (milliseconds; 0 = the client's own).

    A positive number of seconds, at most one day (the C range); anything else is InvalidArgument."""
    if timeout is None:
        return 0
    import math

    if (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout)
            or not 0 < timeout <= 86400):
        from ._errors import InvalidArgument

        raise InvalidArgument(f"timeout must be a number of seconds in (0, 86400], not {timeout!r}")
    return max(1, math.ceil(timeout * 1000))


def _seconds(name: str, value: float) -> float:
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        from ._errors import InvalidArgument

        raise InvalidArgument(f"{name} must be a number of seconds, not {value!r}")
    return value


def duration_ms(name: str, seconds: Optional[float], old_name: str, old_ms: Optional[int]) -> Optional[int]:
    """An option given in seconds (``name``, int or float) or through its deprecated millisecond alias
    (``old_name``), as the C option (milliseconds, rounded up); None (neither given) means the library's default.
    The library checks the range."""
    if old_ms is not None:
        deprecated(old_name, f"{name} (seconds)")
        if seconds is not None:
            from ._errors import InvalidArgument

            raise InvalidArgument(f"give {name} or {old_name}, not both")
        return c_int(old_name, old_ms, I64)
    if seconds is None:
        return None
    import math

    ms = math.ceil(_seconds(name, seconds) * 1000)
    if not I64[0] <= ms <= I64[1]:
        from ._errors import InvalidArgument

        raise InvalidArgument(f"{name} is out of range: {seconds!r} seconds")
    return ms


def whole_seconds(name: str, seconds: Optional[float]) -> Optional[int]:
    """A leeway or margin in seconds (int or float, rounded up to whole seconds as the library counts them); None
    means the library's default."""
    if seconds is None:
        return None
    import math

    return c_int(name, math.ceil(_seconds(name, seconds)) if isinstance(seconds, float) else seconds, I64)


def deprecated(old: str, new: str) -> None:
    """A DeprecationWarning pointing at the user's line (the first frame outside this package)."""
    import sys
    import warnings

    here = os.path.dirname(__file__)
    level, frame = 2, sys._getframe(1)  # stacklevel 2 = the caller of this function
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == here:
        level, frame = level + 1, frame.f_back  # type: ignore[assignment]
    warnings.warn(f"{old} is deprecated and will be removed in the next release: use {new}", DeprecationWarning,
                  stacklevel=level)


class _ClosedNative:
    """Stands in for the native object of a closed Client, Verifier or TokenSession: every use raises Closed."""

    __slots__ = ("_what",)

    def __init__(self, what: str) -> None:
        self._what = what

    def __getattr__(self, name: str) -> Any:
        from ._errors import Closed

        raise Closed(f"this {self._what} is closed")


def closed_native(what: str) -> Any:
    return _ClosedNative(what)

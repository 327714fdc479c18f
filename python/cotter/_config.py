"""
@file _config.py
@brief The ``cotter`` command's remembered settings: ``$XDG_CONFIG_HOME/cotter/config.json`` (default
``~/.config``), one set of keys per named profile. Stdlib only.

The file is ``{"profiles": {"default": {"base_url": ..., "login_url": ..., "api_key_id": ...}}}``. It never
holds a secret: ``api_secret_key_file`` is the *path* of a file holding the secret. Written atomically (a
temporary file in the same directory, fsync, rename) with mode 0600, its directory created 0700.

Precedence, highest first: a command-line flag, the environment (``$COTTER_*``, ``ENVIRONMENT``), the profile,
the built-in default: ``setting`` is the one place that applies it. The token file stays
``$XDG_CONFIG_HOME/cotter/<api_key_id>.json``.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from typing import Callable, Dict, Mapping, Optional

__all__ = ["KEYS", "ENVIRONMENT", "ConfigError", "ConfigKeyError", "config_dir", "config_path", "load_profile",
           "load_all", "save_profile", "setting", "check_key", "check_profile_name"]

#: The settings a flag (``--base-url`` for base_url) and an environment variable may give besides the profile.
ENVIRONMENT: Dict[str, str] = {
    "base_url": "COTTER_BASE_URL",
    "login_url": "COTTER_LOGIN_URL",
    "api_key_id": "COTTER_API_KEY_ID",
    "ca_file": "COTTER_CA_FILE",
}

_WHAT: Dict[str, str] = {
    "base_url": "API base URL",
    "login_url": "hosted login page",
    "api_key_id": "API key id; also verify's default audience",
    "api_secret_key_file": "path of a file holding the API secret key (never the secret itself)",
    "ca_file": "PEM CA bundle for TLS",
    "jwks_url": "verify's default key set (default: <base_url>/token/jwks)",
}

#: The keys a profile may hold, and what each is for (`cotter config list` shows them in this order).
KEYS: Dict[str, str] = {
    key: f"{what} (flag --{key.replace('_', '-')}, env ${ENVIRONMENT[key]})" if key in ENVIRONMENT else what
    for key, what in _WHAT.items()
}


def setting(key: str, flag: Optional[str], profile: Callable[[], Mapping[str, str]]) -> Optional[str]:
    """The value of ``key``: ``flag`` (the command line's), else its environment variable (``ENVIRONMENT``), else
    the profile's (``profile()`` is called only then: a flag or variable works even when the file cannot be
    read). An empty value counts as unset; None when nothing gives one."""
    check_key(key)
    variable = ENVIRONMENT.get(key)
    value = flag or (os.environ.get(variable) if variable else None) or profile().get(key)
    return value or None

#: The profile used without --profile or $COTTER_PROFILE.
DEFAULT_PROFILE = "default"

#: A config file larger than this is refused (it holds a few short strings).
MAX_CONFIG_BYTES = 64 * 1024

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ConfigError(Exception):
    """The config file cannot be read or written (the CLI: exit 1, COTTER_ESTORAGE)."""


class ConfigKeyError(ConfigError):
    """A key or profile name that is not valid (the CLI: a usage error, exit 2)."""


def config_dir() -> str:
    """$XDG_CONFIG_HOME/cotter (an empty or relative $XDG_CONFIG_HOME is ignored, as the XDG spec says)."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "cotter")


def config_path() -> str:
    return os.path.join(config_dir(), "config.json")


def check_key(key: str) -> None:
    if key not in KEYS:
        hint = " (the secret is never stored: set api_secret_key_file to a file holding it)" \
            if key in ("api_secret_key", "secret") else ""
        raise ConfigKeyError(f"unknown key {key!r}{hint}; keys: {', '.join(KEYS)}")


def check_profile_name(name: str) -> None:
    if not _PROFILE_NAME.match(name):
        raise ConfigKeyError(f"invalid profile name {name!r}: letters, digits, '.', '_', '-' (at most 64)")


def load_all() -> Dict[str, Dict[str, str]]:
    """Every profile; {} when there is no config file yet."""
    path = config_path()
    try:
        # O_NOFOLLOW | O_NONBLOCK: a symlink or FIFO planted at the path is an error, never followed or waited on.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        if not _is_regular(f.fileno()):
            raise ConfigError(f"cannot read {path}: not a regular file")
        raw = f.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); fix or delete it") from None
    profiles = doc.get("profiles") if isinstance(doc, dict) else None
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path} has no \"profiles\" object; fix or delete it")
    out: Dict[str, Dict[str, str]] = {}
    for name, values in profiles.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: profile {name!r} is not an object")
        # Unknown keys (a newer version's) are kept as they are; only string values are used.
        out[name] = {k: v for k, v in values.items() if isinstance(v, str)}
    return out


def load_profile(name: str) -> Dict[str, str]:
    check_profile_name(name)
    return load_all().get(name, {})


def save_profile(name: str, values: Dict[str, Optional[str]]) -> str:
    """Merges ``values`` into profile ``name`` (None removes a key) and writes the file atomically, 0600.
    Returns the file's path."""
    check_profile_name(name)
    for key in values:
        check_key(key)
    profiles = load_all()
    profile = dict(profiles.get(name, {}))
    for key, value in values.items():
        if value is None:
            profile.pop(key, None)
        else:
            profile[key] = value
    if profile:
        profiles[name] = profile
    else:
        profiles.pop(name, None)
    _write_atomic(config_path(), json.dumps({"profiles": profiles}, indent=2, sort_keys=True) + "\n")
    return config_path()


def _is_regular(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


def _write_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config.", suffix=".tmp", dir=directory)  # created 0600
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ConfigError(f"cannot write {path}: {e.strerror}") from None
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass  # the rename happened; a directory fsync failure only weakens crash durability

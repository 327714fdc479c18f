"""
@file cli.py
@brief The ``cotter`` command: login, token, verify, whoami, logout, social-tokens, users.

Results go to stdout (``--json`` for machine-readable output); status and progress go to stderr.
Exit codes: 0 success; 1 rejected or failed (``error: <CODE>: <message>`` on stderr, CODE the stable
C ABI name such as COTTER_EJWT_SIGNATURE); 2 usage error.
Configuration: flags, else $COTTER_BASE_URL, $COTTER_API_KEY_ID, $COTTER_API_SECRET_KEY, $COTTER_LOGIN_URL,
$COTTER_CA_FILE, else the profile (``--profile``, $COTTER_PROFILE, "default") in
$XDG_CONFIG_HOME/cotter/config.json, which `cotter login` fills and `cotter config` edits (``_config.py``). The
secret is never stored: give it with --api-secret-key-file PATH (- = stdin), the environment, or the profile's
api_secret_key_file; --api-secret-key works but leaves it in /proc/PID/cmdline, and prints a warning saying so.
Tokens are stored 0600 in $XDG_CONFIG_HOME/cotter/<api_key_id>.json (or --token-file).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional, Union

from . import _config, _native

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

#: `cotter verify` reads at most this much from stdin (the verifier refuses tokens over 16 KiB anyway) ...
MAX_TOKEN_BYTES = 64 * 1024
#: ... and from --jwks-file (the cap a remote key set has by default).
MAX_JWKS_BYTES = 1024 * 1024
#: The verifier's leeway range (capi/abi.json, leeway_seconds): beyond it, a usage error before any work.
MAX_LEEWAY_SECONDS = 300


class UsageError(Exception):
    """A command-line mistake the parser could not catch (exit 2)."""


def _int_in(lo: int, hi: int) -> Any:
    """An argparse type: an integer in [lo, hi] (else a usage error, exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is not in [{lo}, {hi}]")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 86400]")
    return value


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value if value else None


def _eprint(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _out(args: argparse.Namespace, human: str, data: Any) -> None:
    """Prints a result: JSON with --json, else the human form."""
    if args.json:
        print(json.dumps(data, indent=None, sort_keys=True))
    else:
        print(human)


def _profile_name(args: argparse.Namespace) -> str:
    name: str = getattr(args, "profile", None) or _env("COTTER_PROFILE") or _config.DEFAULT_PROFILE
    return name


def _profile(args: argparse.Namespace) -> Dict[str, str]:
    """The selected profile's settings, read once per command."""
    cached: Optional[Dict[str, str]] = getattr(args, "_profile_values", None)
    if cached is None:
        cached = _config.load_profile(_profile_name(args))
        args._profile_values = cached
    return cached


def _setting(args: argparse.Namespace, key: str) -> Optional[str]:
    """The flag (attribute ``key``), else the environment, else the profile (``_config.setting``'s order)."""
    return _config.setting(key, getattr(args, key, None), lambda: _profile(args))


def _api_key_id(args: argparse.Namespace) -> str:
    key = _setting(args, "api_key_id")
    if not key:
        raise UsageError("an API key id is needed: --api-key-id, COTTER_API_KEY_ID, or `cotter login` once")
    return key


#: The longest API secret accepted from --api-secret-key-file (the library's own limit).
MAX_SECRET_BYTES = 4096

#: Printed when the secret is given on the command line (one line, stderr).
SECRET_ON_COMMAND_LINE_WARNING = (
    "cotter: warning: --api-secret-key puts the secret in the process list (/proc/PID/cmdline, ps), readable by "
    "other local users; use --api-secret-key-file PATH (or - for stdin) or $COTTER_API_SECRET_KEY"
)


def _read_secret_file(path: str, source: str = "--api-secret-key-file") -> str:
    """The secret in ``path`` (``-`` = stdin), without its trailing newline. Reads at most MAX_SECRET_BYTES + 1
    bytes; a FIFO or process substitution (``<(pass show cotter)``) works, it blocks until its writer writes."""
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_SECRET_BYTES + 1)
        else:
            with open(path, "rb") as f:
                raw = f.read(MAX_SECRET_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read {source}: {e.strerror}") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise UsageError(f"{source} holds more than {MAX_SECRET_BYTES} bytes")
    try:
        secret = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not UTF-8 text") from None
    if not secret:
        raise UsageError(f"{source} is empty")
    return secret


def _api_secret_key(args: argparse.Namespace, needed: bool) -> Optional[str]:
    """--api-secret-key-file, else --api-secret-key, else $COTTER_API_SECRET_KEY, else (only when the command
    ``needed`` it: `cotter token` must not fail on a moved secret file) the profile's api_secret_key_file."""
    path: Optional[str] = getattr(args, "api_secret_key_file", None)
    flag: Optional[str] = getattr(args, "api_secret_key", None)
    if path is not None and flag is not None:
        raise UsageError("give --api-secret-key-file or --api-secret-key, not both")
    if path is not None:
        return _read_secret_file(path)
    if flag or _env("COTTER_API_SECRET_KEY"):
        return flag or _env("COTTER_API_SECRET_KEY")
    stored = _profile(args).get("api_secret_key_file") if needed else None
    return _read_secret_file(stored, f"the profile's api_secret_key_file {stored}") if stored else None


def _client(args: argparse.Namespace, *, secret: bool = False) -> Any:
    from .client import Client

    api_secret_key = _api_secret_key(args, needed=secret)
    if secret and not api_secret_key:
        raise UsageError("this command needs the API secret key: --api-secret-key-file, COTTER_API_SECRET_KEY, "
                         "`cotter config set api_secret_key_file PATH` or --api-secret-key")
    return Client(
        _api_key_id(args),
        api_secret_key,
        base_url=_setting(args, "base_url"),
        ca_file=_setting(args, "ca_file"),
    )


def _default_token_file(api_key_id: str) -> str:
    """$XDG_CONFIG_HOME/cotter/<api_key_id>.json (XDG default ~/.config)."""
    return os.path.join(_config.config_dir(), f"{api_key_id}.json")


def _token_file(args: argparse.Namespace) -> str:
    path: str = args.token_file or _default_token_file(_api_key_id(args))
    return path


def _session(args: argparse.Namespace, client: Any) -> Any:
    from .errors import RefreshTokenNotExistError
    from .session import TokenSession

    path = _token_file(args)
    # lexists: a symlink (dangling or not) is the library's clear COTTER_ESTORAGE, not "not logged in".
    if not os.path.lexists(path):
        raise RefreshTokenNotExistError(f"not logged in (no token file {path}): run `cotter login`",
                                        code="COTTER_EREAUTH")
    return TokenSession(client, token_file=path)


# --- commands ---------------------------------------------------------------------------------------


def _cmd_login(args: argparse.Namespace) -> int:
    from .login import login, open_in_browser
    from .session import TokenSession

    client = _client(args)
    path = _token_file(args)
    # Before the user spends time on the page: the token file's directory must exist (0700 when we create it).
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as e:
        from ._errors import StorageError

        raise StorageError(f"cannot create {directory}: {e.strerror}") from None

    def show(url: str) -> None:
        if args.no_browser:
            _eprint("Open this link to log in:")
            # stdout, so a script can pick it up; with --json stdout holds only the result, so stderr.
            print(url, flush=True, file=sys.stderr if args.json else sys.stdout)
        else:
            _eprint(f"Opening the login page in your browser (if it does not open, visit {url})")
            open_in_browser(url)
        _eprint(f"Waiting for the login to finish in the browser (up to {args.timeout:g} s; Ctrl-C to cancel)...")

    identity = login(
        client,
        identifier_type="PHONE" if args.phone else "EMAIL",
        auth_method="MAGIC_LINK" if args.magic_link else "OTP",
        port=args.port,
        identifier=args.identifier,
        login_page_url=_setting(args, "login_url"),
        open_url=show,
        timeout=args.timeout,
    )
    if identity.token is None:
        _eprint("error: COTTER_EPROTOCOL: the server returned no oauth_token")
        return EXIT_FAILED
    TokenSession(client, token_file=path, token=identity.token)  # writes the file (0600, atomic)
    _eprint(f"Logged in as {identity.identifier}; tokens stored in {path}")
    config_file = _remember_login(args)
    _eprint(f"Settings saved to profile {_profile_name(args)!r} in {config_file}")
    _out(args, identity.identifier or "",
         {"identifier": identity.identifier, "identifier_type": identity.identifier_type,
          "user_id": identity.user_id, "token_file": path})
    return EXIT_OK


def _remember_login(args: argparse.Namespace) -> str:
    """Stores what this login used (never the secret; its file's path when one was given) in the profile, so that
    later commands need no flag or environment variable."""
    secret_file: Optional[str] = getattr(args, "api_secret_key_file", None)
    ca_file = _setting(args, "ca_file")
    values: Dict[str, Optional[str]] = {
        "api_key_id": _api_key_id(args),
        "base_url": _setting(args, "base_url"),
        "login_url": _setting(args, "login_url"),
        "ca_file": os.path.abspath(ca_file) if ca_file else None,
        # Only a regular file is worth remembering: not stdin (-), a FIFO or <(pass show cotter)'s /dev/fd/N.
        "api_secret_key_file": os.path.abspath(secret_file) if secret_file and os.path.isfile(secret_file) else None,
    }
    return _config.save_profile(_profile_name(args), {k: v for k, v in values.items() if v is not None})


def _cmd_token(args: argparse.Namespace) -> int:
    client = _client(args)
    session = _session(args, client)
    token = session.refresh() if args.force_refresh else session.token()
    if args.force_refresh:
        _eprint("Refreshed the tokens")
    access = token.access_token or ""
    _out(args, access, {"access_token": access, "expires_at": token.expires_at, "token_type": token.token_type})
    return EXIT_OK


def _claims_dict(claims: Any) -> Dict[str, Any]:
    d: Dict[str, Any] = claims.to_dict()
    return d


def _cmd_verify(args: argparse.Namespace) -> int:
    from .verifier import Verifier

    from ._errors import JWKSInvalid, JWTMalformed

    audience = args.audience or _setting(args, "api_key_id")
    if not audience:
        raise UsageError("verify needs --audience (or an API key id: COTTER_API_KEY_ID, or `cotter login` once)")
    jwks_url: Optional[str] = None
    if not args.jwks_file:
        base_url = _setting(args, "base_url")
        # The key set's URL of a base URL is the library's rule (cotter_jwks_url), not restated here.
        jwks_url = args.jwks_url or _profile(args).get("jwks_url") or (_native.jwks_url(base_url) if base_url else None)
        if not jwks_url:
            raise UsageError("verify needs --jwks-url or --jwks-file (or a base URL: COTTER_BASE_URL, or "
                             "`cotter login` once)")
    token: Union[str, bytes] = args.token
    if token == "-":
        # Bounded reads: `cotter verify - < /dev/zero` must fail, not eat the memory.
        data = sys.stdin.buffer.read(MAX_TOKEN_BYTES + 1)
        if len(data) > MAX_TOKEN_BYTES:
            raise JWTMalformed(f"the token on stdin is larger than {MAX_TOKEN_BYTES} bytes")
        token = data.strip()
    if args.jwks_file:
        try:
            with open(args.jwks_file, "rb") as f:
                raw = f.read(MAX_JWKS_BYTES + 1)
        except OSError as e:
            raise UsageError(f"cannot read --jwks-file: {e.strerror}")
        if len(raw) > MAX_JWKS_BYTES:
            raise JWKSInvalid(f"--jwks-file is larger than {MAX_JWKS_BYTES} bytes")
        try:
            jwks = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise JWKSInvalid("--jwks-file is not UTF-8 text") from None
        verifier = Verifier(audience, jwks=jwks, issuer=args.issuer, leeway=args.leeway, now=args.now)
    else:
        verifier = Verifier(audience, jwks_url=jwks_url, issuer=args.issuer, leeway=args.leeway,
                            now=args.now, ca_file=_setting(args, "ca_file"))
    claims = verifier.verify(token)
    # The contract: exactly one JSON object with the verified claims on stdout.
    print(claims.json if not args.pretty else json.dumps(_claims_dict(claims), indent=2))
    return EXIT_OK


def _cmd_whoami(args: argparse.Namespace) -> int:
    client = _client(args)
    session = _session(args, client)
    claims = client.verifier().verify(session.access_token())
    data = _claims_dict(claims)
    _out(args, f"{claims.identifier or '?'} (user {claims.sub}, {claims.authentication_method})", data)
    return EXIT_OK


def _cmd_logout(args: argparse.Namespace) -> int:
    from .session import TokenSession

    client = _client(args)
    path = _token_file(args)
    if not os.path.lexists(path):
        _remove_lock_file(path)
        _eprint("Not logged in")
        if args.json:
            _out(args, "", {"logged_out": False, "token_file": path})
        return EXIT_OK
    TokenSession(client, token_file=path).logout()
    _remove_lock_file(path)
    _eprint(f"Logged out; removed {path}" if not os.path.exists(path) else "Logged out")
    if args.json:
        _out(args, "", {"logged_out": True, "token_file": path})
    return EXIT_OK


def _remove_lock_file(token_file: str) -> None:
    """The session's `<token file>.lock` (its flock) goes with the tokens: logout leaves nothing behind. unlink never
    follows a symlink, so a planted link is removed, not its target."""
    try:
        os.unlink(token_file + ".lock")
    except FileNotFoundError:
        pass
    except OSError as e:
        from ._errors import StorageError

        raise StorageError(f"cannot remove {token_file}.lock: {e.strerror}") from None


def _social_dict(t: Any) -> Dict[str, Any]:
    return {"provider": t.provider, "provider_user_id": t.provider_user_id,
            "provider_username": t.provider_username, "user_id": t.user_id, "scope": t.scope,
            "token_type": t.token_type, "access_token": t.access_token}


def _logged_in_user_id(args: argparse.Namespace, client: Any) -> str:
    """The `sub` of the stored access token, verified (the default USER_ID of `social-tokens`)."""
    claims = client.verifier().verify(_session(args, client).access_token())
    sub: str = claims.sub
    return sub


def _cmd_social_tokens(args: argparse.Namespace) -> int:
    client = _client(args, secret=True)
    if args.user_id is None:
        args.user_id = _logged_in_user_id(args, client)
    if args.action == "list":
        tokens = client.social_tokens(args.user_id)
        lines = [f"{t.provider}\t{t.provider_username or t.provider_user_id}\tscope={t.scope}" for t in tokens]
        _out(args, "\n".join(lines) if lines else "(no provider tokens)", [_social_dict(t) for t in tokens])
    elif args.action == "get":
        t = client.social_token(args.provider, args.user_id)
        _out(args, t.access_token or "", _social_dict(t))
    else:
        client.delete_social_token(args.provider, args.user_id)
        _eprint(f"Deleted the {args.provider} token of {args.user_id}")
        _out(args, "deleted", {"deleted": True})
    return EXIT_OK


def _cmd_users(args: argparse.Namespace) -> int:
    if args.action == "create":
        client = _client(args)
        users = [client.create_user(args.identifier)]
    elif args.action == "get":
        client = _client(args)
        if (args.user_id is None) == (args.identifier is None):
            raise UsageError("users get needs exactly one of USER_ID or --identifier")
        users = [client.get_user(args.user_id) if args.user_id else client.get_user_by_identifier(args.identifier)]
    else:
        client = _client(args, secret=True)
        users = client.list_users(args.page)
    if args.action == "list":
        _out(args, "\n".join(f"{u.id}\t{u.identifier}\t{u.created_at}" for u in users) or "(no users)",
             [u.raw for u in users])
    else:
        u = users[0]
        _out(args, f"{u.id}\t{u.identifier}", u.raw)
    return EXIT_OK


def _cmd_config(args: argparse.Namespace) -> int:
    name = _profile_name(args)
    if args.action == "list":
        values = _config.load_profile(name)
        _eprint(f"Profile {name!r} in {_config.config_path()}")
        _out(args, "\n".join(f"{k}={values[k]}" for k in sorted(values)), values)
    elif args.action == "get":
        _config.check_key(args.key)
        value = _config.load_profile(name).get(args.key)
        if value is None:
            from ._errors import NotFound

            raise NotFound(f"{args.key} is not set in profile {name!r}", code="COTTER_ENOTFOUND")
        _out(args, value, {args.key: value})
    elif args.action == "set":
        _config.check_key(args.key)
        value = args.value
        if args.key.endswith("_url") and not value.startswith(("https://", "http://")):
            raise UsageError(f"{args.key} must be an http(s) URL")
        if args.key.endswith("_file"):
            value = os.path.abspath(os.path.expanduser(value))
        _config.save_profile(name, {args.key: value})
        if args.json:
            _out(args, "", _config.load_profile(name))
    else:
        _config.check_key(args.key)
        _config.save_profile(name, {args.key: None})
        if args.json:
            _out(args, "", _config.load_profile(name))
    return EXIT_OK


# --- parser -----------------------------------------------------------------------------------------


def _common_options(nested: bool) -> argparse.ArgumentParser:
    """Options every command takes. A nested sub-command's copy defaults to SUPPRESS so that a value given
    before it (``cotter users --json list``) is not reset by the inner parser."""
    d: Dict[str, Any] = {"default": argparse.SUPPRESS} if nested else {}
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--base-url", help="API base URL (default $COTTER_BASE_URL, else Cotter's)", **d)
    common.add_argument("--api-key-id", help="API key id (default $COTTER_API_KEY_ID)", **d)
    common.add_argument("--api-secret-key-file", metavar="PATH",
                        help="read the API secret key from PATH (- = stdin); never printed", **d)
    common.add_argument("--api-secret-key", help="API secret key (default $COTTER_API_SECRET_KEY); visible to other "
                        "local users in the process list, prefer --api-secret-key-file", **d)
    common.add_argument("--ca-file", help="PEM CA bundle for TLS (default $COTTER_CA_FILE, else the system store)", **d)
    common.add_argument("--token-file", help="token file (default $XDG_CONFIG_HOME/cotter/<api_key_id>.json)", **d)
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout", **d)
    _profile_option(common)
    return common


def _profile_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS everywhere below the top level: `cotter --profile work token` is not reset by the sub-parser.
    parser.add_argument("--profile", default=argparse.SUPPRESS,
                        help="the settings profile (default $COTTER_PROFILE, else 'default')")


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(nested=False)
    nested = _common_options(nested=True)

    p = argparse.ArgumentParser(
        prog="cotter",
        description="Cotter passwordless login from the terminal.",
        epilog="Exit codes: 0 ok, 1 rejected or failed, 2 usage.",
    )
    from . import _native

    p.add_argument("--version", action="version", version=f"cotter {_native.version_string()}")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="show the library's log lines on stderr (-v: info and warnings, -vv: debug)")
    p.add_argument("--profile", default=None, help="the settings profile (default $COTTER_PROFILE, else 'default')")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("login", parents=[common], help="log in through the hosted page; store the tokens")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--email", action="store_true", help="log in with an email address (default)")
    g.add_argument("--phone", action="store_true", help="log in with a phone number")
    g2 = s.add_mutually_exclusive_group()
    g2.add_argument("--otp", action="store_true", help="one-time code (default)")
    g2.add_argument("--magic-link", action="store_true", help="magic link")
    s.add_argument("--identifier", help="prefill the email or phone on the login page")
    s.add_argument("--port", type=_int_in(0, 65535), default=0, help="local port for the redirect (default: any free port)")
    s.add_argument("--login-url", help="hosted login page (default $COTTER_LOGIN_URL, else Cotter's)")
    s.add_argument("--no-browser", action="store_true", help="print the login URL instead of opening a browser")
    s.add_argument("--timeout", type=_seconds, default=300.0, help="seconds to wait for the login (default 300)")
    s.set_defaults(func=_cmd_login)

    s = sub.add_parser("token", parents=[common], help="print a valid access token (refreshing when needed)")
    s.add_argument("--force-refresh", action="store_true", help="refresh now, whatever the expiry")
    s.set_defaults(func=_cmd_token)

    s = sub.add_parser("verify", parents=[common], help="verify a JWT; print its claims as JSON")
    s.add_argument("token", metavar="TOKEN", help="the JWT, or - to read it from stdin")
    src = s.add_mutually_exclusive_group()
    src.add_argument("--jwks-file", help="a JWKS document")
    src.add_argument("--jwks-url", help="a remote JWKS (https, or http to a loopback host; default: the profile's "
                     "jwks_url, else <base_url>/token/jwks)")
    s.add_argument("--audience", help="expected aud (default: the API key id of the environment or profile)")
    s.add_argument("--issuer", help="expected iss (default https://www.cotter.app)")
    s.add_argument("--leeway", type=_int_in(0, MAX_LEEWAY_SECONDS), default=5,
                   help=f"clock skew in seconds, 0..{MAX_LEEWAY_SECONDS} (default 5)")
    s.add_argument("--now", type=_int_in(-(2**63), 2**63 - 1), help="verify as if the time were UNIX_SECONDS")
    s.add_argument("--pretty", action="store_true", help="indent the claims")
    s.set_defaults(func=_cmd_verify)

    s = sub.add_parser("whoami", parents=[common], help="show the logged-in user (verified access token)")
    s.set_defaults(func=_cmd_whoami)

    s = sub.add_parser("logout", parents=[common], help="end the session and delete the stored tokens")
    s.set_defaults(func=_cmd_logout)

    s = sub.add_parser("social-tokens", parents=[common], help="social-login provider tokens (needs the secret)")
    ss = s.add_subparsers(dest="action", metavar="ACTION")
    ss.required = True
    user_help = "the user (default: the logged-in user)"
    a = ss.add_parser("list", parents=[nested], help="list a user's provider tokens")
    a.add_argument("user_id", metavar="USER_ID", nargs="?", help=user_help)
    a = ss.add_parser("get", parents=[nested], help="print a user's token from one provider")
    a.add_argument("provider", metavar="PROVIDER")
    a.add_argument("user_id", metavar="USER_ID", nargs="?", help=user_help)
    a = ss.add_parser("delete", parents=[nested], help="delete a user's token from one provider")
    a.add_argument("provider", metavar="PROVIDER")
    a.add_argument("user_id", metavar="USER_ID", nargs="?", help=user_help)
    s.set_defaults(func=_cmd_social_tokens)

    def config_options(nested: bool) -> argparse.ArgumentParser:
        d: Dict[str, Any] = {"default": argparse.SUPPRESS} if nested else {}
        opts = argparse.ArgumentParser(add_help=False)
        opts.add_argument("--json", action="store_true", help="machine-readable output on stdout", **d)
        _profile_option(opts)
        return opts

    config_opts = config_options(nested=True)
    s = sub.add_parser("config", parents=[config_options(nested=False)],
                       help="show or change the remembered settings (no secrets)",
                       description=f"Keys: {', '.join(_config.KEYS)}. Stored in $XDG_CONFIG_HOME/cotter/config.json.")
    cs = s.add_subparsers(dest="action", metavar="ACTION")
    cs.required = True
    cs.add_parser("list", parents=[config_opts], help="print the profile's settings")
    a = cs.add_parser("get", parents=[config_opts], help="print one setting")
    a.add_argument("key", metavar="KEY")
    a = cs.add_parser("set", parents=[config_opts], help="change one setting")
    a.add_argument("key", metavar="KEY")
    a.add_argument("value", metavar="VALUE")
    a = cs.add_parser("unset", parents=[config_opts], help="remove one setting")
    a.add_argument("key", metavar="KEY")
    s.set_defaults(func=_cmd_config)

    s = sub.add_parser("users", parents=[common], help="create, get and list users")
    us = s.add_subparsers(dest="action", metavar="ACTION")
    us.required = True
    a = us.add_parser("create", parents=[nested], help="create (or find) the user with this email or phone")
    a.add_argument("identifier", metavar="IDENTIFIER")
    a = us.add_parser("get", parents=[nested], help="get a user by id or --identifier")
    a.add_argument("user_id", metavar="USER_ID", nargs="?")
    a.add_argument("--identifier", help="look the user up by email or phone")
    a = us.add_parser("list", parents=[nested], help="list users, 50 per page, newest first (needs the secret)")
    a.add_argument("--page", type=_int_in(0, 2**32 - 1), default=0)
    s.set_defaults(func=_cmd_users)
    return p


class _LibraryLog:
    """The library's log lines ("cotter" logger) during one command: silent by default, so that stderr holds only
    the CLI's own status lines and the one `error: CODE: message` line scripts rely on; shown with -v (warnings
    and info) or -vv (debug). The logger's previous state is restored afterwards (main() may run in-process)."""

    def __init__(self, verbosity: int) -> None:
        import logging

        self.log = logging.getLogger("cotter")
        self.saved = (self.log.propagate, self.log.level, list(self.log.handlers))
        if verbosity <= 0:
            handler: logging.Handler = logging.NullHandler()
        else:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("cotter: %(levelname)s: %(message)s"))
            self.log.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
        self.log.handlers = [handler]
        self.log.propagate = False

    def restore(self) -> None:
        self.log.propagate, level, self.log.handlers = self.saved
        self.log.setLevel(level)


# Options whose value is an opaque string that may begin with '-' (argparse would take "-x..." for an option).
_OPAQUE_VALUE_OPTIONS = ("--api-secret-key",)


def _attach_dash_values(argv: List[str]) -> List[str]:
    """`--api-secret-key -abc` → `--api-secret-key=-abc`, so that a secret starting with '-' works without '='.

    Only a value that is not itself a long option is attached: `--api-secret-key --json` stays a usage error.
    """
    out: List[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out.extend(argv[i:])
            break
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if a in _OPAQUE_VALUE_OPTIONS and nxt is not None and nxt.startswith("-") and not nxt.startswith("--"):
            out.append(f"{a}={nxt}")
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def main(argv: Optional[List[str]] = None) -> int:
    from ._errors import CotterError

    parser = build_parser()
    args = parser.parse_args(_attach_dash_values(sys.argv[1:] if argv is None else argv))
    if getattr(args, "api_secret_key", None) is not None:
        _eprint(SECRET_ON_COMMAND_LINE_WARNING)
    library_log = _LibraryLog(args.verbose)
    try:
        code: int = args.func(args)
        return code
    except (UsageError, _config.ConfigKeyError) as e:
        parser.print_usage(sys.stderr)
        _eprint(f"cotter: error: {e}")
        return EXIT_USAGE
    except _config.ConfigError as e:
        _eprint(f"error: COTTER_ESTORAGE: {e}")
        return EXIT_FAILED
    except CotterError as e:
        _eprint(f"error: {e.code}: {e.message}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _eprint("interrupted")
        return 130
    finally:
        library_log.restore()


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_parser", "main"]

"""
@file login.py
@brief Logging a user in from a script or terminal: PKCE, the hosted login page, and the local redirect.

Flow (spec §2.9): make a PKCE verifier/challenge and a state; open the hosted page in a browser with
redirect_url = a local HTTP server on 127.0.0.1 (connections served concurrently, each with a socket timeout,
under one overall deadline); receive the redirect; check `state`; exchange the code with get_identity.
"""
from __future__ import annotations

from . import _native
from ._record import Record
from ._util import logger
from .client import Client, Identity

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Tuple

SUCCESS_PAGE = (
    "<!doctype html><html><head><meta charset=utf-8><title>Logged in</title></head>"
    '<body style="font-family:sans-serif;text-align:center;margin-top:4em">'
    "<h1 id=cotter-success>You are logged in</h1><p>You can close this window and return to the terminal.</p>"
    "</body></html>"
)
FAILURE_PAGE = (
    "<!doctype html><html><head><meta charset=utf-8><title>Login failed</title></head>"
    '<body style="font-family:sans-serif;text-align:center;margin-top:4em">'
    "<h1 id=cotter-failure>Login failed</h1><p>Return to the terminal for details.</p></body></html>"
)


class Pkce(Record):
    """A PKCE verifier, its S256 challenge, and a login state. The repr hides the verifier."""

    __slots__ = _fields = ("verifier", "challenge", "state")
    _hidden = ("verifier",)
    verifier: str
    challenge: str
    state: str

    def __init__(self, *, verifier: str, challenge: str, state: str) -> None:
        self._set(verifier=verifier, challenge=challenge, state=state)

    @classmethod
    def generate(cls) -> "Pkce":
        verifier, challenge, state = _native.pkce_new()
        return cls(verifier=verifier, challenge=challenge, state=state)



def challenge_of(verifier: str) -> str:
    """base64url_nopad(SHA-256(verifier))."""
    return _native.pkce_challenge_of(verifier)


def login_url(
    api_key_id: str,
    redirect_url: str,
    state: str,
    code_challenge: str,
    *,
    identifier_type: str = "EMAIL",
    auth_method: Optional[str] = "OTP",
    login_url: Optional[str] = None,
    identifier: Optional[str] = None,
    cotter_user_id: Optional[str] = None,
) -> str:
    """The hosted login page URL; ``login_url`` defaults to $COTTER_LOGIN_URL, else Cotter's page (the library
    reads the variable: ``from_environment``)."""
    return _native.login_url(
        login_url=login_url,
        api_key_id=api_key_id,
        redirect_url=redirect_url,
        state=state,
        code_challenge=code_challenge,
        identifier_type=identifier_type,
        auth_method=auth_method,
        input=identifier,
        cotter_user_id=cotter_user_id,
        from_environment=True,
    )


def parse_redirect(query: str, expected_state: str) -> Tuple[str, int]:
    """Checks a redirect's query string against the state; returns (code, challenge_id).
    Raises StateMismatch for a wrong state or an ``error`` redirect, ProtocolError for missing fields."""
    code, challenge_id = _native.login_redirect_parse(query, expected_state)
    return code, int(challenge_id)


class RedirectReceiver:
    """A local HTTP server on 127.0.0.1 that waits for the login redirect and answers it with a page.

    Requests without ``code``/``error`` in the query (e.g. /favicon.ico) get 404 and are ignored. With
    ``expected_state``, a redirect carrying another ``state`` (forged by another page, or left over from an
    earlier attempt) gets 400 and the failure page, and the receiver keeps waiting for the real one.

    Connections are served concurrently (one thread each, at most ``MAX_CONNECTIONS`` at once), and each one gets
    ``CONNECTION_TIMEOUT`` seconds to send its request: an idle connection (a port scanner, another local program,
    a browser's speculative preconnect) can neither block the real redirect nor outlive the login. ``wait`` keeps
    the overall deadline whatever the connections do, and ``close`` shuts every open connection.
    """

    #: Seconds a connection may take to send its request line and headers.
    CONNECTION_TIMEOUT = 10.0
    #: Connections served at once; more are closed at once (each idle one holds a thread until its timeout).
    MAX_CONNECTIONS = 32

    def __init__(self, port: int = 0, host: str = "127.0.0.1", expected_state: Optional[str] = None) -> None:
        import hmac
        import http.server  # imported here: it is slow to import and only logins need it
        import socket
        import threading
        import urllib.parse

        self.query: Optional[str] = None
        self.rejected = 0
        self._arrived = threading.Event()
        self._lock = threading.Lock()
        self._open: "set[socket.socket]" = set()
        self._serving: Optional[threading.Thread] = None
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = RedirectReceiver.CONNECTION_TIMEOUT  # socket timeout for every read of this connection

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                path, _, query = self.path.partition("?")
                params = urllib.parse.parse_qs(query, keep_blank_values=True)
                if not ("code" in params or "error" in params):
                    self.send_error(404)
                    return
                state = params.get("state", [""])[0]
                if expected_state is not None and not hmac.compare_digest(state.encode(), expected_state.encode()):
                    with receiver._lock:
                        receiver.rejected += 1
                    logger.warning("ignored a login redirect with the wrong state")
                    self._page(400, FAILURE_PAGE)
                    return
                with receiver._lock:
                    first = receiver.query is None
                    if first:
                        receiver.query = query
                if not first:
                    self.send_error(404)
                    return
                ok = "code" in params and "error" not in params
                self._page(200, SUCCESS_PAGE if ok else FAILURE_PAGE)
                receiver._arrived.set()

            def _page(self, status: int, page: str) -> None:
                body = page.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # the query holds the code: never log it
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False  # close() shuts the connections instead of joining their threads

            def process_request(self, request: Any, client_address: Any) -> None:
                with receiver._lock:
                    if len(receiver._open) >= RedirectReceiver.MAX_CONNECTIONS:
                        self.shutdown_request(request)
                        return
                    receiver._open.add(request)
                super().process_request(request, client_address)

            def shutdown_request(self, request: Any) -> None:
                with receiver._lock:
                    receiver._open.discard(request)
                super().shutdown_request(request)

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a connection that timed out or went away: nothing to report, and never the request

        try:
            self._server = Server((host, port), Handler)
        except (OSError, OverflowError) as e:  # port in use, not allowed, or out of range
            from ._errors import NetworkError

            raise NetworkError(f"cannot listen on {host}:{port} for the login redirect: {getattr(e, 'strerror', None) or e}",
                               status=_native.STATUS_CODES["COTTER_ENETWORK"], code="COTTER_ENETWORK") from None
        self.port: int = self._server.server_address[1]

    def wait(self, timeout: float) -> str:
        """Serves requests until the redirect arrives; returns its query string. Raises Timeout after
        ``timeout`` seconds, whatever the open connections do."""
        import threading

        if self._serving is None:
            self._serving = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                             name="cotter-login-redirect", daemon=True)
            self._serving.start()
        if not self._arrived.wait(timeout):
            from ._errors import Timeout

            raise Timeout("no login redirect received in time", status=_native.STATUS_CODES["COTTER_ETIMEOUT"],
                          code="COTTER_ETIMEOUT")
        assert self.query is not None
        return self.query

    def close(self) -> None:
        import socket

        if self._serving is not None:
            self._server.shutdown()  # stops the accept loop (returns within its poll interval)
            self._serving.join()
        with self._lock:
            still_open = list(self._open)
        for conn in still_open:  # wakes the handler threads blocked on idle connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()

    def __enter__(self) -> "RedirectReceiver":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_in_browser(url: str) -> None:
    """Opens ``url`` with the webbrowser module (honours $BROWSER)."""
    import webbrowser

    if not webbrowser.open(url):
        logger.warning("could not open a browser; open the login URL yourself")


def login(
    client: Client,
    *,
    identifier_type: str = "EMAIL",
    auth_method: str = "OTP",
    port: int = 0,
    redirect_host: str = "127.0.0.1",
    identifier: Optional[str] = None,
    login_page_url: Optional[str] = None,
    open_url: Optional[Callable[[str], None]] = open_in_browser,
    timeout: float = 300.0,
) -> Identity:
    """Logs a user in through the hosted page and returns their Identity (with its token set).

    ``open_url`` receives the login URL (default: the browser). The redirect must come back to
    ``http://<redirect_host>:<port>`` on this machine; ``port=0`` picks a free one.
    """
    pkce = Pkce.generate()
    with RedirectReceiver(port, expected_state=pkce.state) as receiver:
        redirect_url = f"http://{redirect_host}:{receiver.port}"
        url = login_url(
            client.api_key_id,
            redirect_url,
            pkce.state,
            pkce.challenge,
            identifier_type=identifier_type,
            auth_method=auth_method,
            login_url=login_page_url,
            identifier=identifier,
        )
        if open_url is not None:
            open_url(url)
        query = receiver.wait(timeout)
    code, challenge_id = parse_redirect(query, pkce.state)
    return client.get_identity(code, challenge_id, pkce.verifier, redirect_url)


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


__all__ = ["Pkce", "RedirectReceiver", "challenge_of", "free_port", "login", "login_url", "open_in_browser",
           "parse_redirect"]

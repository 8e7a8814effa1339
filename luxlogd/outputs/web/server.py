"""HTTP inside the daemon: a ThreadingHTTPServer that cannot starve or bloat the daemon.

- Connections are capped at accept (beyond the cap: an immediate 503 and close), so slow
  clients can never use up the file descriptors the poll loop needs.
- Reading a request (line, headers, body) has one deadline for the whole of it; a response
  has a longer one. A janitor thread shuts down connections past theirs.
- Work is bounded: requests take a slot of their kind (probes: /healthz and /metrics; light;
  heavy: series, export, summary), bodies are capped, long paths refused, logs truncated.
- Parameters are validated (400 with a JSON error); only the static folder is served.
The endpoints themselves are in api.py (passed in as the route: the server knows no
endpoint), authentication in auth.py; app.py puts them together.
"""

from __future__ import annotations

import errno
import json
import logging
import resource
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from luxlogd.base.errors import StorageError
from luxlogd.base.text import json_default
from luxlogd.config import Config
from luxlogd.health.status import StatusProvider
from luxlogd.outputs.web import auth
from luxlogd.store.reader import Reader

logger = logging.getLogger("luxlogd.web.server")  # its name in the journal (README)

STATIC = Path(__file__).resolve().parent / "static"
# What answers a request: the API's router (api.route), given the handler and the parsed URL.
Route = Callable[["Handler", urllib.parse.SplitResult], None]
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
MAX_CONNECTIONS = 64  # and at most a quarter of the open-file limit
READ_DEADLINE_S = 10.0  # request line, headers and body, all of it
RESPONSE_DEADLINE_S = 600.0  # a year's export to a slow reader, at most
SOCKET_TIMEOUT_S = 10.0  # any single read or write
MAX_PATH = 8_192
MAX_BODY = 4_096
SLOTS = {"probe": 4, "light": 8, "heavy": 2}
LOGGED_CHARS = 200


class BadRequest(ValueError):
    """A parameter that does not fit; answered 400 with a JSON error."""


class Busy(Exception):
    """No slot free for this kind of request, or its work ran out of time: 503."""


def clip(text: str, limit: int = LOGGED_CHARS) -> str:
    """At most `limit` characters of something a client sent, for the log."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more)"


def connection_cap() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(4, min(MAX_CONNECTIONS, soft // 4))


class Handler(BaseHTTPRequestHandler):
    server: LuxlogdHTTPServer
    timeout = SOCKET_TIMEOUT_S
    server_version = "luxlogd"
    sys_version = ""
    protocol_version = "HTTP/1.0"  # one request per connection: the deadlines stay simple

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http %s %s", self.address_string(), clip(format % args))

    def parse_request(self) -> bool:
        raw: bytes = getattr(self, "raw_requestline", b"")
        if len(raw) > MAX_PATH:
            self.requestline = clip(str(raw, "iso-8859-1"))
            self.request_version = "HTTP/1.0"
            self.command = ""
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            return False
        return super().parse_request()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.janitor.working(self.connection)
        url = urllib.parse.urlsplit(self.path)
        try:
            try:
                if not self._allowed(url.path):
                    return
                self.server.route(self, url)
            except BadRequest as error:
                self.send_json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            except Busy as error:
                self.send_json(
                    HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(error)}, {"Retry-After": "5"}
                )
        except (BrokenPipeError, ConnectionResetError, TimeoutError) as error:
            logger.debug("web: the client of %s went away: %s", clip(self.path), error)
        except OSError as error:
            if error.errno in (errno.EBADF, errno.ENOTCONN, errno.EPIPE):
                logger.debug("web: the client of %s went away: %s", clip(self.path), error)
            else:
                self._internal_error(error)
        except Exception as error:
            self._internal_error(error)

    def _internal_error(self, error: BaseException) -> None:
        logger.error("web: error serving %s", clip(self.path), exc_info=error)
        try:
            self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})
        except OSError:
            pass  # the response had begun, or the client is gone

    def do_POST(self) -> None:  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/login":
            self.send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        text = self.headers.get("Content-Length", "")
        if not text.strip().isdigit():
            self.send_json(HTTPStatus.BAD_REQUEST, {"error": "a Content-Length is required"})
            return
        length = int(text)
        if length > MAX_BODY:
            self.send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "form too large"})
            return
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        self.server.janitor.working(self.connection)
        address = self.client_address[0]
        page = "text/html" in self.headers.get("Accept", "")  # a browser's form
        if self.server.throttle.blocked(address):
            retry = {"Retry-After": str(int(auth.BLOCK_S))}
            if page:
                self.send_login(HTTPStatus.TOO_MANY_REQUESTS, "too_many", retry)
            else:
                self.send_json(
                    HTTPStatus.TOO_MANY_REQUESTS, {"error": "too many wrong tokens"}, retry
                )
            return
        token = self.server.config.web.token
        if not auth.same((form.get("token") or [""])[0], token):
            self.server.throttle.failed(address)
            if page:
                self.send_login(HTTPStatus.UNAUTHORIZED, "wrong")
            else:
                self.send_json(HTTPStatus.UNAUTHORIZED, {"error": "wrong token"})
            return
        self.server.throttle.succeeded(address)
        secure = "; Secure" if self.headers.get("X-Forwarded-Proto", "") == "https" else ""
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", "/")
        self.send_header(
            "Set-Cookie",
            f"{auth.SESSION_COOKIE}={auth.session_value(token)}; HttpOnly; SameSite=Strict; "
            f"Path=/; Max-Age={auth.SESSION_MAX_AGE_S}{secure}",
        )
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _allowed(self, path: str) -> bool:
        """Host header (without a token) and token checks; answers and returns False if not."""
        config = self.server.config
        if not config.web.token:
            if self.server.host_check.allows(self.headers.get("Host")):
                return True
            self.send_json(
                HTTPStatus.FORBIDDEN,
                {
                    "error": "this Host is not allowed; add it to web.allowed_hosts, or set "
                    "web.token"
                },
            )
            return False
        # A session cookie proves the token was given once (guessing one is guessing a
        # SHA-256 HMAC): it passes even while guesses are turned away.
        session = auth.session_value(config.web.token)
        for part in self.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == auth.SESSION_COOKIE and auth.same(value, session):
                return True
        address = self.client_address[0]
        if self.server.throttle.blocked(address):
            self.send_json(
                HTTPStatus.TOO_MANY_REQUESTS,
                {"error": "too many wrong tokens"},
                {"Retry-After": str(int(auth.BLOCK_S))},
            )
            return False
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            if auth.same(header[7:].strip(), config.web.token):
                self.server.throttle.succeeded(address)
                return True
            self.server.throttle.failed(address)
        if path in ("/", "/index.html", "/login"):
            self.send_login(HTTPStatus.OK)
        elif path.startswith("/static/") and path.endswith((".css", ".txt")):
            return True  # the login page's style sheet; nothing there is secret
        else:
            self.send_json(HTTPStatus.UNAUTHORIZED, {"error": "token required"})
        return False

    def send_json(
        self, status: HTTPStatus, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body, default=json_default, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, text: str, content_type: str) -> None:
        data = text.encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def send_static(self, name: str) -> None:
        # Only plain names inside the static folder: no separators, no dot files, no "..".
        if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
            self.send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file():
            self.send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        self.send_file(path)

    def send_login(
        self, status: HTTPStatus, error: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """The sign-in page in the page's language (?lang=, else ui.language), with what
        went wrong and where the token comes from."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        language = (query.get("lang") or [self.server.config.ui.language])[0]
        words = LOGIN_WORDS["de" if language == "de" else "en"]
        message = f'<p class="error" role="alert">{words[error]}</p>' if error else ""
        text = (
            (STATIC / "login.html")
            .read_text(encoding="utf-8")
            .format(
                lang="de" if language == "de" else "en",
                title=words["title"],
                label=words["label"],
                button=words["button"],
                hint=words["hint"],
                error=message,
            )
        )
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_file(self, path: Path) -> None:
        data = path.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(data)


LOGIN_WORDS = {
    "en": {
        "title": "Sign in",
        "label": "Token",
        "button": "Sign in",
        "hint": "The token is <code>web.token</code> in luxlogd's configuration "
        "(<code>/etc/luxlogd/luxlogd.toml</code>); ask whoever set up luxlogd. Signed in, "
        "this browser stays signed in for 30 days.",
        "wrong": "That is not the token. Check <code>web.token</code> and try again.",
        "too_many": "Too many wrong tokens from here: wait a few minutes, then try again.",
    },
    "de": {
        "title": "Anmelden",
        "label": "Token",
        "button": "Anmelden",
        "hint": "Das Token ist <code>web.token</code> in der Konfiguration von luxlogd "
        "(<code>/etc/luxlogd/luxlogd.toml</code>); fragen Sie, wer luxlogd eingerichtet hat. "
        "Angemeldet bleibt dieser Browser 30 Tage angemeldet.",
        "wrong": "Das ist nicht das Token. Prüfen Sie <code>web.token</code> und versuchen Sie "
        "es noch einmal.",
        "too_many": "Zu viele falsche Tokens von hier: bitte einige Minuten warten.",
    },
}


class Janitor:
    """Tracks open connections; shuts down those past their deadline (reading a request: a
    short one for all of it; answering: a long one)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._deadlines: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def reading(self, connection: socket.socket) -> None:
        with self._lock:
            self._deadlines[connection] = self.clock() + READ_DEADLINE_S

    def working(self, connection: socket.socket) -> None:
        with self._lock:
            if connection in self._deadlines:
                self._deadlines[connection] = self.clock() + RESPONSE_DEADLINE_S

    def done(self, connection: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(connection, None)

    def open_connections(self) -> int:
        with self._lock:
            return len(self._deadlines)

    def run(self) -> None:
        while not self._stop.wait(0.5):
            now = self.clock()
            with self._lock:
                late = [c for c, deadline in self._deadlines.items() if now > deadline]
            for connection in late:
                try:
                    connection.shutdown(socket.SHUT_RDWR)  # the handler's next read ends
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()


class LuxlogdHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        config: Config,
        provider: StatusProvider,
        clock: Callable[[], float],
        route: Route,
    ) -> None:
        # Before binding: socketserver calls server_close() itself when bind fails.
        self.janitor = Janitor()
        self.route = route
        self.config = config
        self.provider = provider
        self.clock = clock
        self.cap = connection_cap()
        self.slots = {kind: threading.BoundedSemaphore(n) for kind, n in SLOTS.items()}
        self.throttle = auth.Throttle()
        self.host_check = auth.HostCheck(config.web.allowed_hosts)
        self.cache: dict[Any, Any] = {}  # api.py's summaries of finished days
        self.cache_lock = threading.Lock()
        super().__init__(address, Handler)
        threading.Thread(target=self.janitor.run, name="web-janitor", daemon=True).start()

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.janitor.open_connections() >= self.cap:
            try:  # turned away at once: no thread, no waiting for the request
                request.setblocking(False)
                request.send(
                    b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 5\r\n"
                    b"Content-Length: 0\r\n\r\n"
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        self.janitor.reading(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.janitor.done(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Through the logger, never a raw traceback on stderr."""
        logger.error(
            "web: error serving %s",
            client_address[0] if client_address else "?",
            exc_info=sys.exc_info()[1],
        )

    def reader(self) -> Reader:
        try:
            return Reader(self.config.state_dir)
        except StorageError as error:
            raise BadRequest(str(error)) from None

    def server_close(self) -> None:
        self.janitor.stop()
        super().server_close()


class WebServer:
    """A web server on `web.listen` answering with `route`; start() binds, stop() ends."""

    def __init__(
        self,
        config: Config,
        provider: StatusProvider,
        clock: Callable[[], float],
        route: Route,
    ) -> None:
        self.route = route
        host, _, port = config.web.listen.rpartition(":")
        self.address = (host.strip("[]"), int(port))
        self.config = config
        self.provider = provider
        self.clock = clock
        self.httpd: LuxlogdHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        self.httpd = LuxlogdHTTPServer(
            self.address, self.config, self.provider, self.clock, self.route
        )
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="web", daemon=True)
        self.thread.start()
        bound = self.httpd.server_address
        logger.info("web UI and API on http://%s:%d/", bound[0], bound[1])
        if not self.config.web.token and not auth.listen_is_loopback(self.address[0]):
            logger.warning(
                "web: listening on %s without web.token: anyone who can reach this port can "
                "read everything luxlogd recorded; set web.token (or listen on 127.0.0.1)",
                self.config.web.listen,
            )
        return (str(bound[0]), int(bound[1]))

    def reconfigure(self, config: Config) -> None:
        """A reload: the token, allowed hosts and the rest apply to the next request."""
        self.config = config
        if self.httpd is not None:
            self.httpd.config = config
            self.httpd.host_check = auth.HostCheck(config.web.allowed_hosts)

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

"""HTTP inside the daemon: health, Prometheus metrics, a JSON API, static files. Read-only.

A ThreadingHTTPServer on daemon threads: the poll loop never waits for it. Clients are bounded
(a socket timeout, http.server's header limits, a cap on concurrent requests), parameters are
validated (400 with a JSON error), and only files of the package's static folder are served.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import math
import threading
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from luxlogd import export, logs, sensors
from luxlogd.chunks import series_id
from luxlogd.config import Config
from luxlogd.errors import SensorPatternError, StorageError, TimeRangeError
from luxlogd.reader import Reader

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
MAX_CONCURRENT = 16
REQUEST_TIMEOUT_S = 10.0
MAX_POINTS = 10_000
COOKIE = "luxlogd_token"


class BadRequest(ValueError):
    """A parameter that does not fit; answered 400 with a JSON error."""


class Provider:
    """What the daemon shows the web: its status and the newest poll (a Poll or None)."""

    def status(self) -> dict[str, Any]:  # pragma: no cover - the daemon's Service implements it
        raise NotImplementedError

    def latest_poll(self) -> Any:  # pragma: no cover
        raise NotImplementedError


def _time_ms(text: str | None, name: str, *, end_of_day: bool = False) -> int:
    if not text:
        raise BadRequest(f"{name}: missing (an ISO 8601 date or date-time)")
    try:
        return export.to_ms(export.parse_time(text, end_of_day=end_of_day))
    except TimeRangeError as error:
        raise BadRequest(f"{name}: {error}") from None


def escape_label(value: str) -> str:
    """A Prometheus label value: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def render_metrics(config: Config, status: dict[str, Any], poll: Any, stats: dict[str, Any]) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lines.append(f"{name}{labels} {value!r}")

    metric("luxlogd_polls_total", "counter", "Polls since the daemon started, by result.",
           [('{result="ok"}', float(status.get("polls_ok", 0))),
            ('{result="failed"}', float(status.get("polls_failed", 0)))])  # fmt: skip
    metric("luxlogd_polls_late_total", "counter", "Polls that started late or overran.",
           [("", float(status.get("polls_late", 0)))])  # fmt: skip
    metric("luxlogd_poll_duration_seconds", "gauge", "Duration of the last poll.",
           [("", float(status.get("last_poll_duration_s") or 0.0))])  # fmt: skip
    metric("luxlogd_last_success_timestamp_seconds", "gauge",
           "When the last poll was stored (Unix time).",
           [("", float(status.get("last_success") or 0.0))])  # fmt: skip
    metric("luxlogd_heatpump_reachable", "gauge", "1 when the last poll succeeded.",
           [("", 1.0 if status.get("reachable") else 0.0)])  # fmt: skip
    metric("luxlogd_wal_bytes", "gauge", "Bytes of the write-ahead log.",
           [("", float(stats.get("wal_bytes", 0)))])  # fmt: skip
    metric("luxlogd_database_bytes", "gauge", "Bytes of the SQLite database and its log.",
           [("", float(stats.get("database_bytes", 0)))])  # fmt: skip
    if poll is not None:
        samples = []
        for group in sensors.GROUPS:
            values = getattr(poll, group)
            for found in sensors.fields_for(group, len(values)):
                if not found.numeric:
                    continue
                value = _number(sensors.decode_value(found, values))
                if value is None:
                    continue
                labels = (f'{{name="{escape_label(found.name)}",group="{group}",'
                          f'unit="{escape_label(found.unit or "")}"}}')  # fmt: skip
                samples.append((labels, value))
        metric("luxtronik_value", "gauge",
               "The newest value of each numeric field, decoded as luxtronik 0.3.14 does.",
               samples)  # fmt: skip
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    server: LuxlogdHTTPServer
    timeout = REQUEST_TIMEOUT_S  # a slow client cannot hold a thread forever
    server_version = "luxlogd"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http %s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self.server.slots.acquire(blocking=False):
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "too many requests"})
            return
        try:
            self._dispatch()
        except BadRequest as error:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client went away
        except Exception:
            logger.exception("http: error serving %s", self.path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})
        finally:
            self.server.slots.release()

    def do_POST(self) -> None:  # noqa: N802
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/login":
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > 4096:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "form too large"})
            return
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0]
        if not self._token_ok(token):
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "wrong token"})
            return
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", "/")
        self.send_header("Set-Cookie", f"{COOKIE}={urllib.parse.quote(token)}; HttpOnly; "
                                       "SameSite=Strict; Path=/")  # fmt: skip
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _token_ok(self, given: str) -> bool:
        expected = self.server.config.web.token
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())

    def _authorized(self) -> bool:
        if not self.server.config.web.token:
            return True
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer ") and self._token_ok(header[7:].strip()):
            return True
        for part in self.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and self._token_ok(urllib.parse.unquote(value)):
                return True
        return False

    def _dispatch(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        if not self._authorized():
            if url.path in ("/", "/index.html"):
                self._file(STATIC / "login.html")
            else:
                self._json(HTTPStatus.UNAUTHORIZED, {"error": "token required"})
            return
        routes: dict[str, Callable[[dict[str, str]], None]] = {
            "/healthz": self._healthz,
            "/metrics": self._metrics,
            "/api/sensors": self._sensors,
            "/api/series": self._series,
            "/api/export": self._export,
            "/api/summary": self._summary,
            "/api/logs": self._logs,
            "/api/latest": self._latest,
            "/api/status": self._status,
        }
        route = routes.get(url.path)
        if route is not None:
            route(query)
        elif url.path == "/":
            self._file(STATIC / "index.html")
        elif url.path.startswith("/static/"):
            self._static(urllib.parse.unquote(url.path[len("/static/") :]))
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def _json(self, status: HTTPStatus, body: Any) -> None:
        data = json.dumps(body, default=_json_default).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _static(self, name: str) -> None:
        # Only plain names inside the static folder: no separators, no dot files, no "..".
        if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        path = (STATIC / name).resolve()
        if path.parent != STATIC or not path.is_file():
            self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        self._file(path)

    def _file(self, path: Path) -> None:
        data = path.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def _healthz(self, query: dict[str, str]) -> None:
        status = self.server.provider.status()
        interval = self.server.config.poll.interval_s
        last = status.get("last_success")
        age = None if last is None else max(0.0, self.server.clock() - last)
        healthy = age is not None and age <= max(3 * interval, 300) and status.get("storage_ok")
        body = {
            "status": "ok" if healthy else "unhealthy",
            "last_poll_age_s": age,
            "storage_ok": bool(status.get("storage_ok")),
            "reachable": status.get("reachable"),
        }
        self._json(HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE, body)

    def _metrics(self, query: dict[str, str]) -> None:
        stats = self.server.sizes()
        text = render_metrics(self.server.config, self.server.provider.status(),
                              self.server.provider.latest_poll(), stats)  # fmt: skip
        data = text.encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _lengths(self) -> dict[str, int]:
        poll = self.server.provider.latest_poll()
        if poll is None:
            return {}
        return dict(zip(sensors.GROUPS, poll.lengths, strict=True))

    def _sensors(self, query: dict[str, str]) -> None:
        lengths = self._lengths() or {g: 0 for g in sensors.GROUPS}
        listing = [
            {"name": f.name, "group": f.group, "index": f.index, "unit": f.unit, "type": f.kind,
             "numeric": f.numeric}
            for f in sensors.resolve_sensors(list(sensors.GROUPS), lengths)
        ]  # fmt: skip
        self._json(HTTPStatus.OK, listing)

    def _field(self, name: str | None) -> sensors.Field:
        if not name:
            raise BadRequest("sensor: missing")
        try:
            chosen = sensors.resolve_sensors([name], self._lengths())
        except SensorPatternError as error:
            raise BadRequest(f"sensor: {error}") from None
        if len(chosen) != 1:
            raise BadRequest("sensor: name one field, not a pattern")
        return chosen[0]

    def _series(self, query: dict[str, str]) -> None:
        found = self._field(query.get("sensor"))
        if not found.numeric:
            raise BadRequest(f"sensor: {found.name} is not numeric")
        start = _time_ms(query.get("from"), "from")
        end = _time_ms(query.get("to"), "to", end_of_day=True)
        if end <= start:
            raise BadRequest("to: must be after from")
        try:
            points = int(query.get("points", "1000"))
        except ValueError:
            raise BadRequest("points: expected an integer 1-10000") from None
        if not 1 <= points <= MAX_POINTS:
            raise BadRequest("points: expected an integer 1-10000")
        with self.server.reader() as reader:
            buckets = reader.buckets(series_id(found.group, found.index), start, end, points)

        def value(raw: float) -> float:
            return _decode_number(found, raw)

        self._json(HTTPStatus.OK, {
            "sensor": found.name, "unit": found.unit,
            "t": [b.start_ms / 1000 for b in buckets],
            "min": [value(b.minimum) for b in buckets],
            "max": [value(b.maximum) for b in buckets],
            "mean": [round(value(b.mean), 4) for b in buckets],
            "count": [b.count for b in buckets],
        })  # fmt: skip

    def _export(self, query: dict[str, str]) -> None:
        start = _time_ms(query.get("from"), "from")
        end = _time_ms(query.get("to"), "to", end_of_day=True)
        fmt = query.get("format", "csv")
        if fmt not in export.FORMATS:
            raise BadRequest("format: expected csv or json")
        patterns = query.get("sensors") or ",".join(self.server.config.reports.sensors)
        try:
            chosen = sensors.resolve_sensors(patterns.split(","), self._lengths())
        except SensorPatternError as error:
            raise BadRequest(f"sensors: {error}") from None
        reader = self.server.reader()
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/csv; charset=utf-8" if fmt == "csv"
                             else "application/json")  # fmt: skip
            self.send_header("Content-Disposition", f'attachment; filename="luxlogd.{fmt}"')
            self.send_header("Connection", "close")
            self.end_headers()
            stream = _Utf8Writer(self.wfile)
            rows = export.decoded_rows(reader, chosen, start, end)
            export.write_export(rows, [f.name for f in chosen], stream, fmt)  # type: ignore[arg-type]
            self.close_connection = True
        finally:
            reader.close()

    def _summary(self, query: dict[str, str]) -> None:
        from luxlogd import reports

        config = self.server.config
        today = dt.datetime.now(dt.UTC).astimezone().date()
        try:
            days = int(query.get("days", "7"))
        except ValueError:
            raise BadRequest("days: expected an integer 1-366") from None
        if not 1 <= days <= 366:
            raise BadRequest("days: expected an integer 1-366")
        reader = self.server.reader()
        rows = []
        try:
            for back in range(days - 1, -1, -1):
                start, end = reports.period(config, today - dt.timedelta(days=back), 1)
                row = reports.summarize_day(reader, start, end, end.date().isoformat())
                if row is not None:
                    rows.append(row)
        finally:
            reader.close()
        self._json(HTTPStatus.OK, rows)

    def _latest(self, query: dict[str, str]) -> None:
        """The newest stored poll, decoded: {"time": s, "values": {name: [value, unit]}}."""
        poll = self.server.provider.latest_poll()
        patterns = query.get("sensors") or "calculations"
        try:
            chosen = sensors.resolve_sensors(patterns.split(","), self._lengths())
        except SensorPatternError as error:
            raise BadRequest(f"sensors: {error}") from None
        if poll is None:
            self._json(HTTPStatus.OK, {"time": None, "values": {}})
            return
        values = {
            found.name: [sensors.decode_value(found, getattr(poll, found.group)), found.unit]
            for found in chosen
        }
        self._json(HTTPStatus.OK, {"time": poll.ts_ms / 1000, "values": values})

    def _logs(self, query: dict[str, str]) -> None:
        ring = logs.ring_buffer()
        self._json(HTTPStatus.OK, ring.snapshot() if ring else [])

    def _status(self, query: dict[str, str]) -> None:
        self._json(HTTPStatus.OK, self.server.provider.status())


class _Utf8Writer:
    """A text stream over the response's binary stream (write_export writes text)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(text.encode("utf-8"))
        return len(text)


def _decode_number(found: sensors.Field, raw: float) -> float:
    """A bucket's raw min/max/mean as luxtronik decodes the field (it divides: 559 -> 55.9)."""
    if found.decoder is None or found.kind == "Bool":
        return float(raw)
    decoded = found.decoder(raw)
    return float(decoded) if isinstance(decoded, int | float) else float(raw)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


class LuxlogdHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], config: Config, provider: Any,
                 clock: Callable[[], float]) -> None:  # fmt: skip
        super().__init__(address, Handler)
        self.config = config
        self.provider = provider
        self.clock = clock
        self.slots = threading.BoundedSemaphore(MAX_CONCURRENT)

    def reader(self) -> Reader:
        try:
            return Reader(self.config.state_dir)
        except StorageError as error:
            raise BadRequest(str(error)) from None

    def sizes(self) -> dict[str, int]:
        state = self.config.state_dir
        wal_dir = state / "wal"
        wal_bytes = sum(p.stat().st_size for p in wal_dir.iterdir()) if wal_dir.is_dir() else 0
        database = sum(p.stat().st_size for p in state.glob("luxlogd.sqlite*") if p.is_file())
        return {"wal_bytes": wal_bytes, "database_bytes": database}


class WebServer:
    """The daemon's web server on `web.listen`; start() binds, stop() ends."""

    def __init__(self, config: Config, provider: Any, clock: Callable[[], float]) -> None:
        host, _, port = config.web.listen.rpartition(":")
        self.address = (host.strip("[]"), int(port))
        self.config = config
        self.provider = provider
        self.clock = clock
        self.httpd: LuxlogdHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        self.httpd = LuxlogdHTTPServer(self.address, self.config, self.provider, self.clock)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="web", daemon=True)
        self.thread.start()
        bound = self.httpd.server_address
        logger.info("web UI and API on http://%s:%d/", bound[0], bound[1])
        return (str(bound[0]), int(bound[1]))

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

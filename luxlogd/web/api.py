"""The endpoints: health, metrics, the JSON API and the page. Each request takes a slot of its
kind first (server.SLOTS) and bounded work: at most MAX_PATTERNS sensor patterns, MAX_DAYS
days of summaries (finished days are cached), 10,000 points.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http import HTTPStatus
from typing import Any

from luxlogd import export, logs, metrics, sensors
from luxlogd.chunks import series_id
from luxlogd.errors import SensorPatternError, TimeRangeError
from luxlogd.health import problems
from luxlogd.poll import GROUPS
from luxlogd.web.server import STATIC, BadRequest, Busy, Handler

MAX_POINTS = 10_000
MAX_PATTERNS = 64
MAX_PATTERN_CHARS = 2_000
MAX_DAYS = 31
WORK_DEADLINE_S = 20.0
CACHED_DAYS = 400


def route(handler: Handler, url: urllib.parse.SplitResult) -> None:
    """Answer one GET request (after the server's checks)."""
    query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
    path = url.path
    endpoint = ENDPOINTS.get(path)
    if endpoint is not None:
        kind, answer = endpoint
        with _slot(handler, kind):
            answer(handler, query)
    elif path in ("/", "/index.html", "/login"):
        with _slot(handler, "light"):
            handler.send_file(STATIC / "index.html")
    elif path.startswith("/static/"):
        with _slot(handler, "light"):
            handler.send_static(urllib.parse.unquote(path[len("/static/") :]))
    else:
        handler.send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})


@contextmanager
def _slot(handler: Handler, kind: str) -> Iterator[None]:
    slot = handler.server.slots[kind]
    if not slot.acquire(timeout=2.0):
        raise Busy(f"too many {kind} requests at once; try again")
    try:
        yield
    finally:
        slot.release()


def _time_ms(text: str | None, name: str, *, end_of_day: bool = False) -> int:
    if not text:
        raise BadRequest(f"{name}: missing (an ISO 8601 date or date-time)")
    try:
        return export.to_ms(export.parse_time(text, end_of_day=end_of_day))
    except TimeRangeError as error:
        raise BadRequest(f"{name}: {error}") from None


def _range(query: dict[str, str]) -> tuple[int, int]:
    start = _time_ms(query.get("from"), "from")
    end = _time_ms(query.get("to"), "to", end_of_day=True)
    if end <= start:
        raise BadRequest("to: must be after from")
    return start, end


def _integer(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(query.get(name, str(default)))
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadRequest(f"{name}: expected an integer {low}-{high}")
    return value


def _lengths(handler: Handler) -> dict[str, int]:
    poll = handler.server.provider.latest_poll()
    return {} if poll is None else dict(zip(GROUPS, poll.lengths, strict=True))


def _patterns(text: str, name: str) -> list[str]:
    patterns = [p for p in text.split(",") if p.strip()]
    if len(text) > MAX_PATTERN_CHARS or len(patterns) > MAX_PATTERNS:
        raise BadRequest(f"{name}: at most {MAX_PATTERNS} patterns, {MAX_PATTERN_CHARS} "
                         "characters")  # fmt: skip
    return list(dict.fromkeys(p.strip() for p in patterns))


def _chosen(handler: Handler, text: str, name: str) -> list[sensors.Field]:
    try:
        return sensors.resolve_sensors(_patterns(text, name), _lengths(handler))
    except SensorPatternError as error:
        raise BadRequest(f"{name}: {error}") from None


def healthz(handler: Handler, query: dict[str, str]) -> None:
    status = handler.server.provider.status()
    interval = handler.server.config.poll.interval_s
    now = handler.server.clock()
    found = problems(status, now=now, interval_s=interval)
    last = status.get("last_success")
    body = {
        "status": "unhealthy" if found else "ok",
        "problems": found,
        "last_poll_age_s": None if last is None else max(0.0, now - last),
        "storage_ok": bool(status.get("storage_ok")),
        "reachable": status.get("reachable"),
        "database_rebuilt": status.get("database_rebuilt"),
    }
    handler.send_json(HTTPStatus.SERVICE_UNAVAILABLE if found else HTTPStatus.OK, body)


def metrics_text(handler: Handler, query: dict[str, str]) -> None:
    state_dir = handler.server.config.state_dir
    wal_dir = state_dir / "wal"
    sizes = {
        "wal_bytes": sum(p.stat().st_size for p in wal_dir.iterdir()) if wal_dir.is_dir() else 0,
        "database_bytes": sum(
            p.stat().st_size for p in state_dir.glob("luxlogd.sqlite*") if p.is_file()
        ),  # fmt: skip
    }
    provider = handler.server.provider
    text = metrics.render_metrics(provider.status(), provider.latest_poll(), sizes)
    handler.send_text(text, "text/plain; version=0.0.4; charset=utf-8")


def sensor_list(handler: Handler, query: dict[str, str]) -> None:
    lengths = _lengths(handler) or {group: 0 for group in GROUPS}
    listing = [
        {"name": f.name, "group": f.group, "index": f.index, "unit": f.unit, "type": f.kind,
         "numeric": f.numeric}
        for f in sensors.resolve_sensors(list(GROUPS), lengths)
    ]  # fmt: skip
    handler.send_json(HTTPStatus.OK, listing)


def series(handler: Handler, query: dict[str, str]) -> None:
    name = query.get("sensor")
    if not name:
        raise BadRequest("sensor: missing")
    chosen = _chosen(handler, name, "sensor")
    if len(chosen) != 1:
        raise BadRequest("sensor: name one field, not a pattern")
    found = chosen[0]
    if not found.numeric:
        raise BadRequest(f"sensor: {found.name} is not numeric")
    start, end = _range(query)
    points = _integer(query, "points", 1000, 1, MAX_POINTS)
    with handler.server.reader() as reader:
        buckets = reader.buckets(series_id(found.group, found.index), start, end, points)

    def value(raw: float) -> float:
        return _decode_number(found, raw)

    handler.send_json(HTTPStatus.OK, {
        "sensor": found.name, "unit": found.unit,
        "t": [b.start_ms / 1000 for b in buckets],
        "min": [value(b.minimum) for b in buckets],
        "max": [value(b.maximum) for b in buckets],
        "mean": [round(value(b.mean), 4) for b in buckets],
        "count": [b.count for b in buckets],
    })  # fmt: skip


def _decode_number(found: sensors.Field, raw: float) -> float:
    """A bucket's raw min/max/mean as luxtronik decodes the field (it divides: 559 -> 55.9)."""
    if found.decoder is None or found.kind == "Bool":
        return float(raw)
    decoded = found.decoder(raw)
    return float(decoded) if isinstance(decoded, int | float) else float(raw)


class _Utf8Writer:
    """A text stream over the response's binary stream (write_export writes text)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(text.encode("utf-8"))
        return len(text)


def export_data(handler: Handler, query: dict[str, str]) -> None:
    start, end = _range(query)
    fmt = query.get("format", "csv")
    if fmt not in export.FORMATS:
        raise BadRequest("format: expected csv or json")
    text = query.get("sensors") or ",".join(handler.server.config.reports.sensors)
    chosen = _chosen(handler, text, "sensors")
    with handler.server.reader() as reader:
        handler.send_response(HTTPStatus.OK)
        handler.send_header("Content-Type", "text/csv; charset=utf-8" if fmt == "csv"
                            else "application/json")  # fmt: skip
        handler.send_header("Content-Disposition", f'attachment; filename="luxlogd.{fmt}"')
        handler.end_headers()
        rows = export.decoded_rows(reader, chosen, start, end)
        export.write_export(rows, [f.name for f in chosen], _Utf8Writer(handler.wfile), fmt)  # type: ignore[arg-type]


def summary(handler: Handler, query: dict[str, str]) -> None:
    from luxlogd import reports

    config = handler.server.config
    days = _integer(query, "days", 7, 1, MAX_DAYS)
    today = dt.datetime.now(dt.UTC).astimezone().date()
    give_up = time.monotonic() + WORK_DEADLINE_S
    rows = []
    with handler.server.reader() as reader:
        for back in range(days - 1, -1, -1):
            if time.monotonic() > give_up:
                raise Busy("the summary took too long; ask for fewer days")
            start, end = reports.period(config, today - dt.timedelta(days=back), 1)
            compute = partial(reports.summarize_day, reader, start, end, end.date().isoformat())
            row = _cached(handler, ("summary", start, end), end, compute)
            if row is not None:
                rows.append(row)
    handler.send_json(HTTPStatus.OK, rows)


def _cached(handler: Handler, key: Any, end: dt.datetime, compute: Callable[[], Any]) -> Any:
    """Results about finished periods (ended more than an hour ago) are kept."""
    server = handler.server
    with server.cache_lock:
        if key in server.cache:
            return server.cache[key]
    value = compute()
    if end.timestamp() < time.time() - 3600:
        with server.cache_lock:
            if len(server.cache) >= CACHED_DAYS:
                server.cache.pop(next(iter(server.cache)))
            server.cache[key] = value
    return value


def latest(handler: Handler, query: dict[str, str]) -> None:
    """The newest stored poll, decoded: {"time": s, "values": {name: [value, unit]}}."""
    poll = handler.server.provider.latest_poll()
    chosen = _chosen(handler, query.get("sensors") or "calculations", "sensors")
    if poll is None:
        handler.send_json(HTTPStatus.OK, {"time": None, "values": {}})
        return
    values = {f.name: [sensors.decode_value(f, poll.array(f.group)), f.unit] for f in chosen}
    handler.send_json(HTTPStatus.OK, {"time": poll.ts_ms / 1000, "values": values})


def log_lines(handler: Handler, query: dict[str, str]) -> None:
    ring = logs.ring_buffer()
    handler.send_json(HTTPStatus.OK, ring.snapshot() if ring else [])


def status(handler: Handler, query: dict[str, str]) -> None:
    handler.send_json(HTTPStatus.OK, handler.server.provider.status())


ENDPOINTS: dict[str, tuple[str, Callable[[Handler, dict[str, str]], None]]] = {
    "/healthz": ("probe", healthz),
    "/metrics": ("probe", metrics_text),
    "/api/sensors": ("light", sensor_list),
    "/api/latest": ("light", latest),
    "/api/logs": ("light", log_lines),
    "/api/status": ("light", status),
    "/api/series": ("heavy", series),
    "/api/export": ("heavy", export_data),
    "/api/summary": ("heavy", summary),
}

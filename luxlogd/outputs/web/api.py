"""The endpoints: health, metrics, the JSON API and the page. Each request takes a slot of its
kind first (server.SLOTS) and bounded work: at most MAX_PATTERNS sensor patterns, MAX_DAYS
days of summaries (finished days are cached), 10,000 points. One short function per
endpoint, hence a little over 400 lines.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
import urllib.parse
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from functools import partial
from http import HTTPStatus
from typing import Any, cast

from luxlogd.base.errors import SensorPatternError, TimeRangeError
from luxlogd.base.times import local_midnight_ms, local_time, to_ms
from luxlogd.config import LANGUAGES
from luxlogd.health import logs
from luxlogd.health.status import problems
from luxlogd.heatpump import catalogue, sensors
from luxlogd.heatpump.poll import Poll
from luxlogd.heatpump.protocol import GROUPS
from luxlogd.outputs import metrics
from luxlogd.outputs.web.server import STATIC, BadRequest, Busy, Handler
from luxlogd.reports import export, rollup, stats
from luxlogd.reports.glance import glance
from luxlogd.store.chunks import series_id
from luxlogd.store.paths import WAL_DIRECTORY
from luxlogd.store.reader import database_bytes, directory_bytes

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
        return to_ms(export.parse_time(text, end_of_day=end_of_day))
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
    return {} if poll is None else poll.lengths_by_group()


def _patterns(text: str, name: str) -> list[str]:
    patterns = [p for p in text.split(",") if p.strip()]
    if len(text) > MAX_PATTERN_CHARS or len(patterns) > MAX_PATTERNS:
        raise BadRequest(f"{name}: at most {MAX_PATTERNS} patterns, {MAX_PATTERN_CHARS} characters")
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
        "polls_pending": status.get("polls_pending", 0),
        "polls_lost_total": status.get("polls_lost_total", 0),
        "losses_recent": status.get("losses_recent") or [],
        "clock_suspect": status.get("clock_suspect"),
    }
    handler.send_json(HTTPStatus.SERVICE_UNAVAILABLE if found else HTTPStatus.OK, body)


def metrics_text(handler: Handler, query: dict[str, str]) -> None:

    config = handler.server.config
    state_dir = config.state_dir
    done, failed = rollup.last_rollup(config), rollup.last_rollup(config, failed=True)
    try:
        free = shutil.disk_usage(state_dir).free
    except OSError:
        free = None
    sizes = {
        "wal_bytes": directory_bytes(state_dir / WAL_DIRECTORY),
        "database_bytes": database_bytes(state_dir),
        "disk_free_bytes": free,
        "rollup_success": (done or {}).get("finished"),
        "rollup_failure": (failed or {}).get("failed"),
    }
    provider = handler.server.provider
    text = metrics.render_metrics(
        provider.status(), provider.latest_poll(), sizes, raw=config.metrics.raw
    )
    handler.send_text(text, "text/plain; version=0.0.4; charset=utf-8")


def _language(handler: Handler, query: dict[str, str]) -> str:
    language = query.get("lang") or handler.server.config.ui.language
    if language not in LANGUAGES:
        raise BadRequest(f"lang: expected one of {', '.join(LANGUAGES)}")
    return language


def _hidden(found: sensors.Field, poll: Poll | None) -> str | None:
    """Why the page hides a sensor unless asked: a visibility flag, a field luxtronik does
    not know, a sensor that is not connected (it reads a rail value)."""
    if found.group == "visibilities":
        return "visibility flag"
    if found.name.startswith("Unknown_") and found.sensor is None:
        return "unknown field"
    if poll is not None and found.sensor is not None:
        if found.sensor.not_connected(sensors.field_value(found, poll)):
            return "not connected"
    return None


def sensor_list(handler: Handler, query: dict[str, str]) -> None:
    language = _language(handler, query)
    poll = handler.server.provider.latest_poll()
    lengths = _lengths(handler) or {group: 0 for group in GROUPS}
    listing = []
    for f in sensors.resolve_sensors([*GROUPS, sensors.WELL_KNOWN], lengths):
        sensor = f.sensor
        listing.append(
            {
                "name": f.name,
                "key": sensor.key if sensor else None,
                "label": f.label(language),
                "group": f.group,
                "index": f.index,
                "unit": f.unit,
                "display_unit": f.display_unit,
                "type": f.kind,
                "kind": sensor.kind if sensor else None,
                "numeric": f.numeric or bool(sensor and sensor.kind == "state"),
                "well_known": bool(sensor and sensor.well_known),
                "hidden": _hidden(f, poll),
            }
        )
    handler.send_json(HTTPStatus.OK, listing)


def glance_data(handler: Handler, query: dict[str, str]) -> None:

    language = _language(handler, query)
    with handler.server.reader() as reader:
        handler.send_json(HTTPStatus.OK, glance(reader, handler.server.clock(), language))


def series(handler: Handler, query: dict[str, str]) -> None:
    name = query.get("sensor")
    if not name:
        raise BadRequest("sensor: missing")
    chosen = _chosen(handler, name, "sensor")
    if len(chosen) != 1:
        raise BadRequest("sensor: name one field, not a pattern")
    found = chosen[0]
    state = found.sensor is not None and found.sensor.kind == "state"
    if not found.numeric and not state:
        raise BadRequest(f"sensor: {found.name} is not numeric")
    start, end = _range(query)
    points = _integer(query, "points", 1000, 1, MAX_POINTS)
    with handler.server.reader() as reader:
        buckets = reader.buckets(series_id(found.group, found.index), start, end, points)

    def value(raw: float) -> float:
        return float(raw) if state else _decode_number(found, raw)

    language = _language(handler, query)
    states = None
    if state and found.sensor is not None and found.sensor.states:
        names = catalogue.STATES[found.sensor.states]
        states = {code: catalogue.state_text(found.sensor.states, code, language) for code in names}
    handler.send_json(
        HTTPStatus.OK,
        {
            "sensor": found.name,
            "unit": found.unit,
            "label": found.label(language),
            "display_unit": found.display_unit,
            "states": states,
            "t": [b.start_ms / 1000 for b in buckets],
            "min": [value(b.minimum) for b in buckets],
            "max": [value(b.maximum) for b in buckets],
            "mean": [round(value(b.mean), 4) for b in buckets],
            "count": [b.count for b in buckets],
        },
    )


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
        handler.send_header(
            "Content-Type", "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
        )
        handler.send_header("Content-Disposition", f'attachment; filename="luxlogd.{fmt}"')
        handler.end_headers()
        rows = cast(Generator[Any, None, None], export.decoded_rows(reader, chosen, start, end))
        try:
            export.write_export(rows, [f.name for f in chosen], _Utf8Writer(handler.wfile), fmt)  # type: ignore[arg-type]
        finally:
            rows.close()  # before the reader closes: a client that went away leaves no trace


def summary(handler: Handler, query: dict[str, str]) -> None:

    config = handler.server.config
    days = _integer(query, "days", 7, 1, MAX_DAYS)
    now = local_time(handler.server.clock())  # "today" and "now" from the one clock
    today = now.date()
    give_up = time.monotonic() + WORK_DEADLINE_S
    rows = []
    with handler.server.reader() as reader:
        for back in range(days - 1, -1, -1):
            if time.monotonic() > give_up:
                raise Busy("the summary took too long; ask for fewer days")
            start, end = rollup.period(config, today - dt.timedelta(days=back), 1)
            compute = partial(rollup.summarize_day, reader, start, end, end.date().isoformat())
            row = _cached(handler, ("summary", start, end), end, compute)
            if row is not None:
                rows.append(row | {"partial": False})
        # Today so far: the period that began at the last roll-up time.
        begun = rollup.rollup_time(config, rollup.latest_rollup_date(config, now))
        row = rollup.summarize_day(reader, begun, now, "today")
        if row is not None:
            rows.append(row | {"partial": True})
    handler.send_json(HTTPStatus.OK, rows)


def coverage(handler: Handler, query: dict[str, str]) -> None:
    """Polls stored per local day of [from, to) against the polls due (poll.interval_s):
    where data is missing. At most 400 days."""

    start, end = _range(query)
    first = dt.datetime.fromtimestamp(start / 1000, dt.UTC).astimezone().date()
    last = dt.datetime.fromtimestamp((end - 1) / 1000, dt.UTC).astimezone().date()
    if (last - first).days > 400:
        raise BadRequest("from, to: at most 400 days")
    interval = handler.server.config.poll.interval_s
    now_ms = int(handler.server.clock() * 1000)
    flow = sensors.sensor_field("flow")
    days = []
    with handler.server.reader() as reader:
        day = first
        while day <= last:
            day_start = local_midnight_ms(day)
            day_end = min(local_midnight_ms(day + dt.timedelta(days=1)), now_ms)
            if day_end > day_start:
                buckets = reader.buckets(series_id(flow.group, flow.index), day_start, day_end, 1)
                stored = sum(b.count for b in buckets)
                due = max(1, round((day_end - day_start) / 1000 / interval))
                days.append(
                    {
                        "date": day.isoformat(),
                        "stored": stored,
                        "due": due,
                        "percent": round(min(100.0, 100 * stored / due), 1),
                    }
                )
            day += dt.timedelta(days=1)
    handler.send_json(HTTPStatus.OK, {"interval_s": interval, "days": days})


def calendar_stats(handler: Handler, query: dict[str, str]) -> None:
    """/api/stats?month=YYYY-MM (per day) or ?season=YYYY (per month): finished days are
    computed once and kept; a request runs out of time rather than on, and the next one
    continues where it stopped."""

    config = handler.server.config
    now_ms = int(handler.server.clock() * 1000)
    if "season" in query:
        try:
            year = int(query["season"])
            first, end = stats.season_range(year, config.stats.season_start)
        except (ValueError, OverflowError):
            raise BadRequest("season: expected a year (YYYY)") from None
        by = "month"
    else:
        today = local_time(handler.server.clock())
        try:
            first, end = stats.month_range(query.get("month") or today.strftime("%Y-%m"))
        except ValueError:
            raise BadRequest("month: expected YYYY-MM") from None
        by = "day"
    give_up = time.monotonic() + WORK_DEADLINE_S
    with handler.server.reader() as reader:
        day_rows: list[stats.Figures] = []
        day = first
        while day < end and local_midnight_ms(day) < now_ms:
            if time.monotonic() > give_up:
                raise Busy("still computing; ask again (the days done so far are kept)")
            start_ms = local_midnight_ms(day)
            end_ms = min(local_midnight_ms(day + dt.timedelta(days=1)), now_ms)
            finished = end_ms < now_ms
            compute = partial(stats.period_figures, reader, start_ms, end_ms, day.isoformat())
            figures = (
                _cached(
                    handler,
                    ("day", start_ms),
                    dt.datetime.fromtimestamp(end_ms / 1000, dt.UTC),
                    compute,
                )
                if finished
                else compute()
            )
            figures.partial = not finished
            day_rows.append(figures)
            day += dt.timedelta(days=1)
    rows, total = stats.merge_calendar(day_rows, by, first, end)
    handler.send_json(
        HTTPStatus.OK,
        {
            "from": first.isoformat(),
            "to": end.isoformat(),
            "by": by,
            "rows": [r.row() | {"partial": r.partial} for r in rows],
            "total": total.row() | {"partial": total.partial},
        },
    )


def _cached(handler: Handler, key: Any, end: dt.datetime, compute: Callable[[], Any]) -> Any:
    """Results about finished periods (ended more than an hour ago) are kept."""
    server = handler.server
    with server.cache_lock:
        if key in server.cache:
            return server.cache[key]
    value = compute()
    if end.timestamp() < server.clock() - 3600:
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
    values = {f.name: [sensors.field_value(f, poll), f.unit] for f in chosen}
    handler.send_json(HTTPStatus.OK, {"time": poll.ts_ms / 1000, "values": values})


def log_lines(handler: Handler, query: dict[str, str]) -> None:
    ring = logs.ring_buffer()
    handler.send_json(HTTPStatus.OK, ring.snapshot() if ring else [])


def status(handler: Handler, query: dict[str, str]) -> None:
    language = handler.server.config.ui.language
    handler.send_json(HTTPStatus.OK, {**handler.server.provider.status(), "language": language})


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
    "/api/stats": ("heavy", calendar_stats),
    "/api/coverage": ("heavy", coverage),
    "/api/glance": ("heavy", glance_data),
}

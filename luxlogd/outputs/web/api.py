"""The endpoints: the routing, health, metrics, the sensors, the newest poll, the status,
the log and the page. Each request takes a slot of its kind first (server.SLOTS) and bounded
work (query.py); the endpoints that read stored polls are in data.py.
"""

from __future__ import annotations

import shutil
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus

from luxlogd.health import logs
from luxlogd.health.status import host_daemons, problems
from luxlogd.heatpump import sensors
from luxlogd.heatpump.poll import Poll
from luxlogd.heatpump.protocol import GROUPS
from luxlogd.outputs import metrics
from luxlogd.outputs.web.data import (
    calendar_stats,
    coverage,
    export_data,
    heating_curve,
    series,
    summary,
)
from luxlogd.outputs.web.query import (
    chosen_fields,
    language_of,
    poll_lengths,
    slot_for,
)
from luxlogd.outputs.web.server import STATIC, Handler
from luxlogd.reports import rollup
from luxlogd.reports.glance import glance
from luxlogd.store.paths import WAL_DIRECTORY
from luxlogd.store.reader import database_bytes, directory_bytes


def route(handler: Handler, url: urllib.parse.SplitResult) -> None:
    """Answer one GET request (after the server's checks)."""
    query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
    path = url.path
    endpoint = ENDPOINTS.get(path)
    if endpoint is not None:
        kind, answer = endpoint
        with slot_for(handler, kind):
            answer(handler, query)
    elif path in ("/", "/index.html", "/login"):
        with slot_for(handler, "light"):
            handler.send_file(STATIC / "index.html")
    elif path.startswith("/static/"):
        with slot_for(handler, "light"):
            handler.send_static(urllib.parse.unquote(path[len("/static/") :]))
    else:
        handler.send_json(HTTPStatus.NOT_FOUND, {"error": "not found"})


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
    language = language_of(handler, query)
    poll = handler.server.provider.latest_poll()
    lengths = poll_lengths(handler) or {group: 0 for group in GROUPS}
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

    language = language_of(handler, query)
    with handler.server.reader() as reader:
        handler.send_json(HTTPStatus.OK, glance(reader, handler.server.clock(), language))


def latest(handler: Handler, query: dict[str, str]) -> None:
    """The newest stored poll, decoded: {"time": s, "values": {name: [value, unit]}}."""
    poll = handler.server.provider.latest_poll()
    chosen = chosen_fields(handler, query.get("sensors") or "calculations", "sensors")
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


def heat_pumps(handler: Handler, query: dict[str, str]) -> None:
    """The heat pumps luxlogd records on this host (luxlogd.service, luxlogd@NAME), this one
    first: their names, pages and whether they answer."""
    mine = handler.server.provider.status()
    me = (mine.get("name"), mine.get("state_dir"))
    others = [
        s
        for s in host_daemons(handler.server.clock())
        if s.get("name") != me[0] and (me[1] is None or s.get("state_dir") != me[1])
    ]
    handler.send_json(
        HTTPStatus.OK,
        [
            {
                "name": s.get("name"),
                "instance": s.get("instance", ""),
                "web_url": s.get("web_url"),
                "reachable": s.get("reachable"),
                "this": s is mine,
            }
            for s in [mine, *others]
        ],
    )


ENDPOINTS: dict[str, tuple[str, Callable[[Handler, dict[str, str]], None]]] = {
    "/healthz": ("probe", healthz),
    "/metrics": ("probe", metrics_text),
    "/api/sensors": ("light", sensor_list),
    "/api/latest": ("light", latest),
    "/api/logs": ("light", log_lines),
    "/api/status": ("light", status),
    "/api/heatpumps": ("light", heat_pumps),
    "/api/series": ("heavy", series),
    "/api/export": ("heavy", export_data),
    "/api/summary": ("heavy", summary),
    "/api/stats": ("heavy", calendar_stats),
    "/api/heating-curve": ("heavy", heating_curve),
    "/api/coverage": ("heavy", coverage),
    "/api/glance": ("heavy", glance_data),
}

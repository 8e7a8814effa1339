"""The endpoints that read stored polls: series for charts, exports, summaries, coverage,
calendar statistics. Each bounded in work (query.py) and in time (WORK_DEADLINE_S)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Generator
from functools import partial
from http import HTTPStatus
from typing import Any, TypeVar, cast

from luxlogd.base.times import local_midnight_ms, local_time
from luxlogd.heatpump import catalogue, sensors
from luxlogd.outputs.web.query import (
    MAX_DAYS,
    MAX_POINTS,
    WORK_DEADLINE_S,
    cached,
    chosen_fields,
    integer_arg,
    language_of,
    time_range,
)
from luxlogd.outputs.web.server import BadRequest, Busy, Handler
from luxlogd.reports import curve, export, rollup, stats
from luxlogd.store.chunks import series_id

T = TypeVar("T")


def series(handler: Handler, query: dict[str, str]) -> None:
    name = query.get("sensor")
    if not name:
        raise BadRequest("sensor: missing")
    chosen = chosen_fields(handler, name, "sensor")
    if len(chosen) != 1:
        raise BadRequest("sensor: name one field, not a pattern")
    found = chosen[0]
    state = found.sensor is not None and found.sensor.kind == "state"
    if not found.numeric and not state:
        raise BadRequest(f"sensor: {found.name} is not numeric")
    start, end = time_range(query)
    points = integer_arg(query, "points", 1000, 1, MAX_POINTS)
    with handler.server.reader() as reader:
        buckets = reader.buckets(series_id(found.group, found.index), start, end, points)

    def value(raw: float) -> float:
        return float(raw) if state else _decode_number(found, raw)

    language = language_of(handler, query)
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
    start, end = time_range(query)
    fmt = query.get("format", "csv")
    if fmt not in export.FORMATS:
        raise BadRequest("format: expected csv or json")
    text = query.get("sensors") or ",".join(handler.server.config.reports.sensors)
    chosen = chosen_fields(handler, text, "sensors")
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
    days = integer_arg(query, "days", 7, 1, MAX_DAYS)
    now = local_time(handler.server.clock())  # "today" and "now" from the one clock
    today = now.date()
    give_up = time.monotonic() + WORK_DEADLINE_S
    rows = []
    with handler.server.reader() as reader:
        for back in range(days - 1, -1, -1):
            if time.monotonic() > give_up:
                raise Busy("the summary took too long; ask for fewer days")
            start, end = rollup.period(config, today - dt.timedelta(days=back), 1)
            compute = partial(
                rollup.summarize_day,
                reader,
                start,
                end,
                end.date().isoformat(),
                config.poll.interval_s,
            )
            row = cached(handler, ("summary", start, end), end, compute)
            if row is not None:
                rows.append(row | {"partial": False})
        # Today so far: the period that began at the last roll-up time.
        begun = rollup.rollup_time(config, rollup.latest_rollup_date(config, now))
        row = rollup.summarize_day(reader, begun, now, "today", config.poll.interval_s)
        if row is not None:
            rows.append(row | {"partial": True})
    handler.send_json(HTTPStatus.OK, rows)


def coverage(handler: Handler, query: dict[str, str]) -> None:
    """Polls stored per local day of [from, to) against the polls due (poll.interval_s),
    from the first poll ever stored on: where data is missing. At most 400 days."""

    start, end = time_range(query)
    first = dt.datetime.fromtimestamp(start / 1000, dt.UTC).astimezone().date()
    last = dt.datetime.fromtimestamp((end - 1) / 1000, dt.UTC).astimezone().date()
    if (last - first).days > 400:
        raise BadRequest("from, to: at most 400 days")
    interval = handler.server.config.poll.interval_s
    now_ms = int(handler.server.clock() * 1000)
    flow = sensors.sensor_field("flow")
    days = []
    with handler.server.reader() as reader:
        first_ms: list[int | None] = []  # the first poll ever stored, read when needed

        def began(day_start: int) -> int:
            """When polls are due from on this day: its start, or the first poll ever
            stored if that came later (day one counts from when luxlogd started)."""
            if not first_ms:
                first_ms.append(reader.stats().first_ms)
            return max(day_start, first_ms[0] or day_start)

        day = first
        while day <= last:
            day_start = local_midnight_ms(day)
            day_end = min(local_midnight_ms(day + dt.timedelta(days=1)), now_ms)
            if day_end > day_start:
                buckets = reader.buckets(series_id(flow.group, flow.index), day_start, day_end, 1)
                stored = sum(b.count for b in buckets)
                due = max(1, round((day_end - day_start) / 1000 / interval))
                if stored and stored < due:
                    due = max(1, round((day_end - began(day_start)) / 1000 / interval))
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


def _finished_days(
    handler: Handler, first: dt.date, end: dt.date, kind: str, compute: Callable[[int, int, str], T]
) -> list[tuple[T, bool]]:
    """compute(start_ms, end_ms, label) of every local day in [first, end) that has begun,
    with whether it is finished: finished days are computed once and kept; a request runs
    out of time rather than on, and the next one continues where it stopped."""
    now_ms = int(handler.server.clock() * 1000)
    give_up = time.monotonic() + WORK_DEADLINE_S
    found: list[tuple[T, bool]] = []
    day = first
    while day < end and local_midnight_ms(day) < now_ms:
        if time.monotonic() > give_up:
            raise Busy("still computing; ask again (the days done so far are kept)")
        start_ms = local_midnight_ms(day)
        end_ms = min(local_midnight_ms(day + dt.timedelta(days=1)), now_ms)
        finished = end_ms < now_ms
        work = partial(compute, start_ms, end_ms, day.isoformat())
        if finished:
            until = dt.datetime.fromtimestamp(end_ms / 1000, dt.UTC)
            found.append((cached(handler, (kind, start_ms), until, work), True))
        else:
            found.append((work(), False))
        day += dt.timedelta(days=1)
    return found


def _calendar_period(handler: Handler, query: dict[str, str]) -> tuple[dt.date, dt.date, str]:
    """?month=YYYY-MM (by day; default this month) or ?season=YYYY (by month)."""
    config = handler.server.config
    if "season" in query:
        try:
            year = int(query["season"])
            first, end = stats.season_range(year, config.stats.season_start)
        except (ValueError, OverflowError):
            raise BadRequest("season: expected a year (YYYY)") from None
        return first, end, "month"
    today = local_time(handler.server.clock())
    try:
        first, end = stats.month_range(query.get("month") or today.strftime("%Y-%m"))
    except ValueError:
        raise BadRequest("month: expected YYYY-MM") from None
    return first, end, "day"


DAY_POINT_KEYS = (
    "date",
    "space_cop",
    "space_outdoor_mean_c",
    "space_flow_mean_c",
    "space_heat_kwh",
    "space_elec_kwh",
    "space_prc_carnot",
    "combined_cop",
    "data_quality_percent",
)


def calendar_stats(handler: Handler, query: dict[str, str]) -> None:
    """/api/stats?month=YYYY-MM (per day) or ?season=YYYY (per month): the rows, the total,
    its observations in the page's language, and a point per day (the COP chart)."""
    first, end, by = _calendar_period(handler, query)
    language = language_of(handler, query)
    interval_s = handler.server.config.poll.interval_s
    with handler.server.reader() as reader:

        def compute(start_ms: int, end_ms: int, label: str) -> stats.Figures:
            return stats.period_figures(reader, start_ms, end_ms, label, interval_s)

        days = _finished_days(handler, first, end, "day", compute)
    day_rows = []
    for figures, finished in days:
        figures.partial = not finished
        day_rows.append(figures)
    rows, total = stats.merge_calendar(day_rows, by, first, end)
    points = []
    for figures in day_rows:
        if figures.polls:
            row = figures.row()
            points.append({key: row[key] for key in DAY_POINT_KEYS})
    handler.send_json(
        HTTPStatus.OK,
        {
            "from": first.isoformat(),
            "to": end.isoformat(),
            "by": by,
            "rows": [r.row() | {"partial": r.partial} for r in rows],
            "total": total.row() | {"partial": total.partial},
            "observations": total.observations(language),
            "days": points,
        },
    )


def heating_curve(handler: Handler, query: dict[str, str]) -> None:
    """/api/heating-curve?month=YYYY-MM or ?season=YYYY: the heating curve as it really ran,
    flow and return against outdoor temperature (means per 1 K of outdoor temperature, over
    the polls of space heating with the compressor running), with the controller's return
    set point over it."""
    first, end, _ = _calendar_period(handler, query)
    with handler.server.reader() as reader:

        def compute(start_ms: int, end_ms: int, label: str) -> dict[int, list[float]]:
            return curve.day_bins(reader, start_ms, end_ms)

        days = _finished_days(handler, first, end, "curve", compute)
    handler.send_json(HTTPStatus.OK, curve.points(curve.merge(bins for bins, _ in days)))


class _Holder:
    """What _finished_days and cached() read of a request: its server."""

    def __init__(self, server: Any) -> None:
        self.server = server


def warm_season(httpd: Any) -> int:
    """Compute and keep the finished days of the current heating season (the statistics and
    the heating curve), as /api/stats and /api/heating-curve would; how many days."""
    holder = cast(Handler, _Holder(httpd))
    today = local_time(httpd.clock()).date()
    first, end = stats.season_range(today.year, httpd.config.stats.season_start)
    if first > today:
        first, end = stats.season_range(today.year - 1, httpd.config.stats.season_start)
    end = min(end, today)  # finished days only: today is computed when asked
    interval_s = httpd.config.poll.interval_s
    with httpd.reader() as reader:

        def figures(start_ms: int, end_ms: int, label: str) -> stats.Figures:
            return stats.period_figures(reader, start_ms, end_ms, label, interval_s)

        def bins(start_ms: int, end_ms: int, label: str) -> dict[int, list[float]]:
            return curve.day_bins(reader, start_ms, end_ms)

        days = _finished_days(holder, first, end, "day", figures)
        _finished_days(holder, first, end, "curve", bins)
    return len(days)

"""Exports: stored polls in a time range, chosen sensors, decoded, as CSV or JSON.

Timestamps are ISO 8601 in local time with their UTC offset; rows are in time order (equal
stamps, after a clock stepped back, in the order stored). Values are decoded exactly as
luxtronik 0.3.14 decodes them; in CSV booleans are written 1/0 and missing values empty.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any

from luxlogd.base.errors import TimeRangeError, UsageError
from luxlogd.heatpump import sensors
from luxlogd.store.chunks import series_id
from luxlogd.store.reader import Reader

FORMATS = ("csv", "json")
EARLIEST_YEAR, LATEST_YEAR = 1970, 9998  # what a time stamp in ms since 1970 holds here


def parse_time(text: str, *, end_of_day: bool = False) -> dt.datetime:
    """ISO 8601 date or date-time; local time unless it has an offset.

    A bare date means its start, or with `end_of_day` the start of the next day (so
    `--from 2026-11-01 --to 2026-11-01` is that whole day).
    """
    value = text.strip()
    try:
        if len(value) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        else:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise TimeRangeError(
            f"expected an ISO 8601 date or date-time (2026-11-22 or 2026-11-22T07:00), got "
            f"{text[:40]!r}"
        ) from None
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise TimeRangeError(
            f"expected a time between {EARLIEST_YEAR} and {LATEST_YEAR}, got {text[:40]!r}"
        )
    if end_of_day and len(value) == 10:
        moment += dt.timedelta(days=1)
    if moment.tzinfo is None:
        moment = moment.astimezone()  # the machine's local time zone
    return moment


def format_timestamp(ts_ms: int) -> str:
    """ISO 8601 in local time with the UTC offset, to the second (polls are seconds apart)."""
    moment = dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).astimezone()
    return moment.isoformat(timespec="seconds")


def hours_for_people(found: sensors.Field) -> bool:
    """Whether a readable report shows this field in hours (an operating time in seconds)."""
    return found.sensor is not None and found.sensor.kind == "operating_time"


def decoded_rows(
    reader: Reader,
    chosen: Sequence[sensors.Field],
    start_ms: int,
    end_ms: int,
    *,
    suspect: bool = False,
    readable: bool = False,
) -> Iterator[tuple[int, list[Any]]]:
    """(ts_ms, decoded values) of every stored poll stamped in [start_ms, end_ms), in time
    order; with `suspect` the polls a wrong clock stamped instead (kept apart). A sensor that
    is not connected (it reads a rail value: -50.0 °C) is empty, never a temperature; with
    `readable`, operating times are in hours."""
    # Only the few columns that need it are looked at again (a report has ~260 columns).
    rails = [(k, check) for k, found in enumerate(chosen) if (check := _rail_check(found))]
    hours = [k for k, found in enumerate(chosen) if readable and hours_for_people(found)]
    if not rails and not hours:
        yield from _decoded(reader, chosen, start_ms, end_ms, suspect)
        return
    for ts_ms, row in _decoded(reader, chosen, start_ms, end_ms, suspect):
        for position, check in rails:
            value = row[position]
            if value is not None and check(value):
                row[position] = None
        for position in hours:
            if row[position] is not None:
                row[position] = round(row[position] / 3600, 3)
        yield ts_ms, row


def _rail_check(found: sensors.Field) -> Any:
    sensor = found.sensor
    if sensor is None or sensor.kind != "temperature":
        return None
    return sensor.not_connected


def _decoded(
    reader: Reader,
    chosen: Sequence[sensors.Field],
    start_ms: int,
    end_ms: int,
    suspect: bool,
) -> Iterator[tuple[int, list[Any]]]:
    ids: list[int] = []
    # Per field: where its values start, its decoder, and the field itself when it reads
    # more than one value (the firmware string); looked up once, not per poll.
    plan: list[tuple[int, Any, sensors.Field | None]] = []
    for found in chosen:
        plan.append((len(ids), found.decoder, found if found.width > 1 else None))
        ids.extend(series_id(found.group, found.index + k) for k in range(found.width))
    for ts_ms, _, values in reader.polls(start_ms, end_ms, ids, suspect=suspect):
        row = []
        for at, decode, wide in plan:
            if wide is not None:
                row.append(wide.decode(values[at : at + wide.width]))
            else:
                raw = values[at]
                row.append(raw if decode is None or raw is None else decode(raw))
        yield ts_ms, row


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def write_export(
    rows: Iterator[tuple[int, list[Any]]],
    names: Sequence[str],
    output: IO[str],
    fmt: str,
    progress: Any = None,
) -> int:
    """Write rows to `output` in `fmt`; return how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(output, lineterminator="\n")  # writes None as an empty cell
        writer.writerow(["timestamp", *names])
        special: list[int] | None = None
        for ts_ms, values in rows:
            if special is None:  # column types are fixed by the field: look once
                special = [i for i, v in enumerate(values) if isinstance(v, bool | dt.datetime)]
            for position in special:
                values[position] = _csv_cell(values[position])
            writer.writerow([format_timestamp(ts_ms), *values])
            count += 1
            if progress is not None:
                progress(count, ts_ms)
    elif fmt == "json":
        output.write("[")
        for ts_ms, values in rows:
            record = {"timestamp": format_timestamp(ts_ms)}
            record.update(zip(names, map(_json_value, values), strict=True))
            output.write(("," if count else "") + "\n" + json.dumps(record, ensure_ascii=False))
            count += 1
            if progress is not None:
                progress(count, ts_ms)
        output.write("\n]\n" if count else "]\n")
    else:
        raise UsageError(f"unknown format {fmt!r}")
    return count


class TerminalProgress:
    """A one-line progress indication on a terminal (nothing when stderr is not one)."""

    def __init__(self, start_ms: int, end_ms: int, stream: IO[str] | None = None) -> None:
        stream = sys.stderr if stream is None else stream
        self.start_ms, self.end_ms, self.stream = start_ms, end_ms, stream
        self.enabled = stream.isatty()
        self.shown = 0

    def __call__(self, count: int, ts_ms: int) -> None:
        if not self.enabled or count - self.shown < 2000:
            return
        self.shown = count
        span = max(1, self.end_ms - self.start_ms)
        percent = min(100.0, 100.0 * (ts_ms - self.start_ms) / span)
        self.stream.write(f"\rexporting: {count} polls, {percent:5.1f} %")
        self.stream.flush()

    def done(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()

"""The heat pump at a glance, in words: what it does and since when, the temperatures now,
heat output and COP where the firmware reports what they need, today's figures, the last
errors and switch-offs with their meaning. For the page (/api/glance) and `luxlogd status`.
Nothing is invented: what this firmware does not report is said to be missing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from luxlogd.base.times import local_midnight_ms
from luxlogd.heatpump import catalogue, sensors
from luxlogd.heatpump.counters import note_text
from luxlogd.heatpump.poll import Poll
from luxlogd.reports import stats
from luxlogd.store.chunks import series_id
from luxlogd.store.reader import Reader

NOW_KEYS = ("outdoor", "flow", "return", "return_target", "hot_water", "hot_water_target")
HISTORY_MS = 24 * 3_600_000
PHRASES = {  # key -> (English, German)
    "not_reported": ("not reported by this firmware", "von dieser Firmware nicht gemeldet"),
    "no_electric": (
        "no electric energy counters in this firmware",
        "keine Zähler für elektrische Energie in dieser Firmware",
    ),
    "not_running": (
        "the compressor did not run in the last hour",
        "der Verdichter lief in der letzten Stunde nicht",
    ),
    "not_running_now": ("the compressor is off", "der Verdichter steht"),
    "on": ("on", "an"),
    "off": ("off", "aus"),
}


def phrase(key: str, language: str) -> str:
    english, german = PHRASES[key]
    return german if language == "de" else english


def _raw(poll: Poll, key: str) -> int | None:
    sensor = catalogue.by_key()[key]
    values = poll.array(sensor.group)
    return values[sensor.index] if sensor.index < len(values) else None


def _since(reader: Reader, poll: Poll, key: str) -> float | None:
    """When `key` took the value it has in `poll` (seconds), within the last day; None when
    it has not changed since (or the history is shorter)."""
    sensor = catalogue.by_key()[key]
    times, (column,) = reader.columns(
        poll.ts_ms - HISTORY_MS, poll.ts_ms + 1, [series_id(sensor.group, sensor.index)]
    )
    current = _raw(poll, key)
    for position in range(len(column) - 1, 0, -1):
        if column[position - 1] != current and column[position - 1] is not None:
            return times[position] / 1000
    return None


def _log(
    poll: Poll, slots: tuple[tuple[int, int], ...], table: str, language: str
) -> list[dict[str, Any]]:
    entries = []
    for time_index, code_index in slots:
        if code_index >= len(poll.calculations):
            continue
        stamp, code = poll.calculations[time_index], poll.calculations[code_index]
        if stamp and code:
            entries.append(
                {"time": stamp, "code": code, "text": catalogue.state_text(table, code, language)}
            )
    return sorted(entries, key=lambda entry: -entry["time"])


def _entry(key: str, value: Any, language: str) -> dict[str, Any]:
    sensor = catalogue.by_key()[key]
    return {"key": key, "label": sensor.text(language), "value": value, "unit": sensor.unit}


def _cop_now(poll: Poll, running: bool, heat_output: Any, language: str) -> dict[str, Any]:
    """Heat output (calculation 257) over electric power input (268, newer firmware) while
    the compressor runs: the COP of this moment."""
    power = sensors.value(poll, "electric_power")
    if power is None or heat_output is None:
        return {"value": None, "why": phrase("not_reported", language)}
    if not running or not power:
        return {"value": None, "why": phrase("not_running_now", language)}
    return {"value": round(heat_output / power, 2), "why": None}


def glance(reader: Reader, now_s: float, language: str = "en") -> dict[str, Any]:
    """The newest poll and today's figures, in `language`; {"time": None} without polls."""
    poll = reader.latest()
    if poll is None:
        return {"time": None, "language": language}
    mode = _raw(poll, "operating_mode")
    compressor_on = bool(_raw(poll, "compressor"))
    line2 = catalogue.state_text("status_line_2", _raw(poll, "status_line_2"), language)
    lines = [
        catalogue.state_text(f"status_line_{n}", _raw(poll, f"status_line_{n}"), language)
        for n in (1, 2, 3)
    ]
    result: dict[str, Any] = {
        "time": poll.ts_ms / 1000,
        "language": language,
        "mode": {
            "code": mode,
            "text": catalogue.state_text("operating_mode", mode, language),
            "since": _since(reader, poll, "operating_mode"),
        },
        "compressor": {
            "on": compressor_on,
            "text": phrase("on" if compressor_on else "off", language),
            "since": _since(reader, poll, "compressor"),
        },
        "status_lines": lines,
        "status_for_s": sensors.value(poll, "status_time") if line2 else None,
        "now": [_entry(key, sensors.value(poll, key), language) for key in NOW_KEYS],
    }
    heat_output = sensors.value(poll, "heat_output")
    result["heat_output"] = (
        _entry("heat_output", heat_output, language)
        if heat_output is not None
        else {"key": "heat_output", "value": None, "why": phrase("not_reported", language)}
    )
    electric = all(
        _raw(poll, key) is not None for key in ("electric_heating", "electric_hot_water")
    )
    result["cop_now"] = _cop_now(poll, compressor_on, heat_output, language)
    hour = stats.period_figures(reader, poll.ts_ms - 3_600_000, poll.ts_ms + 1, "last hour")
    why = None if electric else phrase("no_electric", language)
    if why is None and not hour.counters.get("compressor_time"):
        why = phrase("not_running", language)
    result["cop_last_hour"] = {"value": hour.cop if why is None else None, "why": why}
    day = dt.datetime.fromtimestamp(now_s, dt.UTC).astimezone().date()
    today = stats.period_figures(
        reader, local_midnight_ms(day), int(now_s * 1000) + 1, day.isoformat()
    )
    result["today"] = {
        "heat_kwh": today.heat_kwh,
        "electric_kwh": today.electric_kwh if electric else None,
        "cop": today.cop if electric else None,
        "starts": today.counters.get("compressor_starts"),
        "hours": today.compressor_hours,
        "average_run_min": today.average_run_min,
        "defrosts": today.defrosts,
        "hot_water_cycles": today.hot_water_cycles,
        "polls": today.polls,
        "notes": [note_text(note, language) for note in today.notes],
        "electric_why": None if electric else phrase("no_electric", language),
    }
    result["errors"] = _log(poll, catalogue.ERROR_LOG, "error", language)
    result["switch_offs"] = _log(poll, catalogue.SWITCH_OFF_LOG, "switch_off", language)
    return result

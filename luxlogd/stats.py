"""Statistics of a period from the stored polls: temperatures, counters, COP, cycles, logs.

Counters only grow on a real heat pump. A drop to near zero is a reset (growth counts from
zero); any other drop or jump is a glitch: the value is ignored and noted, never summed. A
new level that persists (the controller restarted with other counters, a simulator restarted)
becomes the new base, again without counting the step. Everything is named by catalogue key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from luxlogd import catalogue, sensors
from luxlogd.chunks import series_id
from luxlogd.reader import Reader

TEMPERATURES = ("flow", "return", "outdoor", "hot_water")
HEAT = ("heat_heating", "heat_hot_water", "heat_total")
ELECTRIC = ("electric_heating", "electric_hot_water", "electric_cooling")
COUNTERS = ("compressor_starts", "compressor_time", *HEAT, *ELECTRIC)
# How fast a counter can possibly grow (per second), and the slack for one reading's step.
MAX_RATE = {"starts": (1 / 60, 2), "operating_time": (1.0, 120), "heat_energy": (0.03, 1.0),
            "electric_energy": (0.015, 0.5)}  # fmt: skip
NEAR_ZERO = 0.02  # a drop to below 2 % of the value is a reset


@dataclass
class CounterTrack:
    """The growth of one counter over consecutive readings, glitch-proof."""

    kind: str
    total: float = 0.0
    base: float | None = None
    base_ms: int = 0
    candidate: tuple[int, float] | None = None
    notes: list[str] = field(default_factory=list)
    readings: int = 0

    def _plausible(self, start: float, start_ms: int, value: float, at_ms: int) -> bool:
        rate, slack = MAX_RATE[self.kind]
        return 0 <= value - start <= rate * max(0, at_ms - start_ms) / 1000 + slack

    def add(self, at_ms: int, value: float | None) -> None:
        if value is None:
            return
        self.readings += 1
        if self.base is None:
            self.base, self.base_ms = value, at_ms
            return
        if self.candidate is not None:
            seen_ms, seen = self.candidate
            self.candidate = None
            if self._plausible(seen, seen_ms, value, at_ms):  # the new level holds: re-base
                self.total += value - seen
                self.base, self.base_ms = value, at_ms
                self.notes.append(f"restarted at {_clock(seen_ms)} ({self.base_text()})")
                return
        if self._plausible(self.base, self.base_ms, value, at_ms):
            self.total += value - self.base
            self.base, self.base_ms = value, at_ms
        elif value < self.base * NEAR_ZERO and self._plausible(0, self.base_ms, value, at_ms):
            self.total += value
            self.base, self.base_ms = value, at_ms
            self.notes.append(f"reset to zero at {_clock(at_ms)}")
        else:
            self.notes.append(f"ignored {value:g} at {_clock(at_ms)} (was {self.base:g})")
            self.candidate = (at_ms, value)

    def base_text(self) -> str:
        return f"now {self.base:g}"

    @property
    def growth(self) -> float | None:
        return self.total if self.readings >= 2 else None


def _clock(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).astimezone().strftime("%H:%M")


@dataclass
class Figures:
    """The statistics of [start_ms, end_ms)."""

    label: str
    start_ms: int
    end_ms: int
    polls: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    temperatures: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    temperature_sums: dict[str, tuple[float, int]] = field(default_factory=dict)
    counters: dict[str, float | None] = field(default_factory=dict)
    hot_water_cycles: int = 0
    defrosts: int = 0
    errors: list[tuple[int, int]] = field(default_factory=list)  # (epoch s, code)
    switch_offs: list[tuple[int, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    partial: bool = False

    @property
    def heat_kwh(self) -> float | None:
        return self.counters.get("heat_total")

    @property
    def electric_kwh(self) -> float | None:
        parts = [self.counters.get(key) for key in ELECTRIC]
        present = [p for p in parts if p is not None]
        return round(sum(present), 3) if present else None

    @property
    def cop(self) -> float | None:
        heat, electric = self.heat_kwh, self.electric_kwh
        return round(heat / electric, 2) if heat and electric else None

    @property
    def compressor_hours(self) -> float | None:
        seconds = self.counters.get("compressor_time")
        return None if seconds is None else round(seconds / 3600, 3)

    @property
    def average_run_min(self) -> float | None:
        seconds, starts = (
            self.counters.get("compressor_time"),
            self.counters.get("compressor_starts"),
        )
        return round(seconds / starts / 60, 1) if seconds and starts else None

    def merge(self, other: Figures) -> None:
        """Add a later period (a day into its month or season)."""
        if not other.polls:
            return
        self.polls += other.polls
        self.first_ms = other.first_ms if self.first_ms is None else self.first_ms
        self.last_ms = other.last_ms
        for key, (low, high, _) in other.temperatures.items():
            total, count = other.temperature_sums[key]
            if key in self.temperatures:
                old_low, old_high, _ = self.temperatures[key]
                old_total, old_count = self.temperature_sums[key]
                low, high = min(low, old_low), max(high, old_high)
                total, count = total + old_total, count + old_count
            self.temperature_sums[key] = (total, count)
            self.temperatures[key] = (low, high, round(total / count, 2))
        for key, value in other.counters.items():
            if value is not None:
                self.counters[key] = round((self.counters.get(key) or 0) + value, 3)
            else:
                self.counters.setdefault(key, None)
        self.hot_water_cycles += other.hot_water_cycles
        self.defrosts += other.defrosts
        self.errors += other.errors
        self.switch_offs += other.switch_offs
        self.notes += other.notes

    def row(self) -> dict[str, Any]:
        """A flat record (the summary CSV, the JSON API)."""
        row: dict[str, Any] = {"date": self.label, "polls": self.polls}
        for key in TEMPERATURES:
            low, high, mean = self.temperatures.get(key, (None, None, None))
            row.update({f"{key}_min_c": low, f"{key}_mean_c": mean, f"{key}_max_c": high})
        row["compressor_starts"] = _whole(self.counters.get("compressor_starts"))
        row["compressor_hours"] = self.compressor_hours
        row["average_run_min"] = self.average_run_min
        for key in HEAT:
            row[f"{key}_kwh"] = self.counters.get(key)
        for key in ELECTRIC:
            row[f"{key}_kwh"] = self.counters.get(key)
        row["electric_kwh"] = self.electric_kwh
        row["cop"] = self.cop
        row["hot_water_cycles"] = self.hot_water_cycles
        row["defrosts"] = self.defrosts
        row["errors"] = _log_text(self.errors)
        row["switch_offs"] = _log_text(self.switch_offs)
        row["notes"] = "; ".join(self.notes)
        return row


def _whole(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def _log_text(entries: list[tuple[int, int]]) -> str:
    return " ".join(
        f"{code}@{dt.datetime.fromtimestamp(stamp, dt.UTC).astimezone():%H:%M}"
        for stamp, code in sorted(set(entries))
    )


ROW_COLUMNS = list(Figures("", 0, 0).row())


def _fields(keys: Iterable[str]) -> list[sensors.Field]:
    return [sensors.sensor_field(key) for key in keys]


def _log_fields(log: Sequence[tuple[int, int]]) -> list[sensors.Field]:
    found = []
    for time_index, code_index in log:
        for index in (time_index, code_index):
            field_ = sensors.field_at("calculations", index)
            assert field_ is not None
            found.append(field_)
    return found


def period_figures(reader: Reader, start_ms: int, end_ms: int, label: str) -> Figures:
    """The figures of every poll stored in [start_ms, end_ms)."""
    temperature_fields = _fields(TEMPERATURES)
    counter_fields = _fields(COUNTERS)
    mode_field = sensors.sensor_field("operating_mode")
    error_fields = _log_fields(catalogue.ERROR_LOG)
    switch_fields = _log_fields(catalogue.SWITCH_OFF_LOG)
    wanted = [*temperature_fields, *counter_fields, mode_field, *error_fields, *switch_fields]
    ids = [series_id(f.group, f.index) for f in wanted]
    figures = Figures(label, start_ms, end_ms)
    tracks = {f.sensor.key: CounterTrack(f.sensor.kind) for f in counter_fields if f.sensor}
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    sums: dict[str, tuple[float, int]] = {}
    hot_water = catalogue.code_of("operating_mode", "hot water")
    defrost = catalogue.code_of("operating_mode", "defrost")
    previous_mode: int | None = None
    logs: set[tuple[str, int, int]] = set()
    n_t, n_c = len(temperature_fields), len(counter_fields)
    for ts_ms, _, values in reader.polls(start_ms, end_ms, ids):
        figures.polls += 1
        figures.first_ms = ts_ms if figures.first_ms is None else figures.first_ms
        figures.last_ms = ts_ms
        for found, raw in zip(temperature_fields, values[:n_t], strict=True):
            value = found.decode([raw])
            if value is None:
                continue
            key = found.sensor.key if found.sensor else found.name
            lows[key] = min(lows.get(key, value), value)
            highs[key] = max(highs.get(key, value), value)
            total, count = sums.get(key, (0.0, 0))
            sums[key] = (total + value, count + 1)
        for found, raw in zip(counter_fields, values[n_t : n_t + n_c], strict=True):
            if found.sensor is not None:
                tracks[found.sensor.key].add(ts_ms, found.decode([raw]))
        mode = values[n_t + n_c]
        if mode is not None and previous_mode is not None and mode != previous_mode:
            figures.hot_water_cycles += mode == hot_water
            figures.defrosts += mode == defrost
        previous_mode = mode if mode is not None else previous_mode
        position = n_t + n_c + 1
        for name, count in (("error", len(error_fields)), ("switch", len(switch_fields))):
            pairs = values[position : position + count]
            for stamp, code in zip(pairs[0::2], pairs[1::2], strict=True):
                if stamp and code is not None and start_ms <= stamp * 1000 < end_ms:
                    logs.add((name, stamp, code))
            position += count
    for key in sums:
        total, count = sums[key]
        figures.temperature_sums[key] = (total, count)
        figures.temperatures[key] = (lows[key], highs[key], round(total / count, 2))
    for key, track in tracks.items():
        growth = track.growth
        figures.counters[key] = None if growth is None else round(growth, 3)
        figures.notes += [f"{key}: {note}" for note in track.notes]
    figures.errors = sorted((s, c) for kind, s, c in logs if kind == "error")
    figures.switch_offs = sorted((s, c) for kind, s, c in logs if kind == "switch")
    return figures

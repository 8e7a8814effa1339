"""Statistics of a period from the stored polls: temperatures, counters, COP, cycles, logs.

Counters grow glitch-proof (heatpump/counters.py says how). Everything is named by
catalogue key.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import multiprocessing
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from luxlogd.base.times import local_midnight_ms
from luxlogd.heatpump import catalogue, sensors
from luxlogd.heatpump.counters import MAX_RATE, CounterTrack
from luxlogd.reports import observations, performance
from luxlogd.reports.performance import Performance
from luxlogd.store.chunks import series_id
from luxlogd.store.reader import Reader

TEMPERATURES = ("flow", "return", "outdoor", "hot_water")
HEAT = ("heat_heating", "heat_hot_water", "heat_total")
ELECTRIC = ("electric_heating", "electric_hot_water", "electric_cooling")
COUNTERS = tuple(
    dict.fromkeys(("compressor_starts", "compressor_time", *HEAT, *ELECTRIC, *performance.COUNTERS))
)
DEFAULT_INTERVAL_S = 30.0
# Counters grow between polls: a period's growth starts at the last reading before it (found
# within this much), so consecutive periods add up exactly to the whole.
OPENING_LOOKBACK_MS = 6 * 3_600_000


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
    performance: Performance = field(default_factory=Performance)

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
        self.performance.merge(other.performance)

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
        row.update(performance.figures(self.performance, self.counters, self.polls))
        return row

    def observations(self, language: str = "en") -> list[str]:
        """Plain sentences about the figures (observations.py)."""
        return observations.observations(self.row(), self.performance, language)


def _whole(value: float | None) -> int | None:
    return None if value is None else int(round(value))


def _log_text(entries: list[tuple[int, int]]) -> str:
    return " ".join(
        f"{code}@{dt.datetime.fromtimestamp(stamp, dt.UTC).astimezone():%H:%M}"
        for stamp, code in sorted(set(entries))
    )


ROW_COLUMNS = list(Figures("", 0, 0).row())
# A figure's unit, from the end of its name (the names are fixed: README).
UNIT_SUFFIXES = (("_kwh", "kWh"), ("_percent", "%"), ("_min", "min"), ("_c", "°C"), ("_k", "K"))
WORDS = {"elec": "electricity", "cop": "COP", "prc": "%", "carnot": "of Carnot"}


def readable_header(key: str) -> str:
    """A column of the summary as people read it: "Flow min (°C)", "Space COP",
    "Space % of Carnot", "Compressor hours"."""
    stem, unit = key, None
    for suffix, suffix_unit in UNIT_SUFFIXES:
        if key.endswith(suffix):
            stem, unit = key[: -len(suffix)], suffix_unit
            break
    words = " ".join(WORDS.get(word, word) for word in stem.split("_"))
    text = words[:1].upper() + words[1:]
    return f"{text} ({unit})" if unit else text


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


def period_figures(
    reader: Reader,
    start_ms: int,
    end_ms: int,
    label: str,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> Figures:
    """The figures of every poll stored in [start_ms, end_ms); counters and mode changes
    from the last poll before it on (see OPENING_LOOKBACK_MS). `interval_s`, the polling
    interval, tells how many polls were due (data quality) and what is a gap."""
    temperature_fields = _fields(TEMPERATURES)
    counter_fields = _fields(COUNTERS)
    mode_field = sensors.sensor_field("operating_mode")
    error_fields = _log_fields(catalogue.ERROR_LOG)
    switch_fields = _log_fields(catalogue.SWITCH_OFF_LOG)
    performance_fields = _fields(performance.wanted_keys())
    clock_field = sensors.field_at("calculations", catalogue.index_of("controller_clock"))
    assert clock_field is not None
    wanted = [
        *temperature_fields,
        *counter_fields,
        mode_field,
        *error_fields,
        *switch_fields,
        *performance_fields,
    ]
    ids = [series_id(f.group, f.index) for f in wanted]
    unique = list(dict.fromkeys(ids))  # flow, return, outdoor are asked for twice
    times, fetched = reader.columns(start_ms - OPENING_LOOKBACK_MS, end_ms, unique)
    columns = [fetched[unique.index(series)] for series in ids]

    @functools.cache
    def controller_clock() -> list[int | None]:
        """The controller's clock at each row: only a counter that needs CounterTrack's
        judgement reads it (it changes every poll, so it costs a column's expansion)."""
        clock_times, (clock,) = reader.columns(
            start_ms - OPENING_LOOKBACK_MS,
            end_ms,
            [series_id(clock_field.group, clock_field.index)],
        )
        at = dict(zip(clock_times, clock, strict=True))
        return [at.get(ts) for ts in times]

    first = bisect.bisect_left(times, start_ms)  # rows before it: the opening reading only
    opening = first - 1 if first > 0 else None
    figures = Figures(label, start_ms, end_ms)
    figures.polls = len(times) - first
    if not figures.polls:
        return figures
    figures.first_ms, figures.last_ms = times[first], times[-1]
    n_t, n_c = len(temperature_fields), len(counter_fields)
    for found, column in zip(temperature_fields, columns[:n_t], strict=True):
        present = [v for v in column[first:] if v is not None]
        if present and found.sensor is not None:
            decode = found.decoder or float
            low, high = decode(min(present)), decode(max(present))
            total = decode(sum(present))  # the decoders are linear (a scale)
            key = found.sensor.key
            figures.temperature_sums[key] = (total, len(present))
            figures.temperatures[key] = (low, high, round(total / len(present), 2))
    start = first if opening is None else opening
    for found, column in zip(counter_fields, columns[n_t : n_t + n_c], strict=True):
        assert found.sensor is not None
        track = _track_changes(found, times, controller_clock, column, start)
        growth = track.growth
        figures.counters[found.sensor.key] = None if growth is None else round(growth, 3)
        figures.notes += [f"{found.sensor.en}: {note}" for note in track.notes]
    modes = columns[n_t + n_c][start:]
    hot_water = catalogue.code_of("operating_mode", "hot water")
    defrost = catalogue.code_of("operating_mode", "defrost")
    present_modes = [m for m in modes if m is not None]
    for before, after in zip(present_modes, present_modes[1:], strict=False):
        if after != before:
            figures.hot_water_cycles += after == hot_water
            figures.defrosts += after == defrost
    position = n_t + n_c + 1
    for target, count in (
        (figures.errors, len(error_fields)),
        (figures.switch_offs, len(switch_fields)),
    ):
        pairs = columns[position : position + count]
        seen: set[tuple[int | None, int | None]] = set()
        for stamp_column, code_column in zip(pairs[0::2], pairs[1::2], strict=True):
            seen |= set(zip(stamp_column[first:], code_column[first:], strict=True))
        inside = [
            (stamp, code)
            for stamp, code in seen
            if stamp and code is not None and start_ms <= stamp * 1000 < end_ms
        ]
        target += sorted(inside)
        position += count
    figures.performance = performance.observe(
        times,
        columns[position : position + len(performance_fields)],
        first,
        0,  # runs are seen from the whole lookback on
        (start_ms, end_ms),
        interval_s,
    )
    return figures


def _track_changes(
    found: sensors.Field,
    times: list[int],
    clock_of: Callable[[], list[int | None]],
    column: list[int | None],
    start: int,
) -> CounterTrack:
    """A counter's track over the rows from `start`, fed only where the value changes (and
    the reading before each change, which confirms the old value until then)."""
    assert found.sensor is not None
    track = CounterTrack(found.sensor.kind)
    steady = _steady_growth(found, column, start)
    if steady is not None:
        return steady
    clock = clock_of()
    previous: int | None = None
    previous_at = 0
    for position in range(start, len(column)):
        raw = column[position]
        if raw is None:
            continue
        if raw != previous:
            if previous is not None and previous_at != position - 1:
                before = position - 1
                track.add(times[before], found.decode([previous]), clock[before])
            track.add(times[position], found.decode([raw]), clock[position])
            previous, previous_at = raw, position
        elif position == len(column) - 1:
            track.add(times[position], found.decode([raw]), clock[position])
    return track


def _steady_growth(
    found: sensors.Field, column: list[int | None], start: int
) -> CounterTrack | None:
    """The track of a counter that only grew, each step within what one reading may add
    (MAX_RATE's slack): then its growth is last minus first, as CounterTrack would sum it,
    without a step-by-step walk. None when any step needs CounterTrack's judgement."""
    assert found.sensor is not None
    present = column[start:]
    if None in present:
        present = [raw for raw in present if raw is not None]
    if len(present) < 2:
        return None
    first, last = found.decode([present[0]]), found.decode([present[-1]])
    unit = found.decode([1]) - found.decode([0]) if found.decoder is not None else 1
    steps = list(map(operator.sub, present[1:], present[:-1]))
    _, slack = MAX_RATE[found.sensor.kind]
    if min(steps) < 0 or max(steps) * unit > slack:
        return None
    track = CounterTrack(found.sensor.kind)
    track.total, track.base, track.readings = last - first, last, len(present)
    return track


def month_range(text: str) -> tuple[dt.date, dt.date]:
    """[first day, first day of the next month) of "YYYY-MM"."""
    first = dt.date.fromisoformat(f"{text}-01")
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following


def season_range(year: int, season_start: str) -> tuple[dt.date, dt.date]:
    """The heating season that begins in `year` on `season_start` ("MM-DD"), one year long."""
    month, day = (int(part) for part in season_start.split("-"))
    return dt.date(year, month, day), dt.date(year + 1, month, day)


def calendar_figures(
    reader: Reader,
    first: dt.date,
    end: dt.date,
    by: str,
    now_ms: int,
    progress: Callable[[int, int], None] | None = None,
    interval_s: float = DEFAULT_INTERVAL_S,
    workers: int = 1,
) -> tuple[list[Figures], Figures]:
    """Figures per local calendar day (`by="day"`) or month, and the total, for [first, end).
    A day that has not ended yet counts up to `now_ms` (marked partial). With `workers` > 1
    the days are computed by that many processes, each with its own reader (a season)."""
    periods: list[tuple[int, int, str]] = []
    day = first
    while day < end and local_midnight_ms(day) < now_ms:
        end_ms = min(local_midnight_ms(day + dt.timedelta(days=1)), now_ms)
        periods.append((local_midnight_ms(day), end_ms, day.isoformat()))
        day += dt.timedelta(days=1)
    total = (end - first).days
    if workers > 1 and len(periods) >= 4 * workers:
        computed: Iterable[Figures] = _in_processes(reader, periods, interval_s, workers)
    else:
        computed = (period_figures(reader, *period, interval_s) for period in periods)
    days: list[Figures] = []
    for figures in computed:
        figures.partial = figures.end_ms == now_ms
        days.append(figures)
        if progress is not None:
            progress(len(days), total)
    return merge_calendar(days, by, first, end)


_WORKER_READER: list[Reader] = []  # the reader of a worker process (_in_processes)


def _open_worker_reader(state_dir: str) -> None:
    _WORKER_READER.append(Reader(state_dir))


def _worker_figures(period: tuple[int, int, str, float]) -> Figures:
    return period_figures(_WORKER_READER[0], *period)


def _in_processes(
    reader: Reader, periods: list[tuple[int, int, str]], interval_s: float, workers: int
) -> Iterator[Figures]:
    """period_figures of each period, in order, computed by `workers` processes."""
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_open_worker_reader,
        initargs=(str(reader.state_dir),),
    ) as pool:
        chunk = max(1, len(periods) // (workers * 4))
        yield from pool.map(_worker_figures, [(*p, interval_s) for p in periods], chunksize=chunk)


def merge_calendar(
    days: list[Figures], by: str, first: dt.date, end: dt.date
) -> tuple[list[Figures], Figures]:
    """Rows per day or per month (`by`) of consecutive day figures, and their total."""
    total = Figures(
        f"{first.isoformat()} to {(end - dt.timedelta(days=1)).isoformat()}",
        local_midnight_ms(first),
        local_midnight_ms(end),
    )
    rows: list[Figures] = []
    for figures in days:
        if by == "day":
            rows.append(figures)
        else:
            label = figures.label[:7]
            if not rows or rows[-1].label != label:
                rows.append(Figures(label, figures.start_ms, figures.end_ms))
            rows[-1].merge(figures)
            rows[-1].end_ms = figures.end_ms
            rows[-1].partial = figures.partial
        total.merge(figures)
        total.partial = figures.partial
    return [row for row in rows if row.polls], total

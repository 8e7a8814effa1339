"""How well the heat pump runs, HeatpumpMonitor.org's way: every figure split by what the heat
pump was doing (space heating, hot water, cooling), temperatures while it ran, heat-weighted
flow temperature, efficiency against the Carnot limit, cycling, defrost, the backup heater,
data quality.

Energy and hours come from the controller's own counters (stats.py tracks them glitch-proof):
heat per mode is calculations 151-153, electric energy per mode parameters 1136/1137/1139,
hours per mode calculations 64-66. Luxtronik counts no heat in cooling, so cooling has an
electric figure and no COP. Everything else comes from the stored polls, read once per
period: a poll counts for a mode when the compressor runs (output 44) and the operating mode
(calculation 80) is that mode; defrost polls count for no mode (their electricity is in the
heating counter, as the controller counts it). The definitions are in the README
("Performance figures"); the names are fixed so that others can script against them.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import and_, gt, mul, ne, sub
from typing import Any

from luxlogd.heatpump import catalogue, sensors

MODES = ("space", "water", "cooling")
ALL_MODES = (*MODES, "pool")  # pool counts into combined, it has no columns of its own
HEAT = {"space": "heat_heating", "water": "heat_hot_water", "pool": "heat_pool"}
ELECTRIC = {
    "space": "electric_heating",
    "water": "electric_hot_water",
    "cooling": "electric_cooling",
}
HOURS = {"space": "heating_time", "water": "hot_water_time", "cooling": "cooling_time"}
BACKUP_HOURS = ("second_heater_1_time", "second_heater_2_time")
BACKUP_HEAT = "heat_second_heater"
COUNTERS = (*HEAT.values(), *ELECTRIC.values(), *HOURS.values(), *BACKUP_HOURS, BACKUP_HEAT)

_code = catalogue.code_of
MODE_OF_CODE = {
    _code("operating_mode", "heating"): "space",
    _code("operating_mode", "hot water"): "water",
    _code("operating_mode", "pool / solar"): "pool",
    _code("operating_mode", "cooling"): "cooling",
}
DEFROST_CODE = _code("operating_mode", "defrost")

SHORT_RUN_MIN = 10.0  # a run shorter than this is a short cycle
COLD_C = 2.0  # "defrosting took N % of running time below 2 °C"
# HeatpumpMonitor's Carnot convention: condensing at flow + 2 K, evaporating at the source - 6 K.
CONDENSING_K = 2.0
EVAPORATING_K = -6.0
KELVIN = 273.15
GAP_STEPS = 3  # a step between polls longer than this many intervals is a gap, not time


@dataclass
class Means:
    """Sums over the polls of one mode while the compressor ran (mergeable)."""

    polls: int = 0
    flow: float = 0.0
    ret: float = 0.0
    outdoor: float = 0.0
    ideal: float = 0.0  # sum of weight x ideal (Carnot) COP
    weight: float = 0.0
    ideal_refrigerant: float = 0.0
    weight_refrigerant: float = 0.0

    def merge(self, other: Means) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def mean(self, total: float) -> float | None:
        return round(total / self.polls, 2) if self.polls else None


@dataclass
class Performance:
    """The sums a period's performance figures come from; a day's merge into a month."""

    means: dict[str, Means] = field(default_factory=lambda: {m: Means() for m in ALL_MODES})
    weighted: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    runs_min: list[float] = field(default_factory=list)  # runs that ended in the period
    running_s: float = 0.0
    defrost_s: float = 0.0
    running_cold_s: float = 0.0
    defrost_cold_s: float = 0.0
    polls_due: float = 0.0
    short_cycle_days: int = 0

    def merge(self, other: Performance) -> None:
        for mode, means in other.means.items():
            self.means[mode].merge(means)
        self.weighted = [a + b for a, b in zip(self.weighted, other.weighted, strict=True)]
        self.runs_min += other.runs_min
        self.running_s += other.running_s
        self.defrost_s += other.defrost_s
        self.running_cold_s += other.running_cold_s
        self.defrost_cold_s += other.defrost_cold_s
        self.polls_due += other.polls_due
        self.short_cycle_days += other.short_cycle_days

    @property
    def short_cycles(self) -> int:
        return sum(1 for run in self.runs_min if run < SHORT_RUN_MIN)


def wanted_keys() -> tuple[str, ...]:
    """The catalogue sensors a period's polls are read for, in the order `observe` takes."""
    return (
        "operating_mode",
        "compressor",
        "flow",
        "return",
        "outdoor",
        "heat_output",
        "heat_source_in",
        "vaporisation",
        "liquefaction",
        "heat_pump_running",
        "heat_pump_type",
    )


def numbers(key: str, column: Sequence[int | None]) -> list[float | None]:
    """A column as numbers; None where absent or where a rail value says not connected."""
    found = sensors.sensor_field(key)
    sensor = catalogue.by_key()[key]
    step = float(found.decode([10])) / 10 if found.decoder is not None else 1.0  # linear
    rails = {round(rail / step) for rail in catalogue.RAILS if sensor.not_connected(rail)}
    return [None if raw is None or raw in rails else raw * step for raw in column]


def _air_source(types: Sequence[int | None]) -> bool:
    """Whether the heat pump takes its heat from the air (luxtronik's type names start "L");
    ground and water source models use the heat-source inlet (calculation 19)."""
    present = [t for t in types if t is not None]
    if not present:
        return True
    name = sensors.sensor_field("heat_pump_type").decode([present[-1]])
    return not isinstance(name, str) or name.startswith("L") or name == "ERC"


def observe(
    times: Sequence[int],
    columns: Sequence[Sequence[int | None]],
    first: int,
    start: int,
    period: tuple[int, int],
    interval_s: float,
) -> Performance:
    """The sums of the rows [first, len) of `period` (start ms, end ms); the rows from
    `start` on show runs that began before it. `columns` are read for wanted_keys()."""
    start_ms, end_ms = period
    mode_col, on_col = columns[0], columns[1]
    running_for, types = columns[9], columns[10]
    air = _air_source(types[first:])
    cap_ms = GAP_STEPS * interval_s * 1000
    result = Performance()
    result.polls_due = max(0.0, (end_ms - start_ms) / 1000 / interval_s)
    count = len(times)
    on = [1 if value else 0 for value in on_col]
    gaps = list(compress(range(1, count), map(gt, map(sub, times[1:], times[:-1]), repeat(cap_ms))))
    result.runs_min = _runs(times, on, start, first, gaps, running_for)
    running = list(compress(range(first, count), on[first:]))  # the rows the compressor runs
    flow, ret, outdoor, heat_w, source, vap, liq = (
        numbers(key, [column[row] for row in running])
        for key, column in zip(wanted_keys()[2:9], columns[2:9], strict=True)
    )
    following = [*times[first + 1 :], end_ms]  # each row's next poll (or the period's end)
    steps = [min(following[row - first] - times[row], cap_ms) / 1000 for row in running]
    codes = [mode_col[row] for row in running]
    cold = [o is not None and o < COLD_C for o in outdoor]
    defrost = [code == DEFROST_CODE for code in codes]
    result.running_s = sum(steps)
    result.running_cold_s = sum(compress(steps, cold))
    result.defrost_s = sum(compress(steps, defrost))
    result.defrost_cold_s = sum(compress(steps, map(and_, defrost, cold)))
    for code, mode in MODE_OF_CODE.items():
        rows = [
            k
            for k, here in enumerate(codes)
            if here == code and flow[k] is not None and ret[k] is not None
            if outdoor[k] is not None
        ]
        if rows:
            _sums(result, mode, rows, (flow, ret, outdoor, heat_w, source, vap, liq), air)
    result.short_cycle_days = int(result.short_cycles > 0)
    return result


Column = list[float | None]


def _sums(
    result: Performance,
    mode: str,
    rows: list[int],
    columns: tuple[Column, Column, Column, Column, Column, Column, Column],
    air: bool,
) -> None:
    """Add the running rows of one mode (flow, return and outdoor all present) to `result`."""
    flow, ret, outdoor, heat_w, source, vap, liq = columns
    means = result.means[mode]
    f = [flow[k] or 0.0 for k in rows]
    r = [ret[k] or 0.0 for k in rows]
    o = [outdoor[k] or 0.0 for k in rows]
    means.polls += len(rows)
    means.flow += sum(f)
    means.ret += sum(r)
    means.outdoor += sum(o)
    if mode == "cooling":
        return
    # Weighted by the heat output where the controller reports it, else each poll alike.
    w = [1.0 if heat_w[k] is None else heat_w[k] or 0.0 for k in rows]
    # Carnot: condensing at flow + 2 K, evaporating at the source - 6 K (in kelvin).
    evaporating = [
        (o[j] if air or source[k] is None else source[k] or 0.0) + EVAPORATING_K + KELVIN
        for j, k in enumerate(rows)
    ]
    condensing = [value + CONDENSING_K + KELVIN for value in f]
    ideal = [
        (weight, hot / (hot - cold))
        for weight, hot, cold in zip(w, condensing, evaporating, strict=True)
        if weight and hot - cold > 1.0
    ]
    means.ideal += sum(weight * cop for weight, cop in ideal)
    means.weight += sum(weight for weight, _ in ideal)
    refrigerant = [
        (weight, (liq[k] or 0.0) + KELVIN, (vap[k] or 0.0) + KELVIN)
        for weight, k in zip(w, rows, strict=True)
        if weight and liq[k] is not None and vap[k] is not None
    ]
    ideal_refrigerant = [
        (weight, hot / (hot - cold)) for weight, hot, cold in refrigerant if hot - cold > 1.0
    ]
    means.ideal_refrigerant += sum(weight * cop for weight, cop in ideal_refrigerant)
    means.weight_refrigerant += sum(weight for weight, _ in ideal_refrigerant)
    if mode == "space":
        weighted = result.weighted
        weighted[0] += sum(w)
        weighted[1] += sum(map(mul, w, f))
        weighted[2] += sum(weight * (a - b) for weight, a, b in zip(w, f, o, strict=True))
        weighted[3] += sum(weight * (a - b) for weight, a, b in zip(w, f, r, strict=True))


def _runs(
    times: Sequence[int],
    on: list[int],
    start: int,
    first: int,
    gaps: list[int],
    running_for: Sequence[int | None],
) -> list[float]:
    """Minutes of each run that ended in the rows from `first` on: from the first poll the
    compressor ran to the first it did not. A run that began before the rows read (at
    `start`) takes its length from the controller (calculation 67, running for); one with a
    gap inside has no known length."""
    runs: list[float] = []
    edges = compress(range(start + 1, len(on)), map(ne, on[start + 1 :], on[start:-1]))
    began: int | None = None if on[start] else -1  # -1: off at the start, nothing open
    for row in edges:
        if on[row]:
            began = row
            continue
        if row < first:
            began = -1
            continue
        if began is None:  # running since before the first row read
            ran_s = running_for[row - 1]
            if ran_s is not None:
                runs.append((ran_s * 1000 + times[row] - times[row - 1]) / 60_000)
        elif began >= 0 and bisect.bisect_right(gaps, began) == bisect.bisect_right(gaps, row):
            runs.append((times[row] - times[began]) / 60_000)
        began = -1
    return runs


def _share(part: float | None, whole: float | None) -> float | None:
    return round(100 * part / whole, 1) if part is not None and whole else None


def _sum(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present), 3) if present else None


def _cop(heat: float | None, electric: float | None) -> float | None:
    return round(heat / electric, 2) if heat and electric else None


def _carnot(cop: float | None, means: Means, refrigerant: bool = False) -> float | None:
    ideal, weight = (
        (means.ideal_refrigerant, means.weight_refrigerant)
        if refrigerant
        else (means.ideal, means.weight)
    )
    if cop is None or not weight:
        return None
    return round(100 * cop / (ideal / weight), 1)


def figures(perf: Performance, counters: dict[str, float | None], polls: int) -> dict[str, Any]:
    """The named figures (README: "Performance figures") of a period's sums and counters."""
    row: dict[str, Any] = {}
    combined_means = Means()
    for means in perf.means.values():
        combined_means.merge(means)
    heat = {m: counters.get(HEAT[m]) if m in HEAT else None for m in ALL_MODES}
    electric = {m: counters.get(ELECTRIC[m]) if m in ELECTRIC else None for m in ALL_MODES}
    hours = {
        m: None if counters.get(HOURS[m]) is None else round((counters[HOURS[m]] or 0) / 3600, 3)
        for m in MODES
    }
    combined = {
        "heat": _sum(list(heat.values())),
        "elec": _sum(list(electric.values())),
        "hours": _sum(list(hours.values())),
    }
    for mode in ("combined", *MODES):
        means = combined_means if mode == "combined" else perf.means[mode]
        mode_heat = combined["heat"] if mode == "combined" else heat[mode]
        mode_elec = combined["elec"] if mode == "combined" else electric[mode]
        cop = _cop(mode_heat, mode_elec)
        row[f"{mode}_heat_kwh"] = mode_heat
        row[f"{mode}_elec_kwh"] = mode_elec
        row[f"{mode}_cop"] = cop
        row[f"{mode}_hours"] = combined["hours"] if mode == "combined" else hours[mode]
        row[f"{mode}_flow_mean_c"] = means.mean(means.flow)
        row[f"{mode}_return_mean_c"] = means.mean(means.ret)
        row[f"{mode}_outdoor_mean_c"] = means.mean(means.outdoor)
        row[f"{mode}_prc_carnot"] = _carnot(cop, means)
        row[f"{mode}_prc_carnot_refrigerant"] = _carnot(cop, means, refrigerant=True)
    weight, flow_sum, minus_outdoor, minus_return = perf.weighted
    row["weighted_flow_c"] = round(flow_sum / weight, 2) if weight else None
    row["weighted_flow_minus_outdoor_k"] = round(minus_outdoor / weight, 2) if weight else None
    row["weighted_flow_minus_return_k"] = round(minus_return / weight, 2) if weight else None
    starts, seconds = counters.get("compressor_starts"), counters.get("compressor_time")
    row["combined_starts"] = None if starts is None else int(round(starts))
    row["starts_per_running_hour"] = (
        round(starts / (seconds / 3600), 2) if starts is not None and seconds else None
    )
    runs = perf.runs_min
    row["runs"] = len(runs)
    row["run_minutes_median"] = round(statistics.median(runs), 1) if runs else None
    row["short_cycles"] = perf.short_cycles
    row["longest_run_minutes"] = round(max(runs), 1) if runs else None
    row["defrost_minutes"] = round(perf.defrost_s / 60, 1)
    row["defrost_share_percent"] = _share(perf.defrost_s, perf.running_s)
    backup = [counters.get(key) for key in BACKUP_HOURS]
    backup_s = _sum(backup)
    row["backup_heater_hours"] = None if backup_s is None else round(backup_s / 3600, 3)
    row["backup_heater_kwh"] = counters.get(BACKUP_HEAT)
    row["data_quality_percent"] = (
        round(min(100.0, 100 * polls / perf.polls_due), 1) if perf.polls_due else None
    )
    return row


COLUMNS = list(figures(Performance(), {}, 0))

"""The heating curve as it really runs: flow and return temperature against the outdoor
temperature, binned by 1 K of outdoor temperature, over the polls of space heating with the
compressor running; the controller's return set point beside them (Luxtronik's heating curve
sets the return). Per day, so finished days are computed once and merged."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from luxlogd.heatpump import catalogue, sensors
from luxlogd.reports.performance import numbers
from luxlogd.store.chunks import series_id
from luxlogd.store.reader import Reader

KEYS = ("operating_mode", "compressor", "outdoor", "flow", "return", "return_target")
HEATING = catalogue.code_of("operating_mode", "heating")
Bins = dict[int, list[float]]  # outdoor °C (floor) -> [polls, flow sum, return sum, target sum]


def day_bins(reader: Reader, start_ms: int, end_ms: int) -> Bins:
    """The bins of the polls in [start_ms, end_ms)."""
    fields = [sensors.sensor_field(key) for key in KEYS]
    _, columns = reader.columns(start_ms, end_ms, [series_id(f.group, f.index) for f in fields])
    mode, on = columns[:2]
    temperatures = [numbers(key, column) for key, column in zip(KEYS[2:], columns[2:], strict=True)]
    bins: Bins = {}
    for row, code in enumerate(mode):
        if code != HEATING or not on[row]:
            continue
        outdoor, flow, ret, target = (column[row] for column in temperatures)
        if outdoor is None or flow is None or ret is None or target is None:
            continue
        slot = bins.setdefault(math.floor(outdoor), [0, 0.0, 0.0, 0.0])
        slot[0] += 1
        slot[1] += flow
        slot[2] += ret
        slot[3] += target
    return bins


def merge(days: Iterable[Bins]) -> Bins:
    merged: Bins = {}
    for bins in days:
        for outdoor, values in bins.items():
            slot = merged.setdefault(outdoor, [0, 0.0, 0.0, 0.0])
            for position, value in enumerate(values):
                slot[position] += value
    return merged


def points(bins: Bins) -> dict[str, Any]:
    """Columns for a chart, by outdoor temperature (the bin's middle)."""
    order = sorted(bins)
    return {
        "outdoor_c": [outdoor + 0.5 for outdoor in order],
        "polls": [int(bins[o][0]) for o in order],
        "flow_c": [round(bins[o][1] / bins[o][0], 2) for o in order],
        "return_c": [round(bins[o][2] / bins[o][0], 2) for o in order],
        "return_target_c": [round(bins[o][3] / bins[o][0], 2) for o in order],
    }

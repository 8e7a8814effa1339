"""The page's at-a-glance panel (and `luxlogd status`) at the end of a day: what one read of
the heat pump at a glance costs when the day's 2,880 polls (30 s) are not sealed yet.

The glance reads the hot day four times (since when the mode and the compressor are as they
are, the last hour, today); each hot row is a delta of the one before. Reported: the time
(best of 3) and the peak of Python's allocations during one glance (tracemalloc).
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path

from common import Figure, best_of

from luxlogd.heatpump.poll import Poll
from luxlogd.reports.glance import glance
from luxlogd.sim.simulator import Simulator
from luxlogd.store.reader import Reader
from luxlogd.store.writer import Storage


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def store_day(state: Path, polls: int, step_s: float = 30.0) -> float:
    """`polls` of the simulator every `step_s` ending now, all on today's hot day when
    possible; returns the time of the last."""
    end = time.time()
    clock = _Clock(end - polls * step_s)
    simulator = Simulator(clock=clock, seed=4, start_s=clock.now)
    with Storage(state, fdatasync=lambda fd: None) as storage:
        for _ in range(polls):
            p, c, v = simulator.arrays()
            storage.append(Poll(int(clock.now * 1000), 0, tuple(p), tuple(c), tuple(v)))
            clock.now += step_s
    return clock.now


def run(quick: bool) -> list[Figure]:
    polls = 360 if quick else 2880
    with tempfile.TemporaryDirectory() as scratch:
        state = Path(scratch) / "state"
        now = store_day(state, polls)

        def once() -> None:
            with Reader(state) as reader:
                glance(reader, now, "en")

        took = best_of(once, repeat=3)
        tracemalloc.start()
        once()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    label = f"glance (status, the page's panel): {polls:,} polls of the day not sealed"
    return [
        Figure(f"{label}, time", took, "s", goal=1.0),
        Figure(f"{label}, peak allocations", peak / 2**20, "MiB"),
    ]


if __name__ == "__main__":
    for figure in run(quick=False):
        print(f"{figure.name}: {figure.text()}")

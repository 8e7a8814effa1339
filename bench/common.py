"""Shared pieces of the benchmarks: a Figure with its goal, and a best-of timer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    goal: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def meets_goal(self) -> bool | None:
        if self.goal is None:
            return None
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    def text(self) -> str:
        value = f"{self.value:,.3g}" if abs(self.value) < 100 else f"{self.value:,.0f}"
        return f"{value} {self.unit}" + (f" ({self.note})" if self.note else "")

    def goal_text(self) -> str:
        if self.goal is None:
            return ""
        return f"{'>=' if self.higher_is_better else '<='} {self.goal:g} {self.unit}"


def best_of(function: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Return the best time in seconds of `number` calls, over `repeat` rounds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(number):
            function()
        best = min(best, (time.perf_counter() - started) / number)
    return best

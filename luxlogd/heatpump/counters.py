"""The controller's counters (energy, operating hours, starts): how fast each can possibly
grow, and a counter's growth over consecutive readings, glitch-proof.

Counters only grow on a real heat pump. A drop to near zero is a reset (growth counts from
zero); any other drop or jump is a glitch: the value is ignored and noted, never summed. A
new level that persists (the controller restarted with other counters, a simulator restarted)
becomes the new base, again without counting the step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from luxlogd.base.times import hour_minute_text
from luxlogd.heatpump import catalogue

# How fast a counter can possibly grow (per second), and the slack for one reading's step.
MAX_RATE = {
    "starts": (1 / 60, 2),
    "operating_time": (1.0, 120),
    "heat_energy": (0.03, 1.0),
    "electric_energy": (0.015, 0.5),
}
NEAR_ZERO = 0.02  # a drop to below 2 % of the value is a reset


def plain(value: float) -> str:
    """A counter's value as people write it: 13705500, 28271.5; never 1.37055e+07."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3f}".rstrip("0")


# A counter's notes are kept in English (in figures, caches and the summary CSV's notes);
# note_text() says them in German for the page and the commands.
_NOTES_GERMAN = (
    (
        re.compile(r"(?P<label>.+): restarted at (?P<at>\d\d:\d\d) \(now (?P<now>[-\d.]+)\)$"),
        "{label}: neu begonnen um {at} (jetzt {now})",
    ),
    (
        re.compile(r"(?P<label>.+): reset to zero at (?P<at>\d\d:\d\d)$"),
        "{label}: um {at} auf null",
    ),
    (
        re.compile(
            r"(?P<label>.+): ignored (?P<value>[-\d.]+) at (?P<at>\d\d:\d\d)"
            r" \(was (?P<was>[-\d.]+)\)$"
        ),
        "{label}: {value} um {at} übergangen (vorher {was})",
    ),
)


def note_text(note: str, language: str) -> str:
    """A counter's note (English, as kept) in the page's language."""
    if language != "de":
        return note
    labels = {sensor.en: sensor.de for sensor in catalogue.SENSORS}
    for pattern, german in _NOTES_GERMAN:
        found = pattern.match(note)
        if found is not None:
            values = {k: v.replace(".", ",") for k, v in found.groupdict().items()}
            values["label"] = labels.get(found["label"], found["label"])
            return german.format(**values)
    return note


def plausible_growth(
    kind: str, start: float, since: tuple[int, int | None], value: float, at: tuple[int, int | None]
) -> bool:
    """Whether a counter of `kind` can have grown from `start` (read at `since`) to `value`
    (read at `at`); times are (our ms, the controller's clock in s or None). The time between
    is ours, or the controller's when that says more (a simulator faster than real time)."""
    rate, slack = MAX_RATE[kind]
    elapsed_s = max(0.0, (at[0] - since[0]) / 1000)
    if at[1] is not None and since[1] is not None:
        elapsed_s = max(elapsed_s, at[1] - since[1])
    return 0 <= value - start <= rate * elapsed_s + slack


@dataclass
class CounterTrack:
    """The growth of one counter over consecutive readings, glitch-proof (see
    plausible_growth for how much it may grow between two readings)."""

    kind: str
    total: float = 0.0
    base: float | None = None
    base_at: tuple[int, int | None] = (0, None)  # (our ms, the controller's clock in s)
    candidate: tuple[tuple[int, int | None], float] | None = None
    notes: list[str] = field(default_factory=list)
    readings: int = 0

    def _plausible(
        self, start: float, since: tuple[int, int | None], value: float, at: tuple[int, int | None]
    ) -> bool:
        return plausible_growth(self.kind, start, since, value, at)

    def add(self, at_ms: int, value: float | None, clock_s: int | None = None) -> None:
        if value is None:
            return
        at = (at_ms, clock_s)
        self.readings += 1
        if self.base is None:
            self.base, self.base_at = value, at
            return
        if self.candidate is not None:
            seen_at, seen = self.candidate
            self.candidate = None
            if self._plausible(seen, seen_at, value, at):  # the new level holds: re-base
                self.total += value - seen
                self.base, self.base_at = value, at
                when = hour_minute_text(seen_at[0])
                self.notes.append(f"restarted at {when} ({self.base_text()})")
                return
        if self._plausible(self.base, self.base_at, value, at):
            self.total += value - self.base
            self.base, self.base_at = value, at
        elif value < self.base * NEAR_ZERO and self._plausible(0, self.base_at, value, at):
            self.total += value
            self.base, self.base_at = value, at
            self.notes.append(f"reset to zero at {hour_minute_text(at_ms)}")
        else:
            self.notes.append(
                f"ignored {plain(value)} at {hour_minute_text(at_ms)} (was {plain(self.base)})"
            )
            self.candidate = (at, value)

    def base_text(self) -> str:
        return f"now {plain(self.base or 0)}"

    @property
    def growth(self) -> float | None:
        return self.total if self.readings >= 2 else None

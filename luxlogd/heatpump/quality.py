"""Plausibility of every poll, checked after it is stored: nothing is ever dropped or altered.

A problem (a sensor out of its catalogue range, a critical sensor missing or not connected, a
counter that went backwards or jumped, a value stuck for days, time running backwards, too
few values) is logged once when it appears and once when it is gone; each is counted (for
/metrics) and the ones still present are the page's data-quality notes.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from luxlogd.base.words import both
from luxlogd.heatpump import catalogue, sensors
from luxlogd.heatpump.catalogue import Sensor
from luxlogd.heatpump.counters import NEAR_ZERO, plain, plausible_growth
from luxlogd.heatpump.poll import Poll

logger = logging.getLogger("luxlogd.quality")  # its name in the journal (README)

MIN_VALUES = 50  # fewer values in an array: not a whole answer of any firmware
PERSISTS = 10  # implausible counter readings in a row that become the counter's new track


@dataclass(frozen=True)
class Problem:
    check: str  # too_few_values, missing, not_connected, out_of_range, counter, stuck, clock
    key: str  # the sensor (or array) it is about
    message: str  # English: the journal's words
    german: str = ""  # the page's words in German

    @classmethod
    def told(
        cls, check: str, key: str, template: str, sensor: Sensor | None = None, **values: str
    ) -> Problem:
        """A problem whose text is a template of base/german.py, in both languages: the
        sensor's label as {label}, numbers as text (a decimal comma in German)."""
        english = both(template, label=sensor.en if sensor else "", **values)[0]
        comma = {name: value.replace(".", ",") for name, value in values.items()}
        german = both(template, label=sensor.de if sensor else "", **comma)[1]
        return cls(check, key, english, german)


@functools.cache
def _ranged() -> tuple[tuple[Sensor, sensors.Field, float, float], ...]:
    """The sensors with a plausible range (counters aside), their fields and that range."""
    return tuple(
        (s, sensors.sensor_field(s.key), s.low, s.high)
        for s in catalogue.SENSORS
        if s.low is not None and s.high is not None and s.kind not in catalogue.COUNTER_KINDS
    )


@functools.cache
def _counter_sensors() -> tuple[Sensor, ...]:
    return tuple(s for s in catalogue.SENSORS if s.counter)


def check_poll(poll: Poll, previous: Poll | None) -> list[Problem]:
    """The problems of one poll (given the one before it)."""
    found: list[Problem] = []
    for group, values in (("parameters", poll.parameters), ("calculations", poll.calculations)):
        if len(values) < MIN_VALUES:
            found.append(
                Problem.told(
                    "too_few_values",
                    group,
                    "{group}: {n} values (a whole answer has hundreds)",
                    group=group,
                    n=str(len(values)),
                )
            )
    by_key = catalogue.by_key()
    for key in catalogue.CRITICAL:
        sensor = by_key[key]
        value = sensors.value(poll, sensor.key)
        if value is None:
            found.append(Problem.told("missing", key, "{label}: not in this poll", sensor=sensor))
        elif sensor.not_connected(value):
            found.append(
                Problem.told(
                    "not_connected",
                    key,
                    "{label}: reads {value}, the value of a sensor that is not connected",
                    sensor=sensor,
                    value=f"{value:g}",
                )
            )
    for sensor, known, low, high in _ranged():
        value = sensors.field_value(known, poll)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        if sensor.not_connected(value):
            continue  # optional sensors that are not there
        if not low <= value <= high:
            unit = f" {sensor.unit}" if sensor.unit else ""
            found.append(
                Problem.told(
                    "out_of_range",
                    sensor.key,
                    "{label}: {value}{unit}, outside {low} to {high}{unit}",
                    sensor=sensor,
                    value=f"{value:g}",
                    unit=unit,
                    low=f"{low:g}",
                    high=f"{high:g}",
                )
            )
    if previous is not None and poll.ts_ms <= previous.ts_ms:
        found.append(
            Problem.told(
                "clock", "time", "this poll is not later than the one before (the clock went back)"
            )
        )
    return found


def controller_clock_index() -> int:
    """Where calculations hold the controller's clock (epoch seconds of its wall clock)."""
    return catalogue.by_key()["controller_clock"].index


def controller_clock(poll: Poll) -> int | None:
    index = controller_clock_index()
    return poll.calculations[index] if index < len(poll.calculations) else None


@dataclass
class Mark:
    """A counter's last plausible reading, and how many implausible ones followed it."""

    value: float
    at: tuple[int, int | None]  # (our ms, the controller's clock in s)
    odd: int = 0


@dataclass
class Validator:
    """The daemon's memory of problems: what is active, what was counted, what is stuck."""

    active: dict[tuple[str, str], Problem] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    previous: Poll | None = None
    changed: dict[str, tuple[Any, int]] = field(default_factory=dict)  # key -> (value, since ms)
    marks: dict[str, Mark] = field(default_factory=dict)

    def check(self, poll: Poll) -> list[Problem]:
        """Check a stored poll; log appearing and disappearing problems; return the new ones."""
        found = {(p.check, p.key): p for p in check_poll(poll, self.previous)}
        for problem in self._stuck(poll) + self._counters(poll):
            found[(problem.check, problem.key)] = problem
        self.previous = poll
        new = [problem for key, problem in found.items() if key not in self.active]
        for problem in new:
            self.counts[problem.check] = self.counts.get(problem.check, 0) + 1
            logger.warning("data quality: %s (stored unchanged)", problem.message)
        for key, problem in list(self.active.items()):
            if key not in found:
                logger.info("data quality: recovered: %s", problem.message.split(":")[0])
        self.active = found
        return new

    def observe(self, poll: Poll) -> None:
        """check() for the daemon: a fault in checking never stops the poll loop."""
        try:
            self.check(poll)
        except Exception:
            logger.exception("data-quality check failed; the poll is stored")

    def _counters(self, poll: Poll) -> list[Problem]:
        """Counters only grow, and only so fast: a reading below the last plausible one, or
        too far above it, is a problem until the counter is back on track. A new level
        that holds for PERSISTS readings (a replaced controller) becomes the new track."""
        found = []
        at = (poll.ts_ms, controller_clock(poll))
        for sensor in _counter_sensors():
            value = sensors.value(poll, sensor.key)
            if value is None:
                continue
            mark = self.marks.get(sensor.key)
            if (
                mark is None
                or value < mark.value * NEAR_ZERO
                or plausible_growth(sensor.kind, mark.value, mark.at, value, at)
            ):
                self.marks[sensor.key] = Mark(value, at)
                continue
            mark.odd += 1
            if mark.odd >= PERSISTS:
                self.marks[sensor.key] = Mark(value, at)
                continue
            template = (
                "{label}: went backwards from {before} to {after}"
                if value < mark.value
                else "{label}: jumped from {before} to {after}"
            )
            found.append(
                Problem.told(
                    "counter",
                    sensor.key,
                    template,
                    sensor=sensor,
                    before=plain(mark.value),
                    after=plain(value),
                )
            )
        return found

    def _stuck(self, poll: Poll) -> list[Problem]:
        found = []
        by_key = catalogue.by_key()
        for key in catalogue.CHANGING:
            value = sensors.value(poll, by_key[key].key)
            if value is None:
                continue
            seen = self.changed.get(key)
            if seen is None or seen[0] != value:
                self.changed[key] = (value, poll.ts_ms)
            elif poll.ts_ms - seen[1] > catalogue.STUCK_AFTER_S * 1000:
                days = (poll.ts_ms - seen[1]) / 86_400_000
                found.append(
                    Problem.told(
                        "stuck",
                        key,
                        "{label}: {value} for {days} days without a change",
                        sensor=by_key[key],
                        value=f"{value:g}",
                        days=f"{days:.1f}",
                    )
                )
        return found

    def notes(self, language: str = "en") -> list[str]:
        """The problems still present, for the page."""
        return [p.german if language == "de" else p.message for p in self.active.values()]

"""What the daemon counts since it started (polls stored, failed, late, slow, durations):
the source of systemd's STATUS=, status.json and the metrics; each change of state said
once in the journal and written in the diary."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, TypedDict

from luxlogd.base.times import clock_text
from luxlogd.health import events

logger = logging.getLogger("luxlogd.health")  # its name in the journal (README)

# Upper bounds of the poll duration histogram (seconds).
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class CounterFigures(TypedDict):
    """Counters.as_dict(): the counters as they go into the status (see DaemonStatus)."""

    polls_ok: int
    polls_failed: int
    polls_late: int
    polls_slow: int
    slots_skipped: int
    failed_in_row: int
    last_poll: float | None
    last_success: float | None
    last_poll_duration_s: float
    down_since: float | None
    slow_since: float | None
    slow_announced: bool
    last_error: str | None
    durations: list[int]  # per DURATION_BUCKETS, and one above the last
    duration_sum_s: float
    storing_failed: bool
    reachable: bool


@dataclass
class Counters:
    """What the daemon counts since it started; the source of STATUS=, status.json and metrics."""

    polls_ok: int = 0
    polls_failed: int = 0
    polls_late: int = 0
    polls_slow: int = 0
    slots_skipped: int = 0
    failed_in_row: int = 0
    last_poll: float | None = None  # wall clock of the last attempt
    last_success: float | None = None
    last_poll_duration_s: float = 0.0
    down_since: float | None = None
    slow_since: float | None = None
    slow_announced: bool = False
    last_error: str | None = None
    durations: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum_s: float = 0.0
    storing_failed: bool = False
    events: Any = field(default=None, repr=False)  # events.Events: the diary doctor reads

    def _record(self, event: str, error: Exception | None = None) -> None:
        if self.events is not None:
            self.events.record(event, **({"error": str(error)[:300]} if error else {}))

    @property
    def reachable(self) -> bool:
        return self.down_since is None

    def observe_duration(self, seconds: float) -> None:
        self.last_poll_duration_s = seconds
        self.duration_sum_s += seconds
        for position, bound in enumerate(DURATION_BUCKETS):
            if seconds <= bound:
                self.durations[position] += 1
                return
        self.durations[-1] += 1

    def succeeded(self, now: float, host: str) -> None:
        """A poll was read and stored."""
        self.reached(now, host)
        self.stored(now)

    def reached(self, now: float, host: str) -> None:
        """A poll was read; say so once when the heat pump was down."""
        self.last_poll = now
        if self.down_since is not None:
            logger.info(
                "heat pump reachable again host=%s after %d failed polls (down since %s)",
                host,
                self.failed_in_row,
                clock_text(self.down_since),
            )
            self.down_since = None
            self._record(events.REACHABLE)
        self.failed_in_row = 0

    def stored(self, now: float) -> None:
        """A poll was made durable (acknowledged)."""
        self.polls_ok += 1
        self.last_success = now
        if self.storing_failed:
            self.storing_failed = False
            self._record(events.STORED)

    def failed(self, error: Exception, now: float) -> None:
        """A poll failed: the first failure of a run is a warning, repeats are debug."""
        self.polls_failed += 1
        self.failed_in_row += 1
        self.last_poll = now
        self.last_error = str(error)
        if self.down_since is None:
            self.down_since = now
            logger.warning("heat pump unreachable, polling goes on: %s", error)
            self._record(events.UNREACHABLE, error)
        else:
            logger.debug("heat pump still unreachable: %s", error)

    def not_stored(self, problem: str) -> None:
        """A poll was read but cannot be made durable now (it waits in memory; the ERROR was
        logged where storage failed)."""
        self.last_error = problem
        if not self.storing_failed:
            self.storing_failed = True
            self._record(events.NOT_STORED, Exception(problem))

    def late(self, seconds: float, interval_s: float) -> None:
        """A poll starts `seconds` after its slot (more than a second or 10 %: late)."""
        if seconds > max(1.0, 0.1 * interval_s):
            self.polls_late += 1
            logger.warning("poll late by %.1f s", seconds)

    def timed(self, read_s: float, interval_s: float, now: float) -> None:
        """Note how long a successful read took (longer than the interval: slow)."""
        if read_s > interval_s:
            self.polls_slow += 1
            if self.slow_since is None:
                self.slow_since = now
                self.slow_announced = False
        elif self.slow_since is not None:
            logger.info("heat pump answers within the interval again (%.1f s)", read_s)
            self.slow_since = None

    def skipped(self, missed: int, interval_s: float) -> None:
        """Poll slots passed while the last poll ran: counted, and said (a slow controller
        once as a warning, then quietly until it is quick again)."""
        self.slots_skipped += missed
        self.polls_late += 1
        took = self.last_poll_duration_s
        if self.slow_since is None:
            logger.warning(
                "poll overran its slot, skipped_polls=%d (the last poll took %.1f s, "
                "interval_s=%g)",
                missed,
                took,
                interval_s,
            )
            return
        level = logging.DEBUG if self.slow_announced else logging.WARNING
        self.slow_announced = True
        logger.log(
            level,
            "heat pump slow: the read took %.1f s, longer than poll.interval_s=%g;"
            " skipped_polls=%d (counted in status and /metrics)",
            took,
            interval_s,
            missed,
        )

    def status_text(self, stored: int) -> str:
        """One ASCII line for systemd's STATUS= (and `systemctl status`)."""
        if self.down_since is not None:
            return (
                f"heat pump unreachable since {clock_text(self.down_since)}, "
                f"{self.failed_in_row} polls failed; the last stored is #{stored}"
            )
        last = clock_text(self.last_success) if self.last_success else "none yet"
        slow = ", heat pump slow" if self.slow_since is not None else ""
        # The poll's number (the log's sequence), not a count: `status` counts what is stored.
        return f"last poll {last} (#{stored}), heat pump reachable{slow}"

    def as_dict(self) -> CounterFigures:
        return CounterFigures(
            polls_ok=self.polls_ok,
            polls_failed=self.polls_failed,
            polls_late=self.polls_late,
            polls_slow=self.polls_slow,
            slots_skipped=self.slots_skipped,
            failed_in_row=self.failed_in_row,
            last_poll=self.last_poll,
            last_success=self.last_success,
            last_poll_duration_s=self.last_poll_duration_s,
            down_since=self.down_since,
            slow_since=self.slow_since,
            slow_announced=self.slow_announced,
            last_error=self.last_error,
            durations=list(self.durations),
            duration_sum_s=self.duration_sum_s,
            storing_failed=self.storing_failed,
            reachable=self.reachable,
        )

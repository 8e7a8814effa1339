"""The fixed-rate grid of polls: poll k is due at start + k * interval, so there is no drift,
and slots a long poll covers are skipped and counted, never silently."""

from __future__ import annotations


class FixedRate:
    """Where the daemon is on its grid; times in seconds of its monotonic clock."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.start = 0.0
        self.slot = 0

    def begin(self, now: float, interval_s: float | None = None) -> None:
        """Start the grid at `now` (again, after a reload changed the interval)."""
        self.interval_s = interval_s or self.interval_s
        self.start, self.slot = now, 0

    @property
    def due(self) -> float:
        return self.start + self.slot * self.interval_s

    def until_next(self, now: float) -> float:
        """Seconds from `now` to the slot after the current one."""
        return self.due + self.interval_s - now

    def advance(self, now: float) -> tuple[float, int]:
        """Move to the next slot not yet passed; return (when it is due, slots skipped)."""
        self.slot += 1
        missed = 0
        if self.due < now:
            missed = int((now - self.due) // self.interval_s) + 1
            self.slot += missed
        return self.due, missed

    def read_budget(self, started: float, timeout_s: float, cap_s: float | None) -> float:
        """A read may take until the next slot, or timeout_s if that is longer (a slow
        controller is not a dead one), but never longer than cap_s (the watchdog's limit)."""
        budget = max(self.until_next(started) - 0.05, timeout_s)
        return max(0.05, budget if cap_s is None else min(budget, cap_s))

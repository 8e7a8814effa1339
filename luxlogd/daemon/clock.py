"""Which clock to believe. The daemon stamps polls with the system clock, but a Raspberry Pi
without a real-time clock, a bad NTP answer or a wrong `date` can move that clock by days.
Three witnesses keep it honest: the heat pump's own clock (calculation 134), the newest poll
stored before this start, and the monotonic time since then.

- A jump of the system clock (against the monotonic clock) of more than a minute goes into
  the diary; more than a day is a WARNING.
- A poll is flagged (`Poll.clock_suspect`) when the heat pump's clock disagrees with the
  system clock by more than a day (both as read, and in the time passed since a moment both
  agreed on) and the system clock does not follow on from the store's history either (the
  newest poll stored, plus the monotonic time since): it is kept exactly as read, and kept
  apart from the others. Without a heat pump clock nothing is flagged: one clock alone can
  not be judged, only kept from deleting.
- Retention asks trusted_now(): the system clock when another witness confirms it, else never
  later than the last confirmed moment plus the monotonic time since.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from luxlogd.base.times import clock_text
from luxlogd.base.words import tr
from luxlogd.health import events
from luxlogd.heatpump.poll import Poll
from luxlogd.heatpump.quality import controller_clock

logger = logging.getLogger("luxlogd.clock")  # its name in the journal (README)

DAY_S = 86_400.0
JUMP_S = DAY_S  # a jump of more than this either way is a WARNING
STEP_S = 60.0  # a step of more than this (an NTP correction) goes into the diary
SET_SINCE = 946_684_800  # a heat pump clock before 2000 was never set


def days_text(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds >= 2 * DAY_S:
        return tr("{n} days", n=f"{seconds / DAY_S:.0f}")
    if seconds >= 2 * 3600:
        return tr("{n} hours", n=f"{seconds / 3600:.0f}")
    return tr("{n} minutes", n=f"{seconds / 60:.0f}")


def direction_text(direction: str | None) -> str:
    """forward or back, as the diary writes it, in the current language."""
    if direction == "forward":
        return tr("forward")
    return tr("back") if direction == "back" else ""


def _set(poll: Poll) -> int | None:
    """The heat pump's clock in a poll, when it reports one that was ever set."""
    clock = controller_clock(poll)
    return clock if clock and clock >= SET_SINCE else None


def controller_offset_s(poll: Poll, wall_s: float) -> float | None:
    """How far the heat pump's clock is from the system clock at this poll (read as UTC or as
    local time, whichever is nearer: firmware differs), or None when it reports none."""
    clock = _set(poll)
    if clock is None:
        return None
    offset = dt.datetime.fromtimestamp(wall_s, dt.UTC).astimezone().utcoffset()
    local_s = offset.total_seconds() if offset else 0.0
    return min(clock - wall_s, clock - (wall_s + local_s), key=abs)


class ClockGuard:
    """The daemon's judgement of its clocks, poll by poll."""

    def __init__(
        self,
        newest_stored_ms: int | None,
        newest_controller_clock: int | None = None,
        *,
        wallclock: Callable[[], float],
        monotonic: Callable[[], float],
        diary: events.Events | None = None,
    ) -> None:
        self.wallclock = wallclock
        self.monotonic = monotonic
        self.diary = diary
        # A moment whose time we trust, as (wall s, monotonic s, the heat pump's clock or
        # None): the newest poll stored before this start, later each confirmed poll.
        self.anchor: tuple[float, float, int | None] | None = None
        if newest_stored_ms is not None:
            clock = newest_controller_clock
            self.anchor = (
                newest_stored_ms / 1000,
                monotonic(),
                clock if clock and clock >= SET_SINCE else None,
            )
        self.suspect: str | None = None  # why polls are flagged now, or None
        self.confirmed = False  # another witness confirmed the system clock at the last poll
        self.offset_s: float | None = None  # the heat pump's clock minus ours, last seen
        self.jumps = 0
        self._last: tuple[float, float] | None = None  # (wall, monotonic) of the last poll

    def floor_s(self, mono: float | None = None) -> float | None:
        """The trusted moment plus the monotonic time since (real time is at least this);
        None before there is one."""
        if self.anchor is None:
            return None
        mono = self.monotonic() if mono is None else mono
        return self.anchor[0] + (mono - self.anchor[1])

    def trusted_now(self) -> float:
        """ "Now" for deleting old data: the system clock when another witness confirmed it
        at the last poll, else the earlier of it and floor_s()."""
        wall = self.wallclock()
        if self.confirmed and self.suspect is None:
            return wall
        floor = self.floor_s()
        return wall if floor is None else min(wall, floor)

    def observe(self, poll: Poll) -> Poll:
        """Judge the clock at this poll (stamped by the system clock); return it, flagged when
        the stamp is not to be trusted."""
        wall, mono = poll.ts_ms / 1000, self.monotonic()
        controller = _set(poll)
        self.offset_s = controller_offset_s(poll, wall)
        first = self._last is None
        if self._last is not None:
            skew = wall - (self._last[0] + (mono - self._last[1]))
            if abs(skew) > STEP_S:
                self._stepped(skew, wall)
        self._last = (wall, mono)
        floor = self.floor_s(mono)
        agrees = self._controller_agrees(wall, controller)
        follows = floor is not None and abs(wall - floor) <= JUMP_S
        if first and floor is not None and not follows:
            self._at_start(wall, floor, agrees)
        verdict = None
        if controller is not None and not agrees and not follows and floor is not None:
            expected = self._controller_expects(wall, controller)
            where = "ahead of" if wall > expected else "behind"
            verdict = (
                f"the system clock is {days_text(wall - expected)} {where} the heat pump's clock"
            )
        self._set_verdict(verdict)
        self.confirmed = verdict is None and (agrees or follows)
        if self.confirmed or (verdict is None and self.anchor is None):
            self.anchor = (wall, mono, controller)
        return dataclasses.replace(poll, clock_suspect=True) if self.suspect else poll

    def _controller_agrees(self, wall: float, controller: int | None) -> bool:
        """The heat pump's clock confirms the system clock: as read (UTC or local), or in the
        time passed since the trusted moment (a controller clock that is consistently off)."""
        if controller is None:
            return False
        if self.offset_s is not None and abs(self.offset_s) <= JUMP_S:
            return True
        return abs(wall - self._controller_expects(wall, controller)) <= JUMP_S

    def _controller_expects(self, wall: float, controller: int) -> float:
        """The system clock's time that the heat pump's clock implies."""
        if self.anchor is not None and self.anchor[2] is not None:
            return self.anchor[0] + (controller - self.anchor[2])
        return wall + (self.offset_s or 0.0)

    def _set_verdict(self, verdict: str | None) -> None:
        if verdict == self.suspect or (verdict is not None and self.suspect is not None):
            self.suspect = verdict
            return
        if verdict is not None:
            logger.warning(
                "%s: polls are stored, stamped as read, and kept apart until the "
                "clock is right (set it; check NTP)",
                verdict,
            )
            self._record(events.CLOCK_WRONG, reason=verdict)
        else:
            logger.info(
                "the system clock agrees with the heat pump's clock again; polls are "
                "no longer kept apart"
            )
            self._record(events.CLOCK_RIGHT)
        self.suspect = verdict

    def _stepped(self, skew: float, wall: float) -> None:
        direction = "forward" if skew > 0 else "back"
        details: dict[str, Any] = {"seconds": round(skew, 1), "direction": direction}
        if abs(skew) > JUMP_S:
            self.jumps += 1
            logger.warning(
                "the system clock jumped %s by %s (now %s)",
                direction,
                days_text(skew),
                clock_text(wall),
            )
            self._record(events.CLOCK_JUMP, **details)
        else:
            logger.info("the system clock stepped %s by %s", direction, days_text(skew))
            self._record(events.CLOCK_STEP, **details)

    def _at_start(self, wall: float, floor: float, agrees: bool) -> None:
        """The first poll after a start, more than a day from the newest poll stored."""
        gap = wall - floor
        if gap > 0 and agrees:
            logger.info(
                "first poll %s after the newest one stored (the heat pump's clock "
                "agrees: luxlogd was not running)",
                days_text(gap),
            )
            return
        self.jumps += 1
        logger.warning(
            "the system clock is %s %s the newest poll stored%s",
            days_text(gap),
            "after" if gap > 0 else "before",
            "; nothing confirms it, so retention deletes nothing on its word" if gap > 0 else "",
        )
        self._record(
            events.CLOCK_JUMP,
            seconds=round(gap, 1),
            direction="forward" if gap > 0 else "back",
            at_start=True,
        )

    def _record(self, event: str, **details: Any) -> None:
        if self.diary is not None:
            self.diary.record(event, **details)

    def status(self) -> dict[str, Any]:
        return {"suspect": self.suspect, "controller_offset_s": self.offset_s, "jumps": self.jumps}

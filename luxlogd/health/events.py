"""The daemon's diary: when it started and stopped, when the heat pump became unreachable and
reachable again, when polls could not be stored. `luxlogd doctor` explains gaps with it.

`<state_dir>/events.jsonl`, one JSON object per line ({"ts": epoch seconds, "event": ...}),
written only when something changes (a few lines a day), appended without fsync: a lost line
loses an explanation, never a reading. At 256 KiB it becomes events.jsonl.1 (one old file
kept), so it never grows without bound.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from luxlogd.base.times import minute_text
from luxlogd.base.words import tr
from luxlogd.store.paths import EVENTS_FILE

logger = logging.getLogger("luxlogd.events")  # its name in the journal (README)

MAX_BYTES = 256 * 1024

# What the daemon writes, and the words doctor uses for it.
STARTED, STOPPED = "started", "stopped"
UNREACHABLE, REACHABLE = "unreachable", "reachable"
NOT_STORED, STORED = "not_stored", "stored"
CLOCK_STEP, CLOCK_JUMP = "clock_step", "clock_jump"  # the system clock moved (> 1 min, > 1 day)
CLOCK_WRONG, CLOCK_RIGHT = "clock_wrong", "clock_right"  # polls kept apart, and no longer


class Events:
    """Appends events for one state directory; never raises (the diary is best effort)."""

    def __init__(self, state_dir: Path, clock: Callable[[], float]) -> None:
        self.path = Path(state_dir) / EVENTS_FILE
        self.clock = clock

    def record(self, event: str, **details: Any) -> None:
        line = json.dumps(
            {"ts": round(self.clock(), 3), "event": event, **details},
            ensure_ascii=False,
            default=str,
        )
        try:
            if self.path.exists() and self.path.stat().st_size > MAX_BYTES:
                os.replace(self.path, self.path.with_name(EVENTS_FILE + ".1"))
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as error:
            logger.debug("cannot write %s: %s", self.path, error)


def read_events(state_dir: Path) -> list[dict[str, Any]]:
    """Every event kept (the rotated file first), in time order; damaged lines skipped."""
    found: list[dict[str, Any]] = []
    for name in (EVENTS_FILE + ".1", EVENTS_FILE):
        try:
            text = (Path(state_dir) / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                if isinstance(entry, dict) and isinstance(entry.get("ts"), int | float):
                    found.append(entry)
            except ValueError:
                continue
    found.sort(key=lambda entry: entry["ts"])
    return found


def _state_at(
    events: Sequence[dict[str, Any]], at: float, down: str, up: str
) -> dict[str, Any] | None:
    """The `down` event in force at `at` (the last of down/up before it is a down), or None."""
    current = None
    for entry in events:
        if entry["ts"] > at:
            break
        if entry["event"] == down:
            current = entry
        elif entry["event"] == up:
            current = None
    return current


def explain_gap(events: Sequence[dict[str, Any]], start_s: float, end_s: float) -> str:
    """Why there are no polls between start_s and end_s, as far as the diary tells."""
    within = [e for e in events if start_s <= e["ts"] <= end_s]
    reasons: list[str] = []
    stopped = next((e for e in within if e["event"] == STOPPED), None)
    started = next((e for e in within if e["event"] == STARTED), None)
    if stopped is not None:
        text = tr("luxlogd was stopped at {when}", when=minute_text(stopped["ts"]))
        if started is not None and started["ts"] >= stopped["ts"]:
            text += tr(" and started at {when}", when=minute_text(started["ts"]))
        reasons.append(text)
    elif started is not None:
        reasons.append(
            tr(
                "luxlogd was not running until {when} and had not stopped cleanly (a power "
                "cut, a crash or kill -9)",
                when=minute_text(started["ts"]),
            )
        )
    for down, up, said in (
        (UNREACHABLE, REACHABLE, tr("the heat pump was unreachable")),
        (NOT_STORED, STORED, tr("polls could not be stored")),
    ):
        entry = _state_at(events, start_s, down, up) or next(
            (e for e in within if e["event"] == down), None
        )
        if entry is not None:
            error = entry.get("error")
            reasons.append(said + (f" ({error})" if error else ""))
    return (
        "; ".join(reasons)
        if reasons
        else tr("no record of why (luxlogd's diary, events.jsonl, has nothing for this time)")
    )

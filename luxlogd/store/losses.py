"""The ledger of losses: every time stored polls were damaged, rebuilt, dropped or deleted
for a reason other than retention of old days, with how many polls are gone (0 too).

`<state_dir>/losses.jsonl`, one JSON object per line, appended and fsynced:
{"ts": when told, "kind": ..., "polls_lost": n, "seqs": [first, last] or null,
 "from_ms": ..., "to_ms": ..., "detail": "..."}. `status`, `doctor`, `/healthz` (for a day)
and the metric luxlogd_polls_lost_total read it. A range of sequence numbers is told once,
however often a restart finds it again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luxlogd.base.times import clock_text
from luxlogd.base.words import count, tr
from luxlogd.store.paths import LOSSES_FILE

logger = logging.getLogger("luxlogd.losses")  # its name in the journal (README)

RECENT_S = 86_400.0  # /healthz reports a loss for this long

# What happened (the words status and doctor use for each kind).
WAL_DAMAGE = "wal_damage"
DATABASE_REBUILT = "database_rebuilt"
NOT_STORED = "not_stored"  # polls read while storage failed, dropped from a full buffer
KINDS = {
    WAL_DAMAGE: "damaged records in the write-ahead log",
    DATABASE_REBUILT: "damaged database rebuilt",
    NOT_STORED: "polls dropped while storage failed",
}


@dataclass(frozen=True)
class Loss:
    ts: float
    kind: str
    polls_lost: int
    seqs: tuple[int, int] | None
    from_ms: int | None
    to_ms: int | None
    detail: str

    def text(self) -> str:
        """One line for people: what, how many, when."""
        what = tr(KINDS[self.kind]) if self.kind in KINDS else self.kind
        span = ""
        if self.from_ms is not None and self.to_ms is not None:
            span = tr(
                " between {start} and {end}",
                start=clock_text(self.from_ms / 1000),
                end=clock_text(self.to_ms / 1000),
            )
        return tr(
            "{when}: {what}, {polls} lost{span} ({detail})",
            when=clock_text(self.ts),
            what=what,
            polls=count(self.polls_lost, "poll"),
            span=span,
            detail=self.detail,
        )


def read_losses(state_dir: Path) -> list[Loss]:
    """Every loss told, oldest first; damaged lines are skipped."""
    try:
        text = (Path(state_dir) / LOSSES_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            seqs = entry.get("seqs")
            found.append(
                Loss(
                    float(entry["ts"]),
                    str(entry["kind"]),
                    int(entry["polls_lost"]),
                    (int(seqs[0]), int(seqs[1])) if seqs else None,
                    entry.get("from_ms"),
                    entry.get("to_ms"),
                    str(entry.get("detail", "")),
                )
            )
        except (ValueError, KeyError, TypeError, IndexError):
            continue
    return found


def polls_lost_total(state_dir: Path) -> int:
    return sum(loss.polls_lost for loss in read_losses(state_dir))


def recent_losses(state_dir: Path, now: float, within_s: float = RECENT_S) -> list[Loss]:
    return [loss for loss in read_losses(state_dir) if now - loss.ts < within_s]


def uncovered(
    ranges: Sequence[tuple[int, int]], known: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The parts of `ranges` (inclusive) that no range in `known` covers."""
    result = []
    for first, last in ranges:
        pieces = [(first, last)]
        for known_first, known_last in known:
            next_pieces = []
            for a, b in pieces:
                if known_last < a or known_first > b:
                    next_pieces.append((a, b))
                    continue
                if a < known_first:
                    next_pieces.append((a, known_first - 1))
                if known_last < b:
                    next_pieces.append((known_last + 1, b))
            pieces = next_pieces
        result += pieces
    return result


class LossLedger:
    """Appends losses for one state directory. A loss that cannot be written is kept in memory
    and written with the next one (the directory may be failing: that is often why)."""

    def __init__(self, state_dir: Path, clock: Callable[[], float]) -> None:
        self.path = Path(state_dir) / LOSSES_FILE
        self.state_dir = Path(state_dir)
        self.clock = clock
        self._unwritten: list[str] = []
        self._told: list[Loss] | None = None

    def told(self) -> list[Loss]:
        """Every loss told, read once and then kept up to date in memory (the daemon's status
        asks every poll)."""
        if self._told is None:
            self._told = read_losses(self.state_dir)
        return self._told

    def total(self) -> int:
        return sum(loss.polls_lost for loss in self.told())

    def recent(self, now: float, within_s: float = RECENT_S) -> list[Loss]:
        return [loss for loss in self.told() if now - loss.ts < within_s]

    def known_ranges(self) -> list[tuple[int, int]]:
        return [loss.seqs for loss in self.told() if loss.seqs is not None]

    def new_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """The parts of `ranges` not told before."""
        return uncovered(ranges, self.known_ranges())

    def record(
        self,
        kind: str,
        polls_lost: int,
        detail: str,
        *,
        seqs: tuple[int, int] | None = None,
        from_ms: int | None = None,
        to_ms: int | None = None,
        advice: str = "",
    ) -> Loss:
        """Tell a loss: one line in the ledger and one ERROR in the log (damage needs a look
        at the disk even when every poll could be recovered)."""
        loss = Loss(round(self.clock(), 3), kind, polls_lost, seqs, from_ms, to_ms, detail)
        entry: dict[str, Any] = {
            "ts": loss.ts,
            "kind": kind,
            "polls_lost": polls_lost,
            "seqs": list(seqs) if seqs else None,
            "from_ms": from_ms,
            "to_ms": to_ms,
            "detail": detail,
        }
        self._unwritten.append(json.dumps(entry) + "\n")
        self.told().append(loss)
        self.flush()
        logger.error(
            "storage: %s, polls_lost=%d%s (%s). %sluxlogd doctor lists every loss",
            KINDS.get(kind, kind),
            polls_lost,
            f" seqs={seqs[0]}-{seqs[1]}" if seqs else "",
            detail,
            f"{advice}. " if advice else "",
        )
        return loss

    def flush(self) -> bool:
        """Write what is waiting; True when nothing is."""
        if not self._unwritten:
            return True
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, "".join(self._unwritten).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as error:
            logger.debug("cannot write %s yet: %s", self.path, error)
            return False
        self._unwritten.clear()
        return True

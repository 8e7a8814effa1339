"""Polls read but not yet durable. While storage fails (a file system that turned read-only,
EIO, no space or no inodes left) the daemon keeps polling into memory, up to an hour of polls,
and retries storage with back-off; the polls kept are written first, in order, when it works
again (or at once when the file system changes: remounted, writable, space or inodes freed).
A poll counts as acknowledged only once the write-ahead log has it durably. Polls that did
not fit are counted, and told in the ledger of losses when storage is back.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path

from luxlogd.base.errors import LockedError, StateDirError, StorageError
from luxlogd.heatpump.poll import Poll
from luxlogd.store import losses
from luxlogd.store.wal import WalError
from luxlogd.store.writer import Storage

logger = logging.getLogger("luxlogd.pending")  # its name in the journal (README)

KEEP_S = 3600.0  # polls kept in memory while storage fails: an hour of them
MAX_KEPT = 1000  # ... but never more than this many (about 15 MB)
RETRY_FIRST_S = 5.0  # storage tried again after 5 s, doubling up to 5 min
RETRY_MAX_S = 300.0


def _file_system(directory: Path) -> tuple[str, bool, bool, bool] | None:
    """What can change when a failed disk is fixed, read without writing to it: the mount
    (remounted), read-only or not, free blocks and free inodes at all; None while unknown."""
    try:
        found = os.statvfs(directory)
    except OSError:
        return None
    return (
        _mount_of(directory),
        bool(found.f_flag & os.ST_RDONLY),
        found.f_bavail > 0,
        found.f_favail > 0,
    )


def _mount_of(directory: Path) -> str:
    """The mountinfo line of the file system `directory` is on: it changes when it is
    remounted or its state changes (ext4 adds "shutdown" after a fatal error)."""
    try:
        path = os.path.realpath(directory)
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return ""
    best = ("", -1)
    for line in lines:
        fields = line.split()
        point = fields[4] if len(fields) > 4 else ""
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > best[1]:
            best = (line, len(point))
    return best[0]


def outlook(directory: Path) -> str | None:
    """What will make storage fail soon, seen without writing (checked every poll): the
    directory cannot be written, its file system is read-only, or has no space or no inodes
    left (the next log segment cannot be made). None when all looks well."""
    try:
        found = os.statvfs(directory)
        writable = os.access(directory, os.W_OK)
    except OSError as error:
        return f"{directory}: {error.strerror or error}"
    if found.f_flag & os.ST_RDONLY:
        return f"{directory} is on a read-only file system"
    if not writable:
        return f"{directory} cannot be written (its permissions changed?)"
    if found.f_bavail == 0:
        return f"no space left on the file system of {directory}"
    if found.f_files and found.f_favail == 0:
        return f"no inodes left on the file system of {directory}"
    return None


class PendingPolls:
    """The way from a poll read to a poll acknowledged, through a storage that may fail."""

    def __init__(self, storage: Storage, interval_s: float, monotonic: Callable[[], float]) -> None:
        self.storage = storage
        self.monotonic = monotonic
        self.polls: deque[Poll] = deque()
        self.capacity = max(1, min(MAX_KEPT, int(KEEP_S / max(interval_s, 0.001))))
        self.problem: str | None = None  # why storage fails now
        self.needs_reopen = False  # the log must be opened again (a failed fsync, a failed start)
        self.dropped = 0  # polls that did not fit while storage failed
        self.dropped_from_ms: int | None = None
        self.dropped_to_ms: int | None = None
        self._retry_at = 0.0
        self._retry_s = RETRY_FIRST_S
        self._seen: tuple[str, bool, bool, bool] | None = None
        self.outlook: str | None = None  # what will fail soon, while nothing has yet

    @property
    def failing(self) -> bool:
        return self.problem is not None

    def start_failed(self, error: StorageError) -> None:
        """Storage could not even be opened: poll into memory and keep trying."""
        self._failed(str(error), reopen=True)

    def add(self, poll: Poll) -> list[tuple[int, Poll]]:
        """Take a poll just read; return the (seq, poll) acknowledged now, oldest first."""
        if len(self.polls) >= self.capacity:
            gone = self.polls.popleft()
            self.dropped += 1
            self.dropped_from_ms = self.dropped_from_ms or gone.ts_ms
            self.dropped_to_ms = gone.ts_ms
        self.polls.append(poll)
        return self.drain()

    def drain(self) -> list[tuple[int, Poll]]:
        """Write what is kept, if storage works (or it is time to try it again)."""
        if (
            self.problem is not None
            and self.monotonic() < self._retry_at
            and _file_system(self.storage.state_dir) == self._seen
        ):
            return []  # the next try comes with back-off, or when the file system changed
        if self.needs_reopen and not self._reopen():
            return []
        done: list[tuple[int, Poll]] = []
        while self.polls:
            try:
                seq = self.storage.append(self.polls[0])
            except WalError as error:
                self._failed(str(error), reopen=error.fatal)
                return done
            done.append((seq, self.polls.popleft()))
        if self.problem is not None:
            self._recovered(len(done))
        self._look_ahead()
        return done

    def _look_ahead(self) -> None:
        seen = outlook(self.storage.state_dir)
        if seen != self.outlook:
            if seen is not None:
                logger.error("storage will fail soon: %s; polls are stored for now", seen)
            elif self.outlook is not None:
                logger.info("storage outlook is fine again")
            self.outlook = seen

    def _reopen(self) -> bool:
        try:
            self.storage.reopen()
        except (StateDirError, LockedError, StorageError, OSError) as error:
            self._failed(str(error), reopen=True)
            return False
        self.needs_reopen = False
        return True

    def _failed(self, problem: str, *, reopen: bool) -> None:
        if self.problem is None:
            logger.error(
                "storage failing: %s; polling goes on, up to %d polls are kept in "
                "memory and written when storage works again",
                problem,
                self.capacity,
            )
            self._retry_s = RETRY_FIRST_S
        else:
            logger.debug("storage still failing: %s", problem)
            self._retry_s = min(RETRY_MAX_S, self._retry_s * 2)
        self.problem = problem
        self.needs_reopen = self.needs_reopen or reopen
        self._retry_at = self.monotonic() + self._retry_s
        self._seen = _file_system(self.storage.state_dir)

    def _recovered(self, written: int) -> None:
        logger.info("storage works again; %d polls kept in memory are stored", written)
        if self.dropped:
            self.storage.losses.record(
                losses.NOT_STORED,
                self.dropped,
                f"storage failed for longer than {self.capacity} polls could be kept in memory "
                f"({self.problem})",
                from_ms=self.dropped_from_ms,
                to_ms=self.dropped_to_ms,
            )
        self.problem = None
        self.dropped, self.dropped_from_ms, self.dropped_to_ms = 0, None, None

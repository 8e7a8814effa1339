"""Retention (`cleanup`) and shedding reports when a disk is full.

Only luxlogd's own files are ever deleted: `cleanup` takes files named exactly like its
reports (a valid date, daily/weekly/summary, a report format); shedding under disk pressure
takes only files the ledger says luxlogd wrote, byte for byte as it wrote them, on a file
system that is over the threshold, never today's. Raw polls are deleted by retention only
through the store's writer, which trusts no single clock."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from luxlogd.base.errors import LockedError, StorageError
from luxlogd.config import Config
from luxlogd.reports.ledger import Ledger, report_date, reports_lock
from luxlogd.store.chunks import DAY_MS
from luxlogd.store.paths import DATABASE_NAME
from luxlogd.store.writer import Storage

logger = logging.getLogger("luxlogd.housekeeping")  # its name in the journal (README)


def usage_percent(path: Path) -> float:
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return 0.0
    return 100.0 * (usage.total - usage.free) / usage.total if usage.total else 0.0


def _device(path: Path) -> int | None:
    try:
        return path.stat().st_dev
    except OSError:
        return None


@dataclass
class CleanupResult:
    files: int = 0
    skipped: int = 0  # reports that could not be deleted
    bytes_freed: int = 0
    polls_removed: int = 0
    raw_retention: str = "applied"  # or why not


def cleanup(config: Config, now: dt.datetime | None = None) -> CleanupResult:
    """`luxlogd cleanup`: delete reports older than reports.retention_days (by the date in
    their name) that the ledger says luxlogd wrote, unchanged since, and sealed days older than
    storage.retention_days (never later than the newest poll stored: one clock reading alone
    deletes nothing).

    A report that cannot be deleted is skipped with a warning; the rest goes on. Raw-data
    retention needs the store's lock: while the daemon runs it applies retention itself
    (whenever it seals a day), and cleanup leaves that to it. Raise LockedError when another
    roll-up or cleanup is writing reports.
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone()
    result = CleanupResult()
    keep_days = config.reports.retention_days
    with reports_lock(config):
        if keep_days > 0:
            oldest = now.date() - dt.timedelta(days=keep_days)
            directories = {d.resolve() for d in config.report_dirs}
            for path in sorted(Ledger(config.state_dir).ours()):
                day = report_date(path.name)
                if day is None or day >= oldest or path.parent.resolve() not in directories:
                    continue
                try:
                    result.bytes_freed += _delete(path)
                    result.files += 1
                except OSError as error:
                    result.skipped += 1
                    logger.warning(
                        "cleanup: cannot delete %s (%s); skipped", path, error.strerror or error
                    )
        try:
            Ledger(config.state_dir).prune()
        except OSError as error:
            logger.warning("cleanup: could not tidy the report ledger: %s", error)
    if config.storage.retention_days > 0:
        _raw_retention(config, now, result)
    else:
        result.raw_retention = "storage.retention_days = 0 keeps everything"
    logger.info(
        "cleanup deleted files=%d polls=%d bytes_freed=%d",
        result.files,
        result.polls_removed,
        result.bytes_freed,
    )
    return result


def _raw_retention(config: Config, now: dt.datetime, result: CleanupResult) -> None:
    if not (config.state_dir / DATABASE_NAME).exists():
        result.raw_retention = "no database yet"
        return
    storage = Storage(config.state_dir, retention_days=config.storage.retention_days)
    try:
        storage.open()
    except LockedError:
        result.raw_retention = "the daemon is running and applies it whenever it seals a day"
        logger.info("cleanup: %s", result.raw_retention)
        return
    try:
        before = storage.database.size_bytes() if storage.database else 0
        now_ms = int(now.timestamp() * 1000)
        newest = storage.newest_trusted_ms()
        if newest is not None and newest < now_ms:
            if now_ms - newest > DAY_MS:
                when = dt.datetime.fromtimestamp(newest / 1000, dt.UTC).astimezone()
                logger.info(
                    "cleanup: retention counts from the newest poll stored, %s, not "
                    "from the system clock",
                    when.isoformat(timespec="seconds"),
                )
            now_ms = newest
        result.polls_removed = storage.apply_retention(now_ms)
        after = storage.database.size_bytes() if storage.database else 0
        result.bytes_freed += max(0, before - after)
    except StorageError as error:
        result.raw_retention = f"failed: {error}"
        logger.warning("cleanup: raw-data retention failed: %s", error)
    finally:
        storage.close()


def _delete(path: Path) -> int:
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    return size


class DiskGuard:
    """The daemon's answer to a full disk, after each stored poll: warn once, then delete the
    oldest reports luxlogd wrote on the file systems over the threshold, never today's; stop
    (and say so once) when nothing more helps. It never raises: a poll is stored already.
    """

    def __init__(self, config: Config, usage: Callable[[Path], float] = usage_percent) -> None:
        self.config = config
        self.usage = usage
        self.warned = False
        self.exhausted = False

    def check(self, today: dt.date) -> int:
        """Return the number of reports deleted."""
        try:
            return self._check(today)
        except Exception:
            logger.exception("disk check failed; polling goes on")
            return 0

    def _over(self) -> dict[int, Path]:
        threshold = self.config.disk.usage_threshold_percent
        over: dict[int, Path] = {}
        for directory in [self.config.state_dir, *self.config.report_dirs]:
            device = _device(directory)
            if device is not None and self.usage(directory) > threshold:
                over[device] = directory
        return over

    def _check(self, today: dt.date) -> int:
        threshold = self.config.disk.usage_threshold_percent
        over = self._over()
        if not over:
            if self.warned:
                logger.info("disk use back below %g %%", threshold)
            self.warned = self.exhausted = False
            return 0
        if not self.warned:
            logger.warning(
                "disk use above %g %% on %s; deleting the oldest reports luxlogd wrote there",
                threshold,
                ", ".join(str(d) for d in over.values()),
            )
            self.warned = True
        if self.exhausted:
            return 0
        lock = reports_lock(self.config)
        try:
            lock.acquire()
        except LockedError:
            return 0  # a roll-up or cleanup is at work; try again after the next poll
        try:
            return self._shed(over, today)
        finally:
            lock.release()

    def _shed(self, over: dict[int, Path], today: dt.date) -> int:
        threshold = self.config.disk.usage_threshold_percent
        candidates = []
        for path in Ledger(self.config.state_dir).ours():
            day = report_date(path.name)
            device = _device(path)
            if day is not None and day < today and device in over:
                candidates.append((day, path.name, device, path))
        deleted = 0
        for _, _, device, path in sorted(candidates):
            if self.usage(over[device]) <= threshold:
                continue
            try:
                size = _delete(path)
            except OSError as error:
                logger.warning("could not delete report %s to free space: %s", path, error)
                continue
            deleted += 1
            logger.info("deleted report to free space file=%s bytes=%d", path, size)
        if any(self.usage(d) > threshold for d in over.values()):
            logger.warning(
                "disk still above %g %% and no report left that luxlogd may delete; polls are "
                "still stored while space lasts: free some space",
                threshold,
            )
            self.exhausted = True
        return deleted

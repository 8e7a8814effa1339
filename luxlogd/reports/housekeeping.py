"""Housekeeping around the reports: what luxlogd wrote (the ledger), retention (`cleanup`),
shedding reports when a disk is full, and the daemon's internal roll-up schedule.

Only luxlogd's own files are ever deleted: `cleanup` takes files named exactly like its
reports (a valid date, daily/weekly/summary, a report format); shedding under disk pressure
takes only files the ledger says luxlogd wrote, byte for byte as it wrote them, on a file
system that is over the threshold, never today's.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luxlogd.base.errors import LockedError, StorageError
from luxlogd.base.files import atomic_file
from luxlogd.config import Config
from luxlogd.store.chunks import DAY_MS
from luxlogd.store.lock import REPORTS_LOCK, FileLock

logger = logging.getLogger("luxlogd.housekeeping")  # its name in the journal (README)

REPORT_NAME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})_(now_)?(daily|weekly|summary)\.(csv|json|dta)(\.gz)?$"
)
LEDGER_FILE = "reports-written.jsonl"


def report_date(name: str) -> dt.date | None:
    """The date of a file named like a report of luxlogd's, else None (1999-13-45 too)."""
    match = REPORT_NAME.match(name)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def reports_lock(config: Config) -> FileLock:
    """The lock every writer of reports holds (roll-up, cleanup, the daemon's shedding)."""
    from luxlogd.store.writer import prepare_state_dir

    prepare_state_dir(config.state_dir)
    return FileLock(config.state_dir / REPORTS_LOCK, "writing or deleting reports")


class Ledger:
    """`<state_dir>/reports-written.jsonl`: one line per report file luxlogd published.

    A line records the file's identity (device, inode, size, modification time), so a file
    that someone replaced or edited since is no longer "ours". Appends are fsynced; a torn
    last line is ignored.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LEDGER_FILE

    @staticmethod
    def _identity(path: Path) -> dict[str, Any] | None:
        try:
            found = path.stat()
        except OSError:
            return None
        return {
            "dev": found.st_dev,
            "ino": found.st_ino,
            "size": found.st_size,
            "mtime_ns": found.st_mtime_ns,
        }

    def record(self, paths: list[Path]) -> None:
        lines = []
        for path in paths:
            identity = self._identity(path)
            if identity is not None:
                lines.append(json.dumps({"path": str(path.resolve()), **identity}) + "\n")
        if not lines:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, "".join(lines).encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> dict[str, dict[str, Any]]:
        """path -> identity, the newest line for each path."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {}
        found: dict[str, dict[str, Any]] = {}
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                found[str(entry.pop("path"))] = entry
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return found

    def ours(self) -> list[Path]:
        """The recorded files that still exist exactly as luxlogd wrote them."""
        return [
            Path(path)
            for path, identity in self.entries().items()
            if self._identity(Path(path)) == identity
        ]

    def prune(self) -> None:
        """Forget files that are gone or changed (rewrites the ledger)."""
        kept = [
            json.dumps({"path": str(p), **(self._identity(p) or {})}) + "\n" for p in self.ours()
        ]
        if self.path.exists():
            with atomic_file(self.path) as handle:
                handle.writelines(kept)


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
    from luxlogd.store.reader import DATABASE_NAME
    from luxlogd.store.writer import Storage

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


class InternalSchedule:
    """Roll-up at reports.time and a daily cleanup inside the daemon, when no systemd timer
    does it (Docker). Checked every minute against the wall clock, like a timer with
    Persistent=true: a roll-up missed while the daemon was down runs at start. The work runs
    in a thread, so polls never wait for it.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.thread: threading.Thread | None = None
        self._last_cleanup: dt.date | None = None

    def tick(self, now: dt.datetime) -> None:
        from luxlogd.reports import rollup

        if self.thread is not None and self.thread.is_alive():
            return
        due = rollup.latest_rollup_date(self.config, now)
        if (rollup.last_rollup_name(self.config) or "") >= due.isoformat():
            return
        if not self._has_polls_before(rollup.rollup_time(self.config, due)):
            return  # a new store: nothing to report on yet, and nothing missing either
        run_cleanup = self._last_cleanup != now.date()
        self._last_cleanup = now.date()
        self.thread = threading.Thread(
            target=self._work,
            args=(self.config, due, now, run_cleanup),
            name="housekeeping",
            daemon=True,
        )
        self.thread.start()

    @staticmethod
    def _work(config: Config, due: dt.date, now: dt.datetime, run_cleanup: bool) -> None:
        """The same code the systemd timers run; failures are logged, polling goes on."""
        from luxlogd.reports import rollup

        try:
            rollup.rollup(config, due, now=now)
            if run_cleanup:
                cleanup(config, now=now)
        except LockedError as error:
            logger.info("internal schedule: %s; trying again in a minute", error)
        except Exception:
            logger.exception("internal roll-up or cleanup failed; polling goes on")

    def _has_polls_before(self, end: dt.datetime) -> bool:
        from luxlogd.base.errors import StorageError
        from luxlogd.store.reader import Reader

        try:
            with Reader(self.config.state_dir) as reader:
                first = reader.stats().first_ms
        except StorageError:
            return False
        return first is not None and first < end.timestamp() * 1000

    def join(self, timeout_s: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout_s)


def internal_schedule_enabled(config: Config, environ: Any) -> bool:
    """schedule.internal: on, off, or auto (on unless systemd started us: its timers run)."""
    setting = config.schedule.internal
    if setting == "auto":
        return not (environ.get("INVOCATION_ID") or environ.get("NOTIFY_SOCKET"))
    return setting == "on"

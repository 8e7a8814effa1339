"""The writer of a state directory: the WAL for durability, SQLite for history, one at a time.

`Storage.append()` returns a sequence number only once the poll is durable in the WAL (the
acknowledgement); SQLite gets it right after. Whatever SQLite says, polling goes on: a
database that cannot be written leaves the polls in the WAL (and catches up later), a damaged
one is moved aside and rebuilt from what is readable plus the WAL. WAL segments are deleted
only after SQLite's copy was checkpointed. One process at a time holds `luxlogd.lock`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from luxlogd import codec, wal
from luxlogd.chunks import DAY_MS
from luxlogd.database import Database, DatabaseDamagedError
from luxlogd.errors import StateDirError, StorageError
from luxlogd.files import fsync_directory, write_atomically
from luxlogd.lock import STORE_LOCK, FileLock
from luxlogd.poll import Poll
from luxlogd.reader import DATABASE_NAME, WAL_DIRECTORY, decode_records
from luxlogd.rescue import rescue

logger = logging.getLogger(__name__)

RETRY_EVERY = 10  # while SQLite is failing, try it again every this many polls
REBUILT_FILE = "database-rebuilt.json"
MAX_RETENTION_DAYS = 36_500


def read_rebuilt_note(state_dir: Path) -> dict[str, Any] | None:
    """What the last rebuild of a damaged database left for `status` and `doctor`, or None."""
    try:
        return dict(json.loads((Path(state_dir) / REBUILT_FILE).read_text()))
    except (OSError, ValueError):
        return None


def prepare_state_dir(state_dir: Path) -> None:
    """Create the state directory; StateDirError (exit 78) when it cannot be used."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        probe = state_dir / ".luxlogd-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise StateDirError(
            f"storage.state_dir {state_dir}: cannot write there ({error.strerror or error}); it "
            "must be a directory the user luxlogd runs as can write"
        ) from None


class Storage:
    """The state directory of the one writer. open() locks and recovers; append() acknowledges."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        fdatasync: Callable[[int], None] = os.fdatasync,
        segment_bytes: int = wal.SEGMENT_BYTES,
        commit_every: int = 10,
        retention_days: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.wal = wal.WriteAheadLog(self.state_dir / WAL_DIRECTORY, segment_bytes, fdatasync)
        self.commit_every = commit_every
        self.retention_days = retention_days
        self.clock = clock
        self.lock = FileLock(self.state_dir / STORE_LOCK, "writing polls there")
        self.database: Database | None = None
        self.problem: str | None = None  # why SQLite is not current; polls wait in the WAL
        self.last_poll: Poll | None = None
        self.rebuilt: dict[str, Any] | None = None  # the note of the last rebuild, if any
        self.appended = 0
        self._next_retry = 0

    @property
    def ok(self) -> bool:
        """True when SQLite holds every acknowledged poll (up to its write buffer)."""
        return self.database is not None and self.problem is None

    def open(self) -> Storage:
        """Lock, recover the WAL, open (or rebuild) SQLite, replay what it misses.

        Raise StateDirError when the directory cannot be used, LockedError when another
        process writes it. SQLite trouble never stops the opening.
        """
        prepare_state_dir(self.state_dir)
        self.lock.acquire()
        self.rebuilt = read_rebuilt_note(self.state_dir)
        try:
            records = self.wal.open()
        except OSError as error:
            self.lock.release()
            raise StateDirError(f"{self.wal.directory}: cannot open the write-ahead log: "
                                f"{error.strerror or error}") from None  # fmt: skip
        for _, poll in decode_records(records):
            self.last_poll = poll
        self._open_database()
        if self.database is not None:
            self._replay(records)
        self.wal.recovered = []
        return self

    def _open_database(self) -> None:
        path = self.state_dir / DATABASE_NAME
        try:
            database = Database(path, commit_every=self.commit_every)
            verdict = database.quick_check()
            if verdict != "ok":
                database.close()
                raise DatabaseDamagedError(f"{path}: quick_check: {verdict}")
        except DatabaseDamagedError as error:
            self._rebuild(str(error))
            return
        except StorageError as error:
            self._database_failed(error)
            return
        self.database, self.problem = database, None

    def _replay(self, records: list[tuple[int, bytes, bool]]) -> None:
        assert self.database is not None
        replayed = 0
        try:
            for seq, poll in decode_records(records):
                if self.database.insert(seq, poll):
                    replayed += 1
            self.database.commit()
        except StorageError as error:
            self._database_failed(error)
            return
        self.wal.skip_to(self.database.last_seq)
        if replayed:
            logger.info("storage: replayed polls=%d from the write-ahead log", replayed)

    def _database_failed(self, error: StorageError) -> None:
        if isinstance(error, DatabaseDamagedError):
            self._rebuild(str(error))
            return
        if self.problem is None:
            logger.error(
                "storage: database unusable, polls are kept in the write-ahead log until it "
                "is: %s", error,
            )  # fmt: skip
        self.problem = str(error)
        self._next_retry = self.appended + RETRY_EVERY

    def _rebuild(self, reason: str) -> None:
        """Move a damaged database aside; rebuild from what is readable plus the WAL."""
        if self.database is not None:
            with contextlib.suppress(Exception):  # a broken connection; nothing left to save
                self.database.db.close()
            self.database = None
        path = self.state_dir / DATABASE_NAME
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(self.clock()))
        aside = path.with_name(f"{DATABASE_NAME}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{path}{suffix}")
            if source.exists():
                source.rename(f"{aside}{suffix}")
        fsync_directory(self.state_dir)
        try:
            database = Database(path, commit_every=self.commit_every)
            days, polls = rescue(aside, database)
        except StorageError as error:
            self._database_failed(error)
            return
        self.database, self.problem = database, None
        from_wal = self.catch_up()
        note = {
            "time": self.clock(), "reason": reason, "moved_to": str(aside), "days_rescued": days,
            "polls_rescued": polls, "polls_from_wal": from_wal,
        }  # fmt: skip
        write_atomically(self.state_dir / REBUILT_FILE, json.dumps(note) + "\n")
        self.rebuilt = note
        logger.error(
            "storage: the database was damaged (%s); moved aside to %s and rebuilt: %d sealed "
            "days and %d polls rescued from it, %d polls from the write-ahead log. Check the "
            "disk (an SD card that loses writes on power cuts?)", reason, aside, days, polls,
            from_wal,
        )  # fmt: skip

    def append(self, poll: Poll) -> int:
        """Make `poll` durable and return its sequence number (the acknowledgement).

        Raise wal.WalError when it could not be made durable (then nothing was acknowledged).
        """
        payload = codec.encode(poll, self.last_poll)
        if not codec.is_keyframe(payload) and self.wal.starts_segment(len(payload)):
            payload = codec.encode(poll, None)
        rotating = self.wal.starts_segment(len(payload))
        try:
            seq = self.wal.append(payload)
        except wal.WalGoneError as error:
            logger.error("storage: %s; the log starts again and the database is made durable",
                         error)  # fmt: skip
            self._make_database_durable()
            seq = self.wal.append(codec.encode(poll, None))
            rotating = True
        self.last_poll = poll
        self.appended += 1
        self._store(seq, poll)
        if rotating:
            self._release_segments()
        return seq

    def _store(self, seq: int, poll: Poll) -> None:
        if self.problem is not None:
            if self.appended < self._next_retry:
                return  # the poll stays in the WAL; catching up re-reads it later
            if self.database is None:
                self._open_database()
                if self.database is None:
                    return
            try:
                self.catch_up()
            except StorageError as error:
                self._database_failed(error)
                return
            logger.info("storage: database writable again, caught up to seq=%d", seq)
            self.problem = None
        assert self.database is not None
        try:
            sealed = self.database.days_sealed
            self.database.insert(seq, poll)
            if self.database.days_sealed != sealed:
                self.apply_retention(poll.ts_ms)
        except StorageError as error:
            self._database_failed(error)

    def apply_retention(self, now_ms: int) -> int:
        """Delete sealed days older than `retention_days` (0 keeps all); return polls removed.

        The one place raw-data retention happens: when a day is sealed, and `luxlogd cleanup`.
        """
        if self.retention_days <= 0 or self.database is None:
            return 0
        days = min(self.retention_days, MAX_RETENTION_DAYS)
        removed = self.database.delete_before(now_ms - days * DAY_MS)
        if removed:
            logger.info("storage: retention removed polls=%d older than %d days", removed, days)
        return removed

    def catch_up(self) -> int:
        """Insert into SQLite every WAL record it misses; return how many."""
        assert self.database is not None
        after = self.database.last_seq
        records = wal.read_records(self.wal.directory, after)
        count = 0
        for seq, poll in decode_records(records, after):
            self.database.insert(seq, poll)
            count += 1
        self.database.commit()
        return count

    def _make_database_durable(self) -> None:
        if self.ok:
            assert self.database is not None
            try:
                self.database.checkpoint()
            except StorageError as error:
                logger.error("storage: could not make the database durable: %s", error)

    def _release_segments(self) -> None:
        """Delete WAL segments whose polls SQLite holds durably."""
        if not self.ok:
            return
        assert self.database is not None
        try:
            if self.database.checkpoint():
                removed = self.wal.remove_through(self.database.last_seq)
                if removed:
                    logger.debug("wal: removed segments=%d", removed)
        except (StorageError, OSError) as error:
            logger.warning("storage: could not release WAL segments: %s", error)

    def flush(self) -> None:
        """Commit SQLite's pending inserts (the WAL already has them durably)."""
        if self.ok:
            assert self.database is not None
            try:
                self.database.commit()
            except StorageError as error:
                self._database_failed(error)

    def close(self) -> None:
        try:
            self.flush()
            if self.database is not None:
                self.database.close()
                self.database = None
            self.wal.close()
        finally:
            self.lock.release()

    def __enter__(self) -> Storage:
        return self if self.lock.held else self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The writer of a state directory: the WAL for durability, SQLite for history, one at a time.

`Storage.append()` returns a sequence number only once the poll is durable in the WAL (the
acknowledgement); SQLite gets it right after. Whatever SQLite says, polling goes on: a
database that cannot be written leaves the polls in the WAL (and catches up later), a damaged
one is moved aside and rebuilt from what is readable plus the WAL. WAL segments are deleted
only once SQLite's copy is checkpointed and their day is sealed, so the WAL always holds the
whole day not sealed yet. Every poll that damage takes is counted in the ledger of losses
(losses.py). One process at a time holds `luxlogd.lock`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from luxlogd.base.errors import StorageError, StorageFaultError, state_dir_error
from luxlogd.base.files import fsync_directory, write_atomically
from luxlogd.config import MAX_RETENTION_DAYS
from luxlogd.heatpump.poll import Poll
from luxlogd.store import codec, frames, losses, wal
from luxlogd.store.chunks import DAY_MS
from luxlogd.store.codec import decode_records
from luxlogd.store.database import Database, merge_ranges
from luxlogd.store.lock import FileLock
from luxlogd.store.paths import DATABASE_NAME, REBUILT_FILE, STORE_LOCK, WAL_DIRECTORY
from luxlogd.store.reader import Reader
from luxlogd.store.rescue import rescue
from luxlogd.store.schema import DatabaseDamagedError

logger = logging.getLogger("luxlogd.storage")  # its name in the journal (README)

RETRY_EVERY = 10  # while SQLite is failing, try it again every this many polls
# Retention at a seal deletes at most this many days: a clock that all witnesses wrongly
# agree on still cannot empty the store at once (lowering retention_days takes a few days).
RETENTION_DAYS_PER_SEAL = 7
SALVAGED_SUFFIX = ".salvaged"
REBASE_AFTER = 64  # records in a segment before a poll far from its base starts a new one
CHECK_THE_DISK = "Check the disk (an SD card that loses writes on power cuts?)"


def read_rebuilt_note(state_dir: Path) -> dict[str, Any] | None:
    """What the last rebuild of a damaged database left for `status` and `doctor`, or None."""
    try:
        return dict(json.loads((Path(state_dir) / REBUILT_FILE).read_text()))
    except (OSError, ValueError):
        return None


def prepare_state_dir(state_dir: Path) -> None:
    """Create the state directory; StateDirError (exit 78) when it cannot be used by
    configuration, StorageFaultError when its file system fails (read-only, full, EIO)."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        probe = state_dir / ".luxlogd-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise state_dir_error(
            f"storage.state_dir {state_dir}: cannot write there ({error.strerror or error}); "
            + (
                "it must be a directory the user luxlogd runs as can write"
                if error.errno in (errno.EACCES, errno.EPERM, errno.ENOTDIR)
                else "its file system is failing"
            ),
            error,
        ) from None


def _span(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


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
        trusted_now: Callable[[], float | None] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.wal = wal.WriteAheadLog(self.state_dir / WAL_DIRECTORY, segment_bytes, fdatasync)
        self.commit_every = commit_every
        self.retention_days = retention_days
        self.clock = clock
        # "Now" for retention: the daemon's judgement of every clock it has; by default the
        # system clock, but never later than the newest poll stored.
        self.trusted_now = trusted_now
        self.lock = FileLock(self.state_dir / STORE_LOCK, "writing polls there")
        self.losses = losses.LossLedger(self.state_dir, clock)
        self.database: Database | None = None
        self.problem: str | None = None  # why SQLite is not current; polls wait in the WAL
        self.segment_base: Poll | None = None  # what the WAL's records are written against
        self.rebuilt: dict[str, Any] | None = None  # the note of the last rebuild, if any
        self.appended = 0
        self.last_acked = 0  # the newest seq known durable (status.json tells it)
        self._next_retry = 0

    @property
    def ok(self) -> bool:
        """True when SQLite holds every acknowledged poll (up to its write buffer)."""
        return self.database is not None and self.problem is None

    def open(self) -> Storage:
        """Lock, recover the WAL, open (or rebuild) SQLite, replay what it misses.

        Raise StateDirError when the directory cannot be used (configuration),
        StorageFaultError when its storage fails, LockedError when another process writes
        it. SQLite trouble never stops the opening.
        """
        prepare_state_dir(self.state_dir)
        self.lock.acquire()
        try:
            self._recover()
        except StorageError:
            self.lock.release()
            raise
        return self

    def reopen(self) -> None:
        """Open again after a storage fault: recover the WAL from disk and reopen SQLite.
        Raise StorageError while the storage still fails, and StorageFaultError when the
        directory is gone or empty although polls were stored there (a disk not mounted
        again yet): never start a new store in its place."""
        stored = self.last_acked
        self._close_files()
        self.lock.release()  # taken again on the file system as it is now (remounted?)
        if not self.state_dir.is_dir() or (stored and not any(self.state_dir.iterdir())):
            raise StorageFaultError(
                f"storage.state_dir {self.state_dir} is gone or empty (a "
                "disk that is not mounted?); waiting for it"
            )
        prepare_state_dir(self.state_dir)
        self.lock.acquire()
        self._recover()
        self.expect_through(stored, "after storage failed, it holds")

    def expect_through(self, stored: int, where: str) -> None:
        """Polls up to seq `stored` were acknowledged (a witness says so: this process, or
        the status the last run left): those that are not here are counted as lost."""
        found = self.last_acked  # the newest good record (a torn one in flight is not)
        if found >= stored:
            return
        self.wal.skip_to(stored)  # numbers are never given twice
        gone = losses.uncovered([(found + 1, stored)], self._held())
        new = self.losses.new_ranges(gone)
        if new:
            self.losses.record(
                losses.WAL_DAMAGE,
                sum(b - a + 1 for a, b in new),
                f"{where} polls up to seq {found}, but polls up to {stored} were acknowledged "
                "(a different disk mounted there, or one that lost writes)",
                seqs=(found + 1, stored),
                advice=CHECK_THE_DISK,
            )

    def _recover(self) -> None:
        self.rebuilt = read_rebuilt_note(self.state_dir)
        try:
            recovery = self.wal.open()
        except OSError as error:
            raise state_dir_error(
                f"{self.wal.directory}: cannot open the write-ahead log: {error.strerror or error}",
                error,
            ) from None
        self.segment_base = None
        if self.wal.base is not None:
            try:
                self.segment_base = codec.decode(self.wal.base, None)
            except codec.CodecError:
                self.wal.close()  # its base cannot be read: the next record starts a segment
        self._open_database()
        # Only what SQLite misses is decoded (every record stands alone, but older ones).
        after = self.database.last_seq if self.database is not None else 0
        undecodable: list[int] = []
        decoded = list(decode_records(recovery.records, after, undecodable))
        if self.database is not None:
            self._replay(decoded)
        self._tell_log_losses(recovery, undecodable)
        self.losses.flush()
        self.last_acked = max(
            max((r.seq for r in recovery.records), default=0),
            self.database.last_seq if self.database else 0,
        )
        self._salvage()

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

    def _replay(self, decoded: list[tuple[int, Poll]]) -> None:
        assert self.database is not None
        replayed = 0
        try:
            for seq, poll in decoded:
                if self.database.insert(seq, poll):
                    replayed += 1
            self.database.commit()
        except StorageError as error:
            self._database_failed(error)
            return
        self.wal.skip_to(self.database.last_seq)
        if replayed:
            logger.info("storage: replayed polls=%d from the write-ahead log", replayed)

    def _held(self) -> list[tuple[int, int]]:
        """Sequence numbers SQLite holds (none when it cannot be read)."""
        if self.database is None:
            return []
        try:
            return self.database.seq_ranges()
        except Exception:  # a damaged file: it holds nothing we can count on
            return []

    def _tell_log_losses(self, recovery: wal.Recovery, undecodable: list[int]) -> None:
        """Record what the WAL's damage took, each damaged place once: how many polls are gone
        (those SQLite does not hold either) and between which times."""
        missing = list(recovery.missing) + [(seq, seq) for seq in undecodable]
        if recovery.tail is not None:
            first, last = recovery.tail
            if last > first:  # all but the newest: that one may have been in flight
                missing.append((first, last - 1))
            logger.info(
                "wal: the newest record (seq=%d) is incomplete: the poll in flight at "
                "a crash or power cut, never acknowledged",
                last,
            )
        new = self.losses.new_ranges(merge_ranges(missing))
        if not new and not recovery.damage:
            return
        held = self._held()
        times = [(seq, poll.ts_ms) for seq, poll in decode_records(recovery.records)]
        where = "; ".join(recovery.damage + recovery.zeroed) or "records missing from the log"
        if not new:
            self.losses.record(
                losses.WAL_DAMAGE, 0, f"{where}; no poll was in them", advice=CHECK_THE_DISK
            )
        for first, last in new:
            gone = losses.uncovered([(first, last)], held)
            count = sum(b - a + 1 for a, b in gone)
            before = max((ts for seq, ts in times if seq < first), default=None)
            after = min((ts for seq, ts in times if seq > last), default=None)
            kept = (last - first + 1) - count
            detail = f"seqs {_span([(first, last)])}: {where}; {kept} of them still in the database"
            self.losses.record(
                losses.WAL_DAMAGE,
                count,
                detail,
                seqs=(first, last),
                from_ms=before,
                to_ms=after,
                advice=CHECK_THE_DISK,
            )

    def _database_failed(self, error: StorageError) -> None:
        if isinstance(error, DatabaseDamagedError):
            self._rebuild(str(error))
            return
        if self.problem is None:
            logger.error(
                "storage: database unusable, polls are kept in the write-ahead log until it is: %s",
                error,
            )
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
            "time": self.clock(),
            "reason": reason,
            "moved_to": str(aside),
            "days_rescued": days,
            "polls_rescued": polls,
            "polls_from_wal": from_wal,
        }
        write_atomically(self.state_dir / REBUILT_FILE, json.dumps(note) + "\n")
        self.rebuilt = note
        self._tell_rebuild_losses(reason, aside, days, polls, from_wal)

    def _tell_rebuild_losses(
        self, reason: str, aside: Path, days: int, polls: int, from_wal: int
    ) -> None:
        """Every rebuild is told, with the polls it could not bring back (sequence numbers
        no sealed day, hot row or WAL record holds any more)."""
        assert self.database is not None
        held = self.database.seq_ranges()
        gaps = [(a[1] + 1, b[0] - 1) for a, b in zip(held, held[1:], strict=False)]
        gone = self.losses.new_ranges(gaps)
        count = sum(b - a + 1 for a, b in gone)
        detail = (
            f"{reason}; moved aside to {aside.name}; {days} sealed days and {polls} polls "
            f"read back from it, {from_wal} polls from the write-ahead log"
            + (f"; seqs {_span(gone)} are gone" if gone else "")
        )
        span = (gone[0][0], gone[-1][1]) if gone else None
        self.losses.record(losses.DATABASE_REBUILT, count, detail, seqs=span, advice=CHECK_THE_DISK)

    def _salvage(self) -> None:
        """Put back polls an earlier recovery moved aside (`wal/*.damaged`) that still verify
        and are not stored: they are appended again (new numbers, their own times)."""
        for path in sorted(self.wal.directory.glob(f"*{frames.DAMAGED_SUFFIX}")):
            try:
                polls = self._polls_in_damaged(path)
                stored = self._stored_times(polls)
                back = [poll for poll in polls if poll.ts_ms not in stored]
                for poll in back:
                    self.append(poll)
                path.rename(path.with_name(path.name + SALVAGED_SUFFIX))
            except (OSError, StorageError) as error:
                logger.warning("wal: cannot look into %s yet: %s", path.name, error)
                return
            if back:
                logger.warning(
                    "wal: %d polls that an earlier recovery moved aside to %s were "
                    "readable and are stored again",
                    len(back),
                    path.name,
                )

    def _polls_in_damaged(self, path: Path) -> list[Poll]:
        """The polls whose records in a `.damaged` file still verify and decode."""
        stem = path.name.split(".")[0]
        first_seq = int(stem) if stem.isdigit() else 1
        found = frames.scan(path.read_bytes(), first_seq)
        segment = self.wal.directory / f"{stem}{frames.SUFFIX}"
        base = None
        if found.records and found.records[0][0] == first_seq:
            base = found.records[0][1]
        elif segment.exists():
            base = frames.read_base(segment, frames.scan(segment.read_bytes(), first_seq))
        records = [frames.Record(seq, payload, base) for seq, payload in found.records]
        return [poll for _, poll in decode_records(records)]

    def _stored_times(self, polls: list[Poll]) -> set[int]:
        if not polls:
            return set()
        self.flush()
        low = min(p.ts_ms for p in polls)
        high = max(p.ts_ms for p in polls)
        with Reader(self.state_dir) as reader:
            times = set(reader.columns(low, high + 1, [])[0])
            times |= {row[0] for row in reader.polls(low, high + 1, [], suspect=True)}
        return times

    def append(self, poll: Poll) -> int:
        """Make `poll` durable and return its sequence number (the acknowledgement).

        Raise wal.WalError when it could not be made durable (then nothing was acknowledged).
        """
        base = self.segment_base
        payload = None
        if base is not None and base.lengths == poll.lengths:
            changes = codec.differences(poll, base)  # found once, for the rule and the record
            if 3 * len(changes) <= sum(poll.lengths):
                payload = codec.encode(poll, base, against_base=True, changes=changes)
            elif self.wal.segment_records < REBASE_AFTER:
                payload = codec.encode(poll, None)  # stands alone, like every record
            # else: a third of the values moved since the base (a firmware update, a replaced
            # controller): this poll starts a segment and is the base of the next ones.
            if payload is not None and self.wal.starts_segment(len(payload)):
                payload = None
        starting = payload is None
        try:
            seq = self.wal.append(payload or codec.encode(poll, None), new_segment=starting)
        except wal.WalGoneError as error:
            logger.error(
                "storage: %s; the log starts again and the database is made durable", error
            )
            self._make_database_durable()
            seq = self.wal.append(codec.encode(poll, None), new_segment=True)
            starting = True
        if starting:
            self.segment_base = poll
        self.last_poll = poll
        self.appended += 1
        self.last_acked = seq
        self._store(seq, poll)
        if starting:
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
                self.sealed_day()
        except StorageError as error:
            self._database_failed(error)

    def sealed_day(self) -> None:
        """A day was sealed: apply retention, by trusted time, a few days at most."""
        if self.retention_days <= 0:
            return
        trusted = self.trusted_now() if self.trusted_now is not None else None
        if trusted is not None:
            now_ms = int(trusted * 1000)
        else:
            newest = self.newest_trusted_ms()
            now_ms = (
                int(self.clock() * 1000)
                if newest is None
                else min(int(self.clock() * 1000), newest)
            )
        self.apply_retention(now_ms, RETENTION_DAYS_PER_SEAL)

    def apply_retention(self, now_ms: int, max_days: int | None = None) -> int:
        """Delete trusted sealed days older than `retention_days` before `now_ms` (0 keeps
        all), at most `max_days` of them; return the polls removed. `now_ms` is the caller's
        trusted time: the daemon's, or `cleanup`'s, never one clock reading alone.

        The one place raw-data retention happens: when a day is sealed, and `luxlogd cleanup`.
        """
        if self.retention_days <= 0 or self.database is None:
            return 0
        days = min(self.retention_days, MAX_RETENTION_DAYS)
        removed = self.database.delete_before(now_ms - days * DAY_MS, max_days)
        if removed:
            logger.info("storage: retention removed polls=%d older than %d days", removed, days)
        return removed

    def newest_trusted_ms(self) -> int | None:
        """The time of the newest poll stamped by a trusted clock (a witness of "now")."""
        self.flush()
        try:
            with Reader(self.state_dir) as reader:
                return reader.stats().last_ms
        except StorageError:
            return None

    def catch_up(self) -> int:
        """Insert into SQLite every WAL record it misses; return how many. Records of sealed
        days that the database lost (a rebuild) are sealed again as days of their own."""
        assert self.database is not None
        after = self.database.last_seq
        records = list(frames.read_records(self.wal.directory))
        count = 0
        older: list[tuple[int, Poll]] = []
        held = self.database.seq_ranges()
        for seq, poll in decode_records(records):
            if seq > after:
                self.database.insert(seq, poll)
                count += 1
            elif losses.uncovered([(seq, seq)], held):
                older.append((seq, poll))
        self.database.commit()
        if older:
            count += self.database.insert_sealed(older)
        return count

    def _make_database_durable(self) -> None:
        if self.ok:
            assert self.database is not None
            try:
                self.database.checkpoint()
            except StorageError as error:
                logger.error("storage: could not make the database durable: %s", error)

    def _release_segments(self) -> None:
        """Delete WAL segments whose polls SQLite holds durably, in sealed days."""
        if not self.ok:
            return
        assert self.database is not None
        try:
            if self.database.checkpoint():
                through = min(self.database.last_seq, self.database.sealed_through())
                removed = self.wal.remove_through(through)
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

    def _close_files(self) -> None:
        try:
            self.flush()
        finally:
            if self.database is not None:
                with contextlib.suppress(Exception):  # a failing disk: nothing more to save
                    self.database.close()
                self.database = None
            self.wal.close()

    def close(self) -> None:
        try:
            self._close_files()
        finally:
            self.lock.release()

    def __enter__(self) -> Storage:
        return self if self.lock.held else self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

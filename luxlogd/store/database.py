"""SQLite: the hot table and its write buffer, sealing, plain queries (the schema, the
connection and the meaning of SQLite's errors are in schema.py).

The write-ahead log is the durable copy of recent polls, so SQLite runs with
synchronous=NORMAL and inserts are idempotent by sequence number. Readers go through
reader.Reader, never through this module. Every SQL statement luxlogd runs is here or in
schema.py.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from luxlogd.base.errors import StorageError
from luxlogd.heatpump.poll import Poll
from luxlogd.store import chunks, codec
from luxlogd.store.schema import (
    CHUNK_COLUMNS,
    MIGRATIONS,
    SCHEMA_VERSION,
    connect,
    storage_error,
)

# A row as SQLite gives it; each query's docstring says what its columns are.
Row = tuple[Any, ...]

logger = logging.getLogger("luxlogd.database")  # its name in the journal (README)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Inclusive integer ranges merged where they overlap or touch, in order."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


class Database:
    """The SQLite file at `path`. Writers insert()/commit(); read-only ones only query."""

    def __init__(self, path: Path, readonly: bool = False, commit_every: int = 10) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.commit_every = commit_every
        self._pending: list[tuple[int, int, bytes]] = []
        self._hot_last: Poll | None = None
        self._last_seq = 0
        self.days_sealed = 0  # by this connection (the writer applies retention then)
        try:
            self.db = connect(self.path, readonly)
        except sqlite3.Error as error:
            raise storage_error(self.path, "cannot open", error) from None
        try:
            if not readonly:
                self._configure_and_migrate()
            elif not 1 <= self.user_version() <= SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path}: database schema {self.user_version()}, this luxlogd reads "
                    f"1 to {SCHEMA_VERSION}; upgrade luxlogd"
                )
            version = self.user_version()
            self.has_lost_table = version >= 2
            # Before schema 3 (a reader of an older daemon's file): first and last poll time.
            self.earliest, self.latest, self.trusted = (
                ("min_ms", "max_ms", "clock_suspect = 0")
                if version >= 3
                else ("start_ms", "end_ms", "1")
            )
            self.refresh()
        except sqlite3.Error as error:
            self.db.close()
            raise storage_error(self.path, "cannot open", error) from None
        except StorageError:
            self.db.close()
            raise

    def user_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _configure_and_migrate(self) -> None:
        db = self.db
        version = self.user_version()
        if version == 0:
            # Must precede the first table: lets retention give pages back to the file system.
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA wal_autocheckpoint = 256")
        db.execute("PRAGMA journal_size_limit = 1048576")
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path}: database schema {version} is newer than this luxlogd "
                f"({SCHEMA_VERSION}); upgrade luxlogd"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            db.execute("BEGIN IMMEDIATE")
            for statement in MIGRATIONS[target]:
                if callable(statement):
                    statement(db)
                else:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {target}")
            db.execute("COMMIT")
            logger.info("database: migrated schema to version %d path=%s", target, self.path)

    def refresh(self) -> None:
        """Re-read the highest stored sequence number and the hot day's newest poll."""
        self._last_seq = self.last_seq_committed()
        if not self.readonly:
            self._hot_last = None
            for _, poll in self.hot_polls():
                self._hot_last = poll

    def quick_check(self, full: bool = False) -> str:
        """'ok', or what SQLite found wrong (quick_check; integrity_check with `full`)."""
        pragma = "integrity_check" if full else "quick_check"
        try:
            rows = self.db.execute(f"PRAGMA {pragma}(20)").fetchall()
        except sqlite3.Error as error:
            return str(error)
        return "; ".join(str(row[0]) for row in rows)

    def last_seq_committed(self) -> int:
        """The highest sequence number visible to this connection now."""
        row = self.db.execute(
            "SELECT max(coalesce((SELECT max(seq) FROM hot), 0),"
            " coalesce((SELECT max(last_seq) FROM chunks), 0))"
        ).fetchone()
        return int(row[0])

    @property
    def last_seq(self) -> int:
        """The highest sequence number stored (committed or pending in this connection)."""
        return self._last_seq

    def insert(self, seq: int, poll: Poll) -> bool:
        """Store one poll (idempotent: a seq already stored is skipped). True if taken.

        Rows are buffered and written `commit_every` at a time in one short transaction, so
        the write lock is never held between polls (the WAL holds them durably meanwhile).
        A poll of a new UTC day seals the hot rows first.
        """
        if seq <= self._last_seq:
            return False
        last = self._hot_last
        if last is not None and poll.ts_ms // chunks.DAY_MS != last.ts_ms // chunks.DAY_MS:
            self.commit()
            self._write(self._seal_hot)
            self.days_sealed += 1
        self._pending.append((seq, poll.ts_ms, codec.encode(poll, self._hot_last)))
        self._hot_last = poll
        self._last_seq = seq
        if len(self._pending) >= self.commit_every:
            self.commit()
        return True

    def _write(self, work: Callable[[], object]) -> None:
        """Run `work` in one write transaction; StorageError (state reset) when it fails."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            work()
            self.db.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback()
            raise storage_error(self.path, "cannot write", error) from None

    def _rollback(self) -> None:
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the failed statement may already have ended the transaction
        self._pending.clear()
        try:
            self.refresh()
        except sqlite3.Error:
            pass  # the caller reports the original error

    def commit(self) -> None:
        """Write the buffered polls (durable at the next checkpoint: the WAL has them)."""
        if not self._pending:
            return
        rows = list(self._pending)
        self._write(
            lambda: self.db.executemany(
                "INSERT OR IGNORE INTO hot (seq, ts_ms, data) VALUES (?, ?, ?)", rows
            )
        )
        self._pending.clear()

    def checkpoint(self) -> bool:
        """Commit, copy SQLite's log into the database file and fsync it.

        True when everything committed is now durable in the database file (then the WAL
        segments holding it may go); False when readers kept the checkpoint from finishing.
        """
        self.commit()
        try:
            busy, log_frames, done = self.db.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
        except sqlite3.Error as error:
            raise storage_error(self.path, "cannot checkpoint", error) from None
        return bool(busy == 0 and log_frames == done)

    def seal_all(self) -> int:
        """Seal every hot poll (tests and benchmarks use it)."""
        self.commit()
        sealed: list[int] = []
        self._write(lambda: sealed.append(self._seal_hot()))
        return sealed[0]

    def _seal_hot(self) -> int:
        rows = self.db.execute("SELECT seq, data FROM hot ORDER BY seq").fetchall()
        for run in chunks.split_by_shape(rows):
            self.add_chunk(chunks.seal(run))
        self.db.execute("DELETE FROM hot")
        self._hot_last = None
        return len(rows)

    def insert_chunk(self, chunk: chunks.SealedChunk, lost: Iterable[int] = ()) -> None:
        """Store a sealed chunk (a rescued day) in a transaction of its own."""
        self._write(lambda: self.add_chunk(chunk, lost))
        self.refresh()

    def add_chunk(self, chunk: chunks.SealedChunk, lost: Iterable[int] = ()) -> None:
        """Insert a sealed chunk and its blocks (inside the caller's transaction)."""
        cursor = self.db.execute(
            f"INSERT INTO chunks ({CHUNK_COLUMNS}, min_ms, max_ms, clock_suspect)"  # noqa: S608 - a constant
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                chunk.first_seq,
                chunk.last_seq,
                chunk.start_ms,
                chunk.end_ms,
                chunk.count,
                ",".join(map(str, chunk.lengths)),
                chunk.base,
                chunk.times,
                chunk.statuses,
                chunk.slot_counts,
                chunk.earliest_ms,
                chunk.latest_ms,
                int(chunk.clock_suspect),
            ),
        )
        self.db.executemany(
            "INSERT INTO series (series, chunk, points, hourly) VALUES (?, ?, ?, ?)",
            [(series, cursor.lastrowid, points, hourly) for series, points, hourly in chunk.blocks],
        )
        self.db.executemany(
            "INSERT INTO lost (chunk, series) VALUES (?, ?)",
            [(cursor.lastrowid, series) for series in lost],
        )

    def hot_polls(
        self, start_ms: int | None = None, end_ms: int | None = None
    ) -> Iterator[tuple[int, Poll]]:
        """(seq, poll) of the hot table in the order stored, those stamped in [start_ms,
        end_ms). Each row is a delta of the one before, so all are decoded (times need not
        grow: a clock may have stepped back)."""
        through = None  # the last row stamped in the range: none after it is decoded
        if start_ms is not None or end_ms is not None:
            (through,) = self.db.execute(
                "SELECT max(seq) FROM hot WHERE ts_ms >= ? AND ts_ms < ?",
                (
                    start_ms if start_ms is not None else -(2**62),
                    end_ms if end_ms is not None else 2**62,
                ),
            ).fetchone()
            if through is None:
                return
        previous: Poll | None = None
        for seq, data in self.db.execute("SELECT seq, data FROM hot ORDER BY seq"):
            previous = codec.decode(data, previous)
            if (start_ms is None or previous.ts_ms >= start_ms) and (
                end_ms is None or previous.ts_ms < end_ms
            ):
                yield seq, previous
            if through is not None and seq >= through:
                return

    def chunk_rows(
        self, start_ms: int, end_ms: int, *, suspect: bool = False, by_seq: bool = False
    ) -> list[Row]:
        """(id, earliest ms, latest ms, count, lengths, base, times, statuses) of the sealed
        days with polls in [start_ms, end_ms), by their earliest poll (or as stored, with
        `by_seq`); those stamped by a distrusted clock only with `suspect` (then only those)."""
        trusted = self.trusted if not suspect else f"NOT ({self.trusted})"
        order = "first_seq" if by_seq else f"{self.earliest}, id"
        return self.db.execute(
            f"SELECT id, {self.earliest}, {self.latest}, count, lengths, base, times, statuses"  # noqa: S608 - constants
            f" FROM chunks WHERE {self.latest} >= ? AND {self.earliest} < ? AND {trusted}"
            f" ORDER BY {order}",
            (start_ms, end_ms),
        ).fetchall()

    def blocks(self, chunk: int, series: list[int]) -> dict[int, bytes]:
        """The change blocks of `series` in one chunk (a series absent there did not change)."""
        if len(series) == 1:
            query = "SELECT series, points FROM series WHERE chunk = ? AND series = ?"
            return dict(self.db.execute(query, (chunk, series[0])).fetchall())
        wanted = set(series)
        query = "SELECT series, points FROM series WHERE chunk = ?"
        return {s: p for s, p in self.db.execute(query, (chunk,)) if s in wanted}

    def lost(self, chunk: int) -> set[int]:
        """Series whose block in `chunk` a rebuild could not rescue (their values are unknown)."""
        if not self.has_lost_table:
            return set()
        rows = self.db.execute("SELECT series FROM lost WHERE chunk = ?", (chunk,))
        return {row[0] for row in rows}

    def hourly_rows(self, series: int, start_ms: int, end_ms: int) -> list[Row]:
        """(start_ms, end_ms, lengths, base, slot_counts, hourly or None) per chunk, except
        chunks where that series was lost."""
        query = (
            "SELECT c.start_ms, c.end_ms, c.lengths, c.base, c.slot_counts, s.hourly"  # noqa: S608
            " FROM chunks c LEFT JOIN series s ON s.chunk = c.id AND s.series = ?"
            f" WHERE c.{self.latest} >= ? AND c.{self.earliest} < ? AND c.{self.trusted}"
        )
        parameters: tuple[int, ...] = (series, start_ms, end_ms)
        if self.has_lost_table:
            query += " AND NOT EXISTS (SELECT 1 FROM lost l WHERE l.chunk = c.id AND l.series = ?)"
            parameters += (series,)
        return self.db.execute(query + " ORDER BY c.start_ms", parameters).fetchall()

    def points_rows(self, series: int, start_ms: int, end_ms: int) -> list[Row]:
        """(latest ms, count, lengths, base, times, points or None, lost) per chunk."""
        lost = "c.id IN (SELECT chunk FROM lost WHERE series = ?)" if self.has_lost_table else "0"
        return self.db.execute(
            f"SELECT c.{self.latest}, c.count, c.lengths, c.base, c.times, s.points, {lost}"  # noqa: S608
            " FROM chunks c LEFT JOIN series s ON s.chunk = c.id AND s.series = ?"
            f" WHERE c.{self.latest} >= ? AND c.{self.earliest} < ? AND c.{self.trusted}"
            f" ORDER BY c.{self.earliest}",
            ((series,) if self.has_lost_table else ()) + (series, start_ms, end_ms),
        ).fetchall()

    def chunk_ids(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT id FROM chunks ORDER BY start_ms, id")]

    def chunk_for_check(self, chunk: int) -> tuple[Row, list[tuple[int, bytes, bytes]]]:
        """((start_ms, count, lengths, base, times, slot_counts), [(series, points, hourly)])
        of one sealed chunk, for chunks.verify."""
        row = self.db.execute(
            "SELECT start_ms, count, lengths, base, times, slot_counts FROM chunks WHERE id = ?",
            (chunk,),
        ).fetchone()
        blocks = self.db.execute(
            "SELECT series, points, hourly FROM series WHERE chunk = ?", (chunk,)
        ).fetchall()
        return row, blocks

    def lost_count(self) -> int:
        if not self.has_lost_table:
            return 0
        return int(self.db.execute("SELECT count(*) FROM lost").fetchone()[0])

    def sealed_summary(self) -> tuple[int, int | None, int | None, int]:
        """(polls, earliest ms, latest ms, polls stamped by a distrusted clock) of the sealed
        days this connection sees (the times of trusted days only)."""
        polls, first, last, suspect = self.db.execute(
            f"SELECT coalesce(sum(count), 0), min(CASE WHEN {self.trusted} THEN {self.earliest}"  # noqa: S608
            f" END), max(CASE WHEN {self.trusted} THEN {self.latest} END),"
            f" coalesce(sum(CASE WHEN {self.trusted} THEN 0 ELSE count END), 0) FROM chunks"
        ).fetchone()
        return int(polls), first, last, int(suspect)

    def newest_chunk(self) -> tuple[int, bool] | None:
        """(time of its last poll, stamped by a distrusted clock) of the sealed day stored last."""
        row = self.db.execute(
            f"SELECT end_ms, NOT ({self.trusted}) FROM chunks ORDER BY last_seq DESC LIMIT 1"  # noqa: S608
        ).fetchone()
        return (int(row[0]), bool(row[1])) if row is not None else None

    def newest_lengths(self) -> tuple[int, int, int] | None:
        """Array lengths of the newest stored poll's firmware."""
        hot = self.db.execute("SELECT data FROM hot ORDER BY seq LIMIT 1").fetchone()
        if hot is not None:
            return codec.decode(hot[0], None).lengths
        row = self.db.execute(
            "SELECT lengths FROM chunks ORDER BY start_ms DESC LIMIT 1"
        ).fetchone()
        return chunks.parse_lengths(row[0]) if row is not None else None

    def sealed_through(self) -> int:
        """The highest sequence number of a sealed day (0 when none is)."""
        row = self.db.execute("SELECT coalesce(max(last_seq), 0) FROM chunks").fetchone()
        return int(row[0])

    def seq_ranges(self) -> list[tuple[int, int]]:
        """The sequence numbers stored, as merged inclusive ranges (a sealed day counts as its
        whole range: numbers it never had are older losses, told when they happened)."""
        ranges = self.db.execute("SELECT first_seq, last_seq FROM chunks").fetchall()
        ranges += [(seq, seq) for (seq,) in self.db.execute("SELECT seq FROM hot")]
        ranges += [(seq, seq) for seq, _, _ in self._pending]
        return merge_ranges(ranges)

    def oldest_days(self, cutoff_ms: int, limit: int) -> list[tuple[int, int, int]]:
        """(id, earliest ms, latest ms) of at most `limit` trusted sealed days whose latest poll
        is before `cutoff_ms`, oldest first."""
        return self.db.execute(
            f"SELECT id, {self.earliest}, {self.latest} FROM chunks"  # noqa: S608 - constants
            f" WHERE {self.latest} < ? AND {self.trusted} ORDER BY {self.latest} LIMIT ?",
            (cutoff_ms, limit),
        ).fetchall()

    def suspect_summary(self) -> tuple[int, int | None, int | None]:
        """(polls, earliest ms, latest ms) of sealed days stamped by a distrusted clock."""
        if self.trusted == "1":
            return 0, None, None
        count, first, last = self.db.execute(
            "SELECT coalesce(sum(count), 0), min(min_ms), max(max_ms) FROM chunks"
            " WHERE clock_suspect != 0"
        ).fetchone()
        return int(count), first, last

    def delete_before(self, cutoff_ms: int, max_days: int | None = None) -> int:
        """Delete trusted sealed days whose latest poll is before `cutoff_ms`, at most
        `max_days` of them (oldest first); return the polls removed. Days stamped by a
        distrusted clock are never deleted by age."""
        self.commit()
        removed: list[int] = []
        limit = -1 if max_days is None else max_days

        def delete() -> None:
            rows = self.db.execute(
                f"SELECT id, count FROM chunks WHERE {self.latest} < ? AND {self.trusted}"  # noqa: S608
                f" ORDER BY {self.latest} LIMIT ?",
                (cutoff_ms, limit),
            ).fetchall()
            for chunk, count in rows:
                self.db.execute("DELETE FROM series WHERE chunk = ?", (chunk,))
                self.db.execute("DELETE FROM lost WHERE chunk = ?", (chunk,))
                self.db.execute("DELETE FROM chunks WHERE id = ?", (chunk,))
                removed.append(count)

        self._write(delete)
        try:
            self.db.execute("PRAGMA incremental_vacuum")
        except sqlite3.Error as error:
            logger.warning("database: could not give freed pages back: %s", error)
        return sum(removed)

    def insert_sealed(self, polls: list[tuple[int, Poll]]) -> int:
        """Seal polls of days already sealed (found again in the write-ahead log after a
        rebuild) as days of their own; return how many."""
        by_day: dict[int, list[tuple[int, bytes]]] = {}
        previous: dict[int, Poll] = {}
        for seq, poll in sorted(polls, key=lambda item: item[0]):
            day = poll.ts_ms // chunks.DAY_MS
            by_day.setdefault(day, []).append((seq, codec.encode(poll, previous.get(day))))
            previous[day] = poll
        for rows in by_day.values():
            for run in chunks.split_by_shape(rows):
                self._write(partial(self.add_chunk, chunks.seal(run)))
        self.refresh()
        return sum(len(rows) for rows in by_day.values())

    def size_bytes(self) -> int:
        """Bytes of the database file and its SQLite log."""
        return file_bytes(self.path)

    def close(self) -> None:
        try:
            if not self.readonly:
                self.commit()
        finally:
            self.db.close()


def file_bytes(path: Path) -> int:
    """Bytes of a database file and its SQLite log (its shared-memory index is not data)."""
    total = 0
    for part in (path, Path(f"{path}-wal")):
        try:
            total += part.stat().st_size
        except OSError:
            pass
    return total

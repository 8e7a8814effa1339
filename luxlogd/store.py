"""SQLite storage of polls: a hot table of delta records, sealed into daily per-series blocks.

- `hot`: one row per poll of the current UTC day (a delta record, ~100 bytes).
- `chunks`: one row per sealed day: the first poll's values, poll times, status words.
- `series`: per series and chunk, only where the series changed that day: its changes
  (poll index gaps, value differences; zlib) and hourly min/max/sum/count, so a year of one
  series is 365 small blobs, never a million rows.
The WAL is the durable copy of recent polls, so SQLite runs with synchronous=NORMAL and
replay into it is idempotent (by sequence number). Schema versions use PRAGMA user_version.
"""

from __future__ import annotations

import bisect
import logging
import sqlite3
import struct
import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

from luxlogd import codec
from luxlogd.codec import Poll

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SLOTS = 24
GROUP_CODES = {"parameters": 0, "calculations": 1, "visibilities": 2}
GROUP_NAMES = {code: name for name, code in GROUP_CODES.items()}

MIGRATIONS = {
    1: [
        """CREATE TABLE hot (
            seq INTEGER PRIMARY KEY,
            ts_ms INTEGER NOT NULL,
            data BLOB NOT NULL
        )""",
        """CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            start_ms INTEGER NOT NULL,
            end_ms INTEGER NOT NULL,
            count INTEGER NOT NULL,
            lengths TEXT NOT NULL,
            base BLOB NOT NULL,
            times BLOB NOT NULL,
            statuses BLOB NOT NULL,
            slot_counts BLOB NOT NULL
        )""",
        "CREATE INDEX chunks_by_time ON chunks (start_ms)",
        """CREATE TABLE series (
            series INTEGER NOT NULL,
            chunk INTEGER NOT NULL,
            points BLOB NOT NULL,
            hourly BLOB NOT NULL,
            PRIMARY KEY (series, chunk)
        ) WITHOUT ROWID""",
        "CREATE INDEX series_by_chunk ON series (chunk)",
    ],
}


class StorageError(Exception):
    """The database cannot be opened, read or written."""


def series_id(group: str, index: int) -> int:
    return GROUP_CODES[group] << 16 | index


def series_of_flat(lengths: Sequence[int], flat_index: int) -> int:
    parameters, calculations = lengths[0], lengths[1]
    if flat_index < parameters:
        return series_id("parameters", flat_index)
    if flat_index < parameters + calculations:
        return series_id("calculations", flat_index - parameters)
    return series_id("visibilities", flat_index - parameters - calculations)


def flat_of_series(lengths: Sequence[int], series: int) -> int | None:
    group, index = series >> 16, series & 0xFFFF
    if index >= lengths[group]:
        return None
    return sum(lengths[:group]) + index


@dataclass(frozen=True)
class Bucket:
    start_ms: int
    minimum: float
    maximum: float
    mean: float
    count: int


def _pack(values: Sequence[int], code: str) -> bytes:
    return zlib.compress(array(code, values).tobytes(), 6)


def _unpack(blob: bytes, code: str) -> array:
    result = array(code)
    result.frombytes(zlib.decompress(blob))
    return result


def _expand(base: int, points: bytes | None, count: int) -> list[int]:
    """One series' value at every poll of a chunk."""
    column = [base] * count
    if points is None:
        return column
    raw = zlib.decompress(points)
    (changes,) = struct.unpack_from("<I", raw)
    positions = array("I")
    positions.frombytes(raw[4 : 4 + 4 * changes])
    differences = array("q")
    differences.frombytes(raw[4 + 4 * changes :])
    at = list(accumulate(positions))
    values = list(accumulate(differences, initial=base))
    for k, position in enumerate(at):
        end = at[k + 1] if k + 1 < changes else count
        column[position:end] = [values[k + 1]] * (end - position)
    return column


class Store:
    """The SQLite database at `path`. Writers call insert()/commit(); readers may open read-only."""

    def __init__(self, path: Path, readonly: bool = False, commit_every: int = 10) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.commit_every = commit_every
        self._pending: list[tuple[int, int, bytes]] = []
        self._hot_last: Poll | None = None
        self._last_seq = 0
        self.days_sealed = 0  # sealed by this connection (the writer applies retention then)
        try:
            if readonly:
                self.db = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                    check_same_thread=False,
                )  # fmt: skip
            else:
                self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = 10000")
            if not readonly:
                self._configure_and_migrate()
            elif self._user_version() != SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path}: database schema {self._user_version()}, this luxlogd reads "
                    f"{SCHEMA_VERSION}"
                )
            self._last_seq = self._read_last_seq()
            if not readonly:
                self._hot_last = self._last_hot_poll()
        except sqlite3.Error as error:
            raise StorageError(f"{self.path}: {error}") from None

    def _user_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _configure_and_migrate(self) -> None:
        db = self.db
        version = self._user_version()
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
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {target}")
            db.execute("COMMIT")
            logger.info("store: migrated schema to version %d path=%s", target, self.path)

    def _read_last_seq(self) -> int:
        row = self.db.execute(
            "SELECT max(coalesce((SELECT max(seq) FROM hot), 0),"
            " coalesce((SELECT max(last_seq) FROM chunks), 0))"
        ).fetchone()
        return int(row[0])

    def _hot_rows(self, start_ms: int | None = None) -> Iterator[tuple[int, Poll]]:
        previous: Poll | None = None
        for seq, data in self.db.execute("SELECT seq, data FROM hot ORDER BY seq"):
            previous = codec.decode(data, previous)
            if start_ms is None or previous.ts_ms >= start_ms:
                yield seq, previous

    def _last_hot_poll(self) -> Poll | None:
        last = None
        for _, poll in self._hot_rows():
            last = poll
        return last

    def last_seq_committed(self) -> int:
        """The highest sequence number visible to this connection now."""
        return self._read_last_seq()

    @property
    def last_seq(self) -> int:
        """The highest sequence number stored (committed or pending in this connection)."""
        return self._last_seq

    def insert(self, seq: int, poll: Poll) -> bool:
        """Store one poll (idempotent: a seq already stored is skipped). True if taken.

        Rows are buffered and written `commit_every` at a time in one short transaction, so
        the write lock is never held between polls (the WAL holds them durably meanwhile).
        """
        if seq <= self._last_seq:
            return False
        if self._hot_last is not None and poll.ts_ms // DAY_MS != self._hot_last.ts_ms // DAY_MS:
            self.commit()
            self._write(self._seal_hot)
            self.days_sealed += 1
        data = codec.encode(poll, self._hot_last)
        self._pending.append((seq, poll.ts_ms, data))
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
            raise StorageError(f"{self.path}: cannot write: {error}") from None

    def _rollback(self) -> None:
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the failed statement may already have ended the transaction
        self._pending.clear()
        self._last_seq = self._read_last_seq()
        self._hot_last = self._last_hot_poll()

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
            raise StorageError(f"{self.path}: cannot checkpoint: {error}") from None
        return busy == 0 and log_frames == done

    def seal_all(self) -> int:
        """Seal every hot poll (tests and benchmarks use it)."""
        self.commit()
        sealed: list[int] = []
        self._write(lambda: sealed.append(self._seal_hot()))
        return sealed[0]

    def _seal_hot(self) -> int:
        """Turn the hot rows into chunks (one per run of equal array lengths)."""
        rows = self.db.execute("SELECT seq, data FROM hot ORDER BY seq").fetchall()
        if not rows:
            return 0
        group: list[tuple[int, bytes]] = []
        lengths = None
        for seq, data in rows:
            shape = codec.decode(data, None).lengths if codec.is_keyframe(data) else lengths
            if group and shape != lengths:
                self._seal_chunk(group)
                group = []
            lengths = shape
            group.append((seq, data))
        self._seal_chunk(group)
        self.db.execute("DELETE FROM hot")
        self._hot_last = None
        return len(rows)

    def _seal_chunk(self, rows: list[tuple[int, bytes]]) -> None:
        first = codec.decode(rows[0][1], None)
        lengths = first.lengths
        current = first.flat()
        base = list(current)
        times, statuses = [first.ts_ms], [first.calc_status]
        changes: dict[int, tuple[list[int], list[int]]] = {}
        last_change: dict[int, int] = {}
        for position, (_, data) in enumerate(rows[1:], start=1):
            delta = codec.changes_of(data)
            if delta is None:  # a keyframe of the same shape: compare every value
                poll = codec.decode(data, None)
                pairs = enumerate(zip(current, poll.flat(), strict=True))
                found = [(i, new - old) for i, (old, new) in pairs if new != old]
                ts_ms, status = poll.ts_ms, poll.calc_status
            else:
                ts_ms, status, found = delta
            for index, difference in found:
                current[index] += difference
                entry = changes.setdefault(index, ([], []))
                entry[0].append(position - last_change.get(index, 0))
                entry[1].append(difference)
                last_change[index] = position
            times.append(ts_ms)
            statuses.append(status)
        day_start = first.ts_ms - first.ts_ms % DAY_MS
        slots = [min(SLOTS - 1, max(0, (t - day_start) // HOUR_MS)) for t in times]
        slot_counts = [0] * SLOTS
        for slot in slots:
            slot_counts[slot] += 1
        cursor = self.db.execute(
            "INSERT INTO chunks (first_seq, last_seq, start_ms, end_ms, count, lengths, base,"
            " times, statuses, slot_counts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rows[0][0], rows[-1][0], times[0], times[-1], len(rows),
                ",".join(map(str, lengths)), _pack(base, "i"),
                _pack([times[0]] + [b - a for a, b in zip(times, times[1:], strict=False)], "q"),
                _pack(statuses, "i"), _pack(slot_counts, "I"),
            ),
        )  # fmt: skip
        chunk = cursor.lastrowid
        blocks = []
        for index, (positions, differences) in changes.items():
            points = zlib.compress(
                struct.pack("<I", len(positions))
                + array("I", positions).tobytes()
                + array("q", differences).tobytes(),
                6,
            )
            hourly = self._hourly(base[index], positions, differences, slots, len(rows))
            blocks.append((series_of_flat(lengths, index), chunk, points, _pack(hourly, "q")))
        self.db.executemany(
            "INSERT INTO series (series, chunk, points, hourly) VALUES (?, ?, ?, ?)", blocks
        )

    @staticmethod
    def _hourly(base: int, positions: list[int], differences: list[int], slots: list[int],
                count: int) -> list[int]:  # fmt: skip
        """min, max, sum, count per hour slot of a series that changed."""
        result = [0] * (SLOTS * 4)
        starts = list(accumulate(positions))
        values = list(accumulate(differences, initial=base))
        boundaries = [0, *starts, count]
        for k in range(len(boundaries) - 1):
            begin, end, value = boundaries[k], boundaries[k + 1], values[k]
            position = begin
            while position < end:
                slot = slots[position]
                slot_end = bisect.bisect_right(slots, slot, position, end)
                taken = slot_end - position
                at = slot * 4
                if result[at + 3] == 0:
                    result[at] = result[at + 1] = value
                else:
                    result[at] = min(result[at], value)
                    result[at + 1] = max(result[at + 1], value)
                result[at + 2] += value * taken
                result[at + 3] += taken
                position = slot_end
        return result

    def polls(
        self, start_ms: int, end_ms: int, series: Sequence[int]
    ) -> Iterator[tuple[int, int, list[int | None]]]:
        """(ts_ms, calc_status, values of `series`) for every poll in [start_ms, end_ms)."""
        self.commit()
        chunk_rows = self.db.execute(
            "SELECT id, count, lengths, base, times, statuses FROM chunks"
            " WHERE end_ms >= ? AND start_ms < ? ORDER BY start_ms, id",
            (start_ms, end_ms),
        ).fetchall()
        for chunk, count, lengths_text, base_blob, times_blob, status_blob in chunk_rows:
            lengths = [int(x) for x in lengths_text.split(",")]
            times = list(accumulate(_unpack(times_blob, "q")))
            low = bisect.bisect_left(times, start_ms)
            high = bisect.bisect_left(times, end_ms)
            if low >= high:
                continue
            base = _unpack(base_blob, "i")
            blocks = self._blocks(chunk, series)
            columns: list[list[int | None]] = []
            for one in series:
                flat = flat_of_series(lengths, one)
                if flat is None:
                    columns.append([None] * count)
                else:
                    columns.append(list(_expand(base[flat], blocks.get(one), count)))
            statuses = _unpack(status_blob, "i")
            rows = zip(*columns, strict=True) if columns else ([] for _ in range(count))
            for position, values in enumerate(rows):
                if low <= position < high:
                    yield times[position], statuses[position], list(values)
                elif position >= high:
                    break
        positions_by_shape: dict[tuple[int, int, int], list[int | None]] = {}
        for _, poll in self._hot_rows(start_ms):
            if poll.ts_ms >= end_ms:
                continue
            values = poll.flat()
            shape = poll.lengths
            positions = positions_by_shape.get(shape)
            if positions is None:
                positions = [flat_of_series(shape, s) for s in series]
                positions_by_shape[shape] = positions
            yield (
                poll.ts_ms,
                poll.calc_status,
                [values[p] if p is not None else None for p in positions],
            )

    def _blocks(self, chunk: int, series: Sequence[int]) -> dict[int, bytes]:
        if len(series) == 1:
            query = "SELECT series, points FROM series WHERE chunk = ? AND series = ?"
            return dict(self.db.execute(query, (chunk, series[0])).fetchall())
        wanted = set(series)
        query = "SELECT series, points FROM series WHERE chunk = ?"
        return {s: p for s, p in self.db.execute(query, (chunk,)) if s in wanted}

    def buckets(self, series: int, start_ms: int, end_ms: int, points: int) -> list[Bucket]:
        """min/max/mean of one series in `points` equal buckets over [start_ms, end_ms).

        Buckets of an hour or more come from the hourly aggregates of sealed days (a bucket
        takes whole hours, by the hour's start); shorter ones from the polls themselves.
        """
        self.commit()
        width = max(1, -(-(end_ms - start_ms) // max(1, points)))
        sums: dict[int, list[float]] = {}

        def add(at_ms: int, low: float, high: float, total: float, count: int) -> None:
            key = (at_ms - start_ms) // width
            entry = sums.get(key)
            if entry is None:
                sums[key] = [low, high, total, count]
            else:
                entry[0] = min(entry[0], low)
                entry[1] = max(entry[1], high)
                entry[2] += total
                entry[3] += count

        def add_column(times: Sequence[int], column: Sequence[int | None]) -> None:
            """Bucket one series' values by slicing at bucket edges (min/max/sum run in C)."""
            low = bisect.bisect_left(times, start_ms)
            high = bisect.bisect_left(times, end_ms)
            while low < high:
                key = (times[low] - start_ms) // width
                edge = bisect.bisect_left(times, start_ms + (key + 1) * width, low, high)
                values = [v for v in column[low:edge] if v is not None]
                if values:
                    add(times[low], min(values), max(values), sum(values), len(values))
                low = edge

        hot_from = start_ms
        if width >= HOUR_MS:
            rows = self.db.execute(
                "SELECT c.start_ms, c.end_ms, c.lengths, c.base, c.slot_counts, s.hourly"
                " FROM chunks c LEFT JOIN series s ON s.chunk = c.id AND s.series = ?"
                " WHERE c.end_ms >= ? AND c.start_ms < ? ORDER BY c.start_ms",
                (series, start_ms, end_ms),
            ).fetchall()
            for chunk_start, chunk_end, lengths_text, base_blob, counts_blob, hourly in rows:
                day_start = chunk_start - chunk_start % DAY_MS
                counts = _unpack(counts_blob, "I")
                if hourly is not None:
                    aggregates = _unpack(hourly, "q")
                else:
                    flat = flat_of_series([int(x) for x in lengths_text.split(",")], series)
                    if flat is None:
                        continue
                    value = _unpack(base_blob, "i")[flat]
                    aggregates = array("q")
                    for slot in range(SLOTS):
                        aggregates.extend((value, value, value * counts[slot], counts[slot]))
                for slot in range(SLOTS):
                    slot_ms = day_start + slot * HOUR_MS
                    count = aggregates[slot * 4 + 3]
                    if count and start_ms <= slot_ms < end_ms:
                        at = slot * 4
                        add(slot_ms, aggregates[at], aggregates[at + 1], aggregates[at + 2], count)
                hot_from = max(hot_from, chunk_end + 1)
        else:
            rows = self.db.execute(
                "SELECT c.id, c.end_ms, c.count, c.lengths, c.base, c.times, s.points"
                " FROM chunks c LEFT JOIN series s ON s.chunk = c.id AND s.series = ?"
                " WHERE c.end_ms >= ? AND c.start_ms < ? ORDER BY c.start_ms",
                (series, start_ms, end_ms),
            ).fetchall()
            for _, chunk_end, count, lengths_text, base_blob, times_blob, block in rows:
                flat = flat_of_series([int(x) for x in lengths_text.split(",")], series)
                hot_from = max(hot_from, chunk_end + 1)
                if flat is None:
                    continue
                times = list(accumulate(_unpack(times_blob, "q")))
                add_column(times, _expand(_unpack(base_blob, "i")[flat], block, count))
        recent = [(ts_ms, values[0]) for ts_ms, _, values in self.polls(hot_from, end_ms, [series])]
        if recent:
            add_column([t for t, _ in recent], [v for _, v in recent])
        return [
            Bucket(start_ms + key * width, low, high, total / count, int(count))
            for key, (low, high, total, count) in sorted(sums.items())
        ]

    def delete_before(self, cutoff_ms: int) -> int:
        """Delete sealed days that ended before `cutoff_ms`; return the polls removed."""
        self.commit()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            chunks = self.db.execute(
                "SELECT id, count FROM chunks WHERE end_ms < ?", (cutoff_ms,)
            ).fetchall()
            for chunk, _ in chunks:
                self.db.execute("DELETE FROM series WHERE chunk = ?", (chunk,))
                self.db.execute("DELETE FROM chunks WHERE id = ?", (chunk,))
            self.db.execute("COMMIT")
            self.db.execute("PRAGMA incremental_vacuum")
        except sqlite3.Error as error:
            self._rollback()
            raise StorageError(f"{self.path}: cannot apply retention: {error}") from None
        return sum(count for _, count in chunks)

    def stats(self) -> dict[str, int | None]:
        """Polls stored, first and last poll time, bytes of the database and its log."""
        self.commit()
        chunk_polls, first_chunk = self.db.execute(
            "SELECT coalesce(sum(count), 0), min(start_ms) FROM chunks"
        ).fetchone()
        hot_polls, first_hot, last_hot = self.db.execute(
            "SELECT count(*), min(ts_ms), max(ts_ms) FROM hot"
        ).fetchone()
        last_chunk = self.db.execute("SELECT max(end_ms) FROM chunks").fetchone()[0]
        firsts = [t for t in (first_chunk, first_hot) if t is not None]
        lasts = [t for t in (last_chunk, last_hot) if t is not None]
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return {
            "polls": int(chunk_polls) + int(hot_polls),
            "first_ms": min(firsts) if firsts else None,
            "last_ms": max(lasts) if lasts else None,
            "bytes": size,
        }

    def integrity_check(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        try:
            if not self.readonly:
                self.commit()
        finally:
            self.db.close()

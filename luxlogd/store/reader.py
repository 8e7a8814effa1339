"""The one way to read a state directory: polls, downsampled buckets, stats, the newest poll.

Every read merges sealed days, the hot day and the polls still only in the write-ahead log,
inside one SQLite read transaction: a writer's checkpoint cannot finish under it, so the WAL
segments holding newer polls are still there when read, and each poll is seen exactly once.
So every reader sees every acknowledged poll, the newest included. Takes no lock.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from luxlogd.base.errors import StorageError
from luxlogd.base.times import utc_date_text
from luxlogd.heatpump.poll import Poll
from luxlogd.heatpump.protocol import GROUPS
from luxlogd.store import chunks, frames
from luxlogd.store.chunks import Bucket, flat_of_series, is_sorted
from luxlogd.store.codec import decode_records
from luxlogd.store.database import Database, file_bytes
from luxlogd.store.paths import DATABASE_NAME, WAL_DIRECTORY
from luxlogd.store.schema import storage_error

logger = logging.getLogger("luxlogd.reader")  # its name in the journal (README)


Row = tuple[int, int, list[int | None]]  # (ts_ms, calc_status, values of the series asked for)


@dataclass(frozen=True)
class Stats:
    polls: int  # every poll stored, WAL-only ones included
    wal_only: int  # polls not yet in the database
    first_ms: int | None  # of polls stamped by a trusted clock
    last_ms: int | None
    database_bytes: int
    wal_bytes: int
    clock_suspect: int = 0  # polls kept apart: stamped by a clock luxlogd distrusted


def directory_bytes(path: Path) -> int:
    try:
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    except OSError:
        return 0


def database_bytes(state_dir: Path) -> int:
    """Bytes of the database file and its SQLite log: the one figure `status`, doctor and
    /metrics show (files moved aside as damaged and SQLite's shared-memory index excluded)."""
    return file_bytes(Path(state_dir) / DATABASE_NAME)


@dataclass
class _Run:
    """Polls of one source (a sealed day, or the polls not sealed yet) in time order."""

    earliest: int
    latest: int
    rows: Callable[[], Iterator[Row]]


def _in_time_order(runs: list[_Run]) -> Iterator[Row]:
    """The rows of every run by time; runs whose times overlap (a clock stepped back) are
    merged, the others simply follow each other. Equal times keep the order stored."""
    runs.sort(key=lambda run: run.earliest)
    cluster: list[_Run] = []
    latest = None
    for run in [*runs, None]:
        if run is not None and cluster and latest is not None and run.earliest < latest:
            cluster.append(run)
            latest = max(latest, run.latest)
            continue
        if len(cluster) == 1:
            yield from cluster[0].rows()
        elif cluster:
            yield from heapq.merge(*(one.rows() for one in cluster), key=lambda row: row[0])
        if run is not None:
            cluster, latest = [run], run.latest


class Reader:
    """Read-only view of `state_dir`. A database it cannot open leaves the WAL's polls.

    Time-range reads give polls in time order (equal times as stored) whatever order they
    were stored in, and leave out polls stamped by a distrusted clock (see Poll). A damaged
    database file raises StorageError, never a raw sqlite3 error.
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)
        path = self.state_dir / DATABASE_NAME
        if not path.exists() and not (self.state_dir / WAL_DIRECTORY).exists():
            raise StorageError(f"{self.state_dir}: no luxlogd data here (storage.state_dir)")
        self.database: Database | None = None
        self.problem: str | None = None  # why the database could not be read
        self._hot: tuple[tuple[int, ...], list[Poll]] | None = None  # see _hot_polls
        self._wal: tuple[list[object], list[tuple[int, Poll]]] | None = None  # see wal_polls
        if path.exists():
            try:
                self.database = Database(path, readonly=True)
            except StorageError as error:
                self.problem = str(error)
                logger.warning("reading the write-ahead log only: %s", error)

    @classmethod
    def wal_only(cls, state_dir: str | Path) -> Reader:
        """A reader of the write-ahead log alone (when the database cannot be read)."""
        reader = cls.__new__(cls)
        reader.state_dir, reader.database, reader.problem = Path(state_dir), None, None
        reader._hot = reader._wal = None
        return reader

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[int]:
        """One read transaction; yields the highest seq the database holds in it. SQLite's
        errors inside (a damaged page) come out as StorageError."""
        database = self.database
        try:
            if database is None:
                yield 0
                return
            if database.db.in_transaction:  # nested: the outer read's snapshot holds
                yield database.last_seq_committed()
                return
            database.db.execute("BEGIN")
            try:
                yield database.last_seq_committed()
            finally:
                with contextlib.suppress(sqlite3.Error):  # closed under a dropped export
                    if database.db.in_transaction:
                        database.db.execute("COMMIT")
        except sqlite3.Error as error:
            assert database is not None
            raise storage_error(database.path, "cannot read", error) from None

    def wal_polls(self, after_seq: int) -> list[tuple[int, Poll]]:
        """(seq, poll) of the WAL's records above `after_seq`. Read once for this reader's
        reads of one state of the log (a season's statistics read it for each of 366 days):
        again when a segment changed (name, size, time) or SQLite took more of it."""
        directory = self.state_dir / WAL_DIRECTORY
        key: list[object] = [after_seq]
        for path in frames.segment_paths(directory):
            try:
                found = path.stat()
            except FileNotFoundError:  # moved into SQLite meanwhile
                continue
            key += [path.name, found.st_size, found.st_mtime_ns]
        if self._wal is None or self._wal[0] != key:
            records = frames.read_records(directory, after_seq)
            self._wal = (key, list(decode_records(records, after_seq)))
        return self._wal[1]

    def _hot_polls(self, after_seq: int) -> list[Poll]:
        """The hot table's polls, decoded once for this reader's reads of one state of it
        (the page's at-a-glance panel and `status` read the day several times: each row is
        a delta of the one before, so every read decoded the whole day). Kept until the hot
        table changes (a new row, a day sealed) or the reader closes."""
        assert self.database is not None
        key = (
            after_seq,
            *self.database.db.execute("SELECT min(seq), count(*) FROM hot").fetchone(),
        )
        if self._hot is None or self._hot[0] != key:
            self._hot = (key, [poll for _, poll in self.database.hot_polls()])
        return self._hot[1]

    def _unsealed(
        self,
        after_seq: int,
        start_ms: int,
        end_ms: int,
        *,
        suspect: bool = False,
        sort: bool = True,
    ) -> list[Poll]:
        """The hot day's polls and those only in the WAL, stamped in [start_ms, end_ms), in
        time order (trusted ones, or with `suspect` only the others)."""
        found: list[Poll] = []
        if self.database is not None:
            found += [p for p in self._hot_polls(after_seq) if start_ms <= p.ts_ms < end_ms]
        found += [p for _, p in self.wal_polls(after_seq) if start_ms <= p.ts_ms < end_ms]
        found = [p for p in found if p.clock_suspect == suspect]
        if sort and not is_sorted([p.ts_ms for p in found]):
            found.sort(key=lambda poll: poll.ts_ms)  # stable: equal times as stored
        return found

    def _runs(
        self,
        after_seq: int,
        start_ms: int,
        end_ms: int,
        series: Sequence[int],
        suspect: bool = False,
    ) -> list[_Run]:
        runs = []
        if self.database is not None:
            for slice_ in self._sealed_slices(start_ms, end_ms, series, suspect=suspect):
                times, statuses, column_of, earliest, latest = slice_

                def rows(
                    times: list[int] = times,
                    statuses: list[int] = statuses,
                    column_of: Callable[[int], list[int | None]] = column_of,
                ) -> Iterator[Row]:
                    columns = [column_of(position) for position in range(len(series))]
                    for position, ts in enumerate(times):
                        yield ts, statuses[position], [c[position] for c in columns]

                runs.append(_Run(earliest, latest, rows))
        unsealed = self._unsealed(after_seq, start_ms, end_ms, suspect=suspect)
        if unsealed:
            picked = list(_pick(((p.ts_ms, p) for p in unsealed), end_ms, series))
            runs.append(_Run(unsealed[0].ts_ms, unsealed[-1].ts_ms, lambda: iter(picked)))
        return runs

    def polls(
        self, start_ms: int, end_ms: int, series: Sequence[int], *, suspect: bool = False
    ) -> Iterator[Row]:
        """(ts_ms, calc_status, values of `series`) of every poll stamped in [start_ms,
        end_ms), in time order; with `suspect`, only the polls stamped by a distrusted
        clock (kept apart from the others)."""
        with self._snapshot() as after_seq:
            yield from _in_time_order(self._runs(after_seq, start_ms, end_ms, series, suspect))

    def _sealed_slices(
        self,
        start_ms: int,
        end_ms: int,
        series: Sequence[int],
        *,
        suspect: bool = False,
        stored_order: bool = False,
    ) -> Iterator[tuple[list[int], list[int], Callable[[int], list[int | None]], int, int]]:
        """Per sealed day with polls in [start_ms, end_ms): its poll times and status words,
        in time order and cut to the range, a function giving the column of the k-th series
        (a lost or absent series reads None; made one at a time, when asked for), and the
        day's earliest and latest poll time."""
        assert self.database is not None
        for (
            chunk,
            earliest,
            latest,
            count,
            lengths_text,
            base_blob,
            times_blob,
            statuses_blob,
        ) in self.database.chunk_rows(start_ms, end_ms, suspect=suspect, by_seq=stored_order):
            times = chunks.times_of(times_blob)
            order: list[int] | None = None
            if stored_order and not is_sorted(times):
                order = [p for p, t in enumerate(times) if start_ms <= t < end_ms]
                low, high = 0, len(order)
            elif is_sorted(times):
                low = bisect.bisect_left(times, start_ms)
                high = bisect.bisect_left(times, end_ms)
            else:  # the clock stepped back that day: the positions in range, by time
                order = sorted(
                    (p for p, t in enumerate(times) if start_ms <= t < end_ms),
                    key=times.__getitem__,
                )
                low, high = 0, len(order)
            if low >= high:
                continue
            lengths = chunks.parse_lengths(lengths_text)
            base = chunks.unpack(base_blob, "i")
            blocks = self.database.blocks(chunk, list(series))
            lost = self.database.lost(chunk)

            def column(
                k: int,
                low: int = low,
                high: int = high,
                base: Any = base,
                blocks: dict[int, bytes] = blocks,
                lost: set[int] = lost,
                lengths: tuple[int, int, int] = lengths,
                count: int = count,
                order: list[int] | None = order,
            ) -> list[int | None]:
                flat = flat_of_series(lengths, series[k])
                if flat is None or series[k] in lost:
                    return [None] * (high - low)
                if order is None:
                    part = chunks.expand(base[flat], blocks.get(series[k]), count, low, high)
                    return cast(list[int | None], part)  # ints
                values = chunks.expand(base[flat], blocks.get(series[k]), count)
                return [values[position] for position in order]

            statuses = chunks.unpack(statuses_blob, "i")
            if order is None:
                yield times[low:high], statuses[low:high].tolist(), column, earliest, latest
            else:
                yield (
                    [times[p] for p in order],
                    [statuses[p] for p in order],
                    column,
                    earliest,
                    latest,
                )

    def columns(
        self, start_ms: int, end_ms: int, series: Sequence[int], *, stored_order: bool = False
    ) -> tuple[list[int], list[list[int | None]]]:
        """Poll times in [start_ms, end_ms) and one column of values per series (the same as
        polls(), transposed; sealed days are sliced whole, not walked poll by poll). With
        `stored_order`, in the order the polls were stored instead of by time (doctor looks
        for clock jumps there)."""
        times: list[int] = []
        columns: list[list[int | None]] = [[] for _ in series]
        with self._snapshot() as after_seq:
            if self.database is not None:
                slices = self._sealed_slices(start_ms, end_ms, series, stored_order=stored_order)
                for slice_ in slices:
                    chunk_times, _, column_of = slice_[:3]
                    times += chunk_times
                    for position, column in enumerate(columns):
                        column += column_of(position)
            unsealed = self._unsealed(after_seq, start_ms, end_ms, sort=not stored_order)
            rows = list(_pick(((p.ts_ms, p) for p in unsealed), end_ms, series))
        for ts_ms, _, values in rows:
            times.append(ts_ms)
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        if not stored_order and not is_sorted(times):  # a step back across midnight, say
            order = sorted(range(len(times)), key=times.__getitem__)
            times = [times[position] for position in order]
            columns = [[column[position] for position in order] for column in columns]
        return times, columns

    def buckets(self, series: int, start_ms: int, end_ms: int, points: int) -> list[Bucket]:
        """min/max/mean of one series in `points` equal buckets over [start_ms, end_ms).

        Buckets of an hour or more take sealed days from their hourly aggregates (a bucket
        takes whole hours, by the hour's start); everything else (shorter buckets, the hot
        day, WAL-only polls) comes from the polls themselves.
        """
        return self.buckets_of([series], start_ms, end_ms, points)[series]

    def buckets_of(
        self, series: Sequence[int], start_ms: int, end_ms: int, points: int | Mapping[int, int]
    ) -> dict[int, list[Bucket]]:
        """buckets() of several series (`points` for all, or per series), the polls not
        sealed yet read once for all."""
        count = points if isinstance(points, Mapping) else dict.fromkeys(series, points)
        results = {one: chunks.Buckets(start_ms, end_ms, count[one]) for one in series}
        with self._snapshot() as after_seq:
            for one in series if self.database is not None else ():
                result = results[one]
                if result.width < chunks.HOUR_MS:
                    self._sealed_points(one, result, start_ms, end_ms)
                else:
                    self._sealed_hours(one, result, start_ms, end_ms)
            unsealed = self._unsealed(after_seq, start_ms, end_ms)
            rows = list(_pick(((p.ts_ms, p) for p in unsealed), end_ms, list(series)))
        times = [row[0] for row in rows]
        for position, one in enumerate(series):
            if times:
                results[one].add_column(times, [row[2][position] for row in rows])
        return {one: result.result() for one, result in results.items()}

    def _sealed_points(
        self, series: int, result: chunks.Buckets, start_ms: int, end_ms: int
    ) -> None:
        """Add sealed days poll by poll."""
        assert self.database is not None
        for _, count, lengths_text, base_blob, times_blob, block, lost in self.database.points_rows(
            series, start_ms, end_ms
        ):
            flat = flat_of_series(chunks.parse_lengths(lengths_text), series)
            if flat is None or lost:
                continue
            value = chunks.unpack(base_blob, "i")[flat]
            result.add_column(chunks.times_of(times_blob), chunks.expand(value, block, count))

    def _sealed_hours(
        self, series: int, result: chunks.Buckets, start_ms: int, end_ms: int
    ) -> None:
        """Add sealed days from their hourly aggregates."""
        assert self.database is not None
        for (
            chunk_start,
            _,
            lengths_text,
            base_blob,
            counts_blob,
            hourly,
        ) in self.database.hourly_rows(series, start_ms, end_ms):
            if hourly is not None:
                aggregates = chunks.unpack(hourly, "q")
            else:
                flat = flat_of_series(chunks.parse_lengths(lengths_text), series)
                if flat is None:
                    continue
                value = chunks.unpack(base_blob, "i")[flat]
                aggregates = chunks.constant_hourly(value, chunks.unpack(counts_blob, "I"))
            result.add_hourly(chunk_start - chunk_start % chunks.DAY_MS, aggregates)

    def verify_sealed(self, sample: int | None = 8) -> tuple[int, int, list[str]]:
        """Check sealed days against themselves: times, hour counts and every series' hourly
        aggregates must equal what its stored values give. `sample` days evenly spread (the
        newest included), or all with None. Return (days checked, days sealed, problems)."""
        if self.database is None:
            return 0, 0, []
        with self._snapshot():
            ids = self.database.chunk_ids()
            if sample is not None and len(ids) > sample:
                step = len(ids) / sample
                ids = sorted(
                    {ids[min(len(ids) - 1, int(k * step))] for k in range(sample)} | {ids[-1]}
                )
            problems = []
            for chunk in ids:
                row, blocks = self.database.chunk_for_check(chunk)
                for problem in chunks.verify(row, blocks):
                    day = utc_date_text(row[0])
                    problems.append(f"sealed day {day}: {problem}")
            return len(ids), len(self.database.chunk_ids()), problems

    def database_check(self, full: bool = False) -> str | None:
        """SQLite's own check ("ok" or what is wrong); None without a database."""
        return self.database.quick_check(full) if self.database is not None else None

    def lost_blocks(self) -> int:
        """Series-days a rebuild could not rescue (their values are unknown)."""
        return self.database.lost_count() if self.database is not None else 0

    def latest(self) -> Poll | None:
        """The newest stored poll (the last stored; WAL-only ones included), or None."""
        with self._snapshot() as after_seq:
            recent = self.wal_polls(after_seq)
            if recent:
                return recent[-1][1]
            if self.database is None:
                return None
            newest: Poll | None = None
            for _, poll in self.database.hot_polls():
                newest = poll
            if newest is not None:
                return newest
            row = self.database.newest_chunk()
        if row is None:
            return None
        end_ms, suspect = row
        every = _every_series(self.database.newest_lengths() or (0, 0, 0))
        for ts_ms, status, values in self.polls(end_ms, end_ms + 1, every, suspect=suspect):
            newest = _poll_from_values(ts_ms, status, values, every, suspect)
        return newest

    def latest_lengths(self) -> dict[str, int]:
        """Array lengths of the newest poll (to resolve sensor patterns), or {}."""
        with self._snapshot() as after_seq:
            recent = self.wal_polls(after_seq)
            if recent:
                lengths: tuple[int, int, int] | None = recent[-1][1].lengths
            elif self.database is not None:
                lengths = self.database.newest_lengths()
            else:
                lengths = None
        return dict(zip(GROUPS, lengths, strict=True)) if lengths else {}

    def stats(self) -> Stats:
        """Polls stored (each once), the first and last time stamped by a trusted clock, the
        polls kept apart for a distrusted one, bytes on disk."""
        with self._snapshot() as after_seq:
            if self.database is not None:
                polls, first, last, suspect = self.database.sealed_summary()
                hot = [p for _, p in self.database.hot_polls()]
            else:
                polls, first, last, suspect, hot = 0, None, None, 0, []
            recent = self.wal_polls(after_seq)
        unsealed = hot + [p for _, p in recent]
        trusted = [p.ts_ms for p in unsealed if not p.clock_suspect]
        if trusted:
            first = min(trusted) if first is None else min(first, min(trusted))
            last = max(trusted) if last is None else max(last, max(trusted))
        return Stats(
            polls=polls + len(unsealed),
            wal_only=len(recent),
            first_ms=first,
            last_ms=last,
            database_bytes=database_bytes(self.state_dir),
            wal_bytes=directory_bytes(self.state_dir / WAL_DIRECTORY),
            clock_suspect=suspect + len(unsealed) - len(trusted),
        )

    def close(self) -> None:
        self._hot = self._wal = None
        if self.database is not None:
            self.database.close()
            self.database = None


def _pick(
    polls: Iterator[tuple[int, Poll]], end_ms: int, series: Sequence[int]
) -> Iterator[tuple[int, int, list[int | None]]]:
    """(ts_ms, status, values of `series`) of whole polls before `end_ms`."""
    # (array, index in it) of each series, per shape of poll; the arrays are read where
    # they are (a poll's flat copy of every value would cost a day's reads dearly).
    positions_by_shape: dict[tuple[int, int, int], list[tuple[int, int] | None]] = {}
    for ts_ms, poll in polls:
        if ts_ms >= end_ms:
            continue
        shape = poll.lengths
        positions = positions_by_shape.get(shape)
        if positions is None:
            positions = [_array_position(shape, flat_of_series(shape, s)) for s in series]
            positions_by_shape[shape] = positions
        arrays = (poll.parameters, poll.calculations, poll.visibilities)
        yield (
            ts_ms,
            poll.calc_status,
            [arrays[p[0]][p[1]] if p is not None else None for p in positions],
        )


def _array_position(shape: tuple[int, int, int], flat: int | None) -> tuple[int, int] | None:
    """(which array, index in it) of a flat position in a poll of `shape`."""
    if flat is None:
        return None
    for number, length in enumerate(shape):
        if flat < length:
            return number, flat
        flat -= length
    return None


def _every_series(lengths: Sequence[int]) -> list[int]:
    return [
        chunks.series_id(group, index)
        for group, length in zip(GROUPS, lengths, strict=True)
        for index in range(length)
    ]


def _poll_from_values(
    ts_ms: int, status: int, values: list[int | None], every: list[int], suspect: bool = False
) -> Poll:
    arrays: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for series, value in zip(every, values, strict=True):
        arrays[series >> 16].append(0 if value is None else value)
    return Poll(
        ts_ms, status, tuple(arrays[0]), tuple(arrays[1]), tuple(arrays[2]), clock_suspect=suspect
    )

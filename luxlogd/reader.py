"""The one way to read a state directory: polls, downsampled buckets, stats, the newest poll.

Every read merges sealed days, the hot day and the polls still only in the write-ahead log,
inside one SQLite read transaction: a writer's checkpoint cannot finish under it, so the WAL
segments holding newer polls are still there when read, and each poll is seen exactly once.
So every reader sees every acknowledged poll, the newest included. Takes no lock.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from luxlogd import chunks, codec, wal
from luxlogd.chunks import Bucket, flat_of_series
from luxlogd.database import Database
from luxlogd.errors import StorageError
from luxlogd.poll import GROUPS, Poll

logger = logging.getLogger(__name__)

DATABASE_NAME = "luxlogd.sqlite"
WAL_DIRECTORY = "wal"


def decode_records(
    records: Iterator[tuple[int, bytes, bool]] | list[tuple[int, bytes, bool]], after_seq: int = 0
) -> Iterator[tuple[int, Poll]]:
    """Decode WAL records in order; yield (seq, poll) for seq > after_seq."""
    previous: Poll | None = None
    for seq, payload, _ in records:
        try:
            previous = codec.decode(payload, previous)
        except codec.CodecError as error:
            logger.error("wal: undecodable record seq=%d error=%s; later ones skipped", seq, error)
            return
        if seq > after_seq:
            yield seq, previous


@dataclass(frozen=True)
class Stats:
    polls: int  # every poll stored, WAL-only ones included
    wal_only: int  # polls not yet in the database
    first_ms: int | None
    last_ms: int | None
    database_bytes: int
    wal_bytes: int


def directory_bytes(path: Path) -> int:
    try:
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    except OSError:
        return 0


class Reader:
    """Read-only view of `state_dir`. A database it cannot open leaves the WAL's polls."""

    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)
        path = self.state_dir / DATABASE_NAME
        if not path.exists() and not (self.state_dir / WAL_DIRECTORY).exists():
            raise StorageError(f"{self.state_dir}: no luxlogd data here (storage.state_dir)")
        self.database: Database | None = None
        self.problem: str | None = None  # why the database could not be read
        if path.exists():
            try:
                self.database = Database(path, readonly=True)
            except StorageError as error:
                self.problem = str(error)
                logger.warning("reading the write-ahead log only: %s", error)

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[int]:
        """One read transaction; yields the highest seq the database holds in it."""
        database = self.database
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
            if database.db.in_transaction:
                database.db.execute("COMMIT")

    def wal_polls(self, after_seq: int) -> list[tuple[int, Poll]]:
        """(seq, poll) of the WAL's records above `after_seq`."""
        records = wal.read_records(self.state_dir / WAL_DIRECTORY, after_seq)
        return list(decode_records(records, after_seq))

    def polls(
        self, start_ms: int, end_ms: int, series: Sequence[int]
    ) -> Iterator[tuple[int, int, list[int | None]]]:
        """(ts_ms, calc_status, values of `series`) of every poll in [start_ms, end_ms)."""
        with self._snapshot() as after_seq:
            if self.database is not None:
                yield from self._sealed_polls(start_ms, end_ms, series)
                hot = ((p.ts_ms, p) for _, p in self.database.hot_polls(start_ms, end_ms))
                yield from _pick(hot, end_ms, series)
            recent = ((p.ts_ms, p) for _, p in self.wal_polls(after_seq))
            yield from _pick((item for item in recent if item[0] >= start_ms), end_ms, series)

    def _sealed_polls(
        self, start_ms: int, end_ms: int, series: Sequence[int]
    ) -> Iterator[tuple[int, int, list[int | None]]]:
        for times, statuses, column in self._sealed_slices(start_ms, end_ms, series):
            columns = [column(position) for position in range(len(series))]
            for position, ts in enumerate(times):
                yield ts, statuses[position], [c[position] for c in columns]

    def _sealed_slices(
        self, start_ms: int, end_ms: int, series: Sequence[int]
    ) -> Iterator[tuple[list[int], list[int], Callable[[int], list[int | None]]]]:
        """Per sealed day overlapping [start_ms, end_ms): its poll times and status words,
        sliced to the range, and a function giving the column of the k-th series (a lost
        or absent series reads None). Columns are made one at a time, when asked for."""
        assert self.database is not None
        for chunk, _, count, lengths_text, base_blob, times_blob, statuses_blob in \
                self.database.chunk_rows(start_ms, end_ms):  # fmt: skip
            times = chunks.times_of(times_blob)
            low = bisect.bisect_left(times, start_ms)
            high = bisect.bisect_left(times, end_ms)
            if low >= high:
                continue
            lengths = chunks.parse_lengths(lengths_text)
            base = chunks.unpack(base_blob, "i")
            blocks = self.database.blocks(chunk, list(series))
            lost = self.database.lost(chunk)

            def column(k: int, low: int = low, high: int = high, base: Any = base,
                       blocks: dict[int, bytes] = blocks, lost: set[int] = lost,
                       lengths: tuple[int, int, int] = lengths,
                       count: int = count) -> list[int | None]:  # fmt: skip
                flat = flat_of_series(lengths, series[k])
                if flat is None or series[k] in lost:
                    return [None] * (high - low)
                values = chunks.expand(base[flat], blocks.get(series[k]), count)[low:high]
                return cast(list[int | None], values)  # ints; no copy

            statuses = chunks.unpack(statuses_blob, "i")[low:high].tolist()
            yield times[low:high], statuses, column

    def columns(
        self, start_ms: int, end_ms: int, series: Sequence[int]
    ) -> tuple[list[int], list[list[int | None]]]:
        """Poll times in [start_ms, end_ms) and one column of values per series (the same as
        polls(), transposed; sealed days are sliced whole, not walked poll by poll)."""
        times: list[int] = []
        columns: list[list[int | None]] = [[] for _ in series]
        with self._snapshot() as after_seq:
            if self.database is not None:
                for chunk_times, _, column_of in self._sealed_slices(start_ms, end_ms, series):
                    times += chunk_times
                    for position, column in enumerate(columns):
                        column += column_of(position)
                hot = ((p.ts_ms, p) for _, p in self.database.hot_polls(start_ms, end_ms))
                rows = list(_pick(hot, end_ms, series))
            else:
                rows = []
            recent = ((p.ts_ms, p) for _, p in self.wal_polls(after_seq))
            rows += _pick((item for item in recent if item[0] >= start_ms), end_ms, series)
        for ts_ms, _, values in rows:
            times.append(ts_ms)
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        return times, columns

    def buckets(self, series: int, start_ms: int, end_ms: int, points: int) -> list[Bucket]:
        """min/max/mean of one series in `points` equal buckets over [start_ms, end_ms).

        Buckets of an hour or more take sealed days from their hourly aggregates (a bucket
        takes whole hours, by the hour's start); everything else (shorter buckets, the hot
        day, WAL-only polls) comes from the polls themselves.
        """
        return self.buckets_of([series], start_ms, end_ms, points)[series]

    def buckets_of(self, series: Sequence[int], start_ms: int, end_ms: int,
                   points: int | Mapping[int, int]) -> dict[int, list[Bucket]]:  # fmt: skip
        """buckets() of several series (`points` for all, or per series), the polls after the
        sealed days read once for all."""
        count = points if isinstance(points, Mapping) else dict.fromkeys(series, points)
        results = {one: chunks.Buckets(start_ms, end_ms, count[one]) for one in series}
        recent_from = {one: start_ms for one in series}
        with self._snapshot():
            for one in series if self.database is not None else ():
                result = results[one]
                if result.width < chunks.HOUR_MS:
                    recent_from[one] = self._sealed_points(one, result, start_ms, end_ms)
                else:
                    recent_from[one] = self._sealed_hours(one, result, start_ms, end_ms)
            earliest = min(recent_from.values(), default=end_ms)
            times, columns = self.columns(earliest, end_ms, list(series))
        for one, column in zip(series, columns, strict=True):
            low = bisect.bisect_left(times, recent_from[one])
            if low < len(times):
                results[one].add_column(times[low:], column[low:])
        return {one: result.result() for one, result in results.items()}

    def _sealed_points(self, series: int, result: chunks.Buckets, start_ms: int,
                       end_ms: int) -> int:  # fmt: skip
        """Add sealed days poll by poll; return where the polls after them start."""
        assert self.database is not None
        recent_from = start_ms
        for chunk_end, count, lengths_text, base_blob, times_blob, block, lost in \
                self.database.points_rows(series, start_ms, end_ms):  # fmt: skip
            recent_from = max(recent_from, chunk_end + 1)
            flat = flat_of_series(chunks.parse_lengths(lengths_text), series)
            if flat is None or lost:
                continue
            value = chunks.unpack(base_blob, "i")[flat]
            result.add_column(chunks.times_of(times_blob), chunks.expand(value, block, count))
        return recent_from

    def _sealed_hours(self, series: int, result: chunks.Buckets, start_ms: int,
                      end_ms: int) -> int:  # fmt: skip
        """Add sealed days from their hourly aggregates; return where later polls start."""
        assert self.database is not None
        recent_from = start_ms
        for chunk_start, chunk_end, lengths_text, base_blob, counts_blob, hourly in \
                self.database.hourly_rows(series, start_ms, end_ms):  # fmt: skip
            if hourly is not None:
                aggregates = chunks.unpack(hourly, "q")
            else:
                flat = flat_of_series(chunks.parse_lengths(lengths_text), series)
                if flat is None:
                    continue
                value = chunks.unpack(base_blob, "i")[flat]
                aggregates = chunks.constant_hourly(value, chunks.unpack(counts_blob, "I"))
            result.add_hourly(chunk_start - chunk_start % chunks.DAY_MS, aggregates)
            recent_from = max(recent_from, chunk_end + 1)
        return recent_from

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
                ids = sorted({ids[min(len(ids) - 1, int(k * step))] for k in range(sample)}
                             | {ids[-1]})  # fmt: skip
            problems = []
            for chunk in ids:
                row, blocks = self.database.chunk_for_check(chunk)
                for problem in chunks.verify(row, blocks):
                    day = _day_text(row[0])
                    problems.append(f"sealed day {day}: {problem}")
            return len(ids), len(self.database.chunk_ids()), problems

    def database_check(self, full: bool = False) -> str | None:
        """SQLite's own check ("ok" or what is wrong); None without a database."""
        return self.database.quick_check(full) if self.database is not None else None

    def lost_blocks(self) -> int:
        """Series-days a rebuild could not rescue (their values are unknown)."""
        return self.database.lost_count() if self.database is not None else 0

    def latest(self) -> Poll | None:
        """The newest stored poll (WAL-only ones included), or None."""
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
            rows = self.database.db.execute(
                "SELECT id, end_ms FROM chunks ORDER BY end_ms DESC, id DESC LIMIT 1"
            ).fetchone()
        if rows is None:
            return None
        every = _every_series(self.database.newest_lengths() or (0, 0, 0))
        for ts_ms, status, values in self.polls(rows[1], rows[1] + 1, every):
            newest = _poll_from_values(ts_ms, status, values, every)
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
        """Polls stored (each once), first and last poll time, bytes on disk."""
        with self._snapshot() as after_seq:
            polls, first, last = self.database.summary() if self.database else (0, None, None)
            recent = self.wal_polls(after_seq)
        if recent:
            first = recent[0][1].ts_ms if first is None else first
            last = max(last or 0, recent[-1][1].ts_ms)
        return Stats(
            polls=polls + len(recent),
            wal_only=len(recent),
            first_ms=first,
            last_ms=last,
            database_bytes=self.database.size_bytes() if self.database else 0,
            wal_bytes=directory_bytes(self.state_dir / WAL_DIRECTORY),
        )

    def close(self) -> None:
        if self.database is not None:
            self.database.close()
            self.database = None


def _pick(
    polls: Iterator[tuple[int, Poll]], end_ms: int, series: Sequence[int]
) -> Iterator[tuple[int, int, list[int | None]]]:
    """(ts_ms, status, values of `series`) of whole polls before `end_ms`."""
    positions_by_shape: dict[tuple[int, int, int], list[int | None]] = {}
    for ts_ms, poll in polls:
        if ts_ms >= end_ms:
            continue
        shape = poll.lengths
        positions = positions_by_shape.get(shape)
        if positions is None:
            positions = [flat_of_series(shape, s) for s in series]
            positions_by_shape[shape] = positions
        values = poll.flat()
        yield ts_ms, poll.calc_status, [values[p] if p is not None else None for p in positions]


def _day_text(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date().isoformat()


def _every_series(lengths: Sequence[int]) -> list[int]:
    return [chunks.series_id(group, index)
            for group, length in zip(GROUPS, lengths, strict=True)
            for index in range(length)]  # fmt: skip


def _poll_from_values(ts_ms: int, status: int, values: list[int | None], every: list[int]) -> Poll:
    arrays: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for series, value in zip(every, values, strict=True):
        arrays[series >> 16].append(0 if value is None else value)
    return Poll(ts_ms, status, tuple(arrays[0]), tuple(arrays[1]), tuple(arrays[2]))

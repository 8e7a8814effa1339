"""The arithmetic of sealed days, without SQL: series ids, chunk blobs, hourly aggregates, buckets.

A sealed day is one chunk (the first poll's values, poll times, status words, polls per hour)
plus, for each series that changed that day, a block: its changes (poll index gaps, value
differences; zlib) and min/max/sum/count per hour. `seal()` builds them from delta records,
`expand()` turns a block back into one value per poll, `Buckets` downsamples.
"""

from __future__ import annotations

import bisect
import struct
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from operator import gt, sub
from typing import Any

from luxlogd.store import codec

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
SLOTS = 24  # hourly aggregates per sealed day (UTC hours)
GROUP_CODES = {"parameters": 0, "calculations": 1, "visibilities": 2}


def series_id(group: str, index: int) -> int:
    """The number a (group, index) series is stored under."""
    return GROUP_CODES[group] << 16 | index


def series_of_flat(lengths: Sequence[int], flat_index: int) -> int:
    parameters, calculations = lengths[0], lengths[1]
    if flat_index < parameters:
        return series_id("parameters", flat_index)
    if flat_index < parameters + calculations:
        return series_id("calculations", flat_index - parameters)
    return series_id("visibilities", flat_index - parameters - calculations)


def flat_of_series(lengths: Sequence[int], series: int) -> int | None:
    """Position of `series` in a poll's flat values, or None where that firmware has none."""
    group, index = series >> 16, series & 0xFFFF
    if index >= lengths[group]:
        return None
    return sum(lengths[:group]) + index


def pack(values: Sequence[int], code: str) -> bytes:
    return zlib.compress(array(code, values).tobytes(), 6)


def unpack(blob: bytes, code: str) -> array[int]:
    result = array(code)
    result.frombytes(zlib.decompress(blob))
    return result


def times_of(blob: bytes) -> list[int]:
    """Poll times (ms) of a chunk from its delta-coded blob."""
    return list(accumulate(unpack(blob, "q")))


def parse_lengths(text: str) -> tuple[int, int, int]:
    first, second, third = (int(x) for x in text.split(","))
    return first, second, third


def is_sorted(values: Sequence[int]) -> bool:
    """True when `values` never decrease (poll times, unless a clock stepped back)."""
    return not any(map(gt, values, values[1:]))


def expand_changes(base: int, at: Sequence[int], values: Sequence[int], count: int) -> list[int]:
    """A column of `count` values: `base`, then values[k + 1] from position at[k] on."""
    runs = list(map(sub, at[1:], at[:-1]))
    lengths = [at[0], *runs, count - at[-1]] if at else [count]
    return list(chain.from_iterable(map(repeat, values, lengths)))  # in C, run by run


def expand(base: int, points: bytes | None, count: int, low: int = 0, high: int = -1) -> list[int]:
    """One series' value at every poll [low, high) of a chunk (high -1: to its end)."""
    high = count if high < 0 else high
    if points is None:
        return [base] * (high - low)
    raw = zlib.decompress(points)
    (changes,) = struct.unpack_from("<I", raw)
    if not changes:
        return [base] * (high - low)
    positions = array("I")
    positions.frombytes(raw[4 : 4 + 4 * changes])
    differences = array("q")
    differences.frombytes(raw[4 + 4 * changes :])
    at = list(accumulate(positions))  # where values[k + 1] begins
    first, last = bisect.bisect_right(at, low), bisect.bisect_right(at, high - 1)
    values = list(accumulate(differences, initial=base))[first : last + 1]
    bounds = [low, *at[first:last], high]
    lengths = map(sub, bounds[1:], bounds[:-1])
    return list(chain.from_iterable(map(repeat, values, lengths)))  # in C, run by run


@dataclass
class SealedChunk:
    """What one sealed run of polls becomes: the chunk row and its series blocks."""

    first_seq: int
    last_seq: int
    start_ms: int
    end_ms: int
    count: int
    lengths: tuple[int, int, int]
    base: bytes
    times: bytes
    statuses: bytes
    slot_counts: bytes
    blocks: list[tuple[int, bytes, bytes]] = field(default_factory=list)  # series, points, hourly
    min_ms: int | None = None  # the earliest and latest poll time (a clock that stepped back
    max_ms: int | None = None  # leaves them unlike the first and the last); None: start/end
    clock_suspect: bool = False  # every poll of it was stamped by a clock luxlogd distrusted

    @property
    def earliest_ms(self) -> int:
        return self.start_ms if self.min_ms is None else self.min_ms

    @property
    def latest_ms(self) -> int:
        return self.end_ms if self.max_ms is None else self.max_ms


def split_by_shape(rows: Sequence[tuple[int, bytes]]) -> list[list[tuple[int, bytes]]]:
    """Cut hot rows (seq, record) into runs of equal array lengths (a firmware update) and of
    equal trust in their time stamps (polls stamped by a distrusted clock are sealed apart).

    A run that does not begin with a keyframe gets one (its first record re-encoded), so
    every run can be sealed on its own."""
    runs: list[list[tuple[int, bytes]]] = []
    key = None
    previous = None
    for seq, data in rows:
        poll = codec.decode(data, previous)
        previous = poll
        shape = (poll.lengths, poll.clock_suspect)
        if not runs or shape != key:
            runs.append([])
            if not codec.is_keyframe(data):
                data = codec.encode(poll, None)
        key = shape
        runs[-1].append((seq, data))
    return runs


def seal(rows: Sequence[tuple[int, bytes]]) -> SealedChunk:
    """One chunk from consecutive records of one shape; the first must be a keyframe."""
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
    chunk = SealedChunk(
        rows[0][0],
        rows[-1][0],
        times[0],
        times[-1],
        len(rows),
        lengths,
        pack(base, "i"),
        pack([times[0]] + [b - a for a, b in zip(times, times[1:], strict=False)], "q"),
        pack(statuses, "i"),
        pack(slot_counts, "I"),
        min_ms=min(times),
        max_ms=max(times),
        clock_suspect=first.clock_suspect,
    )
    for index, (positions, differences) in changes.items():
        points = zlib.compress(
            struct.pack("<I", len(positions))
            + array("I", positions).tobytes()
            + array("q", differences).tobytes(),
            6,
        )
        hourly = hourly_aggregates(base[index], positions, differences, slots, len(rows))
        chunk.blocks.append((series_of_flat(lengths, index), points, pack(hourly, "q")))
    return chunk


def hourly_aggregates(
    base: int, positions: list[int], differences: list[int], slots: list[int], count: int
) -> list[int]:
    """min, max, sum, count per hour slot of a series that changed."""
    result = [0] * (SLOTS * 4)
    starts = list(accumulate(positions))
    values = list(accumulate(differences, initial=base))
    if not is_sorted(slots):  # the clock stepped back within the day: poll by poll
        column = expand_changes(base, starts, values, count)
        for slot, value in zip(slots, column, strict=True):
            _fold(result, slot, value, 1)
        return result
    boundaries = [0, *starts, count]
    for k in range(len(boundaries) - 1):
        begin, end, value = boundaries[k], boundaries[k + 1], values[k]
        position = begin
        while position < end:
            slot = slots[position]
            slot_end = bisect.bisect_right(slots, slot, position, end)
            _fold(result, slot, value, slot_end - position)
            position = slot_end
    return result


def _fold(result: list[int], slot: int, value: int, taken: int) -> None:
    """Add `taken` polls of `value` to the min/max/sum/count of an hour slot."""
    at = slot * 4
    if result[at + 3] == 0:
        result[at] = result[at + 1] = value
    else:
        result[at] = min(result[at], value)
        result[at + 1] = max(result[at + 1], value)
    result[at + 2] += value * taken
    result[at + 3] += taken


def constant_hourly(value: int, slot_counts: Sequence[int]) -> array[int]:
    """The hourly aggregates of a series that did not change all day."""
    aggregates = array("q")
    for count in slot_counts:
        aggregates.extend((value, value, value * count, count))
    return aggregates


def verify(row: Sequence[Any], blocks: Sequence[tuple[int, bytes, bytes]]) -> list[str]:
    """What is inconsistent in one sealed chunk: its times, its hour counts, and each
    series' hourly aggregates against its own values (computed here independently). `row` is
    (start_ms, count, lengths, base, times, slot_counts) of the chunks table."""
    start_ms, count, lengths_text, base_blob, times_blob, slot_counts_blob = row
    problems = []
    times = times_of(times_blob)
    if len(times) != count or not times or times[0] != start_ms:
        return [f"{len(times)} poll times for {count} polls"]
    day_start = start_ms - start_ms % DAY_MS
    slots = [min(SLOTS - 1, max(0, (t - day_start) // HOUR_MS)) for t in times]
    counts = [slots.count(slot) for slot in range(SLOTS)]
    if list(unpack(slot_counts_blob, "I")) != counts:
        problems.append("the polls per hour differ from the poll times")
    order = sorted(range(count), key=slots.__getitem__)  # stable: by hour, then as stored
    slots = [slots[position] for position in order]
    edges = [bisect.bisect_left(slots, slot) for slot in range(SLOTS + 1)]
    lengths = parse_lengths(lengths_text)
    base = unpack(base_blob, "i")
    differ = []
    for series, points, hourly in blocks:
        flat = flat_of_series(lengths, series)
        try:
            assert flat is not None, "a series outside the arrays"
            stored = expand(base[flat], points, count)
            values = [stored[position] for position in order]
            figures = list(unpack(hourly, "q"))
        except (AssertionError, zlib.error, struct.error, ValueError, IndexError) as error:
            problems.append(f"series {series} cannot be read ({error})")
            continue
        expected: list[int] = []
        for slot in range(SLOTS):
            part = values[edges[slot] : edges[slot + 1]]
            expected += (min(part), max(part), sum(part), len(part)) if part else (0, 0, 0, 0)
        if figures != expected:
            differ.append(series)
    if differ:
        problems.append(f"the hourly figures of {len(differ)} series differ from their values")
    return problems


@dataclass(frozen=True)
class Bucket:
    start_ms: int
    minimum: float
    maximum: float
    mean: float
    count: int


class Buckets:
    """min/max/sum/count in `points` equal buckets over [start_ms, end_ms)."""

    def __init__(self, start_ms: int, end_ms: int, points: int) -> None:
        self.start_ms, self.end_ms = start_ms, end_ms
        self.width = max(1, -(-(end_ms - start_ms) // max(1, points)))
        self._sums: dict[int, list[float]] = {}

    def add(self, at_ms: int, low: float, high: float, total: float, count: int) -> None:
        key = (at_ms - self.start_ms) // self.width
        entry = self._sums.get(key)
        if entry is None:
            self._sums[key] = [low, high, total, count]
        else:
            entry[0] = min(entry[0], low)
            entry[1] = max(entry[1], high)
            entry[2] += total
            entry[3] += count

    def add_hourly(self, day_start_ms: int, aggregates: Sequence[int]) -> None:
        """A sealed day's hourly aggregates (a bucket takes whole hours, by the hour's start)."""
        day_end = day_start_ms + DAY_MS
        if (
            self.start_ms <= day_start_ms
            and day_end <= self.end_ms
            and (day_start_ms - self.start_ms) // self.width
            == (day_end - 1 - self.start_ms) // self.width
        ):
            counts = aggregates[3::4]
            if 0 not in counts:  # the whole day in one bucket, every hour polled: one add
                self.add(
                    day_start_ms,
                    min(aggregates[0::4]),
                    max(aggregates[1::4]),
                    sum(aggregates[2::4]),
                    sum(counts),
                )
                return
        for slot in range(SLOTS):
            at = slot * 4
            count = aggregates[at + 3]
            slot_ms = day_start_ms + slot * HOUR_MS
            if count and self.start_ms <= slot_ms < self.end_ms:
                self.add(slot_ms, aggregates[at], aggregates[at + 1], aggregates[at + 2], count)

    def add_column(self, times: Sequence[int], column: Sequence[int | None]) -> None:
        """One series' values at `times`, sliced at bucket edges (min/max/sum run in C)."""
        if not is_sorted(times):  # a clock that stepped back: put the polls in time order
            order = sorted(range(len(times)), key=times.__getitem__)
            times = [times[position] for position in order]
            column = [column[position] for position in order]
        low = bisect.bisect_left(times, self.start_ms)
        high = bisect.bisect_left(times, self.end_ms)
        while low < high:
            key = (times[low] - self.start_ms) // self.width
            edge = bisect.bisect_left(times, self.start_ms + (key + 1) * self.width, low, high)
            values = [v for v in column[low:edge] if v is not None]
            if values:
                self.add(times[low], min(values), max(values), sum(values), len(values))
            low = edge

    def result(self) -> list[Bucket]:
        return [
            Bucket(self.start_ms + key * self.width, low, high, total / count, int(count))
            for key, (low, high, total, count) in sorted(self._sums.items())
        ]

"""Poll records as bytes: a keyframe of every value, or only what differs from a reference.

About 1.6 % of ~1,700 values change per poll, so a delta record is ~30 changes of
(index gap, value difference) in zigzag varints: about 100 bytes instead of 6,000.
SQLite's hot table chains deltas (each against the poll before it, format 1); the
write-ahead log writes each against its segment's first record (format 2), so a damaged
record costs only itself. A flag marks polls stamped by a clock luxlogd does not trust.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from itertools import compress
from operator import ne

from luxlogd.heatpump.poll import Poll
from luxlogd.store import frames

logger = logging.getLogger("luxlogd.reader")  # its name in the journal (README)

FORMAT_VERSION = 1  # keyframes, and deltas against the poll before
BASE_FORMAT = 2  # deltas against a base record (the first of a write-ahead log segment)
FLAG_KEYFRAME = 1
FLAG_CLOCK_SUSPECT = 2  # stamped while the system clock disagreed with every other clock


class CodecError(ValueError):
    """Bytes that are not a valid record (or a delta without its base)."""


def _put_varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _zigzag(value: int) -> int:
    return (value << 1) ^ (value >> 63)


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


class _Reader:
    __slots__ = ("data", "offset")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def varint(self) -> int:
        data = self.data
        result = shift = 0
        while True:
            if self.offset >= len(data) or shift > 63:
                raise CodecError("truncated or overlong varint")
            byte = data[self.offset]
            self.offset += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7

    def signed(self) -> int:
        return _unzigzag(self.varint())

    def many(self, count: int) -> list[int]:
        """`count` varints in a row (the loop of varint(), inlined: most of a read's time)."""
        data, offset, end = self.data, self.offset, len(self.data)
        out: list[int] = []
        append = out.append
        for _ in range(count):
            byte = data[offset] if offset < end else 0x100
            if byte < 0x80:  # one byte: most values and index gaps
                offset += 1
                append(byte)
                continue
            result = shift = 0
            while True:
                if offset >= end or shift > 63:
                    raise CodecError("truncated or overlong varint")
                byte = data[offset]
                offset += 1
                result |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
            append(result)
        self.offset = offset
        return out


def differences(poll: Poll, reference: Poll) -> list[tuple[int, int]]:
    """(index, difference) of every value that differs between two polls of one shape."""
    values, before = poll.values, reference.values
    # Which values differ is found in C (map/compress); Python only touches the few that do.
    changed = compress(range(len(values)), map(ne, before, values))
    return [(index, values[index] - before[index]) for index in changed]


def encode(
    poll: Poll,
    previous: Poll | None,
    *,
    against_base: bool = False,
    changes: list[tuple[int, int]] | None = None,
) -> bytes:
    """Encode `poll`; as a delta against `previous` when given and of the same shape.

    `against_base`: `previous` is a base record every later one refers to (format 2).
    `changes`: differences(poll, previous), when the caller has them already.
    """
    flags = FLAG_CLOCK_SUSPECT if poll.clock_suspect else 0
    out = bytearray((BASE_FORMAT if against_base else FORMAT_VERSION, flags))
    _put_varint(out, _zigzag(poll.calc_status))
    _put_varint(out, poll.ts_ms)
    for length in poll.lengths:
        _put_varint(out, length)
    if previous is None or previous.lengths != poll.lengths:
        out[0] = FORMAT_VERSION
        out[1] |= FLAG_KEYFRAME
        for value in poll.values:
            _put_varint(out, _zigzag(value))
        return bytes(out)
    if changes is None:
        changes = differences(poll, previous)
    _put_varint(out, len(changes))
    last = -1
    for index, difference in changes:
        _put_varint(out, index - last - 1)
        _put_varint(out, _zigzag(difference))
        last = index
    return bytes(out)


def changed_count(poll: Poll, reference: Poll) -> int:
    """How many values differ between two polls of one shape (counted in C)."""
    return sum(map(ne, reference.values, poll.values))


def is_keyframe(data: bytes) -> bool:
    return len(data) > 1 and data[1] & FLAG_KEYFRAME == FLAG_KEYFRAME


def is_base_delta(data: bytes) -> bool:
    """A delta against a base record rather than against the poll before it."""
    return len(data) > 1 and data[0] == BASE_FORMAT


def decode(data: bytes, previous: Poll | None) -> Poll:
    """Decode a record; a delta needs its reference (the poll before it, or for format 2 its
    base). Raise CodecError when malformed."""
    if len(data) < 2 or data[0] not in (FORMAT_VERSION, BASE_FORMAT):
        raise CodecError("unknown record format")
    reader = _Reader(data)
    reader.offset = 2
    status = reader.signed()
    ts_ms = reader.varint()
    lengths = (reader.varint(), reader.varint(), reader.varint())
    total = sum(lengths)
    if total > 100_000:
        raise CodecError("implausible array lengths")
    first, second = lengths[0], lengths[0] + lengths[1]
    suspect = bool(data[1] & FLAG_CLOCK_SUSPECT)
    if is_keyframe(data):
        values = [(raw >> 1) ^ -(raw & 1) for raw in reader.many(total)]
        if reader.offset != len(data):
            raise CodecError("trailing bytes in record")
        return Poll(
            ts_ms,
            status,
            tuple(values[:first]),
            tuple(values[first:second]),
            tuple(values[second:]),
            clock_suspect=suspect,
        )
    if previous is None or previous.lengths != lengths:
        raise CodecError("delta record without a matching previous poll")
    count = reader.varint()
    if count > total:
        raise CodecError("change index out of range")
    raw = reader.many(2 * count)
    if reader.offset != len(data):
        raise CodecError("trailing bytes in record")
    # Each array is copied only when it changed: an unchanged one (the parameters, mostly)
    # is the previous poll's own tuple, so a day of decoded polls costs the changes, not a
    # full copy of every array per poll.
    arrays = [previous.parameters, previous.calculations, previous.visibilities]
    starts = (0, first, second)
    copies: list[list[int] | None] = [None, None, None]
    index = -1
    for gap, difference in zip(raw[::2], raw[1::2], strict=True):
        index += gap + 1
        if index >= total:
            raise CodecError("change index out of range")
        group = 0 if index < first else 1 if index < second else 2
        copy = copies[group]
        if copy is None:
            copy = copies[group] = list(arrays[group])
        copy[index - starts[group]] += (difference >> 1) ^ -(difference & 1)
    parameters, calculations, visibilities = (
        array if copy is None else tuple(copy) for array, copy in zip(arrays, copies, strict=True)
    )
    return Poll(ts_ms, status, parameters, calculations, visibilities, clock_suspect=suspect)


def changes_of(data: bytes) -> tuple[int, int, list[tuple[int, int]]] | None:
    """For a delta record: (ts_ms, calc_status, [(flat index, difference), ...]).

    None for a keyframe.
    """
    if is_keyframe(data):
        return None
    reader = _Reader(data)
    reader.offset = 2
    status = reader.signed()
    ts_ms = reader.varint()
    for _ in range(3):
        reader.varint()
    changes = []
    index = -1
    raw = reader.many(2 * reader.varint())
    for gap, difference in zip(raw[::2], raw[1::2], strict=True):
        index += gap + 1
        changes.append((index, (difference >> 1) ^ -(difference & 1)))
    return ts_ms, status, changes


def decode_records(
    records: Iterable[frames.Record], after_seq: int = 0, undecodable: list[int] | None = None
) -> Iterator[tuple[int, Poll]]:
    """Decode write-ahead log records in order; yield (seq, poll) for seq > after_seq.

    A keyframe stands alone; a format-2 delta needs its segment's base; an older format-1
    delta needs the record just before it. A record that cannot be decoded is skipped (its
    number goes to `undecodable`); the others are not affected by it.
    """
    previous: tuple[int, Poll] | None = None
    bases: dict[int, tuple[bytes, Poll | None]] = {}  # id(base bytes) -> (bytes, decoded)
    for record in records:
        payload = record.payload
        if record.seq <= after_seq and is_base_delta(payload):
            continue  # needs nothing before it, and nothing after needs it
        try:
            if is_keyframe(payload):
                poll = decode(payload, None)
            elif is_base_delta(payload):
                poll = decode(payload, _base_poll(bases, record.base))
            elif previous is not None and previous[0] == record.seq - 1:
                poll = decode(payload, previous[1])
            else:
                raise CodecError("the record before it is lost")
        except CodecError as error:
            logger.debug("wal: record seq=%d cannot be decoded: %s", record.seq, error)
            if undecodable is not None and record.seq > after_seq:
                undecodable.append(record.seq)
            continue
        previous = (record.seq, poll)
        if record.seq > after_seq:
            yield record.seq, poll


def _base_poll(bases: dict[int, tuple[bytes, Poll | None]], base: bytes | None) -> Poll:
    if base is None:
        raise CodecError("its segment's base is lost")
    cached = bases.get(id(base))
    if cached is None or cached[0] is not base:
        try:
            cached = (base, decode(base, None))
        except CodecError:
            cached = (base, None)
        bases[id(base)] = cached
    if cached[1] is None:
        raise CodecError("its segment's base cannot be decoded")
    return cached[1]

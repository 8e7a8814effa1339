"""The write-ahead log on disk: segment files of framed, checksummed, numbered records, and
reading them back whatever damage they took. Pure reading: writing is wal.py's.

Frame: u32 length | u32 crc32(seq || payload) | u64 seq | payload   (little-endian)

A scan resynchronises on the next frame whose checksum verifies, so damage (a flipped bit, a
zeroed page, a torn write) costs only the records it hits, and says which numbers it took.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HEADER = struct.Struct("<IIQ")
MAX_RECORD_BYTES = 1 << 20
MAX_SEQ_GAP = 1 << 20  # a frame further ahead than this is taken for garbage
SUFFIX = ".wal"
BASE_SUFFIX = ".base"
DAMAGED_SUFFIX = ".damaged"
ZERO_HEADER = bytes(HEADER.size)


@dataclass(frozen=True)
class Scan:
    """What a scan of one segment's bytes found."""

    records: list[tuple[int, bytes]]  # (seq, payload), seq strictly increasing
    damaged: list[tuple[int, int]]  # [start, end) byte ranges that are not good records
    end: int  # offset after the last good record
    data_end: int  # offset after the last non-zero byte

    @property
    def torn_tail(self) -> bool:
        """Damage after the last good record: a torn final write, or damage at the end."""
        return bool(self.damaged) and self.damaged[-1][0] >= self.end


@dataclass(frozen=True)
class Record:
    """A record read back: its number, its bytes, and its segment's base (the first record's
    payload, from the segment or its copy; None when both are damaged)."""

    seq: int
    payload: bytes
    base: bytes | None


def _frame_at(data: bytes, offset: int, after_seq: int) -> tuple[int, bytes, int] | None:
    """(seq, payload, next offset) of a good frame at `offset` numbered after `after_seq`."""
    if offset + HEADER.size > len(data):
        return None
    length, crc, seq = HEADER.unpack_from(data, offset)
    start = offset + HEADER.size
    if not 0 < length <= MAX_RECORD_BYTES or start + length > len(data):
        return None
    if not after_seq < seq <= after_seq + MAX_SEQ_GAP:
        return None
    payload = data[start : start + length]
    if zlib.crc32(payload, zlib.crc32(seq.to_bytes(8, "little"))) != crc:
        return None
    return seq, payload, start + length


def _resync(data: bytes, start: int, stop: int, after_seq: int) -> int | None:
    """The offset of the next good frame in [start, stop), or None."""
    unpack = HEADER.unpack_from
    last = min(stop, len(data)) - HEADER.size
    limit = after_seq + MAX_SEQ_GAP
    for offset in range(start, last + 1):
        seq = unpack(data, offset)[2]
        # The sequence number filters almost every offset before any checksum is computed.
        if after_seq < seq <= limit and _frame_at(data, offset, after_seq) is not None:
            return offset
    return None


def scan(data: bytes, first_seq: int = 1) -> Scan:
    """Every good frame in `data` numbered from `first_seq` on, resynchronising after damage.

    Zeros up to the end are the unused rest of a segment; zeros followed by records are
    damage (a page that lost its contents).
    """
    records: list[tuple[int, bytes]] = []
    damaged: list[tuple[int, int]] = []
    data_end = len(data.rstrip(b"\0"))
    size = len(data)
    offset, end, last_seq = 0, 0, first_seq - 1
    unpack, crc32 = HEADER.unpack_from, zlib.crc32
    while offset < data_end:
        if offset + HEADER.size <= size:  # _frame_at(), inlined: it runs for every record
            length, crc, seq = unpack(data, offset)
            start = offset + HEADER.size
            if (
                0 < length <= MAX_RECORD_BYTES
                and start + length <= size
                and last_seq < seq <= last_seq + MAX_SEQ_GAP
            ):
                payload = data[start : start + length]
                if crc32(payload, crc32(seq.to_bytes(8, "little"))) == crc:
                    records.append((seq, payload))
                    last_seq, offset = seq, start + length
                    end = offset
                    continue
        resumed = _resync(data, offset + 1, data_end, last_seq)
        damaged.append((offset, data_end if resumed is None else resumed))
        if resumed is None:
            break
        offset = resumed
    return Scan(records, damaged, end, max(data_end, end))


def frame(seq: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(seq.to_bytes(8, "little")))
    return HEADER.pack(len(payload), crc, seq) + payload


def segment_paths(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob(f"*{SUFFIX}") if p.stem.isdigit())


def base_path(segment: Path) -> Path:
    return segment.with_suffix(BASE_SUFFIX)


def read_base(segment: Path, found: Scan) -> bytes | None:
    """The payload of the segment's first record: from the segment, else from its copy."""
    first_seq = int(segment.stem)
    if found.records and found.records[0][0] == first_seq:
        return found.records[0][1]
    try:
        copy = scan(base_path(segment).read_bytes(), first_seq)
    except OSError:
        return None
    if copy.records and copy.records[0][0] == first_seq:
        return copy.records[0][1]
    return None


def read_records(directory: Path, after_seq: int = 0) -> Iterator[Record]:
    """Read-only scan for readers: every good record with seq > after_seq, in order."""
    paths = segment_paths(directory)
    for position, path in enumerate(paths):
        following = paths[position + 1] if position + 1 < len(paths) else None
        if following is not None and int(following.stem) - 1 <= after_seq:
            continue  # every record of this segment is older (numbers grow across segments)
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # removed by the writer meanwhile: already in SQLite
            continue
        found = scan(data, int(path.stem))
        base = read_base(path, found)
        for seq, payload in found.records:
            if seq > after_seq:
                yield Record(seq, payload, base)


def claimed(data: bytes, start: int, end: int, after_seq: int) -> list[int]:
    """Sequence numbers that frame headers in damaged bytes claim, as long as they chain."""
    claimed: list[int] = []
    offset = start
    while offset + HEADER.size <= end:
        length, _, seq = HEADER.unpack_from(data, offset)
        if not 0 < length <= MAX_RECORD_BYTES or seq != (claimed[-1] if claimed else after_seq) + 1:
            break
        claimed.append(seq)
        offset += HEADER.size + length
    return claimed


def frame_end(data: bytes, offset: int) -> int:
    """Where the frame whose header is at `offset` claims to end."""
    length: int = HEADER.unpack_from(data, offset)[0]
    return offset + HEADER.size + length


def missing_between(seqs: list[int], first: int) -> list[tuple[int, int]]:
    """Ranges of numbers from `first` on that `seqs` (increasing) skips."""
    missing = []
    expected = first
    for seq in seqs:
        if seq > expected:
            missing.append((expected, seq - 1))
        expected = seq + 1
    return missing

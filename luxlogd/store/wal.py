"""The write-ahead log: framed, checksummed, numbered records in pre-zeroed segment files.

A record is acknowledged only after fdatasync() returned. Segments are filled with zeros when
created, so an append rewrites data blocks in place and fdatasync() needs no metadata commit
(about 4 KiB written per poll instead of ~10). The first record of a segment is its base;
a copy of it is kept beside the segment (`<first seq>.base`), so damage to one copy never
makes the rest of the segment unreadable. Knows nothing about SQLite or what a payload means.

Recovery scans every frame: damage (a flipped bit, a zeroed page, a torn write) costs only the
records it hits. The scan resynchronises on the next frame whose checksum verifies, reports
which sequence numbers are missing, copies damaged bytes aside (`*.damaged`) and zeroes them.
It never refuses to start because of damage.

The frame format and reading segments back are in frames.py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from luxlogd.base.files import fsync_directory
from luxlogd.store.frames import (
    DAMAGED_SUFFIX,
    HEADER,
    SUFFIX,
    Record,
    Scan,
    base_path,
    claimed,
    frame,
    frame_end,
    missing_between,
    read_base,
    scan,
    segment_paths,
)

logger = logging.getLogger("luxlogd.wal")  # its name in the journal (README)

SEGMENT_BYTES = 256 * 1024


class WalError(OSError):
    """The log cannot take records. `fatal`: a failed fsync poisoned it until reopened."""

    fatal = False


class WalSyncError(WalError):
    """fdatasync failed: the kernel may have dropped the pages; only reopening recovers."""

    fatal = True


class WalGoneError(WalError):
    """The segment being written was deleted (`rm -r wal` while running): the record was not
    made durable. The next append starts a new segment; it must be a keyframe."""


@dataclass
class Recovery:
    """What opening the log found."""

    records: list[Record] = field(default_factory=list)
    missing: list[tuple[int, int]] = field(default_factory=list)  # seq ranges, inclusive
    damage: list[str] = field(default_factory=list)  # damaged bytes found and set aside now
    zeroed: list[str] = field(default_factory=list)  # zeros where records were
    # Numbers the damaged end of the newest segment claims (headers that still read right):
    # the last may be the poll in flight at a crash, never acknowledged; the others are lost.
    tail: tuple[int, int] | None = None


class WriteAheadLog:
    """Append-only log in `directory`. open() recovers; append() returns once durable."""

    def __init__(
        self,
        directory: Path,
        segment_bytes: int = SEGMENT_BYTES,
        fdatasync: Callable[[int], None] = os.fdatasync,
    ) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.fdatasync = fdatasync
        self.last_seq = 0
        self.base: bytes | None = None  # the current segment's first payload
        self._fd: int | None = None
        self._path: Path | None = None
        self._offset = 0
        self._segment_first_seq = 0
        self._segment_records = 0
        self._poisoned: str | None = None

    @property
    def segment_records(self) -> int:
        """Records in the segment appends go to."""
        return self._segment_records

    def starts_segment(self, payload_bytes: int) -> bool:
        """True when a record of this size would start a segment (it must then stand alone)."""
        return self._fd is None or self._segment_records == 0 or self._needs_rotation(payload_bytes)

    def open(self) -> Recovery:
        """Recover the log: every good record, the numbers that are missing, and where the
        damage was (its bytes are copied aside and zeroed, so appends follow cleanly)."""
        self.close()
        self._poisoned = None
        self.directory.mkdir(parents=True, exist_ok=True)
        recovery = Recovery()
        paths = segment_paths(self.directory)
        expected: int | None = None  # the number the next good record should have
        current: tuple[Path, Scan, bytes] | None = None
        for path in paths:
            data = path.read_bytes()
            found = scan(data, int(path.stem))
            if not found.records and not found.damaged:
                self._drop_empty(path)  # created just before a crash, before its first record
                continue
            base = read_base(path, found)
            recovery.records += [Record(seq, payload, base) for seq, payload in found.records]
            # Numbers skipped within a segment, or between segments (a damaged end of one
            # shows as the numbers before the next one's first record).
            seqs = [seq for seq, _ in found.records]
            recovery.missing += missing_between(
                seqs, int(path.stem) if expected is None else expected
            )
            if seqs:
                expected = seqs[-1] + 1
            elif expected is None:
                expected = int(path.stem)
            current = (path, found, data)
            newest = path == paths[-1]
            for start, end in found.damaged:
                if newest and found.torn_tail and (start, end) == found.damaged[-1]:
                    continue  # told below: perhaps only the record in flight
                self._tell_damage(recovery, path, data, start, end)
        self.last_seq = recovery.records[-1].seq if recovery.records else 0
        if current is not None:
            path, found, data = current
            if found.torn_tail and path == paths[-1]:
                start, end = found.damaged[-1]
                claims = claimed(data, start, end, max(self.last_seq, int(path.stem) - 1))
                if claims:
                    recovery.tail = (claims[0], claims[-1])
                    self.last_seq = claims[-1]  # numbers are never given twice
                if len(claims) == 1 and frame_end(data, start) >= end:
                    self._set_aside(path, data, start, end, quiet=True)  # the one in flight
                else:
                    self._tell_damage(recovery, path, data, start, end)
            self._reuse(path, found)
        if recovery.records:
            logger.info(
                "wal: recovered records=%d last_seq=%d", len(recovery.records), self.last_seq
            )
        return recovery

    def _drop_empty(self, path: Path) -> None:
        try:
            path.unlink()
            base_path(path).unlink(missing_ok=True)
        except OSError as error:
            logger.debug("wal: could not remove the empty segment %s: %s", path.name, error)

    def _reuse(self, path: Path, found: Scan) -> None:
        """Make `path` the segment appends go to, after its last good record."""
        self._fd = os.open(path, os.O_RDWR)
        self._path = path
        self._offset = found.end
        self._segment_first_seq = int(path.stem)
        self._segment_records = len(found.records)
        self.base = read_base(path, found)
        if self.base is None:  # its base is lost: records after it could not be read
            self.close()
        elif os.fstat(self._fd).st_size < self.segment_bytes:
            os.ftruncate(self._fd, self.segment_bytes)

    def _tell_damage(
        self, recovery: Recovery, path: Path, data: bytes, start: int, end: int
    ) -> None:
        if data[start:end].strip(b"\0"):
            recovery.damage.append(self._set_aside(path, data, start, end))
        else:
            recovery.zeroed.append(f"{path.name} bytes {start}-{end}: zeros where records were")

    def _set_aside(
        self, path: Path, data: bytes, start: int, end: int, *, quiet: bool = False
    ) -> str:
        """Copy damaged bytes aside and zero them in place; return what was found."""
        damaged = data[start:end]
        where = f"{path.name} bytes {start}-{end}"
        aside = path.with_name(f"{path.stem}.{start}{DAMAGED_SUFFIX}")
        try:
            aside.write_bytes(damaged)
            fd = os.open(path, os.O_RDWR)
            try:
                os.pwrite(fd, bytes(len(damaged)), start)
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_directory(self.directory)
        except OSError as error:
            logger.warning("wal: could not set damaged bytes aside in %s: %s", where, error)
            return f"{where}: damaged"
        logger.log(
            logging.DEBUG if quiet else logging.WARNING,
            "wal: damaged bytes moved aside file=%s offset=%d bytes=%d to=%s",
            path.name,
            start,
            len(damaged),
            aside.name,
        )
        return f"{where}: damaged (copied to {aside.name})"

    def skip_to(self, seq: int) -> None:
        """Continue numbering after `seq` (records the log lost but SQLite still holds).

        Records within a segment must follow each other, so the next one starts a segment.
        """
        if seq <= self.last_seq:
            return
        logger.warning("wal: numbering continues after seq=%d (log had %d)", seq, self.last_seq)
        self.last_seq = seq
        self.close()

    def _needs_rotation(self, payload_bytes: int) -> bool:
        return self._offset + HEADER.size + payload_bytes > self.segment_bytes

    def _new_segment(self, first_seq: int) -> None:
        if not self.directory.is_dir():  # deleted under us: recreate it, durably
            self.directory.mkdir(parents=True, exist_ok=True)
            fsync_directory(self.directory.parent)
        path = self.directory / f"{first_seq:020d}{SUFFIX}"
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            zeros = bytes(64 * 1024)
            for offset in range(0, self.segment_bytes, len(zeros)):
                os.pwrite(fd, zeros[: self.segment_bytes - offset], offset)
            os.fsync(fd)
            os.rename(temporary, path)
        except OSError:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise
        self.close()
        self._fd, self._path, self._offset = fd, path, 0
        self._segment_first_seq, self._segment_records = first_seq, 0
        self.base = None

    def _write_base_copy(self, data: bytes) -> None:
        """The copy of a segment's first record, durable before it is acknowledged."""
        assert self._path is not None
        copy = base_path(self._path)
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_directory(self.directory)  # also makes the segment's new name durable

    def append(self, payload: bytes, *, new_segment: bool = False) -> int:
        """Write one record and fdatasync; return its sequence number once it is durable.

        `new_segment`: start a segment with it (a record that must stand alone). Raise
        WalError when it cannot be made durable; after a failed fsync the log refuses every
        later append (the kernel may have dropped the dirty pages) until reopened.
        """
        if self._poisoned:
            raise WalSyncError(
                f"write-ahead log unusable after an earlier failure: {self._poisoned}"
            )
        seq = self.last_seq + 1
        self._check_segment_present()
        starting = new_segment or self.starts_segment(len(payload))
        if starting and (self._fd is None or self._segment_records):
            try:
                self._new_segment(seq)
            except OSError as error:
                raise WalError(f"cannot create a log segment: {error.strerror or error}") from None
        assert self._fd is not None
        data = frame(seq, payload)
        try:
            written = os.pwrite(self._fd, data, self._offset)
            if written != len(data):
                raise OSError(28, "short write")
        except OSError as error:
            # Nothing was acknowledged; put the zeros back so the next record follows cleanly.
            try:
                os.pwrite(self._fd, bytes(len(data)), self._offset)
            except OSError:
                self._poisoned = f"write failed and could not be undone: {error}"
                raise WalSyncError(f"cannot write to the log: {error.strerror or error}") from None
            raise WalError(f"cannot write to the log: {error.strerror or error}") from None
        try:
            self.fdatasync(self._fd)
            if self._segment_records == 0:
                self._write_base_copy(data)
        except OSError as error:
            self._poisoned = f"fdatasync failed: {error.strerror or error}"
            raise WalSyncError(f"cannot make the log durable: {error.strerror or error}") from None
        self._check_segment_present()  # deleted while we wrote: not durable, not acknowledged
        self._offset += len(data)
        if self._segment_records == 0:
            self.base = payload
        self._segment_records += 1
        self.last_seq = seq
        return seq

    def _check_segment_present(self) -> None:
        """Raise WalGoneError when the open segment has no name left in the file system."""
        if self._fd is None or os.fstat(self._fd).st_nlink > 0:
            return
        gone = self._path
        self.close()
        raise WalGoneError(f"the log segment {gone} was deleted while in use")

    def remove_through(self, seq: int) -> int:
        """Delete closed segments whose records all have seq <= `seq`; return how many."""
        paths = segment_paths(self.directory)
        removed = 0
        for path, following in zip(paths, paths[1:], strict=False):
            if path == self._path or int(following.stem) - 1 > seq:
                break
            path.unlink()
            base_path(path).unlink(missing_ok=True)
            removed += 1
        if removed:
            fsync_directory(self.directory)
        return removed

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._path, self._segment_records = None, None, 0

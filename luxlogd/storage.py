"""Storage as the daemon and the readers see it: the WAL for durability, SQLite for history.

`Storage.append()` returns a sequence number only once the poll is durable in the WAL (the
acknowledgement); SQLite gets it right after and catches up from the WAL after a failure
(a full disk, say). WAL segments are deleted only after SQLite's copy was checkpointed.
`Reader` sees SQLite plus whatever is still only in the WAL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from luxlogd import codec, wal
from luxlogd.codec import Poll
from luxlogd.store import DAY_MS, StorageError, Store, flat_of_series

logger = logging.getLogger(__name__)

DATABASE_NAME = "luxlogd.sqlite"
CATCH_UP_EVERY = 10
WAL_DIRECTORY = "wal"


def poll_from_snapshot(snapshot: object) -> Poll:
    """A Poll from a client Snapshot (its read time becomes the poll time)."""
    return Poll(
        int(round(getattr(snapshot, "read_at") * 1000)),  # noqa: B009 - duck-typed on purpose
        int(getattr(snapshot, "calc_status")),  # noqa: B009
        tuple(getattr(snapshot, "parameters")),  # noqa: B009
        tuple(getattr(snapshot, "calculations")),  # noqa: B009
        tuple(getattr(snapshot, "visibilities")),  # noqa: B009
    )


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


class Storage:
    """The state directory of a writer. open() recovers; append() acknowledges."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        fdatasync: Callable[[int], None] = os.fdatasync,
        segment_bytes: int = wal.SEGMENT_BYTES,
        commit_every: int = 10,
        retention_days: int = 0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.wal = wal.WriteAheadLog(self.state_dir / WAL_DIRECTORY, segment_bytes, fdatasync)
        self.commit_every = commit_every
        self.retention_days = retention_days
        self.store: Store | None = None
        self.last_poll: Poll | None = None
        self.store_behind = False
        self.appended = 0
        self._next_catch_up = 0  # while behind, retry SQLite every CATCH_UP_EVERY appends

    def open(self) -> Storage:
        """Recover the WAL, open SQLite, replay what SQLite misses. Raise StorageError/OSError."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        records = self.wal.open()
        self.store = Store(self.state_dir / DATABASE_NAME, commit_every=self.commit_every)
        replayed = 0
        for seq, poll in decode_records(records):
            if self.store.insert(seq, poll):
                replayed += 1
            self.last_poll = poll
        self.store.commit()
        self.wal.skip_to(self.store.last_seq)
        if replayed:
            logger.info("storage: replayed polls=%d from the write-ahead log", replayed)
        self.wal.recovered = []
        return self

    def append(self, poll: Poll) -> int:
        """Make `poll` durable and return its sequence number (the acknowledgement).

        Raise wal.WalError when it could not be made durable (then nothing was acknowledged).
        """
        payload = codec.encode(poll, self.last_poll)
        if not codec.is_keyframe(payload) and self.wal.starts_segment(len(payload)):
            payload = codec.encode(poll, None)
        rotating = self.wal.starts_segment(len(payload))
        seq = self.wal.append(payload)
        self.last_poll = poll
        self.appended += 1
        self._store(seq, poll)
        if rotating:
            self._release_segments()
        return seq

    def _store(self, seq: int, poll: Poll) -> None:
        assert self.store is not None
        if self.store_behind and self.appended < self._next_catch_up:
            return  # the poll stays in the WAL; catching up re-reads it later
        try:
            if self.store_behind:
                self.catch_up()
            sealed = self.store.days_sealed
            self.store.insert(seq, poll)
            if self.store_behind:
                logger.info("storage: database writable again, caught up to seq=%d", seq)
            self.store_behind = False
            if self.store.days_sealed != sealed:
                self.apply_retention(poll.ts_ms)
        except StorageError as error:
            if not self.store_behind:
                logger.warning("storage: database write failed, polls stay in the WAL: %s", error)
            self.store_behind = True
            self._next_catch_up = self.appended + CATCH_UP_EVERY

    def apply_retention(self, now_ms: int) -> int:
        """Delete sealed days older than `retention_days` (0 keeps all); return polls removed."""
        assert self.store is not None
        if self.retention_days <= 0:
            return 0
        removed = self.store.delete_before(now_ms - self.retention_days * DAY_MS)
        if removed:
            logger.info(
                "storage: retention removed polls=%d older than %d days",
                removed, self.retention_days,
            )  # fmt: skip
        return removed

    def catch_up(self) -> int:
        """Insert into SQLite every WAL record it misses; return how many."""
        assert self.store is not None
        records = wal.read_records(self.wal.directory, self.store.last_seq)
        count = 0
        for seq, poll in decode_records(records, self.store.last_seq):
            self.store.insert(seq, poll)
            count += 1
        self.store.commit()
        return count

    def _release_segments(self) -> None:
        """Delete WAL segments whose polls SQLite holds durably."""
        assert self.store is not None
        if self.store_behind:
            return
        try:
            if self.store.checkpoint():
                removed = self.wal.remove_through(self.store.last_seq)
                if removed:
                    logger.debug("wal: removed segments=%d", removed)
        except (StorageError, OSError) as error:
            logger.warning("storage: could not release WAL segments: %s", error)

    def flush(self) -> None:
        """Commit SQLite's pending inserts (the WAL already has them durably)."""
        if self.store is not None and not self.store_behind:
            try:
                self.store.commit()
            except StorageError as error:
                logger.warning("storage: commit failed, polls stay in the WAL: %s", error)
                self.store_behind = True

    def close(self) -> None:
        self.flush()
        if self.store is not None:
            self.store.close()
            self.store = None
        self.wal.close()

    def __enter__(self) -> Storage:
        return self if self.store is not None else self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Reader:
    """Read-only view of a state directory: SQLite plus polls still only in the WAL."""

    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)
        database = self.state_dir / DATABASE_NAME
        if not database.exists() and not (self.state_dir / WAL_DIRECTORY).exists():
            raise StorageError(f"{self.state_dir}: no luxlogd data here (storage.state_dir)")
        self.store = Store(database, readonly=True) if database.exists() else None

    def wal_polls(self, after_seq: int | None = None) -> list[tuple[int, Poll]]:
        """Polls only in the WAL (seq above what SQLite has, or above `after_seq`)."""
        if after_seq is None:
            after_seq = self.store.last_seq_committed() if self.store is not None else 0
        records = wal.read_records(self.state_dir / WAL_DIRECTORY, after_seq)
        return list(decode_records(records, after_seq))

    def polls(
        self, start_ms: int, end_ms: int, series: Sequence[int]
    ) -> Iterator[tuple[int, int, list[int | None]]]:
        """(ts_ms, calc_status, values) in [start_ms, end_ms), each poll once.

        One read transaction pins SQLite's snapshot; a writer's checkpoint cannot finish
        under it, so the WAL segments holding newer polls are still there when read.
        """
        after_seq = 0
        if self.store is not None:
            self.store.db.execute("BEGIN")
        try:
            if self.store is not None:
                after_seq = self.store.last_seq_committed()
                yield from self.store.polls(start_ms, end_ms, series)
            for _, poll in self.wal_polls(after_seq):
                if start_ms <= poll.ts_ms < end_ms:
                    values = poll.flat()
                    positions = [flat_of_series(poll.lengths, s) for s in series]
                    yield (
                        poll.ts_ms,
                        poll.calc_status,
                        [values[p] if p is not None else None for p in positions],
                    )
        finally:
            if self.store is not None and self.store.db.in_transaction:
                self.store.db.execute("COMMIT")

    def latest_lengths(self) -> dict[str, int]:
        """Array lengths of the newest poll (to resolve sensor patterns), or {}."""
        polls = self.wal_polls()
        if polls:
            lengths = polls[-1][1].lengths
        elif self.store is not None:
            row = self.store.db.execute(
                "SELECT lengths FROM chunks ORDER BY start_ms DESC LIMIT 1"
            ).fetchone()
            hot = self.store.db.execute("SELECT data FROM hot ORDER BY seq LIMIT 1").fetchone()
            if hot is not None:
                lengths = codec.decode(hot[0], None).lengths
            elif row is not None:
                lengths = tuple(int(x) for x in row[0].split(","))  # type: ignore[assignment]
            else:
                return {}
        else:
            return {}
        return dict(zip(("parameters", "calculations", "visibilities"), lengths, strict=True))

    def close(self) -> None:
        if self.store is not None:
            self.store.db.close()

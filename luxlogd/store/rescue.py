"""Rescue what is readable from a damaged database file into a new one.

Sealed days are copied with every series block that can still be read back; a block that
cannot is recorded as lost (readers give None there, never a wrong value). The hot day is
copied in order up to its first unreadable poll. The write-ahead log adds the rest.
"""

from __future__ import annotations

import logging
import sqlite3
import zlib
from pathlib import Path

from luxlogd.heatpump.poll import Poll
from luxlogd.store import chunks, codec
from luxlogd.store.database import Database
from luxlogd.store.schema import CHUNK_COLUMNS, connect

logger = logging.getLogger("luxlogd.rescue")  # its name in the journal (README)


def rescue(damaged: Path, into: Database) -> tuple[int, int]:
    """Copy what can still be read from a damaged database file; return (days, polls).

    A sealed day is kept when its chunk row is readable; each of its series blocks that
    cannot be read back is recorded as lost (readers give None there, never a wrong value).
    The hot day's polls are kept in order up to the first unreadable one. The write-ahead
    log adds what it still holds afterwards.
    """
    days = polls = blocks_lost = 0
    try:
        source = connect(damaged, readonly=True)
    except sqlite3.Error as error:
        logger.warning("database: nothing readable in %s: %s", damaged, error)
        return 0, 0
    try:
        for chunk_id in _readable_ids(source, damaged):
            try:
                row = source.execute(
                    f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id = ?",  # noqa: S608 - a constant
                    (chunk_id,),
                ).fetchone()
                chunks.unpack(row[6], "i")  # the base values must decompress
                times = chunks.times_of(row[7])
                suspect = _clock_suspect(source, chunk_id)
                keys = _series_keys(source, chunk_id)
            except (sqlite3.Error, ValueError, TypeError) as error:  # zlib.error is a ValueError
                logger.warning("database: sealed day %d of %s lost: %s", chunk_id, damaged, error)
                continue
            blocks, lost = _read_blocks(source, chunk_id, keys)
            first_seq, last_seq, start, end, count, lengths, base, times_blob, statuses, slots = row
            sealed = chunks.SealedChunk(
                first_seq,
                last_seq,
                start,
                end,
                count,
                chunks.parse_lengths(lengths),
                base,
                times_blob,
                statuses,
                slots,
                blocks,
                min(times),
                max(times),
                suspect,
            )
            into.insert_chunk(sealed, lost)
            days += 1
            polls += count
            blocks_lost += len(lost)
        try:
            previous: Poll | None = None
            for seq, data in source.execute("SELECT seq, data FROM hot ORDER BY seq"):
                previous = codec.decode(data, previous)
                if into.insert(seq, previous):
                    polls += 1
        except (sqlite3.Error, codec.CodecError) as error:
            logger.warning("database: the rest of the hot day in %s is lost: %s", damaged, error)
        into.commit()
    finally:
        source.close()
    if blocks_lost:
        logger.warning(
            "database: %d series blocks of sealed days could not be read back; "
            "those values read as missing",
            blocks_lost,
        )
    return days, polls


def _readable_ids(source: sqlite3.Connection, damaged: Path) -> list[int]:
    """Chunk ids, as far as the table can be walked (then probed one by one)."""
    ids: list[int] = []
    try:
        for row in source.execute("SELECT id FROM chunks ORDER BY id"):
            ids.append(row[0])
        return ids
    except sqlite3.Error as error:
        logger.warning("database: the sealed days of %s cannot all be listed: %s", damaged, error)
    misses, probe = 0, (ids[-1] if ids else 0) + 1
    while misses < 100:  # ids are dense; past a damaged page the rest are found one by one
        try:
            found = source.execute("SELECT id FROM chunks WHERE id = ?", (probe,)).fetchone()
        except sqlite3.Error:
            found = None
        misses = 0 if found else misses + 1
        if found:
            ids.append(probe)
        probe += 1
    return ids


def _clock_suspect(source: sqlite3.Connection, chunk_id: int) -> bool:
    """Whether a sealed day was stamped by a distrusted clock (no such column before
    schema 3: it was not)."""
    try:
        row = source.execute("SELECT clock_suspect FROM chunks WHERE id = ?", (chunk_id,))
        found = row.fetchone()
    except sqlite3.OperationalError:
        return False
    return bool(found and found[0])


def _series_keys(source: sqlite3.Connection, chunk_id: int) -> list[int]:
    query = "SELECT series FROM series {} WHERE chunk = ?"
    try:
        return [row[0] for row in source.execute(query.format(""), (chunk_id,))]
    except sqlite3.Error:  # the index is damaged: walk the table itself
        return [row[0] for row in source.execute(query.format("NOT INDEXED"), (chunk_id,))]


def _read_blocks(
    source: sqlite3.Connection, chunk_id: int, keys: list[int]
) -> tuple[list[tuple[int, bytes, bytes]], list[int]]:
    """The readable (series, points, hourly) blocks of a chunk, and the series lost."""
    blocks, lost = [], []
    for series in keys:
        try:
            points, hourly = source.execute(
                "SELECT points, hourly FROM series WHERE series = ? AND chunk = ?",
                (series, chunk_id),
            ).fetchone()
            zlib.decompress(points)
            zlib.decompress(hourly)
        except (sqlite3.Error, zlib.error, TypeError):
            lost.append(series)
            continue
        blocks.append((series, points, hourly))
    return blocks, lost

"""The SQLite file itself: its schema and migrations (PRAGMA user_version), connecting to
it, and what its errors mean (a damaged file, or a passing or permission problem).

- `hot`: one row per poll of the current UTC day (a delta record, ~100 bytes).
- `chunks` and `series`: sealed days (see chunks.py for what the blobs hold).
- `lost`: blocks a rebuild could not read back from a damaged file.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from luxlogd.base.errors import StorageError
from luxlogd.store import chunks

SCHEMA_VERSION = 3
# sqlite3 primary result codes (Python 3.11 exposes them as error.sqlite_errorcode).
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26

MIGRATIONS: dict[int, list[str | Callable[[sqlite3.Connection], None]]] = {
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
    # Blocks a rebuild could not read back from a damaged file: their values are unknown.
    2: [
        """CREATE TABLE lost (
            chunk INTEGER NOT NULL,
            series INTEGER NOT NULL,
            PRIMARY KEY (chunk, series)
        ) WITHOUT ROWID""",
    ],
    # A clock that stepped back leaves a day's first and last poll unlike its earliest and
    # latest: reads select sealed days by these. Days stamped by a distrusted clock are kept
    # apart (clock_suspect = 1).
    3: [
        "ALTER TABLE chunks ADD COLUMN min_ms INTEGER",
        "ALTER TABLE chunks ADD COLUMN max_ms INTEGER",
        "ALTER TABLE chunks ADD COLUMN clock_suspect INTEGER NOT NULL DEFAULT 0",
        lambda db: _fill_time_bounds(db),
        "CREATE INDEX chunks_by_latest ON chunks (max_ms)",
    ],
}
CHUNK_COLUMNS = (
    "first_seq, last_seq, start_ms, end_ms, count, lengths, base, times, statuses, slot_counts"
)


def _fill_time_bounds(db: sqlite3.Connection) -> None:
    """Migration 3: the earliest and latest poll time of every sealed day, from its times."""
    rows = db.execute("SELECT id, times FROM chunks").fetchall()
    for chunk, times_blob in rows:
        times = chunks.times_of(times_blob)
        db.execute(
            "UPDATE chunks SET min_ms = ?, max_ms = ? WHERE id = ?", (min(times), max(times), chunk)
        )


class DatabaseDamagedError(StorageError):
    """SQLite says the file is damaged (a torn page after a power cut, say)."""


def is_damage(error: sqlite3.Error) -> bool:
    """True when SQLite reports a damaged file, not a passing or permission problem."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return True
    text = str(error)
    return "malformed" in text or "not a database" in text


def storage_error(path: Path, doing: str, error: sqlite3.Error) -> StorageError:
    kind = DatabaseDamagedError if is_damage(error) else StorageError
    return kind(f"{path}: {doing}: {error}")


def connect(path: Path, readonly: bool) -> sqlite3.Connection:
    """A connection in autocommit mode; read-only ones through a properly quoted URI."""
    if readonly:
        # Quoted: a '#' or '?' in the path would otherwise end the file name.
        uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    else:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 10000")
    return db

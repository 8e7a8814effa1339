"""The ledger of what luxlogd wrote (`reports-written.jsonl`: each report's path, size and
hash) and the lock every writer of reports takes. Only what the ledger names, byte for byte
as written, is ever shed under disk pressure."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from luxlogd.base.files import atomic_file
from luxlogd.config import Config
from luxlogd.store.lock import FileLock
from luxlogd.store.paths import LEDGER_FILE, REPORTS_LOCK
from luxlogd.store.writer import prepare_state_dir

logger = logging.getLogger("luxlogd.housekeeping")  # its name in the journal (README)

REPORT_NAME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})_(now_)?(daily|weekly|summary)\.(csv|json|dta)(\.gz)?$"
)


def report_date(name: str) -> dt.date | None:
    """The date of a file named like a report of luxlogd's, else None (1999-13-45 too)."""
    match = REPORT_NAME.match(name)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def reports_lock(config: Config) -> FileLock:
    """The lock every writer of reports holds (roll-up, cleanup, the daemon's shedding)."""
    prepare_state_dir(config.state_dir)
    return FileLock(config.state_dir / REPORTS_LOCK, "writing or deleting reports")


class Ledger:
    """`<state_dir>/reports-written.jsonl`: one line per report file luxlogd published.

    A line records the file's identity (device, inode, size, modification time), so a file
    that someone replaced or edited since is no longer "ours". Appends are fsynced; a torn
    last line is ignored.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LEDGER_FILE

    @staticmethod
    def _identity(path: Path) -> dict[str, Any] | None:
        try:
            found = path.stat()
        except OSError:
            return None
        return {
            "dev": found.st_dev,
            "ino": found.st_ino,
            "size": found.st_size,
            "mtime_ns": found.st_mtime_ns,
        }

    def record(self, paths: list[Path]) -> None:
        lines = []
        for path in paths:
            identity = self._identity(path)
            if identity is not None:
                lines.append(json.dumps({"path": str(path.resolve()), **identity}) + "\n")
        if not lines:
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, "".join(lines).encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> dict[str, dict[str, Any]]:
        """path -> identity, the newest line for each path."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {}
        found: dict[str, dict[str, Any]] = {}
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                found[str(entry.pop("path"))] = entry
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return found

    def ours(self) -> list[Path]:
        """The recorded files that still exist exactly as luxlogd wrote them."""
        return [
            Path(path)
            for path, identity in self.entries().items()
            if self._identity(Path(path)) == identity
        ]

    def prune(self) -> None:
        """Forget files that are gone or changed (rewrites the ledger)."""
        kept = [
            json.dumps({"path": str(p), **(self._identity(p) or {})}) + "\n" for p in self.ours()
        ]
        if self.path.exists():
            with atomic_file(self.path) as handle:
                handle.writelines(kept)

"""Exclusive locks on what a process writes: flock(2) on a lock file that names its holder.

The daemon (and the demo) hold `<state_dir>/luxlogd.lock` while they write the write-ahead log
and the database; roll-ups and cleanups hold `<state_dir>/reports.lock` while they write
reports. Readers take no lock. The kernel drops a flock when its holder dies, kill -9
included, so a stale lock file never blocks a restart.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

from luxlogd.base.errors import LockedError, state_dir_error


class FileLock:
    """An exclusive flock on `path`; `what` says in messages what the holder is doing."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def acquire(self, wait_s: float = 0.0, *, poll_s: float = 0.1) -> FileLock:
        """Take the lock, waiting up to `wait_s`; raise LockedError naming the holder's PID."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as error:
            if error.errno != errno.EROFS or not self.path.exists():
                raise state_dir_error(
                    f"{self.path.parent}: cannot create {self.path.name} ({error.strerror}); "
                    "the directory must be writable by the user luxlogd runs as",
                    error,
                ) from None
            # A file system that turned read-only: the lock still excludes other writers.
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        give_up = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                if time.monotonic() >= give_up:
                    holder = self.holder()
                    os.close(fd)
                    raise LockedError(
                        f"{self.path.parent} is in use: {holder or 'another process'} is "
                        f"{self.what}; only one may at a time"
                    ) from None
                time.sleep(poll_s)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the holder's pid is only for messages
        self._fd = fd
        return self

    def holder(self) -> str | None:
        """'pid N' of the process that holds (or last held) the lock, if it wrote it."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return text if text.startswith("pid ") else None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays for the next holder
            self._fd = None

    def __enter__(self) -> FileLock:
        return self if self.held else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

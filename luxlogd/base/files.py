"""Durable files, the one way luxlogd writes them: a temporary name of its own, fsync, rename,
fsync the directory (ALICE, OSDI 2014). A crash leaves the old file or the new one, never a
part; two writers never share a temporary name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")


def fsync_directory(path: Path) -> None:
    """Make a rename or a new file in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_name(path: Path) -> Path:
    """A hidden name beside `path`, unique to this process and call."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "w", *, durable: bool = True) -> Iterator[IO[Any]]:
    """Yield a handle on a temporary file that replaces `path` when the block ends cleanly.

    `durable=False` skips the fsyncs: readers still never see a partial file, but a power
    cut may leave the old one (for files rewritten every minute, like status.json).
    """
    path = Path(path)
    temporary = temporary_name(path)
    try:
        if "b" in mode:
            handle: IO[Any] = open(temporary, mode)  # noqa: SIM115 - closed below
        else:
            handle = open(temporary, mode, encoding="utf-8", newline="")  # noqa: SIM115
        with handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        fsync_directory(path.parent)


def write_atomically(path: Path, data: str | bytes, *, durable: bool = True) -> None:
    """Replace `path` with `data` (durably, unless told otherwise)."""
    with atomic_file(path, "wb" if isinstance(data, bytes) else "w", durable=durable) as handle:
        handle.write(data)


def write_file_atomically(path: Path, write: Callable[[IO[str]], T]) -> T:
    """Call write(handle) on a temporary text file, then replace `path` with it, durably."""
    with atomic_file(path) as handle:
        return write(handle)

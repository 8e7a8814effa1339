"""Logging: journald priority prefixes or a terminal format, repeat collapsing, a ring buffer.

Records go through a bounded queue to a writer thread, so a stalled stderr (journald busy, a
full pipe) never blocks the poll loop; when the queue is full a record is dropped and counted.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

TERMINAL_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DEDUP_WINDOW_S = 600.0
RING_SIZE = 500
QUEUE_SIZE = 10_000
MAX_MESSAGE_CHARS = 2_000  # a record longer than this is cut (a client's 60 KB path, say)

# syslog priorities (sd-daemon.h): what journald reads from a "<N>" line prefix.
SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def journald_priority(levelno: int) -> int:
    """Return the syslog priority for a logging level."""
    for level in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= level:
            return SYSLOG_PRIORITY[level]
    return SYSLOG_PRIORITY[logging.DEBUG]


def stream_is_journal(stream: IO[str], environ: dict[str, str] | None = None) -> bool:
    """Return True when `stream` is the journald stream named by $JOURNAL_STREAM (dev:inode)."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in value.split(":"))
        status = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (status.st_dev, status.st_ino) == (device, inode)


class JournaldFormatter(logging.Formatter):
    """`<N>name: message`, every line of a multi-line record prefixed, no timestamp."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        prefix = f"<{journald_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in text.splitlines() or [""])


# `extra=LIFECYCLE` marks a line that is never collapsed with its repeats: starts, stops,
# reloads, Home Assistant restarts. Each is an event of its own, however alike.
LIFECYCLE = {"lifecycle": True}


class DedupFilter(logging.Filter):
    """Collapse identical messages repeated within `window_s` into one line plus a count.

    The first occurrence passes; repeats inside the window are held back and counted; the next
    occurrence after the window passes with "(repeated N times in the last S s)" appended.
    `flush()` emits a summary line for counts still held back (call it at shutdown).
    """

    def __init__(
        self, window_s: float = DEDUP_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[tuple[str, int, str], list[Any]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "dedup_summary", False) or getattr(record, "lifecycle", False):
            return True
        verdict = getattr(record, "_luxlogd_dedup", None)
        if verdict is not None:  # the same record reaching the next handler
            return bool(verdict)
        verdict = self._decide(record)
        record._luxlogd_dedup = verdict
        return verdict

    def _decide(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        now = self.clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self.window_s:
                entry[1] += 1
                return False
            if entry is not None and entry[1]:
                elapsed_s = now - entry[0]
                count = entry[1]
                record.msg = (
                    f"{record.getMessage()} (repeated {count} times in the last {elapsed_s:.0f} s)"
                )
                record.args = None
            self._seen[key] = [now, 0]
            if len(self._seen) > 1000:
                oldest = sorted(self._seen.items(), key=lambda item: item[1][0])[:500]
                for stale_key, _ in oldest:
                    del self._seen[stale_key]
        return True

    def flush(self, logger: logging.Logger) -> None:
        """Log one summary line per message whose repeats are still held back."""
        with self._lock:
            pending = [(k, v[1]) for k, v in self._seen.items() if v[1]]
            for key, _ in pending:
                self._seen[key][1] = 0
        for (name, levelno, message), count in pending:
            logging.getLogger(name).log(
                levelno,
                "%s (repeated %d more times)",
                message,
                count,
                extra={"dedup_summary": True},
            )


class TruncateFilter(logging.Filter):
    """Cut messages longer than MAX_MESSAGE_CHARS, so neither the journal nor memory fills up
    with what a client sent."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > MAX_MESSAGE_CHARS:
            record.msg = (
                f"{message[:MAX_MESSAGE_CHARS]}... "
                f"({len(message) - MAX_MESSAGE_CHARS} more characters)"
            )
            record.args = None
        return True


class RingBufferHandler(logging.Handler):
    """Keep the last `capacity` records as small dicts for `status` and the web UI."""

    def __init__(self, capacity: int = RING_SIZE) -> None:
        super().__init__()
        self.records: collections.deque[dict[str, Any]] = collections.deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(
            {
                "time": record.created,
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
        )

    def snapshot(self, min_level: int = logging.NOTSET) -> list[dict[str, Any]]:
        """Return a copy of the buffered records at or above `min_level`."""
        threshold = logging.getLevelName(min_level).lower() if min_level else None
        records = list(self.records)
        if threshold is None:
            return records
        return [r for r in records if logging.getLevelName(r["level"].upper()) >= min_level]


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """A QueueHandler that drops (and counts) records when the queue is full."""

    def __init__(self, target: queue.Queue[Any]) -> None:
        super().__init__(target)
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


class LogSetup:
    """What configure_logging() installed; `close()` drains the queue and restores."""

    def __init__(
        self,
        listener: logging.handlers.QueueListener,
        handlers: list[logging.Handler],
        ring: RingBufferHandler,
        dedup: DedupFilter,
        queue_handler: DroppingQueueHandler,
    ) -> None:
        self.listener = listener
        self.handlers = handlers
        self.ring = ring
        self.dedup = dedup
        self.queue_handler = queue_handler
        self.closed = False

    def close(self) -> None:
        """Flush held-back repeats, drain the queue, remove the handlers. Idempotent."""
        global _current
        if self.closed:
            return
        self.closed = True
        self.dedup.flush(logging.getLogger("luxlogd"))
        self.listener.stop()
        root = logging.getLogger()
        for handler in self.handlers:
            root.removeHandler(handler)
        if _current is self:
            _current = None


_current: LogSetup | None = None


def flush(timeout_s: float = 2.0) -> None:
    """Wait (a little) until the records queued so far are written: before the process ends
    by os._exit, which no logging shutdown follows."""
    setup = _current
    if setup is None:
        return
    deadline = time.monotonic() + timeout_s
    while not setup.listener.queue.empty() and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    time.sleep(0.05)  # the record taken last is being written
    for handler in setup.listener.handlers:
        with contextlib.suppress(Exception):
            handler.flush()


def ring_buffer() -> RingBufferHandler | None:
    """Return the ring buffer of the active logging setup, if any."""
    return _current.ring if _current else None


def configure_logging(
    level: str = "info",
    stream: IO[str] | None = None,
    environ: dict[str, str] | None = None,
    dedup_window_s: float = DEDUP_WINDOW_S,
) -> LogSetup:
    """Install luxlogd's logging on the root logger and return the setup (close() it at exit)."""
    global _current
    if _current is not None:
        _current.close()
    stream = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(stream)
    if stream_is_journal(stream, environ):
        handler.setFormatter(JournaldFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter(TERMINAL_FORMAT))
    records: queue.Queue[Any] = queue.Queue(QUEUE_SIZE)
    listener = logging.handlers.QueueListener(records, handler, respect_handler_level=False)
    queue_handler = DroppingQueueHandler(records)
    dedup = DedupFilter(dedup_window_s)
    truncate = TruncateFilter()
    queue_handler.addFilter(truncate)
    queue_handler.addFilter(dedup)
    ring = RingBufferHandler()
    ring.addFilter(truncate)
    ring.addFilter(dedup)
    root = logging.getLogger()
    root.setLevel(level.upper())
    # Both handlers share one DedupFilter; it stores its verdict on the record.
    root.addHandler(queue_handler)
    root.addHandler(ring)
    listener.start()
    _current = LogSetup(listener, [queue_handler, ring], ring, dedup, queue_handler)
    return _current

"""Proof that the main loop works: systemd's watchdog pings, the heartbeat file Docker's
HEALTHCHECK reads, and without a watchdog the stall monitor that exits a hung daemon."""

from __future__ import annotations

import faulthandler
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from luxlogd.health import logs
from luxlogd.health.status import StatusFiles

logger = logging.getLogger("luxlogd.health")  # its name in the journal (README)

STALL_LIMIT_MIN_S = 120.0


HEARTBEAT_EVERY_S = 30.0  # without a systemd watchdog (Docker): the HEALTHCHECK reads it


class Notify(Protocol):
    """What sends systemd a message (the Notifier, or a test's socket)."""

    def notify(self, message: str) -> None: ...


class Notifier:
    """sd_notify through the sdnotify package; ASCII only (it encodes latin-1 and drops
    a datagram it cannot encode, a WATCHDOG=1 in it too)."""

    def __init__(self) -> None:
        import sdnotify

        self._notifier = sdnotify.SystemdNotifier()

    def notify(self, message: str) -> None:
        self._notifier.notify(message.encode("ascii", "replace").decode("ascii"))


def watchdog_interval_s(environ: Mapping[str, str]) -> float | None:
    """Half of WATCHDOG_USEC when the watchdog is meant for this process, else None."""
    usec = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        return max(0.05, int(usec) / 2e6)
    except ValueError:
        return None


def stall_limit_s(interval_s: float, environ: Mapping[str, str]) -> float | None:
    """How long the main loop may make no progress before the daemon exits by itself.

    None under a systemd watchdog (systemd kills and restarts us). Otherwise (Docker, a
    plain shell) four intervals, at least 2 min: a poll is bounded by its timeout, so that
    is a real hang.
    """
    if watchdog_interval_s(environ):
        return None
    return max(STALL_LIMIT_MIN_S, 4 * interval_s)


class Liveness:
    """Proof that the main loop works: WATCHDOG=1 pings (under systemd), the heartbeat file
    (Docker's HEALTHCHECK) and the stall monitor (without a watchdog). Only the main loop
    calls it, so a hung loop stops all three.
    """

    def __init__(
        self,
        notifier: Notify,
        watchdog_s: float | None,
        files: StatusFiles,
        monitor: StallMonitor | None,
        clock: Callable[[], float],
    ) -> None:
        self.notifier = notifier
        self.watchdog_s = watchdog_s
        self.files = files
        self.monitor = monitor
        self.clock = clock
        self.interval_s = watchdog_s or HEARTBEAT_EVERY_S
        self._last_ping = float("-inf")
        self._progressed = True

    @classmethod
    def from_environ(
        cls,
        notifier: Notify,
        environ: Mapping[str, str],
        state_dir: Path,
        monitor: StallMonitor | None,
        clock: Callable[[], float],
    ) -> Liveness:
        """Status files on $RUNTIME_DIRECTORY (a tmpfs) when systemd gives one, else in the
        state directory; the watchdog when it is meant for this process."""
        runtime = environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
        files = StatusFiles(Path(runtime) if runtime else state_dir, bool(runtime), clock)
        return cls(notifier, watchdog_interval_s(environ), files, monitor, clock)

    def read_budget_cap_s(self) -> float | None:
        """The longest read the watchdog tolerates: a ping precedes every read by at most
        watchdog_s / 2 (WatchdogSec / 4), and a margin."""
        if not self.watchdog_s:
            return None
        return 1.5 * self.watchdog_s - min(5.0, 0.2 * self.watchdog_s)

    def _ping(self) -> None:
        self.notifier.notify("WATCHDOG=1")
        self._last_ping = self.clock()

    def before_read(self) -> None:
        """The loop is alive and about to read: a fresh ping gives the read the whole budget."""
        if self.watchdog_s and self.clock() - self._last_ping > self.watchdog_s / 2:
            self._ping()

    def progress(self) -> None:
        """A poll finished (stored or not)."""
        self._progressed = True
        if self.monitor is not None:
            self.monitor.progress()
        self.files.touch_heartbeat()

    def beat(self, last_poll_duration_s: float) -> None:
        """The periodic job: ping and touch only when the loop made progress since."""
        if self._progressed or last_poll_duration_s < self.interval_s * 2:
            if self.watchdog_s:
                self._ping()
            self._progressed = False
            if self.monitor is not None:
                self.monitor.progress()
            self.files.touch_heartbeat()


def _exit_stalled() -> None:  # pragma: no cover - ends the process; tests pass their own
    os._exit(1)


class StallMonitor:
    """Without a systemd watchdog: exit 1 when the main loop stops making progress.

    A pause of the whole process (SIGSTOP, `docker pause`, a VM snapshot, a frozen cgroup) is
    not a stall: the monitor sees its own sleep overshoot and gives the loop a fresh deadline.
    """

    def __init__(
        self,
        limit_s: float,
        on_stall: Callable[[], None] = _exit_stalled,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit_s = limit_s
        self.on_stall = on_stall
        self.clock = clock  # real time, whatever clock drives the loop
        self._progress = clock()
        self._stopped = threading.Event()
        self.pauses = 0

    def progress(self) -> None:
        self._progress = self.clock()

    def start(self) -> None:
        threading.Thread(target=self._watch, name="stall-monitor", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def check_s(self) -> float:
        return min(5.0, self.limit_s / 4)

    def _watch(self) -> None:
        check = self.check_s()
        before: float | None = self.clock()
        while before is not None and not self._stopped.wait(check):
            before = self.look(before, check)

    def look(self, before: float, check: float) -> float | None:
        """One look after sleeping `check` s since `before`; None once it gave up on the loop."""
        now = self.clock()
        if now - before > check + max(5.0, check):  # our own sleep overshot: we were paused
            self.pauses += 1
            logger.info(
                "resumed after a pause of %.0f s (stopped or frozen); the loop gets a "
                "fresh deadline",
                now - before - check,
            )
            self._progress = now
            return now
        idle = now - self._progress
        if idle <= self.limit_s:
            return now
        logger.critical(
            "no progress for %.0f s (limit %.0f s); exiting so the service is restarted. "
            "Where each thread was:",
            idle,
            self.limit_s,
        )

        logs.flush()  # the reason first, before the dump
        try:
            faulthandler.dump_traceback(2, all_threads=True)
        except (OSError, ValueError):
            pass
        self.on_stall()
        return None

"""Health: the daemon's counters and status text, the one health rule, the status and heartbeat
files, and the stall monitor. Used by the daemon, `luxlogd status` and `/healthz`. Small
parts that must agree on one rule of health, hence together and a little over 400 lines.
"""

from __future__ import annotations

import datetime as dt
import faulthandler
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from luxlogd.base.files import write_atomically
from luxlogd.health import events

logger = logging.getLogger("luxlogd.health")  # its name in the journal (README)

STATUS_FILE = "status.json"
HEARTBEAT_FILE = "heartbeat"
# A tmpfs on every Linux: the status goes there while the state directory fails. Written by
# rename (a planted symlink is replaced, not followed); read only when owned by the state
# directory's owner or root.
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108
STATUS_EVERY_S = 60.0  # on persistent storage; every poll when it lives on a tmpfs (/run)
HEARTBEAT_EVERY_S = 30.0  # without a systemd watchdog (Docker): the HEALTHCHECK reads it
STALL_LIMIT_MIN_S = 120.0
RUNTIME_STATUS_DIR = Path("/run/luxlogd")
# Upper bounds of the poll duration histogram (seconds).
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def clock_text(epoch_s: float | None) -> str:
    """Local time to the second, or 'never'."""
    if epoch_s is None:
        return "never"
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def stale_after_s(interval_s: float) -> float:
    """How long without a stored poll before the daemon counts as unhealthy."""
    return max(3 * interval_s, 300.0)


def problems(
    status: Mapping[str, Any] | None, *, now: float, interval_s: float, running: bool = True
) -> list[str]:
    """The one health rule: what is wrong with a daemon whose status is `status` ([] = fine)."""
    if status is None:
        return ["the daemon has not run"]
    found = []
    if not running:
        found.append("the daemon is not running")
    elif now - (status.get("updated") or now) > stale_after_s(interval_s):
        found.append(
            f"the daemon has not updated its status since "
            f"{clock_text(status.get('updated'))} (stuck, or nowhere to write "
            "it)"
        )
    last = status.get("last_success")
    if last is None or now - last > stale_after_s(interval_s):
        found.append(f"no poll stored since {clock_text(last)}")
    if not status.get("storage_ok", True):
        found.append(f"storage failing: {status.get('storage_problem') or 'unknown'}")
    if status.get("clock_suspect"):
        found.append(f"{status['clock_suspect']}: polls are kept apart")
    for loss in status.get("losses_recent") or []:
        found.append(f"stored data was damaged in the last day: {loss}")
    for problem in status.get("outputs") or []:
        found.append(problem)
    return found


@dataclass
class Counters:
    """What the daemon counts since it started; the source of STATUS=, status.json and metrics."""

    polls_ok: int = 0
    polls_failed: int = 0
    polls_late: int = 0
    polls_slow: int = 0
    slots_skipped: int = 0
    failed_in_row: int = 0
    last_poll: float | None = None  # wall clock of the last attempt
    last_success: float | None = None
    last_poll_duration_s: float = 0.0
    down_since: float | None = None
    slow_since: float | None = None
    slow_announced: bool = False
    last_error: str | None = None
    durations: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum_s: float = 0.0
    storing_failed: bool = False
    events: Any = field(default=None, repr=False)  # events.Events: the diary doctor reads

    def _record(self, event: str, error: Exception | None = None) -> None:
        if self.events is not None:
            self.events.record(event, **({"error": str(error)[:300]} if error else {}))

    @property
    def reachable(self) -> bool:
        return self.down_since is None

    def observe_duration(self, seconds: float) -> None:
        self.last_poll_duration_s = seconds
        self.duration_sum_s += seconds
        for position, bound in enumerate(DURATION_BUCKETS):
            if seconds <= bound:
                self.durations[position] += 1
                return
        self.durations[-1] += 1

    def succeeded(self, now: float, host: str) -> None:
        """A poll was read and stored."""
        self.reached(now, host)
        self.stored(now)

    def reached(self, now: float, host: str) -> None:
        """A poll was read; say so once when the heat pump was down."""
        self.last_poll = now
        if self.down_since is not None:
            logger.info(
                "heat pump reachable again host=%s after %d failed polls (down since %s)",
                host,
                self.failed_in_row,
                clock_text(self.down_since),
            )
            self.down_since = None
            self._record(events.REACHABLE)
        self.failed_in_row = 0

    def stored(self, now: float) -> None:
        """A poll was made durable (acknowledged)."""
        self.polls_ok += 1
        self.last_success = now
        if self.storing_failed:
            self.storing_failed = False
            self._record(events.STORED)

    def failed(self, error: Exception, now: float) -> None:
        """A poll failed: the first failure of a run is a warning, repeats are debug."""
        self.polls_failed += 1
        self.failed_in_row += 1
        self.last_poll = now
        self.last_error = str(error)
        if self.down_since is None:
            self.down_since = now
            logger.warning("heat pump unreachable, polling goes on: %s", error)
            self._record(events.UNREACHABLE, error)
        else:
            logger.debug("heat pump still unreachable: %s", error)

    def not_stored(self, problem: str) -> None:
        """A poll was read but cannot be made durable now (it waits in memory; the ERROR was
        logged where storage failed)."""
        self.last_error = problem
        if not self.storing_failed:
            self.storing_failed = True
            self._record(events.NOT_STORED, Exception(problem))

    def late(self, seconds: float, interval_s: float) -> None:
        """A poll starts `seconds` after its slot (more than a second or 10 %: late)."""
        if seconds > max(1.0, 0.1 * interval_s):
            self.polls_late += 1
            logger.warning("poll late by %.1f s", seconds)

    def timed(self, read_s: float, interval_s: float, now: float) -> None:
        """Note how long a successful read took (longer than the interval: slow)."""
        if read_s > interval_s:
            self.polls_slow += 1
            if self.slow_since is None:
                self.slow_since = now
                self.slow_announced = False
        elif self.slow_since is not None:
            logger.info("heat pump answers within the interval again (%.1f s)", read_s)
            self.slow_since = None

    def skipped(self, missed: int, interval_s: float) -> None:
        """Poll slots passed while the last poll ran: counted, and said (a slow controller
        once as a warning, then quietly until it is quick again)."""
        self.slots_skipped += missed
        self.polls_late += 1
        took = self.last_poll_duration_s
        if self.slow_since is None:
            logger.warning(
                "poll overran its slot, skipped_polls=%d (the last poll took %.1f s, "
                "interval_s=%g)",
                missed,
                took,
                interval_s,
            )
            return
        level = logging.DEBUG if self.slow_announced else logging.WARNING
        self.slow_announced = True
        logger.log(
            level,
            "heat pump slow: the read took %.1f s, longer than poll.interval_s=%g;"
            " skipped_polls=%d (counted in status and /metrics)",
            took,
            interval_s,
            missed,
        )

    def status_text(self, stored: int) -> str:
        """One ASCII line for systemd's STATUS= (and `systemctl status`)."""
        if self.down_since is not None:
            return (
                f"heat pump unreachable since {clock_text(self.down_since)}, "
                f"{self.failed_in_row} polls failed; {stored} polls stored"
            )
        last = clock_text(self.last_success) if self.last_success else "none yet"
        slow = ", heat pump slow" if self.slow_since is not None else ""
        return f"last poll {last}, {stored} polls stored, heat pump reachable{slow}"

    def as_dict(self) -> dict[str, Any]:
        data = {one.name: getattr(self, one.name) for one in fields(self) if one.name != "events"}
        data["durations"] = list(self.durations)
        data["reachable"] = self.reachable
        return data


class Notifier:
    """sd_notify through the sdnotify package; ASCII only (it encodes latin-1 and drops
    a datagram it cannot encode, a WATCHDOG=1 in it too)."""

    def __init__(self) -> None:
        import sdnotify

        self._notifier = sdnotify.SystemdNotifier()

    def notify(self, message: str) -> None:
        self._notifier.notify(message.encode("ascii", "replace").decode("ascii"))


class StatusFiles:
    """status.json for `luxlogd status` and the heartbeat Docker's HEALTHCHECK reads.

    On a tmpfs ($RUNTIME_DIRECTORY) both are written every time; on persistent storage at most
    once a minute, for the SD card's sake.
    """

    def __init__(self, directory: Path, on_tmpfs: bool, clock: Callable[[], float]) -> None:
        self.directory = directory
        self.every_s = 0.0 if on_tmpfs else STATUS_EVERY_S
        self.clock = clock
        self._last_status = float("-inf")
        self._last_heartbeat = float("-inf")
        self._directory_made = False
        self._fallback_used = False

    def _make_directory(self) -> None:
        if not self._directory_made:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._directory_made = True

    def write_status(self, status: Mapping[str, Any], force: bool = False) -> None:
        now = self.clock()
        every_s = 0.0 if self._fallback_used else self.every_s  # shared memory: no wear
        if not force and now - self._last_status < every_s:
            return
        self._last_status = now
        text = json.dumps(status, default=str)
        try:
            self._make_directory()
            # Not fsynced: it is rewritten all the time, and a power cut may keep an old one.
            write_atomically(self.directory / STATUS_FILE, text, durable=False)
            self._fallback_used = False
            return
        except OSError as error:
            problem = error
        # The state directory fails (read-only, no space or inodes): `luxlogd status` must
        # still learn what the daemon knows, so it goes to shared memory meanwhile.
        fallback = fallback_status_path(status.get("state_dir") or str(self.directory))
        try:
            write_atomically(fallback, text, durable=False)
        except OSError as error:
            logger.debug("cannot write the status file anywhere: %s; %s", problem, error)
            return
        if not self._fallback_used:
            logger.warning(
                "cannot write %s (%s); the status goes to %s meanwhile",
                self.directory / STATUS_FILE,
                problem.strerror or problem,
                fallback,
            )
            self._fallback_used = True

    def touch_heartbeat(self) -> None:
        now = self.clock()
        if now - self._last_heartbeat < self.every_s:
            return
        self._last_heartbeat = now
        try:
            self._make_directory()
            (self.directory / HEARTBEAT_FILE).touch()
        except OSError as error:
            logger.debug("cannot touch the heartbeat file: %s", error)


def daemon_status(daemon: Any, now: float) -> dict[str, Any]:
    """What the daemon says about itself (status.json, `status`, /healthz, /api/status)."""
    from luxlogd.health import logs

    ring = logs.ring_buffer()
    pending = daemon.pending
    guard = daemon.clock_guard
    state_dir = daemon.config.state_dir
    return {
        **daemon.counters.as_dict(),
        "pid": os.getpid(),
        "state_dir": str(state_dir),
        "updated": now,
        "interval_s": daemon.config.poll.interval_s,
        "status": daemon.status_text(),
        "recent_warnings": ring.snapshot(logging.WARNING)[-20:] if ring else [],
        "stopping": daemon.stopping,
        "storage_ok": not pending.failing
        and pending.outlook is None
        and (daemon.storage.ok or daemon.stopping),
        "storage_problem": pending.problem or pending.outlook or daemon.storage.problem,
        "polls_pending": len(pending.polls),
        "last_seq": daemon.storage.last_acked,
        "database_rebuilt": daemon.storage.rebuilt,
        "clock_suspect": guard.suspect if guard is not None else None,
        "clock_jumps": guard.jumps if guard is not None else 0,
        "losses_recent": [loss.text() for loss in daemon.storage.losses.recent(now)],
        "polls_lost_total": daemon.storage.losses.total(),
        "quality": dict(daemon.quality.counts),
        "quality_notes": daemon.quality.notes(),
        "mqtt": daemon.outputs.status(),
        "outputs": daemon.outputs.problems(),
    }


def fallback_status_path(state_dir: str | Path) -> Path:
    """Where the status of the daemon of `state_dir` goes while that directory fails."""
    key = hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:16]
    return SHARED_MEMORY / f"luxlogd-status-{os.getuid()}-{key}.json"


def read_status(state_dir: Path) -> dict[str, Any] | None:
    """The newest status the daemon of `state_dir` wrote (/run/luxlogd, the state directory,
    or shared memory while the state directory failed)."""
    found = []
    mine = str(Path(state_dir).resolve())
    paths = [RUNTIME_STATUS_DIR / STATUS_FILE, Path(state_dir) / STATUS_FILE]
    paths += [SHARED_MEMORY / p.name for p in _fallbacks(state_dir)]
    for path in paths:
        try:
            status = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        written_for = status.get("state_dir") if isinstance(status, dict) else None
        if isinstance(status, dict) and (
            written_for is None or str(Path(written_for).resolve()) == mine
        ):
            found.append(status)
    return max(found, key=lambda s: s.get("updated") or 0) if found else None


def _fallbacks(state_dir: Path) -> list[Path]:
    """The shared-memory status files of `state_dir`'s daemon (owned by root or by the
    state directory's owner: nobody else can speak for it)."""
    key = fallback_status_path(state_dir).name.rsplit("-", 1)[1]
    try:
        owners = {0, Path(state_dir).stat().st_uid}
        return sorted(
            p for p in SHARED_MEMORY.glob(f"luxlogd-status-*-{key}") if p.stat().st_uid in owners
        )
    except OSError:
        return []


def process_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


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
        notifier: Any,
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
        notifier: Any,
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
        from luxlogd.health import logs

        logs.flush()  # the reason first, before the dump
        try:
            faulthandler.dump_traceback(2, all_threads=True)
        except (OSError, ValueError):
            pass
        self.on_stall()
        return None

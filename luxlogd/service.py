"""The daemon: a sched loop that polls at a fixed rate, stores, and talks to systemd.

One thread does everything that matters (poll -> WAL -> SQLite, watchdog pings), so a stuck
poll stops the pings and systemd restarts the process. The clock and the sleep are
arguments: tests drive days of schedule in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import faulthandler
import json
import logging
import os
import re
import sched
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from luxlogd import logs
from luxlogd.client import HeatPumpClient, HeatPumpError
from luxlogd.config import Config, ConfigError, load_config
from luxlogd.storage import Storage, poll_from_snapshot
from luxlogd.wal import WalError

logger = logging.getLogger(__name__)

STATUS_FILE = "status.json"
HEARTBEAT_FILE = "heartbeat"
STATUS_EVERY_S = 60.0  # on persistent storage; every poll when it lives on a tmpfs (/run)
HEARTBEAT_EVERY_S = 10.0  # without a systemd watchdog (Docker): the HEALTHCHECK reads it
STALL_LIMIT_MIN_S = 120.0
REPORT_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})_[a-z]+\.(csv|json|dta)$")


class Notifier:
    """sd_notify through the sdnotify package; ASCII only (it encodes latin-1 and drops
    a datagram it cannot encode, a WATCHDOG=1 in it too)."""

    def __init__(self) -> None:
        import sdnotify

        self._notifier = sdnotify.SystemdNotifier()

    def notify(self, message: str) -> None:
        self._notifier.notify(message.encode("ascii", "replace").decode("ascii"))


class _StopPoll(Exception):
    """Raised from the SIGTERM handler to abandon a heat pump read in flight."""


def watchdog_interval_s(environ: dict[str, str] | os._Environ[str]) -> float | None:
    """Half of WATCHDOG_USEC when the watchdog is meant for this process, else None."""
    usec = environ.get("WATCHDOG_USEC")
    pid = environ.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        return max(0.05, int(usec) / 2e6)
    except ValueError:
        return None


def stall_limit_s(config: Config, environ: dict[str, str] | os._Environ[str]) -> float | None:
    """How long the main loop may make no progress before the daemon exits by itself.

    None under a systemd watchdog (systemd kills and restarts us). Otherwise (Docker, a
    plain shell) the daemon exits 1 after this long, so a restart policy can act. A poll
    never takes longer than one interval, so four intervals (at least 2 min) is a real hang.
    """
    if watchdog_interval_s(environ):
        return None
    return max(STALL_LIMIT_MIN_S, 4 * config.poll.interval_s)


def _exit_stalled() -> None:  # pragma: no cover - ends the process; tests pass their own
    os._exit(1)


def report_files_oldest_first(directories: list[Path]) -> list[Path]:
    """Files named like our reports (YYYY-MM-DD_kind.ext), oldest date first."""
    found = []
    for directory in directories:
        if directory.is_dir():
            for path in directory.iterdir():
                match = REPORT_NAME.match(path.name)
                if match and path.is_file():
                    found.append((match.group(1), path.name, path))
    return [path for _, _, path in sorted(found)]


class Service:
    """`luxlogd run`. Call run(); it returns the exit code."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: str | None = None,
        timefunc: Callable[[], float] = time.monotonic,
        delayfunc: Callable[[float], Any] | None = None,
        wallclock: Callable[[], float] | None = None,
        notifier: Any = None,
        environ: dict[str, str] | os._Environ[str] = os.environ,
        max_polls: int | None = None,
        stall_exit_s: float | None = None,
        on_stall: Callable[[], None] = _exit_stalled,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.timefunc = timefunc
        # Looked up at each call (not bound at import) so a patched clock reaches it.
        self.wallclock = wallclock if wallclock is not None else lambda: time.time()
        self.environ = environ
        self.notifier = notifier if notifier is not None else Notifier()
        self._wake = threading.Event()
        self.delayfunc = delayfunc if delayfunc is not None else self._interruptible_sleep
        self.scheduler = sched.scheduler(timefunc, self.delayfunc)
        self.max_polls = max_polls
        self.storage = Storage(config.state_dir, retention_days=config.storage.retention_days)
        self.client = self._make_client(config)
        self._stop_requested = False
        self._reload_requested = False
        self._in_read = False
        self.polls_ok = 0
        self.polls_failed = 0
        self.polls_late = 0
        self.slots_skipped = 0
        self.last_poll_wall: float | None = None
        self.last_success_wall: float | None = None
        self.last_poll_duration_s = 0.0
        self.down_since_wall: float | None = None
        self.last_error: str | None = None
        self.last_poll: Any = None  # the newest stored Poll, for /metrics
        self.web: Any = None
        self._slot = 0
        self._start = 0.0
        self._last_status_write = float("-inf")
        self._progress_since_ping = True
        self.watchdog_s = watchdog_interval_s(environ)
        self.stall_exit_s = stall_exit_s
        self._on_stall = on_stall
        self._progress_mono = time.monotonic()  # real time, whatever clock drives sched
        self._stopped = threading.Event()
        runtime = environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
        self.status_dir = Path(runtime) if runtime else config.state_dir
        self._status_every_s = 0.0 if runtime else STATUS_EVERY_S
        self._disk_warned = False
        self.internal_schedule = internal_schedule_enabled(config, environ)
        self._housekeeping: threading.Thread | None = None
        self._last_cleanup_date: dt.date | None = None

    @staticmethod
    def _make_client(config: Config) -> HeatPumpClient:
        heatpump = config.heatpump
        return HeatPumpClient(
            heatpump.host, heatpump.port, heatpump.timeout_s, heatpump.retries, heatpump.backoff_s
        )

    def _interruptible_sleep(self, seconds: float) -> None:
        """sched's delay: returns at once when a signal asks for attention."""
        if seconds > 0:
            self._wake.wait(seconds)
        self._wake.clear()

    def request_stop(self, *_: object) -> None:
        self._stop_requested = True
        self._wake.set()

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request_stop()
        if self._in_read:
            self._in_read = False
            raise _StopPoll

    def _on_reload_signal(self, signum: int, frame: FrameType | None) -> None:
        self._reload_requested = True
        self._wake.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_reload_signal)

    def run(self) -> int:
        """Open storage, signal READY, poll until stopped. Return the exit code."""
        self.storage.open()
        stored = self.storage.store.stats()["polls"] if self.storage.store else 0
        logger.info(
            "started host=%s port=%d interval_s=%g state_dir=%s polls_stored=%s",
            self.config.heatpump.host, self.config.heatpump.port, self.config.poll.interval_s,
            self.config.state_dir, stored,
        )  # fmt: skip
        self.notifier.notify("READY=1")
        self.notifier.notify(f"STATUS=ready, {stored} polls stored, first poll now")
        if self.config.web.enabled and self.web is None:
            from luxlogd.web import WebServer

            self.web = WebServer(self.config, self, self.wallclock)
            try:
                self.web.start()
            except OSError as error:
                logger.error("web server not started on %s: %s", self.config.web.listen, error)
                self.web = None
        self._start = self.timefunc()
        self._slot = 0
        self.scheduler.enterabs(self._start, 1, self._poll_job)
        self.scheduler.enterabs(self._start, 0, self._heartbeat_job)
        if self.stall_exit_s:
            threading.Thread(target=self._stall_monitor, name="stall-monitor", daemon=True).start()
        if self.internal_schedule:
            logger.info("roll-up at %s and daily cleanup run inside the daemon",
                        self.config.reports.time)  # fmt: skip
            self.scheduler.enterabs(self._start + 1.0, 2, self._schedule_job)
        exit_code = 0
        try:
            while not self._stop_requested:
                self.scheduler.run(blocking=False)
                if self._stop_requested:
                    break
                if self._reload_requested:
                    self._reload()
                    continue
                upcoming = self.scheduler.queue
                if not upcoming:
                    break
                self.delayfunc(max(0.0, upcoming[0].time - self.timefunc()))
        except WalError as error:
            logger.error("cannot store polls durably, exiting for a restart: %s", error)
            exit_code = 1
        finally:
            self._stopped.set()
            self.notifier.notify("STOPPING=1")
            for event in list(self.scheduler.queue):
                self.scheduler.cancel(event)
            if self.web is not None:
                self.web.stop()
            self.storage.close()
            if self._housekeeping is not None:
                self._housekeeping.join(timeout=10)
            self._write_status(force=True)
            logger.info("stopped polls_ok=%d polls_failed=%d", self.polls_ok, self.polls_failed)
        return exit_code

    def _next_slot(self) -> None:
        """Schedule the next poll on the fixed grid start + k * interval; never skip silently."""
        interval = self.config.poll.interval_s
        now = self.timefunc()
        self._slot += 1
        due = self._start + self._slot * interval
        if due < now:
            missed = int((now - due) // interval) + 1
            self._slot += missed
            self.slots_skipped += missed
            self.polls_late += 1
            logger.warning(
                "poll overran its slot, skipped_polls=%d (the last poll took %.1f s, "
                "interval_s=%g)", missed, self.last_poll_duration_s, interval,
            )  # fmt: skip
            due = self._start + self._slot * interval
        self.scheduler.enterabs(due, 1, self._poll_job)

    def _poll_job(self) -> None:
        started = self.timefunc()
        due = self._start + self._slot * self.config.poll.interval_s
        if started - due > max(1.0, 0.1 * self.config.poll.interval_s):
            self.polls_late += 1
            logger.warning("poll late by %.1f s", started - due)
        try:
            self._poll_once(started)
        except WalError:
            raise
        except _StopPoll:
            logger.info("poll in flight abandoned for shutdown")
            return
        except Exception:
            self.polls_failed += 1
            logger.exception("unexpected error in the poll job; polling goes on")
        self.last_poll_duration_s = self.timefunc() - started
        self._progress_since_ping = True
        self._progress_mono = time.monotonic()
        self._touch_heartbeat()
        if self.max_polls is not None and self.polls_ok + self.polls_failed >= self.max_polls:
            self.request_stop()
            return
        if not self._stop_requested:
            self._next_slot()

    def _poll_once(self, started: float) -> None:
        interval = self.config.poll.interval_s
        # The read may use the time until the next slot, back-off included, minus a margin.
        budget = max(0.05, interval - (started - self._start - self._slot * interval) - 0.05)
        self._in_read = True
        try:
            snapshot = self.client.read(budget_s=budget)
        except HeatPumpError as error:
            self._in_read = False
            self._record_failure(error)
            return
        finally:
            self._in_read = False
        self._check_disk()
        poll = poll_from_snapshot(snapshot)
        try:
            seq = self.storage.append(poll)
        except WalError as error:
            if error.fatal:
                raise
            # Nothing was acknowledged and the log is intact: the next poll tries again.
            self.polls_failed += 1
            self.last_error = str(error)
            logger.warning("poll not stored: %s", error)
            self._publish()
            return
        self.polls_ok += 1
        self.last_poll = poll
        now = self.wallclock()
        self.last_poll_wall = self.last_success_wall = now
        if self.down_since_wall is not None:
            logger.info(
                "heat pump reachable again host=%s after %d failed polls (down since %s)",
                self.config.heatpump.host, self.polls_failed_in_row, _clock(self.down_since_wall),
            )  # fmt: skip
            self.down_since_wall = None
        self.polls_failed_in_row = 0
        logger.debug("poll stored seq=%d duration_s=%.3f", seq, self.timefunc() - started)
        self._publish()

    polls_failed_in_row = 0

    def _record_failure(self, error: HeatPumpError) -> None:
        self.polls_failed += 1
        self.polls_failed_in_row += 1
        now = self.wallclock()
        self.last_poll_wall = now
        self.last_error = str(error)
        if self.down_since_wall is None:
            self.down_since_wall = now
            logger.warning("heat pump unreachable, polling goes on: %s", error)
        else:
            logger.debug("heat pump still unreachable: %s", error)
        self._publish()

    def _publish(self) -> None:
        self.notifier.notify("STATUS=" + self.status_text())
        self._write_status()

    def status_text(self) -> str:
        stored = self.storage.wal.last_seq
        if self.down_since_wall is not None:
            return (
                f"heat pump unreachable since {_clock(self.down_since_wall)}, "
                f"{self.polls_failed_in_row} polls failed; {stored} polls stored"
            )
        last = _clock(self.last_success_wall) if self.last_success_wall else "none yet"
        return f"last poll {last}, {stored} polls stored, heat pump reachable"

    def status(self) -> dict[str, Any]:
        ring = logs.ring_buffer()
        recent = ring.snapshot(logging.WARNING)[-20:] if ring else []
        return {
            "pid": os.getpid(),
            "updated": self.wallclock(),
            "interval_s": self.config.poll.interval_s,
            "last_poll": self.last_poll_wall,
            "last_success": self.last_success_wall,
            "reachable": self.down_since_wall is None,
            "down_since": self.down_since_wall,
            "polls_ok": self.polls_ok,
            "polls_failed": self.polls_failed,
            "polls_late": self.polls_late,
            "slots_skipped": self.slots_skipped,
            "last_error": self.last_error,
            "status": self.status_text(),
            "recent_warnings": recent,
            "stopping": self._stop_requested,
            "storage_ok": self.storage.store is not None and not self.storage.store_behind,
            "last_poll_duration_s": self.last_poll_duration_s,
        }

    def latest_poll(self) -> Any:
        """The newest stored poll (for the web's metrics and sensor list), or None."""
        return self.last_poll

    def _write_status(self, force: bool = False) -> None:
        """Status for `luxlogd status`; on persistent storage at most once a minute."""
        now = self.timefunc()
        if not force and now - self._last_status_write < self._status_every_s:
            return
        self._last_status_write = now
        try:
            self.status_dir.mkdir(parents=True, exist_ok=True)
            path = self.status_dir / STATUS_FILE
            temporary = path.with_name(f".{STATUS_FILE}.tmp")
            temporary.write_text(json.dumps(self.status(), default=str))
            os.replace(temporary, path)
        except OSError as error:
            logger.debug("cannot write the status file: %s", error)

    def _heartbeat_job(self) -> None:
        """WATCHDOG=1 (under systemd) and the heartbeat file, only when the loop made progress.

        Runs in the main loop, so a poll that hangs stops both: systemd restarts us, and
        Docker's HEALTHCHECK (which reads the heartbeat's age) reports unhealthy.
        """
        interval = self.watchdog_s or HEARTBEAT_EVERY_S
        recent = self.last_poll_duration_s < interval * 2
        if self._progress_since_ping or recent:
            if self.watchdog_s:
                self.notifier.notify("WATCHDOG=1")
            self._progress_since_ping = False
            self._progress_mono = time.monotonic()
            self._touch_heartbeat()
        if not self._stop_requested:
            self.scheduler.enter(interval, 0, self._heartbeat_job)

    _last_heartbeat = float("-inf")

    def _touch_heartbeat(self) -> None:
        """On a tmpfs every time; on persistent storage at most once a minute (SD wear)."""
        now = self.timefunc()
        if now - self._last_heartbeat < self._status_every_s:
            return
        self._last_heartbeat = now
        try:
            self.status_dir.mkdir(parents=True, exist_ok=True)
            (self.status_dir / HEARTBEAT_FILE).touch()
        except OSError as error:
            logger.debug("cannot touch the heartbeat file: %s", error)

    def _stall_monitor(self) -> None:
        """Without a systemd watchdog: exit 1 when the main loop stops making progress."""
        assert self.stall_exit_s is not None
        check = min(5.0, self.stall_exit_s / 4)
        while not self._stopped.wait(check):
            idle = time.monotonic() - self._progress_mono
            if idle > self.stall_exit_s:
                logger.critical(
                    "no progress for %.0f s (limit %.0f s); exiting so the service is "
                    "restarted. Where each thread was:", idle, self.stall_exit_s,
                )  # fmt: skip
                try:
                    faulthandler.dump_traceback(2, all_threads=True)
                except (OSError, ValueError):
                    pass
                self._on_stall()
                return

    def _schedule_job(self) -> None:
        """Start the roll-up (and then the cleanup) in a worker thread when one is due.

        Checked every minute against the wall clock, like a systemd timer with
        Persistent=true: a roll-up missed while the daemon was down runs at start.
        """
        from luxlogd import reports

        running = self._housekeeping is not None and self._housekeeping.is_alive()
        now = dt.datetime.fromtimestamp(self.wallclock(), dt.UTC).astimezone()
        due = reports.latest_rollup_date(self.config, now)
        if not running and (reports.last_rollup_name(self.config) or "") < due.isoformat():
            config = self.config
            run_cleanup = self._last_cleanup_date != now.date()
            self._last_cleanup_date = now.date()
            self._housekeeping = threading.Thread(
                target=self._housekeep, args=(config, due, now, run_cleanup),
                name="housekeeping", daemon=True,
            )  # fmt: skip
            self._housekeeping.start()
        if not self._stop_requested:
            self.scheduler.enter(60.0, 2, self._schedule_job)

    @staticmethod
    def _housekeep(config: Config, due: dt.date, now: dt.datetime, run_cleanup: bool) -> None:
        """The same code the systemd timers run; failures are logged, polling goes on."""
        from luxlogd import reports

        try:
            reports.rollup(config, due, now=now)
            if run_cleanup:
                reports.cleanup(config, now=now)
        except Exception:
            logger.exception("internal roll-up or cleanup failed; polling goes on")

    def _check_disk(self) -> None:
        """Above the threshold: warn, then delete the oldest reports first. Never stop polling."""
        threshold = self.config.disk.usage_threshold_percent
        directories = [self.config.state_dir, *self.config.report_dirs]
        over = [d for d in directories if _usage_percent(d) > threshold]
        if not over:
            if self._disk_warned:
                logger.info("disk use back below %g %%", threshold)
            self._disk_warned = False
            return
        if not self._disk_warned:
            logger.warning(
                "disk use above %g %% on %s; deleting the oldest reports",
                threshold, ", ".join(str(d) for d in over),
            )  # fmt: skip
            self._disk_warned = True
        for path in report_files_oldest_first(self.config.report_dirs):
            if not any(_usage_percent(d) > threshold for d in directories):
                break
            size = path.stat().st_size
            path.unlink()
            logger.info("deleted report to free space file=%s bytes=%d", path, size)

    def _reload(self) -> None:
        self._reload_requested = False
        self.notifier.notify("RELOADING=1")
        try:
            new = load_config(self.config_path)
            if not new.heatpump.host:
                raise ConfigError([f"{new.source}: heatpump.host: expected a host, got nothing"])
            if new.storage.state_dir != self.config.storage.state_dir:
                logger.warning("storage.state_dir changes only on restart; keeping %s",
                               self.config.storage.state_dir)  # fmt: skip
        except ConfigError as error:
            for problem in error.problems:
                logger.error("reload failed, keeping the running configuration: %s", problem)
            self.notifier.notify("READY=1")
            return
        old_interval = self.config.poll.interval_s
        self.config = Config(**{**new.__dict__, "storage": self.config.storage})
        self.client = self._make_client(self.config)
        logging.getLogger().setLevel(self.config.log.level.upper())
        if self.config.poll.interval_s != old_interval:
            for event in list(self.scheduler.queue):
                if event.action == self._poll_job:
                    self.scheduler.cancel(event)
            self._start, self._slot = self.timefunc(), -1
            self._next_slot()
        logger.info("configuration reloaded from %s", new.source)
        self.notifier.notify("READY=1")


def internal_schedule_enabled(config: Config, environ: Any) -> bool:
    """schedule.internal: on, off, or auto (on unless systemd started us: its timers run)."""
    setting = config.schedule.internal
    if setting == "auto":
        return not (environ.get("INVOCATION_ID") or environ.get("NOTIFY_SOCKET"))
    return setting == "on"


def _usage_percent(path: Path) -> float:
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return 0.0
    return 100.0 * (usage.total - usage.free) / usage.total if usage.total else 0.0


def _clock(epoch_s: float | None) -> str:
    if epoch_s is None:
        return "never"
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")

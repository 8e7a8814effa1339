"""The daemon: a sched loop that polls at a fixed rate, stores, and talks to systemd.

One thread does everything that matters (poll -> WAL -> SQLite, watchdog pings), so a stuck
poll stops the pings and systemd restarts the process. The clock and the sleep are
arguments: tests drive days of schedule in milliseconds. Counters and the health rule live
in health/, the watchdog in liveness.py, disk pressure in reports/cleanup.py, the internal
schedule in reports/schedule.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sched
import signal
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from luxlogd.base.errors import ConfigError, HeatPumpError, StorageError, StorageFaultError
from luxlogd.config import Config, reload_config
from luxlogd.daemon.clock import ClockGuard
from luxlogd.daemon.grid import FixedRate
from luxlogd.daemon.liveness import Liveness, Notifier, StallMonitor
from luxlogd.health import logs
from luxlogd.health.counters import Counters
from luxlogd.health.events import STARTED, STOPPED, Events
from luxlogd.health.status import DaemonStatus, read_status
from luxlogd.heatpump.client import HeatPumpClient
from luxlogd.heatpump.poll import Poll
from luxlogd.heatpump.quality import Validator, controller_clock_index
from luxlogd.outputs.dispatch import Outputs
from luxlogd.reports.cleanup import DiskGuard
from luxlogd.reports.schedule import InternalSchedule, internal_schedule_enabled
from luxlogd.store.chunks import series_id
from luxlogd.store.pending import PendingPolls
from luxlogd.store.reader import Reader
from luxlogd.store.writer import Storage

logger = logging.getLogger("luxlogd.service")  # its name in the journal (README)


class _StopPoll(Exception):
    """Raised from the SIGTERM handler to abandon a heat pump read in flight."""


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
        environ: Mapping[str, str] = os.environ,
        max_polls: int | None = None,
        stall_monitor: StallMonitor | None = None,
        storage: Storage | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.timefunc = timefunc
        # Looked up at each call (not bound at import) so a patched clock reaches it.
        self.wallclock = wallclock if wallclock is not None else lambda: time.time()
        self.notifier = notifier if notifier is not None else Notifier()
        self._wake = threading.Event()
        self.delayfunc = delayfunc if delayfunc is not None else self._interruptible_sleep
        self.scheduler = sched.scheduler(timefunc, self.delayfunc)
        self.max_polls = max_polls
        self.storage = storage or Storage(
            config.state_dir,
            clock=self.wallclock,
            retention_days=config.storage.retention_days,
            trusted_now=self._trusted_now,
        )
        self.pending = PendingPolls(self.storage, config.poll.interval_s, timefunc)
        self.clock_guard: ClockGuard | None = None
        self.client = HeatPumpClient.from_config(config.heatpump, self.wallclock)
        self.counters = Counters(events=Events(config.state_dir, self.wallclock))
        self.quality = Validator()
        self.last_poll: Poll | None = None  # the newest stored poll
        self.outputs = Outputs(config, self, self.wallclock, timefunc)  # web server, MQTT
        self.stall_monitor = stall_monitor
        self.liveness = Liveness.from_environ(
            self.notifier, environ, config.state_dir, stall_monitor, timefunc
        )
        self.files = self.liveness.files
        self.disk = DiskGuard(config)
        self.schedule = (
            InternalSchedule(config) if internal_schedule_enabled(config, environ) else None
        )
        self.stopping = False
        self._health: tuple[Any, ...] | None = None
        self._reload_requested = False
        self._in_read = False
        self.grid = FixedRate(config.poll.interval_s)

    def _interruptible_sleep(self, seconds: float) -> None:
        """sched's delay: returns at once when a signal asks for attention."""
        if seconds > 0:
            self._wake.wait(seconds)
        self._wake.clear()

    def request_stop(self, *_: object) -> None:
        self.stopping = True
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

    def _trusted_now(self) -> float | None:
        return self.clock_guard.trusted_now() if self.clock_guard is not None else None

    def _open_storage(self) -> None:
        """Open storage; a failing one (read-only, EIO, full) is retried while polling goes on.
        Raise StateDirError (a configuration problem) or LockedError."""
        try:
            self.storage.open()
        except StorageFaultError as error:
            self.pending.start_failed(error)
        else:
            # The last run's status names the last poll it acknowledged: a witness of the end
            # of the log that damage to the log itself cannot take away.
            last = read_status(self.config.state_dir)
            seq = last.get("last_seq") if last is not None else None
            if isinstance(seq, int):
                self.storage.expect_through(seq, f"{self.config.state_dir} holds")
        newest_ms, newest_clock = None, None
        if not self.pending.failing:
            try:
                with Reader(self.config.state_dir) as reader:
                    newest_ms = reader.stats().last_ms
                    if newest_ms is not None:
                        clock = series_id("calculations", controller_clock_index())
                        column = reader.columns(newest_ms, newest_ms + 1, [clock])[1][0]
                        newest_clock = column[-1] if column else None
            except StorageError as error:
                logger.warning("cannot read the newest poll stored: %s", error)
        self.clock_guard = ClockGuard(
            newest_ms,
            newest_clock,
            wallclock=self.wallclock,
            monotonic=self.timefunc,
            diary=self.counters.events,
        )

    def run(self) -> int:
        """Open storage, signal READY, poll until stopped. Return the exit code."""
        self._open_storage()
        stored = self.storage.wal.last_seq
        logger.info(
            "started host=%s port=%d interval_s=%g state_dir=%s last_seq=%d",
            self.config.heatpump.host,
            self.config.heatpump.port,
            self.config.poll.interval_s,
            self.config.state_dir,
            stored,
            extra=logs.LIFECYCLE,
        )
        self.counters.events.record(STARTED, interval_s=self.config.poll.interval_s)
        self.notifier.notify("READY=1")
        self.notifier.notify(f"STATUS=ready, the last stored poll is #{stored}, first poll now")
        self.outputs.start()
        start = self.timefunc()
        self.grid.begin(start)
        self.scheduler.enterabs(start, 1, self._poll_job)
        self.scheduler.enterabs(start, 0, self._heartbeat_job)
        if self.stall_monitor is not None:
            self.stall_monitor.start()
        if self.schedule is not None:
            logger.info(
                "roll-up at %s and daily cleanup run inside the daemon", self.config.reports.time
            )
            self.scheduler.enterabs(start + 1.0, 2, self._schedule_job)
        try:
            while not self.stopping:
                self.scheduler.run(blocking=False)
                if self.stopping:
                    break
                if self._reload_requested:
                    self._reload()
                    continue
                upcoming = self.scheduler.queue
                if not upcoming:
                    break
                self.delayfunc(max(0.0, upcoming[0].time - self.timefunc()))
        finally:
            self._shut_down()
        return 0

    def _shut_down(self) -> None:
        if self.stall_monitor is not None:
            self.stall_monitor.stop()
        self.notifier.notify("STOPPING=1")
        for event in list(self.scheduler.queue):
            self.scheduler.cancel(event)
        self.outputs.stop()
        if self.pending.polls:
            self._acknowledge(self.pending.drain())
            if self.pending.polls:
                logger.error(
                    "stopping with %d polls that storage never took (%s): they are lost",
                    len(self.pending.polls),
                    self.pending.problem,
                )
        if self.schedule is not None:
            self.schedule.join(10)
        self.files.write_status(self.status(), force=True)
        self.storage.close()
        self.counters.events.record(STOPPED)
        logger.info(
            "stopped polls_ok=%d polls_failed=%d",
            self.counters.polls_ok,
            self.counters.polls_failed,
            extra=logs.LIFECYCLE,
        )

    def _next_slot(self) -> None:
        due, missed = self.grid.advance(self.timefunc())
        if missed:
            self.counters.skipped(missed, self.grid.interval_s)
        self.scheduler.enterabs(due, 1, self._poll_job)

    def _poll_job(self) -> None:
        started = self.timefunc()
        self.counters.late(started - self.grid.due, self.grid.interval_s)
        self.liveness.before_read()
        try:
            self._poll_once(started)
        except _StopPoll:
            logger.info("poll in flight abandoned for shutdown")
            return
        except Exception:
            self.counters.polls_failed += 1
            logger.exception("unexpected error in the poll job; polling goes on")
        self.counters.observe_duration(self.timefunc() - started)
        self.liveness.progress()
        done = self.counters.polls_ok + self.counters.polls_failed
        if self.max_polls is not None and done >= self.max_polls:
            self.request_stop()
            return
        if not self.stopping:
            self._next_slot()

    def _poll_once(self, started: float) -> None:
        self._in_read = True
        try:
            budget = self.grid.read_budget(
                started, self.config.heatpump.timeout_s, self.liveness.read_budget_cap_s()
            )
            poll = self.client.read(budget_s=budget)
        except HeatPumpError as error:
            self.counters.failed(error, self.wallclock())
            self._publish()
            return
        finally:
            self._in_read = False
        self.counters.timed(
            self.timefunc() - started, self.config.poll.interval_s, self.wallclock()
        )
        self.counters.reached(self.wallclock(), self.config.heatpump.host)
        if self.clock_guard is not None:
            poll = self.clock_guard.observe(poll)  # flags a poll a wrong clock stamped
        self._acknowledge(self.pending.add(poll))
        if self.pending.failing:
            self.counters.not_stored(self.pending.problem or "storage failing")
        self.disk.check(dt.datetime.fromtimestamp(self.wallclock(), dt.UTC).astimezone().date())
        self._publish()

    def _acknowledge(self, stored: list[tuple[int, Poll]]) -> None:
        for seq, poll in stored:
            self.counters.stored(self.wallclock())
            self.last_poll = poll
            self.quality.observe(poll)  # after storing: flags, never alters or drops
            logger.debug("poll stored seq=%d", seq)

    def _publish(self) -> None:
        self.outputs.update(self.last_poll, self.counters.reachable)
        self.notifier.notify("STATUS=" + self.status_text())
        status = self.status()
        # A change of health is written at once (else at most once a minute on an SD card).
        health_now = (
            status["storage_ok"],
            status["reachable"],
            bool(status["clock_suspect"]),
            tuple(status["outputs"]),
            len(status["losses_recent"]),
        )
        changed = health_now != self._health
        self._health = health_now
        self.files.write_status(status, force=changed)

    def status_text(self) -> str:
        text = self.counters.status_text(self.storage.wal.last_seq)
        if self.pending.failing:
            text += f"; STORAGE FAILING, {len(self.pending.polls)} polls kept in memory"
        if self.clock_guard is not None and self.clock_guard.suspect:
            text += "; the system clock is wrong, polls kept apart"
        return text

    def status(self) -> DaemonStatus:
        """The daemon's state for status.json, `luxlogd status`, /healthz and /api/status."""
        now = self.wallclock()
        ring = logs.ring_buffer()
        pending, guard, losses = self.pending, self.clock_guard, self.storage.losses
        return {
            **self.counters.as_dict(),
            "pid": os.getpid(),
            "state_dir": str(self.config.state_dir),
            "name": self.config.name,
            "instance": self.config.instance,
            "web_url": self.config.web_url,
            "updated": now,
            "interval_s": self.config.poll.interval_s,
            "status": self.status_text(),
            "recent_warnings": ring.snapshot(logging.WARNING)[-20:] if ring else [],
            "stopping": self.stopping,
            "storage_ok": not pending.failing
            and pending.outlook is None
            and (self.storage.ok or self.stopping),
            "storage_problem": pending.problem or pending.outlook or self.storage.problem,
            "polls_pending": len(pending.polls),
            "last_seq": self.storage.last_acked,
            "database_rebuilt": self.storage.rebuilt,
            "clock_suspect": guard.suspect if guard is not None else None,
            "clock_jumps": guard.jumps if guard is not None else 0,
            "losses_recent": [loss.text() for loss in losses.recent(now)],
            "polls_lost_total": losses.total(),
            "quality": dict(self.quality.counts),
            "quality_notes": self.quality.notes(),
            "quality_notes_de": self.quality.notes("de"),
            "mqtt": self.outputs.status(),
            "outputs": self.outputs.problems(),
        }

    def latest_poll(self) -> Poll | None:
        """The newest stored poll (for the web's metrics), or None."""
        return self.last_poll

    def _heartbeat_job(self) -> None:
        """Runs in the main loop: a poll that hangs stops the pings and the heartbeat."""
        self.liveness.beat(self.counters.last_poll_duration_s)
        if not self.stopping:
            self.scheduler.enter(self.liveness.interval_s, 0, self._heartbeat_job)

    def _schedule_job(self) -> None:
        assert self.schedule is not None
        self.schedule.tick(dt.datetime.fromtimestamp(self.wallclock(), dt.UTC).astimezone())
        if not self.stopping:
            self.scheduler.enter(60.0, 2, self._schedule_job)

    def _reload(self) -> None:
        self._reload_requested = False
        self.notifier.notify("RELOADING=1")
        try:
            new = reload_config(self.config_path, self.config)
        except ConfigError as error:
            for problem in error.problems:
                logger.error("reload failed, keeping the running configuration: %s", problem)
            self.notifier.notify("READY=1")
            return
        old_interval = self.config.poll.interval_s
        self.config = new
        self.client = HeatPumpClient.from_config(self.config.heatpump, self.wallclock)
        self.disk = DiskGuard(self.config)
        if self.schedule is not None:
            self.schedule.config = self.config
        self.outputs.reload(self.config)
        logging.getLogger().setLevel(self.config.log.level.upper())
        if self.config.poll.interval_s != old_interval:
            for event in list(self.scheduler.queue):
                if event.action == self._poll_job:
                    self.scheduler.cancel(event)
            self.grid.begin(self.timefunc(), self.config.poll.interval_s)
            self.scheduler.enterabs(self.grid.due, 1, self._poll_job)
        logger.info("configuration reloaded from %s", new.source, extra=logs.LIFECYCLE)
        self.notifier.notify("READY=1")

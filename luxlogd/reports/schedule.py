"""The daemon's internal schedule: the roll-up and cleanup that systemd's timers run
otherwise (Docker, or schedule.internal = on)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from luxlogd.base.errors import LockedError, StorageError
from luxlogd.config import Config
from luxlogd.reports import rollup
from luxlogd.reports.cleanup import cleanup
from luxlogd.store.reader import Reader

logger = logging.getLogger("luxlogd.housekeeping")  # its name in the journal (README)


class InternalSchedule:
    """Roll-up at reports.time and a daily cleanup inside the daemon, when no systemd timer
    does it (Docker). Checked every minute against the wall clock, like a timer with
    Persistent=true: a roll-up missed while the daemon was down runs at start. The work runs
    in a thread, so polls never wait for it.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.thread: threading.Thread | None = None
        self._last_cleanup: dt.date | None = None

    def tick(self, now: dt.datetime) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        due = rollup.latest_rollup_date(self.config, now)
        if (rollup.last_rollup_name(self.config) or "") >= due.isoformat():
            return
        if not self._has_polls_before(rollup.rollup_time(self.config, due)):
            return  # a new store: nothing to report on yet, and nothing missing either
        run_cleanup = self._last_cleanup != now.date()
        self._last_cleanup = now.date()
        self.thread = threading.Thread(
            target=self._work,
            args=(self.config, due, now, run_cleanup),
            name="housekeeping",
            daemon=True,
        )
        self.thread.start()

    @staticmethod
    def _work(config: Config, due: dt.date, now: dt.datetime, run_cleanup: bool) -> None:
        """The same code the systemd timers run; failures are logged, polling goes on."""
        try:
            rollup.rollup(config, due, now=now)
            if run_cleanup:
                cleanup(config, now=now)
        except LockedError as error:
            logger.info("internal schedule: %s; trying again in a minute", error)
        except Exception:
            logger.exception("internal roll-up or cleanup failed; polling goes on")

    def _has_polls_before(self, end: dt.datetime) -> bool:
        try:
            with Reader(self.config.state_dir) as reader:
                first = reader.stats().first_ms
        except StorageError:
            return False
        return first is not None and first < end.timestamp() * 1000

    def join(self, timeout_s: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout_s)


def internal_schedule_enabled(config: Config, environ: Any) -> bool:
    """schedule.internal: on, off, or auto (on unless systemd started us: its timers run;
    an instance, luxlogd@NAME, has no timers of its own and runs its schedule inside)."""
    setting = config.schedule.internal
    if setting == "auto":
        if config.instance:
            return True
        return not (environ.get("INVOCATION_ID") or environ.get("NOTIFY_SOCKET"))
    return setting == "on"

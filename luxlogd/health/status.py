"""The daemon's status: what it says about itself (DaemonStatus, the contract that
status.json, `luxlogd status`, `/healthz`, `/api/status`, the metrics and doctor all read),
the one health rule (`problems`), and the status and heartbeat files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, cast

from luxlogd.base.files import write_atomically
from luxlogd.base.times import clock_text
from luxlogd.base.words import tr
from luxlogd.health.counters import CounterFigures
from luxlogd.heatpump.poll import Poll
from luxlogd.store.paths import HEARTBEAT_FILE, STATUS_FILE

logger = logging.getLogger("luxlogd.health")  # its name in the journal (README)

# A tmpfs on every Linux: the status goes there while the state directory fails. Written by
# rename (a planted symlink is replaced, not followed); read only when owned by the state
# directory's owner or root.
SHARED_MEMORY = Path("/dev/shm")  # noqa: S108
STATUS_EVERY_S = 60.0  # on persistent storage; every poll when it lives on a tmpfs (/run)
RUN_DIR = Path("/run")
RUNTIME_STATUS_DIR = RUN_DIR / "luxlogd"
FRESH_S = 600.0  # a status older than this is of a daemon that is not running


class DaemonStatus(CounterFigures, total=False):
    """What the daemon says about itself, as written to status.json and served. Read back
    from a file it may come from another version: readers use .get()."""

    pid: int
    state_dir: str
    name: str  # the heat pump's (config.name)
    instance: str  # luxlogd@NAME's NAME, "" for luxlogd.service
    web_url: str | None  # where its page is, when the web server is on
    updated: float  # the wall clock when it was made
    interval_s: float
    status: str  # the line systemd shows (STATUS=)
    recent_warnings: list[dict[str, Any]]  # the journal's last warnings (logs.RingBufferHandler)
    stopping: bool
    storage_ok: bool
    storage_problem: str | None
    polls_pending: int  # read, kept in memory, not yet durable
    last_seq: int  # the newest acknowledged poll
    database_rebuilt: dict[str, Any] | None  # the note of the last rebuild
    clock_suspect: str | None  # why the system clock is not believed, while it is not
    clock_jumps: int
    losses_recent: list[str]  # losses of the last day, in words
    polls_lost_total: int
    quality: dict[str, int]  # plausibility problems by kind
    quality_notes: list[str]
    quality_notes_de: list[str]
    mqtt: dict[str, Any] | None  # the publisher's state, when MQTT is on
    outputs: list[str]  # what an output cannot do now


class StatusProvider(Protocol):
    """What the outputs (the web server, its metrics) read of the running daemon."""

    def status(self) -> DaemonStatus: ...

    def latest_poll(self) -> Poll | None: ...


def stale_after_s(interval_s: float) -> float:
    """How long without a stored poll before the daemon counts as unhealthy."""
    return max(3 * interval_s, 300.0)


def problems(
    status: DaemonStatus | None, *, now: float, interval_s: float, running: bool = True
) -> list[str]:
    """The one health rule: what is wrong with a daemon whose status is `status` ([] = fine)."""
    if status is None:
        return [tr("the daemon has not run")]
    found = []
    if not running:
        found.append(tr("the daemon is not running"))
    elif now - (status.get("updated") or now) > stale_after_s(interval_s):
        found.append(
            tr(
                "the daemon has not updated its status since {when} (stuck, or nowhere to "
                "write it)",
                when=clock_text(status.get("updated")),
            )
        )
    last = status.get("last_success")
    if last is None or now - last > stale_after_s(interval_s):
        found.append(tr("no poll stored since {when}", when=clock_text(last)))
    if not status.get("storage_ok", True):
        found.append(
            tr("storage failing: {why}", why=status.get("storage_problem") or tr("unknown"))
        )
    if status.get("clock_suspect"):
        found.append(tr("{why}: polls are kept apart", why=status["clock_suspect"]))
    for loss in status.get("losses_recent") or []:
        found.append(tr("stored data was damaged in the last day: {loss}", loss=loss))
    for problem in status.get("outputs") or []:
        found.append(problem)
    return found


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


def fallback_status_path(state_dir: str | Path) -> Path:
    """Where the status of the daemon of `state_dir` goes while that directory fails."""
    key = hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:16]
    return SHARED_MEMORY / f"luxlogd-status-{os.getuid()}-{key}.json"


def read_status(state_dir: Path) -> DaemonStatus | None:
    """The newest status the daemon of `state_dir` wrote (/run/luxlogd, the state directory,
    or shared memory while the state directory failed)."""
    found: list[DaemonStatus] = []
    mine = str(Path(state_dir).resolve())
    paths = [RUNTIME_STATUS_DIR / STATUS_FILE, Path(state_dir) / STATUS_FILE]
    paths += _instance_status_paths()
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
            found.append(cast(DaemonStatus, status))  # another version's: read with .get()
    return max(found, key=lambda s: s.get("updated") or 0) if found else None


def _instance_status_paths() -> list[Path]:
    """luxlogd@NAME's status files: /run/luxlogd-NAME/status.json."""
    return sorted(RUN_DIR.glob(f"luxlogd-*/{STATUS_FILE}"))


def host_daemons(now: float) -> list[DaemonStatus]:
    """The status of every luxlogd running on this host under systemd (luxlogd.service and
    each luxlogd@NAME), by name: the page links to the others."""
    found: dict[str, DaemonStatus] = {}
    for path in [RUNTIME_STATUS_DIR / STATUS_FILE, *_instance_status_paths()]:
        try:
            status = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(status, dict) or now - float(status.get("updated") or 0) > FRESH_S:
            continue
        found.setdefault(str(status.get("name") or status.get("state_dir")), status)  # type: ignore[arg-type]
    return [found[name] for name in sorted(found)]


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

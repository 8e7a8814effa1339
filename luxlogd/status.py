"""`luxlogd status`: what the daemon last said, plus what the state directory holds."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from luxlogd.config import Config
from luxlogd.service import STATUS_FILE, _clock, _usage_percent
from luxlogd.storage import DATABASE_NAME, WAL_DIRECTORY, Reader
from luxlogd.store import StorageError

RUNTIME_STATUS = Path("/run/luxlogd") / STATUS_FILE


def read_daemon_status(config: Config) -> dict[str, Any] | None:
    """The newest status file the daemon wrote (/run/luxlogd or the state directory)."""
    found = []
    for path in (RUNTIME_STATUS, config.state_dir / STATUS_FILE):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return max(found, key=lambda s: s.get("updated") or 0) if found else None


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size if path.exists() else 0


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover


def build_report(config: Config, now: float | None = None) -> tuple[str, bool]:
    """The report text and whether all is well."""
    now = time.time() if now is None else now
    lines = [f"luxlogd status (state {config.state_dir})"]
    problems: list[str] = []
    daemon = read_daemon_status(config)
    interval = config.poll.interval_s
    if daemon is None:
        lines.append("daemon:        no status written yet (not started?)")
        problems.append("the daemon has not run")
    else:
        running = _alive(daemon.get("pid")) and not daemon.get("stopping")
        state = f"running (pid {daemon['pid']})" if running else "not running"
        lines.append(f"daemon:        {state}, status from {_clock(daemon.get('updated'))}")
        lines.append(f"heat pump:     {daemon.get('status')}")
        lines.append(
            f"polls:         {daemon.get('polls_ok', 0)} ok, {daemon.get('polls_failed', 0)} "
            f"failed, {daemon.get('polls_late', 0)} late since start"
        )
        last_success = daemon.get("last_success")
        if not running:
            problems.append("the daemon is not running")
        if last_success is None or now - last_success > max(3 * interval, 300):
            problems.append(f"no poll stored since {_clock(last_success)}")
    try:
        reader = Reader(config.state_dir)
    except StorageError:
        reader = None
        lines.append("polls stored:  none (no data in the state directory)")
    if reader is not None:
        try:
            stats = reader.store.stats() if reader.store else {"polls": 0, "last_ms": None}
            only_wal = len(reader.wal_polls())
            first = stats.get("first_ms")
            last = stats.get("last_ms")
            lines.append(
                f"polls stored:  {int(stats['polls'] or 0) + only_wal}"
                + (f" ({only_wal} only in the write-ahead log)" if only_wal else "")
                + (f", {_clock(first / 1000)} to {_clock(last / 1000)}" if first and last else "")
            )
        finally:
            reader.close()
    database = _size(config.state_dir / DATABASE_NAME) + _size(
        config.state_dir / f"{DATABASE_NAME}-wal"
    )
    lines.append(
        f"storage:       database {_human(database)}, write-ahead log "
        f"{_human(_size(config.state_dir / WAL_DIRECTORY))}"
    )
    if config.state_dir.exists():
        usage = shutil.disk_usage(config.state_dir)
        percent = _usage_percent(config.state_dir)
        lines.append(
            f"disk:          {percent:.0f} % used, {_human(usage.free)} free "
            f"(threshold {config.disk.usage_threshold_percent:g} %)"
        )
    from luxlogd.reports import last_rollup

    done = last_rollup(config)
    if done is None:
        lines.append("last roll-up:  never")
    else:
        lines.append(
            f"last roll-up:  {done.get('name')} at {_clock(done.get('finished'))}, "
            f"{done.get('files', 0)} files"
        )
    warnings = (daemon or {}).get("recent_warnings") or []
    if warnings:
        lines.append("recent warnings:")
        for record in warnings[-10:]:
            lines.append(f"  {_clock(record['time'])} {record['message']}")
    if problems:
        lines.append("UNHEALTHY: " + "; ".join(problems))
    else:
        lines.append("healthy")
    return "\n".join(lines) + "\n", not problems

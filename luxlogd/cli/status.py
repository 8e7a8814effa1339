"""`luxlogd status`: what the daemon last said, plus what the state directory holds."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from luxlogd.base.errors import StorageError
from luxlogd.base.text import bytes_text as human_bytes
from luxlogd.base.times import clock_text
from luxlogd.config import Config
from luxlogd.daemon.clock import days_text
from luxlogd.health.events import CLOCK_JUMP, read_events
from luxlogd.health.status import problems, process_alive, read_status
from luxlogd.reports.cleanup import usage_percent
from luxlogd.store.losses import read_losses, recent_losses
from luxlogd.store.reader import Reader
from luxlogd.store.writer import read_rebuilt_note


def build_report(config: Config, now: float | None = None) -> tuple[str, bool]:
    """The report text and whether all is well."""
    from luxlogd.reports.rollup import last_rollup

    now = time.time() if now is None else now
    lines = [f"luxlogd status (state {config.state_dir})"]
    daemon = read_status(config.state_dir)
    running = False
    if daemon is None:
        lines.append("daemon:        no status written yet (not started?)")
    else:
        running = process_alive(daemon.get("pid")) and not daemon.get("stopping")
        state = f"running (pid {daemon['pid']})" if running else "not running"
        lines.append(f"daemon:        {state}, status from {clock_text(daemon.get('updated'))}")
        lines.append(f"heat pump:     {daemon.get('status')}")
        lines.append(
            f"polls:         {daemon.get('polls_ok', 0)} ok, {daemon.get('polls_failed', 0)} "
            f"failed, {daemon.get('polls_late', 0)} late, {daemon.get('slots_skipped', 0)} "
            "slots skipped since start"
        )
        if not daemon.get("storage_ok", True):
            lines.append(f"storage:       FAILING: {daemon.get('storage_problem')}")
        mqtt = daemon.get("mqtt")
        if mqtt:
            link = (
                "connected"
                if mqtt.get("connected")
                else f"NOT connected ({mqtt.get('error') or 'connecting'})"
            )
            lines.append(
                f"mqtt:          {link} to {mqtt.get('broker')}, "
                f"{mqtt.get('states', 0)} polls published since start"
            )
    found = problems(daemon, now=now, interval_s=config.poll.interval_s, running=running)
    lines += _stored(config.state_dir)
    lines += _at_a_glance(config, now)
    if config.state_dir.exists():
        usage = shutil.disk_usage(config.state_dir)
        lines.append(
            f"disk:          {usage_percent(config.state_dir):.0f} % used, "
            f"{human_bytes(usage.free)} free (threshold {config.disk.usage_threshold_percent:g} %)"
        )
    for entry in read_events(config.state_dir):
        if entry.get("event") == CLOCK_JUMP and now - entry["ts"] < 86_400:
            lines.append(
                f"clock:         the system clock jumped {entry.get('direction', '')} "
                f"by {days_text(float(entry.get('seconds') or 0))} at "
                f"{clock_text(entry['ts'])} (see luxlogd doctor)"
            )
    told = read_losses(config.state_dir)
    if told:
        total = sum(loss.polls_lost for loss in told)
        lines.append(
            f"losses:        {total} polls lost to damage in all, "
            f"{len(told)} times told; the last: {told[-1].text()}"
        )
    if daemon is None or not running:  # the daemon is not there to say it
        found += [
            f"stored data was damaged in the last day: {loss.text()}"
            for loss in recent_losses(config.state_dir, now)
        ]
    rebuilt = read_rebuilt_note(config.state_dir)
    if rebuilt is not None:
        lines.append(
            f"attention:     the database was damaged and rebuilt at "
            f"{clock_text(rebuilt.get('time'))} ({rebuilt.get('days_rescued')} days rescued); "
            f"the damaged file is {rebuilt.get('moved_to')}"
        )
    done = last_rollup(config)
    on_demand = (done or {}).get("on_demand")
    if done is None or not done.get("name"):
        lines.append("last roll-up:  never (scheduled)")
    else:
        lines.append(
            f"last roll-up:  {done.get('name')} at {clock_text(done.get('finished'))}, "
            f"{_files(done.get('files', 0))} (scheduled)"
        )
    if isinstance(on_demand, dict):
        lines.append(
            f"               {on_demand.get('name')} at "
            f"{clock_text(on_demand.get('finished'))}, {_files(on_demand.get('files', 0))} "
            "(rollup --now)"
        )
    warnings = daemon.get("recent_warnings") or [] if daemon is not None else []
    if warnings:
        lines.append("recent warnings:")
        for record in warnings[-10:]:
            lines.append(f"  {clock_text(record['time'])} {record['message']}")
    lines.append("UNHEALTHY: " + "; ".join(found) if found else "healthy")
    return "\n".join(lines) + "\n", not found


def _files(count: Any) -> str:
    return "1 file" if count == 1 else f"{count} files"


def _whole(value: Any) -> str:
    """A count: 7, never 7.0."""
    return "-" if value is None else str(int(round(value)))


def _number(value: Any, unit: str | None = None, digits: int = 1) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return f"{text} {unit}" if unit else text


def _at_a_glance(config: Config, now: float) -> list[str]:
    """What the heat pump does now and did today, in ui.language."""
    from luxlogd.reports.glance import glance

    try:
        with Reader(config.state_dir) as reader:
            seen = glance(reader, now, config.ui.language)
    except StorageError:
        return []
    if seen["time"] is None:
        return []
    mode, compressor = seen["mode"], seen["compressor"]
    since = f" since {clock_text(mode['since'])}" if mode["since"] else ""
    lines = [
        f"now:           {mode['text']}{since}; compressor {compressor['text']}"
        + (f" since {clock_text(compressor['since'])}" if compressor["since"] else "")
        + f" (poll of {clock_text(seen['time'])})",
        "               "
        + "; ".join(f"{e['label']} {_number(e['value'], e['unit'])}" for e in seen["now"]),
    ]
    output = seen["heat_output"]
    cop = seen["cop_last_hour"]
    lines.append(
        "               heat output: "
        + (_number(output["value"], "W", 0) if output["value"] is not None else output["why"])
        + "; COP last hour: "
        + (_number(cop["value"], digits=2) if cop["value"] else cop["why"] or "-")
        + (
            f"; COP now: {_number(seen['cop_now']['value'], digits=2)}"
            if seen["cop_now"]["value"]
            else ""
        )
    )
    today = seen["today"]
    lines.append(
        f"today:         heat {_number(today['heat_kwh'], 'kWh')}, electric "
        + (
            _number(today["electric_kwh"], "kWh")
            if today["electric_why"] is None
            else today["electric_why"]
        )
        + f", COP {_number(today['cop'], digits=2)}, {_whole(today['starts'])} starts, "
        f"{_number(today['hours'], 'h')} running, {_number(today['average_run_min'], 'min')} "
        "per run"
    )
    for name, entries in (("last error", seen["errors"]), ("switch-off", seen["switch_offs"])):
        if entries:
            entry = entries[0]
            lines.append(
                f"{name + ':':15}{entry['code']} {entry['text']} at {clock_text(entry['time'])}"
            )
    return lines


def _stored(state_dir: Path) -> list[str]:
    try:
        reader = Reader(state_dir)
    except StorageError:
        return ["polls stored:  none (no data in the state directory)"]
    with reader:
        problem = reader.problem
        try:
            verdict = reader.database_check()
            if verdict not in (None, "ok"):
                problem = f"damaged ({verdict})"
            stats = reader.stats()
        except StorageError as error:
            problem = f"damaged ({error})"
            reader.close()  # what the write-ahead log still holds, without the database
            stats = Reader.wal_only(state_dir).stats()
    lines = []
    text = f"polls stored:  {stats.polls}"
    if stats.wal_only:
        text += f" ({stats.wal_only} only in the write-ahead log)"
    if stats.first_ms is not None and stats.last_ms is not None:
        text += f", {clock_text(stats.first_ms / 1000)} to {clock_text(stats.last_ms / 1000)}"
    lines.append(text)
    if stats.clock_suspect:
        polls = "1 poll" if stats.clock_suspect == 1 else f"{stats.clock_suspect} polls"
        verb = "is" if stats.clock_suspect == 1 else "are"
        lines.append(
            f"clock:         {polls} stamped by a wrong system clock {verb} kept apart "
            "(luxlogd doctor says more)"
        )
    lines.append(
        f"storage:       database {human_bytes(stats.database_bytes)}, write-ahead log "
        f"{human_bytes(stats.wal_bytes)}"
    )
    if problem and problem.startswith("damaged"):
        lines.append(
            f"database:      {problem}; restart the daemon (systemctl restart luxlogd):"
            " it moves the file aside and rebuilds it"
        )
    elif problem:
        lines.append(f"database:      unreadable, reading the write-ahead log only: {problem}")
    return lines

"""`luxlogd status`: what the daemon last said, plus what the state directory holds."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, cast

from luxlogd.base.errors import StorageError
from luxlogd.base.text import bytes_text as human_bytes
from luxlogd.base.times import clock_text
from luxlogd.base.words import count, number, plain, tr
from luxlogd.config import Config
from luxlogd.daemon.clock import days_text, direction_text
from luxlogd.health.events import CLOCK_JUMP, read_events
from luxlogd.health.status import DaemonStatus, problems, process_alive, read_status
from luxlogd.reports.cleanup import usage_percent
from luxlogd.store.losses import read_losses, recent_losses
from luxlogd.store.reader import Reader
from luxlogd.store.writer import read_rebuilt_note


def _line(label: str, text: str) -> str:
    """A line of the report: the label (in the current language) in a column, the text."""
    return f"{(tr(label) + ':').ljust(14)} {text}"


def _heat_pump(daemon: DaemonStatus) -> str:
    """What the daemon last said of the heat pump (its STATUS= line, in words of this
    language): reachable or since when not, and the newest poll's number."""
    stored = daemon.get("last_seq")
    if daemon.get("down_since") is not None:
        text = tr(
            "unreachable since {since}, {failed} polls failed in a row",
            since=clock_text(daemon.get("down_since")),
            failed=number(daemon.get("failed_in_row") or 0),
        )
    else:
        last = daemon.get("last_success")
        text = tr(
            "reachable, last poll {when}",
            when=clock_text(last) if last else tr("none yet"),
        )
        if daemon.get("slow_since") is not None:
            text += tr("; answers slowly")
    if stored is not None:
        text += tr(" (poll #{seq})", seq=stored)
    return text


def build_report(config: Config, now: float | None = None) -> tuple[str, bool]:
    """The report text (in ui.language) and whether all is well."""
    from luxlogd.reports.rollup import last_rollup

    now = time.time() if now is None else now
    lines = [tr("luxlogd status (state {path})", path=config.state_dir)]
    daemon = read_status(config.state_dir)
    running = False
    if daemon is None:
        lines.append(_line("daemon", tr("no status written yet (not started?)")))
    else:
        running = process_alive(daemon.get("pid")) and not daemon.get("stopping")
        state = tr("running (pid {pid})", pid=daemon["pid"]) if running else tr("not running")
        lines.append(
            _line(
                "daemon",
                tr(
                    "{state}, status from {when}",
                    state=state,
                    when=clock_text(daemon.get("updated")),
                ),
            )
        )
        lines.append(_line("heat pump", _heat_pump(daemon)))
        lines.append(
            _line(
                "polls",
                tr(
                    "{ok} ok, {failed} failed, {late} late, {skipped} slots skipped since start",
                    ok=number(daemon.get("polls_ok", 0)),
                    failed=number(daemon.get("polls_failed", 0)),
                    late=number(daemon.get("polls_late", 0)),
                    skipped=number(daemon.get("slots_skipped", 0)),
                ),
            )
        )
        if not daemon.get("storage_ok", True):
            lines.append(_line("storage", tr("FAILING: {why}", why=daemon.get("storage_problem"))))
        mqtt = daemon.get("mqtt")
        if mqtt:
            link = (
                tr("connected")
                if mqtt.get("connected")
                else tr("NOT connected ({why})", why=mqtt.get("error") or tr("connecting"))
            )
            lines.append(
                _line(
                    "mqtt",
                    tr(
                        "{link} to {broker}, {n} polls published since start",
                        link=link,
                        broker=mqtt.get("broker"),
                        n=number(mqtt.get("states", 0)),
                    ),
                )
            )
    recent = [loss.text() for loss in recent_losses(config.state_dir, now)]
    if daemon is not None:  # the ledger's own words (the daemon's are English)
        daemon = cast(DaemonStatus, {**daemon, "losses_recent": recent})
    found = problems(daemon, now=now, interval_s=config.poll.interval_s, running=running)
    lines += _stored(config.state_dir)
    lines += _at_a_glance(config, now)
    if config.state_dir.exists():
        usage = shutil.disk_usage(config.state_dir)
        lines.append(
            _line(
                "disk",
                tr(
                    "{used} % used, {free} free (threshold {limit} %)",
                    used=number(usage_percent(config.state_dir)),
                    free=human_bytes(usage.free),
                    limit=plain(config.disk.usage_threshold_percent),
                ),
            )
        )
    for entry in read_events(config.state_dir):
        if entry.get("event") == CLOCK_JUMP and now - entry["ts"] < 86_400:
            lines.append(
                _line(
                    "clock",
                    tr(
                        "the system clock jumped {direction} by {size} at {when} "
                        "(see luxlogd doctor)",
                        direction=direction_text(entry.get("direction")),
                        size=days_text(float(entry.get("seconds") or 0)),
                        when=clock_text(entry["ts"]),
                    ),
                )
            )
    told = read_losses(config.state_dir)
    if told:
        lines.append(
            _line(
                "losses",
                tr(
                    "{total} polls lost to damage in all, told {times}; the last: {last}",
                    total=number(sum(loss.polls_lost for loss in told)),
                    times=count(len(told), "time"),
                    last=told[-1].text(),
                ),
            )
        )
    if daemon is None or not running:  # the daemon is not there to say it
        found += [tr("stored data was damaged in the last day: {loss}", loss=x) for x in recent]
    rebuilt = read_rebuilt_note(config.state_dir)
    if rebuilt is not None:
        lines.append(
            _line(
                "attention",
                tr(
                    "the database was damaged and rebuilt at {when} ({days} days rescued); "
                    "the damaged file is {path}",
                    when=clock_text(rebuilt.get("time")),
                    days=rebuilt.get("days_rescued"),
                    path=rebuilt.get("moved_to"),
                ),
            )
        )
    done = last_rollup(config)
    on_demand = (done or {}).get("on_demand")
    if done is None or not done.get("name"):
        lines.append(_line("last roll-up", tr("never (scheduled)")))
    else:
        lines.append(
            _line(
                "last roll-up",
                tr(
                    "{name} at {when}, {files} (scheduled)",
                    name=done.get("name"),
                    when=clock_text(done.get("finished")),
                    files=count(int(done.get("files", 0)), "file"),
                ),
            )
        )
    if isinstance(on_demand, dict):
        lines.append(
            " " * 15
            + tr(
                "{name} at {when}, {files} (rollup --now)",
                name=on_demand.get("name"),
                when=clock_text(on_demand.get("finished")),
                files=count(int(on_demand.get("files", 0)), "file"),
            )
        )
    warnings = daemon.get("recent_warnings") or [] if daemon is not None else []
    if warnings:
        lines.append(tr("recent warnings (from the journal):"))
        for record in warnings[-10:]:
            lines.append(f"  {clock_text(record['time'])} {record['message']}")
    lines.append(tr("UNHEALTHY: ") + "; ".join(found) if found else tr("healthy"))
    return "\n".join(lines) + "\n", not found


def _whole(value: Any) -> str:
    """A count: 7, never 7.0."""
    return "-" if value is None else number(round(value))


def _number(value: Any, unit: str | None = None, digits: int = 1) -> str:
    if value is None:
        return "-"
    text = number(value, digits) if isinstance(value, float) else str(value)
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
    since = tr(" since {when}", when=clock_text(mode["since"])) if mode["since"] else ""
    lines = [
        _line("now", f"{mode['text']}{since}; ")
        + tr("compressor {state}", state=compressor["text"])
        + (tr(" since {when}", when=clock_text(compressor["since"])) if compressor["since"] else "")
        + tr(" (poll of {when})", when=clock_text(seen["time"])),
        " " * 15 + "; ".join(f"{e['label']} {_number(e['value'], e['unit'])}" for e in seen["now"]),
    ]
    output = seen["heat_output"]
    cop = seen["cop_last_hour"]
    lines.append(
        " " * 15
        + tr("heat output: ")
        + (_number(output["value"], "W", 0) if output["value"] is not None else output["why"])
        + tr("; COP last hour: ")
        + (_number(cop["value"], digits=2) if cop["value"] else cop["why"] or "-")
        + (
            tr("; COP now: {cop}", cop=_number(seen["cop_now"]["value"], digits=2))
            if seen["cop_now"]["value"]
            else ""
        )
    )
    today = seen["today"]
    electric = (
        _number(today["electric_kwh"], "kWh")
        if today["electric_why"] is None
        else today["electric_why"]
    )
    lines.append(
        _line(
            "today",
            tr(
                "heat {heat}, electric {electric}, COP {cop}, {starts} starts, {hours} running, "
                "{per_run} per run",
                heat=_number(today["heat_kwh"], "kWh"),
                electric=electric,
                cop=_number(today["cop"], digits=2),
                starts=_whole(today["starts"]),
                hours=_number(today["hours"], "h"),
                per_run=_number(today["average_run_min"], "min"),
            ),
        )
    )
    for name, entries in (("last error", seen["errors"]), ("switch-off", seen["switch_offs"])):
        if entries:
            entry = entries[0]
            lines.append(
                _line(
                    name,
                    tr(
                        "{code} {text} at {when}",
                        code=entry["code"],
                        text=entry["text"],
                        when=clock_text(entry["time"]),
                    ),
                )
            )
    return lines


def _stored(state_dir: Path) -> list[str]:
    try:
        reader = Reader(state_dir)
    except StorageError:
        return [_line("polls stored", tr("none (no data in the state directory)"))]
    damaged = False
    with reader:
        problem = reader.problem
        try:
            verdict = reader.database_check()
            if verdict not in (None, "ok"):
                problem, damaged = verdict, True
            stats = reader.stats()
        except StorageError as error:
            problem, damaged = str(error), True
            reader.close()  # what the write-ahead log still holds, without the database
            stats = Reader.wal_only(state_dir).stats()
    lines = []
    text = number(stats.polls)
    if stats.wal_only:
        text += tr(" ({n} only in the write-ahead log)", n=number(stats.wal_only))
    if stats.first_ms is not None and stats.last_ms is not None:
        text += tr(
            ", {start} to {end}",
            start=clock_text(stats.first_ms / 1000),
            end=clock_text(stats.last_ms / 1000),
        )
    lines.append(_line("polls stored", text))
    if stats.clock_suspect:
        template = (
            "{polls} stamped by a wrong system clock is kept apart (luxlogd doctor says more)"
            if stats.clock_suspect == 1
            else "{polls} stamped by a wrong system clock are kept apart (luxlogd doctor says more)"
        )
        lines.append(_line("clock", tr(template, polls=count(stats.clock_suspect, "poll"))))
    lines.append(
        _line(
            "storage",
            tr(
                "database {database}, write-ahead log {wal}",
                database=human_bytes(stats.database_bytes),
                wal=human_bytes(stats.wal_bytes),
            ),
        )
    )
    if problem and damaged:
        lines.append(
            _line(
                "database",
                tr(
                    "damaged ({why}); restart the daemon (systemctl restart luxlogd): it moves "
                    "the file aside and rebuilds it",
                    why=problem,
                ),
            )
        )
    elif problem:
        lines.append(
            _line(
                "database", tr("unreadable, reading the write-ahead log only: {why}", why=problem)
            )
        )
    return lines

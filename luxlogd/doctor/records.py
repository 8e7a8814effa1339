"""Doctor's data sections: what was recorded (and what is missing, and why); whether the
stored data is intact is in integrity.py, the plausibility of the readings in plausibility.py.

Made for a year of data in a few seconds: poll times come from the sealed days' time
blobs, and only a sample of sealed days is re-checked value by value (all with --full).
"""

from __future__ import annotations

import bisect
import datetime as dt
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from luxlogd.base import words
from luxlogd.base.errors import StorageError
from luxlogd.base.text import bytes_text
from luxlogd.base.times import date_text, duration_text, local_midnight_ms, minute_text
from luxlogd.base.words import count, number, tr
from luxlogd.config import Config
from luxlogd.daemon.clock import direction_text
from luxlogd.doctor import plausibility
from luxlogd.doctor.integrity import DAMAGED, daemon_running, integrity
from luxlogd.doctor.report import SHOWN, Section
from luxlogd.health import events
from luxlogd.health.status import stale_after_s
from luxlogd.heatpump import catalogue
from luxlogd.reports import rollup
from luxlogd.reports.ledger import report_date
from luxlogd.store.chunks import series_id
from luxlogd.store.reader import Reader

WAL_BACKLOG = 1000  # polls only in the write-ahead log while the daemon runs
COMPLETE = 0.99  # a day with fewer of its expected polls is incomplete
CLOCK_JUMP_S = 300  # our clock against the controller's moved by more: a clock jump


def sections(config: Config, *, days: int, full: bool, now: float) -> list[Section]:
    state_dir = config.state_dir
    try:
        reader = Reader(state_dir)
    except StorageError as error:
        section = Section("recorded data")
        section.add(
            "warning",
            tr("no data yet: {why}", why=error),
            tr("start the daemon: systemctl enable --now luxlogd (or luxlogd run)"),
        )
        return [section]
    with reader:
        return [
            _guarded("recorded data", lambda: recorded(reader, config, days, now)),
            _guarded("integrity", lambda: integrity(reader, state_dir, full, now)),
            _guarded("plausibility", lambda: plausibility.plausibility(reader)),
        ]


def _guarded(name: str, check: Callable[[], Section]) -> Section:
    """A section, or a problem when the data cannot be read for it (a damaged database)."""
    try:
        return check()
    except (sqlite3.Error, StorageError) as error:
        section = Section(name)
        section.add("problem", tr("the stored data cannot be read: {why}", why=error), tr(DAMAGED))
        return section


def recorded(reader: Reader, config: Config, days: int, now: float) -> Section:
    section = Section("recorded data")
    stats = reader.stats()
    interval = config.poll.interval_s
    if stats.polls == 0 or stats.first_ms is None or stats.last_ms is None:
        section.add(
            "warning",
            tr("no polls stored yet in {path}", path=reader.state_dir),
            tr("start the daemon: systemctl enable --now luxlogd"),
        )
        return section
    first, last = stats.first_ms / 1000, stats.last_ms / 1000
    section.facts.update(polls=stats.polls, first=first, last=last)
    section.add(
        "ok",
        tr(
            "{polls} from {start} to {end} ({span})",
            polls=count(stats.polls, "poll"),
            start=minute_text(first),
            end=minute_text(last),
            span=duration_text(last - first),
        ),
    )
    age = now - last
    if age > stale_after_s(interval):
        running = daemon_running(reader.state_dir)
        section.add(
            "problem",
            tr("the newest poll is {age} old", age=duration_text(age)),
            tr("the daemon runs but stores nothing: see luxlogd status and journalctl -u luxlogd")
            if running
            else tr("the daemon is not running: systemctl status luxlogd; journalctl -u luxlogd"),
        )
    clock = series_id("calculations", catalogue.by_key()["controller_clock"].index)
    stored, (clocks,) = reader.columns(
        stats.first_ms, stats.last_ms + 1, [clock], stored_order=True
    )
    times = sorted(stored)
    diary = events.read_events(reader.state_dir)
    _per_day(section, times, interval, days, now)
    _gaps(section, times, interval, diary)
    _clock_jumps(section, stored, clocks, diary, now - days * 86400)
    _kept_apart(section, stats)
    _growth(section, reader, stats, first, last)
    if stats.wal_only > WAL_BACKLOG and daemon_running(reader.state_dir):
        section.add(
            "warning",
            tr(
                "{n} polls are only in the write-ahead log: SQLite is falling behind",
                n=number(stats.wal_only),
            ),
            tr("see storage_problem in luxlogd status; nothing is lost, the log holds them"),
        )
    else:
        section.add(
            "ok",
            tr(
                "{n} polls only in the write-ahead log (moved into SQLite in batches)",
                n=number(stats.wal_only),
            ),
        )
    _rollups(section, config, first, now, days)
    return section


def _per_day(
    section: Section, times: Sequence[int], interval: float, days: int, now: float
) -> None:
    """Polls per local day of the last `days` days, against what the interval promises."""
    today = dt.datetime.fromtimestamp(now, dt.UTC).astimezone().date()
    first_s = times[0] / 1000
    until = min(now, times[-1] / 1000 + interval)  # after the newest poll: the staleness check
    rows: list[dict[str, Any]] = []
    short: list[str] = []
    for back in range(days - 1, -1, -1):
        day = today - dt.timedelta(days=back)
        start = local_midnight_ms(day) / 1000
        end = local_midnight_ms(day + dt.timedelta(days=1)) / 1000
        span = max(0.0, min(end, until) - max(start, first_s))
        if span <= 0:
            continue
        got = bisect.bisect_left(times, end * 1000) - bisect.bisect_left(times, start * 1000)
        expected = max(1, int(span // interval))
        share = min(1.0, got / expected)  # a clock step can stamp two polls in one slot
        rows.append(
            {"date": day.isoformat(), "polls": got, "expected": expected, "share": round(share, 4)}
        )
        if share < COMPLETE and span >= 3600:
            short.append(f"{_day_text(day)} ({number(100 * share)} %)")
    section.facts["days"] = rows
    section.details.append(
        tr("polls per day: ")
        + ", ".join(
            f"{_day_text(dt.date.fromisoformat(r['date']))} {number(100 * min(1.0, r['share']))} %"
            for r in rows
        )
    )
    if short:
        template = (
            "{n} of the last {days} days has less than {share} % of its polls: {list}"
            if len(short) == 1
            else "{n} of the last {days} days have less than {share} % of their polls: {list}"
        )
        section.add(
            "warning",
            tr(
                template,
                n=len(short),
                days=len(rows),
                share=number(100 * COMPLETE),
                list=", ".join(short),
            ),
            tr("the gaps below say why"),
        )
    elif rows:
        section.add("ok", tr("each of the last {days} days has its polls", days=len(rows)))


def _gaps(
    section: Section, times: Sequence[int], interval: float, diary: list[dict[str, Any]]
) -> None:
    """Periods without polls (longer than 2.5 intervals), with the diary's reason."""
    limit_ms = 2.5 * interval * 1000
    found = [(a, b) for a, b in zip(times, times[1:], strict=False) if b - a > limit_ms]
    missing_s = sum(b - a for a, b in found) / 1000
    section.facts["gaps"] = [
        {"from": a / 1000, "to": b / 1000, "why": events.explain_gap(diary, a / 1000, b / 1000)}
        for a, b in found[-100:]
    ]
    if not found:
        section.add("ok", tr("no gaps: every poll slot has its poll"))
        return
    span_s = max(1.0, (times[-1] - times[0]) / 1000)
    share = min(1.0, missing_s / span_s)
    section.add(
        "warning" if share > 0.01 else "info",
        tr(
            "{gaps}, {missing} without polls in all ({share} % of the time)",
            gaps=count(len(found), "gap"),
            missing=duration_text(missing_s),
            share=number(100 * share, 1),
        ),
        tr("see why below; luxlogd status and journalctl -u luxlogd tell more"),
    )
    for a, b in found[-SHOWN:]:
        why = events.explain_gap(diary, a / 1000, b / 1000)
        section.details.append(
            tr(
                "gap {start} to {end} ({span}): {why}",
                start=minute_text(a / 1000),
                end=minute_text(b / 1000),
                span=duration_text((b - a) / 1000),
                why=why,
            )
        )


def _clock_jumps(
    section: Section,
    times: Sequence[int],
    clocks: Sequence[int | None],
    diary: list[dict[str, Any]],
    since: float,
) -> None:
    """Clock jumps: what the daemon told its diary (the system clock against its monotonic
    clock), and in the data, our clock against the controller's, poll after poll as they were
    stored (a step of more than five minutes; daylight-saving steps of a controller on local
    time are not jumps)."""
    told = [
        e
        for e in diary
        if e.get("event") in (events.CLOCK_JUMP, events.CLOCK_STEP) and e["ts"] >= since
    ]
    pairs = [(c, t) for t, c in zip(times, clocks, strict=True) if c]
    steps = []
    for (clock_a, ts_a), (clock_b, ts_b) in zip(pairs, pairs[1:], strict=False):
        by = (ts_b * 0.001 - clock_b) - (ts_a * 0.001 - clock_a)
        if abs(by) > CLOCK_JUMP_S:
            change = _utc_offset(ts_b) - _utc_offset(ts_a)
            if change == 0 or abs(abs(by) - abs(change)) > 120:  # not a daylight-saving step
                steps.append((ts_b, by))
    section.facts["clock_jumps"] = [{"at": ts / 1000, "by_s": by} for ts, by in steps[:100]]
    section.facts["clock_events"] = told[-100:]
    for entry in told[-5:]:
        size = float(entry.get("seconds") or 0)
        template = (
            "{when}: the system clock jumped {direction} by {size}"
            if entry["event"] == events.CLOCK_JUMP
            else "{when}: the system clock stepped {direction} by {size}"
        )
        where = (
            tr(" (at a start: the time since the newest poll stored)")
            if entry.get("at_start")
            else ""
        )
        section.details.append(
            tr(
                template,
                when=minute_text(entry["ts"]),
                direction=direction_text(entry.get("direction")),
                size=duration_text(size),
            )
            + where
        )
    jumps = [e for e in told if e["event"] == events.CLOCK_JUMP]
    if jumps:
        last = jumps[-1]
        section.add(
            "warning",
            tr(
                "{jumps} of more than a day; the last: the system clock jumped {direction} "
                "by {size} at {when}",
                jumps=count(len(jumps), "clock jump"),
                direction=direction_text(last.get("direction")),
                size=duration_text(float(last.get("seconds") or 0)),
                when=minute_text(last["ts"]),
            ),
            tr(CLOCK_ADVICE),
        )
    if steps:
        listed = ", ".join(
            f"{minute_text(ts / 1000)} ({'+' if by > 0 else '-'}{duration_text(by)})"
            for ts, by in steps[:3]
        )
        section.add(
            "warning",
            tr(
                "{jumps} against the controller's clock (first: {listed}); every poll is read "
                "by its time stamp",
                jumps=count(len(steps), "clock jump"),
                listed=listed,
            ),
            tr(CLOCK_ADVICE),
        )
    elif told and not jumps:
        section.add(
            "info",
            tr(
                "{steps} of the system clock (the diary); every poll is read by its time stamp",
                steps=count(len(told), "clock step"),
            ),
            tr(CLOCK_ADVICE),
        )
    if not told and not steps:
        section.add(
            "ok",
            tr(
                "no clock jumps (this computer's and the controller's clocks agree from poll "
                "to poll)"
            ),
        )


CLOCK_ADVICE = (
    "keep this computer's clock synchronised (timedatectl; a Raspberry Pi without "
    "a real-time clock starts with an old time until NTP has synced)"
)


def _kept_apart(section: Section, stats: Any) -> None:
    if not stats.clock_suspect:
        return
    section.facts["clock_suspect_polls"] = stats.clock_suspect
    template = (
        "{polls} stamped by a wrong system clock (more than a day from the heat pump's clock "
        "and the store's history) is kept apart: stored as read, left out of charts, reports "
        "and exports"
        if stats.clock_suspect == 1
        else "{polls} stamped by a wrong system clock (more than a day from the heat pump's "
        "clock and the store's history) are kept apart: stored as read, left out of charts, "
        "reports and exports"
    )
    section.add(
        "warning",
        tr(template, polls=count(stats.clock_suspect, "poll")),
        tr("set the clock right; luxlogd export --clock-suspect gives those polls"),
    )


def _day_text(day: dt.date) -> str:
    """A day of the last weeks: 11-30, German 30.11."""
    return f"{day:%d.%m.}" if words.german() else f"{day:%m-%d}"


def _utc_offset(ms: int) -> float:
    offset = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).astimezone().utcoffset()
    return offset.total_seconds() if offset else 0.0


def _growth(section: Section, reader: Reader, stats: Any, first: float, last: float) -> None:
    size = stats.database_bytes + stats.wal_bytes
    span_days = (last - first) / 86400
    free = shutil.disk_usage(reader.state_dir).free
    section.facts.update(
        database_bytes=stats.database_bytes, wal_bytes=stats.wal_bytes, free_bytes=free
    )
    stored = tr(
        "database {database} and write-ahead log {wal}",
        database=bytes_text(stats.database_bytes),
        wal=bytes_text(stats.wal_bytes),
    )
    if span_days < 1.0:  # a year's growth from minutes of data would be a guess, and wrong
        section.add(
            "ok",
            tr(
                "{stored}; {free} free; growth: too early to tell (less than a day)",
                stored=stored,
                free=bytes_text(free),
            ),
        )
        return
    per_day = size / span_days
    section.facts["bytes_per_day"] = round(per_day)
    text = tr(
        "{stored}: about {day} a day, {year} a year; {free} free",
        stored=stored,
        day=bytes_text(per_day),
        year=bytes_text(per_day * 365),
        free=bytes_text(free),
    )
    if free < per_day * 365:
        section.add(
            "warning",
            text,
            tr("less than a year of room: free space, or lower storage.retention_days"),
        )
    else:
        section.add("ok", text)


def _rollups(section: Section, config: Config, first: float, now: float, days: int) -> None:
    failed = rollup.last_rollup(config, failed=True)
    done = rollup.last_rollup(config)
    if failed and (not done or failed.get("name", "") >= done.get("name", "")):
        name = failed.get("name")
        section.add(
            "problem",
            tr("the roll-up of {name} failed: {why}", name=name, why=failed.get("error")),
            tr("run it by hand to see why: luxlogd rollup --date {name}", name=name),
        )
    latest = rollup.latest_rollup_date(config, dt.datetime.fromtimestamp(now, dt.UTC))
    first_whole_day = dt.datetime.fromtimestamp(first, dt.UTC).astimezone().date()
    kept = min(days, config.reports.retention_days)
    earliest = max(first_whole_day + dt.timedelta(days=1), latest - dt.timedelta(days=kept - 1))
    wanted = []
    day = earliest
    while day <= latest:
        wanted.append(day)
        day += dt.timedelta(days=1)
    have = set()
    for directory in config.report_dirs[:1]:
        try:
            names = [p.name for p in directory.iterdir()]
        except OSError:
            names = []
        have = {report_date(n) for n in names if "_daily." in n and "_now_" not in n}
    missing = [d for d in wanted if d not in have]
    section.facts["reports_missing"] = [d.isoformat() for d in missing]
    if not wanted:
        return
    if missing:
        shown = ", ".join(date_text(d) for d in missing[:5]) + (", ..." if len(missing) > 5 else "")
        section.add(
            "warning",
            tr(
                "{n} of the last {days} daily reports are missing: {list}",
                n=len(missing),
                days=len(wanted),
                list=shown,
            ),
            tr(
                "luxlogd rollup --date {day} writes one; is the roll-up timer on? "
                "systemctl list-timers luxlogd-rollup.timer",
                day=missing[-1],
            ),
        )
    else:
        section.add("ok", tr("the last {days} daily reports are there", days=len(wanted)))

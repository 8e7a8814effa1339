"""Roll-ups: daily and weekly reports and the daily summary, written atomically; cleanup.

A daily report named D covers [roll-up time of D-1, roll-up time of D) in local time: 24 h,
or 23/25 h across a DST change, so consecutive reports tile time and a poll exactly at the
roll-up time belongs to one report only (the one that starts then). The weekly report
named D covers the 7 such days ending then.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from luxlogd.base.errors import PeriodNotOverError, RollupError, StorageError
from luxlogd.base.files import atomic_file, write_atomically
from luxlogd.base.times import to_ms
from luxlogd.config import Config
from luxlogd.heatpump import sensors
from luxlogd.reports import export, stats
from luxlogd.reports.dta import write_dta
from luxlogd.reports.ledger import Ledger, reports_lock
from luxlogd.store.paths import (
    DATABASE_NAME,
    FAILED_ROLLUP_FILE,
    LAST_ROLLUP_FILE,
    PROGRESS_FILE,
    WAL_DIRECTORY,
)
from luxlogd.store.reader import Reader

logger = logging.getLogger("luxlogd.reports")  # its name in the journal (README)

RETRY_DELAY_S = 5.0


def rollup_time(config: Config, day: dt.date) -> dt.datetime:
    """The roll-up moment of `day` in local time (aware)."""
    hour, minute = (int(part) for part in config.reports.time.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute)).astimezone()


def latest_rollup_date(config: Config, now: dt.datetime) -> dt.date:
    """The date of the latest roll-up time that has passed at `now`."""
    day = now.astimezone().date()
    return day if rollup_time(config, day) <= now else day - dt.timedelta(days=1)


def period(config: Config, day: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    return rollup_time(config, day - dt.timedelta(days=days)), rollup_time(config, day)


@dataclass(frozen=True)
class Job:
    """One roll-up: the reports named `name` for periods ending at `end`."""

    name: str
    end: dt.datetime
    on_demand: bool = False


def _publish(source: Path, directories: Sequence[Path], name: str, ledger: Ledger) -> list[Path]:
    """Copy a finished file into every directory (atomically) and record it in the ledger."""
    written = []
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / name
        with atomic_file(target, "wb") as handle, open(source, "rb") as original:
            shutil.copyfileobj(original, handle)
        written.append(target)
    ledger.record(written)
    return written


def _peek(rows: Iterator[Any]) -> tuple[Any, Iterator[Any]] | None:
    """The first row and an iterator over all rows, or None when there are none."""
    for first in rows:
        return first, itertools.chain([first], rows)
    return None


def write_period_report(
    config: Config,
    reader: Reader,
    chosen: list[sensors.Field],
    start: dt.datetime,
    end: dt.datetime,
    name: str,
    scratch: Path,
    ledger: Ledger,
) -> list[Path]:
    """One report (all formats, all directories); [] with a warning when there is no data."""
    written: list[Path] = []
    readable = config.reports.headers == "readable"
    headers = [f.header(config.reports.headers, config.ui.language) for f in chosen]
    suffix = ".gz" if config.reports.compress else ""
    for fmt in config.reports.formats:
        people = readable and fmt != "dta"  # Stata keeps the integer seconds
        rows = export.decoded_rows(reader, chosen, to_ms(start), to_ms(end), readable=people)
        fmt_headers = [
            f"{f.label(config.ui.language)} (h)" if people and export.hours_for_people(f) else h
            for f, h in zip(chosen, headers, strict=True)
        ]
        peeked = _peek(rows)
        if peeked is None:
            logger.warning("no polls from %s to %s: %s skipped", start, end, name)
            return []
        _, rows = peeked
        file_name = f"{name}.{fmt}{suffix}"
        temporary = scratch / file_name
        with _open_report(temporary, binary=fmt == "dta") as handle:
            if fmt == "dta":
                write_dta(handle, chosen, headers, rows)
            else:
                export.write_export(rows, fmt_headers, handle, fmt)
        written += _publish(temporary, config.report_dirs, file_name, ledger)
        temporary.unlink()
    return written


def _open_report(path: Path, binary: bool) -> IO[Any]:
    """A report file being written; gzip-compressed when its name ends in .gz (mtime 0, so
    the same data makes the same bytes)."""
    if path.suffix == ".gz":
        raw = gzip.GzipFile(path, "wb", mtime=0)
        return cast(IO[Any], raw if binary else io.TextIOWrapper(raw, encoding="utf-8", newline=""))
    if binary:
        return open(path, "wb")  # noqa: SIM115 - the caller's with-block closes it
    return open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115


def summarize_day(
    reader: Reader, start: dt.datetime, end: dt.datetime, name: str, interval_s: float
) -> dict[str, Any] | None:
    """One summary row for [start, end), or None without polls."""
    figures = stats.period_figures(reader, to_ms(start), to_ms(end), name, interval_s)
    return figures.row() if figures.polls else None


def job_period(
    config: Config, job: Job, days: int, back: int = 0
) -> tuple[dt.datetime, dt.datetime]:
    """The `days` local days ending `back` days before the job's end."""
    if job.on_demand:
        end = job.end - dt.timedelta(days=back)
        return end - dt.timedelta(days=days), end
    day = dt.date.fromisoformat(job.name) - dt.timedelta(days=back)
    return period(config, day, days)


def write_summary(
    config: Config, reader: Reader, job: Job, scratch: Path, ledger: Ledger
) -> list[Path]:
    """`<name>_summary.csv(.gz)`: a row for each of the 7 days of the weekly period."""
    import csv

    rows = []
    for back in range(6, -1, -1):
        start, end = job_period(config, job, 1, back)
        # Named like the daily report of that period: by the date its roll-up time falls on.
        day = end.astimezone().date().isoformat()
        row = summarize_day(reader, start, end, day, config.poll.interval_s)
        if row is not None:
            rows.append(row)
    if not rows:
        return []
    file_name = f"{job.name}_summary.csv" + (".gz" if config.reports.compress else "")
    temporary = scratch / file_name
    readable = config.reports.headers == "readable"
    with _open_report(temporary, binary=False) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([stats.readable_header(k) if readable else k for k in stats.ROW_COLUMNS])
        for row in rows:
            writer.writerow(["" if row.get(k) is None else row[k] for k in stats.ROW_COLUMNS])
    written = _publish(temporary, config.report_dirs, file_name, ledger)
    temporary.unlink()
    return written


def run_job(config: Config, job: Job) -> list[Path]:
    """Write the daily, weekly and summary reports of `job`."""

    if not any((config.state_dir / name).exists() for name in (DATABASE_NAME, WAL_DIRECTORY)):
        logger.warning("no polls stored in %s yet", config.state_dir)
        return []
    scratch = Path(tempfile.mkdtemp(prefix=".rollup-", dir=config.state_dir))
    ledger = Ledger(config.state_dir)
    reader = Reader(config.state_dir)
    try:
        chosen = sensors.resolve_sensors(config.reports.sensors, reader.latest_lengths())
        written: list[Path] = []
        for kind, days in (("daily", 1), ("weekly", 7)):
            start, end = job_period(config, job, days)
            written += write_period_report(
                config, reader, chosen, start, end, f"{job.name}_{kind}", scratch, ledger
            )
        written += write_summary(config, reader, job, scratch, ledger)
    finally:
        reader.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return written


def rollup(
    config: Config,
    day: dt.date | None = None,
    on_demand: bool = False,
    now: dt.datetime | None = None,
    sleep: Any = time.sleep,
) -> list[Path]:
    """The `luxlogd rollup` command: finish an interrupted roll-up, then this one.

    Idempotent (files are replaced whole). Raise PeriodNotOverError when the period has not
    ended, RollupError when the roll-up failed twice, LockedError when another one runs.
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone()
    if on_demand:  # its own name: never over the scheduled reports of the same date
        job = Job(f"{now.date().isoformat()}_now", now, on_demand=True)
    else:
        if day is None:
            day = latest_rollup_date(config, now)
        end = rollup_time(config, day)
        if end > now:
            raise PeriodNotOverError(
                f"the roll-up time of {day} ({end:%Y-%m-%d %H:%M %Z}) has not passed yet"
            )
        job = Job(day.isoformat(), end)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    with reports_lock(config):
        try:
            written = _rollup_locked(config, job, sleep)
        except RollupError as error:
            write_atomically(
                config.state_dir / FAILED_ROLLUP_FILE,
                json.dumps({"name": job.name, "failed": time.time(), "error": str(error)}),
            )
            raise

    if written:
        logger.info("roll-up %s wrote files=%d", job.name, len(written))
    else:
        logger.warning("roll-up %s: no data, no reports written", job.name)
    return written


def _rollup_locked(config: Config, job: Job, sleep: Any) -> list[Path]:
    progress = config.state_dir / PROGRESS_FILE
    pending = _read_progress(progress)
    if pending is not None and pending != job:
        logger.info("completing the interrupted roll-up of %s", pending.name)
        try:
            done = _run_with_retry(config, pending, sleep)
            logger.info("roll-up %s (interrupted before) wrote files=%d", pending.name, len(done))
            _record_done(config, pending, len(done))
        except RollupError as error:
            logger.warning("the interrupted roll-up of %s is given up: %s", pending.name, error)
    write_atomically(
        progress,
        json.dumps({"name": job.name, "end": job.end.isoformat(), "on_demand": job.on_demand}),
    )
    written = _run_with_retry(config, job, sleep)
    progress.unlink(missing_ok=True)
    _record_done(config, job, len(written))
    return written


def _record_done(config: Config, job: Job, files: int) -> None:
    """Remember the newest scheduled roll-up done (an earlier date, or an on-demand one,
    never makes the internal schedule think the latest is missing)."""
    last = last_rollup(config) or {}
    record = {"name": job.name, "finished": time.time(), "files": files}
    if job.on_demand:  # said beside the scheduled one (`status`), never taken for it
        last["on_demand"] = record
    elif str(last.get("name", "")) > job.name:
        return
    else:
        last = {**record, **({"on_demand": last["on_demand"]} if "on_demand" in last else {})}
    write_atomically(config.state_dir / LAST_ROLLUP_FILE, json.dumps(last))


def last_rollup_name(config: Config) -> str | None:
    """The name (date) of the last finished roll-up, or None."""
    try:
        return str(json.loads((config.state_dir / LAST_ROLLUP_FILE).read_text())["name"])
    except (OSError, ValueError, KeyError):
        return None


def last_rollup(config: Config, failed: bool = False) -> dict[str, Any] | None:
    """The record of the last roll-up done (or, with `failed`, the last that failed)."""
    name = FAILED_ROLLUP_FILE if failed else LAST_ROLLUP_FILE
    try:
        return dict(json.loads((config.state_dir / name).read_text()))
    except (OSError, ValueError):
        return None


def _read_progress(path: Path) -> Job | None:
    try:
        data = json.loads(path.read_text())
        return Job(data["name"], dt.datetime.fromisoformat(data["end"]), data["on_demand"])
    except (OSError, ValueError, KeyError):
        return None


def _run_with_retry(config: Config, job: Job, sleep: Any) -> list[Path]:
    for attempt in (1, 2):
        try:
            return run_job(config, job)
        except (OSError, StorageError) as error:
            if attempt == 2:
                raise RollupError(f"roll-up {job.name} failed twice: {error}") from None
            logger.warning("roll-up %s failed, retrying once: %s", job.name, error)
            sleep(RETRY_DELAY_S)
    return []  # pragma: no cover

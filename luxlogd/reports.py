"""Roll-ups: daily and weekly reports and the daily summary, written atomically; cleanup.

A daily report named D covers [roll-up time of D-1, roll-up time of D) in local time: 24 h,
or 23/25 h across a DST change, so consecutive reports tile time and a poll exactly at the
roll-up time belongs to one report only (the one that starts then). The weekly report
named D covers the 7 such days ending then.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luxlogd import export, sensors
from luxlogd.chunks import series_id
from luxlogd.config import Config
from luxlogd.errors import PeriodNotOverError, RollupError, StorageError
from luxlogd.files import atomic_file, write_atomically
from luxlogd.housekeeping import Ledger, reports_lock
from luxlogd.reader import Reader

logger = logging.getLogger(__name__)

PROGRESS_FILE = "rollup-progress.json"
LAST_ROLLUP_FILE = "rollup-last.json"
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


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


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
    config: Config, reader: Reader, chosen: list[sensors.Field], start: dt.datetime,
    end: dt.datetime, name: str, scratch: Path, ledger: Ledger,
) -> list[Path]:  # fmt: skip
    """One report (all formats, all directories); [] with a warning when there is no data."""
    written: list[Path] = []
    names = [f.name for f in chosen]
    for fmt in config.reports.formats:
        rows = export.decoded_rows(reader, chosen, _ms(start), _ms(end))
        peeked = _peek(rows)
        if peeked is None:
            logger.warning("no polls from %s to %s: %s skipped", start, end, name)
            return []
        _, rows = peeked
        temporary = scratch / f"{name}.{fmt}"
        if fmt == "dta":
            write_dta(temporary, names, rows)
        else:
            with open(temporary, "w", encoding="utf-8", newline="") as handle:
                export.write_export(rows, names, handle, fmt)
        written += _publish(temporary, config.report_dirs, f"{name}.{fmt}", ledger)
        temporary.unlink()
    return written


def write_dta(path: Path, names: list[str], rows: Iterator[tuple[int, list[Any]]]) -> None:
    """Stata file through pandas (the optional extra `luxlogd[dta]`)."""
    try:
        import pandas
    except ImportError:
        raise RollupError(
            "reports.formats has dta, which needs pandas: pip install 'luxlogd[dta]'"
        ) from None
    records = []
    for ts_ms, values in rows:
        records.append([export.format_timestamp(ts_ms), *values])
    frame = pandas.DataFrame.from_records(records, columns=["timestamp", *names])
    renamed: dict[str, str] = {}
    for column in frame.columns:
        stata = re.sub(r"[^A-Za-z0-9_]", "_", column)[:32]
        while stata in renamed.values():
            stata = stata[:29] + f"_{len(renamed) % 100:02d}"
        renamed[column] = stata
    frame = frame.rename(columns=renamed)
    for column in frame.columns:
        if frame[column].dtype == bool:
            frame[column] = frame[column].astype("int8")
        elif frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: "" if v is None else str(v))
    frame.to_stata(path, write_index=False, version=118,
                   variable_labels={v: k[:80] for k, v in renamed.items()})  # fmt: skip


SUMMARY_TEMPERATURES = {
    "flow": ("calculations", 10),
    "return": ("calculations", 11),
    "outdoor": ("calculations", 15),
    "hot_water": ("calculations", 17),
}
COUNTERS = {
    "compressor_starts": (("calculations", 57), 1.0),
    "compressor_hours": (("calculations", 56), 1 / 3600),
    "heat_heating_kwh": (("calculations", 151), 0.1),
    "heat_hot_water_kwh": (("calculations", 152), 0.1),
    "heat_total_kwh": (("calculations", 154), 0.1),
    # Electric energy: parameters 1136-1139 on firmware that has them (0.01 kWh, not in
    # luxtronik 0.3.14's tables); 1139 is the total here.
    "electric_kwh": (("parameters", 1139), 0.01),
}
OPERATION_MODE = ("calculations", 80)
MODE_HOT_WATER, MODE_DEFROST = 1, 4
ERROR_TIMES, ERROR_CODES = range(95, 100), range(100, 105)
SWITCHOFF_TIMES, SWITCHOFF_CODES = range(111, 116), range(106, 111)
SUMMARY_COLUMNS = (
    ["date", "polls"]
    + [f"{name}_{stat}_c" for name in SUMMARY_TEMPERATURES for stat in ("min", "mean", "max")]
    + list(COUNTERS)
    + ["cop", "hot_water_cycles", "defrosts", "errors", "switch_offs"]
)


def counter_delta(values: Sequence[int | None]) -> int | None:
    """Growth of a counter; a drop (reset, controller swap) counts from zero again."""
    present = [v for v in values if v is not None]
    if len(present) < 2:
        return None
    total = 0
    for before, after in zip(present, present[1:], strict=False):
        total += after - before if after >= before else after
    return total


def summarize_day(
    reader: Reader, start: dt.datetime, end: dt.datetime, name: str
) -> dict[str, Any] | None:
    """One summary row for [start, end), or None without polls."""
    temperatures = list(SUMMARY_TEMPERATURES.values())
    counters = [spec for spec, _ in COUNTERS.values()]
    logs = [("calculations", i) for i in (*ERROR_TIMES, *ERROR_CODES, *SWITCHOFF_TIMES,
                                          *SWITCHOFF_CODES)]  # fmt: skip
    wanted = [*temperatures, *counters, OPERATION_MODE, *logs]
    ids = [series_id(group, index) for group, index in wanted]
    columns: list[list[Any]] = [[] for _ in ids]
    count = 0
    for _, _, values in reader.polls(_ms(start), _ms(end), ids):
        count += 1
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    if not count:
        return None
    row: dict[str, Any] = {"date": name, "polls": count}
    for position, label in enumerate(SUMMARY_TEMPERATURES):
        present = [v / 10 for v in columns[position] if v is not None]
        row[f"{label}_min_c"] = min(present) if present else None
        row[f"{label}_mean_c"] = round(sum(present) / len(present), 2) if present else None
        row[f"{label}_max_c"] = max(present) if present else None
    offset = len(temperatures)
    for position, (label, (_, scale)) in enumerate(COUNTERS.items()):
        delta = counter_delta(columns[offset + position])
        if delta is None:
            row[label] = None
        else:
            row[label] = delta if scale == 1 else round(delta * scale, 3)
    heat, electric = row["heat_total_kwh"], row["electric_kwh"]
    row["cop"] = round(heat / electric, 2) if heat and electric else None
    modes = columns[offset + len(counters)]
    present_modes = [m for m in modes if m is not None]
    transitions = list(zip(present_modes, present_modes[1:], strict=False))
    row["hot_water_cycles"] = sum(1 for a, b in transitions if b == MODE_HOT_WATER != a)
    row["defrosts"] = sum(1 for a, b in transitions if b == MODE_DEFROST != a)
    base = offset + len(counters) + 1
    row["errors"] = _log_entries(columns, base, ERROR_TIMES, ERROR_CODES, start, end)
    switchoff_base = base + 2 * len(ERROR_TIMES)
    row["switch_offs"] = _log_entries(columns, switchoff_base, SWITCHOFF_TIMES, SWITCHOFF_CODES,
                                      start, end)  # fmt: skip
    return row


def _log_entries(columns: list[list[Any]], base: int, times: range, codes: range,
                 start: dt.datetime, end: dt.datetime) -> str:  # fmt: skip
    """Entries of the controller's error/switch-off log stamped inside the period."""
    seen: set[tuple[int, int]] = set()
    slots = len(times)
    for time_column, code_column in zip(columns[base : base + slots],
                                        columns[base + slots : base + 2 * slots],
                                        strict=True):  # fmt: skip
        for stamp, code in zip(time_column, code_column, strict=True):
            if stamp and code is not None and start.timestamp() <= stamp < end.timestamp():
                seen.add((stamp, code))
    return " ".join(
        f"{code}@{dt.datetime.fromtimestamp(stamp, dt.UTC).astimezone():%H:%M}"
        for stamp, code in sorted(seen)
    )


def job_period(
    config: Config, job: Job, days: int, back: int = 0
) -> tuple[dt.datetime, dt.datetime]:
    """The `days` local days ending `back` days before the job's end."""
    if job.on_demand:
        end = job.end - dt.timedelta(days=back)
        return end - dt.timedelta(days=days), end
    day = dt.date.fromisoformat(job.name) - dt.timedelta(days=back)
    return period(config, day, days)


def write_summary(config: Config, reader: Reader, job: Job, scratch: Path,
                  ledger: Ledger) -> list[Path]:  # fmt: skip
    """`<name>_summary.csv`: a row for each of the 7 days of the weekly period."""
    import csv

    rows = []
    for back in range(6, -1, -1):
        start, end = job_period(config, job, 1, back)
        # Named like the daily report of that period: by the date its roll-up time falls on.
        row = summarize_day(reader, start, end, end.astimezone().date().isoformat())
        if row is not None:
            rows.append(row)
    if not rows:
        return []
    temporary = scratch / f"{job.name}_summary.csv"
    with open(temporary, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, SUMMARY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    written = _publish(temporary, config.report_dirs, f"{job.name}_summary.csv", ledger)
    temporary.unlink()
    return written


def run_job(config: Config, job: Job) -> list[Path]:
    """Write the daily, weekly and summary reports of `job`."""
    from luxlogd.reader import DATABASE_NAME, WAL_DIRECTORY

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
            written += write_period_report(config, reader, chosen, start, end,
                                           f"{job.name}_{kind}", scratch, ledger)  # fmt: skip
        written += write_summary(config, reader, job, scratch, ledger)
    finally:
        reader.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return written


def rollup(config: Config, day: dt.date | None = None, on_demand: bool = False,
           now: dt.datetime | None = None, sleep: Any = time.sleep) -> list[Path]:  # fmt: skip
    """The `luxlogd rollup` command: finish an interrupted roll-up, then this one.

    Idempotent (files are replaced whole). Raise RollupError when the period has not ended
    or the roll-up failed twice.
    """
    now = (now or dt.datetime.now(dt.UTC)).astimezone()
    if on_demand:
        job = Job(now.date().isoformat(), now, on_demand=True)
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
        written = _rollup_locked(config, job, sleep)

    if written:
        logger.info("roll-up %s wrote files=%d", job.name, len(written))
    else:
        logger.warning("roll-up %s: no data, no reports written", job.name)
    return written


def _rollup_locked(config: Config, job: Job, sleep: Any) -> list[Path]:
    progress = config.state_dir / PROGRESS_FILE
    written: list[Path] = []
    pending = _read_progress(progress)
    if pending is not None and pending != job:
        logger.info("completing the interrupted roll-up of %s", pending.name)
        written += _run_with_retry(config, pending, sleep)
    write_atomically(progress, json.dumps({"name": job.name, "end": job.end.isoformat(),
                                           "on_demand": job.on_demand}))  # fmt: skip
    written += _run_with_retry(config, job, sleep)
    progress.unlink(missing_ok=True)
    write_atomically(
        config.state_dir / LAST_ROLLUP_FILE,
        json.dumps({"name": job.name, "finished": time.time(), "files": len(written)}),
    )
    return written


def last_rollup_name(config: Config) -> str | None:
    """The name (date) of the last finished roll-up, or None."""
    try:
        return str(json.loads((config.state_dir / LAST_ROLLUP_FILE).read_text())["name"])
    except (OSError, ValueError, KeyError):
        return None


def last_rollup(config: Config) -> dict[str, Any] | None:
    try:
        return dict(json.loads((config.state_dir / LAST_ROLLUP_FILE).read_text()))
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

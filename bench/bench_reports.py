"""Roll-up speed: a daily report of 2,880 polls and a weekly one of 20,160, all calculations.

Eight simulated days of 30 s polls are stored first; the reports are then written as the
timer would (default sensors: every calculation; CSV; one output directory).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

from bench_storage import generate
from common import Figure

from luxlogd.config import load_config
from luxlogd.heatpump import sensors
from luxlogd.reports import rollup
from luxlogd.reports.ledger import Ledger
from luxlogd.store.reader import Reader
from luxlogd.store.writer import Storage


def run(quick: bool) -> list[Figure]:
    work = Path(tempfile.mkdtemp(prefix="luxlogd-bench-reports-"))
    try:
        config = load_config(None, environ={"LUXLOGD_STORAGE_STATE_DIR": str(work / "state")})
        days = 8
        polls = list(generate(days * 2880))
        with Storage(config.state_dir, fdatasync=lambda fd: None) as storage:
            for poll in polls:
                storage.append(poll)
        end_day = dt.datetime.fromtimestamp(polls[-1].ts_ms / 1000).astimezone().date()
        job = rollup.Job(end_day.isoformat(), rollup.rollup_time(config, end_day))
        reader = Reader(config.state_dir)
        chosen = sensors.resolve_sensors(config.reports.sensors, reader.latest_lengths())
        scratch = work / "scratch"
        scratch.mkdir()
        ledger = Ledger(config.state_dir)
        figures = []
        for kind, span, goal in (("daily", 1, 1.0), ("weekly", 7, 5.0)):
            if quick and kind == "weekly":
                continue
            start, end = rollup.job_period(config, job, span)
            started = time.perf_counter()
            written = rollup.write_period_report(
                config, reader, chosen, start, end, f"bench_{kind}", scratch, ledger
            )
            seconds = time.perf_counter() - started
            rows = sum(1 for _ in open(written[0])) - 1
            figures.append(
                Figure(
                    f"reports: {kind} roll-up, {rows:,} polls x {len(chosen)} calculations",
                    seconds,
                    "s",
                    goal=goal,
                )
            )
        started = time.perf_counter()
        summary = rollup.write_summary(config, reader, job, scratch, ledger)
        figures.append(Figure("reports: summary of 7 days", time.perf_counter() - started, "s"))
        figures += _sizes(config, reader, job, scratch, ledger, summary[0].stat().st_size)
        reader.close()
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)


# Each choice: its name, reports.sensors, headers, format, compress.
SIZE_CHOICES = [
    ("every calculation, CSV (built-in default)", ("calculations",), "raw", "csv", False),
    ("every calculation, JSON", ("calculations",), "raw", "json", False),
    ("well-known, readable CSV (new configurations)", ("well-known",), "readable", "csv", False),
    ("well-known, readable CSV, gzip", ("well-known",), "readable", "csv", True),
    ("every calculation, CSV, gzip", ("calculations",), "raw", "csv", True),
]


def _sizes(config, reader, job, scratch, ledger, summary_bytes):
    """Bytes of a daily report per choice, and what reports.retention_days (30) of daily and
    weekly reports and summaries cost on disk (a weekly report is seven daily ones)."""
    import dataclasses

    figures = []
    start, end = rollup.job_period(config, job, 1)
    for name, chosen_sensors, headers, fmt, compress in SIZE_CHOICES:
        choice = dataclasses.replace(
            config,
            reports=dataclasses.replace(
                config.reports,
                sensors=chosen_sensors,
                headers=headers,
                formats=(fmt,),
                compress=compress,
            ),
        )
        chosen = sensors.resolve_sensors(chosen_sensors, reader.latest_lengths())
        written = rollup.write_period_report(
            choice, reader, chosen, start, end, f"size_{len(figures)}", scratch, ledger
        )
        daily = written[0].stat().st_size
        kept = 30 * (8 * daily + summary_bytes)
        figures.append(
            Figure(
                f"reports: a daily report, {name}",
                daily / 1e6,
                "MB",
                note=f"30 days kept: {kept / 1e6:,.0f} MB",
            )
        )
    return figures

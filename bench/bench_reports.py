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

from luxlogd import reports, sensors
from luxlogd.config import load_config
from luxlogd.housekeeping import Ledger
from luxlogd.reader import Reader
from luxlogd.storage import Storage


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
        job = reports.Job(end_day.isoformat(), reports.rollup_time(config, end_day))
        reader = Reader(config.state_dir)
        chosen = sensors.resolve_sensors(config.reports.sensors, reader.latest_lengths())
        scratch = work / "scratch"
        scratch.mkdir()
        ledger = Ledger(config.state_dir)
        figures = []
        for kind, span, goal in (("daily", 1, 1.0), ("weekly", 7, 5.0)):
            if quick and kind == "weekly":
                continue
            start, end = reports.job_period(config, job, span)
            started = time.perf_counter()
            written = reports.write_period_report(config, reader, chosen, start, end,
                                                  f"bench_{kind}", scratch, ledger)  # fmt: skip
            seconds = time.perf_counter() - started
            rows = sum(1 for _ in open(written[0])) - 1
            figures.append(Figure(f"reports: {kind} roll-up, {rows:,} polls x {len(chosen)} "
                                  "calculations", seconds, "s", goal=goal))  # fmt: skip
        started = time.perf_counter()
        reports.write_summary(config, reader, job, scratch, ledger)
        figures.append(Figure("reports: summary of 7 days", time.perf_counter() - started, "s"))
        reader.close()
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)

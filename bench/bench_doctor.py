"""`luxlogd doctor` on a year of data: how long its data sections take (the issue asks for a
few seconds), with and without --full.

The year (30 s polls of the simulator's thermal model, V3.88 arrays) is built through the
database layer as in bench_storage; a day of it is left in the write-ahead log's place (the
hot table), as on a running system.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from bench_storage import START_S, STEP_S, generate
from common import Figure

from luxlogd import doctor
from luxlogd.config import load_config
from luxlogd.doctor import report as doctor_report
from luxlogd.store.database import Database


def build(state: Path, days: int) -> None:
    state.mkdir(parents=True)
    store = Database(state / "luxlogd.sqlite", commit_every=2880)
    for seq, poll in enumerate(generate(days * 2880), start=1):
        store.insert(seq, poll)
    store.commit()
    store.close()


def run(quick: bool) -> list[Figure]:
    days = 30 if quick else 365
    work = Path(tempfile.mkdtemp(prefix="luxlogd-bench-doctor-"))
    try:
        state = work / "state"
        build(state, days)
        config_path = work / "luxlogd.toml"
        config_path.write_text(
            f'[storage]\nstate_dir = "{state}"\n[reports]\noutput_dirs = ["{work / "reports"}"]\n'
        )
        config = load_config(config_path)
        now = START_S + days * 2880 * STEP_S + 10
        figures = []
        for full in (False, True):
            started = time.perf_counter()
            report = doctor.run(config, heat_pump=False, days=14, full=full, now=now)
            took = time.perf_counter() - started
            verdicts = {s.name: s.verdict for s in report.sections}
            assert verdicts["integrity"] == "ok", doctor_report.format_text(report)
            assert report.sections[0].facts["polls"] == days * 2880
            figures.append(
                Figure(
                    f"doctor: data sections, {days} days of polls" + (", --full" if full else ""),
                    took,
                    "s",
                    goal=None if full else 5.0,
                )
            )
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)

"""The daemon's footprint: RSS after a day of polls (2,880) and CPU per poll.

The daemon runs in its own process on a virtual clock, so it polls back to back; the
simulator runs in another process, so its CPU does not count. The run crosses midnight UTC,
so a day is sealed on the way (quick runs too). CPU per poll covers the read (sockets,
parsing), the WAL append with its fdatasync, the SQLite insert and that seal; no roll-up
or web thread runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_client import start_simulator
from common import Figure

HERE = Path(__file__).resolve().parent


def run(quick: bool) -> list[Figure]:
    polls = 300 if quick else 2880
    simulator, port = start_simulator()
    state = Path(tempfile.mkdtemp(prefix="luxlogd-bench-daemon-"))
    try:
        result = subprocess.run(
            [
                sys.executable,
                str(HERE / "daemon_runner.py"),
                "127.0.0.1",
                str(port),
                str(state),
                str(polls),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        simulator.terminate()
        simulator.wait()
        shutil.rmtree(state, ignore_errors=True)
    assert figures["polls_ok"] == polls, figures
    assert figures["days_sealed"] >= 1, figures
    return [
        Figure(
            f"daemon: RSS after {polls} polls",
            figures["rss_kib"] / 1024,
            "MiB",
            goal=30,
            note=f"peak {figures['maxrss_kib'] / 1024:.1f} MiB",
        ),
        Figure(
            "daemon: CPU per poll (read, WAL + fsync, SQLite, a day sealed)",
            figures["cpu_ms_per_poll"],
            "ms",
        ),
    ]

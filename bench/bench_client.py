"""Read + decode of a full snapshot: our client vs luxtronik 0.3.14, same simulator, same run.

The simulator runs in its own process (luxlogd simulate), so its CPU does not count against
either client; the two clients alternate so machine noise hits both alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import luxtronik
from common import Figure

from luxlogd.heatpump.client import HeatPumpClient


def start_simulator() -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "luxlogd", "simulate", "--port", "0", "--profile", "V3.88"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, int(line.split()[4].rsplit(":", 1)[1])


def run(quick: bool) -> list[Figure]:
    rounds = 30 if quick else 300
    process, port = start_simulator()
    try:
        client = HeatPumpClient("127.0.0.1", port, timeout_s=5, retries=0)
        ours, theirs = [], []
        for _ in range(10):  # warm up both paths
            client.read().decode()
            luxtronik.Luxtronik("127.0.0.1", port)
        for _ in range(rounds):
            started = time.perf_counter()
            values = client.read().decode()
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            luxtronik.Luxtronik("127.0.0.1", port)
            theirs.append(time.perf_counter() - started)
        assert len(values) > 1700
    finally:
        process.terminate()
        process.wait()
    ours_ms = statistics.median(ours) * 1000
    theirs_ms = statistics.median(theirs) * 1000
    return [
        Figure("client: read + decode, luxlogd", ours_ms, "ms", note="median"),
        Figure("client: read + parse, luxtronik 0.3.14", theirs_ms, "ms", note="median"),
        Figure(
            "client: speed-up over luxtronik",
            theirs_ms / ours_ms,
            "x",
            goal=4,
            higher_is_better=True,
        ),
    ]

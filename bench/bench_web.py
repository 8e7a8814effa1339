"""The web server under load: 50 clients reading a year, while the daemon keeps polling.

A year (a month with --quick) of simulated polls is stored first; then `luxlogd run` polls a
simulator every second and serves the web UI, and 50 client threads ask for a year of one
sensor (2,000 points) and a month of daily summaries, as fast as they are answered. Reported:
the daemon's RSS before and at its peak, the polls it stored meanwhile against the ones due,
and how the requests were answered.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench_client import start_simulator
from bench_storage import START_S, generate
from common import Figure

from luxlogd.store.database import Database

CLIENTS = 50


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def build(state: Path, days: int) -> None:
    state.mkdir(parents=True)
    database = Database(state / "luxlogd.sqlite", commit_every=2880)
    for seq, poll in enumerate(generate(days * 2880), start=1):
        database.insert(seq, poll)
    database.seal_all()
    database.close()


def polls_ok(runtime: Path) -> int:
    try:
        return int(json.loads((runtime / "status.json").read_text())["polls_ok"])
    except (OSError, ValueError, KeyError):
        return 0


def run(quick: bool) -> list[Figure]:
    days = 30 if quick else 365
    load_s = 10 if quick else 30
    work = Path(tempfile.mkdtemp(prefix="luxlogd-bench-web-"))
    simulator, port = start_simulator()
    try:
        state, runtime = work / "state", work / "run"
        build(state, days)
        web_port = free_port()
        config = work / "luxlogd.toml"
        config.write_text(
            f'[heatpump]\nhost = "127.0.0.1"\nport = {port}\ntimeout_s = 5\n'
            f'[poll]\ninterval_s = 1\n[storage]\nstate_dir = "{state}"\n'
            f'[web]\nlisten = "127.0.0.1:{web_port}"\n[schedule]\ninternal = false\n'
        )
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "luxlogd",
                "--config",
                str(config),
                "--log-level",
                "warning",
                "run",
            ],
            env=dict(os.environ, RUNTIME_DIRECTORY=str(runtime)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{web_port}"
            for _ in range(100):
                if polls_ok(runtime) >= 2:
                    break
                time.sleep(0.1)
            start = time.strftime("%Y-%m-%d", time.localtime(START_S))
            end = time.strftime("%Y-%m-%d", time.localtime(START_S + days * 86400))
            series = (
                f"{base}/api/series?sensor=ID_WEB_Temperatur_TVL&from={start}&to={end}&points=2000"
            )
            started = time.perf_counter()
            urllib.request.urlopen(f"{base}/api/summary?days=31", timeout=60).read()
            summary_first_s = time.perf_counter() - started
            started = time.perf_counter()
            urllib.request.urlopen(f"{base}/api/summary?days=31", timeout=60).read()
            summary_cached_s = time.perf_counter() - started
            idle_rss = rss_kib(daemon.pid)
            answers: dict[int, int] = {}
            latencies: list[float] = []
            stop = threading.Event()

            def client() -> None:
                while not stop.is_set():
                    asked = time.perf_counter()
                    try:
                        with urllib.request.urlopen(series, timeout=60) as response:
                            response.read()
                            code = response.status
                    except urllib.error.HTTPError as error:
                        code = error.code
                    except OSError:
                        code = 0
                    latencies.append(time.perf_counter() - asked)
                    answers[code] = answers.get(code, 0) + 1

            before = polls_ok(runtime)
            threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            peak = idle_rss
            while time.monotonic() - began < load_s:
                peak = max(peak, rss_kib(daemon.pid))
                time.sleep(0.2)
            stop.set()
            for thread in threads:
                thread.join(70)
            elapsed = time.monotonic() - began
            stored = polls_ok(runtime) - before
        finally:
            daemon.terminate()
            daemon.wait(15)
    finally:
        simulator.terminate()
        simulator.wait()
        shutil.rmtree(work, ignore_errors=True)
    ok = answers.get(200, 0)
    due = int(elapsed) + 1  # ticks of a 1 s clock in a window of that length, at most
    return [
        Figure(f"web: daemon RSS, idle, {days} days of data", idle_rss / 1024, "MiB"),
        Figure(
            f"web: daemon RSS peak, {CLIENTS} clients reading {days} days",
            peak / 1024,
            "MiB",
            goal=48,
        ),
        Figure(
            f"web: polls stored under that load (1 s interval, {elapsed:.0f} s)",
            100 * stored / due,
            "%",
            goal=95,
            higher_is_better=True,
            note=f"{stored} of {due}",
        ),
        Figure(
            f"web: requests answered 200 / 503 in {elapsed:.0f} s",
            ok,
            "",
            note=f"{answers.get(503, 0)} turned away, median "
            f"{statistics.median(latencies) * 1000:.0f} ms",
        ),
        Figure(
            "web: /api/summary?days=31, first / cached",
            summary_first_s * 1000,
            "ms",
            note=f"cached {summary_cached_s * 1000:.0f} ms",
        ),
    ]

"""Statistics speed: a heating season of polls, every figure by day and month, and the page's
two performance charts for it.

174 days of 30 s polls (about 500,000; 14 days with --quick) of the simulator's model are
stored and sealed first. Then, side by side in one run: the season's statistics (every day
computed from the stored polls: temperatures, counters, figures by mode, cycling) in one
process and as `luxlogd stats` computes them (a process per core, at most four), and
the web server's /api/stats?season and /api/heating-curve?season: asked of a server that
computes nothing ahead (the first answer computes every day, the second takes them from the
cache), and asked of the daemon's server once it has computed the season ahead (its
background thread starts at once here, after 5 s in the daemon).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_storage import START_S
from bench_web import build
from common import Figure

from luxlogd.base.times import local_midnight_ms
from luxlogd.cli.data import stats_workers
from luxlogd.config import load_config
from luxlogd.heatpump.poll import Poll
from luxlogd.outputs.web import app
from luxlogd.outputs.web.app import WebServer
from luxlogd.reports import stats
from luxlogd.store.reader import Reader


class Provider:
    """The running daemon as the web server sees it: enough for the data endpoints."""

    def __init__(self, poll: Poll | None) -> None:
        self.poll = poll

    def status(self) -> dict[str, object]:
        return {"polls_ok": 1, "reachable": True, "storage_ok": True, "last_success": time.time()}

    def latest_poll(self) -> Poll | None:
        return self.poll


def fetch(url: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as answer:
        body = json.loads(answer.read())
    return time.perf_counter() - started, body


def run(quick: bool) -> list[Figure]:
    days = 14 if quick else 174
    work = Path(tempfile.mkdtemp(prefix="luxlogd-bench-stats-"))
    try:
        state = work / "state"
        build(state, days)
        first = dt.datetime.fromtimestamp(START_S).astimezone().date() + dt.timedelta(days=1)
        environ = {
            "LUXLOGD_STORAGE_STATE_DIR": str(state),
            "LUXLOGD_STATS_SEASON_START": first.strftime("%m-%d"),
            "LUXLOGD_WEB_LISTEN": "127.0.0.1:0",
        }
        config = load_config(None, environ=environ)
        end = first + dt.timedelta(days=days - 1)  # whole days only
        now_ms = int(time.time() * 1000)
        workers = stats_workers()
        with Reader(state) as reader:
            started = time.perf_counter()
            _, season = stats.calendar_figures(reader, first, end, "month", now_ms, None, 30)
            alone = time.perf_counter() - started
            started = time.perf_counter()
            _, again = stats.calendar_figures(
                reader, first, end, "month", now_ms, None, 30, workers=workers
            )
            seconds = time.perf_counter() - started
            newest = reader.latest()
        assert again.row() == season.row()  # the processes compute the same figures
        polls = f"{season.polls:,} polls ({days - 1} days)"
        figures = [
            Figure(
                f"stats: a season, {polls}, one process",
                alone,
                "s",
                note=f"{alone / (days - 1) * 1000:.0f} ms a day",
            ),
            Figure(
                f"luxlogd stats --season: {polls}, {workers} processes",
                seconds,
                "s",
                goal=5.0,
            ),
        ]
        year = first.year
        paths = (
            (f"/api/stats?season={year}", "stats and the COP chart"),
            (f"/api/heating-curve?season={year}", "the heating curve"),
        )
        # The servers' "now": early on the day after the season's last whole day.
        now_s = local_midnight_ms(end) / 1000 + 7200

        def clock() -> float:
            return now_s

        app.WARM_AFTER_S = 1e9  # a server that computes nothing ahead: each request computes
        server = WebServer(config, Provider(newest), clock)  # type: ignore[arg-type]
        host, port = server.start()
        try:
            for path, name in paths:
                cold, body = fetch(f"http://{host}:{port}{path}")
                warm, _ = fetch(f"http://{host}:{port}{path}")
                assert body, path
                figures.append(Figure(f"web: {name} of the season, first / cached", cold, "s"))
                figures[-1].note = f"then {warm * 1000:.0f} ms"
        finally:
            server.stop()
        app.WARM_AFTER_S = 0.0  # the daemon's server: the season's finished days ahead
        server = WebServer(config, Provider(newest), clock)  # type: ignore[arg-type]
        started = time.perf_counter()
        host, port = server.start()
        try:
            httpd = server.httpd
            assert httpd is not None
            while True:
                with httpd.cache_lock:
                    kinds = [key[0] for key in httpd.cache]
                if kinds.count("curve") >= days - 1 and kinds.count("day") >= days - 1:
                    break
                time.sleep(0.05)
            ahead = time.perf_counter() - started
            figures.append(Figure("web: the season computed ahead after a start", ahead, "s"))
            for path, name in paths:
                opened, _ = fetch(f"http://{host}:{port}{path}")
                figures.append(
                    Figure(f"web: {name} of the season, computed ahead", opened, "s", goal=1.0)
                )
        finally:
            server.stop()
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)

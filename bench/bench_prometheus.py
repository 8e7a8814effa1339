"""What one heat pump costs a Prometheus: series, samples per scrape, scrape time, and bytes
per sample once the samples are compacted into a TSDB block.

One `luxlogd run` polls a simulator every second; Debian's Prometheus scrapes it every
second with 1-minute blocks (a hidden flag of Prometheus 2.x), so a block is compacted within
about three minutes; its meta.json counts samples, its files are the bytes on disk. Skipped
(with a note) where prometheus is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench_client import start_simulator
from bench_web import free_port
from common import Figure


def query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        return list(json.loads(response.read())["data"]["result"])


def run(quick: bool) -> list[Figure]:
    if not shutil.which("prometheus"):
        return [Figure("prometheus: not installed, skipped", 0, "")]
    work = Path(tempfile.mkdtemp(prefix="luxlogd-bench-prometheus-"))
    simulator, sim_port = start_simulator()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        web_port, port = free_port(), free_port()
        config = work / "luxlogd.toml"
        config.write_text(
            f'[heatpump]\nhost = "127.0.0.1"\nport = {sim_port}\ntimeout_s = 5\n'
            f'[poll]\ninterval_s = 1\n[storage]\nstate_dir = "{work / "state"}"\n'
            f'[web]\nlisten = "127.0.0.1:{web_port}"\n[schedule]\ninternal = false\n'
        )
        processes.append(
            subprocess.Popen(
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
                env=dict(os.environ, RUNTIME_DIRECTORY=str(work / "run")),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        (work / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: luxlogd\n"
            f"  static_configs:\n  - targets: ['127.0.0.1:{web_port}']\n"
        )
        processes.append(
            subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={work / 'prometheus.yml'}",
                    f"--storage.tsdb.path={work / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.min-block-duration=1m",
                    "--storage.tsdb.max-block-duration=1m",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        blocks: list[Path] = []
        deadline = time.monotonic() + (240 if quick else 480)
        while time.monotonic() < deadline and len(blocks) < 2:  # the first one is partial
            time.sleep(5)
            blocks = sorted(p.parent for p in (work / "tsdb").glob("*/meta.json"))
        series = query(port, 'count({job="luxlogd"})')
        samples = query(port, "scrape_samples_scraped")
        duration = query(port, "scrape_duration_seconds")
        figures = [
            Figure("prometheus: series per heat pump", float(series[0]["value"][1]), "", goal=200),
            Figure("prometheus: samples per scrape", float(samples[0]["value"][1]), ""),
            Figure("prometheus: scrape of /metrics", float(duration[0]["value"][1]) * 1000, "ms"),
        ]
        if blocks:
            block = blocks[-1]
            meta = json.loads((block / "meta.json").read_text())
            chunks = sum(p.stat().st_size for p in (block / "chunks").iterdir())
            index = (block / "index").stat().st_size
            per_sample = chunks / meta["stats"]["numSamples"]
            figures.append(
                Figure(
                    "prometheus: TSDB bytes per sample (chunks of a block)",
                    per_sample,
                    "B",
                    note=f"{meta['stats']['numSamples']:,} "
                    f"samples; index {index / 1000:.0f} KB per block",
                )
            )
            year = float(samples[0]["value"][1]) * 86400 * 365 / 30 * per_sample
            figures.append(
                Figure("prometheus: a heat pump for a year, 30 s scrapes", year / 1e6, "MB")
            )
        return figures
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)
        simulator.terminate()
        simulator.wait()
        shutil.rmtree(work, ignore_errors=True)

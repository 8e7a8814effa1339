"""Run the daemon for N polls on a virtual clock (no waiting) and print its RSS and CPU.

Usage: python bench/daemon_runner.py HOST PORT STATE_DIR POLLS

Poll times follow the virtual clock from 23:00 UTC on, so a run of more than an hour of
polls crosses midnight and seals a day (the path a real daemon takes once a day). The web
server and the internal schedule are off: the CPU measured is the poll loop's own.
"""

import dataclasses
import json
import os
import resource
import sys
import time

from luxlogd.config import load_config
from luxlogd.daemon.service import Service
from luxlogd.heatpump.client import HeatPumpClient

START_S = 1_795_820_400.0  # 2026-11-26 23:00 UTC


class VirtualTimeClient:
    """The real client against the simulator; its polls are stamped with virtual time."""

    def __init__(self, client, virtual):
        self.client = client
        self.virtual = virtual

    def read(self, budget_s=None):
        poll = self.client.read(budget_s)
        return dataclasses.replace(poll, ts_ms=int((START_S + self.virtual[0]) * 1000))


class Notifier:
    def notify(self, message):
        pass


def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def days_sealed(state_dir):
    import sqlite3

    db = sqlite3.connect(os.path.join(state_dir, "luxlogd.sqlite"))
    try:
        return db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    finally:
        db.close()


def main():
    host, port, state_dir, polls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    os.environ["LUXLOGD_HEATPUMP_HOST"] = host
    os.environ["LUXLOGD_HEATPUMP_PORT"] = port
    os.environ["LUXLOGD_STORAGE_STATE_DIR"] = state_dir
    os.environ["LUXLOGD_WEB_ENABLED"] = "false"
    os.environ["LUXLOGD_SCHEDULE_INTERNAL"] = "false"
    virtual = [0.0]
    config = load_config(None)
    service = Service(
        config,
        timefunc=lambda: virtual[0],
        delayfunc=lambda s: virtual.__setitem__(0, virtual[0] + max(0.0, s)),
        wallclock=lambda: START_S + virtual[0],
        notifier=Notifier(),
        max_polls=polls,
    )
    service.client = VirtualTimeClient(HeatPumpClient.from_config(config.heatpump), virtual)
    before = time.process_time()
    started = time.perf_counter()
    service.run()
    cpu = time.process_time() - before
    print(
        json.dumps(
            {
                "rss_kib": rss_kib(),
                "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "cpu_ms_per_poll": cpu * 1000 / polls,
                "wall_s": time.perf_counter() - started,
                "polls_ok": service.counters.polls_ok,
                "days_sealed": days_sealed(state_dir),
            }
        )
    )


if __name__ == "__main__":
    main()

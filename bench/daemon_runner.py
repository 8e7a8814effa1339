"""Run the daemon for N polls on a virtual clock (no waiting) and print its RSS and CPU.

Usage: python bench/daemon_runner.py HOST PORT STATE_DIR POLLS
"""

import json
import os
import resource
import sys
import time

from luxlogd.config import load_config
from luxlogd.service import Service


class Notifier:
    def notify(self, message):
        pass


def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    host, port, state_dir, polls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    os.environ["LUXLOGD_HEATPUMP_HOST"] = host
    os.environ["LUXLOGD_HEATPUMP_PORT"] = port
    os.environ["LUXLOGD_STORAGE_STATE_DIR"] = state_dir
    os.environ["LUXLOGD_WEB_ENABLED"] = "false"
    virtual = [0.0]
    service = Service(
        load_config(None),
        timefunc=lambda: virtual[0],
        delayfunc=lambda s: virtual.__setitem__(0, virtual[0] + max(0.0, s)),
        notifier=Notifier(),
        max_polls=polls,
    )
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
                "polls_ok": service.polls_ok,
            }
        )
    )


if __name__ == "__main__":
    main()

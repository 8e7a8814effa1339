"""`luxlogd demo`: a simulated heat pump, the daemon polling it, its web page; state in a folder.

The simulated controller runs on real time, as a real one would: its clock is the wall
clock and its counters grow as a real heat pump's do, so nothing the page, `status` and
`doctor` say about clocks and counters is an artefact of the demo. So that there is
something to see at once, it has run since two days before the first start (demo.json
keeps when), and those two days of polls are stored before the daemon starts; a later start
continues the same history.

The web page goes to 127.0.0.1:8088, or to a free port when that one is taken (or
web.listen asks for port 0); the banner names the address really used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

from luxlogd.base.files import write_atomically
from luxlogd.config import Config, load_config
from luxlogd.daemon.service import Service
from luxlogd.heatpump.poll import Poll
from luxlogd.sim.simulator import Simulator
from luxlogd.store.writer import Storage

DEMO_LISTEN = "127.0.0.1:8088"
HISTORY_S = 2 * 86_400  # what the first start stores before the daemon polls
INTERVAL_S = 30  # the daemon's, as installed; the history has a poll in each slot of it
HISTORY_STEP_S = INTERVAL_S  # sparser, the page draws every point as a gap and doctor warns
PROFILE, SEED = "V3.91", 1  # the newest firmware the simulator knows: every figure


class _Clock:
    """The history's clock: it moves only when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def free_listen(listen: str) -> str:
    """`listen` if it can be bound now, else the same host with a free port."""
    host, _, port = listen.rpartition(":")
    address = host.strip("[]")
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
        try:
            probe.bind((address, int(port)))
            if int(port):
                return listen
        except OSError:
            probe.bind((address, 0))
        return f"{host}:{probe.getsockname()[1]}"


class Demo:
    """start() writes the configuration and starts the simulator; run() is the daemon."""

    def __init__(self, directory: Path, log_level: str | None = None) -> None:
        self.directory = directory.resolve()
        self.log_level = log_level
        self.simulator: Simulator | None = None
        self.config: Config | None = None

    @property
    def config_path(self) -> Path:
        return self.directory / "luxlogd.toml"

    def start(self, command: str, say: Callable[[str], None] = lambda text: None) -> str:
        """Start the simulator, write the configuration; return the banner for the user.
        `say` is told what takes a while (the history of a first start)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        since = self._since()
        stored = self._store_history(since, say)
        self.simulator = Simulator(
            "127.0.0.1", 0, seed=SEED, profile=PROFILE, since_s=since
        ).start()
        write_atomically(
            self.config_path,
            "# Written by `luxlogd demo`: the simulated heat pump of this run.\n"
            f'[heatpump]\nhost = "127.0.0.1"\nport = {self.simulator.port}\ntimeout_s = 5\n'
            f"retries = 1\nbackoff_s = 1\n[poll]\ninterval_s = {INTERVAL_S}\n"
            f'[storage]\nstate_dir = "{self.directory / "state"}"\n'
            f'[reports]\noutput_dirs = ["{self.directory / "reports"}"]\n'
            'sensors = ["well-known"]\nheaders = "readable"\n'
            f'[web]\nenabled = true\nlisten = "{DEMO_LISTEN}"\n'
            '[mqtt]\nname = "demo"  # its name on the page, not one of host and port\n',
        )
        config = load_config(self.config_path, log_level=self.log_level)
        listen = free_listen(config.web.listen)
        web = dataclasses.replace(config.web, listen=listen)
        self.config = dataclasses.replace(config, web=web)
        today = dt.datetime.now().astimezone().date().isoformat()
        moved = "" if listen == DEMO_LISTEN else f" ({DEMO_LISTEN} is taken)"
        at = f"{command} --config {self.config_path}"
        return (
            f"luxlogd demo: simulated heat pump on 127.0.0.1:{self.simulator.port}, on real "
            f"time, running since {dt.datetime.fromtimestamp(since).astimezone():%Y-%m-%d %H:%M}"
            f"{f' ({stored} polls of it stored)' if stored else ''}; polled every "
            f"{INTERVAL_S} s.\n"
            f"Web page, API and metrics: http://{listen}/{moved}\n"
            f"State and configuration in {self.directory}. In another terminal:\n"
            f"  {at} status\n"
            f"  {at} export --from {today} --to {today} --sensors flow,return,outdoor\n"
            f"  {at} dump\n"
            "Ctrl-C stops."
        )

    def _since(self) -> float:
        """When the simulated controller started: kept in demo.json, two days before the
        first start."""
        path = self.directory / "demo.json"
        try:
            return float(json.loads(path.read_text())["since"])
        except (OSError, ValueError, KeyError, TypeError):
            since = float(int(time.time() - HISTORY_S))
            write_atomically(path, json.dumps({"since": since}) + "\n")
            return since

    def _store_history(self, since: float, say: Callable[[str], None] = lambda text: None) -> int:
        """The polls of the controller's past, one in each of the daemon's slots, when the
        store is new (the same controller the daemon reads next: one seed, one start)."""
        state = self.directory / "state"
        if (state / "luxlogd.sqlite").exists() or any((state / "wal").glob("*")):
            return 0
        clock = _Clock(since)
        past = Simulator(clock=clock, seed=SEED, profile=PROFILE, since_s=since)
        now, count = time.time(), 0
        say(
            "luxlogd demo: storing the simulated heat pump's history since "
            f"{dt.datetime.fromtimestamp(since).astimezone():%Y-%m-%d %H:%M} "
            f"({int((now - since) // HISTORY_STEP_S):,} polls; a few seconds, once)"
        )
        with Storage(state, fdatasync=lambda fd: None) as storage:  # a demo: no fsync
            while clock.now < now - HISTORY_STEP_S:
                p, c, v = past.arrays()
                storage.append(Poll(int(clock.now * 1000), 0, tuple(p), tuple(c), tuple(v)))
                clock.now += HISTORY_STEP_S
                count += 1
        return count

    def run(self) -> int:
        assert self.config is not None, "start() first"
        service = Service(self.config, config_path=str(self.config_path))
        service.install_signal_handlers()
        return service.run()

    def stop(self) -> None:
        if self.simulator is not None:
            self.simulator.stop()

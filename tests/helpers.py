"""Test helpers: a raw socket client for the wire protocol, and where the real capture lives."""

import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from luxlogd.heatpump.poll import Poll
from luxlogd.sim.simulator import Simulator

REPO = Path(__file__).resolve().parent.parent
REAL_DUMPS = Path(__file__).resolve().parent / "data" / "real-dumps" / "V1.80_L1A"


def read_capture(ts_ms=0):
    """The real controller's answers (tests/data/real-dumps) as a Poll taken at ts_ms."""
    from luxlogd.heatpump.poll import Poll

    def values(command):
        data = (REAL_DUMPS / f"{command}.bin").read_bytes()
        if command == 3004:
            _, status, count = struct.unpack(">iii", data[:12])
            return struct.unpack(f">{count}i", data[12:]), status
        _, count = struct.unpack(">ii", data[:8])
        code = "b" if command == 3005 else "i"
        return struct.unpack(f">{count}{code}", data[8:]), 0

    (parameters, _), (calculations, status), (visibilities, _) = map(values, (3003, 3004, 3005))
    return Poll(ts_ms, status, parameters, calculations, visibilities)


class FrozenClock:
    """A wall clock that moves only when told to."""

    def __init__(self, start=1_700_000_000.0):
        self.now = start

    def __call__(self):
        return self.now


class VirtualClock:
    """Monotonic and wall-clock time that move only when slept on: days of a daemon's
    schedule run in milliseconds, without patching the time module."""

    def __init__(self, wall_start=1_794_787_200.0):  # 2026-11-16 00:00 UTC
        self.elapsed = 0.0
        self.wall_start = wall_start

    def monotonic(self):
        return self.elapsed

    def time(self):
        return self.wall_start + self.elapsed

    def sleep(self, seconds):
        self.elapsed += max(0.0, seconds)


def request(port, command, timeout=2.0, max_bytes=1 << 20):
    """Send one read request; return (bytes received, how it ended: 'eof'|'timeout'|'reset')."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except ConnectionResetError:
        return b"", "reset"
    with sock:
        try:
            sock.sendall(struct.pack(">ii", command, 0))
        except (ConnectionResetError, BrokenPipeError):  # reset before the request went out
            return b"", "reset"
        return receive(sock, max_bytes, deadline_s=timeout)


def receive(sock, max_bytes=1 << 20, expected=None, deadline_s=5.0):
    """Read until EOF, reset, `expected` bytes, or `deadline_s` seconds in all."""
    data = b""
    deadline = time.monotonic() + deadline_s
    try:
        while len(data) < max_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return data, "timeout"
            sock.settimeout(remaining)
            if expected is not None and len(data) >= expected:
                return data, "complete"
            chunk = sock.recv(65536)
            if not chunk:
                return data, "eof"
            data += chunk
    except TimeoutError:
        return data, "timeout"
    except ConnectionResetError:
        return data, "reset"
    return data, "limit"


def fill_from_model(state_dir, start, days, step_s, seed):
    """Store polls of the simulator's model every step_s from `start` (an aware datetime)
    for `days` days, without fsync; return them."""
    from luxlogd.heatpump.poll import Poll
    from luxlogd.sim.simulator import Simulator
    from luxlogd.store.writer import Storage

    clock = FrozenClock(start.timestamp())
    sim = Simulator(clock=clock, seed=seed, start_s=start.timestamp())
    polls = []
    with Storage(state_dir, fdatasync=lambda fd: None) as storage:
        for _ in range(int(days * 86400 / step_s)):
            p, c, v = sim.arrays()
            poll = Poll(int(clock.now * 1000), 0, tuple(p), tuple(c), tuple(v))
            storage.append(poll)
            polls.append(poll)
            clock.now += step_s
    return polls


def require(found, what, how="run tests/install-debian-packages (as root) to install it"):
    """A test of a real outside component (Debian's mosquitto, prometheus, paho): skipped,
    with what to install, when it is missing on a developer's machine; a failure in CI (CI is
    set), where tests/install-debian-packages installs it and a skip would hide its loss."""
    if found:
        return
    message = f"needs {what}: {how}"
    if os.environ.get("CI"):
        raise AssertionError(f"CI: {message}")
    pytest.skip(message)


def start_daemon(config_path, env=None, unprivileged=False):
    """`luxlogd run`; `unprivileged`: as root, without the rights that ignore file modes
    (a daemon user sees read-only files and directories as read-only)."""
    command = [sys.executable, "-m", "luxlogd", "--config", str(config_path), "run"]
    if unprivileged and os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search,-fowner"
        command = ["setpriv", f"--bounding-set={drop}", "--", *command]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=dict(os.environ, **(env or {})),
    )


def eventually(check, timeout=8.0, step=0.05, what=None):
    """The first truthy result of `check()` within `timeout` seconds (asked every `step`);
    else an AssertionError saying `what` (a text, or a function giving one then) or the last
    result. The one way the tests wait for what another thread or process does."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"not within {timeout:g} s: {said if what else repr(result)}")
        time.sleep(step)


def accepts(port, host="127.0.0.1"):
    """Whether something accepts connections on host:port (for eventually())."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def simulated_polls(count, step_s=30, seed=2, start=1_700_000_000.0):
    """`count` polls of the simulator, `step_s` apart (its model runs on their clock)."""
    clock = FrozenClock(start)
    sim = Simulator(clock=clock, seed=seed)
    polls = []
    for _ in range(count):
        p, c, v = sim.arrays()
        polls.append(Poll(int(clock.now * 1000), 0, tuple(p), tuple(c), tuple(v)))
        clock.now += step_s
    return polls


def no_sync(fd):
    """An fdatasync that does nothing: for tests about content, not durability."""
    return None

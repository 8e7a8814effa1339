"""The fault matrix: every fault a Raspberry Pi next to a heat pump sees, against the real
daemon (or the real writer) on real files, checked against a ledger luxlogd does not keep:
the test controller stamps every answer with a serial number and remembers what it served.

For each fault: the answers served, how many of them are stored (found by their own time
stamps), how many are lost, how many of those were in flight when a process died (never
acknowledged: allowed), and how many luxlogd itself told in its ledger of losses. A fault
passes when every lost poll is either in flight or told: no loss goes unreported. The
table is printed at the end of the run (and written to $LUXLOGD_FAULT_MATRIX, if set).
"""

import contextlib
import dataclasses
import fcntl
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from luxlogd.base.errors import StorageError
from luxlogd.daemon.service import Service
from luxlogd.heatpump.poll import Poll
from luxlogd.sim.simulator import STAMP_INDEX, Simulator
from luxlogd.store import frames, wal
from luxlogd.store.chunks import series_id
from luxlogd.store.losses import read_losses
from luxlogd.store.reader import Reader
from luxlogd.store.writer import Storage
from tests.helpers import REPO, VirtualClock, eventually, require
from tests.test_service import config_for

pytestmark = pytest.mark.system

STAMP = series_id("calculations", STAMP_INDEX)
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
EXT4_IOC_SHUTDOWN = 0x8004587D
ROWS: list["Row"] = []
RUNNING: list[subprocess.Popen] = []  # daemons a failing test must not leave behind
HEADER = ("fault", "cycles", "served", "stored", "lost", "in flight", "told")


@dataclasses.dataclass
class Row:
    fault: str
    cycles: int
    served: int
    stored: int
    lost: int
    in_flight: int
    told: int

    def cells(self):
        return (
            self.fault,
            self.cycles,
            self.served,
            self.stored,
            self.lost,
            self.in_flight,
            self.told,
        )


def table() -> str:
    """The matrix as a Markdown table (the README's reliability section shows it)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|---" + "|---:" * (len(HEADER) - 1) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row.cells()) + " |" for row in ROWS]
    return "\n".join(lines)


def record(fault, cycles, served, stored, in_flight=frozenset(), state=None):
    """Check one fault and add its row: every poll served and not stored was in flight or
    is told in the ledger of losses."""
    lost = set(served) - set(stored)
    told = sum(loss.polls_lost for loss in read_losses(state)) if state else 0
    unexplained = lost - set(in_flight)
    assert len(unexplained) == told, (fault, sorted(unexplained)[:20], told)
    ROWS.append(
        Row(
            fault,
            cycles,
            len(served),
            len(set(served) & set(stored)),
            len(lost),
            len(lost & set(in_flight)),
            told,
        )
    )


def stamps(state):
    """The serial numbers in every poll stored, those kept apart for a wrong clock too."""
    try:
        with Reader(state) as reader:
            found = [v[0] for _, _, v in reader.polls(0, 2**62, [STAMP])]
            found += [v[0] for _, _, v in reader.polls(0, 2**62, [STAMP], suspect=True)]
    except StorageError:
        return set()
    return {value for value in found if value}


class Daemon:
    """`luxlogd run` against a simulator, its log in a file (debug: every acknowledgement)."""

    def __init__(self, tmp_path, sim, state, **sections):
        sections.setdefault("poll", {"interval_s": 0.1})
        sections.setdefault("storage", {"retention_days": 0})
        sections["storage"] = {"state_dir": f'"{state}"', **sections["storage"]}
        sections.setdefault("log", {"level": '"debug"'})
        self.path = config_for(tmp_path, sim.port, **sections)
        self.sim = sim
        self.state = Path(state)
        self.log_path = tmp_path / "daemon.log"
        self.process = None
        self.in_flight: set[int] = set()  # answers read when SIGTERM abandoned the poll
        self._since_start = (0, 0)  # (served, acknowledged) when this run started

    def start(self, env=None, unprivileged=False):
        command = [sys.executable, "-m", "luxlogd", "--config", str(self.path), "run"]
        if unprivileged and os.geteuid() == 0:
            drop = "-dac_override,-dac_read_search,-fowner"
            command = ["setpriv", f"--bounding-set={drop}", "--", *command]
        self._since_start = (len(self.sim.served), self.acknowledged())
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=REPO,
                env=dict(os.environ, **(env or {})),
            )
        RUNNING.append(self.process)
        return self.process

    def stop(self):
        told = self.log().count("poll in flight abandoned for shutdown")
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=10) == 0, self.log()[-3000:]
        # The poll abandoned may have been cut before the controller answered: the last answer
        # served is in flight only if this run served more answers than it acknowledged.
        served = len(self.sim.served) - self._since_start[0]
        acknowledged = self.acknowledged() - self._since_start[1]
        abandoned = self.log().count("poll in flight abandoned for shutdown") > told
        if abandoned and served > acknowledged:
            self.in_flight.add(self.sim.served[-1])

    def kill(self):
        self.process.kill()
        self.process.wait()

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def acknowledged(self):
        return self.log().count("poll stored seq=")


def kill_daemons():
    while RUNNING:
        process = RUNNING.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(autouse=True)
def no_daemon_left_behind():
    yield
    kill_daemons()


def grows(state, by, timeout=10.0):
    """Wait until `by` more stamped polls are stored."""
    before = len(stamps(state))
    eventually(lambda: len(stamps(state)) >= before + by, timeout=timeout, what=(before, by))


def require_root():
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("needs root for loop devices and mounts (CI runs as root)")


@contextlib.contextmanager
def ext4(tmp_path, size="48M", inodes=None):
    """A loop-mounted ext4 file system at tmp_path/mnt; yields (image, mount point)."""
    require_root()
    image, mountpoint = tmp_path / "disk.ext4", tmp_path / "mnt"
    mountpoint.mkdir()
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    options = ["-N", str(inodes)] if inodes else []
    subprocess.run(["mkfs.ext4", "-q", "-F", *options, str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True)
    try:
        yield image, mountpoint
    finally:
        kill_daemons()  # a test that failed may have left one using the file system
        umount(mountpoint)


def umount(mountpoint, timeout=15.0):
    """Unmount once nothing uses it any more (the daemon lets go when it retries)."""
    deadline = time.monotonic() + timeout
    while subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode:
        if time.monotonic() > deadline:
            subprocess.run(["umount", "-l", str(mountpoint)], check=False)
            raise AssertionError(f"{mountpoint} stays busy")
        time.sleep(0.1)


def shut_down(mountpoint):
    """The file system fails: every later access is EIO (ext4's shutdown ioctl)."""
    fd = os.open(mountpoint, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", 2))  # NOLOGFLUSH: a power cut
    finally:
        os.close(fd)


def stamped(base, serial, ts_ms, controller_s=None):
    """A poll of the simulator's arrays `base`, stamped with `serial` (a little change in
    parameter 0, as in real polls; the controller's clock set when given)."""
    parameters, calculations = list(base[0]), list(base[1])
    parameters[0] = serial % 50
    calculations[STAMP_INDEX] = serial
    if controller_s is not None:
        calculations[134] = int(controller_s)
    return Poll(int(ts_ms), 0, tuple(parameters), tuple(calculations), tuple(base[2]))


def prefill(state, sim, room=1500):
    """Polls of the simulator's firmware (stamped with their own serials from 10**6 on)
    until the open log segment has `room` bytes left: the daemon starts a new segment (a new
    file) within a few polls. Return the serials written."""
    written = []
    base = sim.arrays()
    start = time.time() - 3600
    with Storage(state, fdatasync=lambda fd: None) as storage:
        while storage.wal._offset < wal.SEGMENT_BYTES - room or not written:
            serial = 10**6 + len(written)
            storage.append(stamped(base, serial, (start + len(written)) * 1000))
            written.append(serial)
    return written


def fill(directory, inodes=False):
    """Fill a file system: its space, or with `inodes` every inode; return what filled it."""
    filler = directory / "filler"
    filler.mkdir()
    if inodes:
        with contextlib.suppress(OSError):
            for k in range(100_000):
                (filler / str(k)).touch()
    else:
        with contextlib.suppress(OSError), open(filler / "space", "wb") as handle:
            while True:
                handle.write(bytes(1 << 20))
                handle.flush()
    return filler


def report() -> str | None:
    """The table for the end of the test run (conftest.py prints it), written to
    $LUXLOGD_FAULT_MATRIX too; None when no fault ran."""
    if not ROWS:
        return None
    text = table()
    target = os.environ.get("LUXLOGD_FAULT_MATRIX")
    if target:
        Path(target).write_text(text + "\n")
    return text


# Processes that die.


@pytest.mark.timeout(120)
def test_kill_9_of_the_daemon(tmp_path):
    rnd = random.Random(11)
    state = tmp_path / "state"
    in_flight = set()
    with Simulator(stamp=True) as sim:
        daemon = Daemon(tmp_path, sim, state)
        for _ in range(12):
            daemon.start()
            grows(state, rnd.randint(3, 8))
            time.sleep(rnd.random() * 0.1)
            daemon.kill()
            if sim.served:
                in_flight.add(sim.served[-1])
        served = list(sim.served)
    stored = stamps(state)
    assert daemon.acknowledged() <= len(stored)
    record("kill -9 of the daemon", 12, served, stored, in_flight, state)


@pytest.mark.timeout(180)
def test_power_cut_under_the_daemon(tmp_path):
    rnd = random.Random(12)
    in_flight = set()
    with ext4(tmp_path) as (image, mountpoint), Simulator(stamp=True) as sim:
        state = mountpoint / "state"
        daemon = Daemon(tmp_path, sim, state)
        for _ in range(6):
            daemon.start()
            grows(state, rnd.randint(3, 8))
            time.sleep(rnd.random() * 0.1)
            daemon.kill()  # and the power goes: what is not on the disk is gone
            shut_down(mountpoint)
            if sim.served:
                in_flight.add(sim.served[-1])
            umount(mountpoint)
            subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True)
        served = list(sim.served)
        stored = stamps(state)
        record(
            "power cut (kill -9, then the file system stops)", 6, served, stored, in_flight, state
        )


@pytest.mark.timeout(60)
def test_a_second_daemon_on_one_store(tmp_path):
    state = tmp_path / "state"
    with Simulator(stamp=True) as sim:
        first = Daemon(tmp_path, sim, state)
        first.start()
        grows(state, 5)
        command = [sys.executable, "-m", "luxlogd", "--config", str(first.path), "run"]
        second = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=20)
        assert second.returncode == 1 and "is in use" in second.stderr
        grows(state, 5)
        first.stop()
        served = list(sim.served)
    record("two daemons on one store", 1, served, stamps(state), first.in_flight, state)


@pytest.mark.timeout(60)
def test_a_pause_of_the_whole_daemon(tmp_path):
    state = tmp_path / "state"
    with Simulator(stamp=True) as sim:
        daemon = Daemon(tmp_path, sim, state)
        daemon.start()
        grows(state, 5)
        daemon.process.send_signal(signal.SIGSTOP)
        time.sleep(3)
        daemon.process.send_signal(signal.SIGCONT)
        grows(state, 5)
        daemon.stop()
        served = list(sim.served)
    record("SIGSTOP for 3 s (docker pause)", 1, served, stamps(state), daemon.in_flight, state)


# Storage that fails, and comes back.


@pytest.mark.timeout(90)
def test_a_file_system_that_fails_with_eio_and_is_mounted_again(tmp_path):
    with ext4(tmp_path) as (image, mountpoint), Simulator(stamp=True) as sim:
        state = mountpoint / "state"
        daemon = Daemon(tmp_path, sim, state)
        daemon.start()
        grows(state, 10)
        shut_down(mountpoint)
        time.sleep(1)
        assert daemon.process.poll() is None  # polling goes on, into memory
        umount(mountpoint)
        subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True)
        grows(state, 10, timeout=20)
        daemon.stop()
        served = list(sim.served)
        stored = stamps(state)
        log = daemon.log()
        record("file system fails (EIO), mounted again", 1, served, stored, daemon.in_flight, state)
    assert log.count("ERROR luxlogd.pending: storage failing") == 1
    assert "storage works again" in log


@pytest.mark.timeout(90)
def test_a_file_system_read_only_at_start_then_writable(tmp_path):
    with ext4(tmp_path) as (image, mountpoint), Simulator(stamp=True) as sim:
        state = mountpoint / "state"
        state.mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(mountpoint)], check=True)
        daemon = Daemon(tmp_path, sim, state)
        daemon.start()
        eventually(lambda: len(sim.served) >= 10)
        assert daemon.process.poll() is None  # no exit 78: storage faults are not config
        subprocess.run(["mount", "-o", "remount,rw", str(mountpoint)], check=True)
        eventually(lambda: len(stamps(state)) >= 10, timeout=20)
        daemon.stop()
        served = list(sim.served)
        stored = stamps(state)
        record(
            "read-only file system at start, then writable",
            1,
            served,
            stored,
            daemon.in_flight,
            state,
        )


@pytest.mark.timeout(90)
@pytest.mark.parametrize("what", ["space", "inodes"])
def test_a_full_file_system_then_freed(tmp_path, what):
    """The open log segment is nearly full; the next one cannot be made (no space, or no
    inodes): polls are kept in memory until room is made."""
    inodes = 128 if what == "inodes" else None
    with ext4(tmp_path, size="16M", inodes=inodes) as (_, mountpoint), Simulator(stamp=True) as sim:
        state = mountpoint / "state"
        before = prefill(state, sim)
        filler = fill(mountpoint, inodes=what == "inodes")
        daemon = Daemon(tmp_path, sim, state)
        daemon.start()
        eventually(
            lambda: "storage failing" in daemon.log() or "storage will fail soon" in daemon.log(),
            timeout=20,
        )
        eventually(lambda: len(sim.served) >= 20)
        shutil.rmtree(filler)
        eventually(lambda: set(sim.served[:20]) <= stamps(state), timeout=20)
        daemon.stop()
        served = before + list(sim.served)
        stored = stamps(state)
        record(f"no {what} left, then freed", 1, served, stored, daemon.in_flight, state)


@pytest.mark.timeout(60)
def test_the_log_directory_deleted_while_running(tmp_path):
    state = tmp_path / "state"
    with Simulator(stamp=True) as sim:
        daemon = Daemon(tmp_path, sim, state)
        daemon.start()
        grows(state, 5)
        shutil.rmtree(state / "wal")
        grows(state, 10)
        daemon.stop()
        served = list(sim.served)
    record("write-ahead log directory deleted", 1, served, stamps(state), daemon.in_flight, state)


@pytest.mark.timeout(90)
def test_damaged_database_pages(tmp_path):
    rnd = random.Random(13)
    state = tmp_path / "state"
    served_before = []
    with Simulator(stamp=True) as sim:
        base = sim.arrays()
        day = 86_400_000
        start = (int(time.time() * 1000) // day - 3) * day
        with Storage(state, fdatasync=lambda fd: None) as storage:  # three sealed days
            for k in range(3 * 96):
                storage.append(stamped(base, 10**6 + k, start + k * 900_000))
                served_before.append(10**6 + k)
        daemon = Daemon(tmp_path, sim, state)
        daemon.start()
        grows(state, 30)
        daemon.stop()
        with Storage(state) as storage:
            storage.database.checkpoint()
        database = state / "luxlogd.sqlite"
        pages = database.stat().st_size // 4096
        for page in rnd.sample(range(1, pages), 3):
            with open(database, "r+b") as handle:
                handle.seek(page * 4096)
                handle.write(os.urandom(4096))
        daemon.start()
        grows(state, 5)
        daemon.stop()
        served = served_before + list(sim.served)
    record("3 damaged database pages", 1, served, stamps(state), daemon.in_flight, state)


def log_only_store(directory, count):
    """`count` stamped polls in one UTC day, only in the log (SQLite never got them)."""
    polls = []
    with Simulator() as sim:
        base = sim.arrays()
    with Storage(directory, fdatasync=lambda fd: None, segment_bytes=64 * 1024) as storage:
        for serial in range(1, count + 1):
            storage.append(stamped(base, serial, 1_700_006_400_000 + serial * 30_000))
            polls.append(serial)
    for path in directory.glob("luxlogd.sqlite*"):
        path.unlink()
    return polls


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["flipped bits", "zeroed 4 KiB page"])
def test_damage_at_random_places_in_the_log(tmp_path, kind):
    rnd = random.Random(14 if kind == "flipped bits" else 15)
    cycles = 12
    served, stored, told_total = [], set(), 0
    for cycle in range(cycles):
        directory = tmp_path / f"cycle{cycle}"
        serials = log_only_store(directory, 300)
        segments = frames.segment_paths(directory / "wal")
        target = rnd.choice(segments)
        found = frames.scan(target.read_bytes(), int(target.stem))
        last = found.end - len(frames.frame(*found.records[-1]))
        # Damage before the newest record: a record lost at the very end of the log looks
        # like one never written (or the one in flight) and is not told (see the README).
        reach = 32 if kind == "flipped bits" else 4096
        limit = last - reach if target == segments[-1] else found.end
        position = rnd.randrange(0, max(1, limit))
        content = bytearray(target.read_bytes())
        if kind == "flipped bits":
            for _ in range(3):
                content[position + rnd.randrange(16)] ^= 1 << rnd.randrange(8)
        else:
            page = position - position % 4096
            content[page : page + 4096] = bytes(4096)
        target.write_bytes(bytes(content))
        with Storage(directory):
            pass
        got = stamps(directory)
        lost = set(serials) - got
        told = sum(loss.polls_lost for loss in read_losses(directory))
        assert len(lost) == told, (cycle, sorted(lost), told)
        served += [(cycle, s) for s in serials]
        stored |= {(cycle, s) for s in got}
        told_total += told
    assert told_total > 0
    fault = f"{kind} at random places in the log (polls only there)"
    lost = len(served) - len(stored)
    ROWS.append(Row(fault, cycles, len(served), len(stored), lost, 0, told_total))


# Outputs and the controller misbehave.


@pytest.mark.timeout(60)
def test_outputs_that_fail(tmp_path):
    """The web port taken, the MQTT broker down, a controller slower than the interval."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    state = tmp_path / "state"
    with holder, dead, Simulator(stamp=True, fault="slow", delay_s=0.15) as sim:
        daemon = Daemon(
            tmp_path,
            sim,
            state,
            web={"enabled": "true", "listen": f'"127.0.0.1:{holder.getsockname()[1]}"'},
            mqtt={"enabled": "true", "host": '"127.0.0.1"', "port": dead.getsockname()[1]},
        )
        daemon.start()
        grows(state, 15)
        daemon.stop()
        served = list(sim.served)
    log = daemon.log()
    assert "web server not serving" in log and "mqtt" in log.lower()
    record(
        "web port taken, MQTT broker down, slow controller",
        1,
        served,
        stamps(state),
        daemon.in_flight,
        state,
    )


# Clocks.


@pytest.mark.timeout(60)
@pytest.mark.parametrize("offset", ["+500d", "-30d"])
def test_a_clock_wrong_by_days_at_start(tmp_path, offset):
    require(LIBFAKETIME.exists(), "libfaketime (Debian's faketime package)")
    state = tmp_path / "state"
    with Simulator(stamp=True) as sim:
        base = sim.arrays()
        now = time.time()
        before = []
        with Storage(state, fdatasync=lambda fd: None) as storage:  # 140 days, two a day
            for k in range(280):
                at = now - 140 * 86400 + k * 43200  # the controller's clock right
                storage.append(stamped(base, 10**6 + k, at * 1000, controller_s=at))
                before.append(10**6 + k)
        daemon = Daemon(tmp_path, sim, state, storage={"retention_days": 150})
        daemon.start(
            env={
                "LD_PRELOAD": str(LIBFAKETIME),
                "FAKETIME": offset,
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            }
        )
        grows(state, 10)
        daemon.stop()
        served = before + list(sim.served)
    with Reader(state) as reader:
        assert reader.stats().clock_suspect >= 10  # kept apart, not merged
    record(
        f"system clock {offset} at start (libfaketime)",
        1,
        served,
        stamps(state),
        daemon.in_flight,
        state,
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("start", ["10:59", "23:59", "06:59"])
def test_a_clock_stepped_back_while_polling(tmp_path, start, timezone):
    """An NTP correction of two minutes back: within the day, across midnight, across the
    roll-up time. Every poll is found by a read of its own time stamp."""
    timezone("UTC")
    hour, minute = map(int, start.split(":"))
    wall = time.time() // 86400 * 86400 - 86400 + hour * 3600 + minute * 60
    clock = VirtualClock(wall_start=wall)
    offset = {"s": 0.0}

    def sleep(seconds):
        clock.sleep(seconds)
        if clock.elapsed >= 120:
            offset["s"] = -120.0

    with Simulator(stamp=True) as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 5}, storage={"retention_days": 0})
        from luxlogd.config import load_config

        service = Service(
            load_config(path),
            timefunc=clock.monotonic,
            delayfunc=sleep,
            wallclock=lambda: clock.time() + offset["s"],
            max_polls=48,
        )
        assert service.run() == 0
        served = list(sim.served)
    state = tmp_path / "state"
    found = set()
    with Reader(state) as reader:
        for ts, _, (serial,) in list(reader.polls(0, 2**62, [STAMP])):
            assert serial in {v[0] for _, _, v in reader.polls(ts, ts + 1, [STAMP])}
            found.add(serial)
    record(f"clock stepped back 2 min at {start} UTC", 1, served, found, state=state)


@pytest.mark.timeout(60)
def test_the_newest_records_zeroed_while_the_daemon_was_stopped(tmp_path):
    """The end of the log lost (zeroed) and SQLite without those polls: the log alone cannot
    tell this from polls never written, but the status the daemon left names the last poll
    it acknowledged, so the loss is told."""
    state = tmp_path / "state"
    with Simulator(stamp=True) as sim:
        daemon = Daemon(
            tmp_path, sim, state, storage={"retention_days": 0}, poll={"interval_s": 0.1}
        )
        daemon.start()
        grows(state, 30)
        daemon.stop()
        served_before = list(sim.served)
        for path in state.glob("luxlogd.sqlite*"):
            path.unlink()  # as if SQLite had been failing: the polls are only in the log
        segment = frames.segment_paths(state / "wal")[-1]
        found = frames.scan(segment.read_bytes(), int(segment.stem))
        content = bytearray(segment.read_bytes())
        cut = found.end - 1500  # the last 1.5 KB of records, to their end
        content[cut : found.end] = bytes(found.end - cut)
        segment.write_bytes(bytes(content))
        daemon.start()
        grows(state, 5)
        daemon.stop()
        served = list(sim.served)
    assert served_before
    record(
        "the newest records zeroed, the database gone",
        1,
        served,
        stamps(state),
        daemon.in_flight,
        state,
    )

"""Crash safety on real files: kill -9 loops, power cuts on a loop-mounted ext4, recovery fuzz."""

import fcntl
import os
import random
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from luxlogd.store import codec, frames
from luxlogd.store.chunks import series_id
from luxlogd.store.reader import Reader
from luxlogd.store.writer import Storage
from tests.crash_writer import poll_for

REPO = Path(__file__).resolve().parent.parent
EXT4_IOC_SHUTDOWN = 0x8004587D
EXT4_GOING_FLAGS_NOLOGFLUSH = 2


def start_writer(state_dir):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.crash_writer", str(state_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    ready = process.stdout.readline()
    assert ready.startswith("ready "), process.stderr.read()
    return process


def collect_acks(process):
    acks = []
    for line in process.stdout.read().splitlines():
        if line.startswith("ack "):
            acks.append(int(line.split()[1]))
    return acks


def verify(state_dir, acked_through):
    """Every acknowledged poll exactly once, exact values; at most the one in flight more."""
    with Storage(state_dir) as storage:
        assert storage.database.quick_check(full=True) == "ok"
    reader = Reader(state_dir)
    try:
        seqs = [values[0] for _, _, values in reader.polls(0, 2**62, [series_id("parameters", 0)])]
        assert seqs == sorted(seqs), "polls out of order"
        assert len(seqs) == len(set(seqs)), "duplicate polls"
        assert seqs[:acked_through] == list(range(1, acked_through + 1)), "acknowledged poll lost"
        assert len(seqs) <= acked_through + 1, "more than the poll in flight appeared"
        last = seqs[-1] if seqs else 0
        # Values checked of a few polls stored (none yet when the first writer died before
        # its first acknowledgement: then there is nothing to check, and nothing was owed).
        check = [
            s
            for s in (1, acked_through // 2, acked_through - 1, acked_through, last)
            if 0 < s <= last
        ]
        every = [
            series_id(g, i)
            for g, n in (("parameters", 1143), ("calculations", 267), ("visibilities", 366))
            for i in range(n)
        ]
        for seq in sorted(set(check)):
            expected = poll_for(seq)
            rows = list(reader.polls(expected.ts_ms, expected.ts_ms + 1, every))
            assert len(rows) == 1
            ts_ms, status, values = rows[0]
            assert (ts_ms, status, values) == (
                expected.ts_ms,
                expected.calc_status,
                expected.flat(),
            )
        return last
    finally:
        reader.close()


@pytest.mark.system
@pytest.mark.timeout(600)
def test_kill_9_loop_loses_no_acknowledged_poll(tmp_path):
    rnd = random.Random(1)
    acked_through = 0
    cycles = 250
    for _ in range(cycles):
        process = start_writer(tmp_path)
        time.sleep(rnd.random() * 0.05)
        process.kill()
        process.wait()
        acks = collect_acks(process)
        if acks:
            assert acks[0] >= acked_through + 1
            acked_through = acks[-1]
        last = verify(tmp_path, acked_through)
        acked_through = max(acked_through, last)  # the poll in flight, if it landed, is kept
    assert acked_through > cycles  # the loop did real work


def mount(image, mountpoint):
    subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True)


def umount(mountpoint):
    for _ in range(100):
        result = subprocess.run(["umount", str(mountpoint)], capture_output=True, text=True)
        if result.returncode == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"umount failed: {result.stderr}")


def can_loop_mount():
    return os.geteuid() == 0 and shutil.which("mkfs.ext4") and shutil.which("losetup")


@pytest.mark.system
@pytest.mark.timeout(900)
@pytest.mark.skipif(
    not can_loop_mount() and not os.environ.get("CI"),
    reason="needs root, mkfs.ext4 and loop devices (CI has them)",
)
def test_power_cut_loop_loses_no_acknowledged_poll(tmp_path):
    image = tmp_path / "disk.ext4"
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    subprocess.run(["truncate", "-s", "64M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    rnd = random.Random(2)
    acked_through = 0
    cycles = 200
    for _ in range(cycles):
        mount(image, mountpoint)
        state = mountpoint / "state"
        try:
            process = start_writer(state)
            time.sleep(rnd.random() * 0.05)
            process.kill()
            # The power goes: everything not yet on the device is lost.
            fd = os.open(mountpoint, os.O_RDONLY)
            try:
                fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
            finally:
                os.close(fd)
            process.wait()
        finally:
            umount(mountpoint)
        acks = collect_acks(process)
        if acks:
            acked_through = acks[-1]
        mount(image, mountpoint)
        try:
            last = verify(mountpoint / "state", acked_through)
            acked_through = max(acked_through, last)
        finally:
            umount(mountpoint)
    assert acked_through > cycles


def build_segment(count=40):
    """A segment as the writer makes it: a keyframe, then records against it."""
    records = []
    data = b""
    base = poll_for(1)
    for seq in range(1, count + 1):
        poll = poll_for(seq)
        payload = codec.encode(poll, base if seq > 1 else None, against_base=seq > 1)
        records.append((seq, payload))
        data += frames.frame(seq, payload)
    return data, records


def spans(records):
    """(start, end) byte range of each record's frame in a segment built of them."""
    found, offset = [], 0
    for _, payload in records:
        end = offset + frames.HEADER.size + len(payload)
        found.append((offset, end))
        offset = end
    return found


def intact_records(buffer, data, records, shift_at=None, shift=0):
    """The records whose bytes are unchanged in `buffer` (garbage of `shift` bytes inserted
    at `shift_at` moves the records after it)."""
    kept = []
    for (start, end), record in zip(spans(records), records, strict=True):
        if shift_at is not None and start >= shift_at:
            start, end = start + shift, end + shift
        if buffer[start:end] == frames.frame(*record):
            kept.append(record)
    return kept


@pytest.mark.system
@pytest.mark.timeout(300)
def test_recovery_fuzz_finds_every_intact_record_after_any_damage(tmp_path):
    """Truncations, bit flips and garbage anywhere: the scan returns exactly the records whose
    bytes are intact, byte for byte, and every one of them decodes against its base."""
    data, records = build_segment(12)
    rnd = random.Random(3)
    cases = 0
    # Every truncation offset, followed by zeros (a pre-filled segment) or by nothing.
    for cut in range(len(data) + 1):
        for tail in (b"", bytes(4096)):
            buffer = data[:cut] + tail
            assert frames.scan(buffer, 1).records == intact_records(buffer, data, records)
            cases += 1
    # Bit flips and zeroed runs anywhere: the records they touch are lost, no other.
    for _ in range(20_000):
        damaged = bytearray(data)
        position = rnd.randrange(len(data))
        if rnd.random() < 0.7:
            damaged[position] ^= 1 << rnd.randrange(8)
        else:
            run = len(damaged[position : position + rnd.randrange(1, 600)])
            damaged[position : position + run] = bytes(run)
        buffer = bytes(damaged)
        assert frames.scan(buffer, 1).records == intact_records(buffer, data, records)
        cases += 1
    # Garbage in place of a record or between records.
    for _ in range(10_000):
        cut = rnd.choice([start for start, _ in spans(records)])
        garbage = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 64)))
        buffer = data[:cut] + garbage + data[cut:]
        found = frames.scan(buffer, 1).records
        assert found == intact_records(buffer, data, records, cut, len(garbage)) == records
        cases += 1
    assert cases >= 39_000
    base = codec.decode(records[0][1], None)
    assert all(codec.decode(p, base) == poll_for(seq) for seq, p in records[1:])

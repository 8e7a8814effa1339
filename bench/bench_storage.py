"""Storage: bytes on disk and written per poll, ingest and replay speed, long-range reads.

Polls come from the simulator's thermal model every 30 s of simulated time. The week goes
through the full write path (WAL + SQLite); the year is built through the database layer
directly (the WAL's cost per poll is measured on the week) so the run takes minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import Figure, best_of

from luxlogd.heatpump.poll import Poll
from luxlogd.sim.model import PROFILES, ThermalModel, base_arrays
from luxlogd.store.chunks import DAY_MS, series_id
from luxlogd.store.database import Database
from luxlogd.store.reader import Reader
from luxlogd.store.writer import Storage

START_S = 1_700_000_000.0
STEP_S = 30


def generate(count: int, seed: int = 2):
    """Polls of the V3.88 profile every 30 s, from the thermal model."""
    profile = PROFILES["V3.88"]
    model = ThermalModel(seed=seed, start_s=START_S)
    base = base_arrays(profile, seed)
    now = START_S
    for _ in range(count):
        model.advance_to(now)
        parameters, calculations, visibilities = (list(a) for a in base)
        model.fill(parameters, calculations, visibilities)
        yield Poll(int(now * 1000), 0, tuple(parameters), tuple(calculations), tuple(visibilities))
        now += STEP_S


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def device_writes(polls: list[Poll]) -> tuple[float, float] | None:
    """(bytes written to the device per poll, syncs per poll) on a fresh loop-mounted ext4."""
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4"):
        return None
    work = Path(tempfile.mkdtemp(prefix="luxlogd-bench-"))
    image, mountpoint = work / "disk.ext4", work / "mnt"
    mountpoint.mkdir()
    subprocess.run(["truncate", "-s", "256M", str(image)], check=True)
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", str(image)],
        check=True,
    )
    subprocess.run(["mount", "-o", "loop", str(image), str(mountpoint)], check=True)
    try:
        device = Path(
            os.path.realpath(
                subprocess.run(
                    ["findmnt", "-no", "SOURCE", str(mountpoint)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.strip()
            )
        ).name
        stat = Path(f"/sys/block/{device}/stat")
        syncs = [0]

        def counting_fdatasync(fd: int) -> None:
            syncs[0] += 1
            os.fdatasync(fd)

        storage = Storage(mountpoint / "state", fdatasync=counting_fdatasync).open()
        warm = 200  # the first segment and the database's first pages are one-off costs
        for poll in polls[:warm]:
            storage.append(poll)
        os.sync()
        before = int(stat.read_text().split()[6])  # sectors written
        syncs[0] = 0
        for poll in polls[warm:]:
            storage.append(poll)
        storage.close()
        os.sync()
        after = int(stat.read_text().split()[6])
        count = len(polls) - warm
        return (after - before) * 512 / count, syncs[0] / count
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)
        shutil.rmtree(work, ignore_errors=True)


def run(quick: bool) -> list[Figure]:
    figures: list[Figure] = []
    work = Path(tempfile.mkdtemp(prefix="luxlogd-bench-"))
    try:
        week_count = 7 * 2880 if not quick else 2880
        week = list(generate(week_count))
        state = work / "week"
        started = time.perf_counter()
        with Storage(state, fdatasync=lambda fd: None) as storage:
            for poll in week:
                storage.append(poll)
        ingest_s = time.perf_counter() - started
        figures.append(
            Figure(
                "storage: bytes on disk per poll, a week (last day hot)",
                directory_bytes(state) / week_count,
                "B",
                goal=150,
            )
        )
        figures.append(
            Figure(
                "storage: ingest (encode, WAL append, SQLite), no fsync",
                week_count / ingest_s,
                "polls/s",
                goal=2000,
                higher_is_better=True,
            )
        )
        # Replay: a WAL of a day into an empty database.
        replay_state = work / "replay"
        with Storage(
            replay_state, fdatasync=lambda fd: None, segment_bytes=64 * 1024 * 1024
        ) as storage:
            for poll in week[:2880]:
                storage.append(poll)
        for leftover in replay_state.glob("luxlogd.sqlite*"):
            leftover.unlink()
        started = time.perf_counter()
        Storage(replay_state).open().close()
        figures.append(
            Figure(
                "storage: replay of the WAL into an empty database",
                2880 / (time.perf_counter() - started),
                "polls/s",
                goal=2000,
                higher_is_better=True,
            )
        )

        writes = device_writes(week[: 1200 if quick else 2400])
        if writes is not None:
            figures.append(
                Figure(
                    "storage: bytes written to the device per poll", writes[0], "B", goal=12 * 1024
                )
            )
            figures.append(Figure("storage: syncs per poll", writes[1], "", goal=1))

        days = 30 if quick else 365
        year_state = work / "year"
        year_state.mkdir()
        year_path = year_state / "luxlogd.sqlite"
        store = Database(year_path, commit_every=2880)
        started = time.perf_counter()
        for seq, poll in enumerate(generate(days * 2880), start=1):
            store.insert(seq, poll)
        store.seal_all()
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        build_s = time.perf_counter() - started
        store.close()
        size = sum(p.stat().st_size for p in year_state.glob("luxlogd.sqlite*"))
        figures.append(
            Figure(
                f"storage: bytes on disk per poll, {days} days sealed",
                size / (days * 2880),
                "B",
                goal=100,
                note=f"{size / 1e6:.1f} MB",
            )
        )
        figures.append(
            Figure(
                f"storage: building {days} days through the database layer",
                days * 2880 / build_s,
                "polls/s",
            )
        )

        reader = Reader(year_state)
        end_ms = int(START_S * 1000) + days * DAY_MS
        tvl = series_id("calculations", 10)
        buckets = reader.buckets(tvl, int(START_S * 1000), end_ms, 2000)
        assert len(buckets) > 1000
        seconds = best_of(lambda: reader.buckets(tvl, int(START_S * 1000), end_ms, 2000), 5)
        figures.append(
            Figure(
                f"storage: one sensor over {days} days -> 2,000 points",
                seconds * 1000,
                "ms",
                goal=50,
            )
        )
        day_reader = Reader(state)
        day_start = week[-2880].ts_ms
        every_calc = [series_id("calculations", i) for i in range(267)]
        seconds = best_of(
            lambda: list(day_reader.polls(day_start - DAY_MS, day_start, every_calc)), 3
        )
        figures.append(
            Figure("storage: read a sealed day, all 267 calculations", seconds * 1000, "ms")
        )
        day_reader.close()
        reader.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures

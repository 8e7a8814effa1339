"""A wrong clock never deletes data, never hides a poll, and is told: the clock guard's
judgement, a real daemon under libfaketime, and clocks stepping back while polling."""

import csv
import dataclasses
import datetime as dt
import io
import logging
import signal
import time
from pathlib import Path

import pytest

from luxlogd.cli import main
from luxlogd.config import load_config
from luxlogd.daemon.clock import ClockGuard
from luxlogd.daemon.service import Service
from luxlogd.health import events
from luxlogd.heatpump.quality import controller_clock_index
from luxlogd.sim.simulator import Simulator
from luxlogd.store.chunks import series_id
from luxlogd.store.reader import Reader
from luxlogd.store.writer import Storage
from tests.crash_writer import poll_for
from tests.helpers import VirtualClock, eventually, require, start_daemon
from tests.test_service import config_for

DAY = 86_400.0
T0 = 1_790_000_000.0  # 2026-09-21
LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
SEQ = series_id("parameters", 0)


def reading(wall_s, controller_s, seq=1):
    """A poll stamped `wall_s` whose controller clock says `controller_s` (None: no clock);
    parameter 0 says which one it is."""
    poll = poll_for(1)
    parameters = list(poll.parameters)
    parameters[0] = seq
    calculations = list(poll.calculations)
    calculations[controller_clock_index()] = 0 if controller_s is None else int(controller_s)
    return dataclasses.replace(
        poll,
        ts_ms=int(wall_s * 1000),
        parameters=tuple(parameters),
        calculations=tuple(calculations),
    )


class Mono:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def guard_for(newest_s, controller_s, mono, diary=None, wall=lambda: 0.0):
    return ClockGuard(
        int(newest_s * 1000),
        None if controller_s is None else int(controller_s),
        wallclock=wall,
        monotonic=mono,
        diary=diary,
    )


# The clock guard's judgement.


def test_a_system_clock_500_days_ahead_is_flagged_and_retention_keeps_to_the_history(caplog):
    mono = Mono()
    wall = {"now": T0 + 500 * DAY + 30}
    guard = guard_for(T0, T0, mono, wall=lambda: wall["now"])
    mono.now += 30
    with caplog.at_level(logging.INFO, logger="luxlogd"):
        seen = guard.observe(reading(T0 + 500 * DAY + 30, T0 + 30))
    assert seen.clock_suspect
    assert guard.suspect == "the system clock is 500 days ahead of the heat pump's clock"
    assert guard.jumps == 1
    assert abs(guard.trusted_now() - (T0 + 30)) < 1  # not the system clock's word
    assert any("500 days after the newest poll stored" in m for m in caplog.messages)
    # The clock is put right: the polls are trusted again.
    mono.now += 30
    assert not guard.observe(reading(T0 + 60, T0 + 60)).clock_suspect
    assert guard.suspect is None


def test_downtime_that_the_heat_pumps_clock_confirms_is_no_jump(caplog):
    mono = Mono()
    guard = guard_for(T0, T0, mono, wall=lambda: T0 + 60 * DAY)
    with caplog.at_level(logging.INFO, logger="luxlogd"):
        seen = guard.observe(reading(T0 + 60 * DAY, T0 + 60 * DAY))
    assert not seen.clock_suspect and guard.jumps == 0
    assert guard.trusted_now() == T0 + 60 * DAY
    assert any("luxlogd was not running" in m for m in caplog.messages)


def test_a_heat_pump_clock_that_is_off_by_days_but_keeps_time_confirms_ours():
    """Never set since a power cut: 3 days behind, but it counts the same days we do."""
    mono = Mono()
    guard = guard_for(T0, T0 - 3 * DAY, mono)
    assert not guard.observe(reading(T0 + 5 * DAY, T0 + 2 * DAY)).clock_suspect
    mono.now += 30
    assert not guard.observe(reading(T0 + 5 * DAY + 30, T0 + 2 * DAY + 30)).clock_suspect


def test_a_jump_while_running_is_told_and_flagged_until_it_is_undone(tmp_path):
    mono = Mono()
    diary = events.Events(tmp_path, lambda: T0)
    guard = guard_for(T0, T0, mono, diary)
    assert not guard.observe(reading(T0 + 30, T0 + 30)).clock_suspect
    mono.now += 30
    assert guard.observe(reading(T0 + 60 + 60 * DAY, T0 + 60)).clock_suspect  # +60 days
    mono.now += 30
    assert not guard.observe(reading(T0 + 90, T0 + 90)).clock_suspect  # NTP puts it back
    mono.now += 30
    assert not guard.observe(reading(T0 + 120 - 3600, T0 + 120)).clock_suspect  # 1 h back
    told = [(e["event"], e.get("direction")) for e in events.read_events(tmp_path)]
    assert told == [
        ("clock_jump", "forward"),
        ("clock_wrong", None),
        ("clock_jump", "back"),
        ("clock_right", None),
        ("clock_step", "back"),
    ]


def test_without_a_heat_pump_clock_nothing_is_flagged_and_retention_waits():
    mono = Mono()
    guard = guard_for(T0, None, mono, wall=lambda: T0 + 500 * DAY)
    mono.now += 30
    assert not guard.observe(reading(T0 + 500 * DAY, None)).clock_suspect
    assert guard.jumps == 1
    assert abs(guard.trusted_now() - (T0 + 30)) < 1


# A real daemon whose clock is wrong from the start (libfaketime).


def history(state, days=140):
    """A store of `days` days of polls, two a day, up to an hour ago (the controller's clock
    in them right)."""
    start = time.time() - days * DAY - 3600
    with Storage(state, fdatasync=lambda fd: None) as storage:
        for seq in range(1, days * 2 + 1):
            storage.append(reading(start + seq * DAY / 2, start + seq * DAY / 2, seq))
    return days * 2


@pytest.mark.system
@pytest.mark.timeout(60)
@pytest.mark.parametrize("ahead_days", [500, 60])
def test_a_daemon_started_with_its_clock_days_ahead_deletes_nothing(tmp_path, ahead_days, capsys):
    """140 days kept for 150: a clock 60 days ahead made luxlogd 0.1 delete 50 of them, one
    500 days ahead all of them, at the first poll (a new day: retention ran)."""
    require(LIBFAKETIME.exists(), "libfaketime (Debian's faketime package)")
    state = tmp_path / "state"
    stored = history(state)
    with Simulator(speed=1.0) as sim:
        path = config_for(
            tmp_path, sim.port, poll={"interval_s": 0.2}, storage={"retention_days": 150}
        )
        process = start_daemon(
            path,
            env={
                "LD_PRELOAD": str(LIBFAKETIME),
                "FAKETIME": f"+{ahead_days}d",
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            },
        )
        try:
            eventually(lambda: Reader(state).stats().clock_suspect >= 5, timeout=8)
            assert main(["--config", str(path), "status"]) == 1
            out = capsys.readouterr().out
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
        finally:
            process.kill()
    err = process.stderr.read()
    with Reader(state) as reader:
        stats = reader.stats()
    assert stats.polls - stats.clock_suspect == stored  # nothing deleted, nothing merged
    assert stats.last_ms < time.time() * 1000  # the flagged polls are apart from the others
    assert "retention removed" not in err
    assert (
        f"UNHEALTHY: the system clock is {ahead_days} days ahead of the heat pump's clock: "
        "polls are kept apart" in out
    )
    assert f"the system clock is {ahead_days} days after the newest poll stored" in err
    assert f"the system clock is {ahead_days} days ahead of the heat pump's clock" in err
    diary = [e["event"] for e in events.read_events(state)]
    assert "clock_jump" in diary and "clock_wrong" in diary
    # What the daemon flagged is kept, and can be looked at.
    with Reader(state) as reader:
        flagged = list(reader.polls(0, 2**62, [SEQ], suspect=True))
    assert len(flagged) == stats.clock_suspect
    assert all(ts > (time.time() + (ahead_days - 1) * DAY) * 1000 for ts, _, _ in flagged)


def test_status_and_doctor_tell_of_the_jump_and_the_polls_kept_apart(tmp_path, capsys):
    state = tmp_path / "state"
    history(state, days=3)
    path = config_for(tmp_path, 1)
    with Storage(state) as storage:
        now = time.time()
        storage.append(dataclasses.replace(reading(now + 500 * DAY, now), clock_suspect=True))
    events.Events(state, lambda: now).record(
        events.CLOCK_JUMP, seconds=500 * DAY, direction="forward"
    )
    main(["--config", str(path), "status"])
    out = capsys.readouterr().out
    assert "1 poll stamped by a wrong system clock is kept apart" in out
    assert "clock:         the system clock jumped forward by 500 days at " in out
    main(["--config", str(path), "doctor", "--no-heat-pump"])
    out = capsys.readouterr().out
    assert "the system clock jumped forward by 500.0 days" in out
    assert "1 poll stamped by a wrong system clock" in out


# Clocks that step back while polling (an NTP correction).


def stepping_service(tmp_path, sim, start, step_at_s, step_s, polls, interval_s=5):
    """A daemon on a virtual clock whose wall clock steps by `step_s` after `step_at_s`."""
    clock = VirtualClock(wall_start=start.timestamp())
    offset = {"s": 0.0}

    def sleep(seconds):
        clock.sleep(seconds)
        if clock.elapsed >= step_at_s:
            offset["s"] = step_s

    path = config_for(tmp_path, sim.port, poll={"interval_s": interval_s})
    return path, Service(
        load_config(path),
        timefunc=clock.monotonic,
        delayfunc=sleep,
        wallclock=lambda: clock.time() + offset["s"],
        max_polls=polls,
    )


def export_rows(path, start, end, capsys):
    capsys.readouterr()
    assert (
        main(
            [
                "--config",
                str(path),
                "export",
                "--from",
                start,
                "--to",
                end,
                "--sensors",
                "ID_WEB_Temperatur_TA",
            ]
        )
        == 0
    )
    return list(csv.reader(io.StringIO(capsys.readouterr().out)))[1:]


def test_a_step_back_hides_no_poll_from_any_read(tmp_path, capsys, timezone):
    timezone("UTC")
    start = dt.datetime(2026, 11, 29, 10, 59, tzinfo=dt.UTC)
    with Simulator() as sim:
        path, service = stepping_service(tmp_path, sim, start, 120, -120, polls=40)
        assert service.run() == 0
    # 24 polls from 10:59:00 to 11:00:55, then the clock says 10:59:00 again.
    rows = export_rows(path, "2026-11-29T11:00:00", "2026-11-29T11:00:15", capsys)
    stamps = [row[0] for row in rows]
    assert (
        stamps
        == ["2026-11-29T11:00:00+00:00"] * 2
        + ["2026-11-29T11:00:05+00:00"] * 2
        + ["2026-11-29T11:00:10+00:00"] * 2
    )
    every = export_rows(path, "2026-11-29T10:00", "2026-11-29T12:00", capsys)
    assert len(every) == 40 and [r[0] for r in every] == sorted(r[0] for r in every)
    with Storage(tmp_path / "state") as storage:
        storage.database.seal_all()
    assert export_rows(path, "2026-11-29T11:00:00", "2026-11-29T11:00:15", capsys) == rows
    with Reader(tmp_path / "state") as reader:
        buckets = reader.buckets(
            SEQ, start.timestamp() * 1000, start.timestamp() * 1000 + 600_000, 10
        )
    assert sum(b.count for b in buckets) == 40
    diary = events.read_events(tmp_path / "state")
    assert [(e["event"], e["direction"]) for e in diary if e["event"] == "clock_step"] == [
        ("clock_step", "back")
    ]


def test_a_step_back_across_midnight_reads_in_time_order(tmp_path, capsys, timezone):
    timezone("UTC")
    start = dt.datetime(2026, 11, 28, 23, 59, tzinfo=dt.UTC)
    with Simulator() as sim:
        path, service = stepping_service(tmp_path, sim, start, 120, -120, polls=40)
        assert service.run() == 0
    rows = export_rows(path, "2026-11-28T23:00", "2026-11-29T01:00", capsys)
    assert len(rows) == 40
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    with Reader(tmp_path / "state") as reader:
        assert reader.verify_sealed(None)[2] == []


def test_reports_take_polls_by_their_stamp_across_the_roll_up_time(tmp_path, capsys, timezone):
    """Polls stamped 06:59 after a step back belong to the report that ends at 07:00."""
    timezone("UTC")
    state = tmp_path / "state"
    day = dt.datetime(2023, 11, 15, 6, 58, tzinfo=dt.UTC).timestamp()
    stamps = [day + 30 * k for k in range(8)] + [day + 60 + 15 * k for k in range(4)]
    with Storage(state, fdatasync=lambda fd: None) as storage:
        for seq, stamp in enumerate(stamps, start=1):
            storage.append(dataclasses.replace(poll_for(seq), ts_ms=int(stamp * 1000)))
    report_dir = tmp_path / "reports"
    path = config_for(
        tmp_path,
        1,
        reports={"output_dirs": f'["{report_dir}"]', "sensors": '["ID_WEB_Temperatur_TA"]'},
    )
    for date in ("2023-11-15", "2023-11-16"):
        assert main(["--config", str(path), "rollup", "--date", date]) == 0
    first = list(csv.reader((report_dir / "2023-11-15_daily.csv").open()))[1:]
    second = list(csv.reader((report_dir / "2023-11-16_daily.csv").open()))[1:]
    assert len(first) == 4 + 4 and len(second) == 4  # 06:58-06:59:45 twice over; 07:00 on
    assert all(row[0] < "2023-11-15T07:00" for row in first)
    assert [r[0] for r in first] == sorted(r[0] for r in first)

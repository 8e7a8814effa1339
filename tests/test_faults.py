"""The promise under real faults: never delete what is not ours, never two writers on one
store, start whatever the disk did, a slow controller is not a dead one."""

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from luxlogd.base.errors import LockedError, StorageError
from luxlogd.base.files import atomic_file
from luxlogd.cli import main
from luxlogd.config import load_config
from luxlogd.daemon.service import Service
from luxlogd.heatpump.protocol import GROUPS
from luxlogd.outputs.dispatch import Outputs
from luxlogd.reports import rollup
from luxlogd.reports.cleanup import DiskGuard, cleanup
from luxlogd.reports.ledger import Ledger, report_date, reports_lock
from luxlogd.sim.simulator import STAMP_INDEX, Simulator
from luxlogd.store.chunks import DAY_MS, series_id
from luxlogd.store.losses import read_losses
from luxlogd.store.paths import REBUILT_FILE
from luxlogd.store.reader import Reader
from luxlogd.store.writer import Storage
from tests.crash_writer import poll_for
from tests.helpers import eventually, start_daemon
from tests.test_service import config_for, run_in_thread

REPO = Path(__file__).resolve().parent.parent
SEQ = series_id("parameters", 0)
STAMP = series_id("calculations", STAMP_INDEX)  # the test controller's serial number


def stored_seqs(state_dir):
    """parameters[0] of every poll stored (none before the store exists)."""
    try:
        with Reader(state_dir) as reader:
            return [values[0] for _, _, values in reader.polls(0, 2**62, [SEQ])]
    except StorageError:
        return []


def write_polls(state_dir, first, count, block=None, **options):
    """poll_for() of these seqs (`block`: of one base state, a real controller's few changes
    a poll), stored without fsync."""
    with Storage(state_dir, fdatasync=lambda fd: None, **options) as storage:
        for seq in range(first, first + count):
            storage.append(poll_for(seq, block))


@contextlib.contextmanager
def tmpfs(path, size="4m"):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_to(path, percent):
    """Write a filler file until `path`'s file system is `percent` % full."""
    usage = shutil.disk_usage(path)
    wanted = int(usage.total * percent / 100) - (usage.total - usage.free)
    with open(path / "filler.bin", "ab") as handle:
        handle.write(b"\0" * max(0, wanted))


def require_root():
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("needs root for mounts or another user (CI runs as root and never skips)")


# Files that are not ours.


def test_report_names_are_strict():
    assert report_date("2026-01-02_daily.csv") == dt.date(2026, 1, 2)
    assert report_date("2026-01-02_summary.json.gz") == dt.date(2026, 1, 2)
    for foreign in (
        "2020-01-01_bank.csv",
        "2021-06-30_invoices.json",
        "2022-02-02_thesis.dta",
        "1999-13-45_daily.csv",
        "2026-01-02_daily.csv.bak",
        "x2026-01-02_daily.csv",
        "2026-01-02_Daily.csv",
    ):
        assert report_date(foreign) is None, foreign


class Disk:
    """A pretend file system usage that drops as files are deleted (no root needed)."""

    def __init__(self, directory, percent_per_file):
        self.directory = directory
        self.percent_per_file = percent_per_file

    def __call__(self, path):
        ours = [p for p in self.directory.iterdir() if p.suffix in (".csv", ".json")]
        return 80 + self.percent_per_file * len(ours)


def roll_up_days(config, days):
    """Real roll-ups of `days` dates, so the ledger knows the files."""
    for day in days:
        rollup.rollup(config, day, now=dt.datetime(2026, 12, 31, 12).astimezone())


def test_shedding_deletes_only_our_old_reports_oldest_first(tmp_path, timezone):
    timezone("UTC")
    report_dir = tmp_path / "reports"
    path = config_for(
        tmp_path,
        1,
        reports={"output_dirs": f'["{report_dir}"]', "sensors": '["ID_WEB_Temperatur_TA"]'},
        disk={"usage_threshold_percent": 90},
    )
    config = load_config(path)
    write_polls(config.state_dir, 1, 2 * 96 + 10)  # 15-minute polls from 2023-11-14
    days = [dt.date(2023, 11, 15), dt.date(2023, 11, 16)]
    roll_up_days(config, days)
    ours = sorted(p.name for p in report_dir.iterdir())
    assert len(ours) == 6
    decoys = [
        "2020-01-01_bank.csv",
        "2021-06-30_invoices.json",
        "2022-02-02_thesis.dta",
        "2023-05-05_photos.csv",
        "2099-01-01_daily.csv",
        "2021-01-01_daily.csv",
        "1999-13-45_daily.csv",
    ]
    for name in decoys:
        (report_dir / name).write_text("not luxlogd's\n")
    edited = report_dir / "2023-11-15_summary.csv"  # ours once, but the user changed it
    edited.write_text(edited.read_text() + "my note\n")
    disk = Disk(report_dir, percent_per_file=1)  # 80 % + 1 % per report-like file
    guard = DiskGuard(config, usage=disk)
    deleted = guard.check(today=dt.date(2023, 11, 16))
    # Only files the ledger knows, unchanged, dated before today; oldest first, until the
    # disk is below the threshold again.
    left = sorted(p.name for p in report_dir.iterdir())
    assert deleted == 2
    assert "2023-11-15_daily.csv" not in left and "2023-11-15_weekly.csv" not in left
    assert set(decoys) <= set(left) and edited.name in left
    assert {"2023-11-16_daily.csv", "2023-11-16_weekly.csv", "2023-11-16_summary.csv"} <= set(left)


def test_shedding_stops_and_says_so_when_nothing_more_helps(tmp_path, timezone, caplog):
    timezone("UTC")
    report_dir = tmp_path / "reports"
    path = config_for(
        tmp_path,
        1,
        reports={"output_dirs": f'["{report_dir}"]', "sensors": '["ID_WEB_Temperatur_TA"]'},
    )
    config = load_config(path)
    write_polls(config.state_dir, 1, 96 + 10)
    roll_up_days(config, [dt.date(2023, 11, 15)])
    guard = DiskGuard(config, usage=lambda path: 99.0)
    with caplog.at_level(logging.INFO, logger="luxlogd"):
        assert guard.check(today=dt.date(2023, 11, 20)) == 3
        assert guard.check(today=dt.date(2023, 11, 20)) == 0
    messages = [r.getMessage() for r in caplog.records]
    assert sum("no report left that luxlogd may delete" in m for m in messages) == 1
    assert sum("disk use above 90 %" in m for m in messages) == 1


@pytest.mark.system
@pytest.mark.timeout(60)
def test_shedding_on_real_file_systems_never_fails_a_poll(tmp_path, timezone):
    """State and reports on a nearly full 4 MiB tmpfs, more reports on a 25 % full one, and
    a third, full one that is read-only (nothing can be deleted there)."""
    require_root()
    timezone("UTC")
    with tmpfs(tmp_path / "full"), tmpfs(tmp_path / "roomy"), tmpfs(tmp_path / "stuck"):
        dirs = [
            tmp_path / "full" / "reports",
            tmp_path / "roomy" / "reports",
            tmp_path / "stuck" / "reports",
        ]
        with Simulator(start_s=dt.datetime(2023, 11, 17, 12, tzinfo=dt.UTC).timestamp()) as sim:
            path = config_for(
                tmp_path,
                sim.port,
                poll={"interval_s": 0.2},
                reports={
                    "output_dirs": json.dumps([str(d) for d in dirs]),
                    "sensors": '["ID_WEB_Temperatur_TA"]',
                },
                disk={"usage_threshold_percent": 90},
            )
            path.write_text(
                path.read_text().replace(str(tmp_path / "state"), str(tmp_path / "full" / "state"))
            )
            config = load_config(path)
            write_polls(config.state_dir, 1, 2 * 96 + 10)
            roll_up_days(config, [dt.date(2023, 11, 15), dt.date(2023, 11, 16)])
            decoys = ["2020-01-01_bank.csv", "2021-01-01_daily.csv", "2099-01-01_daily.csv"]
            for directory in dirs:
                for name in decoys:
                    (directory / name).write_text("not luxlogd's\n")
            before = {d: sorted(p.name for p in d.iterdir()) for d in dirs}
            fill_to(tmp_path / "full", 97)
            fill_to(tmp_path / "roomy", 25)
            fill_to(tmp_path / "stuck", 97)
            subprocess.run(["mount", "-o", "remount,ro", str(tmp_path / "stuck")], check=True)
            service = Service(config, max_polls=8)
            service.run()
        after = {d: sorted(p.name for p in d.iterdir()) for d in dirs}
    assert service.counters.polls_ok == 8 and service.counters.polls_failed == 0
    full, roomy, stuck = dirs
    assert after[roomy] == before[roomy]  # another, 25 % full disk: nothing deleted
    assert after[stuck] == before[stuck]  # could not delete: polls went on regardless
    assert set(decoys) <= set(after[full])
    gone = set(before[full]) - set(after[full])
    assert gone and all(name.startswith("2023-11-1") for name in gone)


def test_cleanup_survives_impossible_dates_and_huge_retention_is_a_config_error(
    tmp_path, timezone, capsys
):
    timezone("UTC")
    report_dir = tmp_path / "reports"
    path = config_for(
        tmp_path, 1, reports={"output_dirs": f'["{report_dir}"]', "retention_days": 30}
    )
    report_dir.mkdir()
    names = ["1999-13-45_daily.csv", "2000-02-30_weekly.csv", "2020-01-01_daily.csv"]
    for name in names:
        (report_dir / name).write_text("x")
    assert main(["--config", str(path), "cleanup"]) == 0
    # Named like reports, but not written by luxlogd (not in its ledger): left alone.
    assert sorted(p.name for p in report_dir.iterdir()) == names
    path.write_text(path.read_text().replace("retention_days = 30", "retention_days = 1000000"))
    assert main(["--config", str(path), "check-config"]) == 78
    err = capsys.readouterr().err
    assert "reports.retention_days: expected an integer 0-36500, got 1000000" in err


def test_cleanup_skips_a_report_it_cannot_delete_and_goes_on(tmp_path, timezone, capsys):
    """An immutable report (chattr +i) is one warning; the other old reports go, and so do
    the old polls."""
    require_root()
    timezone("UTC")
    report_dir = tmp_path / "reports"
    path = config_for(
        tmp_path,
        1,
        reports={
            "output_dirs": f'["{report_dir}"]',
            "sensors": '["ID_WEB_Temperatur_TA"]',
            "retention_days": 1,
        },
        storage={"retention_days": 1},
    )
    config = load_config(path)
    write_polls(config.state_dir, 1, 3 * 96 + 10)  # 15-minute polls from 2023-11-14
    roll_up_days(config, [dt.date(2023, 11, 15), dt.date(2023, 11, 16)])
    stuck = report_dir / "2023-11-15_daily.csv"
    subprocess.run(["chattr", "+i", str(stuck)], check=True)
    try:
        code = main(["--config", str(path), "cleanup"])
        left = sorted(p.name for p in report_dir.iterdir())
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    captured = capsys.readouterr()
    assert code == 0
    assert left == ["2023-11-15_daily.csv"]
    assert f"cleanup: cannot delete {stuck} (Operation not permitted); skipped" in captured.err
    assert (
        "deleted 5 report files, skipped 1 that could not be deleted and 199 old polls"
        in captured.out
    )


# One writer per store.


def test_a_second_daemon_on_one_store_refuses_and_the_first_loses_nothing(tmp_path):
    with Simulator() as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 0.1})
        first = start_daemon(path)
        try:
            eventually(lambda: (tmp_path / "state" / "status.json").exists())
            second = start_daemon(path)
            assert second.wait(timeout=8) == 1
            err = second.stderr.read()
            assert f"is in use: pid {first.pid} is writing polls there" in err
            assert "Traceback" not in err
            time.sleep(0.5)
            first.send_signal(signal.SIGTERM)
            assert first.wait(timeout=5) == 0
        finally:
            first.kill()
    # The first daemon's own ledger of acknowledged polls against what is stored.
    acknowledged = int(first.stderr.read().rsplit("stopped polls_ok=", 1)[1].split()[0])
    with Reader(tmp_path / "state") as reader:
        stored = [ts for ts, _, _ in reader.polls(0, 2**62, [SEQ])]
    assert acknowledged >= 3 and len(stored) == len(set(stored)) == acknowledged


def test_two_roll_ups_never_run_at_once(tmp_path, capsys):
    path = config_for(tmp_path, 1)
    config = load_config(path)
    with reports_lock(config):
        assert main(["--config", str(path), "rollup", "--now"]) == 1
        assert f"is in use: pid {os.getpid()} is writing or deleting reports" in (
            capsys.readouterr().err
        )
        with pytest.raises(LockedError):
            cleanup(config)
    assert main(["--config", str(path), "rollup", "--now"]) == 0


def test_writers_of_one_file_never_share_a_temporary_name(tmp_path):
    target = tmp_path / "report.csv"
    with atomic_file(target) as first, atomic_file(target) as second:
        first.write("first\n")
        second.write("second\n")
        names = sorted(p.name for p in tmp_path.iterdir())
        assert len(names) == 2 and all(n.startswith(".report.csv.") for n in names)
    assert target.read_text() == "first\n"  # the later rename wins; never a mix
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


# Start, whatever the disk did.


def corrupt_a_page(database, page=3, size=4096):
    with open(database, "r+b") as handle:
        handle.seek(page * size)
        handle.write(os.urandom(size))
        handle.flush()
        os.fsync(handle.fileno())


def test_a_damaged_database_is_moved_aside_and_rebuilt_at_start(tmp_path, caplog):
    state = tmp_path / "state"
    write_polls(state, 1, 4 * 96, block=0)  # four days of 15-minute polls: sealed and hot
    with Storage(state) as storage:
        storage.database.checkpoint()
    pages = (state / "luxlogd.sqlite").stat().st_size // 4096
    assert pages > 8
    corrupt_a_page(state / "luxlogd.sqlite", page=pages // 2)
    with caplog.at_level(logging.ERROR, logger="luxlogd"):
        storage = Storage(state).open()  # never refuses to start
    assert storage.ok
    seq = storage.append(poll_for(4 * 96 + 1, block=0))
    storage.close()
    assert seq == 4 * 96 + 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(
        "damaged database rebuilt, polls_lost=0" in m
        and "moved aside" in m
        and "Check the disk" in m
        for m in errors
    )
    (told,) = read_losses(state)
    assert (told.kind, told.polls_lost) == ("database_rebuilt", 0)
    note = json.loads((state / REBUILT_FILE).read_text())
    assert Path(note["moved_to"]).exists() and note["days_rescued"] == 4
    every = [
        series_id(group, index)
        for group, length in zip(GROUPS, poll_for(1, 0).lengths, strict=True)
        for index in range(length)
    ]
    with Reader(state) as reader:
        rows = list(reader.polls(0, 2**62, every))
    # Every poll is there; a value is either what was stored or missing, never wrong.
    assert len(rows) == 4 * 96 + 1
    missing = 0
    for seq, (ts_ms, _, values) in enumerate(rows, start=1):
        expected = poll_for(seq, block=0)
        assert ts_ms == expected.ts_ms
        for value, truth in zip(values, expected.flat(), strict=True):
            if value is None:
                missing += 1
            else:
                assert value == truth
    assert 0 < missing < len(rows) * len(every) // 20  # the damaged page's share, no more
    with Storage(state) as reopened:  # and the new database is sound
        assert reopened.database.quick_check(full=True) == "ok"


def test_damaged_pages_never_lose_the_day_not_sealed_yet(tmp_path, capsys):
    """Random bytes over 3 pages of a store of three sealed days and 327 polls of today (in
    SQLite's hot table, checkpointed): `status` says so without a traceback, and the restart
    rebuilds the database with every poll of today back (the log keeps them until their day
    is sealed); what the damage took is counted in the ledger of losses, to the poll."""
    state = tmp_path / "state"
    day = 1_700_006_400_000  # a UTC midnight
    polls = [
        dataclasses.replace(poll_for(seq, block=0), ts_ms=day - 3 * DAY_MS + seq * 900_000)
        for seq in range(1, 3 * 96 + 1)
    ]
    polls += [
        dataclasses.replace(poll_for(seq, block=0), ts_ms=day + (seq - 288) * 30_000)
        for seq in range(3 * 96 + 1, 3 * 96 + 328)
    ]
    with Storage(state, fdatasync=lambda fd: None) as storage:
        for poll in polls:
            storage.append(poll)
        storage.database.checkpoint()
    database = state / "luxlogd.sqlite"
    pages = database.stat().st_size // 4096
    for page in random.Random(5).sample(range(1, pages), 3):
        corrupt_a_page(database, page)
    path = config_for(tmp_path, 1)
    main(["--config", str(path), "status"])
    out = capsys.readouterr().out
    assert "Traceback" not in out and "database:      damaged" in out, out
    with Storage(state) as storage:
        assert storage.ok
    seen = {v[0] for _, _, v in Reader(state).polls(0, 2**62, [SEQ])}
    today = {p.parameters[0] for p in polls[288:]}
    assert today <= seen, sorted(today - seen)
    (told,) = read_losses(state)
    assert told.kind == "database_rebuilt"
    assert told.polls_lost == len({p.parameters[0] for p in polls} - seen)


def test_a_file_that_is_no_database_at_all_is_replaced(tmp_path):
    state = tmp_path / "state"
    write_polls(state, 1, 20)
    (state / "luxlogd.sqlite").write_bytes(os.urandom(8192))
    for extra in state.glob("luxlogd.sqlite-*"):
        extra.unlink()
    with Storage(state) as storage:
        assert storage.ok
    assert stored_seqs(state) == list(range(1, 21))  # all still in the write-ahead log


def test_the_daemon_starts_over_a_damaged_database_and_says_so(tmp_path, capsys):
    state = tmp_path / "state"
    write_polls(state, 1, 4 * 96)
    corrupt_a_page(state / "luxlogd.sqlite", page=2)
    with Simulator() as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 0.1})
        service = Service(load_config(path), max_polls=3)
        assert service.run() == 0
    assert service.counters.polls_ok == 3
    assert main(["--config", str(path), "status"]) == 1  # the daemon is not running now
    out = capsys.readouterr().out
    assert "attention:     the database was damaged and rebuilt" in out


@pytest.mark.timeout(30)
def test_a_read_only_database_keeps_polling_into_the_wal(tmp_path, capsys):
    """As the daemon's user sees it (root ignores file modes: the daemon runs without that)."""
    state = tmp_path / "state"
    write_polls(state, 1, 10)
    os.chmod(state / "luxlogd.sqlite", 0o444)
    with Simulator() as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 0.1})
        process = start_daemon(path, unprivileged=True)
        try:
            eventually(lambda: len(stored_seqs(state)) >= 15, timeout=15)
            status = json.loads((state / "status.json").read_text())
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
        finally:
            process.kill()
    assert status["storage_ok"] is False and "readonly" in status["storage_problem"]
    err = process.stderr.read()
    assert "database unusable, polls are kept in the write-ahead log" in err
    assert "Traceback" not in err
    assert stored_seqs(state)[:10] == list(range(1, 11))


def test_status_is_unhealthy_while_storage_fails(tmp_path, capsys):
    path = config_for(tmp_path, 1)
    state = tmp_path / "state"
    state.mkdir()
    status = {
        "pid": os.getpid(),
        "updated": time.time(),
        "last_success": time.time(),
        "storage_ok": False,
        "storage_problem": "attempt to write a readonly database",
        "status": "last poll now",
    }
    (state / "status.json").write_text(json.dumps(status))
    assert main(["--config", str(path), "status"]) == 1
    out = capsys.readouterr().out
    assert "UNHEALTHY: storage failing: attempt to write a readonly database" in out


def test_a_deleted_wal_directory_is_noticed_and_nothing_acknowledged_is_lost(tmp_path, caplog):
    state = tmp_path / "state"
    storage = Storage(state, commit_every=1000).open()  # nothing reaches SQLite's file early
    for seq in range(1, 6):
        storage.append(poll_for(seq))
    shutil.rmtree(state / "wal")
    with caplog.at_level(logging.ERROR, logger="luxlogd"):
        for seq in range(6, 11):
            assert storage.append(poll_for(seq)) == seq
    assert any("was deleted while in use" in r.getMessage() for r in caplog.records)
    assert (state / "wal").is_dir()
    # A crash now: no clean close, the write buffer is lost, the lock goes with the process.
    storage.database.db.close()
    storage.wal.close()
    storage.lock.release()
    assert stored_seqs(state) == list(range(1, 11))


@pytest.mark.timeout(30)
def test_a_state_directory_that_cannot_be_written_exits_78(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o555)
    path = config_for(tmp_path, 1)
    process = start_daemon(path, unprivileged=True)
    assert process.wait(timeout=10) == 78
    err = process.stderr.read()
    assert f"storage.state_dir {state}: cannot write there (Permission denied)" in err
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_a_state_path_with_hash_and_question_mark_reads_the_right_file(tmp_path):
    state = tmp_path / "heat#pump?1"
    write_polls(state, 1, 30)
    write_polls(tmp_path / "heat", 100, 5)  # what an unquoted URI would open instead
    assert stored_seqs(state) == list(range(1, 31))


def test_retention_of_a_century_does_not_overflow(tmp_path):
    write_polls(tmp_path, 1, 300, retention_days=36_500)
    with Storage(tmp_path, retention_days=36_500) as storage:
        assert storage.apply_retention(poll_for(300).ts_ms + 3 * DAY_MS) == 0


# A slow controller is not a dead one.


def test_a_controller_slower_than_the_interval_is_slow_not_unreachable(tmp_path, caplog):
    with Simulator(fault="slow", delay_s=1.5) as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 1})
        path.write_text(path.read_text().replace("timeout_s = 1", "timeout_s = 5"))
        service = Service(load_config(path))
        with caplog.at_level(logging.DEBUG, logger="luxlogd"):
            thread, _ = run_in_thread(service)
            eventually(lambda: service.counters.polls_ok >= 3, timeout=9)
            service.request_stop()
            thread.join(5)
    counters = service.counters
    assert counters.polls_failed == 0 and counters.slots_skipped >= 2
    assert counters.polls_slow >= 3
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not any("unreachable" in m for m in messages)
    slow = [m for m in messages if m.startswith("heat pump slow: the read took ")]
    assert len(slow) == 1  # once, then quietly (on a busy machine a read takes a little longer)
    assert 1.5 <= float(slow[0].split("took ")[1].split(" s")[0]) < 3
    assert "heat pump slow" in service.status_text()


@pytest.mark.system
@pytest.mark.timeout(90)
def test_at_the_default_interval_a_35_s_controller_is_polled(tmp_path, caplog):
    with Simulator(fault="slow", delay_s=35) as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 30})
        path.write_text(path.read_text().replace("timeout_s = 1", "timeout_s = 60"))
        service = Service(load_config(path))
        with caplog.at_level(logging.INFO, logger="luxlogd"):
            thread, _ = run_in_thread(service)
            eventually(lambda: service.counters.polls_ok >= 1, timeout=45)
            eventually(lambda: service.counters.slots_skipped >= 1, timeout=5)
            service.request_stop()
            thread.join(5)
    assert service.counters.polls_failed == 0
    assert service.counters.last_poll_duration_s == pytest.approx(35, abs=2)
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any(
        "heat pump slow: the read took 35." in m and "skipped_polls=1" in m for m in messages
    )
    assert not any("unreachable" in m for m in messages)
    with Reader(tmp_path / "state") as reader:
        assert reader.stats().polls == 1


def test_the_ledger_ignores_a_torn_last_line(tmp_path):
    ledger = Ledger(tmp_path)
    report = tmp_path / "2026-01-01_daily.csv"
    report.write_text("x\n")
    ledger.record([report])
    with open(ledger.path, "a") as handle:
        handle.write('{"path": "/etc/pass')
    assert ledger.ours() == [report.resolve()]
    report.write_text("changed\n")
    assert ledger.ours() == []
    ledger.prune()
    assert ledger.path.read_text() == ""


# Outputs never stop polling.


def taken_port():
    """A TCP port on 127.0.0.1 that something else listens on."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder, holder.getsockname()[1]


@pytest.mark.system
@pytest.mark.timeout(60)
def test_a_taken_web_port_is_one_error_and_polling_goes_on(tmp_path, capsys):
    holder, port = taken_port()
    with holder, Simulator() as sim:
        path = config_for(
            tmp_path,
            sim.port,
            poll={"interval_s": 0.2},
            web={"enabled": "true", "listen": f'"127.0.0.1:{port}"'},
        )
        process = start_daemon(path)
        try:
            eventually(
                lambda: (
                    (tmp_path / "state" / "status.json").exists()
                    and len(stored_seqs(tmp_path / "state")) >= 10
                )
            )
            assert process.poll() is None  # still running, storing
            assert main(["--config", str(path), "status"]) == 1
            out = capsys.readouterr().out
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
        finally:
            process.kill()
    err = process.stderr.read()
    problem = (
        f"web server not serving: cannot listen on 127.0.0.1:{port} (Address already "
        f"in use; held by pid {os.getpid()} ("
    )
    assert err.count(problem) == 1, err
    assert "Traceback" not in err and "janitor" not in err
    assert f"UNHEALTHY: {problem}" in out


def test_the_web_server_is_tried_again_and_follows_a_reload(tmp_path):
    """Back-off on a virtual clock: the port is free again, the server listens; a reload with
    a new web.listen moves it there."""
    holder, port = taken_port()
    clock = {"now": 0.0}
    path = config_for(tmp_path, 1, web={"enabled": "true", "listen": f'"127.0.0.1:{port}"'})
    config = load_config(path)
    outputs = Outputs(config, None, time.time, lambda: clock["now"])
    outputs.start()
    assert outputs.web is None and "Address already in use" in outputs.problems()[0]
    holder.close()
    clock["now"] = 5.0
    outputs.update(None, True)
    assert outputs.web is None  # not yet: the first retry comes after 10 s
    clock["now"] = 10.5
    outputs.update(None, True)
    assert outputs.web is not None and outputs.problems() == []
    assert socket.create_connection(("127.0.0.1", port), timeout=2)
    moved = tmp_path / "moved.toml"
    moved.write_text(path.read_text().replace(f"127.0.0.1:{port}", "127.0.0.1:0"))
    outputs.reload(load_config(moved))
    assert outputs.web is not None and outputs.web.address == ("127.0.0.1", 0)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    outputs.stop()


@pytest.mark.system
@pytest.mark.timeout(60)
def test_a_truncated_shared_memory_file_is_told_at_the_next_start(tmp_path):
    """Truncating luxlogd.sqlite-shm under a running daemon: SQLite's mapping of it raises
    SIGBUS, which no process can log; the next start tells it, as one ERROR record, with
    where every thread was. Nothing acknowledged is lost."""
    state = tmp_path / "state"
    with Simulator(stamp=True) as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 0.1})
        process = start_daemon(path)
        try:
            eventually(lambda: len(stored_seqs(state)) >= 20)
            os.truncate(state / "luxlogd.sqlite-shm", 0)
            assert process.wait(timeout=10) == -signal.SIGBUS
            again = start_daemon(path)
            eventually(lambda: len(stored_seqs(state)) >= 40)
            again.send_signal(signal.SIGTERM)
            assert again.wait(timeout=5) == 0
        finally:
            process.kill()
        served = list(sim.served)
    err = again.stderr.read()
    assert (
        "ERROR luxlogd: the previous run died: Fatal Python error: Bus error (SIGBUS: a "
        "file luxlogd had mapped (luxlogd.sqlite-shm) was truncated" in err
    )
    assert "most recent call first" in err
    with Reader(state) as reader:
        stamps = {v[0] for _, _, v in reader.polls(0, 2**62, [STAMP])}
    assert len(set(served) - stamps) <= 1  # at most the poll in flight at the signal


@pytest.mark.system
@pytest.mark.timeout(60)
def test_after_a_clean_stop_storage_is_not_failing(tmp_path, capsys):
    with Simulator() as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 0.1})
        process = start_daemon(path)
        try:
            eventually(lambda: len(stored_seqs(tmp_path / "state")) >= 5)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
        finally:
            process.kill()
    assert main(["--config", str(path), "status"]) == 1
    out = capsys.readouterr().out
    assert "UNHEALTHY: the daemon is not running" in out and "storage failing" not in out


@pytest.mark.system
@pytest.mark.timeout(60)
def test_status_tells_a_storage_failure_within_a_poll(tmp_path, capsys):
    """A database the daemon cannot write: the polls wait in the log, and `status` says
    so after the first failed commit (10 polls), not a minute later."""
    state = tmp_path / "state"
    write_polls(state, 1, 10)
    os.chmod(state / "luxlogd.sqlite", 0o444)
    with Simulator() as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 0.2})
        process = start_daemon(path, unprivileged=True)
        try:

            def unhealthy():
                main(["--config", str(path), "status"])
                return "UNHEALTHY: storage failing: " in capsys.readouterr().out

            eventually(lambda: len(stored_seqs(state)) >= 11)
            started = time.monotonic()
            eventually(unhealthy, timeout=10 * 0.2 + 2)
            assert time.monotonic() - started < 10 * 0.2 + 2
        finally:
            process.kill()


@pytest.mark.system
@pytest.mark.timeout(60)
def test_status_stays_current_when_the_state_directory_cannot_be_written(tmp_path, capsys):
    state = tmp_path / "state"
    with Simulator() as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 0.2})
        process = start_daemon(path, unprivileged=True)
        try:
            eventually(lambda: (state / "status.json").exists())
            os.chmod(state, 0o555)
            time.sleep(1)
            main(["--config", str(path), "status"])
            first = capsys.readouterr().out
            time.sleep(1.5)
            main(["--config", str(path), "status"])
            second = capsys.readouterr().out
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
        finally:
            os.chmod(state, 0o755)
            process.kill()
    ok = [line for line in (first + second).splitlines() if line.startswith("polls:")]
    assert ok[0] != ok[1]  # the daemon's own count moved on: the status is current
    assert f"UNHEALTHY: storage failing: {state} cannot be written" in first
    err = process.stderr.read()
    assert (
        err.count(
            f"cannot write {state / 'status.json'} (Permission denied); the status "
            "goes to /dev/shm/luxlogd-status-"
        )
        == 1
    )


@pytest.mark.system
@pytest.mark.timeout(60)
def test_every_loss_is_told_by_status_doctor_healthz_and_metrics(tmp_path, capsys):
    """A flipped bit in the log while SQLite had not got the polls: one poll is gone, and
    every interface says so (doctor no longer says "Integrity: ok")."""
    from tests.system import free_port
    from tests.test_wal import flip, forget_database, frames_in, write

    state = tmp_path / "state"
    write(state, 30)
    forget_database(state)
    (segment,) = sorted((state / "wal").glob("*.wal"))
    seq, start, end = frames_in(segment)[9]
    flip(segment, (start + end) // 2)
    port = free_port()
    with Simulator() as sim:
        path = config_for(
            tmp_path,
            sim.port,
            poll={"interval_s": 0.2},
            web={"enabled": "true", "listen": f'"127.0.0.1:{port}"'},
            storage={"retention_days": 0},
        )
        process = start_daemon(path)
        try:
            eventually(lambda: len(stored_seqs(state)) >= 32)
            healthz = urllib.request.urlopen  # noqa: S310 - loopback
            with pytest.raises(urllib.error.HTTPError) as answer:
                healthz(f"http://127.0.0.1:{port}/healthz", timeout=5)
            body = json.loads(answer.value.read())
            metrics = healthz(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            assert main(["--config", str(path), "status"]) == 1
            status = capsys.readouterr().out
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
        finally:
            process.kill()
    assert answer.value.code == 503 and body["polls_lost_total"] == 1
    assert body["problems"][0].startswith("stored data was damaged in the last day: ")
    assert "damaged records in the write-ahead log, 1 poll lost between" in body["problems"][0]
    assert "\nluxlogd_polls_lost_total 1.0\n" in metrics
    assert "losses:        1 polls lost to damage in all" in status
    assert "UNHEALTHY: stored data was damaged in the last day" in status
    assert main(["--config", str(path), "doctor", "--no-heat-pump"]) == 1
    doctor = capsys.readouterr().out
    assert "Integrity: problem" in doctor
    assert "1 damage event, 1 poll lost in all" in doctor
    assert f"seqs {seq}: {segment.name} bytes" in doctor

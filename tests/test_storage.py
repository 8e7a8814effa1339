import errno
import json
import os
import sqlite3

import pytest

from luxlogd.base.errors import StorageError
from luxlogd.cli import main
from luxlogd.store import frames, wal
from luxlogd.store.chunks import DAY_MS, HOUR_MS, series_id
from luxlogd.store.database import Database
from luxlogd.store.reader import Reader
from luxlogd.store.schema import SCHEMA_VERSION
from luxlogd.store.writer import Storage
from tests.crash_writer import poll_for
from tests.helpers import no_sync, simulated_polls

TVL = series_id("calculations", 10)
SEQ = series_id("parameters", 0)


def test_polls_survive_reopening_exactly(tmp_path):
    polls = simulated_polls(200)
    with Storage(tmp_path, fdatasync=no_sync) as storage:
        seqs = [storage.append(p) for p in polls]
    assert seqs == list(range(1, 201))
    with Storage(tmp_path) as storage:
        assert storage.database.last_seq == 200
        assert storage.append(polls[-1]) == 201
    reader = Reader(tmp_path)
    every = [
        series_id(g, i)
        for g, n in (("parameters", 1143), ("calculations", 267), ("visibilities", 366))
        for i in range(n)
    ]
    rows = list(reader.polls(0, 2**62, every))
    reader.close()
    assert [(t, s, v) for t, s, v in rows] == [
        (p.ts_ms, p.calc_status, p.flat()) for p in [*polls, polls[-1]]
    ]


def test_days_are_sealed_into_blocks_and_read_back_identically(tmp_path):
    polls = simulated_polls(3 * 720 + 10, step_s=120)
    with Storage(tmp_path, fdatasync=no_sync) as storage:
        for p in polls:
            storage.append(p)
        storage.flush()
        chunks = storage.database.db.execute("SELECT count(*), sum(count) FROM chunks").fetchone()
        hot = storage.database.db.execute("SELECT count(*) FROM hot").fetchone()[0]
    assert chunks[0] == 3 and chunks[1] + hot == len(polls)
    reader = Reader(tmp_path)
    ids = [
        TVL,
        series_id("calculations", 134),
        series_id("parameters", 1139),
        series_id("visibilities", 5),
    ]
    rows = list(reader.polls(polls[100].ts_ms, polls[-5].ts_ms, ids))
    reader.close()
    expected = [
        (
            p.ts_ms,
            0,
            [p.calculations[10], p.calculations[134], p.parameters[1139], p.visibilities[5]],
        )
        for p in polls[100:-5]
    ]
    assert rows == expected
    size = (tmp_path / "luxlogd.sqlite").stat().st_size
    assert size / len(polls) < 150  # bytes per poll, sealed days plus a hot day


def test_a_failed_fsync_is_never_acknowledged_and_poisons_the_log(tmp_path):
    calls = []

    def failing_once(fd):
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.EIO, "Input/output error")

    storage = Storage(tmp_path, fdatasync=failing_once).open()
    assert storage.append(poll_for(1)) == 1
    assert storage.append(poll_for(2)) == 2
    with pytest.raises(wal.WalError, match="cannot make the log durable: Input/output error"):
        storage.append(poll_for(3))
    with pytest.raises(wal.WalError, match="unusable after an earlier failure"):
        storage.append(poll_for(3))
    storage.close()
    with Storage(tmp_path) as reopened:  # restart: recovery from the log
        assert reopened.database.last_seq >= 2
        next_seq = reopened.append(poll_for(reopened.database.last_seq + 1))
    assert next_seq in (3, 4)


def test_a_failed_write_is_undone_so_later_records_follow_cleanly(tmp_path, monkeypatch):
    storage = Storage(tmp_path).open()
    storage.append(poll_for(1))
    real_pwrite = os.pwrite
    state = {"fail": True}

    def full_disk(fd, data, offset):
        if state["fail"] and len(data) > 100:
            state["fail"] = False
            real_pwrite(fd, data[: len(data) // 2], offset)  # a partial write, then ENOSPC
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", full_disk)
    with pytest.raises(wal.WalError, match="No space left on device"):
        storage.append(poll_for(2))
    assert storage.append(poll_for(2)) == 2
    storage.close()
    monkeypatch.undo()
    Storage(tmp_path).open().close()
    assert [record.seq for record in frames.read_records(tmp_path / "wal")] == [1, 2]


def test_a_database_write_failure_keeps_polls_in_the_wal_and_catches_up(tmp_path):
    storage = Storage(tmp_path, fdatasync=no_sync, commit_every=1).open()
    storage.append(poll_for(1))
    healthy = storage.database.db
    storage.database.db = sqlite3.connect(
        f"file:{tmp_path / 'luxlogd.sqlite'}?mode=ro", uri=True, isolation_level=None
    )
    assert storage.append(poll_for(2)) == 2  # acknowledged: it is in the WAL
    assert not storage.ok and "readonly" in storage.problem
    storage.database.db.close()
    storage.database.db = healthy
    assert storage.append(poll_for(3)) == 3
    assert not storage.ok  # retried only every few polls, not on each one
    for seq in range(4, 13):
        assert storage.append(poll_for(seq)) == seq
    assert storage.ok
    assert storage.database.last_seq == 12
    storage.close()
    reader = Reader(tmp_path)
    assert [v[0] for _, _, v in reader.polls(0, 2**62, [SEQ])] == list(range(1, 13))
    reader.close()


def test_retention_deletes_old_days_and_frees_space(tmp_path):
    polls = simulated_polls(3 * 720, step_s=120)
    with Storage(tmp_path, fdatasync=no_sync) as storage:
        for p in polls:
            storage.append(p)
        with Reader(tmp_path) as reader:
            before = reader.stats()
        cutoff = polls[0].ts_ms - polls[0].ts_ms % DAY_MS + 2 * DAY_MS
        removed = storage.database.delete_before(cutoff)
        assert storage.database.quick_check(full=True) == "ok"
    with Reader(tmp_path) as reader:
        after = reader.stats()
        remaining = [r[0] for r in reader.polls(0, 2**62, [TVL])]
    assert removed > 0 and after.polls == before.polls - removed
    assert after.first_ms >= cutoff - DAY_MS
    assert remaining == [p.ts_ms for p in polls if p.ts_ms >= after.first_ms]


def test_the_writer_applies_retention_when_a_day_is_sealed(tmp_path):
    polls = simulated_polls(int(3.5 * 360), step_s=240)
    with Storage(tmp_path, fdatasync=no_sync, retention_days=1) as storage:
        for p in polls:
            storage.append(p)
    with Reader(tmp_path) as reader:
        first_ms = reader.stats().first_ms
    newest_day = polls[-1].ts_ms - polls[-1].ts_ms % DAY_MS
    assert first_ms >= newest_day - 2 * DAY_MS  # older days are gone
    assert first_ms > polls[0].ts_ms
    with Storage(tmp_path / "keep", fdatasync=no_sync, retention_days=0) as storage:
        for p in polls[: 2 * 720]:
            storage.append(p)
    with Reader(tmp_path / "keep") as reader:
        assert reader.stats().first_ms == polls[0].ts_ms  # 0 keeps everything


def test_migration_from_an_empty_database_file(tmp_path):
    empty = tmp_path / "luxlogd.sqlite"
    empty.touch()
    store = Database(empty)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.insert(1, poll_for(1))
    store.close()
    newer = tmp_path / "newer.sqlite"
    sqlite3.connect(newer).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(StorageError, match="newer than this luxlogd"):
        Database(newer)
    with pytest.raises(StorageError, match="no luxlogd data here"):
        Reader(tmp_path / "nothing")


def store_sample(tmp_path, count=100):
    polls = simulated_polls(count, start=1_763_794_800.0)  # 2025-11-22 07:00 UTC
    with Storage(tmp_path, fdatasync=no_sync) as storage:
        for p in polls:
            storage.append(p)
    return polls


def test_export_csv_has_the_header_iso_timestamps_and_decoded_values(
    tmp_path, monkeypatch, capsys, timezone
):
    timezone("Europe/Berlin")
    polls = store_sample(tmp_path)
    monkeypatch.setenv("LUXLOGD_STORAGE_STATE_DIR", str(tmp_path))
    assert (
        main(
            [
                "export",
                "--from",
                "2025-11-22T08:00",
                "--to",
                "2025-11-22T08:10",
                "--sensors",
                "ID_WEB_Temperatur_T?L,ID_WEB_SoftStand,ID_WEB_VD1out",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "timestamp,ID_WEB_Temperatur_TVL,ID_WEB_Temperatur_TRL,ID_WEB_VD1out,ID_WEB_SoftStand"
    )
    assert len(lines) == 1 + 20
    assert lines[1].startswith("2025-11-22T08:00:00+01:00,")
    first = polls[0]
    assert lines[1].split(",")[1:] == [
        str(first.calculations[10] / 10),
        str(first.calculations[11] / 10),
        str(first.calculations[44]),
        "V3.88",
    ]


def test_export_json_to_a_file_and_a_whole_day(tmp_path, monkeypatch, capsys, timezone):
    timezone("UTC")
    polls = store_sample(tmp_path)
    monkeypatch.setenv("LUXLOGD_STORAGE_STATE_DIR", str(tmp_path))
    out = tmp_path / "out.json"
    assert (
        main(
            [
                "export",
                "--from",
                "2025-11-22",
                "--to",
                "2025-11-22",
                "--format",
                "json",
                "--sensors",
                "ID_WEB_Temperatur_TA,ID_WEB_AktuelleTimeStamp",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    records = json.loads(out.read_text())
    assert len(records) == len(polls)
    assert records[0] == {
        "timestamp": "2025-11-22T07:00:00+00:00",
        "ID_WEB_Temperatur_TA": polls[0].calculations[15] / 10,
        "ID_WEB_AktuelleTimeStamp": records[0]["ID_WEB_AktuelleTimeStamp"],
    }
    assert "T" in records[0]["ID_WEB_AktuelleTimeStamp"]
    assert main(["export", "--from", "2020-01-01", "--to", "2020-01-02", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_export_arguments_are_checked(tmp_path, monkeypatch, capsys):
    store_sample(tmp_path, 5)
    monkeypatch.setenv("LUXLOGD_STORAGE_STATE_DIR", str(tmp_path))
    assert main(["export", "--from", "yesterday", "--to", "2025-11-23"]) == 2
    assert "expected an ISO 8601 date" in capsys.readouterr().err
    assert main(["export", "--from", "2025-11-23", "--to", "2025-11-22T00:00"]) == 2
    assert (
        main(["export", "--from", "2025-11-22", "--to", "2025-11-23", "--sensors", "ID_WEB_Bogus"])
        == 2
    )
    assert "unknown sensor 'ID_WEB_Bogus'" in capsys.readouterr().err
    monkeypatch.setenv("LUXLOGD_STORAGE_STATE_DIR", str(tmp_path / "empty"))
    assert main(["export", "--from", "2025-11-22", "--to", "2025-11-23"]) == 1
    assert "no luxlogd data here" in capsys.readouterr().err


def test_blocks_lost_in_a_rebuild_read_as_missing_never_as_wrong_values(tmp_path):
    polls = simulated_polls(2 * 720 + 10, step_s=120)
    with Storage(tmp_path, fdatasync=no_sync) as storage:
        for p in polls:
            storage.append(p)
        first_chunk = storage.database.db.execute("SELECT min(id) FROM chunks").fetchone()[0]
        storage.database.db.execute("INSERT INTO lost VALUES (?, ?)", (first_chunk, TVL))
        day_end = storage.database.db.execute(
            "SELECT end_ms FROM chunks WHERE id = ?", (first_chunk,)
        ).fetchone()[0]
    with Reader(tmp_path) as reader:
        rows = list(reader.polls(0, 2**62, [TVL, SEQ]))
        short = reader.buckets(TVL, polls[0].ts_ms, polls[-1].ts_ms + 1, 500)
        hourly = reader.buckets(
            TVL, polls[0].ts_ms - polls[0].ts_ms % HOUR_MS, polls[-1].ts_ms + HOUR_MS, 20
        )
    for (ts_ms, _, (tvl, seq)), poll in zip(rows, polls, strict=True):
        assert seq == poll.parameters[0]  # other series of that day are intact
        assert tvl is None if ts_ms <= day_end else tvl == poll.calculations[10]
    later = [p for p in polls if p.ts_ms > day_end]
    for buckets in (short, hourly):
        assert sum(b.count for b in buckets) == len(later)
        assert max(b.maximum for b in buckets) == max(p.calculations[10] for p in later)

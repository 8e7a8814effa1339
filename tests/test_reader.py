"""store/reader.py: the one read path (sealed days, the hot day, polls only in the WAL)."""

from luxlogd.store.chunks import DAY_MS, HOUR_MS, series_id
from luxlogd.store.reader import Reader, database_bytes
from luxlogd.store.writer import Storage
from tests.helpers import no_sync, simulated_polls

TVL = series_id("calculations", 10)


def brute_force_buckets(polls, start_ms, end_ms, points):
    width = -(-(end_ms - start_ms) // points)
    groups = {}
    for p in polls:
        if start_ms <= p.ts_ms < end_ms:
            groups.setdefault((p.ts_ms - start_ms) // width, []).append(p.calculations[10])
    return {
        start_ms + k * width: (min(v), max(v), sum(v) / len(v), len(v)) for k, v in groups.items()
    }


def test_downsampled_series_equal_a_brute_force_computation(tmp_path):
    polls = simulated_polls(2 * 720 + 100, step_s=120)
    with Storage(tmp_path, fdatasync=no_sync) as storage:
        for p in polls:
            storage.append(p)
    with Reader(tmp_path) as store:
        # Short buckets: from the polls themselves, exactly.
        start, end = polls[50].ts_ms, polls[500].ts_ms
        got = {
            b.start_ms: (b.minimum, b.maximum, b.mean, b.count)
            for b in store.buckets(TVL, start, end, 100)
        }
        assert got == brute_force_buckets(polls, start, end, 100)
        # Hour-aligned long buckets: from the hourly aggregates, also exactly.
        day = polls[0].ts_ms - polls[0].ts_ms % DAY_MS + DAY_MS
        start, end = day, day + DAY_MS + 4 * HOUR_MS
        got = {
            b.start_ms: (b.minimum, b.maximum, round(b.mean, 6), b.count)
            for b in store.buckets(TVL, start, end, 7)
        }
        want = {
            k: (a, b, round(c, 6), d)
            for k, (a, b, c, d) in brute_force_buckets(polls, start, end, 7).items()
        }
        assert got == want
        # A constant series in a sealed day comes from the day's base values.
        constant = store.buckets(series_id("calculations", 91), start, end, 7)
        assert {b.minimum for b in constant} == {polls[0].calculations[91]}


def test_every_read_sees_polls_that_are_only_in_the_wal(tmp_path):
    polls = simulated_polls(25)
    storage = Storage(tmp_path, fdatasync=no_sync, commit_every=10).open()
    for p in polls:
        storage.append(p)
    reader = Reader(tmp_path)  # SQLite has committed some; the rest wait in the write buffer
    committed = reader.database.last_seq_committed()
    assert 0 < committed < 25
    assert [r[0] for r in reader.polls(0, 2**62, [TVL])] == [p.ts_ms for p in polls]
    assert reader.latest_lengths() == {"parameters": 1143, "calculations": 267, "visibilities": 366}
    buckets = reader.buckets(TVL, polls[0].ts_ms, polls[-1].ts_ms + 1, 25)
    assert sum(b.count for b in buckets) == 25  # the chart includes the newest poll
    assert buckets[-1].maximum == polls[-1].calculations[10]
    stats = reader.stats()
    assert (stats.polls, stats.wal_only, stats.last_ms) == (25, 25 - committed, polls[-1].ts_ms)
    assert reader.latest() == polls[-1]
    reader.close()
    storage.close()
    with Reader(tmp_path) as sealed_only:  # and the newest poll of a sealed day
        assert sealed_only.latest() == polls[-1]


def test_one_reader_sees_new_polls_and_a_sealed_day_once(tmp_path):
    """A reader keeps the hot day decoded between its reads (the glance panel reads it four
    times): a poll stored meanwhile is seen, and a day sealed meanwhile is not read twice."""
    polls = simulated_polls(30)
    storage = Storage(tmp_path, fdatasync=no_sync, commit_every=1).open()
    for p in polls[:20]:
        storage.append(p)
    with Reader(tmp_path) as reader:
        times, (flow,) = reader.columns(0, 2**62, [TVL])
        assert times == [p.ts_ms for p in polls[:20]]
        for p in polls[20:]:
            storage.append(p)
        storage.flush()
        assert reader.columns(0, 2**62, [TVL])[0] == [p.ts_ms for p in polls]
        storage.database.seal_all()  # the hot rows become a sealed chunk
        times, (flow,) = reader.columns(0, 2**62, [TVL])
        assert times == [p.ts_ms for p in polls]  # once each, not from both places
        assert flow == [p.calculations[10] for p in polls]
    storage.close()


def test_one_reader_sees_polls_appended_to_the_wal_meanwhile(tmp_path):
    """A reader keeps the log's records between its reads too: a poll appended meanwhile,
    only in the log yet, is seen by the next read."""
    polls = simulated_polls(12)
    storage = Storage(tmp_path, fdatasync=no_sync, commit_every=100).open()
    for p in polls[:10]:
        storage.append(p)
    with Reader(tmp_path) as reader:
        assert reader.columns(0, 2**62, [TVL])[0] == [p.ts_ms for p in polls[:10]]
        for p in polls[10:]:
            storage.append(p)  # into the log; SQLite takes it later
        assert reader.columns(0, 2**62, [TVL])[0] == [p.ts_ms for p in polls]
        assert reader.latest() == polls[-1] and reader.stats().wal_only >= 2
    storage.close()


def test_status_and_metrics_count_the_database_the_same_way(tmp_path):
    with Storage(tmp_path, fdatasync=no_sync) as storage:
        for poll in simulated_polls(30):
            storage.append(poll)
    (tmp_path / "luxlogd.sqlite.damaged-1").write_bytes(b"x" * 10_000)  # moved aside: not counted
    with Reader(tmp_path) as reader:
        figure = reader.stats().database_bytes
    on_disk = sum(
        p.stat().st_size
        for p in (tmp_path / "luxlogd.sqlite", tmp_path / "luxlogd.sqlite-wal")
        if p.exists()
    )
    assert figure == database_bytes(tmp_path) == on_disk > 0

"""The write-ahead log on real files: resynchronising after damage, each segment's base and
its copy, the torn final record, polls an earlier recovery moved aside."""

import dataclasses
import logging

from luxlogd.store import codec, frames
from luxlogd.store.chunks import series_id
from luxlogd.store.codec import decode_records
from luxlogd.store.losses import read_losses
from luxlogd.store.reader import Reader
from luxlogd.store.writer import Storage
from tests.crash_writer import poll_for

SEQ = series_id("parameters", 0)
DAY_MS = 1_700_006_400_000  # a UTC midnight: everything below stays in one day


def poll(seq):
    """Poll `seq` of one base state (a real controller's few changes a poll), in one day."""
    return dataclasses.replace(poll_for(seq, block=0), ts_ms=DAY_MS + seq * 30_000)


def write(state, count, **options):
    with Storage(state, fdatasync=lambda fd: None, **options) as storage:
        for seq in range(1, count + 1):
            storage.append(poll(seq))


def forget_database(state):
    """As if SQLite had been failing all along: the polls are only in the log."""
    for path in state.glob("luxlogd.sqlite*"):
        path.unlink()


def stored(state):
    with Reader(state) as reader:
        return [values[0] for _, _, values in reader.polls(0, 2**62, [SEQ])]


def frames_in(segment):
    """(seq, start, end) of every record in a segment file."""
    data = segment.read_bytes()
    found, offset = [], 0
    for seq, payload in frames.scan(data, int(segment.stem)).records:
        end = offset + frames.HEADER.size + len(payload)
        found.append((seq, offset, end))
        offset = end
    return found


def flip(path, offset):
    content = bytearray(path.read_bytes())
    content[offset] ^= 0x10
    path.write_bytes(bytes(content))


def test_records_after_the_first_are_written_against_the_segment_base(tmp_path):
    write(tmp_path, 20)
    (segment,) = frames.segment_paths(tmp_path / "wal")
    records = list(frames.read_records(tmp_path / "wal"))
    assert codec.is_keyframe(records[0].payload)
    assert all(codec.is_base_delta(r.payload) and r.base == records[0].payload for r in records[1:])
    assert frames.base_path(segment).read_bytes() == frames.frame(1, records[0].payload)
    assert [p for _, p in decode_records(records)] == [poll(seq) for seq in range(1, 21)]


def test_a_flipped_bit_costs_its_record_only_and_is_counted(tmp_path):
    write(tmp_path, 30)
    forget_database(tmp_path)
    (segment,) = frames.segment_paths(tmp_path / "wal")
    seq, start, end = frames_in(segment)[11]
    flip(segment, (start + end) // 2)
    with Storage(tmp_path) as storage:
        assert storage.append(poll(31)) == 31
    assert stored(tmp_path) == [s for s in range(1, 32) if s != seq]
    (loss,) = read_losses(tmp_path)
    assert (loss.kind, loss.polls_lost, loss.seqs) == ("wal_damage", 1, (seq, seq))
    assert (loss.from_ms, loss.to_ms) == (poll(seq - 1).ts_ms, poll(seq + 1).ts_ms)
    assert list(tmp_path.glob("wal/*.damaged.salvaged"))  # the bytes kept for a look
    with Storage(tmp_path):  # found again at the next start: told once
        pass
    assert len(read_losses(tmp_path)) == 1


def test_a_zeroed_page_costs_the_records_on_it(tmp_path):
    write(tmp_path, 120)
    forget_database(tmp_path)
    (segment,) = frames.segment_paths(tmp_path / "wal")
    hit = {seq for seq, start, end in frames_in(segment) if start < 12288 and end > 8192}
    content = bytearray(segment.read_bytes())
    content[8192:12288] = bytes(4096)
    segment.write_bytes(bytes(content))
    with Storage(tmp_path):
        pass
    assert stored(tmp_path) == [s for s in range(1, 121) if s not in hit]
    assert sum(loss.polls_lost for loss in read_losses(tmp_path)) == len(hit) > 5


def test_a_damaged_base_is_read_from_its_copy(tmp_path):
    write(tmp_path, 30)
    forget_database(tmp_path)
    (segment,) = frames.segment_paths(tmp_path / "wal")
    flip(segment, 100)  # inside the keyframe
    with Storage(tmp_path):
        pass
    assert stored(tmp_path) == list(range(2, 31))  # only the keyframe's own poll is gone
    assert [loss.polls_lost for loss in read_losses(tmp_path)] == [1]


def test_without_base_and_copy_the_segment_is_counted_lost(tmp_path):
    write(tmp_path, 30)
    forget_database(tmp_path)
    (segment,) = frames.segment_paths(tmp_path / "wal")
    flip(segment, 100)
    frames.base_path(segment).unlink()
    with Storage(tmp_path) as storage:
        storage.append(poll(31))
    assert stored(tmp_path) == [31]
    assert sum(loss.polls_lost for loss in read_losses(tmp_path)) == 30


def test_with_the_database_kept_damage_in_the_log_loses_nothing(tmp_path):
    write(tmp_path, 30)
    (segment,) = frames.segment_paths(tmp_path / "wal")
    flip(segment, frames_in(segment)[5][1] + 20)
    with Storage(tmp_path):
        pass
    assert stored(tmp_path) == list(range(1, 31))
    (loss,) = read_losses(tmp_path)
    assert loss.polls_lost == 0 and "6 of them still in the database" not in loss.detail
    assert "1 of them still in the database" in loss.detail


def test_a_torn_final_record_is_the_poll_in_flight_not_a_loss(tmp_path, caplog):
    write(tmp_path, 10)
    forget_database(tmp_path)
    (segment,) = frames.segment_paths(tmp_path / "wal")
    _, start, end = frames_in(segment)[-1]
    content = bytearray(segment.read_bytes())
    content[start + (end - start) // 2 : end] = bytes(end - start - (end - start) // 2)
    segment.write_bytes(bytes(content))  # a power cut in the middle of the last write
    with caplog.at_level(logging.INFO, logger="luxlogd"), Storage(tmp_path) as storage:
        assert storage.append(poll(11)) == 11  # its number is not given again
    assert stored(tmp_path) == [*range(1, 10), 11]
    assert read_losses(tmp_path) == []
    assert any("the poll in flight" in m for m in caplog.messages)


def test_polls_an_earlier_recovery_moved_aside_are_stored_again(tmp_path, caplog):
    """luxlogd before 0.2 stopped at the first damaged record and moved every later segment
    aside (`<seq>.damaged`), then numbered new polls from there: those polls are put back."""
    write(tmp_path, 150, segment_bytes=8 * 1024)
    forget_database(tmp_path)
    segments = frames.segment_paths(tmp_path / "wal")
    assert len(segments) >= 3
    moved = segments[-1]
    moved_seqs = [seq for seq, _, _ in frames_in(moved)]
    moved.rename(moved.with_suffix(".damaged"))
    with caplog.at_level(logging.WARNING, logger="luxlogd"), Storage(tmp_path):
        pass
    assert sorted(stored(tmp_path)) == list(range(1, 151))
    assert any(
        f"{len(moved_seqs)} polls that an earlier recovery moved aside" in m
        for m in caplog.messages
    )
    with Storage(tmp_path):  # done once
        pass
    assert sorted(stored(tmp_path)) == list(range(1, 151))

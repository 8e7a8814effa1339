"""store/chunks.py: the arithmetic of a sealed day, without SQL: a run of records becomes a
base, poll times and per-series changes with hourly figures, and reads back exactly."""

import dataclasses

from luxlogd.store import chunks, codec
from tests.crash_writer import poll_for

DAY = 1_700_006_400_000  # a UTC midnight


def day_of_polls(count=96, step_ms=900_000, block=0):
    """Records (seq, bytes) of `count` polls of one base state across a day, chained."""
    rows, previous = [], None
    for seq in range(1, count + 1):
        poll = dataclasses.replace(poll_for(seq, block), ts_ms=DAY + (seq - 1) * step_ms)
        rows.append((seq, codec.encode(poll, previous)))
        previous = poll
    return rows


def polls_of(rows):
    polls, previous = [], None
    for _, data in rows:
        previous = codec.decode(data, previous)
        polls.append(previous)
    return polls


def test_a_sealed_day_gives_back_every_value_of_every_poll():
    rows = day_of_polls()
    polls = polls_of(rows)
    chunk = chunks.seal(rows)
    assert (chunk.first_seq, chunk.last_seq, chunk.count) == (1, 96, 96)
    assert chunks.times_of(chunk.times) == [p.ts_ms for p in polls]
    assert list(chunks.unpack(chunk.statuses, "i")) == [p.calc_status for p in polls]
    base = chunks.unpack(chunk.base, "i")
    blocks = {series: points for series, points, _ in chunk.blocks}
    lengths = polls[0].lengths
    for flat in range(sum(lengths)):
        series = chunks.series_of_flat(lengths, flat)
        assert chunks.flat_of_series(lengths, series) == flat
        values = chunks.expand(base[flat], blocks.get(series), chunk.count)
        assert values == [p.flat()[flat] for p in polls], series


def test_verify_finds_nothing_wrong_with_a_sealed_day_and_finds_a_changed_figure():
    chunk = chunks.seal(day_of_polls())
    row = (chunk.start_ms, chunk.count, ",".join(map(str, chunk.lengths)), chunk.base)
    row += (chunk.times, chunk.slot_counts)
    assert chunks.verify(row, chunk.blocks) == []
    series, points, hourly = chunk.blocks[0]
    figures = list(chunks.unpack(hourly, "q"))
    figures[2] += 1  # a sum that does not add up
    wrong = chunks.pack(figures, "q")
    problems = chunks.verify(row, [(series, points, wrong)])
    assert problems == ["the hourly figures of 1 series differ from their values"]
    damaged = bytes([hourly[0] ^ 1]) + hourly[1:]  # a flipped bit: told, never a crash
    problems = chunks.verify(row, [(series, points, damaged)])
    assert problems[0].startswith(f"series {series} cannot be read (")
    assert chunks.verify((chunk.start_ms, 95, *row[2:]), chunk.blocks)[0] == (
        "96 poll times for 95 polls"
    )


def test_a_firmware_update_or_a_distrusted_clock_starts_a_run_of_its_own():
    rows = day_of_polls(10)
    polls = polls_of(rows)
    longer = dataclasses.replace(polls[5], parameters=polls[5].parameters + (7,))
    suspect = dataclasses.replace(polls[8], clock_suspect=True)
    mixed = rows[:5] + [(6, codec.encode(longer, polls[4]))] + [(9, codec.encode(suspect, longer))]
    runs = chunks.split_by_shape(mixed)
    assert [[seq for seq, _ in run] for run in runs] == [[1, 2, 3, 4, 5], [6], [9]]
    assert all(codec.is_keyframe(run[0][1]) for run in runs)  # each can be sealed alone
    assert chunks.seal(runs[2]).clock_suspect and not chunks.seal(runs[0]).clock_suspect

"""store/codec.py: a poll as bytes, a keyframe or the changes against a reference."""

import dataclasses

import pytest

from luxlogd.heatpump.poll import Poll
from luxlogd.store import codec
from luxlogd.store.codec import CodecError
from tests.crash_writer import poll_for


def test_codec_round_trips_keyframes_and_deltas():
    first, second = poll_for(1), poll_for(2)
    key = codec.encode(first, None)
    delta = codec.encode(second, first)
    assert codec.is_keyframe(key) and not codec.is_keyframe(delta)
    assert codec.decode(key, None) == first
    assert codec.decode(delta, first) == second
    assert len(delta) < 200 < len(key)
    ts_ms, status, changes = codec.changes_of(delta)
    assert (ts_ms, status) == (second.ts_ms, second.calc_status) and changes
    assert codec.changes_of(key) is None
    reshaped = Poll(1, 0, (1, 2), (3,), ())
    assert codec.is_keyframe(codec.encode(reshaped, first))
    for bad, base in (
        (b"", None),
        (b"\x09\x00", None),
        (delta, None),
        (delta[:-1], first),
        (delta + b"\x00", first),
        (b"\x01\x01\x00\x00\xff", None),
    ):
        with pytest.raises(CodecError):
            codec.decode(bad, base)


def test_a_record_against_a_segment_base_decodes_alone_and_keeps_the_clock_flag():
    base, later = poll_for(1, block=0), poll_for(9, block=0)
    suspect = dataclasses.replace(later, clock_suspect=True)
    record = codec.encode(suspect, base, against_base=True)
    assert codec.is_base_delta(record) and not codec.is_keyframe(record)
    assert codec.decode(record, base) == suspect  # against the base, not the poll before
    assert codec.decode(codec.encode(later, base, against_base=True), base) == later
    assert codec.changed_count(later, base) == len(codec.changes_of(record)[2])


def test_a_keyframe_of_any_shape_round_trips():
    for poll in (Poll(5, 0, (), (), ()), Poll(7, 3, (-(2**31), 2**31 - 1), (0,), (-1, 1))):
        assert codec.decode(codec.encode(poll, None), None) == poll

"""base/: the helpers every layer uses (times people read, sizes, counts, JSON of dates)."""

import datetime as dt
import json
import os
import time

import pytest

from luxlogd.base import text, times


@pytest.fixture
def berlin():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_local_days_know_daylight_saving(berlin):
    spring, autumn = dt.date(2026, 3, 29), dt.date(2026, 10, 25)
    hours = [
        (times.local_midnight_ms(d + dt.timedelta(days=1)) - times.local_midnight_ms(d)) / 3.6e6
        for d in (spring, autumn, dt.date(2026, 7, 1))
    ]
    assert hours == [23, 25, 24]
    midnight = times.local_midnight_ms(autumn) / 1000
    assert times.local_date(midnight) == autumn and times.local_date(midnight - 1) < autumn
    assert times.to_ms(times.local_time(midnight)) == midnight * 1000


def test_times_read_as_people_read_them(berlin):
    moment = dt.datetime(2026, 11, 30, 14, 5, 9, tzinfo=dt.UTC).timestamp()
    assert times.clock_text(moment) == "2026-11-30 15:05:09"
    assert times.clock_text(None) == "never"
    assert times.minute_text(moment) == "2026-11-30 15:05"
    assert times.hour_minute_text(int(moment * 1000)) == "15:05"
    assert times.utc_date_text(int(moment * 1000)) == "2026-11-30"
    assert [times.duration_text(s) for s in (45, -720, 12_600, 181_440, 7e7)] == [
        "45 s",
        "12 min",
        "3.5 h",
        "2.1 days",
        "2.2 years",
    ]


def test_sizes_counts_and_json_of_dates():
    assert [text.bytes_text(n) for n in (512, 1_500, 12_345_678, 2e9, 3.5e12)] == [
        "512 B",
        "1.5 KB",
        "12.3 MB",
        "2.0 GB",
        "3500.0 GB",
    ]
    assert (text.count(1, "gap"), text.count(1_200, "poll")) == ("1 gap", "1,200 polls")
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5)
    assert json.dumps({"at": stamp, "x": object}, default=text.json_default).startswith(
        '{"at": "2026-01-02T03:04:05", "x": "<class'
    )

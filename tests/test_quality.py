"""Every stored poll is checked: a problem is logged once when it appears and once when it is
gone, counted for /metrics and shown as a note; the poll itself is stored exactly as read."""

import logging
import threading
import time

from luxlogd.config import load_config
from luxlogd.daemon.service import Service
from luxlogd.heatpump.poll import Poll
from luxlogd.heatpump.quality import PERSISTS, Validator, check_poll
from luxlogd.outputs import metrics
from luxlogd.sim.simulator import Simulator
from luxlogd.store.chunks import series_id
from luxlogd.store.reader import Reader
from tests.helpers import read_capture
from tests.test_service import config_for

FLOW, OUTDOOR, HOT_WATER, RETURN, HEAT_TOTAL = 10, 15, 17, 11, 154
HOUR_MS = 3_600_000


def changed(poll, ts_ms=None, **values):
    """`poll` with calculations replaced (keyword c<index>=value) and another time."""
    calculations = list(poll.calculations)
    for name, value in values.items():
        calculations[int(name[1:])] = value
    return Poll(
        poll.ts_ms if ts_ms is None else ts_ms,
        poll.calc_status,
        poll.parameters,
        tuple(calculations),
        poll.visibilities,
    )


def warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_the_real_capture_has_no_problem():
    assert check_poll(read_capture(), None) == []


def test_ranges_rails_missing_sensors_short_answers_and_time_going_back_are_found():
    poll = read_capture(ts_ms=10_000)
    found = check_poll(changed(poll, c15=990, c10=1500), None)
    assert [(p.check, p.key) for p in found] == [
        ("not_connected", "flow"),
        ("out_of_range", "outdoor"),
    ]
    assert found[1].message == "Outdoor: 99 °C, outside -40 to 50 °C"
    assert "Flow: reads 150, the value of a sensor that is not connected" in found[0].message
    short = Poll(20_000, 0, poll.parameters, poll.calculations[:12], poll.visibilities)
    checks = {(p.check, p.key) for p in check_poll(short, poll)}
    assert {("too_few_values", "calculations"), ("missing", "outdoor")} <= checks
    earlier = check_poll(changed(poll, ts_ms=5_000), poll)
    assert [p.check for p in earlier] == ["clock"]


def test_stuck_and_backwards_values_are_reported_once_each_and_recover(caplog):
    """Two and a half days of hourly polls: the flow sensor never changes (stuck after two
    days); the heat counter reads 50 kWh low three times (went backwards), then is right."""
    caplog.set_level(logging.INFO, logger="luxlogd.quality")
    base = read_capture()
    validator = Validator()
    heat = 100_000  # 10,000 kWh
    for hour in range(60):
        heat += 10  # 1 kWh an hour
        reading = heat - 500 if 30 <= hour < 33 else heat
        poll = changed(
            base,
            ts_ms=hour * HOUR_MS,
            c15=50 + hour % 7,
            c11=300 + hour % 5,
            c17=450 + hour % 3,
            c154=reading,
        )
        validator.check(poll)
    said = warnings(caplog)
    stuck = [w for w in said if "without a change" in w]
    backwards = [w for w in said if "went backwards" in w]
    assert stuck == ["data quality: Flow: 34.2 for 2.0 days without a change (stored unchanged)"]
    assert backwards == [
        "data quality: Heat produced, total: went backwards from 10030 to 9981 (stored unchanged)"
    ]
    recovered = [r.getMessage() for r in caplog.records if "recovered" in r.getMessage()]
    assert recovered == ["data quality: recovered: Heat produced, total"]
    assert validator.counts == {"stuck": 1, "counter": 1}
    assert validator.notes() == ["Flow: 34.2 for 2.5 days without a change"]


def test_a_new_counter_level_that_holds_becomes_the_track(caplog):
    """A replaced controller starts its counters elsewhere: after PERSISTS readings at the
    new level that is the counter's track, and the problem is gone."""
    base = read_capture()
    validator = Validator()
    validator.check(changed(base, ts_ms=0, c154=100_000))
    for step in range(1, PERSISTS + 3):
        validator.check(changed(base, ts_ms=step * 30_000, c154=50_000 + step))
    assert validator.counts == {"counter": 1}
    assert validator.notes() == []


def test_the_daemon_stores_flagged_polls_unchanged_and_counts_them(tmp_path, caplog):
    """Over TCP: the simulator sends three absurd outdoor readings and three low heat counter
    readings; all are stored as read, each problem is said once, counted in /metrics and
    shown as a note while it lasts."""
    caplog.set_level(logging.INFO, logger="luxlogd.quality")
    with Simulator(seed=3) as sim:
        service = Service(load_config(config_for(tmp_path, sim.port, poll={"interval_s": 0.1})))
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 5
        while service.counters.polls_ok < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        heat_now = sim.arrays()[1][HEAT_TOTAL]
        sim.glitch(3004, OUTDOOR, 990, answers=3)
        sim.glitch(3004, HEAT_TOTAL, heat_now - 500, answers=3)
        seen_notes = set()
        while service.counters.polls_ok < 12 and time.monotonic() < deadline:
            seen_notes.update(service.status()["quality_notes"])
            time.sleep(0.02)
        status = service.status()
        service.request_stop()
        thread.join(5)
    assert "Outdoor: 99 °C, outside -40 to 50 °C" in seen_notes
    assert status["quality"] == {"out_of_range": 1, "counter": 1}
    assert status["quality_notes"] == []  # both recovered
    said = warnings(caplog)
    assert sum("Outdoor: 99 °C" in w for w in said) == 1
    assert sum("Heat produced, total: went backwards" in w for w in said) == 1
    with Reader(tmp_path / "state") as reader:
        series = [series_id("calculations", OUTDOOR), series_id("calculations", HEAT_TOTAL)]
        rows = [values for _, _, values in reader.polls(0, 2**62, series)]
    assert [outdoor for outdoor, _ in rows].count(990) == 3
    assert [heat for _, heat in rows].count(heat_now - 500) == 3
    text = metrics.render_metrics(status, None, {})
    assert 'luxlogd_data_quality_problems_total{check="out_of_range"} 1' in text
    assert 'luxlogd_data_quality_problems_total{check="counter"} 1' in text

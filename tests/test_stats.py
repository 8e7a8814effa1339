"""Statistics people can trust: months and seasons equal an independent computation from the
raw polls; counter glitches and restarts never turn into sums."""

import datetime as dt
import json
import threading
import time

import pytest

from luxlogd.cli import main
from luxlogd.config import load_config
from luxlogd.daemon.service import Service
from luxlogd.reports import stats
from luxlogd.sim.simulator import Simulator
from luxlogd.store.reader import Reader
from tests.helpers import fill_from_model
from tests.test_service import config_for

HOT_WATER, DEFROST = 1, 4


def fill(state_dir, start, days, step_s=600, seed=4):
    return fill_from_model(state_dir, start, days, step_s, seed)


def truth(polls, first_day, end_day):
    """What the period's figures are, computed straight from the polls."""
    start = dt.datetime.combine(first_day, dt.time()).astimezone().timestamp() * 1000
    end = dt.datetime.combine(end_day, dt.time()).astimezone().timestamp() * 1000
    inside = [p for p in polls if start <= p.ts_ms < end]
    before = [p for p in polls if start - 6 * 3600_000 <= p.ts_ms < start]
    opening = before[-1] if before else inside[0]
    last = inside[-1]

    def grown(group, index):
        return getattr(last, group)[index] - getattr(opening, group)[index]

    outdoor = [p.calculations[15] / 10 for p in inside]
    electric = sum(grown("parameters", i) for i in (1136, 1137, 1139)) / 100
    modes = [p.calculations[80] for p in ([opening] if before else []) + inside]
    changes = [b for a, b in zip(modes, modes[1:], strict=False) if b != a]
    return {
        "polls": len(inside),
        "outdoor_min_c": min(outdoor),
        "outdoor_max_c": max(outdoor),
        "outdoor_mean_c": round(sum(outdoor) / len(outdoor), 2),
        "compressor_starts": grown("calculations", 57),
        "compressor_hours": round(grown("calculations", 56) / 3600, 3),
        "heat_total_kwh": round(grown("calculations", 154) / 10, 3),
        "electric_kwh": round(electric, 3),
        "cop": round(grown("calculations", 154) / 10 / electric, 2),
        "hot_water_cycles": changes.count(HOT_WATER),
        "defrosts": changes.count(DEFROST),
    }


def assert_matches(figures, expected):
    row = figures.row()
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, abs=0.011), key


def test_months_and_seasons_equal_an_independent_computation(tmp_path, timezone):
    timezone("Europe/Berlin")
    start = dt.datetime(2023, 11, 24, 12, 0).astimezone()
    polls = fill(tmp_path, start, 10, step_s=1200)  # to 4 December: a month and a season
    now_ms = polls[-1].ts_ms + 1
    with Reader(tmp_path) as reader:
        days, month = stats.calendar_figures(
            reader, dt.date(2023, 11, 1), dt.date(2023, 12, 1), "day", now_ms
        )
        first, end = stats.season_range(2023, "11-25")
        months, season = stats.calendar_figures(reader, first, end, "month", now_ms)
    assert [d.label for d in days] == [f"2023-11-{n}" for n in range(24, 31)]
    assert_matches(days[3], truth(polls, dt.date(2023, 11, 27), dt.date(2023, 11, 28)))
    assert_matches(month, truth(polls, dt.date(2023, 11, 1), dt.date(2023, 12, 1)))
    assert month.counters["compressor_starts"] == sum(d.counters["compressor_starts"] for d in days)
    assert [m.label for m in months] == ["2023-11", "2023-12"]
    assert_matches(months[0], truth(polls, first, dt.date(2023, 12, 1)))
    assert_matches(season, truth(polls, first, dt.date(2023, 12, 11)))
    assert season.partial and month.partial is False
    assert season.row()["compressor_starts"] > 50 and season.cop > 2  # the model worked


def test_days_computed_by_processes_equal_those_computed_in_one(tmp_path, timezone):
    """`stats --season` computes its days in a process per core: the same figures."""
    timezone("UTC")
    fill(tmp_path, dt.datetime(2023, 11, 28, 0, 0).astimezone(), 3, step_s=1800)
    first, end = dt.date(2023, 11, 27), dt.date(2023, 12, 5)  # 8 days: 4 per process
    now_ms = int(dt.datetime(2023, 12, 6, tzinfo=dt.UTC).timestamp() * 1000)
    with Reader(tmp_path) as reader:
        alone = stats.calendar_figures(reader, first, end, "day", now_ms)
        shared = stats.calendar_figures(reader, first, end, "day", now_ms, workers=2)
    assert [d.row() for d in shared[0]] == [d.row() for d in alone[0]]
    assert shared[1].row() == alone[1].row() and alone[1].polls == 3 * 48


def test_the_stats_command_prints_a_table_csv_and_json(tmp_path, timezone, capsys, monkeypatch):
    # One process: a season of 366 days in a pool forked from the test process is slow on a
    # loaded machine; the pool has the test above.
    monkeypatch.setattr("luxlogd.cli.data.stats_workers", lambda: 1)
    timezone("UTC")
    polls = fill(tmp_path / "state", dt.datetime(2023, 11, 28, 0, 0).astimezone(), 5)
    path = config_for(tmp_path, 1, stats={"season_start": '"11-29"'})
    assert main(["--config", str(path), "stats", "--month", "2023-11"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("luxlogd stats 2023-11-01 to 2023-11-30, per day")
    assert "2023-11-28" in table and "2023-11-30" in table and "\ntotal " in table
    assert "so far" not in table  # November is over
    assert main(["--config", str(path), "stats", "--season", "2023", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["date"] for r in data["rows"]] == ["2023-11", "2023-12"]
    assert data["total"]["date"] == "season" and data["total"]["cop"] > 2
    season_start_ms = dt.datetime(2023, 11, 29, tzinfo=dt.UTC).timestamp() * 1000
    assert data["total"]["polls"] == sum(1 for p in polls if p.ts_ms >= season_start_ms)
    args = [
        "--config",
        str(path),
        "stats",
        "--from",
        "2023-11-29",
        "--to",
        "2023-11-30",
        "--format",
        "csv",
    ]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("date,polls,") and len(lines) == 1 + 2 + 1
    assert main(["--config", str(path), "stats", "--month", "2023-13"]) == 2
    assert main(["--config", str(path), "stats", "--to", "2023-11-30"]) == 2


def test_a_restarted_simulator_and_a_bad_read_stay_within_the_truth(tmp_path):
    """Under a running daemon: the controller restarts (its counters jump back to where the
    model starts) and sends one absurd compressor-start count; the day's figures count
    neither, and note both."""
    speed = 6000.0  # 100 simulated minutes per second: the compressor cycles within a second
    sim = Simulator(speed=speed, seed=7).start()
    port = sim.port
    path = config_for(tmp_path, port, poll={"interval_s": 0.1})
    service = Service(load_config(path))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        first = sim.model.starts, sim.model.compressor_s, sim.model.heat_heating_kwh
        time.sleep(1.5)
        sim.glitch(3004, 57, 65535)  # one absurd read of the compressor starts
        time.sleep(0.8)
        sim.stop()  # the controller restarts: a new model, its counters where they began
        run_one = (
            sim.model.starts - first[0],
            sim.model.compressor_s - first[1],
            sim.model.heat_heating_kwh - first[2],
        )
        sim = Simulator(port=port, speed=speed, seed=7).start()
        second = sim.model.starts, sim.model.compressor_s, sim.model.heat_heating_kwh
        time.sleep(1.5)
        run_two = (
            sim.model.starts - second[0],
            sim.model.compressor_s - second[1],
            sim.model.heat_heating_kwh - second[2],
        )
    finally:
        service.request_stop()
        thread.join(5)
        sim.stop()
    with Reader(tmp_path / "state") as reader:
        figures = stats.period_figures(reader, 0, 2**62, "today")
    starts_truth = run_one[0] + run_two[0]
    hours_truth = (run_one[1] + run_two[1]) / 3600
    heat_truth = run_one[2] + run_two[2]
    assert starts_truth >= 3  # the model really cycled
    # A start can fall between the last poll and the stop: at most one per run is missed.
    assert starts_truth - 2 <= figures.counters["compressor_starts"] <= starts_truth
    assert figures.compressor_hours == pytest.approx(hours_truth, abs=0.2)
    assert figures.counters["heat_heating"] == pytest.approx(heat_truth, abs=0.5)
    notes = " ".join(figures.notes)
    assert "Compressor 1 starts: ignored 65535" in notes
    assert "restarted" in notes

import csv
import datetime as dt
import json
import os
import re

import pytest

from luxlogd.cli import main
from luxlogd.config import load_config
from luxlogd.heatpump.counters import CounterTrack
from luxlogd.reports import rollup
from luxlogd.reports.cleanup import cleanup
from luxlogd.reports.ledger import Ledger
from tests.helpers import fill_from_model

BERLIN = dt.timezone(dt.timedelta(hours=1))


def make_config(tmp_path, **reports_keys):
    text = f'[storage]\nstate_dir = "{tmp_path / "state"}"\n[reports]\n'
    text += f'output_dirs = ["{tmp_path / "a"}", "{tmp_path / "b"}"]\n'
    for key, value in reports_keys.items():
        text += f"{key} = {value}\n"
    path = tmp_path / "luxlogd.toml"
    path.write_text(text)
    return load_config(path, environ={}), path


def fill(config, start_local, days, step_s=300, seed=3):
    """Polls from the simulator's model every step_s from `start_local` for `days` days."""
    return fill_from_model(config.state_dir, start_local, days, step_s, seed)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def local(*args):
    return dt.datetime(*args).astimezone()


def test_daily_and_weekly_reports_cover_their_periods_exactly(tmp_path, timezone):
    timezone("Europe/Berlin")
    config, _ = make_config(tmp_path, sensors='["ID_WEB_Temperatur_TA", "ID_WEB_Temperatur_TVL"]')
    polls = fill(config, local(2026, 11, 10, 7, 0), 9, step_s=600)
    written = rollup.rollup(config, dt.date(2026, 11, 18), now=local(2026, 11, 19, 12, 0))
    names = sorted({p.name for p in written})
    assert names == ["2026-11-18_daily.csv", "2026-11-18_summary.csv", "2026-11-18_weekly.csv"]
    for directory in ("a", "b"):
        assert (tmp_path / directory / "2026-11-18_daily.csv").exists()
    daily = read_csv(tmp_path / "a" / "2026-11-18_daily.csv")
    assert daily[0] == ["timestamp", "ID_WEB_Temperatur_TVL", "ID_WEB_Temperatur_TA"]
    # A poll exactly at the roll-up time starts a report; it is never in two.
    assert daily[1][0] == "2026-11-17T07:00:00+01:00"
    assert daily[-1][0] == "2026-11-18T06:50:00+01:00"
    assert len(daily) - 1 == 144
    expected = [
        p
        for p in polls
        if local(2026, 11, 17, 7).timestamp() * 1000
        <= p.ts_ms
        < local(2026, 11, 18, 7).timestamp() * 1000
    ]
    assert [float(row[1]) for row in daily[1:]] == [p.calculations[10] / 10 for p in expected]
    weekly = read_csv(tmp_path / "a" / "2026-11-18_weekly.csv")
    assert weekly[1][0] == "2026-11-11T07:00:00+01:00" and len(weekly) - 1 == 7 * 144
    next_daily = rollup.rollup(config, dt.date(2026, 11, 19), now=local(2026, 11, 19, 12))
    assert next_daily
    following = read_csv(tmp_path / "a" / "2026-11-19_daily.csv")
    assert following[1][0] == "2026-11-18T07:00:00+01:00"


def test_a_dst_change_makes_a_23_hour_day_without_gap_or_overlap(tmp_path, timezone):
    timezone("Europe/Berlin")
    config, _ = make_config(tmp_path, sensors='["ID_WEB_Temperatur_TA"]', formats='["json"]')
    fill(config, local(2026, 3, 27, 7, 0), 4)
    rollup.rollup(config, dt.date(2026, 3, 29), now=local(2026, 3, 30, 12))
    rollup.rollup(config, dt.date(2026, 3, 30), now=local(2026, 3, 30, 12))
    short = json.loads((tmp_path / "a" / "2026-03-29_daily.json").read_text())
    after = json.loads((tmp_path / "a" / "2026-03-30_daily.json").read_text())
    assert short[0]["timestamp"] == "2026-03-28T07:00:00+01:00"
    assert short[-1]["timestamp"] == "2026-03-29T06:55:00+02:00"
    assert len(short) == 23 * 12
    assert after[0]["timestamp"] == "2026-03-29T07:00:00+02:00" and len(after) == 24 * 12


def test_the_summary_matches_figures_computed_from_the_polls(tmp_path, timezone):
    timezone("UTC")
    config, _ = make_config(tmp_path)
    polls = fill(config, local(2026, 1, 6, 6, 0), 1.1, step_s=120, seed=5)
    rollup.rollup(config, dt.date(2026, 1, 7), now=local(2026, 1, 7, 8))
    rows = list(csv.DictReader(open(tmp_path / "a" / "2026-01-07_summary.csv")))
    row = rows[-1]
    start, end = local(2026, 1, 6, 7).timestamp() * 1000, local(2026, 1, 7, 7).timestamp() * 1000
    day = [p for p in polls if start <= p.ts_ms < end]
    # Counters grow between polls: the day's growth starts at the last poll before it.
    opening = [p for p in polls if p.ts_ms < start][-1]
    starts = day[-1].calculations[57] - opening.calculations[57]
    assert starts > 3  # the model's compressor really cycled that day
    assert row["date"] == "2026-01-07" and int(row["polls"]) == len(day) == 720
    assert int(row["compressor_starts"]) == starts
    hours = (day[-1].calculations[56] - opening.calculations[56]) / 3600
    assert float(row["compressor_hours"]) == pytest.approx(hours, abs=0.001)
    flows = [p.calculations[10] / 10 for p in day]
    assert float(row["flow_min_c"]) == min(flows) and float(row["flow_max_c"]) == max(flows)
    assert float(row["flow_mean_c"]) == pytest.approx(sum(flows) / len(flows), abs=0.01)
    heat = (day[-1].calculations[154] - opening.calculations[154]) / 10
    electric = sum(day[-1].parameters[i] - opening.parameters[i] for i in (1136, 1137)) / 100
    assert float(row["heat_total_kwh"]) == pytest.approx(heat)
    assert float(row["electric_kwh"]) == pytest.approx(electric)
    assert float(row["cop"]) == pytest.approx(heat / electric, abs=0.01)
    modes = [p.calculations[80] for p in [opening, *day]]
    pairs = list(zip(modes, modes[1:], strict=False))
    assert int(row["hot_water_cycles"]) == sum(1 for a, b in pairs if b == 1 != a) >= 1
    assert int(row["defrosts"]) == sum(1 for a, b in pairs if b == 4 != a)
    assert row["switch_offs"]  # the compressor stopped that day: the controller logged it


def counter_growth(kind, values, step_ms=30_000):
    track = CounterTrack(kind)
    for position, value in enumerate(values):
        track.add(position * step_ms, value)
    return track.growth, track.notes


def test_counters_survive_resets_restarts_and_glitches():
    # A reset to zero: the growth after it counts from zero.
    assert counter_growth("starts", [10_000, 10_001, 10_002, 1, 2])[0] == 2 + 1 + 1
    # One bad reading, up or down: ignored and noted, never summed.
    growth, notes = counter_growth("starts", [9000, 9001, 65535, 9002, 9003])
    assert growth == 3 and len(notes) == 1 and "ignored 65535" in notes[0]
    growth, notes = counter_growth("starts", [9000, 9001, 12, 9002])
    assert growth == 2 and "ignored 12" in notes[0]
    # A new level that holds (a restarted simulator, a swapped board): re-based, not summed.
    growth, notes = counter_growth("starts", [9147, 9148, 9149, 9010, 9011, 9012])
    assert growth == 2 + 2 and any("restarted" in note for note in notes)
    assert counter_growth("starts", [None, 7])[0] is None
    assert counter_growth("starts", [7, None, 9])[0] == 2
    # Growth a real heat pump can make over a long gap is growth, not a glitch.
    assert counter_growth("heat_energy", [100.0, 190.0], step_ms=3_600_000)[0] == 90.0


def test_a_crash_before_the_rename_leaves_the_old_file_and_the_next_run_finishes(
    tmp_path, timezone, monkeypatch
):
    timezone("UTC")
    config, _ = make_config(tmp_path, sensors='["ID_WEB_Temperatur_TA"]')
    fill(config, local(2026, 2, 1, 7), 3, step_s=900)
    old = tmp_path / "a" / "2026-02-03_daily.csv"
    old.parent.mkdir(parents=True)
    old.write_text("previous content\n")
    real_replace = os.replace

    def crash(source, target):
        if str(target).endswith("_daily.csv"):  # the power cut, at a report's rename
            raise KeyboardInterrupt("power cut")  # not retried: the process is gone
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        rollup.rollup(config, dt.date(2026, 2, 3), now=local(2026, 2, 4, 8))
    monkeypatch.setattr(os, "replace", real_replace)
    assert old.read_text() == "previous content\n"  # never a partial file
    assert (config.state_dir / rollup.PROGRESS_FILE).exists()
    # The next run (the timer, a day later) first completes the interrupted roll-up.
    rollup.rollup(config, dt.date(2026, 2, 4), now=local(2026, 2, 4, 8))
    assert read_csv(old)[0] == ["timestamp", "ID_WEB_Temperatur_TA"]
    assert not (config.state_dir / rollup.PROGRESS_FILE).exists()
    assert (tmp_path / "b" / "2026-02-04_weekly.csv").exists()
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.endswith(".tmp")]


def test_a_failed_roll_up_is_retried_once_then_an_error(tmp_path, timezone, monkeypatch):
    timezone("UTC")
    config, _ = make_config(tmp_path, sensors='["ID_WEB_Temperatur_TA"]')
    fill(config, local(2026, 2, 1, 7), 2)
    real_copy = rollup.shutil.copyfileobj
    failures = {"left": 1}

    def flaky(source, target):
        if failures["left"]:
            failures["left"] -= 1
            raise OSError(5, "Input/output error")
        return real_copy(source, target)

    monkeypatch.setattr(rollup.shutil, "copyfileobj", flaky)
    sleeps = []
    assert rollup.rollup(config, dt.date(2026, 2, 2), now=local(2026, 2, 3), sleep=sleeps.append)
    assert sleeps == [rollup.RETRY_DELAY_S]
    failures["left"] = 2
    with pytest.raises(rollup.RollupError, match="failed twice: .*Input/output error"):
        rollup.rollup(config, dt.date(2026, 2, 2), now=local(2026, 2, 3), sleep=sleeps.append)


def test_rollup_command_default_date_future_date_and_no_data(tmp_path, timezone, capsys):
    timezone("UTC")
    config, path = make_config(tmp_path, sensors='["ID_WEB_Temperatur_TA"]')
    assert main(["--config", str(path), "rollup", "--date", "2099-01-01"]) == 2
    assert "has not passed yet" in capsys.readouterr().err
    assert main(["--config", str(path), "rollup", "--date", "2020-01-01"]) == 0  # no data yet
    fill(config, local(2020, 1, 1, 7), 1)
    assert main(["--config", str(path), "rollup", "--date", "2019-06-01"]) == 0
    assert "no data, no reports written" in capsys.readouterr().err
    assert main(["--config", str(path), "rollup", "--now"]) == 0
    assert main(["--config", str(path), "rollup", "--date", "2020-13-01"]) == 2
    assert rollup.latest_rollup_date(config, local(2026, 5, 5, 6, 59)) == dt.date(2026, 5, 4)
    assert rollup.latest_rollup_date(config, local(2026, 5, 5, 7, 0)) == dt.date(2026, 5, 5)


def test_the_idempotent_roll_up_rewrites_identical_files(tmp_path, timezone):
    timezone("UTC")
    config, _ = make_config(tmp_path, sensors='["calculations"]', formats='["csv", "json"]')
    fill(config, local(2026, 2, 1, 7), 1.5)
    first = rollup.rollup(config, dt.date(2026, 2, 2), now=local(2026, 2, 3))
    contents = {p: p.read_bytes() for p in first}
    second = rollup.rollup(config, dt.date(2026, 2, 2), now=local(2026, 2, 3))
    assert {p: p.read_bytes() for p in second} == contents
    assert len(read_csv(tmp_path / "a" / "2026-02-02_daily.csv")[0]) == 1 + 267 - 9


def test_dta_reports_read_back_with_the_same_values(tmp_path, timezone):
    pandas = pytest.importorskip("pandas")
    timezone("Europe/Berlin")
    config, _ = make_config(
        tmp_path,
        sensors='["ID_WEB_Temperatur_T?L", "ID_WEB_SoftStand", "ID_WEB_VD1out"]',
        formats='["csv", "dta"]',
    )
    fill(config, local(2026, 2, 1, 7), 1.2)
    rollup.rollup(config, dt.date(2026, 2, 2), now=local(2026, 2, 3))
    path = tmp_path / "a" / "2026-02-02_daily.dta"
    frame = pandas.read_stata(path)
    rows = read_csv(tmp_path / "a" / "2026-02-02_daily.csv")
    assert list(frame.columns) == [
        "timestamp",
        "utc_offset_min",
        "flow",
        "return",
        "compressor",
        "firmware",
    ]
    labels = pandas.io.stata.StataReader(path).variable_labels()
    assert labels["flow"] == "ID_WEB_Temperatur_TVL" and labels["firmware"] == "ID_WEB_SoftStand"
    assert len(frame) == len(rows) - 1
    # A real Stata datetime: local wall-clock time, with its offset beside it.
    assert str(frame["timestamp"].dtype).startswith("datetime64")
    assert [
        f"{t:%Y-%m-%dT%H:%M:%S}+{o // 60:02d}:00"
        for t, o in zip(frame["timestamp"], frame["utc_offset_min"], strict=True)
    ] == [r[0] for r in rows[1:]]
    assert [round(v, 1) for v in frame["flow"]] == [float(r[1]) for r in rows[1:]]
    assert [int(v) for v in frame["compressor"]] == [int(r[3]) for r in rows[1:]]
    assert set(frame["firmware"]) == {"V3.88"}


def test_cleanup_deletes_only_old_reports_named_like_ours(tmp_path, timezone, capsys):
    timezone("UTC")
    config, path = make_config(tmp_path, retention_days=30)
    directory = tmp_path / "a"
    directory.mkdir()
    names = [
        "2026-01-01_daily.csv",
        "2026-01-01_summary.csv",
        "2026-02-20_weekly.json",
        "2025-12-01_notes.csv",
        "holiday.csv",
        "2026-01-01_daily.csv.bak",
        "2026-01-02_daily.csv",  # named like ours, but not in the ledger: the user's
    ]
    for name in names:
        (directory / name).write_text("x" * 10)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    Ledger(config.state_dir).record([directory / name for name in names[:3]])
    result = cleanup(config, now=local(2026, 3, 1, 8))
    assert (result.files, result.bytes_freed) == (2, 20)
    assert sorted(p.name for p in directory.iterdir()) == sorted(names[2:])
    assert main(["--config", str(path), "cleanup"]) == 0
    assert "deleted 1 report files" in capsys.readouterr().out  # 2026-02-20, today is later


def test_cleanup_applies_raw_data_retention(tmp_path, timezone):
    timezone("UTC")
    config, _ = make_config(tmp_path)
    polls = fill(config, local(2026, 1, 1, 0, 30), 4, step_s=600)
    config = load_config(tmp_path / "luxlogd.toml", environ={"LUXLOGD_STORAGE_RETENTION_DAYS": "1"})
    removed = cleanup(config, now=local(2026, 1, 5, 1)).polls_removed
    assert removed > 0
    from luxlogd.store.chunks import series_id
    from luxlogd.store.reader import Reader

    reader = Reader(config.state_dir)
    left = [t for t, _, _ in reader.polls(0, 2**62, [series_id("calculations", 10)])]
    reader.close()
    assert left == [p.ts_ms for p in polls if p.ts_ms >= left[0]]
    assert left[0] >= local(2026, 1, 3).timestamp() * 1000


def test_export_command_writes_dta_and_needs_an_output_file(tmp_path, timezone, capsys):
    pandas = pytest.importorskip("pandas")
    timezone("UTC")
    config, path = make_config(tmp_path)
    fill(config, local(2026, 2, 1, 7), 0.5)
    out = tmp_path / "x.dta"
    args = [
        "--config",
        str(path),
        "export",
        "--from",
        "2026-02-01",
        "--to",
        "2026-02-01",
        "--format",
        "dta",
        "--sensors",
        "ID_WEB_Temperatur_TA",
    ]
    assert main(args) == 2
    assert "give --output FILE" in capsys.readouterr().err
    assert main([*args, "--output", str(out)]) == 0
    frame = pandas.read_stata(out)
    assert len(frame) == 144
    assert list(frame.columns) == ["timestamp", "utc_offset_min", "outdoor"]


def test_long_exports_show_progress_on_a_terminal_only():
    import io

    from luxlogd.reports.export import TerminalProgress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = TerminalProgress(0, 10_000, stream)
        for count in range(1, 5001):
            progress(count, count * 2)
        progress.done()
    assert "exporting: 4000 polls,  80.0 %" in terminal.getvalue()
    assert pipe.getvalue() == ""


def test_default_roll_up_date_under_a_frozen_clock_across_dst(tmp_path, timezone):
    from freezegun import freeze_time

    timezone("Europe/Berlin")
    config, _ = make_config(tmp_path, sensors='["ID_WEB_Temperatur_TA"]')
    fill(config, local(2026, 10, 23, 7, 0), 4)
    with freeze_time("2026-10-26 05:59:59"):  # 06:59:59 CET: the 26th's time has not come
        written = rollup.rollup(config)
    assert {p.name for p in written} >= {"2026-10-25_daily.csv"}
    long_day = read_csv(tmp_path / "a" / "2026-10-25_daily.csv")
    assert long_day[1][0] == "2026-10-24T07:00:00+02:00"
    assert long_day[-1][0] == "2026-10-25T06:55:00+01:00"
    assert len(long_day) - 1 == 25 * 12  # the autumn change makes a 25-hour day


def test_a_readable_summary_has_words_and_units_for_its_columns(tmp_path, timezone):
    timezone("UTC")
    config, _ = make_config(tmp_path, headers='"readable"')
    fill(config, local(2026, 1, 6, 6, 0), 1.1, step_s=600, seed=5)
    rollup.rollup(config, dt.date(2026, 1, 7), now=local(2026, 1, 7, 8))
    header = next(csv.reader(open(tmp_path / "a" / "2026-01-07_summary.csv")))
    assert header[:3] == ["Date", "Polls", "Flow min (°C)"]
    assert {"Heat total (kWh)", "Space COP", "Space % of Carnot", "Compressor hours"} <= set(header)
    assert not any(re.fullmatch(r"[a-z_]+", name) for name in header)  # no snake_case left


def test_sensors_that_are_not_connected_are_empty_and_hours_are_hours(tmp_path, timezone):
    """The simulator's air-source model has no heat-source sensors: they read -50.0 °C,
    which is no temperature; a readable report shows operating times in hours."""
    timezone("UTC")
    config, _ = make_config(
        tmp_path,
        headers='"readable"',
        sensors='["heat_source_in", "outdoor", "compressor_time"]',
    )
    polls = fill(config, local(2026, 1, 6, 6, 0), 1.1, step_s=600, seed=5)
    rollup.rollup(config, dt.date(2026, 1, 7), now=local(2026, 1, 7, 8))
    rows = list(csv.DictReader(open(tmp_path / "a" / "2026-01-07_daily.csv")))
    assert polls[-1].calculations[19] == -500  # what the controller sends, stored as sent
    assert {row["Heat source in (°C)"] for row in rows} == {""}
    assert all(row["Outdoor (°C)"] for row in rows)
    seconds = [p.calculations[56] for p in polls]
    hours = [float(row["Compressor 1 operating time (h)"]) for row in rows]
    assert min(seconds) / 3600 - 0.01 <= min(hours) and max(hours) <= max(seconds) / 3600 + 0.01

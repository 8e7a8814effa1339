"""Performance figures owners can hold against HeatpumpMonitor.org: every figure by mode equals
a straightforward recomputation from the raw polls as stored, the split adds up to `combined`
exactly, and what a controller does not measure is said, never invented."""

import csv
import datetime as dt
import io
import json
import os
import statistics
import time
import urllib.request
from pathlib import Path

import pytest

from luxlogd.cli import main
from luxlogd.config import load_config
from luxlogd.health import status
from luxlogd.heatpump.poll import Poll
from luxlogd.outputs.web.app import WebServer
from luxlogd.reports import performance, stats
from luxlogd.sim import model as sim_model
from luxlogd.sim.simulator import Simulator
from luxlogd.store.reader import Reader
from luxlogd.store.writer import Storage
from tests import webdriver
from tests.conftest import Provider
from tests.helpers import FrozenClock, eventually
from tests.system import free_port
from tests.test_service import config_for

STEP_S = 120
DAY_MS = 86_400_000
MODES = {0: "space", 1: "water", 2: "pool", 7: "cooling"}


def store_days(state_dir, start, days, profile="V3.91", cold_from_day=None, gap=None):
    """Polls of the simulator's model every STEP_S for `days` days from `start` (UTC),
    stored; from `cold_from_day` on a cold spell (the backup heater helps); `gap` (start,
    end) in ms: polls the daemon never stored. Returns the stored polls."""
    clock = FrozenClock(start.timestamp())
    sim = Simulator(clock=clock, seed=5, start_s=start.timestamp(), profile=profile)
    polls = []
    with Storage(state_dir, fdatasync=lambda fd: None) as storage:
        for step in range(int(days * 86400 / STEP_S)):
            if cold_from_day is not None and step * STEP_S >= cold_from_day * 86400:
                sim.model.outdoor_mean_c = -10.0
            p, c, v = sim.arrays()
            poll = Poll(int(clock.now * 1000), 0, tuple(p), tuple(c), tuple(v))
            clock.now += STEP_S
            if gap and gap[0] <= poll.ts_ms < gap[1]:
                continue
            storage.append(poll)
            polls.append(poll)
    return polls


def recompute(polls, start_ms, end_ms, interval_s=STEP_S):
    """The figures of [start_ms, end_ms) computed the plain way, poll by poll, from the raw
    arrays (README: "Performance figures" defines each)."""
    inside = [p for p in polls if start_ms <= p.ts_ms < end_ms]
    before = [p for p in polls if start_ms - 6 * 3_600_000 <= p.ts_ms < start_ms]
    opening = before[-1] if before else inside[0]
    last = inside[-1]

    def grown(group, index, scale):
        values = getattr(last, group), getattr(opening, group)
        if index >= len(values[0]):
            return None
        return round((values[0][index] - values[1][index]) * scale, 3)

    heat = {
        "space": grown("calculations", 151, 0.1),
        "water": grown("calculations", 152, 0.1),
        "pool": grown("calculations", 153, 0.1),
    }
    elec = {
        "space": grown("parameters", 1136, 0.01),
        "water": grown("parameters", 1137, 0.01),
        "cooling": grown("parameters", 1139, 0.01),
    }
    hours = {
        "space": grown("calculations", 64, 1 / 3600),
        "water": grown("calculations", 65, 1 / 3600),
        "cooling": grown("calculations", 66, 1 / 3600),
    }
    cap_ms = 3 * interval_s * 1000
    sums = {m: [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0] for m in ("space", "water", "cooling")}
    weighted = [0.0, 0.0, 0.0, 0.0]
    running_s = defrost_s = 0.0
    for position, poll in enumerate(inside):
        c = poll.calculations
        if not c[44]:
            continue
        following = inside[position + 1].ts_ms if position + 1 < len(inside) else end_ms
        step_s = min(following - poll.ts_ms, cap_ms) / 1000
        running_s += step_s
        if c[80] == 4:
            defrost_s += step_s
            continue
        mode = MODES.get(c[80])
        if mode not in sums:
            continue
        flow, ret, outdoor = c[10] / 10, c[11] / 10, c[15] / 10
        weight = c[257]
        s = sums[mode]
        s[0] += 1
        s[1] += flow
        s[2] += ret
        s[3] += outdoor
        if mode == "cooling" or not weight:
            continue
        hot, cold = flow + 2 + 273.15, outdoor - 6 + 273.15
        s[4] += weight * hot / (hot - cold)
        s[5] += weight
        condensing, evaporating = c[233] / 10 + 273.15, c[232] / 10 + 273.15
        s[6] += weight * condensing / (condensing - evaporating)
        s[7] += weight
        if mode == "space":
            weighted = [
                weighted[0] + weight,
                weighted[1] + weight * flow,
                weighted[2] + weight * (flow - outdoor),
                weighted[3] + weight * (flow - ret),
            ]
    # Runs: from the first poll running to the first not, ended inside the period.
    runs, began = [], None
    window = [p for p in polls if start_ms - 6 * 3_600_000 <= p.ts_ms < end_ms]
    for k in range(1, len(window)):
        previous, poll = window[k - 1], window[k]
        if poll.calculations[44] and not previous.calculations[44]:
            began = k
        elif previous.calculations[44] and not poll.calculations[44]:
            if began is not None and poll.ts_ms >= start_ms:
                steps = (window[j + 1].ts_ms - window[j].ts_ms for j in range(began, k))
                if all(step <= cap_ms for step in steps):  # no gap inside the run
                    runs.append((poll.ts_ms - window[began].ts_ms) / 60_000)
            began = None
    expected = {}
    total = {"combined": [0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]}
    for s in sums.values():
        total["combined"] = [a + b for a, b in zip(total["combined"], s, strict=True)]
    combined_heat = round(sum(v for v in heat.values() if v is not None), 3)
    combined_elec = round(sum(v for v in elec.values() if v is not None), 3)
    for mode, s in {**sums, **total}.items():
        h = combined_heat if mode == "combined" else heat.get(mode)
        e = combined_elec if mode == "combined" else elec.get(mode)
        cop = round(h / e, 2) if h and e else None
        expected[f"{mode}_heat_kwh"] = h
        expected[f"{mode}_elec_kwh"] = e
        expected[f"{mode}_cop"] = cop
        expected[f"{mode}_flow_mean_c"] = round(s[1] / s[0], 2) if s[0] else None
        expected[f"{mode}_return_mean_c"] = round(s[2] / s[0], 2) if s[0] else None
        expected[f"{mode}_outdoor_mean_c"] = round(s[3] / s[0], 2) if s[0] else None
        expected[f"{mode}_prc_carnot"] = (
            round(100 * cop / (s[4] / s[5]), 1) if cop and s[5] else None
        )
        expected[f"{mode}_prc_carnot_refrigerant"] = (
            round(100 * cop / (s[6] / s[7]), 1) if cop and s[7] else None
        )
    expected["space_hours"] = round(hours["space"], 3)
    expected["combined_hours"] = round(sum(hours.values()), 3)
    w = weighted
    expected["weighted_flow_c"] = round(w[1] / w[0], 2) if w[0] else None
    expected["weighted_flow_minus_outdoor_k"] = round(w[2] / w[0], 2) if w[0] else None
    expected["weighted_flow_minus_return_k"] = round(w[3] / w[0], 2) if w[0] else None
    starts = grown("calculations", 57, 1)
    expected["combined_starts"] = starts
    expected["starts_per_running_hour"] = round(starts / grown("calculations", 56, 1 / 3600), 2)
    expected["runs"] = len(runs)
    expected["run_minutes_median"] = round(statistics.median(runs), 1) if runs else None
    expected["longest_run_minutes"] = round(max(runs), 1) if runs else None
    expected["short_cycles"] = sum(1 for r in runs if r < 10)
    expected["defrost_minutes"] = round(defrost_s / 60, 1)
    expected["defrost_share_percent"] = round(100 * defrost_s / running_s, 1)
    backup = grown("calculations", 60, 1) + grown("calculations", 61, 1)
    expected["backup_heater_hours"] = round(backup / 3600, 3)
    expected["backup_heater_kwh"] = grown("parameters", 1140, 0.1)
    due = (end_ms - start_ms) / 1000 / interval_s
    expected["data_quality_percent"] = round(min(100.0, 100 * len(inside) / due), 1)
    return expected


def assert_figures(row, expected, what):
    for key, value in expected.items():
        if value is None:
            assert row[key] is None, (what, key)
        else:
            assert row[key] == pytest.approx(value, abs=0.011), (what, key, row[key], value)


@pytest.fixture
def short_cycling(monkeypatch):
    """A heat pump that may stop after 4 minutes, on a narrow hysteresis and a short pause:
    some runs are short cycles."""
    monkeypatch.setattr(sim_model, "MIN_RUN_S", 4 * 60)
    monkeypatch.setattr(sim_model, "MIN_PAUSE_S", 6 * 60)
    monkeypatch.setattr(sim_model, "HEATING_HYSTERESIS_K", 0.3)


def test_every_figure_equals_a_recomputation_from_the_raw_polls(tmp_path, timezone, short_cycling):
    timezone("UTC")
    start = dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
    gap = (int(start.timestamp() * 1000) + DAY_MS + 3_600_000,) * 2
    gap = (gap[0], gap[0] + 3 * 3_600_000)  # three hours of day 2 never stored
    polls = store_days(tmp_path, start, 3, cold_from_day=2, gap=gap)
    now_ms = polls[-1].ts_ms + 1
    with Reader(tmp_path) as reader:
        days, total = stats.calendar_figures(
            reader, dt.date(2024, 1, 10), dt.date(2024, 1, 13), "day", now_ms, interval_s=STEP_S
        )
    assert [d.label for d in days] == [f"2024-01-{n}" for n in range(10, 13)]
    for day in days:
        assert_figures(day.row(), recompute(polls, day.start_ms, day.end_ms), day.label)
    row = total.row()
    assert_figures(row, recompute(polls, total.start_ms, now_ms), "total")
    # The model ran every part of it: the figures are not vacuous.
    assert row["space_hours"] > 10 and row["water_hours"] > 1 and row["cooling_hours"] == 0
    assert 2 < row["space_cop"] < 5 and 1.5 < row["water_cop"] < 4
    assert 20 < row["space_prc_carnot"] < 80 and row["space_prc_carnot_refrigerant"] > 0
    assert row["short_cycles"] > 0 and row["runs"] > row["short_cycles"]
    assert row["defrost_minutes"] > 0 and row["backup_heater_hours"] > 1
    assert row["backup_heater_kwh"] > 3
    assert days[1].row()["data_quality_percent"] == pytest.approx(87.5, abs=0.1)
    assert days[0].row()["backup_heater_hours"] == 0 and days[2].row()["backup_heater_hours"] > 0


def test_the_split_adds_up_to_combined_exactly(tmp_path, timezone):
    timezone("UTC")
    start = dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
    polls = store_days(tmp_path, start, 3)
    with Reader(tmp_path) as reader:
        days, total = stats.calendar_figures(
            reader, dt.date(2024, 1, 10), dt.date(2024, 1, 13), "day", polls[-1].ts_ms + 1
        )
    for figures in [*days, total]:
        row = figures.row()
        for what in ("heat_kwh", "elec_kwh", "hours"):
            parts = [row[f"{m}_{what}"] or 0 for m in ("space", "water", "cooling")]
            if what == "heat_kwh":
                parts.append(figures.counters["heat_pool"] or 0)
            assert row[f"combined_{what}"] == round(sum(parts), 3), (figures.label, what)
        assert row["combined_heat_kwh"] == row["heat_total_kwh"]  # the controller agrees
    # Days add up to the total, counters and sums alike.
    total_row = total.row()
    for key in ("space_heat_kwh", "water_elec_kwh", "combined_starts", "defrost_minutes"):
        assert total_row[key] == pytest.approx(sum(d.row()[key] for d in days), abs=0.002), key


def test_a_controller_without_electric_counters_says_so(tmp_path, timezone):
    """Firmware V1.80 counts no electric energy per mode: no COP is invented."""
    timezone("UTC")
    start = dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
    polls = store_days(tmp_path, start, 1, profile="V1.80")
    with Reader(tmp_path) as reader:
        figures = stats.period_figures(reader, polls[0].ts_ms, polls[-1].ts_ms + 1, "day", STEP_S)
    row = figures.row()
    assert row["space_elec_kwh"] is None and row["space_cop"] is None
    assert row["combined_cop"] is None and row["space_prc_carnot"] is None
    assert row["space_heat_kwh"] > 0 and row["space_flow_mean_c"] is not None
    assert row["space_prc_carnot_refrigerant"] is None  # no refrigerant temperatures either
    assert not any("COP" in line for line in figures.observations())


def test_the_stats_command_writes_heatpumpmonitor_rows_and_observations(
    tmp_path, timezone, capsys, short_cycling
):
    timezone("UTC")
    start = dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
    polls = store_days(tmp_path / "state", start, 3, cold_from_day=1)
    path = config_for(tmp_path, 1, poll={"interval_s": STEP_S}, stats={"season_start": '"01-10"'})
    days = ["--from", "2024-01-10", "--to", "2024-01-12"]
    assert main(["--config", str(path), "stats", *days, "--heatpumpmonitor"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["date"] for r in rows] == [f"2024-01-{n}" for n in range(10, 13)]  # days
    assert rows[1]["timestamp"] == str(int(start.timestamp()) + 86400)
    day = recompute(
        polls, (int(start.timestamp()) + 86400) * 1000, (int(start.timestamp()) + 2 * 86400) * 1000
    )
    assert float(rows[1]["space_cop"]) == pytest.approx(day["space_cop"], abs=0.011)
    assert float(rows[1]["weighted_flowT"]) == pytest.approx(day["weighted_flow_c"], abs=0.011)
    assert float(rows[1]["combined_prc_carnot"]) == day["combined_prc_carnot"]
    assert rows[1]["cooling_cop"] == ""  # Luxtronik counts no heat in cooling
    assert int(rows[1]["combined_data_length"]) == 86400
    assert main(["--config", str(path), "stats", *days]) == 0
    table = capsys.readouterr().out
    assert "space heating:" in table and "% of Carnot" in table and "observations:" in table
    assert "backup heater ran" in table and "hot water used" in table
    assert main(["--config", str(path), "stats", *days, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert any(line.startswith("short cycling: ") for line in document["observations"])
    german = stats.Figures("", 0, 0)
    assert german.observations("de") == []  # no polls, nothing to say
    assert set(performance.COLUMNS) <= set(document["total"])


OBSERVATIONS = "[...document.querySelectorAll('#observations li')].map(l => l.textContent)"


@pytest.mark.timeout(90)
@webdriver.NEEDED
def test_the_page_shows_both_charts_and_the_observations(tmp_path, monkeypatch, short_cycling):
    """COP against outdoor temperature (a dot per day), the heating curve as it ran with the
    set point over it, the figures by mode and the observations; in German too."""
    state = tmp_path / "state"
    polls = store_days(state, dt.datetime(2024, 1, 10, tzinfo=dt.UTC), 4, cold_from_day=2)
    monkeypatch.setenv("LUXLOGD_STORAGE_STATE_DIR", str(state))
    monkeypatch.setenv("LUXLOGD_WEB_LISTEN", "127.0.0.1:0")
    monkeypatch.setenv("LUXLOGD_POLL_INTERVAL_S", str(STEP_S))
    # Another heat pump on this host (luxlogd@flat): the page names this one, links that one.
    run = tmp_path / "run"
    (run / "luxlogd-flat").mkdir(parents=True)
    sibling = {"name": "flat", "web_url": "http://127.0.0.1:9/", "updated": time.time()}
    (run / "luxlogd-flat" / "status.json").write_text(json.dumps(sibling))
    monkeypatch.setattr(status, "RUN_DIR", run)
    monkeypatch.setattr(status, "RUNTIME_STATUS_DIR", run / "luxlogd")
    provider = Provider(polls[-1], time.time(), True)
    provider.state["name"] = "cellar"
    server = WebServer(load_config(None), provider, time.time)
    host, port = server.start()
    browser = webdriver.Browser(free_port(), tmp_path / "chromium")
    choose = (
        "const s = document.getElementById('period'); s.add(new Option('x', 'month=2024-01'));"
        "s.value = 'month=2024-01'; s.dispatchEvent(new Event('change'))"
    )
    try:
        browser.get(f"http://{host}:{port}/?lang=en")
        browser.wait_for("return luxlogd.performanceLoads >= 1", 30)
        named = browser.wait_for(
            "return luxlogd.heatPumps ? [document.title, [...document.querySelectorAll("
            "'#heatpumps a')].map(a => a.textContent + ' ' + a.href)] : null"
        )
        browser.run(choose)
        page = browser.wait_for(
            "return luxlogd.performanceLoads >= 2 && luxlogd.curvePlot ? {"
            f"observations: {OBSERVATIONS},"
            "modes: [...document.querySelectorAll('#modes tbody tr')].map(r => r.innerText),"
            "dots: luxlogd.copPoints.map(d => [d.date, d.space_cop]),"
            "series: luxlogd.copPlot.series.length,"
            "curve: luxlogd.curvePlot.data} : null",
            30,
        )
        browser.run("document.getElementById('performance').scrollIntoView()")
        png = browser.screenshot()
        browser.run(
            "const s = document.getElementById('language'); s.value = 'de';"
            "s.dispatchEvent(new Event('change'))"
        )
        german = browser.wait_for(
            "return luxlogd.performanceLoads >= 3 ? {"
            f"observations: {OBSERVATIONS},"
            "title: document.querySelector('[data-t=performance]').textContent} : null",
            30,
        )
        browser.call("POST", "/window/rect", {"width": 390, "height": 844})
        phone = browser.wait_for(
            "const w = document.documentElement.clientWidth;"
            "const canvas = document.querySelector('#curve-chart canvas');"
            "if (!canvas) return null; const c = canvas.getBoundingClientRect();"
            "return w < 500 && c.right <= w ? [w, document.documentElement.scrollWidth] : null",
        )
    finally:
        browser.close()
        server.stop()
    with Reader(state) as reader:
        days, total = stats.calendar_figures(
            reader,
            dt.date(2024, 1, 1),
            dt.date(2024, 2, 1),
            "day",
            polls[-1].ts_ms + 1,
            None,
            STEP_S,
        )
    assert named == ["luxlogd · cellar", ["flat http://127.0.0.1:9/"]]
    assert page["observations"] == total.observations("en")
    assert any(line.startswith("short cycling") for line in page["observations"])
    assert sorted(page["dots"]) == [[d.label, d.row()["space_cop"]] for d in days]
    assert page["series"] == 1 + 1  # the outdoor axis and one month of dots
    assert page["modes"][0].startswith("all modes") and page["modes"][1].startswith("space")
    outdoor, flow, ret, target = page["curve"]
    assert outdoor == sorted(outdoor) and len(outdoor) >= 10  # the cold spell widens it
    assert all(f > r for f, r in zip(flow, ret, strict=True))  # flow above return
    assert german["title"] == "Wie gut sie läuft"
    assert german["observations"] == total.observations("de")
    assert phone[1] <= phone[0], phone
    (tmp_path / "performance.png").write_bytes(png)
    if os.environ.get("SAVE_PERFORMANCE_SCREENSHOT"):
        Path(os.environ["SAVE_PERFORMANCE_SCREENSHOT"]).write_bytes(png)


@pytest.mark.parametrize(
    "profile, missing",
    [
        ("V3.91", []),
        ("V3.88", ["room_desired", "electric_power", "power_limit", "power_limit_value"]),
    ],
)
def test_doctor_says_which_newer_fields_a_controller_sends(profile, missing):
    from luxlogd.doctor.heatpump import capabilities

    sim = Simulator(clock=FrozenClock(1_700_000_000.0), profile=profile)
    p, c, v = sim.arrays()
    section = capabilities(Poll(1_700_000_000_000, 0, tuple(p), tuple(c), tuple(v)))
    assert section.facts["newer_fields_missing"] == missing
    assert "vaporisation" in section.facts["newer_fields"]
    text = "\n".join(finding.text for finding in section.findings)
    assert ("no live COP" in text) == ("electric_power" in missing)


def test_the_glance_gives_a_live_cop_where_the_firmware_sends_the_electric_power(tmp_path):
    from luxlogd.reports.glance import glance

    start = dt.datetime(2024, 1, 10, tzinfo=dt.UTC)
    for profile, expect in (("V3.91", True), ("V3.88", False)):
        state = tmp_path / profile
        polls = store_days(state, start, 0.25, profile=profile)
        running = [p for p in polls if p.calculations[44] and p.calculations[80] == 0]
        assert running
        with Reader(state) as reader:
            seen = glance(reader, polls[-1].ts_ms / 1000)
        newest = polls[-1].calculations
        if not expect:
            assert seen["cop_now"] == {"value": None, "why": "not reported by this firmware"}
        elif newest[44]:
            assert seen["cop_now"]["value"] == round(newest[257] / newest[268], 2)
        else:
            assert seen["cop_now"]["why"] == "the compressor is off"


def test_the_web_server_computes_the_season_ahead(tmp_path, monkeypatch):
    """The finished days of the current season are computed in the background, so the page's
    season opens from the cache; a day is computed once."""
    from luxlogd.outputs.web import app

    today = dt.datetime.now(dt.UTC).astimezone().date()
    season_start = today - dt.timedelta(days=10)
    month_day = season_start.strftime("%m-%d").replace("02-29", "02-28")
    midnight = dt.datetime.combine(today - dt.timedelta(days=3), dt.time()).astimezone()
    polls = store_days(tmp_path / "state", midnight, 2)
    monkeypatch.setenv("LUXLOGD_STORAGE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LUXLOGD_WEB_LISTEN", "127.0.0.1:0")
    monkeypatch.setenv("LUXLOGD_STATS_SEASON_START", month_day)
    monkeypatch.setenv("LUXLOGD_POLL_INTERVAL_S", str(STEP_S))
    monkeypatch.setattr(app, "WARM_AFTER_S", 0.05)
    computed = []
    real = stats.period_figures

    def counting(reader, start_ms, end_ms, label, interval_s=30.0):
        computed.append(label)
        return real(reader, start_ms, end_ms, label, interval_s)

    monkeypatch.setattr(stats, "period_figures", counting)
    server = app.WebServer(load_config(None), Provider(polls[-1], time.time(), True), time.time)
    host, port = server.start()
    try:
        finished = (today - season_start).days  # the days before today

        def warmed():
            with server.httpd.cache_lock:
                days = [k for k in server.httpd.cache if k[0] == "day"]
                curves = [k for k in server.httpd.cache if k[0] == "curve"]
            return len(days) >= finished - 1 and len(curves) >= finished - 1

        eventually(warmed, 8, 0.05, "the season's finished days computed ahead")
        before = len(computed)
        year = season_start.year
        url = f"http://{host}:{port}/api/stats?season={year}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            body = json.loads(answer.read())
    finally:
        server.stop()
    # Only today (and a day that ended within the hour) is computed for the request.
    assert len(computed) - before <= 2
    expected_polls = sum(1 for p in polls if p.ts_ms >= midnight.timestamp() * 1000)
    assert body["total"]["polls"] == expected_polls

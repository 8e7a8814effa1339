import datetime as dt
import http.client
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from luxlogd.base.times import local_midnight_ms
from luxlogd.config import load_config
from luxlogd.daemon.service import Service
from luxlogd.heatpump.client import HeatPumpError
from luxlogd.outputs.metrics import escape_label
from luxlogd.sim.simulator import Simulator
from tests import webdriver
from tests.helpers import eventually
from tests.system import free_port


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_healthz_is_200_when_polls_are_recent_and_503_otherwise(web):
    base, _ = web()
    status, _, body = get(base + "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    stale, _ = web(last_success=time.time() - 3600)
    status, _, body = get(stale + "/healthz")
    assert status == 503 and json.loads(body)["status"] == "unhealthy"
    broken, _ = web(storage_ok=False)
    assert get(broken + "/healthz")[0] == 503


def test_metrics_are_curated_families_that_parse_strictly(web, monkeypatch):
    base, polls = web()
    status, headers, body = get(base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    polls_total = {s.labels["result"]: s.value for s in families["luxlogd_polls"].samples}
    assert polls_total == {"ok": 5.0, "failed": 1.0}
    assert families["luxlogd_polls"].type == "counter"
    newest = polls[-1]
    temperatures = {
        s.labels["sensor"]: s.value for s in families["luxtronik_temperature_celsius"].samples
    }
    assert temperatures["flow"] == newest.calculations[10] / 10
    assert temperatures["outdoor"] == newest.calculations[15] / 10
    assert "heat_source_in" not in temperatures  # not connected (reads -50.0): not served
    starts = families["luxtronik_compressor_starts"]
    assert starts.type == "counter" and starts.samples[0].value == newest.calculations[57]
    heat = {s.labels["circuit"]: s.value for s in families["luxtronik_heat_energy_kwh"].samples}
    assert heat["total"] == newest.calculations[154] / 10
    electric = {
        s.labels["circuit"]: s.value for s in families["luxtronik_electric_energy_kwh"].samples
    }
    assert electric["heating"] == newest.parameters[1136] / 100
    modes = {s.labels["state"]: s.value for s in families["luxtronik_operating_mode"].samples}
    assert sum(modes.values()) == 1.0 and len(modes) == 8
    info = families["luxtronik_info"].samples[0].labels
    assert info == {"firmware": "V3.88", "heatpump_type": "L1A"}
    assert families["luxlogd_build_info"].samples[0].labels["version"]
    assert families["luxlogd_poll_duration_seconds"].type == "histogram"
    assert families["luxlogd_database_bytes"].samples[0].value > 0
    series = sum(len(f.samples) for f in families.values())
    assert series < 200  # well under 200 series by default
    assert "luxtronik_raw_value" not in families
    # Unreachable: nothing served as if current, and why.
    down, _ = web(reachable=False)
    families = {f.name for f in text_string_to_metric_families(get(down + "/metrics")[2].decode())}
    assert not any(name.startswith("luxtronik_") for name in families)
    assert "luxlogd_heatpump_reachable" in families
    # metrics.raw: every numeric field too, and still no secret.
    monkeypatch.setenv("LUXLOGD_METRICS_RAW", "true")
    raw, _ = web()
    text = get(raw + "/metrics")[2].decode()
    names = {
        s.labels["name"]
        for f in text_string_to_metric_families(text)
        if f.name == "luxtronik_raw_value"
        for s in f.samples
    }
    assert len(names) > 1500 and "ID_WEB_Temperatur_TVL" in names
    assert not any("Passwort" in n or "Password" in n or "Zugangscode" in n for n in names)


def test_label_values_are_escaped():
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_sensor_listing_and_series(web):
    base, polls = web()
    sensors = json.loads(get(base + "/api/sensors")[2])
    tvl = next(s for s in sensors if s["name"] == "ID_WEB_Temperatur_TVL")
    assert tvl == {
        "name": "ID_WEB_Temperatur_TVL",
        "key": "flow",
        "label": "Flow",
        "group": "calculations",
        "index": 10,
        "unit": "celsius",
        "display_unit": "°C",
        "type": "Celsius",
        "kind": "temperature",
        "numeric": True,
        "well_known": True,
        "hidden": None,
    }
    by_name = {s["name"]: s for s in sensors}
    assert by_name["ID_WEB_Temperatur_TWE"]["hidden"] == "not connected"  # reads -50.0
    assert {s["hidden"] for s in sensors if s["group"] == "visibilities"} == {"visibility flag"}
    assert by_name["Unknown_Calculation_0"]["hidden"] == "unknown field"
    assert by_name["electric_heating"]["display_unit"] == "kWh"  # our extra field
    assert not any("Passwort" in name or "Zugangscode" in name for name in by_name)
    german = json.loads(get(base + "/api/sensors?lang=de")[2])
    assert next(s for s in german if s["key"] == "outdoor")["label"] == "Außentemperatur"
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(polls[0].ts_ms / 1000))
    end = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(polls[-1].ts_ms / 1000 + 1))
    status, _, body = get(
        f"{base}/api/series?sensor=ID_WEB_Temperatur_TVL&from={start}&to={end}&points=24"
    )
    assert status == 200
    series = json.loads(body)
    assert sum(series["count"]) == len(polls)
    values = [p.calculations[10] / 10 for p in polls]
    assert min(series["min"]) == min(values) and max(series["max"]) == max(values)
    assert len(series["t"]) <= 24


@pytest.mark.parametrize(
    "query, message",
    [
        ("", "sensor: missing"),
        ("sensor=ID_WEB_Nope&from=2026-01-01&to=2026-01-02", "unknown sensor"),
        ("sensor=ID_WEB_Temperatur_*&from=2026-01-01&to=2026-01-02", "not a pattern"),
        ("sensor=ID_WEB_SoftStand&from=2026-01-01&to=2026-01-02", "not numeric"),
        ("sensor=ID_WEB_Temperatur_TA&from=yesterday&to=2026-01-02", "from: expected an ISO"),
        ("sensor=ID_WEB_Temperatur_TA&from=2026-01-03&to=2026-01-02", "to: must be after from"),
        ("sensor=ID_WEB_Temperatur_TA&from=2026-01-01&to=2026-01-02&points=0", "points"),
        ("sensor=ID_WEB_Temperatur_TA&from=2026-01-01&to=2026-01-02&points=x", "points"),
    ],
)
def test_bad_series_parameters_get_400_with_a_json_error(web, query, message):
    base, _ = web()
    status, headers, body = get(f"{base}/api/series?{query}")
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert message in json.loads(body)["error"]


def test_export_summary_logs_and_status(web):
    base, polls = web()
    day = time.strftime("%Y-%m-%d")
    status, headers, body = get(
        f"{base}/api/export?from={day}&to={day}&sensors=ID_WEB_Temperatur_TA"
    )
    lines = body.decode().splitlines()
    assert status == 200 and lines[0] == "timestamp,ID_WEB_Temperatur_TA"
    assert len(lines) - 1 == sum(
        1 for p in polls if time.strftime("%Y-%m-%d", time.localtime(p.ts_ms / 1000)) == day
    )
    assert get(f"{base}/api/export?from={day}&to={day}&format=xml")[0] == 400
    assert get(f"{base}/api/export?from={day}&to={day}&sensors=Nope")[0] == 400
    assert isinstance(json.loads(get(base + "/api/summary?days=2")[2]), list)
    assert get(base + "/api/summary?days=0")[0] == 400
    assert isinstance(json.loads(get(base + "/api/logs")[2]), list)
    assert json.loads(get(base + "/api/status")[2])["status"] == "last poll now"


def test_latest_values_are_the_newest_poll_decoded(web):
    base, polls = web()
    body = json.loads(get(base + "/api/latest?sensors=ID_WEB_Temperatur_TA,ID_WEB_WP_BZ_akt")[2])
    assert body["time"] == polls[-1].ts_ms / 1000
    value, unit = body["values"]["ID_WEB_Temperatur_TA"]
    assert value == polls[-1].calculations[15] / 10 and unit == "celsius"
    assert isinstance(body["values"]["ID_WEB_WP_BZ_akt"][0], str)  # an operating mode's name
    default = json.loads(get(base + "/api/latest")[2])["values"]
    assert len(default) >= 200 and "ID_WEB_Temperatur_TA" in default  # all calculations
    status, _, error = get(base + "/api/latest?sensors=ID_Nope")
    assert status == 400 and "ID_Nope" in json.loads(error)["error"]


def test_the_page_and_static_files_and_nothing_else(web):
    base, _ = web()
    status, headers, body = get(base + "/")
    assert status == 200 and b"<title>luxlogd</title>" in body
    assert get(base + "/static/style.css")[0] == 200
    host, port = base[7:].rsplit(":", 1)
    for path in [
        "/static/../server.py",
        "/static/%2e%2e/server.py",
        "/static/..%2fserver.py",
        "/static/%2e%2e%2f%2e%2e%2fconfig.py",
        "/static/.hidden",
        "/etc/passwd",
        "/static/",
        "/static/nope.js",
        "/../../etc/passwd",
    ]:
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request("GET", path)  # sent as is, not normalized by a client
        response = connection.getresponse()
        body = response.read()
        connection.close()
        assert response.status == 404, path
        assert b"import" not in body and b"root:" not in body


def post_login(base, token):
    """POST the login form; return (status, Set-Cookie header)."""
    host, port = base[7:].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request(
        "POST",
        "/login",
        body=f"token={token}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, response.getheader("Set-Cookie") or ""


def test_a_token_guards_every_request(web):
    base, _ = web(token="s3cret")
    assert get(base + "/api/status")[0] == 401
    assert get(base + "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
    assert get(base + "/metrics", {"Authorization": "Bearer s3cret"})[0] == 200
    status, _, body = get(base + "/")
    assert status == 200 and b'name="token"' in body  # the login form
    status, cookie_header = post_login(base, "s3cret")
    cookie = cookie_header.split(";")[0]
    assert status == 303 and "HttpOnly" in cookie_header
    assert get(base + "/api/status", {"Cookie": cookie})[0] == 200
    assert post_login(base, "nope")[0] == 401


def test_idle_and_slow_clients_do_not_block_others(web):
    base, _ = web()
    host, port = base[7:].rsplit(":", 1)
    idle = [socket.create_connection((host, int(port))) for _ in range(40)]
    for sock in idle[:10]:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")  # never finishes its headers
    started = time.monotonic()
    assert get(base + "/healthz")[0] == 200
    assert time.monotonic() - started < 2
    huge = socket.create_connection((host, int(port)))
    huge.sendall(b"GET /healthz HTTP/1.1\r\n" + b"X-A: " + b"a" * 70_000 + b"\r\n\r\n")
    assert b"431" in huge.recv(1000) or b"400" in huge.recv(1000)
    for sock in [*idle, huge]:
        sock.close()


def test_the_daemon_serves_its_own_data(tmp_path):
    with Simulator() as sim:
        path = tmp_path / "c.toml"
        path.write_text(
            f'[heatpump]\nhost = "127.0.0.1"\nport = {sim.port}\ntimeout_s = 2\n'
            f'[poll]\ninterval_s = 0.3\n[storage]\nstate_dir = "{tmp_path}"\n'
            '[web]\nlisten = "127.0.0.1:0"\n'
        )
        service = Service(load_config(path, environ={}))
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        eventually(lambda: service.counters.polls_ok, timeout=5)
        host, port = service.outputs.web.httpd.server_address
        status, _, body = get(f"http://{host}:{port}/metrics")
        health = get(f"http://{host}:{port}/healthz")[0]
        service.request_stop()
        thread.join(5)
    assert status == 200 and b'luxtronik_temperature_celsius{sensor="flow"}' in body
    assert health == 200


@pytest.mark.system
@pytest.mark.timeout(120)
@webdriver.NEEDED
def test_the_page_in_headless_chromium(web, tmp_path):
    """The heat pump at a glance (English, then German), charts with their envelope, the
    operating mode band, gaps and coverage; toggles, ranges, a phone's width, a screenshot."""
    from luxlogd.heatpump import catalogue
    from luxlogd.reports import stats
    from luxlogd.store.reader import Reader

    note = "Outdoor: 99 °C, outside -40 to 50 °C"  # the daemon's data-quality note
    base, polls = web(quality_notes=[note])
    newest = polls[-1]
    with Reader(Path(os.environ["LUXLOGD_STORAGE_STATE_DIR"])) as reader:
        today = stats.period_figures(
            reader, local_midnight_ms(dt.date.today()), int(time.time() * 1000) + 1, "x"
        )
    browser = webdriver.Browser(free_port(), tmp_path / "chromium")
    try:
        browser.get(base + "/")
        browser.wait_for("return document.body.dataset.loads === '1'", 30)
        glance = browser.wait_for(
            "const mode = document.getElementById('mode').textContent;"
            "return luxlogd.glance && mode !== '-' ? {mode, compressor: "
            "document.getElementById('compressor').textContent, today: [...document."
            "querySelectorAll('#today div')].map(d => [d.firstChild.textContent, "
            "d.lastChild.textContent]), now: document.getElementById('now').innerText} : null"
        )
        mode = newest.calculations[80]
        assert glance["mode"] == catalogue.state_text("operating_mode", mode, "en")
        assert glance["compressor"] == ("on" if newest.calculations[44] else "off")
        figures = dict(glance["today"])
        assert figures["Starts"] == str(int(today.counters["compressor_starts"] or 0))
        heat = today.heat_kwh
        assert figures["Heat"] == ("–" if heat is None else f"{heat:.1f} kWh")
        assert f"{newest.calculations[15] / 10:.1f}" in glance["now"] and "Outdoor" in glance["now"]

        charts = browser.run(
            "return luxlogd.charts.map(c => ({unit: c.unit, names: c.names, points: c.points,"
            " series: c.plot.series.length, bands: c.plot.bands.length,"
            " data: c.plot.data[3]}))"
        )
        temperatures = next(c for c in charts if c["unit"] == "°C")
        assert "ID_WEB_Temperatur_TA" in temperatures["names"]
        assert temperatures["points"] >= 50  # two hours of polls (200) in a 24 h chart
        # The envelope: per sensor a min and a max series and a band between them.
        assert temperatures["series"] == 1 + 3 * len(temperatures["names"])
        assert temperatures["bands"] == len(temperatures["names"])
        # The 20 minutes without polls are a gap (a null), not a line across them.
        line = temperatures["data"]
        inside = [i for i, v in enumerate(line) if v is not None]
        assert any(line[i] is None for i in range(inside[0], inside[-1]))
        band = browser.run(
            "return {buckets: luxlogd.band.buckets.length, "
            "legend: document.querySelector('#modeband .band-legend').innerText}"
        )
        assert band["buckets"] >= 50
        assert catalogue.state_text("operating_mode", mode, "en") in band["legend"]
        coverage = browser.run(
            "return [...document.querySelectorAll('#coverage span')]"
            ".map(s => Number(s.dataset.percent))"
        )
        assert coverage and 0 < coverage[-1] < 100  # today: polls missing (the gap, the rest)
        notes = browser.wait_for(
            "const items = [...document.querySelectorAll('#quality li')];"
            "return items.length ? items.map(li => li.textContent) : null"
        )
        assert f"data quality: {note}" in notes
        latest = browser.wait_for(
            "const rows = document.querySelectorAll('#latest tbody tr');"
            "return rows.length ? [...rows].map(r => r.innerText) : null"
        )
        outdoor = next(r for r in latest if r.startswith("Outdoor"))
        assert f"{newest.calculations[15] / 10:.1f}" in outdoor

        # Toggle the hot-gas temperature on: the temperature chart gains a series.
        assert "ID_WEB_Temperatur_THG" not in temperatures["names"]
        browser.click("#toggles input[value='hot_gas']")
        browser.wait_for("return document.body.dataset.loads === '2'")
        names = browser.run("return luxlogd.charts.find(c => c.unit === '°C').names")
        assert "ID_WEB_Temperatur_THG" in names and "ID_WEB_Temperatur_TA" in names

        # Change the range to the last 6 hours: the x scale follows, the data is reloaded.
        browser.click("#range button[data-hours='6']")
        browser.wait_for("return document.body.dataset.loads === '3'")
        x_min, x_max = browser.run(
            "const x = luxlogd.charts[0].plot.scales.x; return [x.min, x.max]"
        )
        assert x_max - x_min == 6 * 3600
        assert abs(x_max - time.time()) < 120

        browser.run("window.scrollTo(0, 0)")  # the glance panel and the first chart
        png = browser.screenshot()
        rect = browser.run(
            "const r = document.querySelector('.chart[data-unit=\"°C\"] canvas')"
            ".getBoundingClientRect(); return [r.x, r.y, r.width, r.height, devicePixelRatio]"
        )

        # Auf Deutsch: the same heat pump, in German words.
        browser.run(
            "const s = document.getElementById('language'); s.value = 'de';"
            "s.dispatchEvent(new Event('change'))"
        )
        german = browser.wait_for(
            "return luxlogd.glance && luxlogd.glance.language === 'de' ? {mode: document."
            "getElementById('mode').textContent, now: document.getElementById('now')"
            ".innerText, title: document.querySelector('[data-t=today]').textContent} : null"
        )
        assert german["mode"] == catalogue.state_text("operating_mode", mode, "de")
        assert "Außentemperatur" in german["now"] and german["title"] == "Heute bisher"

        # Readable on a phone: nothing wider than the screen once the charts have resized.
        browser.call("POST", "/window/rect", {"width": 390, "height": 844})
        phone = browser.wait_for(
            "const w = document.documentElement.clientWidth;"
            "const c = document.querySelector('.chart canvas').getBoundingClientRect();"
            "const page = document.documentElement.scrollWidth;"
            "return w < 500 && c.right <= w && page <= w ? [w, page] : null",
            10,
            what=lambda: browser.run(
                "return [...document.querySelectorAll('body *')].filter(e => "
                "!e.closest('.scroll') && e.getBoundingClientRect().right > "
                "document.documentElement.clientWidth + 1).slice(0, 3).map(e => "
                "(e.parentElement.closest('[id]') || {}).id + ' ' + e.className + ' ' + "
                "Math.round(e.getBoundingClientRect().right))"
            ),
        )
        assert phone[1] <= phone[0], phone
    finally:
        browser.close()
    (tmp_path / "page.png").write_bytes(png)
    if os.environ.get("SAVE_SCREENSHOT"):
        Path(os.environ["SAVE_SCREENSHOT"]).write_bytes(png)
    # The chart's area on the screenshot holds the series' colours, not just axes and grid.
    width, height, rows = webdriver.read_png(png)
    x, y, w, h = (int(v * rect[4]) for v in rect[:4])
    red = blue = 0
    for row in rows[y : min(y + h, height)]:
        for px in range(x, min(x + w, width)):
            r, g, b = row[4 * px], row[4 * px + 1], row[4 * px + 2]
            red += r > 180 and g < 90 and b < 90  # #d62728, the first series
            blue += b > 150 and r < 80 and g < 150  # #1f77b4, the second
    assert red > 200 and blue > 200, (red, blue)


def test_charts_and_status_include_the_poll_stored_a_moment_ago(tmp_path, capsys):
    """Polls still in the write buffer (SQLite has not got them yet) are in every read."""
    from luxlogd.base.times import clock_text
    from luxlogd.cli import main
    from luxlogd.heatpump.client import HeatPumpClient

    hold = threading.Event()

    class FourPolls:
        """The real client, then a pause: nothing changes while the test looks."""

        def __init__(self, client):
            self.client, self.reads = client, 0

        def read(self, budget_s=None):
            self.reads += 1
            if self.reads > 4:
                hold.wait(10)
                raise HeatPumpError("paused by the test")
            return self.client.read(budget_s)

    with Simulator() as sim:
        path = tmp_path / "c.toml"
        path.write_text(
            f'[heatpump]\nhost = "127.0.0.1"\nport = {sim.port}\ntimeout_s = 2\n'
            f'[poll]\ninterval_s = 0.2\n[storage]\nstate_dir = "{tmp_path}"\n'
            '[web]\nlisten = "127.0.0.1:0"\n[schedule]\ninternal = false\n'
        )
        config = load_config(path, environ={})
        service = Service(config)
        service.client = FourPolls(HeatPumpClient.from_config(config.heatpump))
        thread = threading.Thread(target=service.run, daemon=True)
        thread.start()
        eventually(lambda: service.counters.polls_ok >= 4, timeout=5)
        host, port = service.outputs.web.httpd.server_address
        newest = service.last_poll
        committed = service.storage.database.last_seq_committed()
        start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - 60))
        end = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + 60))
        status, _, body = get(
            f"http://{host}:{port}/api/series?sensor=flow&from={start}&to={end}&points=1000"
        )
        assert main(["--config", str(path), "status"]) == 0
        out = capsys.readouterr().out
        hold.set()
        service.request_stop()
        thread.join(5)
    assert committed < 4  # the newest polls were only in the WAL and the write buffer
    series = json.loads(body)
    assert status == 200 and sum(series["count"]) == 4
    assert series["max"][-1] == newest.calculations[10] / 10
    assert f"polls stored:  4 ({4 - committed} only in the write-ahead log)" in out
    assert f"to {clock_text(newest.ts_ms / 1000)}" in out


def test_no_secret_of_the_controller_is_ever_served(web, monkeypatch):
    from tests.conftest import SECRET_VALUES

    monkeypatch.setenv("LUXLOGD_METRICS_RAW", "true")
    base, polls = web()
    assert polls[-1].parameters[107] == SECRET_VALUES[107]  # the store holds them
    day = time.strftime("%Y-%m-%d")
    answers = []
    for path in [
        "/",
        "/metrics",
        "/healthz",
        "/api/sensors",
        "/api/sensors?lang=de",
        "/api/latest?sensors=parameters",
        "/api/latest?sensors=*",
        f"/api/export?from={day}&to={day}&sensors=parameters",
        f"/api/export?from={day}&to={day}&sensors=*&format=json",
        "/api/glance",
        "/api/status",
        "/api/summary?days=2",
        "/api/logs",
        f"/api/stats?month={day[:7]}",
        f"/api/coverage?from={day}&to={day}",
    ]:
        status, _, body = get(base + path)
        assert status == 200, path
        answers.append(body.decode())
    served = "\n".join(answers)
    for value in SECRET_VALUES.values():
        assert str(value) not in served
    for name in ("ID_Einst_Zugangscode", "ID_Timer_Password", "ID_WebserverPasswort_1_akt"):
        assert name not in served
        status, _, body = get(f"{base}/api/latest?sensors={name}")
        assert status == 400 and "secret" in json.loads(body)["error"]

"""The page on a new installation and with a heat pump that does not answer, in headless
Chromium: charts open on a range the data fills, day one's coverage counts from the first
poll, and old values are marked as old (English and German)."""

import re
import time

import pytest

from luxlogd.config import load_config
from luxlogd.outputs.web.app import WebServer
from luxlogd.store.writer import Storage
from tests import webdriver
from tests.conftest import Provider
from tests.helpers import simulated_polls
from tests.system import free_port

pytestmark = [
    pytest.mark.timeout(90),
    webdriver.NEEDED,
]


def serve(tmp_path, monkeypatch, minutes, reachable=True, age_s=0.0):
    """A server over `minutes` of 30 s polls ending `age_s` ago."""
    monkeypatch.setenv("LUXLOGD_STORAGE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LUXLOGD_WEB_LISTEN", "127.0.0.1:0")
    count = minutes * 2
    polls = simulated_polls(count, start=time.time() - age_s - count * 30)
    with Storage(tmp_path / "state", fdatasync=lambda fd: None) as storage:
        for poll in polls:
            storage.append(poll)
    provider = Provider(polls[-1], time.time() - age_s)
    provider.state["reachable"] = reachable
    server = WebServer(load_config(None), provider, time.time)
    host, port = server.start()
    return server, f"http://{host}:{port}/"


def test_a_new_installation_opens_on_the_hour_its_data_fills(tmp_path, monkeypatch):
    server, url = serve(tmp_path, monkeypatch, minutes=20)
    browser = webdriver.Browser(free_port(), tmp_path / "chromium")
    try:
        browser.get(url)
        browser.wait_for("return document.body.dataset.loads === '1'", 30)
        span = browser.run("const x = luxlogd.charts[0].plot.scales.x; return x.max - x.min")
        coverage = browser.wait_for(
            "const c = [...document.querySelectorAll('#coverage span')]"
            ".map(s => Number(s.dataset.percent)); return c.length ? c : null"
        )
        hour = browser.run("return !!document.querySelector('#range button[data-hours=\"1\"]')")
    finally:
        browser.close()
        server.stop()
    assert span == 3600  # not 24 h with the data a sliver at the right edge
    assert coverage[-1] >= 95, coverage  # counted from the first poll, not from midnight
    assert hour


@pytest.mark.parametrize(
    "language, words, unreachable",
    [("en", "min ago", "heat pump unreachable since"), ("de", "vor ", "nicht erreichbar seit")],
)
def test_old_values_are_marked_old_when_the_heat_pump_does_not_answer(
    tmp_path, monkeypatch, language, words, unreachable
):
    server, url = serve(tmp_path, monkeypatch, minutes=10, reachable=False, age_s=25 * 60)
    browser = webdriver.Browser(free_port(), tmp_path / "chromium")
    try:
        browser.get(url + f"?lang={language}")
        seen = browser.wait_for(
            "const g = document.getElementById('glance'); const s = document.getElementById("
            "'stale').textContent; return g.classList.contains('stale') && s ? s : null",
            20,
        )
        header = browser.run("return document.getElementById('status').textContent")
    finally:
        browser.close()
        server.stop()
    assert words in seen and re.search(r"\b2[56] min", seen), seen  # the newest poll's age
    assert (
        header.startswith(unreachable.split(" seit")[0].split(" since")[0]) or unreachable in header
    )
    assert unreachable in header, header


def test_a_year_fits_the_window_and_german_times_are_24_hours(tmp_path, monkeypatch):
    """The 1-year range: 366 coverage cells and the charts fit a 1,265 px window; the time
    axis speaks the page's language, without labels running into each other."""
    server, url = serve(tmp_path, monkeypatch, minutes=20)
    browser = webdriver.Browser(free_port(), tmp_path / "chromium")
    try:
        browser.call("POST", "/window/rect", {"width": 1265, "height": 900})
        browser.get(url + "?lang=de")
        browser.wait_for("return document.body.dataset.loads === '1'", 30)
        browser.click("#range button[data-hours='8760']")
        widths = browser.wait_for(
            "return document.querySelectorAll('#coverage span').length > 300 && "
            "document.body.dataset.loads === '2' ? [document.documentElement.clientWidth, "
            "document.documentElement.scrollWidth] : null",
            30,
        )
        browser.click("#range button[data-hours='6']")
        browser.wait_for("return document.body.dataset.loads === '3'", 30)
        labels = browser.run(
            "const a = luxlogd.charts[0].plot.axes[0]; const u = luxlogd.charts[0].plot;"
            "return a.values(u, u.axes[0]._splits || [u.scales.x.min, u.scales.x.min + 3600])"
        )
    finally:
        browser.close()
        server.stop()
    assert widths[1] <= widths[0], widths
    assert labels and not any(re.search(r"[AP]M", label) for label in labels), labels
    assert all(re.match(r"\d\d:\d\d", label) for label in labels), labels


# The page's own English texts (T.en) that differ from their German ones and still stand, as
# whole words, in the page's text.
ENGLISH_LEFT = r"""
const text = document.body.innerText;
const german = new Set(Object.values(T.de).filter(v => typeof v === 'string'));
const word = (v) => new RegExp('\\b' + v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '\\b');
return Object.entries(T.en)
  .filter(([k, v]) => typeof v === 'string' && v.length > 3 && !german.has(v))
  .filter(([k, v]) => word(v).test(text))
  .map(([k, v]) => v);
"""


def test_the_german_page_has_no_english_words_of_the_page_left(tmp_path, monkeypatch):
    """Every word the page itself writes (its own texts, not the heat pump's data), in German
    when the page is German: a test that fails on an English word left."""
    server, url = serve(tmp_path, monkeypatch, minutes=60)
    browser = webdriver.Browser(free_port(), tmp_path / "chromium")
    try:
        browser.get(url + "?lang=de")
        browser.wait_for(
            "return document.body.dataset.loads === '1' && luxlogd.performanceLoads >= 1", 30
        )
        left = browser.run(ENGLISH_LEFT)
    finally:
        browser.close()
        server.stop()
    assert left == [], left


def test_the_range_fields_speak_the_page_s_language(tmp_path, monkeypatch):
    """The From/To fields show 30.11.2026 19:23 on the German page and 2026-11-30 19:23 on
    the English one, whatever the browser's locale; either form is read back, a wrong one is
    said in the page's language; the data-quality notes are German too."""
    server, url = serve(tmp_path, monkeypatch, minutes=20)
    server.provider.state["quality_notes"] = ["Outdoor: 99 °C, outside -40 to 50 °C"]
    server.provider.state["quality_notes_de"] = [
        "Außentemperatur: 99 °C, außerhalb von -40 bis 50 °C"
    ]
    browser = webdriver.Browser(free_port(), tmp_path / "chromium")
    field = "return document.getElementById('from').value"
    try:
        browser.get(url + "?lang=de")
        browser.wait_for("return document.body.dataset.loads === '1'", 30)
        german = browser.run(field)
        notes = browser.wait_for(
            "const t = document.getElementById('quality').innerText; return t || null", 30
        )
        browser.run(
            "const f = document.getElementById('from'), t = document.getElementById('to');"
            "f.value = '29.11.2026 08:00'; t.value = '2026-11-29 20:30';"
            "t.dispatchEvent(new Event('change'));"
        )
        browser.wait_for("return document.body.dataset.loads === '2'", 30)
        chosen = browser.run(
            "return [luxlogd.charts[0].plot.scales.x.min, luxlogd.charts[0].plot.scales.x.max,"
            " new Date(2026, 10, 29, 8).getTime() / 1000,"
            " new Date(2026, 10, 29, 20, 30).getTime() / 1000,"
            " document.getElementById('to').value]"
        )
        browser.run(
            "const f = document.getElementById('from'); f.value = '31.02.2026 08:00';"
            "f.dispatchEvent(new Event('change'));"
        )
        wrong = browser.run("return document.getElementById('range-error').textContent")
        browser.run(
            "document.getElementById('language').value = 'en';"
            "document.getElementById('language').dispatchEvent(new Event('change'))"
        )
        english = browser.wait_for(
            "const v = document.getElementById('from').value; return /^\\d{4}-/.test(v) ? v : null"
        )
        placeholder = browser.run("return document.getElementById('to').placeholder")
    finally:
        browser.close()
        server.stop()
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", german), german
    assert "Außentemperatur: 99 °C, außerhalb von -40 bis 50 °C" in notes, notes
    assert chosen[0] == chosen[2] and chosen[1] == chosen[3], chosen
    assert chosen[4] == "29.11.2026 20:30"  # shown back the German way
    assert wrong.startswith("eine Zeit wie 30.11.2026"), wrong
    assert english == "2026-11-29 08:00" and placeholder == "YYYY-MM-DD hh:mm"


def test_a_busy_server_is_asked_again_and_the_tables_fill(tmp_path, monkeypatch):
    """The server computes two heavy answers at a time and says 503 with Retry-After to a
    third (a page's first load asks for several, a Raspberry Pi is slow): the page asks again
    and its summary and statistics fill once the server has room."""
    server, url = serve(tmp_path, monkeypatch, minutes=20)
    heavy = server.httpd.slots["heavy"]
    heavy.acquire()
    heavy.acquire()  # every heavy slot taken, as by two slow answers
    browser = webdriver.Browser(free_port(), tmp_path / "chromium")
    try:
        browser.get(url)
        refused = browser.wait_for(
            "return performance.getEntriesByType('resource')"
            ".filter(e => e.name.includes('/api/') && e.responseStatus === 503).length",
            30,
        )
        rows_while_busy = browser.run(
            "return document.querySelectorAll('#summary tbody tr').length"
        )
        heavy.release()
        heavy.release()
        browser.wait_for("return document.body.dataset.loads === '1'", 30)
        rows = browser.wait_for(
            "return document.querySelectorAll('#summary tbody tr').length || null", 30
        )
        stats = browser.wait_for("return luxlogd.performanceLoads >= 1", 30)
    finally:
        browser.close()
        server.stop()
    assert refused and rows_while_busy == 0
    assert rows >= 1 and stats

"""`status`, `doctor` and `stats` in German (ui.language = "de"): every template the code says
has its German, and the commands, run on a store with gaps, clock jumps, a stuck sensor and a
counter that went backwards, print no English word and write dates and numbers the German way.
"""

import ast
import json
import os
import re
import string
import time
from pathlib import Path

import pytest

from luxlogd.base import words
from luxlogd.base.german import GERMAN
from luxlogd.base.text import bytes_text
from luxlogd.base.times import clock_text, duration_text
from luxlogd.cli import main
from luxlogd.cli.data import MODE_NAMES, STATS_COLUMNS
from luxlogd.doctor.report import LEVELS, SECTIONS
from luxlogd.heatpump.counters import note_text
from luxlogd.heatpump.quality import Validator
from luxlogd.sim.simulator import Simulator
from luxlogd.store import losses
from luxlogd.store.paths import STATUS_FILE
from tests.helpers import FrozenClock
from tests.test_doctor import (
    CLOCK,
    FLOW,
    HEAT_TOTAL,
    OUTDOOR,
    START,
    STEP_S,
    build_store,
    record_two_gaps,
)

SOURCE = Path(__file__).resolve().parent.parent / "luxlogd"
SAYING = {"tr", "both", "told", "_line"}  # the calls whose first text argument is a template

# Templates the code passes by value (a table, a section's name, a level): their tables.
DYNAMIC = {
    *LEVELS,
    *SECTIONS,
    *losses.KINDS.values(),
    *(header for _, header in STATS_COLUMNS),
    *MODE_NAMES.values(),
    *("parameters", "calculations", "visibilities"),  # arrays (and read phases) by name
    *("day", "month", "total", "season"),  # a stats table's rows
    *("last error", "switch-off"),  # the labels of status's two controller logs
}

# English words that have no place in a German text (commands, paths, keys and units removed).
ENGLISH = set(
    """the and of is are were not no from since with without at by on for to poll polls
    stored database days hours minutes never none yet heat electric what do every last gap gaps
    clock jumped sensor sensors counter counters found free used day running failed ahead
    write log unknown total season period today now connected reachable unreachable
    healthy warning warnings problems verdict checked recorded data integrity plausibility
    connection capabilities within outside value values only kept apart reports missing
    per mode modes heating water flow outdoor cycling defrost backup quality observations""".split()
)


def templates_in_source() -> dict[str, str]:
    """Every template the code gives tr()/both()/Problem.told()/_line(), and the texts of a
    `template = (... if ... else ...)` in a module that speaks through words.py."""
    found: dict[str, str] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        text = path.read_text()
        if "base.words import" not in text and "from luxlogd.base import words" not in text:
            continue
        tree = ast.parse(text)
        constants = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                try:
                    constants[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                position = 2 if name == "told" else 0
                if name in SAYING and len(node.args) > position:
                    argument = node.args[position]
                    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                        found[argument.value] = path.name
                    elif isinstance(argument, ast.Name) and isinstance(
                        constants.get(argument.id), str
                    ):
                        found[constants[argument.id]] = path.name
            elif (
                isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "template"
            ):
                choice = node.value
                for leaf in (choice.body, choice.orelse) if isinstance(choice, ast.IfExp) else ():
                    if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                        found[leaf.value] = path.name
    return found


def english_words(text: str) -> set[str]:
    """The English words of ENGLISH in a text, after what stays as it is in every language:
    command lines, options, configuration keys, paths and file names."""
    text = re.sub(r"(systemctl|journalctl|luxlogd)( [a-z][-a-z._]*| -u)+", " ", text)
    text = re.sub(r"--[-a-z]+|\S+\.[a-z_]+\S*|/\S+|\S+_\S+", " ", text)
    return {word for word in re.findall(r"[A-Za-z]+", text) if word in ENGLISH}


def test_every_template_has_its_german_with_the_same_placeholders():
    said = templates_in_source()
    assert len(said) > 200  # the scan sees the code (status, doctor, stats, notes)
    missing = sorted(t for t in set(said) | DYNAMIC if t not in GERMAN)
    assert not missing, "templates without German (luxlogd/base/german.py):\n" + "\n".join(missing)
    unused = sorted(t for t in GERMAN if t not in said and t not in DYNAMIC)
    assert not unused, "German for templates no code says:\n" + "\n".join(unused)
    fields = string.Formatter()
    for english, german in GERMAN.items():
        wanted = {f for _, f, _, _ in fields.parse(english) if f}
        assert {f for _, f, _, _ in fields.parse(german) if f} == wanted, english


def test_the_scan_finds_a_template_without_german(tmp_path, monkeypatch):
    module = tmp_path / "luxlogd" / "speaks.py"
    module.parent.mkdir()
    module.write_text(
        "from luxlogd.base.words import tr\n"
        "X = 'a constant said'\n"
        "def f(n):\n"
        "    tr(X)\n"
        "    template = 'one {n}' if n == 1 else 'many {n}'\n"
        "    return tr('{n} things', n=n)\n"
    )
    monkeypatch.setattr(f"{__name__}.SOURCE", module.parent)
    assert set(templates_in_source()) == {"a constant said", "one {n}", "many {n}", "{n} things"}


def test_numbers_dates_and_durations_follow_the_language():
    moment = time.mktime((2026, 11, 30, 19, 23, 27, 0, 0, -1))
    with words.speaking("de"):
        assert clock_text(moment) == "30.11.2026 19:23:27"
        assert words.number(12345.67, 1) == "12.345,7"
        assert bytes_text(1_500_000) == "1,5 MB"
        assert duration_text(3 * 86400) == "3,0 Tage"
        assert words.count(1, "gap") == "1 Lücke" and words.count(2, "gap") == "2 Lücken"
    assert clock_text(moment) == "2026-11-30 19:23:27"  # the block ended: English again
    assert words.number(12345.67, 1) == "12,345.7" and duration_text(3 * 86400) == "3.0 days"


def test_counter_notes_and_quality_notes_are_said_in_german():
    note = "Heat produced, total: ignored 27403 at 04:46 (was 27453.5)"
    assert note_text(note, "de") == "Wärmemenge gesamt: 27403 um 04:46 übergangen (vorher 27453,5)"
    assert note_text(note, "en") == note
    validator = Validator()
    simulator = Simulator(clock=FrozenClock(START), seed=3, start_s=START)
    from luxlogd.heatpump.poll import Poll

    p, c, v = simulator.arrays()
    c[OUTDOOR] = 990
    validator.check(Poll(int(START * 1000), 0, tuple(p), tuple(c), tuple(v)))
    assert validator.notes() == ["Outdoor: 99 °C, outside -40 to 50 °C"]
    assert validator.notes("de") == ["Außentemperatur: 99 °C, außerhalb von -40 bis 50 °C"]


@pytest.fixture
def german_store(tmp_path):
    """Four days every 10 minutes: a gap while the heat pump was unreachable, one while
    luxlogd was stopped, two clock jumps, an outdoor reading of 99 °C, a flow sensor stuck,
    the heat counter 50 kWh low three times; a daemon status that says it is unreachable."""
    state = tmp_path / "state"

    def disturb(k, c):
        if k == 30:
            c[OUTDOOR] = 990
        if 200 <= k < 212:
            c[CLOCK] -= 7200
        if k >= 300:
            c[FLOW] = 355
        if 250 <= k < 253:
            c[HEAT_TOTAL] -= 500

    polls = build_store(state, 96, disturb, skip=set(range(50, 60)) | set(range(100, 112)))
    record_two_gaps(state, error="connect: timed out")
    last = polls[-1].ts_ms / 1000
    status = {
        "pid": os.getpid(),
        "updated": time.time(),
        "status": "heat pump unreachable since ...",
        "polls_ok": 1234,
        "polls_failed": 3,
        "polls_late": 0,
        "slots_skipped": 0,
        "failed_in_row": 3,
        "down_since": last + 60,
        "last_success": last,
        "last_seq": len(polls),
        "storage_ok": True,
        "mqtt": {"connected": False, "error": "refused", "broker": "127.0.0.1:1", "states": 5},
    }
    (state / STATUS_FILE).write_text(json.dumps(status))
    return tmp_path


def run(tmp_path, capsys, language, port, *command):
    path = tmp_path / f"{language}.toml"
    path.write_text(
        f'[heatpump]\nhost = "127.0.0.1"\nport = {port}\ntimeout_s = 2\n'
        f"[poll]\ninterval_s = {STEP_S}\n"
        f'[storage]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[reports]\noutput_dirs = ["{tmp_path / "reports"}"]\n'
        f'[ui]\nlanguage = "{language}"\n'
    )
    code = main(["--config", str(path), *command])
    return code, capsys.readouterr().out


COMMANDS = [
    ("status",),
    ("doctor",),
    ("stats", "--from", "2026-11-18", "--to", "2026-11-22"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_the_commands_speak_german_without_an_english_word(german_store, capsys, command):
    with Simulator() as simulator:
        code_de, german = run(german_store, capsys, "de", simulator.port, *command)
        code_en, english = run(german_store, capsys, "en", simulator.port, *command)
    assert code_de == code_en
    assert len(english_words(english)) >= 8, english  # the check finds English where it is
    left = english_words(german)
    assert not left, f"English words in German output: {sorted(left)}\n{german}"
    assert re.search(r"\b\d\d\.\d\d\.2026\b", german), german  # 18.11.2026
    assert not re.search(r"\b2026-\d\d-\d\d \d", german), german  # no ISO date with a time
    numbers = re.sub(r"\d+(\.\d+){2,}", " ", german)  # addresses and versions aside
    assert re.search(r"\d,\d", numbers) and not re.search(r"\b\d+\.\d\b(?!\d*\.)", numbers)


def test_status_in_german_says_what_english_says(german_store, capsys):
    with Simulator() as simulator:
        _, german = run(german_store, capsys, "de", simulator.port, "status")
    assert "Wärmepumpe:    nicht erreichbar seit " in german
    assert "3 Abfragen nacheinander gescheitert (Abfrage Nr. 554)" in german
    assert "MQTT:          NICHT verbunden (refused) mit 127.0.0.1:1" in german
    assert "1.234 gelungen" in german
    assert german.rstrip().splitlines()[-1].startswith("NICHT IN ORDNUNG: ")

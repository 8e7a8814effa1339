"""`luxlogd doctor`: each section's verdict and message against the simulator's fault modes,
refused, black-holed and garbage-answering ports, the real capture, and stores with planted
gaps, clock jumps, implausible readings, a torn write-ahead log and a damaged SQLite page."""

import json
import os
import socket
import threading
import time

import pytest

from luxlogd import doctor
from luxlogd.cli import main
from luxlogd.config import load_config
from luxlogd.doctor import heatpump as doctor_heatpump
from luxlogd.doctor import report as doctor_report
from luxlogd.health import events
from luxlogd.heatpump.client import AttemptError
from luxlogd.heatpump.poll import Poll
from luxlogd.sim.simulator import Simulator
from luxlogd.store.writer import Storage
from tests.helpers import REAL_DUMPS, FrozenClock

START = 1_795_000_000.0  # 2026-11-18 09:46 UTC
STEP_S = 600
OUTDOOR, FLOW, CLOCK, HEAT_TOTAL = 15, 10, 134, 154


def write_config(tmp_path, port=1, interval_s=STEP_S, host="127.0.0.1"):
    path = tmp_path / "luxlogd.toml"
    path.write_text(
        f'[heatpump]\nhost = "{host}"\nport = {port}\ntimeout_s = 1\n'
        f"[poll]\ninterval_s = {interval_s}\n"
        f'[storage]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[reports]\noutput_dirs = ["{tmp_path / "reports"}"]\n'
    )
    return path


def doctor_cli(tmp_path, capsys, *args, port=1):
    code = main(
        [
            "--config",
            str(write_config(tmp_path, port)),
            "doctor",
            "--timeout",
            "1",
            "--format",
            "json",
            *args,
        ]
    )
    return code, json.loads(capsys.readouterr().out)


def section(report, name):
    return next(s for s in report["sections"] if s["name"] == name)


def texts(found, level=None):
    return [f["text"] for f in found["findings"] if level is None or f["level"] == level]


def build_store(state_dir, hours, change=None, skip=()):
    """Polls of the simulator's model every STEP_S from START for `hours`; `change(k, c)` may
    edit calculations of poll k; polls whose k is in `skip` are not stored (a gap)."""
    clock = FrozenClock(START)
    sim = Simulator(clock=clock, seed=5, start_s=START)
    polls = []
    with Storage(state_dir, fdatasync=lambda fd: None) as storage:
        for k in range(int(hours * 3600 / STEP_S)):
            p, c, v = sim.arrays()
            c[CLOCK] = int(clock.now)  # the controller keeps UTC, in step with us
            if change is not None:
                change(k, c)
            if k not in skip:
                poll = Poll(int(clock.now * 1000), 0, tuple(p), tuple(c), tuple(v))
                storage.append(poll)
                polls.append(poll)
            clock.now += STEP_S
    return polls


def record_two_gaps(state_dir, error):
    """The diary of the gaps of polls 50-59 (the heat pump unreachable, `error`) and 100-111
    (luxlogd stopped, then started); returns it, its clock at the start."""
    diary = events.Events(state_dir, FrozenClock(START + 51 * STEP_S))
    diary.record(events.UNREACHABLE, error=error)
    diary.clock.now = START + 60 * STEP_S
    diary.record(events.REACHABLE)
    diary.clock.now = START + 101 * STEP_S
    diary.record(events.STOPPED)
    diary.clock.now = START + 112 * STEP_S - 5
    diary.record(events.STARTED)
    return diary


def run_data(tmp_path, now, **options):
    config = load_config(write_config(tmp_path))
    report = doctor.run(config, heat_pump=False, now=now, **options)
    return report, report.as_dict()


# --- connection -----------------------------------------------------------------------------

FAULTS = [
    ("refuse", "problem", "refused the connection: nothing listens on that port"),
    ("stall", "problem", "accepted the connection but sent nothing within 1 s"),
    ("stall-mid", "problem", "the answer broke off (parameters (3003): timed out with"),
    ("drip", "problem", "the answer broke off (parameters (3003): timed out with"),
    ("reset-mid", "problem", "the answer broke off (parameters (3003): Connection reset by peer"),
    ("short", "problem", "the answer broke off (parameters (3003): connection closed after"),
    ("garbage", "problem", "answers, but not as a Luxtronik 2.x controller"),
    (
        "wrong-echo",
        "problem",
        "answers, but not as a Luxtronik 2.x controller (parameters (3003): wrong echo",
    ),
    ("absurd-length", "problem", "implausible length 1073741824"),
    ("negative-length", "problem", "implausible length -5"),
    ("busy", "warning", "the controller says it is busy (status word 1)"),
    ("chunked", "ok", "firmware V3.88: 1143 parameters, 267 calculations, 366 visibilities"),
    ("bytewise", "ok", "firmware V3.88"),
]


# "flapping" is refused and answered in turns (both cases are here); "slow" and "single"
# have tests of their own below.
@pytest.mark.parametrize(("fault", "verdict", "message"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_of_the_simulator_gets_its_verdict_and_message(
    tmp_path, capsys, fault, verdict, message
):
    with Simulator(fault=fault, seed=1) as sim:
        code, report = doctor_cli(tmp_path, capsys, port=sim.port)
    found = section(report, "connection")
    assert found["verdict"] == verdict
    assert any(message in text for text in texts(found)), texts(found)
    assert code == (69 if verdict == "problem" else 0)
    assert report["exit_code"] == code
    if verdict == "problem":
        assert all(f["advice"] for f in found["findings"] if f["level"] == "problem")
        assert "capabilities" not in [s["name"] for s in report["sections"]]


def test_a_slow_controller_is_read_with_a_warning(tmp_path, capsys):
    with Simulator(fault="slow", delay_s=2.4) as sim:
        main(
            [
                "--config",
                str(write_config(tmp_path, sim.port)),
                "doctor",
                "--timeout",
                "5",
                "--format",
                "json",
            ]
        )
    found = section(json.loads(capsys.readouterr().out), "connection")
    assert found["verdict"] == "warning"
    slow = [f for f in found["findings"] if f["text"].startswith("connected in")]
    assert slow[0]["level"] == "warning" and "a weak link" in slow[0]["advice"]


def test_a_black_holed_address_is_no_answer(tmp_path, capsys):
    """A listener whose accept queue is full drops new connections: connecting times out,
    as with a switched-off controller or a firewall that drops packets."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    filler = socket.create_connection(hole.getsockname())
    try:
        started = time.monotonic()
        code, report = doctor_cli(tmp_path, capsys, port=hole.getsockname()[1])
        took = time.monotonic() - started
    finally:
        filler.close()
        hole.close()
    found = section(report, "connection")
    assert code == 69
    assert any(
        "no answer from 127.0.0.1" in t and "connecting timed out" in t
        for t in texts(found, "problem")
    )
    assert "ping 127.0.0.1" in found["findings"][-1]["advice"]
    assert took < 5  # two attempts of 1 s and the second's wait


def test_a_refused_port_names_the_other_port_that_answers(tmp_path, capsys, monkeypatch):
    with Simulator() as sim, socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        refused = unused.getsockname()[1]
        unused.close()
        monkeypatch.setattr(doctor_heatpump, "OTHER_PORT", {refused: sim.port})
        code, report = doctor_cli(tmp_path, capsys, port=refused)
    problem = section(report, "connection")["findings"][-1]
    assert code == 69
    assert problem["advice"] == (
        f"port {sim.port} accepts connections: set heatpump.port = {sim.port}"
    )


def test_another_client_holding_the_controller_is_named(tmp_path, capsys):
    """The controller serves one client: while another holds it, both attempts are reset;
    once it lets go, the second attempt works and doctor says what happened."""
    with Simulator(fault="single") as sim:
        holder = socket.create_connection(("127.0.0.1", sim.port))
        time.sleep(0.1)
        code, report = doctor_cli(tmp_path, capsys, port=sim.port)
        found = section(report, "connection")
        assert code == 69
        assert "serve one client at a time" in found["findings"][-1]["advice"]
        assert "reset the connection before answering" in found["findings"][-1]["text"]

        accepted = sim.connections_accepted

        def let_go_after_the_first_attempt():
            deadline = time.monotonic() + 5
            while sim.connections_accepted <= accepted and time.monotonic() < deadline:
                time.sleep(0.005)
            holder.close()

        threading.Thread(target=let_go_after_the_first_attempt, daemon=True).start()
        code, report = doctor_cli(tmp_path, capsys, port=sim.port)
    found = section(report, "connection")
    assert code == 0, found
    first = [f for f in found["findings"] if f["text"].startswith("the first attempt failed")]
    assert first and "serve one client at a time" in first[0]["advice"]


@pytest.mark.parametrize("phase", ["connect", "parameters (3003)"])
def test_a_reset_is_another_client_even_when_it_comes_during_connect(phase):
    """On a busy machine the reset of an accepted connection can reach connect() before it
    returns (ECONNRESET from a non-blocking connect): still the controller being busy."""
    section = doctor_report.Section("connection")
    error = AttemptError(phase, "Connection reset by peer")
    doctor_heatpump._explain_failure(section, error, "127.0.0.1", 8889, 5.0)
    assert section.findings[-1].text.startswith("the controller reset the connection before")
    assert "serve one client at a time" in section.findings[-1].advice


def test_names_resolve_or_say_why_not(tmp_path, monkeypatch):
    with Simulator() as sim:
        report = doctor.run(
            load_config(write_config(tmp_path, sim.port, host="localhost")), timeout_s=1.0
        )
        found = report.sections[0]
        assert found.findings[0].text.startswith("localhost resolves to")

        def no_such_name(*args, **kwargs):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
        report = doctor.run(
            load_config(write_config(tmp_path, sim.port, host="heatpump.lan")), timeout_s=1.0
        )
    assert report.exit_code == 69
    finding = report.sections[0].findings[0]
    assert finding.text == "cannot resolve 'heatpump.lan': Name or service not known"
    assert "IP address" in finding.advice


def test_without_an_address_doctor_says_so(tmp_path, capsys):
    path = tmp_path / "empty.toml"
    path.write_text(f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    assert main(["--config", str(path), "doctor"]) == 69
    out = capsys.readouterr().out
    assert "problem  no heat pump address" in out
    assert "what to do: set heatpump.host in the configuration (or give --host)" in out


# --- capabilities, on the real controller's answers -------------------------------------------


def test_the_real_capture_shows_what_this_heat_pump_has(tmp_path, capsys):
    with Simulator(replay_dir=REAL_DUMPS) as sim:
        code, report = doctor_cli(tmp_path, capsys, port=sim.port)
    connection = section(report, "connection")
    assert "firmware V1.80: 1086 parameters, 200 calculations, 336 visibilities" in texts(
        connection, "ok"
    )
    clock = [f for f in connection["findings"] if "controller's clock" in f["text"]][0]
    assert clock["level"] == "warning" and "years behind" in clock["text"]  # a 2017 capture
    found = section(report, "capabilities")
    facts = found["facts"]
    assert facts["heat_pump_type"] == "L1A"
    assert {"flow", "return", "outdoor", "hot_water"} <= set(facts["connected"])
    assert facts["not_connected"] == ["heat_source_in", "heat_source_out"]  # an air/water pump
    assert "solar_collector" in facts["zero"]
    assert found["verdict"] == "ok"
    assert facts["circuits"] == ["heating", "hot_water", "mixing_circuit_1", "second_heater"]
    assert any("reports no electric energy" in t for t in texts(found, "info"))
    assert code == 0


# --- recorded data ----------------------------------------------------------------------------


def test_gaps_are_found_and_explained_by_the_diary(tmp_path):
    """Three days every 10 minutes with three gaps: the heat pump unreachable, the daemon
    stopped, the daemon dead (a power cut); and two hours of a clock jumped ahead."""
    state = tmp_path / "state"

    def clock_jump(k, c):
        if 200 <= k < 212:
            c[CLOCK] -= 7200  # this computer ran two hours ahead of the controller

    polls = build_store(
        state, 72, clock_jump, skip=set(range(50, 60)) | set(range(100, 112)) | set(range(150, 160))
    )
    diary = record_two_gaps(state, error="connect: timed out (no answer)")
    diary.clock.now = START + 160 * STEP_S - 5
    diary.record(events.STARTED)
    now = polls[-1].ts_ms / 1000 + 60
    report, data = run_data(tmp_path, now, days=4)
    found = section(data, "recorded data")
    assert found["facts"]["polls"] == len(polls) == 432 - 32
    whys = [gap["why"] for gap in found["facts"]["gaps"]]
    assert whys[0] == "the heat pump was unreachable (connect: timed out (no answer))"
    assert whys[1].startswith("luxlogd was stopped at ") and " and started at " in whys[1]
    assert whys[2].startswith("luxlogd was not running until ")
    assert whys[2].endswith("had not stopped cleanly (a power cut, a crash or kill -9)")
    assert any(t.startswith("3 gaps, 5.8 h without polls in all") for t in texts(found))
    jumps = found["facts"]["clock_jumps"]
    assert [round(j["by_s"]) for j in jumps] == [7200, -7200]
    assert any(t.startswith("2 clock jumps") for t in texts(found, "warning"))
    days = found["facts"]["days"]
    assert sum(d["polls"] for d in days) == len(polls)
    assert report.exit_code == 0  # warnings, no problem
    text = doctor_report.format_text(report)
    assert "gap " in text and "the heat pump was unreachable" in text


def test_a_stale_store_and_missing_reports_are_named(tmp_path):
    polls = build_store(tmp_path / "state", 30)
    report, data = run_data(tmp_path, polls[-1].ts_ms / 1000 + 3 * 3600)
    found = section(data, "recorded data")
    stale = [f for f in found["findings"] if f["level"] == "problem"]
    assert stale[0]["text"] == "the newest poll is 3.0 h old"
    assert "the daemon is not running" in stale[0]["advice"]
    missing = [t for t in texts(found, "warning") if "daily reports are missing" in t]
    assert missing and found["facts"]["reports_missing"]
    assert report.exit_code == 1


def test_an_empty_state_directory_is_a_warning(tmp_path):
    report, data = run_data(tmp_path, START)
    assert [s["name"] for s in data["sections"]] == ["recorded data"]
    assert texts(data["sections"][0], "warning")[0].startswith("no data yet")
    assert report.exit_code == 0


# --- integrity --------------------------------------------------------------------------------


def test_a_healthy_store_is_all_ok(tmp_path, capsys):
    polls = build_store(tmp_path / "state", 60)
    report, data = run_data(tmp_path, polls[-1].ts_ms / 1000 + 60, days=2, full=True)
    found = section(data, "integrity")
    assert found["verdict"] == "ok"
    assert texts(found, "ok")[1] == "SQLite integrity_check: ok"
    assert found["facts"]["sealed_days"] >= 2
    assert found["facts"]["sealed_days_checked"] == found["facts"]["sealed_days"]
    assert section(data, "plausibility")["verdict"] == "ok"


def test_a_torn_write_ahead_log_is_a_problem(tmp_path):
    polls = build_store(tmp_path / "state", 10)
    segment = sorted((tmp_path / "state" / "wal").glob("*.wal"))[-1]
    data_end = len(segment.read_bytes().rstrip(b"\0"))
    with open(segment, "r+b") as handle:  # a power cut in the middle of the last frame
        handle.truncate(data_end - 7)
    report, data = run_data(tmp_path, polls[-1].ts_ms / 1000 + 60)
    found = section(data, "integrity")
    assert found["verdict"] == "problem"
    problem = texts(found, "problem")[0]
    assert problem.startswith(f"write-ahead log: {segment.name}: ")
    assert "that are not whole frames" in problem
    assert report.exit_code == 1


def test_a_damaged_database_page_is_a_problem(tmp_path):
    polls = build_store(tmp_path / "state", 60)
    path = tmp_path / "state" / "luxlogd.sqlite"
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # garbage over pages in the middle of the file
        handle.seek(size // 2 - (size // 2) % 4096)
        handle.write(os.urandom(8192))
    report, data = run_data(tmp_path, polls[-1].ts_ms / 1000 + 60, full=True)
    found = section(data, "integrity")
    assert found["verdict"] == "problem", found
    assert any("rebuilds it" in f["advice"] for f in found["findings"] if f["advice"])
    assert report.exit_code == 1


# --- plausibility -----------------------------------------------------------------------------


def test_out_of_range_stuck_and_backwards_readings_are_named(tmp_path):
    def disturb(k, c):
        if k == 30:
            c[OUTDOOR] = 990  # 99.0 °C outdoors, once
        if k >= 100:
            c[FLOW] = 355  # the flow sensor stuck at 35.5 °C from poll 100 on
        if 200 <= k < 203:
            c[HEAT_TOTAL] -= 500  # the heat counter 50 kWh low, three times

    polls = build_store(tmp_path / "state", 96, disturb)
    report, data = run_data(tmp_path, polls[-1].ts_ms / 1000 + 60)
    found = section(data, "plausibility")
    warnings = texts(found, "warning")
    assert any(
        t.startswith("values outside their plausible range: Outdoor on 1 day (e.g. 99 ")
        for t in warnings
    ), warnings
    assert any(t.startswith("sensors that did not change for days: Flow from ") for t in warnings)
    assert any(
        t.startswith("counters that went backwards: Heat produced, total 1 time") for t in warnings
    )
    assert report.exit_code == 0


def test_the_text_form_has_a_verdict_per_section(tmp_path, capsys):
    build_store(tmp_path / "state", 24)
    path = write_config(tmp_path)
    assert main(["--config", str(path), "doctor", "--no-heat-pump"]) in (0, 1)
    out = capsys.readouterr().out
    for name in ("Recorded data: ", "Integrity: ok", "Plausibility: "):
        assert f"\n{name}" in f"\n{out}"
    assert out.rstrip().splitlines()[-1].startswith("Verdict: ")
    assert main(["--config", str(path), "doctor", "--days", "0"]) == 2


def test_growth_is_extrapolated_from_a_day_or_more_only(tmp_path):
    """Minutes of data say nothing about a year: too early to tell; a day does."""
    short = build_store(tmp_path / "a" / "state", 0.5)
    report, data = run_data(tmp_path / "a", short[-1].ts_ms / 1000 + 60)
    growth = [t for t in texts(section(data, "recorded data"), "ok") if "free" in t]
    assert growth and "too early to tell" in growth[0] and "a year" not in growth[0], growth
    longer = build_store(tmp_path / "b" / "state", 30)
    report, data = run_data(tmp_path / "b", longer[-1].ts_ms / 1000 + 60)
    found = section(data, "recorded data")
    assert any("a year" in t for t in texts(found, "ok")) and found["facts"]["bytes_per_day"]

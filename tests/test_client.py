import json
import time

import luxtronik
import pytest
from luxtronik.calculations import Calculations
from luxtronik.parameters import Parameters
from luxtronik.visibilities import Visibilities

from luxlogd.base.errors import SensorPatternError
from luxlogd.cli import main
from luxlogd.heatpump import sensors
from luxlogd.heatpump.client import HeatPumpClient, HeatPumpError
from luxlogd.sim.simulator import Simulator
from tests.helpers import REAL_DUMPS, read_capture


@pytest.fixture
def sim():
    simulator = Simulator(seed=3).start()
    yield simulator
    simulator.stop()


def client_for(sim, **overrides):
    settings = {"timeout_s": 0.5, "retries": 1, "backoff_s": 0.05}
    settings.update(overrides)
    return HeatPumpClient("127.0.0.1", sim.port, **settings)


def library_decode(snapshot):
    """What luxtronik 0.3.14 itself makes of the same integers."""
    decoded = {}
    for cls, attr, values in (
        (Parameters, "parameters", snapshot.parameters),
        (Calculations, "calculations", snapshot.calculations),
        (Visibilities, "visibilities", snapshot.visibilities),
    ):
        instance = cls()
        instance.parse(list(values))
        table = getattr(instance, attr)
        for index in range(len(values)):
            if index in table:
                decoded[table[index].name] = table[index].value
    return decoded


def test_decoding_the_real_capture_equals_the_library():
    snapshot = read_capture()
    ours = snapshot.decode()
    theirs = library_decode(snapshot)
    assert ours == theirs
    assert ours["ID_WEB_Temperatur_TVL"] == 34.2
    assert ours["ID_WEB_Temperatur_TRL"] == 32.6
    assert ours["ID_WEB_Temperatur_TA"] == 13.9
    assert ours["ID_WEB_Temperatur_TBW"] == 64.2
    assert ours["ID_WEB_Zaehler_BetrZeitImpVD1"] == 9869
    assert ours["ID_WEB_SoftStand"] == "V1.80"
    assert len(snapshot.parameters) == 1086 and len(snapshot.calculations) == 200


def test_replayed_capture_reads_back_identical_over_tcp():
    with Simulator(replay_dir=REAL_DUMPS) as sim:
        snapshot = client_for(sim).read()
    assert snapshot.raw() == read_capture().raw()


@pytest.mark.parametrize("profile", ["V1.80", "V3.78", "V3.81", "V3.88"])
def test_read_matches_the_simulated_arrays_and_the_library(profile):
    with Simulator(profile=profile, seed=8, speed=0.000001) as sim:
        snapshot = client_for(sim).read()
        expected = sim.arrays()
        library = luxtronik.Luxtronik("127.0.0.1", sim.port)
    assert (
        list(snapshot.parameters),
        list(snapshot.calculations),
        list(snapshot.visibilities),
    ) == tuple(expected)
    decoded = snapshot.decode()
    assert decoded["ID_WEB_SoftStand"] == profile
    for name, value in decoded.items():
        found = (
            library.calculations.get(name)
            or library.parameters.get(name)
            or library.visibilities.get(name)
        )
        if found is not None and not name.startswith("Unknown_Parameter_"):
            assert found.value == value, name


def test_arrays_longer_than_the_library_knows_decode_as_unknown(sim):
    decoded = client_for(sim).read().decode()
    assert decoded["Unknown_Calculation_266"] == sim.arrays()[1][266]
    assert decoded["Unknown_Parameter_1142"] == sim.arrays()[0][1142]
    assert "Unknown_Parameter_365" in decoded  # a visibility, named as luxtronik names it
    assert "Unknown_Calculation_82" not in decoded  # part of the version string


@pytest.mark.parametrize("fault", ["chunked", "bytewise"])
def test_split_answers_read_correctly(sim, fault):
    sim.set_fault(fault)
    assert client_for(sim, timeout_s=5).read().raw() == {
        **dict(zip(("parameters", "calculations", "visibilities"), sim.arrays(), strict=True)),
        "calc_status": 0,
    }


def test_busy_status_is_accepted_and_kept(sim):
    sim.set_fault("busy")
    snapshot = client_for(sim).read()
    assert snapshot.calc_status == 1 and len(snapshot.calculations) == 267


FAILURES = {
    "refuse": "connect: Connection refused",
    "stall": "parameters (3003): timed out with 0 of 8 bytes",
    "stall-mid": "parameters (3003): timed out with 2282 of 4572 bytes",
    "drip": "parameters (3003): timed out with",
    "reset-mid": "parameters (3003): ",
    "garbage": "parameters (3003): wrong echo 2054847098 (expected 3003)",
    "wrong-echo": "parameters (3003): wrong echo 3004 (expected 3003)",
    "absurd-length": "parameters (3003): implausible length 1073741824 (expected 0-10000)",
    "negative-length": "parameters (3003): implausible length -5 (expected 0-10000)",
    "short": "parameters (3003): connection closed after 2286 of 4572 bytes",
}


@pytest.mark.parametrize("fault", list(FAILURES))
def test_every_failure_ends_in_time_with_a_clear_error(sim, fault):
    sim.set_fault(fault)
    if fault == "refuse":
        time.sleep(0.1)
    client = client_for(sim, timeout_s=0.5, retries=1, backoff_s=0.05)
    started = time.monotonic()
    with pytest.raises(HeatPumpError) as caught:
        client.read()
    elapsed = time.monotonic() - started
    assert elapsed < 2 * 0.5 + 0.05 + 0.5
    message = str(caught.value)
    attempts = 1 if fault == "refuse" else 2  # a refused connection is a final answer
    assert message.startswith(
        f"heat pump 127.0.0.1:{sim.port} unreachable after {attempts} attempt(s)"
    )
    assert len(caught.value.attempts) == attempts
    assert FAILURES[fault] in caught.value.attempts[0]


def test_slow_drip_cannot_stretch_the_deadline_of_a_whole_answer(sim):
    sim.set_fault("drip")
    client = client_for(sim, timeout_s=1.0, retries=0)
    started = time.monotonic()
    with pytest.raises(
        HeatPumpError, match="parameters \\(3003\\): timed out with [1-7] of 8 bytes"
    ):
        client.read()
    assert 0.9 < time.monotonic() - started < 1.5


def test_a_retry_after_a_failure_succeeds_and_backs_off_exponentially(sim):
    sleeps = []
    sim.set_fault("reset-mid", count=2)
    client = client_for(sim, retries=3, backoff_s=0.01, sleep=lambda s: sleeps.append(s))
    snapshot = client.read()
    assert len(snapshot.parameters) == 1143
    assert sleeps == [0.01, 0.02]


def test_the_budget_bounds_retries_and_back_off(sim):
    sim.set_fault("stall")
    client = client_for(sim, timeout_s=5, retries=5, backoff_s=0.2)
    started = time.monotonic()
    with pytest.raises(HeatPumpError, match="no time left for another attempt"):
        client.read(budget_s=0.6)
    assert time.monotonic() - started < 1.0


def test_a_failed_read_never_returns_old_values(sim):
    client = client_for(sim, retries=0)
    first = client.read()
    sim.set_fault("short", count=1)
    with pytest.raises(HeatPumpError):
        client.read()
    assert client.read().parameters[:1000] == first.parameters[:1000]


def test_dump_prints_json_raw_and_text(sim, capsys):
    assert main(["dump", "--host", "127.0.0.1", "--port", str(sim.port), "--format", "json"]) == 0
    decoded = json.loads(capsys.readouterr().out)
    assert decoded["ID_WEB_SoftStand"] == "V3.88"
    assert "T" in decoded["ID_WEB_AktuelleTimeStamp"]  # an ISO 8601 date-time
    assert main(["dump", "--host", "127.0.0.1", "--port", str(sim.port), "--format", "raw"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert set(raw) == {"parameters", "calculations", "visibilities", "calc_status"}
    assert len(raw["calculations"]) == 267 and raw["calc_status"] == 0
    assert main(["dump", "--host", "127.0.0.1", "--port", str(sim.port)]) == 0
    text = capsys.readouterr().out
    assert "ID_WEB_Temperatur_TVL" in text and "celsius" in text


def test_dump_of_an_unreachable_pump_exits_69_with_one_line(sim, capsys, monkeypatch):
    sim.set_fault("refuse")
    time.sleep(0.1)
    monkeypatch.setenv("LUXLOGD_HEATPUMP_RETRIES", "1")
    monkeypatch.setenv("LUXLOGD_HEATPUMP_BACKOFF_S", "0.01")
    monkeypatch.setenv("LUXLOGD_HEATPUMP_HOST", "127.0.0.1")
    assert main(["dump", "--port", str(sim.port)]) == 69
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("luxlogd: error: heat pump 127.0.0.1:")
    assert "Connection refused" in err[0]


def test_dump_without_a_host_is_a_usage_error(capsys):
    assert main(["dump"]) == 2
    assert "give --host or set heatpump.host" in capsys.readouterr().err


def test_sensor_patterns_resolve_globs_groups_and_reject_unknown_names():
    chosen = sensors.resolve_sensors(["ID_WEB_Temperatur_T?L", "ID_WEB_SoftStand"])
    assert [f.name for f in chosen] == [
        "ID_WEB_Temperatur_TVL",
        "ID_WEB_Temperatur_TRL",
        "ID_WEB_SoftStand",
    ]
    assert len(sensors.resolve_sensors(["calculations"], {"calculations": 267})) == 267 - 9
    with pytest.raises(SensorPatternError, match="'ID_WEB_Nope', 'X\\*'"):
        sensors.resolve_sensors(["ID_WEB_Nope", "X*", "ID_WEB_Temperatur_TA"])
    found = sensors.field_at("calculations", 10)
    assert found.numeric and found.unit == "celsius"
    assert not sensors.field_at("calculations", 81).numeric
    assert sensors.field_at("calculations", 85) is None
    assert sensors.field_at("parameters", 5000).name == "Unknown_Parameter_5000"

import re
import signal
import socket
import struct
import subprocess
import sys
import time

import luxtronik
import pytest

from luxlogd.heatpump.protocol import encode_answer
from luxlogd.sim.model import PROFILES, ThermalModel
from luxlogd.sim.simulator import FAULTS, Simulator
from tests.helpers import REAL_DUMPS, FrozenClock, receive, request

DAY_S = 86400


@pytest.fixture
def clock():
    return FrozenClock()


@pytest.fixture
def sim(clock):
    simulator = Simulator(clock=clock, seed=5).start()
    yield simulator
    simulator.stop()


@pytest.mark.parametrize("profile", list(PROFILES))
def test_unmodified_luxtronik_reads_every_profile_with_plausible_values(profile):
    with Simulator(profile=profile, seed=2) as sim:
        heatpump = luxtronik.Luxtronik("127.0.0.1", sim.port)
    calc = heatpump.calculations
    assert calc.get("ID_WEB_SoftStand").value == profile
    assert 10 <= calc.get("ID_WEB_Temperatur_TVL").value <= 65
    assert 10 <= calc.get("ID_WEB_Temperatur_TRL").value <= 60
    assert -25 <= calc.get("ID_WEB_Temperatur_TA").value <= 35
    assert 35 <= calc.get("ID_WEB_Temperatur_TBW").value <= 55
    assert calc.get("ID_WEB_Zaehler_BetrZeitImpVD1").value > 1000
    assert calc.get("ID_WEB_AdresseIP_akt").value == "127.0.0.1"
    assert calc.get("ID_WEB_WP_BZ_akt").value in ("heating", "hot water", "defrost", "no request")
    expected = PROFILES[profile]
    assert max(Simulator(profile=profile).arrays()[0].__len__(), 0) == expected.parameters
    params, calcs, vis = Simulator(profile=profile).arrays()
    assert (len(params), len(calcs), len(vis)) == (
        expected.parameters,
        expected.calculations,
        expected.visibilities,
    )


def test_replay_sends_the_real_capture_byte_for_byte():
    with Simulator(replay_dir=REAL_DUMPS) as sim:
        for command in (3003, 3004, 3005):
            expected = (REAL_DUMPS / f"{command}.bin").read_bytes()
            with socket.create_connection(sim.address, timeout=2) as sock:
                sock.sendall(struct.pack(">ii", command, 0))
                data, how = receive(sock, expected=len(expected))
            assert data == expected, command


def test_one_connection_serves_all_three_commands_and_a_write(sim):
    with socket.create_connection(sim.address, timeout=2) as sock:
        for command, size in ((3003, 8 + 4 * 1143), (3004, 12 + 4 * 267), (3005, 8 + 366)):
            sock.sendall(struct.pack(">ii", command, 0))
            data, how = receive(sock, expected=size)
            assert how == "complete" and len(data) == size
            assert struct.unpack(">i", data[:4])[0] == command
        sock.sendall(struct.pack(">iii", 3002, 105, 777))
        data, how = receive(sock, expected=8)
        assert struct.unpack(">ii", data) == (3002, 105)
    assert sim.arrays()[0][105] == 777


def test_fast_clock_makes_counters_grow_and_temperatures_move(clock):
    sim = Simulator(speed=60, clock=clock, seed=9)
    readings = []
    for _ in range(12):  # 11 x 240 s wall at 60x = 44 simulated hours
        readings.append(sim.arrays()[1])
        clock.now += 240
    for index in (56, 57, 63, 151, 154, 134):
        series = [r[index] for r in readings]
        assert series == sorted(series), f"calculation {index} went backwards"
        assert series[-1] > series[0], f"calculation {index} did not grow"
    assert readings[-1][134] - readings[0][134] == 11 * 240 * 60
    for index in (10, 11, 15, 17):
        assert len({r[index] for r in readings}) > 3, f"calculation {index} does not move"


@pytest.mark.parametrize("outdoor_mean_c", [-8.0, 2.0, 12.0])
def test_a_simulated_day_has_plausible_physics(outdoor_mean_c):
    model = ThermalModel(seed=4, start_s=1_699_920_000, outdoor_mean_c=outdoor_mean_c)
    model.advance_to(model.now_s + DAY_S)  # settle the 24 h mean
    starts, defrosts, hot_water = model.starts, model.defrosts, model.hot_water_cycles
    counters = []
    tank = []
    heat_kwh = model.heat_heating_kwh + model.heat_hot_water_kwh
    electric_kwh = model.electric_heating_kwh + model.electric_hot_water_kwh
    for _ in range(DAY_S // 60):
        model.advance_to(model.now_s + 60)
        counters.append(
            (
                model.starts,
                model.compressor_s,
                model.heat_heating_kwh,
                model.heat_hot_water_kwh,
                model.electric_heating_kwh,
            )
        )
        tank.append(model.hot_water_c)
    assert counters == sorted(counters)
    day_starts = model.starts - starts
    assert 2 <= day_starts <= 40
    assert model.hot_water_cycles - hot_water == 2  # two draws a day, two charges
    assert max(tank) <= model.hot_water_setpoint_c + 0.5
    assert min(tank) >= model.hot_water_setpoint_c - 15
    day_defrosts = model.defrosts - defrosts
    if outdoor_mean_c > 10:
        assert day_defrosts <= 2
    else:
        assert day_defrosts >= 4
    cop = (model.heat_heating_kwh + model.heat_hot_water_kwh - heat_kwh) / (
        model.electric_heating_kwh + model.electric_hot_water_kwh - electric_kwh
    )
    assert 1.5 <= cop <= 5.0


def test_same_seed_same_day():
    first, second = ThermalModel(seed=11), ThermalModel(seed=11)
    first.advance_to(first.now_s + DAY_S)
    second.advance_to(second.now_s + DAY_S)
    assert (first.starts, first.return_c, first.hot_water_c) == (
        second.starts,
        second.return_c,
        second.hot_water_c,
    )


def good_answer(sim, command, status=0):
    return sim.answer(command, status)


def test_fault_refuse_closes_the_port(sim):
    sim.set_fault("refuse")
    time.sleep(0.1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(sim.address, timeout=1)
    sim.set_fault(None)
    for _ in range(10):  # the port reopens within a few accept-loop turns
        time.sleep(0.1)
        data, how = request(sim.port, 3005, timeout=0.5)
        if how != "reset":
            break
    assert len(data) == 8 + 366


def test_fault_refuse_for_one_connection_resets_it(sim):
    sim.set_fault("refuse", count=1)
    data, how = request(sim.port, 3003, timeout=1)
    assert (data, how) in ((b"", "reset"), (b"", "eof"))
    assert len(request(sim.port, 3005, timeout=0.5)[0]) == 8 + 366


def test_fault_stall_never_answers(sim):
    sim.set_fault("stall")
    assert request(sim.port, 3003, timeout=0.5) == (b"", "timeout")


def test_fault_stall_mid_sends_half_then_nothing(sim):
    sim.set_fault("stall-mid")
    data, how = request(sim.port, 3003, timeout=0.5)
    assert how == "timeout" and len(data) == (8 + 4 * 1143) // 2
    assert data == good_answer(sim, 3003)[: len(data)]


def test_fault_drip_sends_one_byte_at_a_time(sim):
    sim.set_fault("drip")
    data, how = request(sim.port, 3005, timeout=0.7)
    assert how == "timeout" and 1 <= len(data) <= 4


def test_fault_slow_answers_whole_but_late():
    with Simulator(fault="slow", delay_s=0.9, speed=0.000001) as slow:
        started = time.monotonic()
        with socket.create_connection(slow.address, timeout=3) as sock:
            sock.sendall(struct.pack(">ii", 3005, 0))
            data, how = receive(sock, expected=8 + 366, deadline_s=3)
        elapsed = time.monotonic() - started
    assert how == "complete" and data == good_answer(slow, 3005)
    assert 0.28 < elapsed < 0.6  # a third of the read's delay per answer


def test_fault_reset_mid_sends_half_then_resets(sim):
    sim.set_fault("reset-mid")
    data, how = request(sim.port, 3004, timeout=1)
    assert how == "reset" or (how == "eof" and len(data) == (12 + 4 * 267) // 2)
    assert len(data) <= (12 + 4 * 267) // 2


def test_fault_garbage_does_not_echo(sim):
    sim.set_fault("garbage")
    data, _ = request(sim.port, 3003, timeout=0.5)
    assert struct.unpack(">i", data[:4])[0] != 3003 and len(data) > 1000


def test_fault_wrong_echo(sim):
    sim.set_fault("wrong-echo")
    data, _ = request(sim.port, 3004, timeout=0.5)
    assert struct.unpack(">i", data[:4])[0] == 3005
    assert data[4:] == good_answer(sim, 3004)[4:]


@pytest.mark.parametrize(("fault", "count"), [("absurd-length", 2**30), ("negative-length", -5)])
def test_fault_length_fields(sim, fault, count):
    sim.set_fault(fault)
    data, how = request(sim.port, 3004, timeout=0.5)
    assert how == "eof"
    assert struct.unpack(">iii", data[:12]) == (3004, 0, count)
    data, how = request(sim.port, 3003, timeout=0.5)
    assert struct.unpack(">ii", data[:8]) == (3003, count)


def test_fault_short_announces_all_and_sends_half(sim):
    sim.set_fault("short")
    data, how = request(sim.port, 3003, timeout=0.5)
    assert how == "eof"
    assert struct.unpack(">ii", data[:8]) == (3003, 1143)
    assert len(data) == 8 + 4 * 1143 // 2


def test_fault_busy_sends_status_1_and_all_values(sim):
    sim.set_fault("busy")
    data, how = request(sim.port, 3004, timeout=0.5)
    assert struct.unpack(">iii", data[:12]) == (3004, 1, 267) and len(data) == 12 + 4 * 267


def test_fault_flapping_alternates(clock):
    with Simulator(clock=clock, fault="flapping") as sim:
        time.sleep(0.1)
        assert len(request(sim.port, 3005, timeout=0.5)[0]) == 8 + 366
        clock.now += 2.5
        time.sleep(0.1)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(sim.address, timeout=1)
        clock.now += 2.0
        time.sleep(0.2)
        assert len(request(sim.port, 3005, timeout=0.5)[0]) == 8 + 366


def test_fault_single_resets_a_second_concurrent_connection(sim):
    sim.set_fault("single")
    with socket.create_connection(sim.address, timeout=1) as first:
        time.sleep(0.1)
        data, how = request(sim.port, 3005, timeout=1)
        assert data == b"" and how in ("reset", "eof")
        first.sendall(struct.pack(">ii", 3005, 0))
        assert len(receive(first, expected=8 + 366)[0]) == 8 + 366


@pytest.mark.parametrize("fault", ["chunked", "bytewise"])
def test_split_answers_reassemble_to_the_same_bytes(sim, fault):
    sim.set_fault(fault)
    expected = good_answer(sim, 3003)
    with socket.create_connection(sim.address, timeout=2) as sock:
        sock.sendall(struct.pack(">ii", 3003, 0))
        data, how = receive(sock, expected=len(expected))
    assert data == expected


def test_fault_for_the_next_connection_only(sim):
    sim.set_fault("stall", count=1)
    assert request(sim.port, 3005, timeout=0.3) == (b"", "timeout")
    assert len(request(sim.port, 3005, timeout=0.5)[0]) == 8 + 366


def test_every_fault_mode_is_tested():
    source = open(__file__).read()
    for fault in FAULTS:
        assert f'"{fault}"' in source, fault


def test_unknown_profile_and_fault_are_refused():
    with pytest.raises(ValueError, match="unknown profile"):
        Simulator(profile="V9.99")
    with pytest.raises(ValueError, match="unknown fault"):
        Simulator(fault="explode")
    with pytest.raises(ValueError, match="unknown fault"):
        Simulator().set_fault("explode")


def test_encode_answer_rejects_a_write_command():
    with pytest.raises(ValueError):
        encode_answer(3002, [1])


def test_simulate_command_serves_until_sigterm():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "luxlogd",
            "simulate",
            "--port",
            "0",
            "--profile",
            "V3.81",
            "--speed",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        port = int(line.split()[4].rsplit(":", 1)[1])
        heatpump = luxtronik.Luxtronik("127.0.0.1", port)
        assert heatpump.calculations.get("ID_WEB_SoftStand").value == "V3.81"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    assert "simulated controller listening" in process.stderr.read()


def test_simulate_command_rejects_a_missing_replay_directory(tmp_path, capsys):
    from luxlogd.cli import main

    assert main(["simulate", "--replay", str(tmp_path)]) == 2
    assert "3003.bin not found" in capsys.readouterr().err
    assert main(["simulate", "--speed", "0"]) == 2
    assert main(["simulate", "--port", "70000"]) == 2


def test_the_readme_counts_the_profiles_and_fault_modes_there_are():
    from pathlib import Path

    from luxlogd.sim.model import PROFILES
    from luxlogd.sim.simulator import FAULTS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    said = re.search(r"(\d+) firmware profiles, thermal model, (\d+) fault modes", readme)
    assert said and (int(said[1]), int(said[2])) == (len(PROFILES), len(FAULTS))


def test_the_demos_controller_keeps_real_time_and_continues_its_history(tmp_path, monkeypatch):
    """The demo's controller: its clock is the wall clock, the days stored before the daemon
    starts (two; 12 hours here, for the test's time) end where the live controller goes on
    (counters only grow), and a second start neither stores them again nor starts another
    history."""
    import json
    import time

    from luxlogd.heatpump import catalogue
    from luxlogd.sim import demo as demos
    from luxlogd.sim.demo import Demo
    from luxlogd.store.reader import Reader

    assert demos.HISTORY_S == 2 * 86400
    monkeypatch.setattr(demos, "HISTORY_S", 12 * 3600)
    (tmp_path / "d").mkdir()
    demo = Demo(tmp_path / "d")
    since = demo._since()
    assert abs(time.time() - 12 * 3600 - since) < 5
    stored = demo._store_history(since)
    assert stored >= 12 * 3600 // 30 - 2  # a poll in each of the daemon's 30 s slots
    clock = catalogue.index_of("controller_clock")
    starts = catalogue.index_of("compressor_starts")
    with Reader(tmp_path / "d" / "state") as reader:
        newest = reader.latest()
    assert abs(newest.calculations[clock] - newest.ts_ms / 1000) < 15  # real time
    with Simulator(seed=1, profile="V3.91", since_s=since) as live:
        p, c, v = live.arrays()
    assert abs(c[clock] - time.time()) < 15
    assert c[starts] >= newest.calculations[starts]  # the same heat pump, later
    assert demo._store_history(since) == 0  # stored once
    assert json.loads((tmp_path / "d" / "demo.json").read_text())["since"] == since
    assert Demo(tmp_path / "d")._since() == since
    # The history and the daemon's interval agree: no gaps for doctor, every day complete
    # (the page draws polls further apart than the interval as gaps: an empty chart).
    from luxlogd import doctor

    demo.start("luxlogd")
    try:
        assert demo.config is not None and demo.config.poll.interval_s == 30
        report = doctor.run(demo.config, heat_pump=False, days=3).as_dict()
    finally:
        demo.stop()
    recorded = next(s for s in report["sections"] if s["name"] == "recorded data")
    assert recorded["facts"]["gaps"] == []
    assert all(day["share"] >= 0.99 for day in recorded["facts"]["days"]), recorded["facts"]

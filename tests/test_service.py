import datetime as dt
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from luxlogd.cli import main
from luxlogd.config import load_config
from luxlogd.daemon.liveness import StallMonitor, stall_limit_s, watchdog_interval_s
from luxlogd.daemon.service import Service
from luxlogd.health.logs import configure_logging
from luxlogd.heatpump.client import HeatPumpError
from luxlogd.heatpump.poll import Poll
from luxlogd.sim.simulator import Simulator
from luxlogd.store.chunks import series_id
from luxlogd.store.reader import Reader
from luxlogd.store.writer import Storage
from tests.helpers import VirtualClock, eventually

REPO = Path(__file__).resolve().parent.parent


class NotifySocket:
    """A real AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.messages = []  # (monotonic time, text)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode("utf-8")))

    def texts(self):
        return [text for _, text in self.messages]

    def wait_for(self, prefix, timeout=5.0, after=0):
        def said():
            return next((t for _, t in self.messages[after:] if t.startswith(prefix)), None)

        return eventually(said, timeout, 0.01, what=lambda: f"no {prefix!r} in {self.texts()}")

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def notify(tmp_path, monkeypatch):
    listener = NotifySocket(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", listener.path)
    yield listener
    listener.close()


def config_for(tmp_path, port, **sections):
    text = f'[heatpump]\nhost = "127.0.0.1"\nport = {port}\ntimeout_s = 1\nretries = 0\n'
    sections["storage"] = {"state_dir": f'"{tmp_path / "state"}"', **sections.get("storage", {})}
    sections.setdefault("web", {"enabled": "false"})
    sections.setdefault("schedule", {"internal": "false"})  # its own tests switch it on
    for section, values in sections.items():
        text += f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
    path = tmp_path / "luxlogd.toml"
    path.write_text(text)
    return path


def run_in_thread(service):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", service.run()), daemon=True)
    thread.start()
    return thread, result


def test_ready_status_watchdog_and_stopping_reach_the_notify_socket(tmp_path, notify, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    with Simulator() as sim:
        config = load_config(config_for(tmp_path, sim.port, poll={"interval_s": 0.3}))
        service = Service(config)
        thread, result = run_in_thread(service)
        notify.wait_for("READY=1")
        time.sleep(1.5)
        service.request_stop()
        thread.join(5)
    texts = notify.texts()
    assert texts[0] == "READY=1"
    assert texts[-1] == "STOPPING=1"
    statuses = [t for t in texts if t.startswith("STATUS=last poll")]
    assert len(statuses) >= 4 and "heat pump reachable" in statuses[-1]
    pings = [at for at, text in notify.messages if text == "WATCHDOG=1"]
    assert 10 <= len(pings) <= 32  # every 0.1 s for 1.5 s, one more before a read now and then
    assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) < 0.4
    assert result["code"] == 0
    assert service.counters.polls_ok >= 4


def test_heat_pump_down_keeps_pinging_and_says_so(tmp_path, notify, monkeypatch, caplog):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    with Simulator() as sim:
        sim.set_fault("refuse")
        time.sleep(0.1)
        config = load_config(config_for(tmp_path, sim.port, poll={"interval_s": 0.2}))
        service = Service(config)
        with caplog.at_level(logging.DEBUG, logger="luxlogd"):
            thread, _ = run_in_thread(service)
            notify.wait_for("READY=1")
            time.sleep(1.0)
            sim.set_fault(None)
            time.sleep(0.6)
            service.request_stop()
            thread.join(5)
    texts = notify.texts()
    assert any(t.startswith("STATUS=heat pump unreachable since") for t in texts)
    assert texts.count("WATCHDOG=1") >= 10
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "heat pump unreachable" in r.getMessage()
    ]
    assert len(warnings) == 1  # the first failure warns, repeats go to debug
    assert any("heat pump reachable again" in r.getMessage() for r in caplog.records)
    assert service.counters.polls_failed >= 3 and service.counters.polls_ok >= 1


def test_a_stuck_poll_stops_the_watchdog_pings(tmp_path, notify, monkeypatch):
    """A read that ignores its deadline (a bug: a socket call without a timeout) hangs the
    loop: the pings stop, so systemd kills and restarts the daemon."""
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    release = threading.Event()

    class HangingClient:
        def read(self, budget_s):
            release.wait(10)
            raise HeatPumpError("released")

    path = config_for(tmp_path, 1, poll={"interval_s": 30})
    service = Service(load_config(path))
    service.client = HangingClient()
    thread, _ = run_in_thread(service)
    notify.wait_for("READY=1")
    time.sleep(1.0)
    stuck_pings = notify.texts().count("WATCHDOG=1")
    service.request_stop()
    release.set()
    thread.join(5)
    assert stuck_pings <= 1  # the one before the poll started; none while it hangs


def test_a_stalled_controller_never_outlasts_the_watchdog(tmp_path, notify, monkeypatch):
    """A controller that never answers is bounded by the read's budget, which the watchdog
    caps (WatchdogSec 0.2 s here, heatpump.timeout_s 2.5 s): the daemon keeps pinging."""
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    with Simulator() as sim:
        sim.set_fault("stall")
        path = config_for(tmp_path, sim.port, poll={"interval_s": 30})
        path.write_text(path.read_text().replace("timeout_s = 1", "timeout_s = 2.5"))
        service = Service(load_config(path))
        thread, _ = run_in_thread(service)
        notify.wait_for("READY=1")
        time.sleep(1.0)
        service.request_stop()
        thread.join(5)
    pings = [at for at, text in notify.messages if text == "WATCHDOG=1"]
    assert len(pings) >= 5
    assert max(b - a for a, b in zip(pings, pings[1:], strict=False)) < 0.2  # never killed
    assert service.counters.polls_failed == 1


def test_without_a_watchdog_the_heartbeat_follows_progress_and_a_hang_exits(tmp_path, monkeypatch):
    """Docker: no systemd watchdog. The heartbeat file (HEALTHCHECK) is touched while the loop
    makes progress; when a poll hangs past the stall limit the daemon gives up by itself."""
    runtime = tmp_path / "run"
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(runtime))
    stalls = []
    release = threading.Event()

    class HangingClient:  # a bug, not a slow pump: a slow pump is bounded by the interval
        def read(self, budget_s):
            release.wait(10)
            raise HeatPumpError("released")

    with Simulator() as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 0.2})
        monitor = StallMonitor(1.0, on_stall=lambda: stalls.append(1))
        service = Service(load_config(path), stall_monitor=monitor)
        thread, _ = run_in_thread(service)
        heartbeat = runtime / "heartbeat"
        eventually(heartbeat.exists, timeout=5)
        first = heartbeat.stat().st_mtime_ns
        time.sleep(1.5)
        assert heartbeat.stat().st_mtime_ns > first  # polling: the heartbeat moves
        assert stalls == []  # and one second without progress never happened
        service.client = HangingClient()
        time.sleep(0.5)
        stuck_at = heartbeat.stat().st_mtime_ns
        eventually(lambda: stalls, timeout=6)
        assert stalls == [1]  # the hung read outlived the 1 s limit
        assert heartbeat.stat().st_mtime_ns == stuck_at
        service.request_stop()
        release.set()
        thread.join(5)
    assert not thread.is_alive()


def test_stall_limit_is_left_to_systemd_when_it_watches():
    assert stall_limit_s(30, {"WATCHDOG_USEC": "120000000"}) is None
    assert stall_limit_s(30, {}) == 120
    assert stall_limit_s(300, {}) == 1200


def test_watchdog_interval_honours_watchdog_pid():
    assert watchdog_interval_s({"WATCHDOG_USEC": "120000000"}) == 60
    assert watchdog_interval_s({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "1"}) is None
    pid = str(os.getpid())
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": pid}) == 1
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "x"}) is None


def start_daemon(config_path, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.Popen(
        [sys.executable, "-m", "luxlogd", "--config", str(config_path), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


@pytest.mark.parametrize("fault", [None, "stall"])
def test_sigterm_exits_0_in_under_a_second(tmp_path, notify, fault):
    with Simulator() as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 30})
        path.write_text(path.read_text().replace("timeout_s = 1", "timeout_s = 20"))
        process = start_daemon(path)
        try:
            notify.wait_for("READY=1", timeout=8)
            if fault is None:
                notify.wait_for("STATUS=last poll", timeout=8)  # now in the 30 s wait
            else:
                sim.set_fault(fault)
            time.sleep(0.3)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=5)
            elapsed = time.monotonic() - started
        finally:
            process.kill()
    assert code == 0 and elapsed < 1.0
    assert notify.texts()[-1] == "STOPPING=1"
    assert "Traceback" not in process.stderr.read()


def test_sighup_with_a_broken_file_keeps_the_old_configuration(tmp_path, notify):
    with Simulator() as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 0.5})
        good = path.read_text()
        process = start_daemon(path)
        try:
            notify.wait_for("STATUS=last poll", timeout=8)
            path.write_text("[heatpump\nbroken")
            seen = len(notify.messages)
            process.send_signal(signal.SIGHUP)
            notify.wait_for("RELOADING=1", after=seen)
            notify.wait_for("READY=1", after=seen)
            time.sleep(1.2)
            assert process.poll() is None
            after_broken = [t for t in notify.texts()[seen:] if t.startswith("STATUS=last poll")]
            assert len(after_broken) >= 2  # still polling at the old rate
            path.write_text(good.replace("interval_s = 0.5", "interval_s = 30"))
            seen = len(notify.messages)
            process.send_signal(signal.SIGHUP)
            notify.wait_for("READY=1", after=seen + 1)
            time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=5) == 0
        finally:
            process.kill()
    err = process.stderr.read()
    assert "reload failed, keeping the running configuration" in err and "not valid TOML" in err
    assert "configuration reloaded from" in err


class FakeClient:
    """Stands in for the heat pump where virtual time matters; records when it was asked."""

    def __init__(self, clock, durations=None, fail_at=(), big=False):
        self.clock = clock
        self.big = big
        self.calls = []
        self.durations = durations or {}
        self.fail_at = set(fail_at)

    def read(self, budget_s=None):
        index = len(self.calls)
        self.calls.append((self.clock.monotonic(), budget_s))
        self.clock.sleep(self.durations.get(index, 0.2))
        if index in self.fail_at:
            raise HeatPumpError("heat pump 127.0.0.1:1 unreachable (fake)")
        now_ms = int(self.clock.time() * 1000)
        if self.big:  # controller-sized arrays that all change: ~5 KB per WAL record
            return Poll(
                now_ms,
                0,
                tuple(index * 7 + i for i in range(1143)),
                tuple(index * 13 + i for i in range(267)),
                tuple((index + i) % 2 for i in range(366)),
            )
        return Poll(now_ms, 0, (index, 1, 2), (3, index % 7), (1, 0))


def virtual_service(config, clock, sync=False, **options):
    """The daemon on a virtual clock: its days pass in milliseconds (and, unless `sync`,
    without waiting for the disk)."""
    storage = (
        None if sync else Storage(config.state_dir, fdatasync=lambda fd: None, clock=clock.time)
    )
    return Service(
        config,
        timefunc=clock.monotonic,
        delayfunc=clock.sleep,
        wallclock=clock.time,
        storage=storage,
        **options,
    )


def run_virtual_week(tmp_path, interval_s, durations=None, fail_at=()):
    path = config_for(tmp_path, 1, poll={"interval_s": interval_s})
    clock = VirtualClock()
    polls = int(7 * 86400 / interval_s)
    service = virtual_service(load_config(path), clock, max_polls=polls)
    service.client = fake = FakeClient(clock, durations, fail_at)
    assert service.run() == 0
    return service, fake


def test_a_simulated_week_of_polls_has_no_drift_skip_or_overlap(tmp_path):
    service, fake = run_virtual_week(tmp_path, 1200)
    times = [at for at, _ in fake.calls]
    start = times[0]
    assert len(times) == 7 * 72
    assert all(abs(at - (start + k * 1200)) < 1e-6 for k, at in enumerate(times))
    assert all(budget < 1200 for _, budget in fake.calls)
    assert service.counters.polls_late == 0 and service.counters.slots_skipped == 0
    reader = Reader(tmp_path / "state")
    stored = [v[0] for _, _, v in reader.polls(0, 2**62, [series_id("parameters", 0)])]
    reader.close()
    assert stored == list(range(7 * 72))


def test_a_poll_that_overruns_its_slot_is_logged_and_the_grid_kept(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="luxlogd"):
        service, fake = run_virtual_week(tmp_path, 3600, durations={5: 5400}, fail_at={9})
    times = [at for at, _ in fake.calls]
    start = times[0]
    assert times[6] == pytest.approx(start + 7 * 3600)  # slot 6 was skipped, loudly
    assert all((at - start) % 3600 == pytest.approx(0) for at in times)
    assert service.counters.slots_skipped == 1
    assert any("skipped_polls=1" in r.getMessage() for r in caplog.records)
    assert service.counters.polls_failed == 1


def test_an_unexpected_error_in_a_poll_is_logged_once_and_polling_goes_on(tmp_path, caplog):
    class BrokenOnce(FakeClient):
        def read(self, budget_s=None):
            if len(self.calls) == 3:
                self.calls.append((self.clock.monotonic(), budget_s))
                raise RuntimeError("a bug")
            return super().read(budget_s)

    path = config_for(tmp_path, 1, poll={"interval_s": 60})
    clock = VirtualClock()
    with caplog.at_level(logging.ERROR):
        service = virtual_service(load_config(path), clock, max_polls=8)
        service.client = BrokenOnce(clock)
        assert service.run() == 0
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info and "a bug" in str(errors[0].exc_info[1])
    assert service.counters.polls_ok == 7 and len(service.client.calls) == 8


@pytest.mark.system
@pytest.mark.timeout(60)
def test_enospc_keeps_polls_in_memory_and_writes_them_when_there_is_room(tmp_path):
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("mounting a tmpfs needs root (CI runs as root and never skips this)")
    state = tmp_path / "small"
    state.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(state)], check=True)
    try:
        filler = state / "filler"

        class FillingClient(FakeClient):
            """The disk fills up at the 5th read and space returns at the 95th (more than a
            segment of the log later: a new one cannot be made meanwhile)."""

            def read(self, budget_s=None):
                count = len(self.calls)
                marks["most_kept"] = max(marks.get("most_kept", 0), len(service.pending.polls))
                if count == 100:
                    marks["ok_at_100"] = service.counters.polls_ok
                if count == 5:
                    with open(filler, "wb") as handle:
                        try:
                            handle.write(b"x" * (8 << 20))
                        except OSError:
                            pass
                if count == 95:
                    filler.unlink()
                return super().read(budget_s)

        path = config_for(tmp_path, 1, poll={"interval_s": 60}, schedule={"internal": "false"})
        path.write_text(path.read_text().replace(str(tmp_path / "state"), str(state / "lux")))
        marks = {}
        clock = VirtualClock()
        service = virtual_service(load_config(path), clock, sync=True, max_polls=130)
        service.client = FillingClient(clock, big=True)
        assert service.run() == 0
        assert marks["most_kept"] >= 3  # the full disk was real: polls waited in memory
        assert service.counters.polls_failed == 0  # and none was given up
        assert service.counters.polls_ok == 130  # all written once there was room again
        assert service.counters.polls_ok - marks["ok_at_100"] == 30  # it resumed by itself
        reader = Reader(state / "lux")
        stored = [v[0] for _, _, v in reader.polls(0, 2**62, [series_id("parameters", 0)])]
        assert reader.database.quick_check(full=True) == "ok"
        reader.close()
        assert len(stored) == service.counters.polls_ok == len(set(stored))  # every ack'd poll
    finally:
        subprocess.run(["umount", str(state)], check=False)


def test_status_reports_a_running_daemon_and_exits_1_when_unhealthy(tmp_path, capsys):
    path = config_for(tmp_path, 1)
    assert main(["--config", str(path), "status"]) == 1
    out = capsys.readouterr().out
    assert "no status written yet" in out and "UNHEALTHY" in out
    with Simulator() as sim:
        path = config_for(tmp_path, sim.port, poll={"interval_s": 0.3})
        service = Service(load_config(path))
        thread, _ = run_in_thread(service)
        time.sleep(1.0)
        assert main(["--config", str(path), "status"]) == 0
        out = capsys.readouterr().out
        service.request_stop()
        thread.join(5)
    assert f"running (pid {os.getpid()})" in out and "healthy" in out
    assert "polls stored:" in out and "heat pump:     reachable, last poll " in out
    assert main(["--config", str(path), "status"]) == 1
    assert "the daemon is not running" in capsys.readouterr().out


def test_run_without_a_host_exits_78(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(f'[storage]\nstate_dir = "{tmp_path}"\n')
    assert main(["--config", str(path), "run"]) == 78
    assert "heatpump.host" in capsys.readouterr().err


def test_demo_runs_the_simulator_the_daemon_and_the_web_until_ctrl_c(tmp_path):
    env = dict(os.environ, LUXLOGD_WEB_LISTEN="127.0.0.1:0")  # not the demo's fixed port
    (tmp_path / "d").mkdir()  # a controller started an hour ago: a short history to store
    (tmp_path / "d" / "demo.json").write_text(json.dumps({"since": int(time.time() - 3600)}))
    process = subprocess.Popen(
        [sys.executable, "-m", "luxlogd", "demo", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("luxlogd demo: simulated heat pump on 127.0.0.1:")
        eventually((tmp_path / "d/state/status.json").exists, timeout=8)
        time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=5)
    assert code == 0
    config = load_config(tmp_path / "d" / "luxlogd.toml")
    reader = Reader(config.state_dir)
    assert len(list(reader.polls(0, 2**62, [series_id("calculations", 10)]))) >= 1
    reader.close()
    printed = process.stdout.read()
    assert dt.date.today().isoformat() in printed
    assert f"{sys.executable} -m luxlogd --config" in printed  # runnable as printed
    assert "web UI and API on http://127.0.0.1:" in process.stderr.read()


def test_internal_schedule_runs_the_roll_up_at_its_time(tmp_path, timezone):
    from luxlogd.cli import status

    timezone("UTC")
    path = config_for(
        tmp_path,
        1,
        poll={"interval_s": 60},
        schedule={"internal": "true"},
        reports={
            "output_dirs": f'["{tmp_path / "reports"}"]',
            "sensors": '["ID_WEB_Temperatur_TVL"]',
        },
    )
    config = load_config(path, environ={})
    clock = VirtualClock(wall_start=dt.datetime(2026, 11, 16, 6, 55, tzinfo=dt.UTC).timestamp())
    service = virtual_service(config, clock, max_polls=12, environ={})

    class RealTimePasses(FakeClient):
        """Virtual minutes pass in microseconds; a real roll-up thread needs its time."""

        def read(self, budget_s=None):
            service.schedule.join(5)
            return super().read(budget_s)

    service.client = RealTimePasses(clock)
    assert service.schedule is not None
    assert service.run() == 0
    produced = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert produced == ["2026-11-16_daily.csv", "2026-11-16_summary.csv", "2026-11-16_weekly.csv"]
    rows = (tmp_path / "reports" / "2026-11-16_daily.csv").read_text().splitlines()
    assert len(rows) == 1 + 5  # the polls of 06:55-06:59, before the roll-up time
    text, _ = status.build_report(config)
    assert "last roll-up:  2026-11-16 at" in text


def test_internal_schedule_auto_means_not_under_systemd(tmp_path):
    from luxlogd.reports.schedule import internal_schedule_enabled

    config = load_config(None, environ={})
    assert internal_schedule_enabled(config, {}) is True
    assert internal_schedule_enabled(config, {"INVOCATION_ID": "abc"}) is False
    assert internal_schedule_enabled(config, {"NOTIFY_SOCKET": "/run/x"}) is False
    off = load_config(None, environ={"LUXLOGD_SCHEDULE_INTERNAL": "off"})
    assert internal_schedule_enabled(off, {}) is False


def test_a_pause_of_the_whole_process_is_not_a_stall(caplog):
    """SIGSTOP for 180 s (docker pause, a VM snapshot): the monitor's own sleep overshoots, so
    the loop gets a fresh deadline; a real stall afterwards still ends the process."""
    clock = {"now": 0.0}
    stalls = []
    monitor = StallMonitor(
        120.0, on_stall=lambda: stalls.append(clock["now"]), clock=lambda: clock["now"]
    )
    check = monitor.check_s()
    before = 0.0
    with caplog.at_level(logging.INFO, logger="luxlogd"):
        for _ in range(10):  # 50 s of looks while the loop makes progress
            clock["now"] += check
            monitor.progress()
            before = monitor.look(before, check)
        clock["now"] += 180 + check  # stopped for three minutes, loop and monitor alike
        before = monitor.look(before, check)
        assert before is not None and stalls == [] and monitor.pauses == 1
        while before is not None and clock["now"] < 400:  # now the loop hangs for real
            clock["now"] += check
            before = monitor.look(before, check)
    assert stalls and 120 < stalls[0] - 235 <= 120 + check
    assert any("resumed after a pause of 180 s" in m for m in caplog.messages)


def test_the_stall_reason_is_written_before_the_thread_dump(tmp_path):
    stream = io.StringIO()
    setup = configure_logging("info", stream=stream, environ={})
    seen = []
    try:
        clock = {"now": 0.0}
        monitor = StallMonitor(
            1.0, on_stall=lambda: seen.append(stream.getvalue()), clock=lambda: clock["now"]
        )
        clock["now"] = 0.25
        monitor.look(0.0, 0.25)
        clock["now"] = 1.5
        assert monitor.look(0.25, 0.25) is None
    finally:
        setup.close()
    assert "CRITICAL luxlogd.health: no progress for 2 s (limit 1 s)" in seen[0]

"""The first hour of a new user, through the command line: fail fast, say it once, never
half-configure. Exit codes and message texts are the interface."""

import gzip
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from luxlogd.cli import main
from luxlogd.sim.simulator import Simulator
from tests.test_faults import write_polls
from tests.test_service import config_for

REPO = Path(__file__).resolve().parent.parent


def luxlogd(*args, env=None, timeout=20):
    return subprocess.run(
        [sys.executable, "-m", "luxlogd", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, **(env or {})),
        timeout=timeout,
    )


def test_dump_of_a_closed_port_fails_at_once_with_the_reason(capsys):
    with Simulator() as sim:
        sim.set_fault("refuse")
        time.sleep(0.1)
        started = time.monotonic()
        assert main(["dump", "--host", "127.0.0.1", "--port", str(sim.port)]) == 69
    assert time.monotonic() - started < 1.0  # no retries with back-off: refused is final
    err = capsys.readouterr().err
    assert "unreachable after 1 attempt(s)" in err and "Connection refused" in err
    assert "8889" in err and "8888" in err  # the port hint


def test_an_unknown_host_name_is_final(capsys, monkeypatch):
    # Resolving a name would ask a DNS server: the resolver's answer is made here instead.
    def unknown(address, timeout=None):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", unknown)
    assert main(["dump", "--host", "heatpump.example", "--retries", "3"]) == 69
    err = capsys.readouterr().err
    assert "after 1 attempt(s)" in err and "cannot resolve 'heatpump.example'" in err


def at_a_terminal(args, until=None, timeout=8.0, env=None):
    """Run luxlogd with its standard error on a pseudo-terminal; (what it wrote there, exit
    code). It runs to its end, or until `until` appears (then it is killed: code None)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "luxlogd", *args],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        cwd=REPO,
        env=dict(os.environ, **(env or {})),
    )
    os.close(follower)
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (until and until.encode() in output):
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if process.poll() is not None and not ready:
            break
    os.close(leader)
    if until:
        process.kill()
        process.wait(5)
        return output.decode(), None
    return output.decode(), process.wait(timeout=5)


def test_a_silent_controller_is_waited_for_visibly_at_a_terminal():
    with Simulator() as sim:
        sim.set_fault("stall")
        args = ["dump", "--host", "127.0.0.1", "--port", str(sim.port), "--timeout", "0.5"]
        text, code = at_a_terminal([*args, "--retries", "1"])
    assert code == 69
    assert f"reading 127.0.0.1:{sim.port} (attempt 1 of 2, up to 0.5 s)" in text
    assert "trying again in 2 s" in text and "attempt 2 of 2" in text


def test_check_config_reports_a_missing_host_with_the_packages_hint(tmp_path, capsys):
    path = tmp_path / "luxlogd.toml"
    path.write_text("[poll]\ninterval_s = 30\n")
    assert main(["check-config", str(path)]) == 78
    err = capsys.readouterr().err
    assert f"{path}: heatpump.host: expected a host name or IP address, got nothing" in err
    assert f"set heatpump.host in {path}, then: systemctl restart luxlogd" in err
    packaged = luxlogd("check-config", str(REPO / "luxlogd.toml.example"))
    assert packaged.returncode == 0 and "WARNING" not in packaged.stderr


def test_an_unknown_report_sensor_is_a_configuration_error_everywhere(tmp_path, capsys):
    path = config_for(tmp_path, 1, reports={"sensors": '["flow", "ID_WEB_Nope"]'})
    for command in (
        ["check-config"],
        ["rollup", "--now"],
        ["run"],
        ["export", "--from", "2026-01-01", "--to", "2026-01-02"],
    ):
        assert main(["--config", str(path), *command]) == 78, command
        err = capsys.readouterr().err
        assert "reports.sensors: unknown sensor 'ID_WEB_Nope'" in err
    assert not (tmp_path / "state" / "rollup-progress.json").exists()


def test_log_level_applies_to_every_command(tmp_path):
    path = config_for(tmp_path, 1, log={"level": '"warning"'})
    write_polls(tmp_path / "state", 1, 5)
    export = ("--config", str(path), "export", "--from", "2023-11-14", "--to", "2023-11-16")
    quiet = luxlogd(*export, "--sensors", "flow")
    assert quiet.returncode == 0 and quiet.stderr == ""
    chatty = luxlogd(*export, "--sensors", "flow", env={"LUXLOGD_LOG_LEVEL": "info"})
    assert "INFO luxlogd: exported polls=5" in chatty.stderr


@pytest.mark.parametrize(
    "setting, message",
    [
        (
            '[reports]\nformats = ["csv", "xlsx"]',
            'reports.formats: expected a list of csv, json, dta, got "xlsx"',
        ),
        (
            '[heatpump]\nhost = "999.1.1.1"',
            "heatpump.host: expected an IPv4 address (four numbers 0-255) or a host name, got "
            '"999.1.1.1"',
        ),
        ('[stats]\nseason_start = "02-30"', "stats.season_start: expected a day of the year"),
        ('[ui]\nlanguage = "fr"', 'ui.language: expected one of "en", "de", got "fr"'),
        ('[reports]\nheaders = "pretty"', 'reports.headers: expected one of "raw", "readable"'),
    ],
)
def test_bad_values_are_named(tmp_path, capsys, setting, message):
    path = tmp_path / "luxlogd.toml"
    path.write_text(f'{setting}\n[storage]\nstate_dir = "{tmp_path}"\n')
    assert main(["check-config", str(path)]) == 78
    assert message in capsys.readouterr().err


def test_help_texts_give_defaults_and_the_web_address(capsys):
    assert main(["simulate", "--help"]) == 0
    assert "(default 1; 60: a minute per second)" in " ".join(capsys.readouterr().out.split())
    assert main(["demo", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "http://127.0.0.1:8088/" in out and "another free port" in out


def test_the_demo_moves_to_a_free_port_and_starts_without_warnings(tmp_path):
    """With 8088 taken the demo says where its page really is; its first start prints no
    warning (no roll-up of an empty store)."""
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        blocker.bind(("127.0.0.1", 8088))
        blocker.listen(1)
    except OSError:
        pass  # something already listens there: taken either way
    # A first start with an hour of history (demo.json keeps when the controller started;
    # the two days of a real first start take seconds more to store).
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "demo.json").write_text(json.dumps({"since": int(time.time() - 3600)}))
    process = subprocess.Popen(
        [sys.executable, "-m", "luxlogd", "demo", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        banner = [process.stdout.readline() for _ in range(2)]
        address = banner[1].split("http://", 1)[1].split("/", 1)[0]
        assert banner[1].rstrip().endswith("(127.0.0.1:8088 is taken)")
        host, port = address.rsplit(":", 1)
        assert int(port) != 8088
        deadline = time.monotonic() + 8
        answered = False
        while time.monotonic() < deadline and not answered:
            try:
                with socket.create_connection((host, int(port)), timeout=1) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                    answered = sock.recv(20).startswith(b"HTTP/1.0")
            except OSError:
                time.sleep(0.2)
        time.sleep(1.5)  # the internal schedule's first check
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
        blocker.close()
    assert code == 0 and answered
    err = process.stderr.read()
    assert "WARNING" not in err, err
    assert "storing the simulated heat pump's history since " in err, err
    assert "(120 polls; a few seconds, once)" in err, err


def test_reports_can_be_compressed_and_readable(tmp_path, timezone):
    import datetime as dt

    from luxlogd.config import load_config
    from luxlogd.reports import rollup

    timezone("UTC")
    path = config_for(
        tmp_path,
        1,
        reports={
            "output_dirs": f'["{tmp_path / "r"}"]',
            "sensors": '["flow", "outdoor", "compressor"]',
            "headers": '"readable"',
            "compress": "true",
        },
    )
    config = load_config(path)
    write_polls(config.state_dir, 1, 2 * 96)
    now = dt.datetime(2023, 11, 17, tzinfo=dt.UTC)
    written = rollup.rollup(config, dt.date(2023, 11, 16), now=now)
    assert sorted(p.name for p in written) == [
        "2023-11-16_daily.csv.gz",
        "2023-11-16_summary.csv.gz",
        "2023-11-16_weekly.csv.gz",
    ]
    lines = gzip.decompress((tmp_path / "r" / "2023-11-16_daily.csv.gz").read_bytes())
    header = lines.decode().splitlines()[0]
    assert header == "timestamp,Flow (°C),Outdoor (°C),Compressor 1"
    again = rollup.rollup(config, dt.date(2023, 11, 16), now=now)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]  # same bytes


def test_status_says_each_figure_once_in_plain_numbers(tmp_path, capsys, timezone):
    """A count is a whole number, a label has its colon, and a roll-up on demand is said as
    such: right after `rollup --now` wrote its files, `status` says so."""
    import datetime as dt

    from tests.helpers import fill_from_model

    timezone("UTC")
    now = dt.datetime.now(dt.UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    fill_from_model(tmp_path / "state", start, (now - start).total_seconds() / 86400, 300, 3)
    path = config_for(tmp_path, 1)
    assert main(["--config", str(path), "rollup", "--now"]) == 0
    written = len([p for p in (tmp_path / "state" / "reports").iterdir() if p.is_file()])
    capsys.readouterr()
    main(["--config", str(path), "status"])
    out = capsys.readouterr().out
    assert f"{written} files (rollup --now)" in out, out
    today = next(line for line in out.splitlines() if line.startswith("today:"))
    assert not re.search(r"\d\.0 starts", today) and re.search(r"\d+ starts", today), today
    assert "COP last hour: " in out and "heat output: " in out, out


def test_commands_print_their_result_once_and_check_config_warns_about_an_open_page(tmp_path):
    """At a terminal a command prints its result; INFO lines are for the journal. A web
    server open to the LAN without a token is said before the daemon starts."""
    path = config_for(tmp_path, 1)
    write_polls(tmp_path / "state", 1, 5)
    cleanup = luxlogd("--config", str(path), "cleanup")
    assert cleanup.returncode == 0 and cleanup.stderr == "", cleanup.stderr
    assert cleanup.stdout.count("deleted ") == 1
    export = luxlogd(
        "--config",
        str(path),
        "export",
        "--from",
        "2023-11-14",
        "--to",
        "2023-11-16",
        "--sensors",
        "flow",
    )
    assert export.returncode == 0 and export.stderr == "", export.stderr
    journal = luxlogd("--config", str(path), "cleanup", env={"JOURNAL_STREAM": "8:1"})
    assert "cleanup" in journal.stderr  # under systemd (the timers' jobs) they go on
    open_page = config_for(tmp_path, 1, web={"enabled": "true", "listen": '"0.0.0.0:8088"'})
    checked = luxlogd("check-config", str(open_page))
    assert checked.returncode == 0 and "without web.token" in checked.stderr, checked.stderr


def test_dump_waits_briefly_by_default_and_says_each_attempt():
    """The daemon's 60 s x 4 attempts are for a controller that must not be lost; someone at
    a terminal gets 10 s and one retry unless --timeout/--retries say otherwise."""
    with Simulator() as sim:
        sim.set_fault("stall")
        text, _ = at_a_terminal(
            ["dump", "--host", "127.0.0.1", "--port", str(sim.port)],
            until=" s)",
            timeout=6,
            env={"LUXLOGD_HEATPUMP_TIMEOUT_S": "60", "LUXLOGD_HEATPUMP_RETRIES": "3"},
        )
    assert f"reading 127.0.0.1:{sim.port} (attempt 1 of 2, up to 10 s)" in text

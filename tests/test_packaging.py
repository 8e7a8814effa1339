"""The units, the packages and the image, checked the way users meet them.

Fast checks (unit files, exposure scores, the packaged configuration) run everywhere;
the `system` tests build the .deb and boot it under systemd-nspawn, and check the .rpm
with rpm -qp. They need root; CI runs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from tests import system

REPO = system.REPO
SERVICES = ["luxlogd.service", "luxlogd-rollup.service", "luxlogd-cleanup.service"]


def exposure(unit: str) -> float:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(REPO / "systemd" / unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert match, done.stdout[-2000:] + done.stderr
    return float(match.group(1))


@pytest.mark.skipif(
    not shutil.which("systemd-analyze") and not os.environ.get("CI"),
    reason="scores the units with systemd-analyze (Debian package systemd; CI has it)",
)
def test_exposure_of_the_daemon_and_the_timer_jobs():
    assert exposure("luxlogd.service") <= 1.5
    assert exposure("luxlogd-rollup.service") <= 0.5
    assert exposure("luxlogd-cleanup.service") <= 0.5


def unit_settings(unit: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (REPO / "systemd" / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def test_the_daemon_unit_matches_what_the_daemon_does():
    service = unit_settings("luxlogd.service")
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    # Pings stop while a poll runs (up to one interval, 30 s): the watchdog must allow two.
    assert int(service["WatchdogSec"][0]) > 2 * 30
    assert service["RestartPreventExitStatus"] == ["78"]  # cli.EXIT_CONFIG
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["RuntimeDirectory"] == ["luxlogd"]  # status.py reads /run/luxlogd
    assert service["User"] == ["luxlogd"]
    text = (REPO / "systemd" / "luxlogd.service").read_text()
    # Every hardening line carries a comment saying why (the line above it).
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# Hardening."))
    end = lines.index("[Install]")
    for number, line in enumerate(lines[start:end], start):
        if line and not line.startswith(("#", "[")) and "=" in line:
            previous = lines[number - 1]
            assert previous.startswith("#") or "=" in previous, f"no reason for {line}"


def test_timers_run_daily_and_catch_up():
    rollup = unit_settings("luxlogd-rollup.timer")
    cleanup = unit_settings("luxlogd-cleanup.timer")
    assert rollup["OnCalendar"] == ["*-*-* 07:00:00"] and rollup["Persistent"] == ["true"]
    assert cleanup["Persistent"] == ["true"] and cleanup["RandomizedDelaySec"]
    for job in ("luxlogd-rollup.service", "luxlogd-cleanup.service"):
        settings = unit_settings(job)
        assert settings["Type"] == ["oneshot"] and settings["PrivateNetwork"] == ["yes"]
        assert settings["TimeoutStartSec"]


def test_the_packaged_configuration_needs_a_host_and_is_otherwise_valid(tmp_path):
    build = _load_build_module()
    text = build.packaged_config()
    path = tmp_path / "luxlogd.toml"
    path.write_text(text)
    from luxlogd.config import load_config

    config = load_config(path, environ={})
    assert config.heatpump.host == ""  # `run` exits 78 until the administrator sets it
    path.write_text(text.replace('# host = "192.168.1.50"', 'host = "10.1.2.3"'))
    assert load_config(path, environ={}).heatpump.host == "10.1.2.3"


def _load_build_module():
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("packaging_build", str(REPO / "packaging/build"))
    spec = importlib.util.spec_from_loader("packaging_build", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    system.require_root("building and booting the .deb")
    out = tmp_path_factory.mktemp("debs")
    version = _load_build_module().project_version()
    first = system.build("deb", out)
    second = system.build("deb", out, version=f"{version}+upgrade1")
    return first, second


@pytest.mark.system
@pytest.mark.timeout(900)
def test_deb_installs_boots_and_behaves_under_systemd(debs, tmp_path):
    first, second = debs
    assert first.name == f"luxlogd_{_load_build_module().project_version()}_all.deb"
    command = ["dpkg-deb", "-f", str(first), "Recommends", "Suggests", "Description"]
    fields = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "Suggests: python3-pandas" in fields and "need python3-pandas" in fields
    assert re.search(r"Recommends: systemd, python3-paho-mqtt\b", fields)
    contents = subprocess.run(
        ["dpkg-deb", "-c", str(first)], capture_output=True, text=True, check=True
    ).stdout
    assert "./usr/share/luxlogd/grafana/luxlogd-dashboard.json" in contents
    for doc in ("README.md", "docs/design.md", "docs/benchmarks.md", "docs/screenshot.png"):
        assert f"./usr/share/doc/luxlogd/{doc}" in contents  # the README's links resolve
    root = system.unpack_rootfs(tmp_path / "root")
    for deb in debs:
        shutil.copy(deb, root / "root" / deb.name)
    port, web_port = system.free_port(), system.free_port()
    settings = {"deb": first.name, "deb_next": second.name, "port": port, "web_port": web_port}
    (root / "root" / "settings.json").write_text(json.dumps(settings))
    started = time.monotonic()
    console = system.boot(root, REPO / "tests" / "boot_scenario.py", timeout=800)
    results_file = root / "root" / "results.json"
    assert results_file.exists(), console[-4000:]
    facts = json.loads(results_file.read_text())
    print(f"boot scenario took {time.monotonic() - started:.0f} s")
    assert facts.get("finished"), json.dumps(facts, indent=1)[-6000:]
    for name, value in facts.items():
        assert not (isinstance(value, dict) and "exception" in value), f"{name}: {value}"

    # apt install ./luxlogd_*.deb: installs; the daemon waits for a host (exit 78, no
    # restart loop); every unit that should be enabled is.
    install = facts["install"]
    assert install["rc"] == 0, install["err"]
    assert install["enabled"] == ["enabled", "enabled", "enabled"]
    unit = install["unit_after_install"]
    assert unit["ExecMainStatus"] == "78" and unit["NRestarts"] == "0", unit
    assert any("heatpump.host" in line for line in install["journal"])
    assert "set heatpump.host in /etc/luxlogd/luxlogd.toml" in install["out"] + install["err"]

    layout = facts["layout"]
    assert re.match(r"luxlogd:x:\d+:\d+:[^:]*:/var/lib/luxlogd:/usr/sbin/nologin", layout["passwd"])
    assert "/var/lib/luxlogd luxlogd:luxlogd 750" in layout["stat"]
    assert "/var/lib/luxlogd/reports luxlogd:luxlogd 750" in layout["stat"]
    assert "/etc/luxlogd/luxlogd.toml root:luxlogd 640" in layout["stat"]
    assert layout["man"] == "/usr/share/man/man8/luxlogd.8.gz"
    verify = layout["verify"]
    assert verify["rc"] == 0 and verify["out"] + verify["err"] == "", verify

    configure = facts["configure"]
    assert configure["check_config"]["rc"] == 0, configure["check_config"]
    assert configure["reached"], configure["unit"]
    assert configure["unit"]["ActiveState"] == "active"
    assert configure["unit"]["StatusText"].startswith("last poll ")
    assert configure["status_command"]["rc"] == 0, configure["status_command"]
    assert "running (pid" in configure["status_command"]["out"]
    assert json.loads(configure["healthz"])["status"] == "ok"

    journal = facts["journal"]
    assert journal["identifiers"] == ["luxlogd"], journal
    # Priorities come from the <N> prefixes: the missing host (err, 3), the short interval
    # (warning, 4), start-up (info, 6).
    assert {"3", "4", "6"} <= set(journal["priorities"]), journal
    assert not any(e["MESSAGE"].startswith("<") for e in journal["sample"])

    timers = facts["timers"]["out"]
    assert "luxlogd-rollup.timer" in timers and "luxlogd-cleanup.timer" in timers

    reload = facts["reload"]
    assert reload["rc"] == 0 and reload["unit"]["MainPID"] == reload["pid_before"]
    assert reload["journal"], "SIGHUP did not reload"

    mqtt = facts["mqtt"]
    assert mqtt["paho"].startswith("1.6"), mqtt  # Debian's python3-paho-mqtt
    assert json.loads(mqtt["state"])["flow"] is not None, mqtt
    assert mqtt["configs"] > 30, mqtt  # Home Assistant discovery, retained
    assert "mqtt:          connected to 127.0.0.1:1883" in mqtt["status_command"], mqtt

    # Two more heat pumps as luxlogd@cellar and luxlogd@flat beside luxlogd.service: their
    # own state, status, topics and pages; the first daemon untouched.
    instances = facts["instances"]
    assert instances["reached"], instances["units"]
    for name in ("cellar", "flat"):
        assert instances["units"][name]["ActiveState"] == "active", instances
        assert "luxlogd.sqlite" in instances["files"][name] and "wal" in instances["files"][name]
        assert f"/var/lib/luxlogd/{name}" in instances["status"][name], instances["status"]
        names = sorted(p["name"] for p in instances["heatpumps"][name])
        assert [p["name"] for p in instances["heatpumps"][name] if p["this"]] == [name]
        assert {"cellar", "flat"} <= set(names) and len(names) == 3, instances["heatpumps"]
    assert {"luxlogd/cellar/state", "luxlogd/flat/state"} <= set(instances["state_topics"])
    assert "/run/luxlogd-cellar" in instances["runtime"] and "/run/luxlogd" in instances["runtime"]
    ours = [i for i in instances["identifiers"] if i and i.startswith("luxlogd")]
    assert ours == ["luxlogd@cellar", "luxlogd@flat"], instances["identifiers"]
    assert instances["main_after"]["MainPID"] == instances["main_before"]["MainPID"]
    assert instances["main_after"]["ActiveState"] == "active"

    watchdog = facts["watchdog"]
    assert watchdog["second"], watchdog  # a new main process after SIGSTOP
    assert int(watchdog["second"]["NRestarts"]) >= 1
    assert any("Watchdog timeout" in line for line in watchdog["watchdog_lines"]), watchdog
    assert watchdog["after"]["ActiveState"] == "active"

    rollup = facts["rollup"]
    assert rollup["rc"] == 0 and rollup["unit"]["Result"] == "success", rollup
    assert "_daily.csv" in rollup["reports"] and "_weekly.csv" in rollup["reports"], rollup

    stop = facts["stop"]
    assert stop["rc"] == 0 and stop["seconds"] < 5, stop
    assert stop["unit"]["Result"] == "success" and stop["unit"]["ActiveState"] == "inactive"
    assert any("stopped polls_ok=" in line for line in stop["journal"])

    upgrade = facts["upgrade"]
    assert upgrade["rc"] == 0, upgrade["err"]
    assert upgrade["version"].endswith("+upgrade1")
    # The edited conffile is kept: the heat pump's and the MQTT broker's host.
    assert upgrade["config_host"] == ['host = "127.0.0.1"', 'host = "127.0.0.1"']
    assert ".dpkg-" not in upgrade["etc"]
    assert upgrade["stat"] == "root:luxlogd 640"
    assert upgrade["after"]["ActiveState"] == "active"
    assert upgrade["after"]["MainPID"] != upgrade["before"]["MainPID"]  # restarted

    purge = facts["purge"]
    assert purge["rc"] == 0, purge["err"]
    assert purge["etc_exists"] is False and purge["binary"] is False
    assert purge["unit_files"] == "" and purge["processes"] == ""
    assert "luxlogd.sqlite" in purge["data"] and "wal" in purge["data"]  # data is kept
    assert purge["user"].startswith("luxlogd:")
    assert "recorded data kept in /var/lib/luxlogd" in purge["out"] + purge["err"]


@pytest.mark.system
@pytest.mark.timeout(300)
def test_rpm_contents_scriptlets_and_config(tmp_path):
    system.require_root("building the .rpm (it installs rpm with apt-get)")
    rpm = system.build("rpm", tmp_path)
    version = _load_build_module().project_version()
    assert rpm.name == f"luxlogd-{version}-1.noarch.rpm"

    def query(*options):
        return subprocess.run(
            ["rpm", "-qp", *options, str(rpm)], capture_output=True, text=True, check=True
        ).stdout

    files = query("-l").split()
    for path in (
        "/usr/bin/luxlogd",
        "/usr/lib/luxlogd/luxlogd/cli/__init__.py",
        "/usr/lib/luxlogd/luxlogd/doctor/records.py",
        "/usr/lib/luxlogd/luxlogd/heatpump/catalogue.py",
        "/usr/lib/luxlogd/luxlogd/outputs/web/static/app.js",
        "/usr/lib/luxlogd/luxtronik/calculations.py",
        "/usr/lib/luxlogd/sdnotify/__init__.py",
        "/usr/lib/systemd/system/luxlogd.service",
        "/usr/lib/systemd/system/luxlogd-rollup.timer",
        "/usr/lib/systemd/system/luxlogd-cleanup.timer",
        "/usr/lib/sysusers.d/luxlogd.conf",
        "/usr/lib/tmpfiles.d/luxlogd.conf",
        "/usr/share/man/man8/luxlogd.8",
        "/usr/share/luxlogd/grafana/luxlogd-dashboard.json",
        "/usr/share/doc/luxlogd/README.md",
        "/usr/share/doc/luxlogd/docs/design.md",
        "/usr/share/doc/luxlogd/docs/benchmarks.md",
        "/etc/luxlogd/luxlogd.toml",
        "/var/lib/luxlogd",
    ):
        assert path in files, path
    assert not any(".dist-info" in f or "__pycache__" in f for f in files)
    assert query("-c").split() == ["/etc/luxlogd/luxlogd.toml"]
    # %config(noreplace): rpm's file flags, noreplace is bit 16 (RPMFILE_NOREPLACE)
    flags = query("--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]")
    assert "/etc/luxlogd/luxlogd.toml cn" in flags
    modes = query("-lv")
    assert re.search(r"-rw-r-----\s+1 root\s+luxlogd .* /etc/luxlogd/luxlogd.toml", modes)
    scripts = query("--scripts")
    assert "systemd-sysusers" in scripts.split("postinstall scriptlet")[0]  # %pre
    assert "systemctl --no-reload preset luxlogd.service" in scripts
    assert "disable --now luxlogd.service" in scripts
    assert "try-restart luxlogd.service" in scripts
    requires = query("--requires")
    assert "python3 >= 3.11" in requires and "systemd" in requires
    assert "python3-pandas" in query("--suggests")
    assert "python3-paho-mqtt" in query("--recommends")


@pytest.mark.system
@pytest.mark.timeout(600)
def test_docker_image_runs_healthy_against_the_simulator_and_stops_cleanly(tmp_path):
    system.require_root("building and running the image with podman")
    from luxlogd.sim.simulator import Simulator

    env = system.podman_env(tmp_path)
    base = system.import_base_image(env)
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "packaging" / "build"),
            "docker",
            "--engine",
            "podman",
            "--base",
            base,
            "--tag",
            "luxlogd:system-test",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    def podman(*args, check=True):
        return subprocess.run(
            ["podman", *args], capture_output=True, text=True, env=env, check=check
        )

    inspect = json.loads(podman("image", "inspect", "luxlogd:system-test").stdout)[0]
    config = inspect["Config"]
    assert config["User"] == "luxlogd:luxlogd"
    assert config["StopSignal"] in ("SIGTERM", "15")
    assert "/var/lib/luxlogd" in config["Volumes"]
    healthcheck = inspect.get("Healthcheck") or config.get("Healthcheck")  # podman or docker
    assert "heartbeat" in " ".join(healthcheck["Test"])
    assert "LUXLOGD_SCHEDULE_INTERNAL=true" in config["Env"]

    name = f"luxlogd-test-{os.getpid()}"
    web = system.free_port()
    from tests.test_mqtt import Broker, Subscriber, states

    (tmp_path / "mqtt").mkdir()
    broker = Broker(tmp_path / "mqtt")
    listener = Subscriber(broker.port, topics=("luxlogd/#",))
    with Simulator(port=0) as sim:
        podman("rm", "-f", name, check=False)
        podman(
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            "host",
            "-e",
            "LUXLOGD_HEATPUMP_HOST=127.0.0.1",
            "-e",
            f"LUXLOGD_HEATPUMP_PORT={sim.port}",
            "-e",
            "LUXLOGD_POLL_INTERVAL_S=1",
            "-e",
            f"LUXLOGD_WEB_LISTEN=127.0.0.1:{web}",
            "-e",
            "LUXLOGD_MQTT_ENABLED=true",
            "-e",
            "LUXLOGD_MQTT_HOST=127.0.0.1",
            "-e",
            f"LUXLOGD_MQTT_PORT={broker.port}",
            "luxlogd:system-test",
        )
        try:
            deadline = time.monotonic() + 60
            healthy = False
            while time.monotonic() < deadline and not healthy:
                healthy = podman("healthcheck", "run", name, check=False).returncode == 0
                if not healthy:
                    time.sleep(1)
            state = json.loads(podman("inspect", name).stdout)[0]["State"]
            assert healthy and state["Health"]["Status"] == "healthy", podman("logs", name).stderr
            assert podman("exec", name, "id", "-u").stdout.strip() == "8889"
            health = json.loads(
                urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=5).read()
            )
            assert health["status"] == "ok"
            # The image's own paho-mqtt (1.6.1, as Debian ships it) publishes the polls.
            listener.wait_for(lambda messages: states(messages), timeout=20)
            started = time.monotonic()
            podman("stop", "--time", "30", name)
            stop_seconds = time.monotonic() - started
            state = json.loads(podman("inspect", name).stdout)[0]["State"]
            logs = podman("logs", name).stderr
        finally:
            podman("rm", "-f", name, check=False)
            listener.close()
            broker.stop()
    assert state["ExitCode"] == 0 and stop_seconds < 10, (state, stop_seconds)
    offline = [m for m in listener.messages if m[0].endswith("/availability") and m[1] == "offline"]
    assert offline and offline[-1][0].startswith("luxlogd/heatpump"), listener.messages[-3:]
    assert "run inside the daemon" in logs  # the internal schedule is on
    assert "stopped polls_ok=" in logs


def test_the_man_page_documents_every_command_and_exit_code():
    from luxlogd import cli

    page = (REPO / "packaging" / "luxlogd.8").read_text()
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in commands:
        roff = name.replace("-", "\\-")  # a hyphen in roff source
        assert re.search(rf"\n\.BR? {re.escape(roff)}(\n| )", page), f"{name} not in luxlogd(8)"
    for code in ("0", "1", "2", "69", "78"):
        assert f"\n.B {code}\n" in page
    assert f'"luxlogd {cli.__version__}"' in page.splitlines()[0]


@pytest.mark.skipif(
    not shutil.which("groff") and not os.environ.get("CI"),
    reason="formats the man page with groff (Debian package groff-base; CI has it)",
)
def test_the_man_page_formats_without_warnings():
    done = subprocess.run(
        ["groff", "-man", "-ww", "-z", str(REPO / "packaging" / "luxlogd.8")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_the_wheel_holds_every_subpackage_and_the_page():
    """A package directory pip would leave out (one without `__init__.py`, or outside
    pyproject's `include`) or a page file not declared as package data would be missing from
    pip installs (the .deb and .rpm copy the tree and would hide it)."""
    import tomllib

    from setuptools import find_packages

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(find_packages(str(REPO), **setuptools["packages"]["find"]))
    found = {
        ".".join(p.relative_to(REPO).parts)
        for p in (REPO / "luxlogd").rglob("*")
        if p.is_dir() and p.name not in ("__pycache__", "static")
    } | {"luxlogd"}
    assert found == listed
    data = setuptools["package-data"]
    assert data == {"luxlogd.outputs.web": ["static/*"]}
    assert (REPO / "luxlogd" / "outputs" / "web" / "static" / "index.html").is_file()

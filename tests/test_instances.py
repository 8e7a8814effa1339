"""Several heat pumps on one host: luxlogd@NAME (`--instance NAME`, $LUXLOGD_INSTANCE) has its
own configuration file, state directory, MQTT name and page, and the page links to the
others. (The packages boot two instances beside luxlogd.service under systemd:
tests/boot_scenario.py, step "instances".)"""

import json
import time
import urllib.request

import pytest

from luxlogd.base.errors import ConfigError
from luxlogd.cli import main
from luxlogd.config import load, load_config
from luxlogd.config.load import derived_mqtt_name
from luxlogd.health import status
from luxlogd.reports.schedule import internal_schedule_enabled
from tests.conftest import Provider


@pytest.fixture
def etc(tmp_path, monkeypatch):
    """/etc/luxlogd in a temporary directory."""
    directory = tmp_path / "etc"
    directory.mkdir()
    monkeypatch.setattr(load, "DEFAULT_CONFIG_PATH", directory / "luxlogd.toml")
    return directory


def test_an_instance_has_its_own_file_state_and_name(etc):
    (etc / "luxlogd.toml").write_text('[heatpump]\nhost = "10.0.0.1"\n')
    (etc / "cellar.toml").write_text('[heatpump]\nhost = "10.0.0.2"\n')
    plain = load_config(None, environ={})
    cellar = load_config(None, environ={}, instance="cellar")
    assert (plain.heatpump.host, cellar.heatpump.host) == ("10.0.0.1", "10.0.0.2")
    assert cellar.source == str(etc / "cellar.toml")
    assert str(cellar.state_dir) == "/var/lib/luxlogd/cellar"
    assert str(plain.state_dir) == "/var/lib/luxlogd"
    assert (cellar.mqtt.name, cellar.name, cellar.instance) == ("cellar", "cellar", "cellar")
    assert plain.mqtt.name == "heatpump_10_0_0_1" and plain.instance == ""
    # $LUXLOGD_INSTANCE as the template unit sets it; systemd's STATE_DIRECTORY wins.
    environ = {"LUXLOGD_INSTANCE": "cellar", "STATE_DIRECTORY": "/var/lib/luxlogd/cellar"}
    assert load_config(None, environ=environ).heatpump.host == "10.0.0.2"
    # An instance runs its roll-up inside (no timers of its own), also under systemd.
    assert internal_schedule_enabled(cellar, {"INVOCATION_ID": "x"}) is True
    assert internal_schedule_enabled(plain, {"INVOCATION_ID": "x"}) is False


def test_an_instance_name_is_checked_and_said_where_it_goes_wrong(etc, capsys):
    for bad in ("Cellar", "a b", "../x", "wal", "x" * 40):
        with pytest.raises(ConfigError):
            load_config(None, environ={}, instance=bad)
    assert main(["--instance", "a b", "check-config"]) == 78
    assert "instance: expected 1-32 lower-case letters" in capsys.readouterr().err
    # No file for the instance: the hint names its file and its unit.
    assert main(["--instance", "flat", "check-config"]) == 78
    err = capsys.readouterr().err
    assert f"set heatpump.host in {etc / 'flat.toml'}" in err and "luxlogd@flat" in err


@pytest.mark.parametrize(
    "instance, host, port, name",
    [
        ("cellar", "192.168.1.50", 8889, "cellar"),
        ("", "192.168.1.50", 8889, "heatpump_192_168_1_50"),
        ("", "wp.local", 8890, "heatpump_wp_local_8890"),
        ("", "", 8889, "heatpump"),
    ],
)
def test_the_default_mqtt_name_is_unique_per_heat_pump(instance, host, port, name):
    assert derived_mqtt_name(instance, host, port) == name


def test_the_page_lists_the_heat_pumps_of_this_host(tmp_path, monkeypatch):
    """/api/heatpumps: this one first, then every other luxlogd running here (their status
    files in /run), never a stale one."""
    run = tmp_path / "run"
    monkeypatch.setattr(status, "RUN_DIR", run)
    monkeypatch.setattr(status, "RUNTIME_STATUS_DIR", run / "luxlogd")
    now = time.time()
    others = {
        "luxlogd": {"name": "heatpump_10_0_0_1", "web_url": "http://pi:8088/", "updated": now},
        "luxlogd-flat": {"name": "flat", "instance": "flat", "web_url": None, "updated": now},
        "luxlogd-old": {"name": "old", "instance": "old", "updated": now - 3600},
    }
    for directory, body in others.items():
        (run / directory).mkdir(parents=True)
        (run / directory / "status.json").write_text(
            json.dumps({**body, "state_dir": f"/var/lib/{directory}", "reachable": True})
        )
    monkeypatch.setenv("LUXLOGD_STORAGE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LUXLOGD_WEB_LISTEN", "127.0.0.1:0")
    monkeypatch.setenv("LUXLOGD_INSTANCE", "cellar")
    from luxlogd.outputs.web.app import WebServer

    config = load_config(None)
    provider = Provider(None, now)
    provider.state.update(name=config.name, instance="cellar", state_dir=str(config.state_dir))
    server = WebServer(config, provider, time.time)
    host, port = server.start()
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/api/heatpumps", timeout=5) as answer:
            pumps = json.loads(answer.read())
    finally:
        server.stop()
    assert [(p["name"], p["this"]) for p in pumps] == [
        ("cellar", True),
        ("flat", False),
        ("heatpump_10_0_0_1", False),
    ]
    assert pumps[2]["web_url"] == "http://pi:8088/"

"""Shared fixtures: isolate every test from the machine's configuration and environment."""

import dataclasses
import os
import time

import pytest

from luxlogd.config import load_config
from luxlogd.outputs.web.app import WebServer
from luxlogd.store.writer import Storage


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No LUXLOGD_*, JOURNAL_STREAM or NOTIFY_SOCKET from the outside leaks into a test."""
    for name in list(os.environ):
        if name.startswith("LUXLOGD_") or name in (
            "JOURNAL_STREAM",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "STATE_DIRECTORY",
        ):
            monkeypatch.delenv(name)


@pytest.fixture
def timezone(monkeypatch):
    """Set the local time zone for one test (TZ needs time.tzset() to take effect)."""

    def set_zone(name):
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


class Provider:
    def __init__(self, poll, last_success, storage_ok=True):
        self.poll = poll
        self.state = {
            "polls_ok": 5,
            "polls_failed": 1,
            "polls_late": 0,
            "reachable": True,
            "last_success": last_success,
            "storage_ok": storage_ok,
            "last_poll_duration_s": 0.01,
            "status": "last poll now",
        }

    def status(self):
        return self.state

    def latest_poll(self):
        return self.poll


# Values no other field has: the controller's access codes and passwords in the web tests.
SECRET_VALUES = {
    106: 428_571_301,
    107: 428_571_302,
    **{index: 428_571_300 + index for index in range(755, 761)},
}


def with_secrets(poll):
    parameters = list(poll.parameters)
    for index, value in SECRET_VALUES.items():
        parameters[index] = value
    return dataclasses.replace(poll, parameters=tuple(parameters))


@pytest.fixture
def web(tmp_path, monkeypatch):
    """A server over a state directory holding two simulated hours with a 20-minute gap;
    yields start(token=, storage_ok=, last_success=) -> (base url, polls)."""
    monkeypatch.setenv("LUXLOGD_STORAGE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LUXLOGD_WEB_LISTEN", "127.0.0.1:0")
    from tests.helpers import simulated_polls

    polls = [with_secrets(p) for p in simulated_polls(240, start=time.time() - 7200)]
    del polls[100:140]  # 20 minutes without polls: a gap the page must show as one
    with Storage(tmp_path / "state", fdatasync=lambda fd: None) as storage:
        for poll in polls:
            storage.append(poll)
    servers = []

    def start(token="", storage_ok=True, last_success=None, reachable=True, quality_notes=()):
        if token:
            monkeypatch.setenv("LUXLOGD_WEB_TOKEN", token)
        config = load_config(None)
        provider = Provider(
            polls[-1], time.time() if last_success is None else last_success, storage_ok
        )
        provider.state["reachable"] = reachable
        provider.state["quality_notes"] = list(quality_notes)
        server = WebServer(config, provider, time.time)
        host, port = server.start()
        servers.append(server)
        return f"http://{host}:{port}", polls

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def broker(tmp_path):
    """start(**options) -> a mosquitto on 127.0.0.1 (tests/test_mqtt.py's Broker), stopped
    after the test."""
    from tests.helpers import require
    from tests.test_mqtt import Broker, paho

    require(paho is not None, "paho-mqtt for the subscriber", "pip install -e '.[test]'")
    started = []

    def start(**options):
        directory = tmp_path / f"broker{len(started)}"
        directory.mkdir()
        started.append(Broker(directory, **options))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def pytest_terminal_summary(terminalreporter):
    """The fault matrix's table in the log of every run that ran it (CI's too)."""
    import sys

    matrix = sys.modules.get("tests.test_fault_matrix")
    text = matrix.report() if matrix is not None else None
    if text:
        terminalreporter.section(
            "fault matrix: served by the test controller, stored, lost, "
            "in flight when killed, told by luxlogd"
        )
        terminalreporter.write_line(text)

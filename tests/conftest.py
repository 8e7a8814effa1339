"""Shared fixtures: isolate every test from the machine's configuration and environment."""

import os
import time

import pytest


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

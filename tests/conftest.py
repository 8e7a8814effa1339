"""Shared fixtures: isolate every test from the machine's configuration and environment."""

import os

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

"""`luxlogd doctor`: what is right and what is wrong, section by section, and what to do.

Read-only and safe beside a running daemon: one read of the heat pump (two when the first
fails), read-only SQLite, the write-ahead log read like any reader does. Each section has
findings (ok, info, warning, problem), each problem or warning a "what to do". The verdict
of a section is its worst finding; the exit code is 0 when nothing is a problem, 1 when
something is, 69 when the heat pump cannot be read.

Sections: connection and capabilities (heatpump.py), recorded data, integrity and
plausibility (records.py, plausibility.py); findings and their display (report.py).
"""

from __future__ import annotations

import time

from luxlogd.config import Config
from luxlogd.doctor import heatpump, records
from luxlogd.doctor.report import Report


def run(
    config: Config,
    *,
    host: str | None = None,
    port: int | None = None,
    timeout_s: float | None = None,
    heat_pump: bool = True,
    days: int = 14,
    full: bool = False,
    now: float | None = None,
) -> Report:
    """Every section; the heat pump ones only with `heat_pump`."""
    started = time.monotonic()
    now = time.time() if now is None else now
    sections = []
    unreachable = False
    if heat_pump:
        section, poll = heatpump.connection(
            host or config.heatpump.host,
            port or config.heatpump.port,
            timeout_s or min(config.heatpump.timeout_s, 10.0),
            config.state_dir,
            now,
        )
        sections.append(section)
        unreachable = poll is None
        if poll is not None:
            sections.append(heatpump.capabilities(poll))
    sections += records.sections(config, days=days, full=full, now=now)
    return Report(sections, unreachable, time.monotonic() - started)

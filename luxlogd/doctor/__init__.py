"""`luxlogd doctor`: what is right and what is wrong, section by section, and what to do.

Read-only and safe beside a running daemon: one read of the heat pump (two when the first
fails), read-only SQLite, the write-ahead log read like any reader does. Each section has
findings (ok, info, warning, problem), each problem or warning a "what to do". The verdict
of a section is its worst finding; the exit code is 0 when nothing is a problem, 1 when
something is, 69 when the heat pump cannot be read.

Sections: connection and capabilities (doctor/heatpump.py), recorded data, integrity and
plausibility (doctor/records.py).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from luxlogd.config import Config

LEVELS = ("ok", "info", "warning", "problem")
VERDICT_RANK = {"ok": 0, "info": 0, "warning": 1, "problem": 2}


@dataclass
class Finding:
    level: str  # ok, info, warning, problem
    text: str
    advice: str = ""  # what to do (warnings and problems)


@dataclass
class Section:
    name: str
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # for --format json
    details: list[str] = field(default_factory=list)  # extra lines of the text form

    def add(self, level: str, text: str, advice: str = "") -> Finding:
        assert level in LEVELS, level
        finding = Finding(level, text, advice)
        self.findings.append(finding)
        return finding

    @property
    def verdict(self) -> str:
        worst = max((VERDICT_RANK[f.level] for f in self.findings), default=0)
        return ("ok", "warning", "problem")[worst]


@dataclass
class Report:
    sections: list[Section]
    unreachable: bool = False  # the heat pump could not be read
    took_s: float = 0.0

    @property
    def exit_code(self) -> int:
        if self.unreachable:
            return 69
        return 1 if any(s.verdict == "problem" for s in self.sections) else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": max(
                (s.verdict for s in self.sections), key=VERDICT_RANK.__getitem__, default="ok"
            ),
            "exit_code": self.exit_code,
            "took_s": round(self.took_s, 3),
            "sections": [
                {
                    "name": s.name,
                    "verdict": s.verdict,
                    "findings": [asdict(f) for f in s.findings],
                    "facts": s.facts,
                }
                for s in self.sections
            ],
        }


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
    from luxlogd.doctor import heatpump, records

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


def format_text(report: Report) -> str:
    lines = []
    for section in report.sections:
        lines.append(f"{section.name.capitalize()}: {section.verdict}")
        for finding in section.findings:
            lines.append(f"  {finding.level:<8} {finding.text}")
            if finding.advice:
                lines.append(f"  {'':<8} what to do: {finding.advice}")
        lines += [f"  {'':<8} {line}" for line in section.details]
        lines.append("")
    problems = sum(f.level == "problem" for s in report.sections for f in s.findings)
    warnings = sum(f.level == "warning" for s in report.sections for f in s.findings)
    if report.unreachable:
        summary = "the heat pump cannot be read (exit 69)"
    elif problems:
        summary = f"{count(problems, 'problem')}, {count(warnings, 'warning')} (exit 1)"
    else:
        summary = f"no problems, {count(warnings, 'warning')}" if warnings else "all ok"
    lines.append(f"Verdict: {summary}; checked in {report.took_s:.1f} s")
    return "\n".join(lines) + "\n"


def format_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"


def clock_text(epoch_s: float) -> str:
    """Local time, to the minute."""
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def duration_text(seconds: float) -> str:
    """A duration people read at a glance: 45 s, 12 min, 3.5 h, 2.1 days, 1.3 years."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    if seconds < 2 * 365 * 86400:
        return f"{seconds / 86400:.1f} days"
    return f"{seconds / (365.25 * 86400):.1f} years"


def count(number: int, word: str) -> str:
    """1 gap, 2 gaps."""
    return f"{number:,} {word}" + ("" if number == 1 else "s")


def bytes_text(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover

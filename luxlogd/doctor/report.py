"""What doctor finds, and how it is shown: findings (ok, info, warning, problem) with what
to do, sections whose verdict is their worst finding, the report and its exit code."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from luxlogd.base.errors import EXIT_FAILURE, EXIT_OK, EXIT_UNAVAILABLE
from luxlogd.base.words import count, number, tr

SHOWN = 10  # at most this many items of one kind are listed (gaps, losses ...)
LEVELS = ("ok", "info", "warning", "problem")
SECTIONS = ("connection", "capabilities", "recorded data", "integrity", "plausibility")
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
            return EXIT_UNAVAILABLE
        problem = any(s.verdict == "problem" for s in self.sections)
        return EXIT_FAILURE if problem else EXIT_OK

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


def format_text(report: Report) -> str:
    lines = []
    for section in report.sections:
        title = tr(section.name)  # one of SECTIONS; the name stays English in --format json
        lines.append(f"{title[:1].upper() + title[1:]}: {tr(section.verdict)}")
        width = max(8, *(len(tr(level)) for level in LEVELS))
        for finding in section.findings:
            lines.append(f"  {tr(finding.level):<{width}} {finding.text}")
            if finding.advice:
                advice = tr("what to do: {advice}", advice=finding.advice)
                lines.append(f"  {'':<{width}} {advice}")
        lines += [f"  {'':<{width}} {line}" for line in section.details]
        lines.append("")
    problems = sum(f.level == "problem" for s in report.sections for f in s.findings)
    warnings = sum(f.level == "warning" for s in report.sections for f in s.findings)
    if report.unreachable:
        summary = tr("the heat pump cannot be read (exit 69)")
    elif problems:
        summary = tr(
            "{problems}, {warnings} (exit 1)",
            problems=count(problems, "problem"),
            warnings=count(warnings, "warning"),
        )
    else:
        summary = (
            tr("no problems, {warnings}", warnings=count(warnings, "warning"))
            if warnings
            else tr("all ok")
        )
    lines.append(
        tr(
            "Verdict: {summary}; checked in {took} s",
            summary=summary,
            took=number(report.took_s, 1),
        )
    )
    return "\n".join(lines) + "\n"


def format_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n"

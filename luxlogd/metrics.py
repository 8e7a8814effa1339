"""The Prometheus text exposition of the daemon's state and the newest poll."""

from __future__ import annotations

import math
from typing import Any

from luxlogd import sensors
from luxlogd.poll import GROUPS


def escape_label(value: str) -> str:
    """A Prometheus label value: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def render_metrics(status: dict[str, Any], poll: Any, stats: dict[str, Any]) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lines.append(f"{name}{labels} {value!r}")

    metric("luxlogd_polls_total", "counter", "Polls since the daemon started, by result.",
           [('{result="ok"}', float(status.get("polls_ok", 0))),
            ('{result="failed"}', float(status.get("polls_failed", 0)))])  # fmt: skip
    metric("luxlogd_polls_late_total", "counter", "Polls that started late or overran.",
           [("", float(status.get("polls_late", 0)))])  # fmt: skip
    metric("luxlogd_poll_duration_seconds", "gauge", "Duration of the last poll.",
           [("", float(status.get("last_poll_duration_s") or 0.0))])  # fmt: skip
    metric("luxlogd_last_success_timestamp_seconds", "gauge",
           "When the last poll was stored (Unix time).",
           [("", float(status.get("last_success") or 0.0))])  # fmt: skip
    metric("luxlogd_heatpump_reachable", "gauge", "1 when the last poll succeeded.",
           [("", 1.0 if status.get("reachable") else 0.0)])  # fmt: skip
    metric("luxlogd_wal_bytes", "gauge", "Bytes of the write-ahead log.",
           [("", float(stats.get("wal_bytes", 0)))])  # fmt: skip
    metric("luxlogd_database_bytes", "gauge", "Bytes of the SQLite database and its log.",
           [("", float(stats.get("database_bytes", 0)))])  # fmt: skip
    if poll is not None:
        samples = []
        for group in GROUPS:
            values = getattr(poll, group)
            for found in sensors.fields_for(group, len(values)):
                if not found.numeric or found.secret:
                    continue
                value = _number(sensors.decode_value(found, values))
                if value is None:
                    continue
                labels = (f'{{name="{escape_label(found.name)}",group="{group}",'
                          f'unit="{escape_label(found.unit or "")}"}}')  # fmt: skip
                samples.append((labels, value))
        metric("luxtronik_value", "gauge",
               "The newest value of each numeric field, decoded as luxtronik 0.3.14 does.",
               samples)  # fmt: skip
    return "\n".join(lines) + "\n"

"""The Prometheus exposition (text format 0.0.4): the heat pump's curated metric families,
named by the catalogue, and the daemon's own health.

Conventions (the Prometheus naming guide, node_exporter): one unit per metric and in its
name (energy in kWh, as the controller counts it and owners read it), `_total` counters
typed as counters, state sets for enumerations, info metrics for build and firmware.
While the heat pump is unreachable no luxtronik_* value is served as if current:
luxlogd_heatpump_reachable 0 and luxlogd_last_success_timestamp_seconds say why. Secrets
never appear; every raw field only with metrics.raw = true.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from luxlogd import __version__
from luxlogd.health.counters import DURATION_BUCKETS
from luxlogd.health.status import DaemonStatus
from luxlogd.heatpump import catalogue, sensors
from luxlogd.heatpump.catalogue import Sensor
from luxlogd.heatpump.poll import Poll
from luxlogd.heatpump.protocol import GROUPS

# kind -> (family, help, type, scale applied to the decoded value)
FAMILIES: dict[str, tuple[str, str, str, float]] = {
    "temperature": ("luxtronik_temperature_celsius", "Temperature.", "gauge", 1.0),
    "temperature_difference": (
        "luxtronik_temperature_difference_kelvin",
        "Temperature difference (superheat).",
        "gauge",
        1.0,
    ),
    "heat_energy": (
        "luxtronik_heat_energy_kwh_total",
        "Heat produced since the counter began, by circuit.",
        "counter",
        1.0,
    ),
    "electric_energy": (
        "luxtronik_electric_energy_kwh_total",
        "Electric energy used since the counter began, by circuit.",
        "counter",
        1.0,
    ),
    "operating_time": (
        "luxtronik_operating_seconds_total",
        "Time a component has run, by component.",
        "counter",
        1.0,
    ),
    "starts": ("luxtronik_compressor_starts_total", "Compressor starts.", "counter", 1.0),
    "output": ("luxtronik_output", "An output of the controller: 1 on, 0 off.", "gauge", 1.0),
    "input": ("luxtronik_input", "An input of the controller: 1 on, 0 off.", "gauge", 1.0),
    "power": ("luxtronik_heat_output_watts", "Heat output now.", "gauge", 1.0),
    "electric_power": (
        "luxtronik_electric_power_watts",
        "Electric power input now (newer firmware).",
        "gauge",
        1.0,
    ),
    "flow_rate": ("luxtronik_flow_rate_liters_per_hour", "Flow rate.", "gauge", 1.0),
    "pressure": ("luxtronik_pressure_bar", "Refrigerant pressure.", "gauge", 1.0),
    "percent": ("luxtronik_pump_speed_ratio", "Pump speed or control, 0 to 1.", "gauge", 0.01),
    "speed": ("luxtronik_fan_speed_rpm", "Fan speed.", "gauge", 1.0),
    "frequency": ("luxtronik_compressor_frequency_hertz", "Compressor frequency.", "gauge", 1.0),
    "duration": (
        "luxtronik_duration_seconds",
        "How long a state has lasted or will last (status, run, defrost in).",
        "gauge",
        1.0,
    ),
}
STATE_SETS = {  # catalogue key -> metric family of its state set
    "operating_mode": "luxtronik_operating_mode",
    "status_line_1": "luxtronik_status_line_1",
    "status_line_3": "luxtronik_status_line_3",
    "heating_mode": "luxtronik_heating_mode",
    "hot_water_mode": "luxtronik_hot_water_mode",
}


def escape_label(value: str) -> str:
    """A Prometheus label value: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs)
    return f"{{{inner}}}" if inner else ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


@dataclass
class Exposition:
    """Families in the order first seen; each written once with its HELP and TYPE."""

    families: dict[str, tuple[str, str, list[str]]] = field(default_factory=dict)

    def add(
        self,
        name: str,
        kind: str,
        help_text: str,
        value: float,
        labels: Iterable[tuple[str, str]] = (),
        suffix: str = "",
    ) -> None:
        entry = self.families.setdefault(name, (kind, help_text, []))
        entry[2].append(f"{name}{suffix}{_labels(labels)} {value!r}")

    def text(self) -> str:
        lines = []
        for name, (kind, help_text, samples) in self.families.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]
        return "\n".join(lines) + "\n"


def _sensor_value(sensor: Sensor, poll: Poll) -> float | None:
    return _number(sensors.reading(poll, sensor))  # not connected: no temperature


def _heat_pump(out: Exposition, poll: Poll, raw: bool) -> None:
    firmware = sensors.value(poll, "firmware")
    heat_pump_type = sensors.value(poll, "heat_pump_type")
    info = [("firmware", str(firmware or "")), ("heatpump_type", str(heat_pump_type or ""))]
    out.add("luxtronik_info", "gauge", "The controller: firmware and heat pump type.", 1.0, info)
    for sensor in catalogue.SENSORS:
        if sensor.key in STATE_SETS:
            continue
        family = FAMILIES.get(sensor.kind)
        if family is None:
            continue
        value = _sensor_value(sensor, poll)
        if value is None:
            continue
        name, help_text, kind, scale = family
        label = sensor.label or ("sensor", sensor.key)
        out.add(name, kind, help_text, value * scale, [label])
    for key, set_name in STATE_SETS.items():
        sensor = catalogue.by_key()[key]
        values = poll.array(sensor.group)
        if sensor.index >= len(values) or sensor.states is None:
            continue
        code = values[sensor.index]
        states = catalogue.STATES[sensor.states]
        help_text = f"{sensor.en}: 1 for the state it is in (a state set)."
        for state_code, (english, _) in states.items():
            out.add(
                set_name, "gauge", help_text, float(state_code == code), [("state", snake(english))]
            )
        if code not in states:
            out.add(set_name, "gauge", help_text, 1.0, [("state", f"unknown_{code}")])
    for prefix, table, log in (
        ("luxtronik_last_error", "error", catalogue.ERROR_LOG),
        ("luxtronik_last_switch_off", "switch_off", catalogue.SWITCH_OFF_LOG),
    ):
        entries = sorted(
            (poll.calculations[t], poll.calculations[c])
            for t, c in log
            if c < len(poll.calculations) and poll.calculations[t]
        )
        if entries:
            stamp, code = entries[-1]
            text = catalogue.state_text(table, code) or ""
            out.add(
                f"{prefix}_timestamp_seconds",
                "gauge",
                f"When the newest entry of the controller's {table} log was made.",
                float(stamp),
            )
            out.add(
                f"{prefix}_code",
                "gauge",
                f"The code of the newest entry of the controller's {table} log.",
                float(code),
                [("meaning", text)],
            )
    if raw:
        for group in GROUPS:
            values = poll.array(group)
            for found in sensors.fields_for(group, len(values)):
                if not found.numeric or found.secret:
                    continue
                value = _number(sensors.decode_value(found, values))
                if value is not None:
                    out.add(
                        "luxtronik_raw_value",
                        "gauge",
                        "Every numeric field, decoded as luxtronik 0.3.14 does (metrics.raw).",
                        value,
                        [("name", found.name), ("group", group)],
                    )


def _daemon(out: Exposition, status: DaemonStatus, sizes: dict[str, Any]) -> None:
    out.add(
        "luxlogd_build_info",
        "gauge",
        "The luxlogd that serves these metrics, and the heat pump's name (the instance's).",
        1.0,
        [("version", __version__), ("heatpump", str(status.get("name") or ""))],
    )
    polls = "Polls since the daemon started, by result."
    out.add(
        "luxlogd_polls_total",
        "counter",
        polls,
        float(status.get("polls_ok", 0)),
        [("result", "ok")],
    )
    out.add(
        "luxlogd_polls_total",
        "counter",
        polls,
        float(status.get("polls_failed", 0)),
        [("result", "failed")],
    )
    out.add(
        "luxlogd_polls_slow_total",
        "counter",
        "Polls whose read took longer than poll.interval_s.",
        float(status.get("polls_slow", 0)),
    )
    out.add(
        "luxlogd_polls_late_total",
        "counter",
        "Polls that started late or overran.",
        float(status.get("polls_late", 0)),
    )
    out.add(
        "luxlogd_poll_slots_skipped_total",
        "counter",
        "Poll slots passed while a poll ran (never silently).",
        float(status.get("slots_skipped", 0)),
    )
    histogram = "How long polls took (read and store)."
    counts = status.get("durations") or [0] * (len(DURATION_BUCKETS) + 1)
    cumulative = 0
    for bound, count in zip([*DURATION_BUCKETS, math.inf], counts, strict=True):
        cumulative += count
        out.add(
            "luxlogd_poll_duration_seconds",
            "histogram",
            histogram,
            float(cumulative),
            [("le", "+Inf" if bound == math.inf else repr(bound))],
            "_bucket",
        )
    out.add(
        "luxlogd_poll_duration_seconds",
        "histogram",
        histogram,
        float(status.get("duration_sum_s") or 0.0),
        suffix="_sum",
    )
    out.add(
        "luxlogd_poll_duration_seconds", "histogram", histogram, float(cumulative), suffix="_count"
    )
    out.add(
        "luxlogd_last_success_timestamp_seconds",
        "gauge",
        "When the last poll was stored (Unix time; 0: none yet).",
        float(status.get("last_success") or 0.0),
    )
    out.add(
        "luxlogd_heatpump_reachable",
        "gauge",
        "1 when the last poll succeeded.",
        1.0 if status.get("reachable") else 0.0,
    )
    out.add(
        "luxlogd_storage_ok",
        "gauge",
        "1 when storage works (else polls wait in the WAL, or in memory).",
        1.0 if status.get("storage_ok") else 0.0,
    )
    out.add(
        "luxlogd_polls_pending",
        "gauge",
        "Polls read but kept in memory while storage fails (not yet acknowledged).",
        float(status.get("polls_pending") or 0),
    )
    out.add(
        "luxlogd_polls_lost_total",
        "counter",
        "Polls that damage to stored data or a long storage failure took, ever "
        "(luxlogd doctor lists each loss).",
        float(status.get("polls_lost_total") or 0),
    )
    out.add(
        "luxlogd_clock_suspect",
        "gauge",
        "1 while the system clock disagrees with the heat pump's and the store's history "
        "(polls are kept apart).",
        1.0 if status.get("clock_suspect") else 0.0,
    )
    for key, help_text in (
        ("wal_bytes", "Bytes of the write-ahead log."),
        ("database_bytes", "Bytes of the SQLite database and its log."),
        ("disk_free_bytes", "Free bytes on the state directory's file system."),
    ):
        if sizes.get(key) is not None:
            out.add(f"luxlogd_{key}", "gauge", help_text, float(sizes[key]))
    for key, help_text in (
        ("rollup_success", "When the last roll-up finished (Unix time)."),
        ("rollup_failure", "When the last roll-up failed (Unix time)."),
    ):
        if sizes.get(key) is not None:
            out.add(f"luxlogd_last_{key}_timestamp_seconds", "gauge", help_text, float(sizes[key]))
    for check, count in sorted((status.get("quality") or {}).items()):
        out.add(
            "luxlogd_data_quality_problems_total",
            "counter",
            "Implausible readings found when storing polls (stored unchanged), by check.",
            float(count),
            [("check", check)],
        )
    mqtt = status.get("mqtt")
    if mqtt is not None:
        out.add(
            "luxlogd_mqtt_connected",
            "gauge",
            "1 while connected to the MQTT broker.",
            1.0 if mqtt.get("connected") else 0.0,
        )
        out.add(
            "luxlogd_mqtt_messages_total",
            "counter",
            "MQTT messages published.",
            float(mqtt.get("published", 0)),
        )


def render_metrics(
    status: DaemonStatus, poll: Poll | None, sizes: dict[str, Any], raw: bool = False
) -> str:
    """The whole exposition; the heat pump's values only while it is reachable."""
    out = Exposition()
    _daemon(out, status, sizes)
    if poll is not None and status.get("reachable"):
        _heat_pump(out, poll, raw)
    return out.text()

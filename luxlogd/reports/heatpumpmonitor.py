"""A period's daily rows under HeatpumpMonitor.org's column names (its daily-stats schema,
myheatpump_schema.php), so that an owner can hold a system against the public dataset."""

from __future__ import annotations

from typing import Any

from luxlogd.reports.performance import MODES

# HeatpumpMonitor.org's daily-stats columns (myheatpump_schema.php) from ours; the combined
# temperature means there are over all polls, "running_" ones over running polls.
HEATPUMPMONITOR = {
    "combined_elec_kwh": "combined_elec_kwh",
    "combined_heat_kwh": "combined_heat_kwh",
    "combined_cop": "combined_cop",
    "combined_flowT_mean": "flow_mean_c",
    "combined_returnT_mean": "return_mean_c",
    "combined_outsideT_mean": "outdoor_mean_c",
    "combined_prc_carnot": "combined_prc_carnot",
    "combined_starts": "combined_starts",
    "combined_starts_per_hour": "starts_per_running_hour",
    "running_elec_kwh": "combined_elec_kwh",
    "running_heat_kwh": "combined_heat_kwh",
    "running_cop": "combined_cop",
    "running_flowT_mean": "combined_flow_mean_c",
    "running_returnT_mean": "combined_return_mean_c",
    "running_outsideT_mean": "combined_outdoor_mean_c",
    "running_prc_carnot": "combined_prc_carnot",
    **{
        f"{mode}_{theirs}": f"{mode}_{ours}"
        for mode in MODES
        for theirs, ours in (
            ("elec_kwh", "elec_kwh"),
            ("heat_kwh", "heat_kwh"),
            ("cop", "cop"),
            ("flowT_mean", "flow_mean_c"),
            ("returnT_mean", "return_mean_c"),
            ("outsideT_mean", "outdoor_mean_c"),
            ("prc_carnot", "prc_carnot"),
        )
    },
    "weighted_flowT": "weighted_flow_c",
    "weighted_flowT_minus_outsideT": "weighted_flow_minus_outdoor_k",
    "weighted_flowT_minus_returnT": "weighted_flow_minus_return_k",
    "immersion_kwh": "backup_heater_kwh",
    "quality_flowT": "data_quality_percent",
    "quality_returnT": "data_quality_percent",
    "quality_outsideT": "data_quality_percent",
}
COLUMNS = ["timestamp", "date", "combined_data_length", *HEATPUMPMONITOR]


def row(ours: dict[str, Any], start_ms: int, polls: int, interval_s: float) -> dict[str, Any]:
    """One day's row under HeatpumpMonitor.org's column names (timestamp: the day's start,
    data length: the seconds the stored polls cover)."""
    theirs: dict[str, Any] = {
        "timestamp": start_ms // 1000,
        "date": ours["date"],
        "combined_data_length": round(polls * interval_s),
    }
    theirs.update({name: ours.get(key) for name, key in HEATPUMPMONITOR.items()})
    return theirs

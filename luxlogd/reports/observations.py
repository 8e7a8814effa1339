"""A period's figures in a few plain sentences, English or German, each with its numbers and
never advice; a line appears when its threshold (named here and in the README) is met."""

from __future__ import annotations

from typing import Any

from luxlogd.reports.performance import COLD_C, SHORT_RUN_MIN, Performance

# When an observation is worth a line (README: "Observations").
SHORT_CYCLING_SHARE = 20.0  # % of runs under SHORT_RUN_MIN
DATA_QUALITY_BELOW = 95.0  # % of polls due


def _number(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def observations(row: dict[str, Any], perf: Performance, language: str = "en") -> list[str]:
    """A few plain sentences about a period's figures, each with its numbers; never advice."""
    german = language == "de"
    lines: list[str] = []
    runs, short = row["runs"], row["short_cycles"]
    if runs and 100 * short / runs >= SHORT_CYCLING_SHARE:
        share, days = _number(100 * short / runs, 0), perf.short_cycle_days
        median = _number(row["run_minutes_median"])
        lines.append(
            f"Taktung: {share} % der Läufe kürzer als {SHORT_RUN_MIN:.0f} Minuten an {days} "
            f"Tagen (Median {median} min)"
            if german
            else f"short cycling: {share} % of runs under {SHORT_RUN_MIN:.0f} minutes on "
            f"{days} days (median run {median} min)"
        )
    hours, backup_kwh = row["backup_heater_hours"], row["backup_heater_kwh"]
    if hours:
        heat = row["combined_heat_kwh"]
        share_text = ""
        if backup_kwh and heat:
            share = _number(100 * backup_kwh / (heat + backup_kwh))
            share_text = f" ({share} % der Wärme)" if german else f" ({share} % of heat)"
        lines.append(
            f"Zweiter Wärmeerzeuger lief {_number(hours)} h{share_text}"
            if german
            else f"backup heater ran {_number(hours)} h{share_text}"
        )
    if perf.defrost_cold_s and perf.running_cold_s:
        share = _number(100 * perf.defrost_cold_s / perf.running_cold_s)
        lines.append(
            f"Abtauen brauchte {share} % der Laufzeit unter {COLD_C:.0f} °C"
            if german
            else f"defrosting took {share} % of running time below {COLD_C:.0f} °C"
        )
    water, combined = row["water_elec_kwh"], row["combined_elec_kwh"]
    if water and combined and row["water_cop"] is not None:
        share, cop = _number(100 * water / combined, 0), _number(row["water_cop"])
        lines.append(
            f"Warmwasser brauchte {share} % des Stroms bei COP {cop}"
            if german
            else f"hot water used {share} % of the electricity at COP {cop}"
        )
    if row["space_cop"] is not None:
        cop = _number(row["space_cop"])
        carnot = row["space_prc_carnot"]
        tail = "" if carnot is None else f", {_number(carnot, 0)} % of the Carnot limit"
        if german:
            tail = "" if carnot is None else f", {_number(carnot, 0)} % des Carnot-Limits"
        flow = row["weighted_flow_c"]
        flow_text = "" if flow is None else f" (flow {_number(flow)} °C heat-weighted)"
        if german:
            flow_text = "" if flow is None else f" (Vorlauf {_number(flow)} °C wärmegewichtet)"
        lines.append(
            f"Heizen lief mit COP {cop}{tail}{flow_text}"
            if german
            else f"space heating ran at COP {cop}{tail}{flow_text}"
        )
    quality = row["data_quality_percent"]
    if quality is not None and quality < DATA_QUALITY_BELOW:
        lines.append(
            f"Daten: {_number(quality)} % der fälligen Abfragen gespeichert; Zahlen mit Lücken"
            if german
            else f"data: {_number(quality)} % of the polls due were stored; figures have gaps"
        )
    return [line.replace(".", ",") for line in lines] if german else lines  # 13,9 h

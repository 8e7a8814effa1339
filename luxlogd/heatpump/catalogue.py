"""What the sensors owners care about are: one row each, the single place that says so.

Each row gives a stable key, where the value lives (group, index), its kind, unit, English
and German label, the range a working installation stays in, and, for the few fields
luxtronik 0.3.14 leaves undecoded, our scale (an extra, documented field: the luxtronik
name still decodes to the raw integer). Also here: the meaning of the controller's state
codes, error codes and switch-off reasons, and its secrets. sensors.py is the API on top.
Long by nature (a data table), hence over 400 lines.

Sources: luxtronik 0.3.14's tables (names, types, state texts), the Alpha Innotec / Novelan
manuals' error list (701-793), python-luxtronik's later tables for parameters 1136-1139
(electric energy in, 0.01 kWh: heating, hot water, -, cooling) and the newer fields
(calculations 232-268, parameters 1087-1159), the research notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

C, P = "calculations", "parameters"

# Kinds: what a value is, which decides its metric, its Home Assistant class, its checks.
KINDS = (
    "temperature",
    "temperature_difference",
    "heat_energy",
    "electric_energy",
    "operating_time",
    "starts",
    "output",
    "input",
    "state",
    "power",
    "electric_power",
    "flow_rate",
    "pressure",
    "percent",
    "speed",
    "frequency",
    "duration",
    "timestamp",
    "text",
    "code",
    "setting",
)
COUNTER_KINDS = ("heat_energy", "electric_energy", "operating_time", "starts")


@dataclass(frozen=True)
class Sensor:
    key: str
    group: str
    index: int
    kind: str
    unit: str | None
    en: str
    de: str
    low: float | None = None  # the plausible range (data-quality checks)
    high: float | None = None
    scale: float | None = None  # our decoding of a field luxtronik 0.3.14 leaves Unknown
    states: str | None = None  # the STATES table that names its codes
    label: tuple[str, str] | None = None  # metric label (name, value); default sensor=key
    well_known: bool = True  # in the curated set (page, metrics, MQTT) by default

    @property
    def counter(self) -> bool:
        return self.kind in COUNTER_KINDS

    def text(self, language: str) -> str:
        return self.de if language == "de" else self.en

    def not_connected(self, value: Any) -> bool:
        """Whether `value` says the sensor is not connected: an unconnected temperature
        sensor reads a rail value (RAILS; 75.0 only where the plausible range ends below)."""
        if self.kind != "temperature" or value not in RAILS:
            return False
        return value != 75.0 or (self.high if self.high is not None else 150) < 75


def _t(
    key: str,
    index: int,
    en: str,
    de: str,
    low: float = -20,
    high: float = 90,
    *,
    well_known: bool = True,
) -> Sensor:
    return Sensor(key, C, index, "temperature", "°C", en, de, low, high, well_known=well_known)


def _out(key: str, index: int, en: str, de: str, *, well_known: bool = True) -> Sensor:
    return Sensor(
        key, C, index, "output", None, en, de, 0, 1, label=("output", key), well_known=well_known
    )


def _in(key: str, index: int, en: str, de: str) -> Sensor:
    return Sensor(
        key, C, index, "input", None, en, de, 0, 1, label=("input", key), well_known=False
    )


def _hours(
    key: str, index: int, component: str, en: str, de: str, *, well_known: bool = True
) -> Sensor:
    return Sensor(
        key,
        C,
        index,
        "operating_time",
        "s",
        en,
        de,
        0,
        2e9,
        label=("component", component),
        well_known=well_known,
    )


# fmt: off
SENSORS: tuple[Sensor, ...] = (
    # Temperatures: 0.1 K steps; an unconnected sensor reads a rail value, see RAILS.
    _t("flow", 10, "Flow", "Vorlauf"),
    _t("return", 11, "Return", "Rücklauf"),
    _t("return_target", 12, "Return set point", "Rücklauf-Soll", 0, 80),
    _t("return_external", 13, "Return, external", "Rücklauf extern", well_known=False),
    _t("hot_gas", 14, "Hot gas", "Heißgas", -20, 150),
    _t("outdoor", 15, "Outdoor", "Außentemperatur", -40, 50),
    _t("outdoor_average", 16, "Outdoor, average", "Außentemperatur Mittel", -40, 50),
    _t("hot_water", 17, "Hot water", "Warmwasser-Ist", 0, 95),
    _t("hot_water_target", 18, "Hot water set point", "Warmwasser-Soll", 0, 95),
    _t("heat_source_in", 19, "Heat source in", "Wärmequelle Eintritt", -40, 50),
    _t("heat_source_out", 20, "Heat source out", "Wärmequelle Austritt", -40, 50),
    _t("mixing_circuit_1_flow", 21, "Mixing circuit 1 flow", "Mischkreis 1 Vorlauf",
       well_known=False),
    _t("mixing_circuit_1_target", 22, "Mixing circuit 1 set point", "Mischkreis 1 Vorlauf-Soll",
       0, 80, well_known=False),
    _t("room_remote", 23, "Room (remote adjuster)", "Raum (Fernversteller)", 0, 40,
       well_known=False),
    _t("mixing_circuit_2_flow", 24, "Mixing circuit 2 flow", "Mischkreis 2 Vorlauf",
       well_known=False),
    _t("mixing_circuit_2_target", 25, "Mixing circuit 2 set point", "Mischkreis 2 Vorlauf-Soll",
       0, 80, well_known=False),
    _t("solar_collector", 26, "Solar collector", "Solarkollektor", -40, 200, well_known=False),
    _t("solar_tank", 27, "Solar tank", "Solarspeicher", 0, 100, well_known=False),
    _t("external_source", 28, "External energy source", "Externe Energiequelle", -20, 100,
       well_known=False),
    _t("suction_evaporator", 175, "Suction, evaporator", "Ansaug Verdampfer", -40, 50),
    _t("suction_compressor", 176, "Suction, compressor", "Ansaug Verdichter", -40, 50),
    _t("compressor_heating", 177, "Compressor heating", "Verdichterheizung", -20, 100,
       well_known=False),
    Sensor("superheat", C, 178, "temperature_difference", "K", "Superheat", "Überhitzung",
           -5, 40),
    Sensor("superheat_target", C, 179, "temperature_difference", "K", "Superheat set point",
           "Überhitzung Soll", -5, 40),
    _t("room", 227, "Room (control unit)", "Raum (Bedienteil)", 0, 40, well_known=False),
    _t("room_target", 228, "Room set point (control unit)", "Raum-Soll (Bedienteil)", 0, 40,
       well_known=False),
    _t("hot_water_top", 229, "Hot water, top", "Warmwasser oben", 0, 95, well_known=False),
    # Pressures and flow rates.
    Sensor("high_pressure", C, 180, "pressure", "bar", "High pressure", "Hochdruck", 0, 45),
    Sensor("low_pressure", C, 181, "pressure", "bar", "Low pressure", "Niederdruck", 0, 25),
    Sensor("flow_rate_heat_meter", C, 155, "flow_rate", "l/h", "Flow rate (heat meter)",
           "Durchfluss (Wärmemengenzähler)", 0, 10_000),
    Sensor("flow_rate_heat_source", C, 173, "flow_rate", "l/h", "Flow rate, heat source",
           "Durchfluss Wärmequelle", 0, 20_000, well_known=False),
    Sensor("flow_rate", C, 254, "flow_rate", "l/h", "Flow rate", "Durchfluss", 0, 10_000),
    # Power and speeds.
    Sensor("heat_output", C, 257, "power", "W", "Heat output", "Heizleistung", 0, 50_000),
    Sensor("compressor_frequency", C, 231, "frequency", "Hz", "Compressor frequency",
           "Verdichterfrequenz", 0, 150),
    Sensor("heating_pump_speed", C, 241, "percent", "%", "Heating pump speed",
           "Heizungspumpe Leistung", 0, 100, label=("pump", "heating")),
    Sensor("heating_pump_control", C, 183, "percent", "%", "Heating pump control (PWM)",
           "Heizungspumpe Ansteuerung (PWM)", 0, 100, label=("pump", "heating_control"),
           well_known=False),
    Sensor("fan_speed", C, 184, "speed", "rpm", "Fan speed", "Ventilatordrehzahl", 0, 3000,
           well_known=False),
    # Outputs, each on or off.
    _out("compressor", 44, "Compressor 1", "Verdichter 1"),
    _out("compressor_2", 45, "Compressor 2", "Verdichter 2", well_known=False),
    _out("heating_pump", 39, "Heating pump", "Heizungsumwälzpumpe"),
    _out("hot_water_pump", 38, "Hot water pump", "Warmwasserumwälzpumpe"),
    _out("heat_source_pump", 43, "Fan / heat source pump", "Ventilator / Wärmequellenpumpe"),
    _out("defrost_valve", 37, "Defrost valve", "Abtauventil"),
    _out("circulation_pump", 46, "Circulation pump", "Zirkulationspumpe"),
    _out("additional_pump", 47, "Additional circulation pump", "Zusatzumwälzpumpe",
         well_known=False),
    _out("second_heater_1", 48, "Second heat generator 1", "Zweiter Wärmeerzeuger 1"),
    _out("second_heater_2", 49, "Second heat generator 2 / fault", "ZWE 2 / Sammelstörung",
         well_known=False),
    _out("second_heater_3", 50, "Second heat generator 3 / fault", "ZWE 3 / Sammelstörung",
         well_known=False),
    _out("mixer_1_open", 40, "Mixer 1 opening", "Mischer 1 auf", well_known=False),
    _out("mixer_1_close", 41, "Mixer 1 closing", "Mischer 1 zu", well_known=False),
    _out("ventilation", 42, "Ventilation", "Lüftung", well_known=False),
    _out("mixing_circuit_2_pump", 51, "Mixing circuit 2 pump", "Pumpe Mischkreis 2",
         well_known=False),
    _out("solar_pump", 52, "Solar pump", "Solarpumpe", well_known=False),
    _out("pool_pump", 53, "Pool pump", "Schwimmbadpumpe", well_known=False),
    # Inputs, each on or off.
    _in("defrost_end_input", 29, "Defrost end / brine pressure / flow switch",
        "Abtauende / Soledruck / Durchfluss"),
    _in("hot_water_thermostat", 30, "Hot water thermostat", "Warmwasserthermostat"),
    _in("utility_lock_input", 31, "Utility lock (EVU) input", "EVU-Eingang"),
    _in("high_pressure_switch", 32, "High-pressure switch", "Hochdruckpressostat"),
    _in("motor_protection", 33, "Motor protection", "Motorschutz"),
    _in("low_pressure_switch", 34, "Low-pressure switch", "Niederdruckpressostat"),
    _in("anode_input", 35, "Impressed-current anode", "Fremdstromanode"),
    _in("pool_thermostat", 36, "Pool thermostat", "Schwimmbadthermostat"),
    # Counters: they only grow.
    _hours("compressor_time", 56, "compressor_1", "Compressor 1 operating time",
           "Betriebszeit Verdichter 1"),
    Sensor("compressor_starts", C, 57, "starts", None, "Compressor 1 starts",
           "Impulse Verdichter 1", 0, 2e9, label=("compressor", "1")),
    _hours("compressor_2_time", 58, "compressor_2", "Compressor 2 operating time",
           "Betriebszeit Verdichter 2", well_known=False),
    Sensor("compressor_2_starts", C, 59, "starts", None, "Compressor 2 starts",
           "Impulse Verdichter 2", 0, 2e9, label=("compressor", "2"), well_known=False),
    _hours("second_heater_1_time", 60, "second_heater_1", "Second heat generator 1 time",
           "Betriebszeit ZWE 1"),
    _hours("second_heater_2_time", 61, "second_heater_2", "Second heat generator 2 time",
           "Betriebszeit ZWE 2", well_known=False),
    _hours("heat_pump_time", 63, "heat_pump", "Heat pump operating time",
           "Betriebszeit Wärmepumpe"),
    _hours("heating_time", 64, "heating", "Heating operating time", "Betriebszeit Heizung"),
    _hours("hot_water_time", 65, "hot_water", "Hot water operating time",
           "Betriebszeit Warmwasser"),
    _hours("cooling_time", 66, "cooling", "Cooling operating time", "Betriebszeit Kühlung",
           well_known=False),
    Sensor("heat_heating", C, 151, "heat_energy", "kWh", "Heat produced, heating",
           "Wärmemenge Heizung", 0, 1e8, label=("circuit", "heating")),
    Sensor("heat_hot_water", C, 152, "heat_energy", "kWh", "Heat produced, hot water",
           "Wärmemenge Warmwasser", 0, 1e8, label=("circuit", "hot_water")),
    Sensor("heat_pool", C, 153, "heat_energy", "kWh", "Heat produced, pool",
           "Wärmemenge Schwimmbad", 0, 1e8, label=("circuit", "pool"), well_known=False),
    Sensor("heat_total", C, 154, "heat_energy", "kWh", "Heat produced, total",
           "Wärmemenge gesamt", 0, 1e8, label=("circuit", "total")),
    Sensor("electric_heating", P, 1136, "electric_energy", "kWh", "Electric energy, heating",
           "Energieeinsatz Heizung", 0, 1e8, scale=0.01, label=("circuit", "heating")),
    Sensor("electric_hot_water", P, 1137, "electric_energy", "kWh",
           "Electric energy, hot water", "Energieeinsatz Warmwasser", 0, 1e8, scale=0.01,
           label=("circuit", "hot_water")),
    Sensor("electric_cooling", P, 1139, "electric_energy", "kWh", "Electric energy, cooling",
           "Energieeinsatz Kühlung", 0, 1e8, scale=0.01, label=("circuit", "cooling"),
           well_known=False),
    # Newer firmware (V3.88 on): fields python-luxtronik's later tables name and 0.3.14 calls
    # Unknown_*. Ours to decode (scale), so naming them decodes the stored history too.
    Sensor("vaporisation", C, 232, "temperature", "°C", "Evaporating temperature",
           "Verdampfungstemperatur", -50, 40, scale=0.1, well_known=False),
    Sensor("liquefaction", C, 233, "temperature", "°C", "Condensing temperature",
           "Verflüssigungstemperatur", -20, 90, scale=0.1, well_known=False),
    Sensor("compressor_frequency_target", C, 236, "frequency", "Hz",
           "Compressor frequency set point", "Verdichterfrequenz Soll", 0, 150, scale=1.0,
           well_known=False),
    Sensor("compressor_frequency_min", C, 237, "frequency", "Hz", "Compressor frequency minimum",
           "Verdichterfrequenz Minimum", 0, 150, scale=1.0, well_known=False),
    Sensor("compressor_frequency_max", C, 238, "frequency", "Hz", "Compressor frequency maximum",
           "Verdichterfrequenz Maximum", 0, 150, scale=1.0, well_known=False),
    Sensor("heat_source_spread_target", C, 239, "temperature_difference", "K",
           "Heat source spread set point", "Spreizung Wärmequelle Soll", -10, 30, scale=0.1,
           well_known=False),
    Sensor("heat_source_spread", C, 240, "temperature_difference", "K", "Heat source spread",
           "Spreizung Wärmequelle Ist", -10, 30, scale=0.1, well_known=False),
    Sensor("heating_spread_target", C, 242, "temperature_difference", "K",
           "Heating spread set point", "Spreizung Heizung Soll", -10, 30, scale=0.1,
           well_known=False),
    Sensor("heating_spread", C, 243, "temperature_difference", "K", "Heating spread",
           "Spreizung Heizung Ist", -30, 30, scale=0.1, well_known=False),
    Sensor("room_desired", C, 267, "temperature", "°C", "Room temperature desired",
           "Raumtemperatur gewünscht", 0, 40, scale=0.1, well_known=False),
    Sensor("electric_power", C, 268, "electric_power", "W", "Electric power input",
           "Elektrische Leistungsaufnahme", 0, 30_000, scale=1.0, well_known=False),
    Sensor("silent_mode", P, 1087, "setting", None, "Silent mode", "Flüstermodus", 0, 1,
           scale=1.0, states="on_off", well_known=False),
    Sensor("last_defrost", P, 1119, "timestamp", None, "Last defrost", "Letzte Abtauung",
           scale=1.0, well_known=False),
    # The second heat generator's heat, in 0.1 kWh as luxtronik's Energy type and 1059
    # (ID_Waermemenge_ZWE) count: by analogy, not checked on a real controller.
    Sensor("heat_second_heater", P, 1140, "heat_energy", "kWh",
           "Heat produced, second heat generator", "Wärmemenge Zweiter Wärmeerzeuger", 0, 1e8,
           scale=0.1, label=("circuit", "second_heater"), well_known=False),
    Sensor("power_limit", P, 1158, "setting", None, "Power limitation (grid operator)",
           "Leistungsbegrenzung (Netzbetreiber)", 0, 1, scale=1.0, states="on_off",
           well_known=False),
    Sensor("power_limit_value", P, 1159, "setting", "kW", "Power limitation value",
           "Leistungsbegrenzung Wert", 0, 100, scale=0.1, well_known=False),
    # States and times.
    Sensor("operating_mode", C, 80, "state", None, "Operating mode", "Betriebszustand",
           states="operating_mode"),
    Sensor("status_line_1", C, 117, "state", None, "Status line 1", "Statuszeile 1",
           states="status_line_1"),
    Sensor("status_line_2", C, 118, "state", None, "Status line 2", "Statuszeile 2",
           states="status_line_2"),
    Sensor("status_line_3", C, 119, "state", None, "Status line 3", "Statuszeile 3",
           states="status_line_3"),
    Sensor("status_time", C, 120, "duration", "s", "Status for", "Status seit / in", 0, 1e9),
    Sensor("heat_pump_running", C, 67, "duration", "s", "Heat pump running for",
           "WP läuft seit", 0, 1e9),
    Sensor("defrost_in", C, 141, "duration", "s", "Defrost in", "Abtauen in", 0, 1e7),
    Sensor("switch_cycle_lock_off", C, 71, "duration", "s", "Switch-cycle lock (off)",
           "Schaltspielsperre aus", 0, 1e5, well_known=False),
    Sensor("switch_cycle_lock_on", C, 72, "duration", "s", "Switch-cycle lock (on)",
           "Schaltspielsperre ein", 0, 1e5, well_known=False),
    Sensor("heat_pump_type", C, 78, "state", None, "Heat pump type", "Wärmepumpentyp",
           well_known=False),
    Sensor("bivalence_level", C, 79, "state", None, "Bivalence level", "Bivalenzstufe",
           states="bivalence_level", well_known=False),
    Sensor("firmware", C, 81, "text", None, "Firmware", "Firmware", well_known=False),
    Sensor("controller_clock", C, 134, "timestamp", None, "Controller clock", "Uhrzeit Regler",
           well_known=False),
    Sensor("errors_stored", C, 105, "code", None, "Errors stored", "Fehler im Speicher",
           0, 5, well_known=False),
    Sensor("ip_address", C, 91, "text", None, "IP address", "IP-Adresse", well_known=False),
    Sensor("subnet_mask", C, 92, "text", None, "Subnet mask", "Subnetzmaske", well_known=False),
    Sensor("broadcast_address", C, 93, "text", None, "Broadcast address", "Broadcast-Adresse",
           well_known=False),
    Sensor("gateway", C, 94, "text", None, "Gateway", "Gateway", well_known=False),
    # Settings owners change.
    Sensor("heating_mode", P, 3, "setting", None, "Heating mode", "Betriebsart Heizung",
           states="mode_setting"),
    Sensor("hot_water_mode", P, 4, "setting", None, "Hot water mode", "Betriebsart Warmwasser",
           states="mode_setting"),
    Sensor("heating_curve_shift", P, 1, "setting", "°C", "Heating curve shift",
           "Heizkurve Parallelverschiebung", -10, 10, well_known=False),
    Sensor("hot_water_setting", P, 2, "setting", "°C", "Hot water set point (setting)",
           "Warmwasser-Soll (Einstellung)", 30, 70, well_known=False),
)
# fmt: on

# The controller's logs: five slots each of (time, code), newest first.
ERROR_LOG = tuple((95 + slot, 100 + slot) for slot in range(5))
SWITCH_OFF_LOG = tuple((111 + slot, 106 + slot) for slot in range(5))

# The circuits an installation may have, and the sensors whose readings show that it has
# one (a counter above zero, a temperature connected and not 0.0). The visibility flags are
# no guide: their layout differs between firmware versions.
CIRCUITS = {
    "heating": (("Heating", "Heizung"), ("heating_time", "heat_heating")),
    "hot_water": (("Hot water", "Warmwasser"), ("hot_water_time", "heat_hot_water")),
    "cooling": (("Cooling", "Kühlung"), ("cooling_time", "electric_cooling")),
    "pool": (("Pool", "Schwimmbad"), ("heat_pool",)),
    "mixing_circuit_1": (("Mixing circuit 1", "Mischkreis 1"), ("mixing_circuit_1_flow",)),
    "mixing_circuit_2": (("Mixing circuit 2", "Mischkreis 2"), ("mixing_circuit_2_flow",)),
    "solar": (("Solar", "Solar"), ("solar_collector",)),
    "second_heater": (
        ("Second heat generator", "Zweiter Wärmeerzeuger"),
        ("second_heater_1_time",),
    ),
}
# Fields newer firmware adds (calculations 232-268, parameters 1087-1159): doctor says which
# of them a controller sends.
NEWER_FIRMWARE = tuple(
    s.key
    for s in SENSORS
    if (s.group == C and 232 <= s.index <= 268) or (s.group == P and 1087 <= s.index <= 1159)
    if s.key not in ("electric_heating", "electric_hot_water", "electric_cooling")
)
# Sensors a working installation always has connected: without them no poll is trustworthy.
CRITICAL = ("flow", "return", "outdoor")
# Temperatures that change over a day on any working installation: unchanged for days,
# they are stuck.
CHANGING = ("outdoor", "flow", "return", "hot_water")
# How long a CHANGING temperature may stay exactly the same before it counts as stuck.
STUCK_AFTER_S = 2 * 86_400

# Fields that are never served, exported or published (access codes, passwords).
SECRETS = frozenset(
    [(P, 106), (P, 107)]  # ID_Timer_Password, ID_Einst_Zugangscode
    + [(P, index) for index in range(755, 761)]  # ID_WebserverPasswort_1..6_akt
)

# Values an unconnected temperature sensor reads (0.1 K steps: -500, 750, 1500). 75.0 is a
# rail only for sensors whose plausible range ends below it.
RAILS = (-50.0, 75.0, 150.0)

# Code -> (English, German) for the state fields and the logs.
STATES: dict[str, dict[int, tuple[str, str]]] = {
    "operating_mode": {
        0: ("heating", "Heizen"),
        1: ("hot water", "Warmwasser"),
        2: ("pool / solar", "Schwimmbad / Solar"),
        3: ("utility lock", "EVU-Sperre"),
        4: ("defrost", "Abtauen"),
        5: ("no request", "Keine Anforderung"),
        6: ("heating, external source", "Heizen ext. Energiequelle"),
        7: ("cooling", "Kühlbetrieb"),
    },
    "status_line_1": {
        0: ("heat pump running", "Wärmepumpe läuft"),
        1: ("heat pump idle", "Wärmepumpe steht"),
        2: ("heat pump starting", "Wärmepumpe kommt"),
        3: ("fault", "Störung"),
        4: ("defrost", "Abtauen"),
        5: ("waiting for the LIN connection", "Warte auf LIN-Verbindung"),
        6: ("compressor warming up", "Verdichter heizt auf"),
        7: ("pump pre-run", "Pumpenvorlauf"),
    },
    "status_line_2": {0: ("since", "seit"), 1: ("in", "in")},
    "status_line_3": {
        0: ("heating", "Heizbetrieb"),
        1: ("no request", "Keine Anforderung"),
        2: ("grid switch-on delay", "Netz-Einschaltverzögerung"),
        3: ("switch-cycle lock", "Schaltspielsperre"),
        4: ("lock time", "Sperrzeit"),
        5: ("hot water", "Brauchwasser"),
        6: ("screed drying", "Info Ausheizprogramm"),
        7: ("defrost", "Abtauen"),
        8: ("pump pre-run", "Pumpenvorlauf"),
        9: ("thermal disinfection", "Thermische Desinfektion"),
        10: ("cooling", "Kühlbetrieb"),
        12: ("pool / solar", "Schwimmbad / Photovoltaik"),
        13: ("heating, external source", "Heizen ext. Energiequelle"),
        14: ("hot water, external source", "Brauchwasser ext. Energiequelle"),
        16: ("flow monitoring", "Durchflussüberwachung"),
        17: ("second heat generator 1 on", "ZWE 1 Betrieb"),
    },
    "switch_off": {
        1: ("heat pump fault", "Wärmepumpenstörung"),
        2: ("system fault", "Anlagenstörung"),
        3: ("utility lock", "EVU-Sperre"),
        4: ("second heat generator mode", "Betriebsart Zweiter Wärmeerzeuger"),
        5: ("air defrost", "Luftabtauung"),
        6: ("maximum operating temperature", "Maximale Einsatztemperatur"),
        7: ("minimum operating temperature", "Minimale Einsatztemperatur"),
        8: ("lower operating limit", "Untere Einsatzgrenze"),
        9: ("no request", "Keine Anforderung"),
    },
    "bivalence_level": {
        1: ("one compressor may run", "Ein Verdichter darf laufen"),
        2: ("two compressors may run", "Zwei Verdichter dürfen laufen"),
        3: ("additional heat generator may run", "Zusätzlicher Wärmeerzeuger darf laufen"),
    },
    "on_off": {0: ("off", "aus"), 1: ("on", "an")},
    "mode_setting": {
        0: ("automatic", "Automatik"),
        1: ("second heat source", "Zweiter Wärmeerzeuger"),
        2: ("party", "Party"),
        3: ("holidays", "Ferien"),
        4: ("off", "Aus"),
    },
    "error": {
        701: ("low-pressure fault", "Niederdruckstörung"),
        702: ("low-pressure lock", "Niederdrucksperre"),
        703: ("frost protection", "Frostschutz"),
        704: ("hot-gas fault", "Heißgasstörung"),
        705: ("fan motor protection", "Motorschutz Ventilator"),
        706: ("brine/well pump or compressor motor protection", "Motorschutz BSUP"),
        707: ("heat pump coding", "Codierung WP"),
        708: ("return sensor", "Fühler Rücklauf"),
        709: ("flow sensor", "Fühler Vorlauf"),
        710: ("hot-gas sensor", "Fühler Heißgas"),
        711: ("outdoor sensor", "Fühler Außentemperatur"),
        712: ("hot water sensor", "Fühler Warmwasser"),
        713: ("heat source inlet sensor", "Fühler WQ-Ein"),
        714: ("hot gas in hot water mode", "Heißgas Warmwasser"),
        715: ("high-pressure switch-off", "Hochdruck-Abschaltung"),
        716: ("high-pressure fault", "Hochdruckstörung"),
        717: ("heat source flow", "Durchfluss Wärmequelle"),
        718: ("maximum outdoor temperature", "Max. Außentemperatur"),
        719: ("minimum outdoor temperature", "Min. Außentemperatur"),
        720: ("heat source temperature", "WQ-Temperatur"),
        721: ("low-pressure switch-off", "Niederdruckabschaltung"),
        722: ("heating water temperature difference", "Temperaturdifferenz Heizwasser"),
        723: ("hot water temperature difference", "Temperaturdifferenz Warmwasser"),
        724: ("defrost temperature difference", "Temperaturdifferenz Abtauen"),
        725: ("hot water system fault", "Anlagefehler Warmwasser"),
        726: ("mixing circuit 1 sensor", "Fühler Mischkreis 1"),
        727: ("brine pressure", "Soledruck"),
        728: ("heat source outlet sensor", "Fühler WQ-Aus"),
        729: ("phase sequence fault", "Drehfeldfehler"),
        730: ("screed drying power", "Leistung Ausheizen"),
        732: ("cooling fault", "Störung Kühlung"),
        733: ("anode fault", "Störung Anode"),
        734: ("anode fault, hot water locked", "Störung Anode, Warmwasser gesperrt"),
        735: ("external energy source sensor", "Fühler externe Energiequelle"),
        736: ("solar collector sensor", "Fühler Solarkollektor"),
        737: ("solar tank sensor", "Fühler Solarspeicher"),
        738: ("mixing circuit 2 sensor", "Fühler Mischkreis 2"),
        750: ("external return sensor", "Fühler Rücklauf extern"),
        751: ("phase monitoring", "Phasenüberwachung"),
        752: ("phase monitoring or flow", "Phasenüberwachung / Durchfluss"),
        755: ("connection to slave lost", "Verbindung zu Slave verloren"),
        756: ("connection to master lost", "Verbindung zu Master verloren"),
        757: ("low-pressure fault (water/water)", "ND-Störung W/W-Gerät"),
        758: ("defrost fault (flow too cold)", "Störung Abtauung"),
        759: ("thermal disinfection failed", "Meldung TDI"),
        760: ("defrost fault (maximum time)", "Störung Abtauung (Maximalzeit)"),
        761: ("LIN connection lost", "LIN-Verbindung unterbrochen"),
        762: ("compressor suction sensor", "Fühler Ansaug Verdichter"),
        763: ("evaporator suction sensor", "Fühler Ansaug Verdampfer"),
        764: ("compressor heating sensor", "Fühler Verdichterheizung"),
        765: ("superheat", "Überhitzung"),
        766: ("compressor operating limits", "Einsatzgrenzen Verdichter"),
        767: ("heating rod safety limiter", "STB Heizstab"),
        770: ("low superheat", "Niedrige Überhitzung"),
        771: ("high superheat", "Hohe Überhitzung"),
        776: ("compressor operating limits", "Einsatzgrenzen Verdichter"),
        777: ("expansion valve", "Expansionsventil"),
        778: ("low-pressure sensor", "Fühler Niederdruck"),
        779: ("high-pressure sensor", "Fühler Hochdruck"),
        780: ("EVI sensor", "Fühler EVI"),
        781: ("liquid sensor before expansion valve", "Fühler Flüssig vor Ex-Ventil"),
        782: ("EVI suction gas sensor", "Fühler EVI Sauggas"),
        783: ("SEC - inverter communication", "Kommunikation SEC - Inverter"),
        784: ("inverter locked", "VSS gesperrt"),
        785: ("SEC board faulty", "SEC-Board defekt"),
        786: ("SEC - HZIO communication", "Kommunikation SEC - HZIO"),
        787: ("compressor alarm", "Verdichter-Alarm"),
        788: ("serious inverter fault", "Schwerwiegender Inverterfehler"),
        789: ("LIN or coding missing", "LIN/Kodierung nicht vorhanden"),
        790: ("inverter power supply fault", "Inverter-Stromversorgung gestört"),
        791: ("Modbus connection lost", "ModBus-Verbindung verloren"),
        792: ("LIN connection lost (no board)", "LIN-Verbindung unterbrochen"),
        793: ("inverter temperature fault", "Temperaturfehler Inverter"),
    },
}


def state_text(table: str, code: int | None, language: str = "en") -> str | None:
    """The meaning of a code, or 'unknown code N' (never a guess); None for no value."""
    if code is None:
        return None
    names = STATES.get(table, {}).get(code)
    if names is None:
        return f"unknown code {code}" if language != "de" else f"unbekannter Code {code}"
    return names[1] if language == "de" else names[0]


def by_key() -> dict[str, Sensor]:
    return _BY_KEY


_BY_KEY = {sensor.key: sensor for sensor in SENSORS}


def index_of(key: str) -> int:
    """Where a catalogue sensor's value is in its array."""
    return _BY_KEY[key].index


def code_of(table: str, english: str) -> int:
    """The code of a state by its English name."""
    for code, (name, _) in STATES[table].items():
        if name == english:
            return code
    raise KeyError(f"{table}: {english}")

"""A deterministic thermal model of an air-to-water heat pump behind a Luxtronik 2.x controller.

It advances in fixed 10 s steps of simulated time, so the same seed gives the same day however
often it is read. Values are written into the three arrays with the controller's scaling
(0.1 K, 0.1 kWh, seconds, impulses) at the indices luxtronik 0.3.14 names.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from luxlogd.heatpump import catalogue

STEP_S = 10.0
DAY_S = 86400.0


@dataclass(frozen=True)
class Profile:
    """Array lengths and version string of one real firmware."""

    name: str
    parameters: int
    calculations: int
    visibilities: int


PROFILES = {
    p.name: p
    for p in (
        Profile("V1.80", 1086, 200, 336),
        Profile("V3.78", 1075, 232, 327),
        Profile("V3.81", 1087, 249, 337),
        Profile("V3.88", 1143, 267, 366),
        # A firmware that sends every field the catalogue names (calculation 268, electric
        # power; parameters to 1159, the power limitation). No dump of it: lengths modelled.
        Profile("V3.91", 1161, 269, 370),
    )
}
DEFAULT_PROFILE = "V3.88"

# Where the model writes: every index comes from the catalogue.
_ = catalogue.index_of
TVL, TRL, SOLL_TRL, THG = _("flow"), _("return"), _("return_target"), _("hot_gas")
TA, TA_MEAN, TBW, BWS_SOLL = (
    _("outdoor"),
    _("outdoor_average"),
    _("hot_water"),
    _("hot_water_target"),
)
BUP_OUT, HUP_OUT, VD1_OUT = _("hot_water_pump"), _("heating_pump"), _("compressor")
VD1_SECONDS, VD1_IMPULSES = _("compressor_time"), _("compressor_starts")
WP_SECONDS, HZ_SECONDS, BW_SECONDS = _("heat_pump_time"), _("heating_time"), _("hot_water_time")
WP_ON_SECONDS = _("heat_pump_running")
SSPAUS_SECONDS, SSPEIN_SECONDS = _("switch_cycle_lock_off"), _("switch_cycle_lock_on")
OPERATION_MODE, VERSION = _("operating_mode"), _("firmware")
IP_ADDRESS, SUBNET, BROADCAST, GATEWAY = (
    _("ip_address"),
    _("subnet_mask"),
    _("broadcast_address"),
    _("gateway"),
)
STATUS_LINE1, STATUS_LINE2, STATUS_LINE3 = (
    _("status_line_1"),
    _("status_line_2"),
    _("status_line_3"),
)
STATUS_TIME, CONTROLLER_CLOCK, DEFROST_IN = _("status_time"), _("controller_clock"), _("defrost_in")
HEAT_HEATING, HEAT_HOT_WATER, HEAT_TOTAL = _("heat_heating"), _("heat_hot_water"), _("heat_total")
COMPRESSOR_HZ, HEAT_OUTPUT_W = _("compressor_frequency"), _("heat_output")
HEAT_PUMP_TYPE, BIVALENCE = _("heat_pump_type"), _("bivalence_level")
ERRORS_STORED = _("errors_stored")
VAPORISATION, LIQUEFACTION = _("vaporisation"), _("liquefaction")
FREQ_TARGET, FREQ_MIN, FREQ_MAX = (
    _("compressor_frequency_target"),
    _("compressor_frequency_min"),
    _("compressor_frequency_max"),
)
SOURCE_SPREAD_TARGET, SOURCE_SPREAD = _("heat_source_spread_target"), _("heat_source_spread")
HEATING_SPREAD_TARGET, HEATING_SPREAD = _("heating_spread_target"), _("heating_spread")
ROOM_DESIRED, ELECTRIC_POWER_W = _("room_desired"), _("electric_power")
BACKUP_OUT, BACKUP_SECONDS = _("second_heater_1"), _("second_heater_1_time")
NOT_CONNECTED = [
    _(key)
    for key in (
        "return_external",
        "heat_source_in",
        "heat_source_out",
        "mixing_circuit_1_flow",
        "room_remote",
        "mixing_circuit_2_flow",
        "solar_collector",
        "solar_tank",
        "external_source",
    )
]
# Parameters: settings, and (firmware >= 3.x) electric energy in 0.01 kWh.
PARAM_CURVE_SHIFT, PARAM_HOT_WATER_SETPOINT = _("heating_curve_shift"), _("hot_water_setting")
PARAM_HEATING_MODE, PARAM_HOT_WATER_MODE = _("heating_mode"), _("hot_water_mode")
PARAM_ENERGY_HEATING, PARAM_ENERGY_HOT_WATER, PARAM_ENERGY_COOLING = (
    _("electric_heating"),
    _("electric_hot_water"),
    _("electric_cooling"),
)
PARAM_SILENT_MODE, PARAM_LAST_DEFROST, PARAM_BACKUP_HEAT = (
    _("silent_mode"),
    _("last_defrost"),
    _("heat_second_heater"),
)
PARAM_POWER_LIMIT, PARAM_POWER_LIMIT_VALUE = _("power_limit"), _("power_limit_value")

# Operation modes, status line 3 and switch-off reasons, by the catalogue's names.
MODE_HEATING, MODE_HOT_WATER, MODE_DEFROST, MODE_NO_REQUEST = (
    catalogue.code_of("operating_mode", name)
    for name in ("heating", "hot water", "defrost", "no request")
)
LINE3_HEATING, LINE3_NO_REQUEST, LINE3_HOT_WATER, LINE3_DEFROST = (
    catalogue.code_of("status_line_3", name)
    for name in ("heating", "no request", "hot water", "defrost")
)
LINE1_RUNNING, LINE1_IDLE, LINE1_DEFROST = (
    catalogue.code_of("status_line_1", name)
    for name in ("heat pump running", "heat pump idle", "defrost")
)
SWITCHOFF_AIR_DEFROST, SWITCHOFF_NO_REQUEST = (
    catalogue.code_of("switch_off", name) for name in ("air defrost", "no request")
)

MIN_RUN_S = 10 * 60
MIN_PAUSE_S = 20 * 60
HEATING_HYSTERESIS_K = 2.0
HOT_WATER_HYSTERESIS_K = 5.0
DEFROST_AFTER_S = 75 * 60
DEFROST_DURATION_S = 4 * 60
# The second heat generator (an electric heater) helps space heating below this outdoor
# temperature; its heat goes to its own counter (parameter 1140), not to the heat pump's.
BACKUP_BELOW_C = -7.0
BACKUP_POWER_W = 3000.0


def _ip(text: str) -> int:
    a, b, c, d = (int(part) for part in text.split("."))
    value = (a << 24) | (b << 16) | (c << 8) | d
    return value - (1 << 32) if value >= 1 << 31 else value


def _tenths(value: float) -> int:
    return int(round(value * 10))


@dataclass
class ThermalModel:
    """Outdoor weather, a building on a heating curve, a compressor, a hot-water tank."""

    seed: int = 1
    start_s: float = 1_700_000_000.0
    outdoor_mean_c: float = 2.0
    outdoor_swing_c: float = 5.0
    hot_water_setpoint_c: float = 50.0
    now_s: float = field(init=False)
    outdoor_c: float = field(init=False)
    outdoor_mean_24h_c: float = field(init=False)
    return_c: float = field(init=False)
    flow_c: float = field(init=False)
    hot_water_c: float = field(init=False)
    mode: int = field(init=False, default=MODE_NO_REQUEST)
    compressor_on: bool = field(init=False, default=False)
    state_since_s: float = field(init=False)
    compressor_changed_s: float = field(init=False)
    run_since_defrost_s: float = field(init=False, default=0.0)
    starts: int = field(init=False, default=0)
    defrosts: int = field(init=False, default=0)
    hot_water_cycles: int = field(init=False, default=0)
    compressor_s: float = field(init=False, default=0.0)
    heating_s: float = field(init=False, default=0.0)
    hot_water_s: float = field(init=False, default=0.0)
    heat_heating_kwh: float = field(init=False, default=0.0)
    heat_hot_water_kwh: float = field(init=False, default=0.0)
    electric_heating_kwh: float = field(init=False, default=0.0)
    electric_hot_water_kwh: float = field(init=False, default=0.0)
    heat_output_w: float = field(init=False, default=0.0)
    electric_power_w: float = field(init=False, default=0.0)
    backup_on: bool = field(init=False, default=False)
    backup_s: float = field(init=False, default=0.0)
    backup_heat_kwh: float = field(init=False, default=0.0)
    last_defrost_s: float = field(init=False, default=0.0)
    switchoffs: list[tuple[int, int]] = field(init=False, default_factory=list)
    _noise_c: float = field(init=False, default=0.0)
    _draw_left_k: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self.now_s = self.start_s
        self.outdoor_c = self._outdoor_at(self.now_s)
        self.outdoor_mean_24h_c = self.outdoor_c
        self.return_c = self.return_setpoint_c()
        self.flow_c = self.return_c
        self.hot_water_c = self.hot_water_setpoint_c - 1.0
        self.state_since_s = self.now_s
        self.compressor_changed_s = self.now_s - MIN_PAUSE_S
        # Counters of a heat pump that has run for some years already.
        self.starts = 9000 + self._random.randrange(1000)
        self.compressor_s = self.starts * 1500.0
        self.heating_s = self.compressor_s * 0.8
        self.hot_water_s = self.compressor_s * 0.2
        self.heat_heating_kwh = self.heating_s / 3600 * 7.0
        self.heat_hot_water_kwh = self.hot_water_s / 3600 * 6.0
        self.electric_heating_kwh = self.heat_heating_kwh / 3.5
        self.electric_hot_water_kwh = self.heat_hot_water_kwh / 2.8

    def _outdoor_at(self, when_s: float) -> float:
        hour = (when_s % DAY_S) / 3600.0
        # Coldest around 05:00, warmest around 15:00 (UTC, so runs are reproducible anywhere).
        daily = -math.cos((hour - 3.0) / 24.0 * 2 * math.pi)
        return self.outdoor_mean_c + self.outdoor_swing_c * daily

    def return_setpoint_c(self) -> float:
        """Heating curve: the colder the 24 h mean outside, the warmer the return target."""
        return min(45.0, max(22.0, 24.0 + 0.55 * (20.0 - self.outdoor_mean_24h_c)))

    def advance_to(self, when_s: float) -> None:
        """Advance the model in fixed steps until `when_s` (never backwards)."""
        while self.now_s + STEP_S <= when_s:
            self._step(STEP_S)

    def _switch_compressor(self, on: bool, switchoff_code: int = SWITCHOFF_NO_REQUEST) -> None:
        self.compressor_on = on
        self.compressor_changed_s = self.now_s
        if on:
            self.starts += 1
            self.run_since_defrost_s = (
                0.0 if self.run_since_defrost_s > DEFROST_AFTER_S else (self.run_since_defrost_s)
            )
        else:
            self.switchoffs.insert(0, (switchoff_code, int(self.now_s)))
            del self.switchoffs[5:]

    def _set_mode(self, mode: int) -> None:
        if mode != self.mode:
            self.mode = mode
            self.state_since_s = self.now_s

    def _step(self, dt: float) -> None:
        self.now_s += dt
        rnd = self._random
        self._noise_c = self._noise_c * 0.995 + rnd.gauss(0.0, 0.03)
        self.outdoor_c = self._outdoor_at(self.now_s) + self._noise_c
        self.outdoor_mean_24h_c += (self.outdoor_c - self.outdoor_mean_24h_c) * dt / DAY_S
        setpoint = self.return_setpoint_c()
        ran_s = self.now_s - self.compressor_changed_s

        # Hot water: standby loss, two draws a day, a charge when it fell below the hysteresis.
        hour_s = self.now_s % DAY_S
        if abs(hour_s - 7 * 3600) < dt / 2 or abs(hour_s - 19.5 * 3600) < dt / 2:
            self._draw_left_k = 7.0 + rnd.random() * 3.0
        if self._draw_left_k > 0:
            drawn = min(self._draw_left_k, 0.8 * dt / 60)
            self._draw_left_k -= drawn
            self.hot_water_c -= drawn
        self.hot_water_c -= 0.25 * dt / 3600
        hot_water_wanted = self.hot_water_c < self.hot_water_setpoint_c - HOT_WATER_HYSTERESIS_K
        heating_wanted = self.return_c < setpoint - HEATING_HYSTERESIS_K

        if self.mode == MODE_DEFROST:
            if self.now_s - self.state_since_s >= DEFROST_DURATION_S:
                self._set_mode(MODE_HEATING)
        elif self.compressor_on:
            if self.mode == MODE_HOT_WATER and self.hot_water_c >= self.hot_water_setpoint_c:
                if self.return_c < setpoint + HEATING_HYSTERESIS_K and ran_s >= MIN_RUN_S:
                    self._set_mode(MODE_HEATING)
                else:
                    self._switch_compressor(False)
                    self._set_mode(MODE_NO_REQUEST)
            elif self.mode == MODE_HEATING and hot_water_wanted:
                self._set_mode(MODE_HOT_WATER)
                self.hot_water_cycles += 1
            elif (
                self.mode == MODE_HEATING
                and self.outdoor_c < 6.0
                and self.run_since_defrost_s >= DEFROST_AFTER_S
            ):
                self._set_mode(MODE_DEFROST)
                self.defrosts += 1
                self.last_defrost_s = self.now_s
                self.run_since_defrost_s = 0.0
            elif (
                self.mode == MODE_HEATING
                and self.return_c > setpoint + HEATING_HYSTERESIS_K
                and ran_s >= MIN_RUN_S
            ):
                self._switch_compressor(False)
                self._set_mode(MODE_NO_REQUEST)
        elif ran_s >= MIN_PAUSE_S and (hot_water_wanted or heating_wanted):
            self._switch_compressor(True)
            if hot_water_wanted:
                self.hot_water_cycles += 1
            self._set_mode(MODE_HOT_WATER if hot_water_wanted else MODE_HEATING)

        # Thermal response of the building (return) and the tank.
        off_equilibrium_c = 20.0 + (self.outdoor_c - 20.0) * 0.25
        self.return_c += (off_equilibrium_c - self.return_c) * dt / (3 * 3600)
        cop = 1.0
        self.heat_output_w = 0.0
        self.electric_power_w = 0.0
        self.backup_on = (
            self.compressor_on and self.mode == MODE_HEATING and self.outdoor_c < BACKUP_BELOW_C
        )
        if self.backup_on:
            self.backup_s += dt
            self.backup_heat_kwh += BACKUP_POWER_W * dt / 3.6e6
            self.return_c += BACKUP_POWER_W / 7000.0 * (setpoint + 6.0 - self.return_c) * dt / 1500
        if self.compressor_on:
            self.compressor_s += dt
            power_w = 7000.0 + 120.0 * (self.outdoor_c - 2.0)
            if self.mode == MODE_HEATING:
                self.run_since_defrost_s += dt
                self.return_c += (setpoint + 6.0 - self.return_c) * dt / 1500
                self.flow_c = self.return_c + 5.0
                self.heating_s += dt
                cop = 3.2 + 0.08 * self.outdoor_c - 0.04 * (self.flow_c - 35.0)
                self.heat_heating_kwh += power_w * dt / 3.6e6
                self.electric_heating_kwh += power_w / max(cop, 1.5) * dt / 3.6e6
                self.heat_output_w = power_w
                self.electric_power_w = power_w / max(cop, 1.5)
            elif self.mode == MODE_HOT_WATER:
                self.hot_water_c += 14.0 * dt / 3600
                self.flow_c = self.hot_water_c + 6.0
                self.hot_water_s += dt
                cop = 2.6 + 0.06 * self.outdoor_c
                self.heat_hot_water_kwh += power_w * dt / 3.6e6
                self.electric_hot_water_kwh += power_w / max(cop, 1.5) * dt / 3.6e6
                self.heat_output_w = power_w
                self.electric_power_w = power_w / max(cop, 1.5)
            else:  # defrost: the cycle runs backwards and pulls heat from the water
                self.flow_c -= 2.0 * dt / 60
                self.return_c -= 0.4 * dt / 60
                self.electric_heating_kwh += 2500.0 * dt / 3.6e6
                self.electric_power_w = 2500.0
        else:
            self.flow_c += (self.return_c - self.flow_c) * dt / 600

    def fill(self, parameters: list[int], calculations: list[int], visibilities: list[int]) -> None:
        """Write the model's current state into the three arrays (in place, where they reach)."""
        calc = calculations
        now = int(self.now_s)

        def put(array: list[int], index: int, value: int) -> None:
            if index < len(array):
                array[index] = value

        put(calc, TVL, _tenths(self.flow_c))
        put(calc, TRL, _tenths(self.return_c))
        put(calc, SOLL_TRL, _tenths(self.return_setpoint_c()))
        put(calc, THG, _tenths(self.flow_c + (28.0 if self.compressor_on else 2.0)))
        put(calc, TA, _tenths(self.outdoor_c))
        put(calc, TA_MEAN, _tenths(self.outdoor_mean_24h_c))
        put(calc, TBW, _tenths(self.hot_water_c))
        put(calc, BWS_SOLL, _tenths(self.hot_water_setpoint_c))
        put(calc, VD1_OUT, int(self.compressor_on))
        put(calc, HUP_OUT, int(self.compressor_on and self.mode != MODE_HOT_WATER))
        put(calc, BUP_OUT, int(self.mode == MODE_HOT_WATER))
        put(calc, VD1_SECONDS, int(self.compressor_s))
        put(calc, VD1_IMPULSES, self.starts)
        put(calc, WP_SECONDS, int(self.compressor_s))
        put(calc, HZ_SECONDS, int(self.heating_s))
        put(calc, BW_SECONDS, int(self.hot_water_s))
        since_change = int(self.now_s - self.compressor_changed_s)
        put(calc, WP_ON_SECONDS, since_change if self.compressor_on else 0)
        put(calc, SSPAUS_SECONDS, 0 if self.compressor_on else max(0, MIN_PAUSE_S - since_change))
        put(calc, SSPEIN_SECONDS, max(0, MIN_RUN_S - since_change) if self.compressor_on else 0)
        put(calc, OPERATION_MODE, self.mode)
        slots = catalogue.SWITCH_OFF_LOG  # newest first; fewer entries than slots early on
        for (time_index, code_index), (code, when) in zip(slots, self.switchoffs, strict=False):
            put(calc, code_index, code)
            put(calc, time_index, when)
        line1 = LINE1_RUNNING if self.compressor_on else LINE1_IDLE
        line3 = {
            MODE_HEATING: LINE3_HEATING,
            MODE_HOT_WATER: LINE3_HOT_WATER,
            MODE_DEFROST: LINE3_DEFROST,
        }.get(self.mode, LINE3_NO_REQUEST)
        put(calc, STATUS_LINE1, LINE1_DEFROST if self.mode == MODE_DEFROST else line1)
        put(calc, STATUS_LINE2, 0)
        put(calc, STATUS_LINE3, line3)
        put(calc, STATUS_TIME, int(self.now_s - self.state_since_s))
        put(calc, CONTROLLER_CLOCK, now)
        put(calc, DEFROST_IN, max(0, int(DEFROST_AFTER_S - self.run_since_defrost_s)))
        put(calc, HEAT_HEATING, int(self.heat_heating_kwh * 10))
        put(calc, HEAT_HOT_WATER, int(self.heat_hot_water_kwh * 10))
        put(calc, HEAT_TOTAL, int(self.heat_heating_kwh * 10) + int(self.heat_hot_water_kwh * 10))
        put(calc, COMPRESSOR_HZ, 52 if self.compressor_on else 0)
        put(calc, HEAT_OUTPUT_W, int(self.heat_output_w))
        put(parameters, PARAM_HOT_WATER_SETPOINT, _tenths(self.hot_water_setpoint_c))
        electric = (int(self.electric_heating_kwh * 100), int(self.electric_hot_water_kwh * 100))
        put(parameters, PARAM_ENERGY_HEATING, electric[0])
        put(parameters, PARAM_ENERGY_HOT_WATER, electric[1])
        put(parameters, PARAM_ENERGY_COOLING, 0)  # this model never cools
        # What newer firmware sends besides (the refrigerant's temperatures, the inverter).
        running = self.compressor_on and self.mode != MODE_DEFROST
        put(calc, VAPORISATION, _tenths(self.outdoor_c - 8.0 if running else self.outdoor_c))
        put(calc, LIQUEFACTION, _tenths(self.flow_c + 3.0 if running else self.flow_c))
        put(calc, FREQ_TARGET, 52 if self.compressor_on else 0)
        put(calc, FREQ_MIN, 25)
        put(calc, FREQ_MAX, 90)
        put(calc, SOURCE_SPREAD_TARGET, 50)
        put(calc, SOURCE_SPREAD, 45 if running else 0)
        put(calc, HEATING_SPREAD_TARGET, 50)
        put(calc, HEATING_SPREAD, _tenths(self.flow_c - self.return_c))
        put(calc, ROOM_DESIRED, 200)
        put(calc, ELECTRIC_POWER_W, int(self.electric_power_w))
        put(calc, BACKUP_OUT, int(self.backup_on))
        put(calc, BACKUP_SECONDS, int(self.backup_s))
        put(parameters, PARAM_SILENT_MODE, 0)
        put(parameters, PARAM_LAST_DEFROST, int(self.last_defrost_s))
        put(parameters, PARAM_BACKUP_HEAT, int(self.backup_heat_kwh * 10))
        put(parameters, PARAM_POWER_LIMIT, 0)
        put(parameters, PARAM_POWER_LIMIT_VALUE, 0)


def base_arrays(profile: Profile, seed: int) -> tuple[list[int], list[int], list[int]]:
    """Static content of a controller of this firmware: settings, version, network, errors."""
    rnd = random.Random(seed * 7919 + 1)
    parameters = [0] * profile.parameters
    for index in range(profile.parameters):
        # Settings are small numbers; most are 0 or a handful of codes.
        parameters[index] = rnd.choice((0, 0, 0, 1, 2, 5, 10, 50, 100, 200))
    parameters[PARAM_CURVE_SHIFT] = 0
    parameters[PARAM_HEATING_MODE] = catalogue.code_of("mode_setting", "automatic")
    parameters[PARAM_HOT_WATER_MODE] = catalogue.code_of("mode_setting", "automatic")
    calculations = [0] * profile.calculations
    for index in NOT_CONNECTED:
        calculations[index] = -500  # sensors not connected on this installation
    version = profile.name.encode("ascii")
    for offset in range(10):
        calculations[VERSION + offset] = version[offset] if offset < len(version) else 0
    calculations[IP_ADDRESS] = _ip("127.0.0.1")
    calculations[SUBNET] = _ip("255.0.0.0")
    calculations[BROADCAST] = _ip("127.255.255.255")
    calculations[GATEWAY] = 0
    calculations[HEAT_PUMP_TYPE] = 7  # L1A: air/water
    calculations[BIVALENCE] = 1  # one compressor
    for slot, (time_index, code_index) in enumerate(catalogue.ERROR_LOG):
        calculations[time_index] = int(1_690_000_000 - slot * 4_000_000)
        calculations[code_index] = 715 + (slot == 0)  # high-pressure switch-off, fault
    calculations[ERRORS_STORED] = len(catalogue.ERROR_LOG)
    visibilities = [1 if rnd.random() < 0.3 else 0 for _ in range(profile.visibilities)]
    return parameters, calculations, visibilities

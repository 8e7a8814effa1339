"""A deterministic thermal model of an air-to-water heat pump behind a Luxtronik 2.x controller.

It advances in fixed 10 s steps of simulated time, so the same seed gives the same day however
often it is read. Values are written into the three arrays with the controller's scaling
(0.1 K, 0.1 kWh, seconds, impulses) at the indices luxtronik 0.3.14 names.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

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
    )
}
DEFAULT_PROFILE = "V3.88"

# Calculation indices (luxtronik 0.3.14 names in comments).
TVL, TRL, SOLL_TRL, THG, TA, TA_MEAN, TBW, BWS_SOLL = 10, 11, 12, 14, 15, 16, 17, 18
BUP_OUT, HUP_OUT, VD1_OUT = 38, 39, 44
VD1_SECONDS, VD1_IMPULSES, WP_SECONDS, HZ_SECONDS, BW_SECONDS = 56, 57, 63, 64, 65
WP_ON_SECONDS, SSPAUS_SECONDS, SSPEIN_SECONDS = 67, 71, 72
OPERATION_MODE, VERSION = 80, 81
IP_ADDRESS, SUBNET, BROADCAST, GATEWAY = 91, 92, 93, 94
SWITCHOFF_CODE, SWITCHOFF_TIME = 106, 111
STATUS_LINE1, STATUS_LINE2, STATUS_LINE3, STATUS_TIME = 117, 118, 119, 120
CONTROLLER_CLOCK = 134
DEFROST_IN = 141
HEAT_HEATING, HEAT_HOT_WATER, HEAT_TOTAL = 151, 152, 154
COMPRESSOR_HZ = 231
HEAT_OUTPUT_W = 257
# Parameter indices: hot-water set point, and (firmware >= 3.x) electric energy in 0.01 kWh.
PARAM_HOT_WATER_SETPOINT = 2
PARAM_ENERGY_HEATING, PARAM_ENERGY_HOT_WATER, PARAM_ENERGY_TOTAL = 1136, 1137, 1139

# Operation modes (calculation 80) and status line 3 codes.
MODE_HEATING, MODE_HOT_WATER, MODE_DEFROST, MODE_NO_REQUEST = 0, 1, 4, 5
LINE3_HEATING, LINE3_NO_REQUEST, LINE3_HOT_WATER, LINE3_DEFROST = 0, 1, 5, 7
SWITCHOFF_AIR_DEFROST, SWITCHOFF_NO_REQUEST = 5, 9

MIN_RUN_S = 10 * 60
MIN_PAUSE_S = 20 * 60
HEATING_HYSTERESIS_K = 2.0
HOT_WATER_HYSTERESIS_K = 5.0
DEFROST_AFTER_S = 75 * 60
DEFROST_DURATION_S = 4 * 60


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
            elif self.mode == MODE_HOT_WATER:
                self.hot_water_c += 14.0 * dt / 3600
                self.flow_c = self.hot_water_c + 6.0
                self.hot_water_s += dt
                cop = 2.6 + 0.06 * self.outdoor_c
                self.heat_hot_water_kwh += power_w * dt / 3.6e6
                self.electric_hot_water_kwh += power_w / max(cop, 1.5) * dt / 3.6e6
                self.heat_output_w = power_w
            else:  # defrost: the cycle runs backwards and pulls heat from the water
                self.flow_c -= 2.0 * dt / 60
                self.return_c -= 0.4 * dt / 60
                self.electric_heating_kwh += 2500.0 * dt / 3.6e6
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
        for slot, (code, when) in enumerate(self.switchoffs):
            put(calc, SWITCHOFF_CODE + slot, code)
            put(calc, SWITCHOFF_TIME + slot, when)
        line1 = 0 if self.compressor_on else 1
        line3 = {
            MODE_HEATING: LINE3_HEATING,
            MODE_HOT_WATER: LINE3_HOT_WATER,
            MODE_DEFROST: LINE3_DEFROST,
        }.get(self.mode, LINE3_NO_REQUEST)
        put(calc, STATUS_LINE1, 4 if self.mode == MODE_DEFROST else line1)
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
        put(parameters, PARAM_ENERGY_TOTAL, electric[0] + electric[1])


def base_arrays(profile: Profile, seed: int) -> tuple[list[int], list[int], list[int]]:
    """Static content of a controller of this firmware: settings, version, network, errors."""
    rnd = random.Random(seed * 7919 + 1)
    parameters = [0] * profile.parameters
    for index in range(profile.parameters):
        # Settings are small numbers; most are 0 or a handful of codes.
        parameters[index] = rnd.choice((0, 0, 0, 1, 2, 5, 10, 50, 100, 200))
    parameters[1] = 0  # heating curve shift
    parameters[3] = 0  # heating mode: automatic
    parameters[4] = 0  # hot water mode: automatic
    calculations = [0] * profile.calculations
    for index in (13, 19, 20, 21, 23, 24, 26, 27, 28):
        calculations[index] = -500  # sensors not connected on this installation
    version = profile.name.encode("ascii")
    for offset in range(10):
        calculations[VERSION + offset] = version[offset] if offset < len(version) else 0
    calculations[IP_ADDRESS] = _ip("127.0.0.1")
    calculations[SUBNET] = _ip("255.0.0.0")
    calculations[BROADCAST] = _ip("127.255.255.255")
    calculations[GATEWAY] = 0
    calculations[78] = 7  # heat pump type code (L1A: air/water)
    calculations[79] = 1  # bivalence level: one compressor
    for slot in range(5):
        calculations[95 + slot] = int(1_690_000_000 - slot * 4_000_000)  # error log times
        calculations[100 + slot] = 715 + (slot == 0)  # error codes
    calculations[105] = 5
    visibilities = [1 if rnd.random() < 0.3 else 0 for _ in range(profile.visibilities)]
    return parameters, calculations, visibilities

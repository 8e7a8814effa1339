"""Every field a controller sends, what luxtronik 0.3.14 calls it and how it decodes it, joined
with the catalogue (catalogue.py): keys, labels, kinds, secrets. The only module that imports
luxtronik, and the only one that knows an index.

luxtronik's tables are class attributes that its own `parse()` mutates, so they are copied
once at import and decoded with the fields' pure `from_heatpump()`: no state is shared
between reads. Decoded values equal what luxtronik 0.3.14 decodes from the same integers,
names included (it names visibilities beyond its table `Unknown_Parameter_N`; we keep that).
Our own decodings (electric energy in 0.01 kWh) are extra fields named by their key.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from luxtronik.calculations import Calculations
from luxtronik.datatypes import Base
from luxtronik.parameters import Parameters
from luxtronik.visibilities import Visibilities

from luxlogd.base.errors import SensorPatternError
from luxlogd.heatpump import catalogue
from luxlogd.heatpump.catalogue import SECRETS, Sensor
from luxlogd.heatpump.protocol import GROUPS

# Calculations 81-90 hold the firmware version, one character per value; luxtronik decodes
# each index of its table in that range from the slice [index, index + 9).
VERSION_RANGE = range(81, 91)
VERSION_SLICE = 9
WELL_KNOWN = "well-known"  # the pattern for the catalogue's curated set

_TABLES: dict[str, dict[int, Base]] = {
    "parameters": dict(Parameters.parameters),
    "calculations": dict(Calculations.calculations),
    "visibilities": dict(Visibilities.visibilities),
}
_UNKNOWN_PREFIX = {
    "parameters": "Unknown_Parameter_",
    "calculations": "Unknown_Calculation_",
    "visibilities": "Unknown_Parameter_",  # sic: luxtronik 0.3.14's name for these
}
NUMERIC_TYPES = {
    "Celsius",
    "Kelvin",
    "Pressure",
    "Percent",
    "Percent2",
    "Speed",
    "Power",
    "Energy",
    "Voltage",
    "Hours",
    "Flow",
    "Level",
    "Count",
    "Seconds",
    "Pulses",
    "Frequency",
    "Bool",
    "Errorcode",
    "Icon",
    "Unknown",
}
UNITS = {  # luxtronik's measurement types as people write them
    "celsius": "°C",
    "kelvin": "K",
    "bar": "bar",
    "percent": "%",
    "rpm": "rpm",
    "W": "W",
    "energy": "kWh",
    "voltage": "V",
    "hours": "h",
    "flow": "l/h",
    "seconds": "s",
    "Hz": "Hz",
}


@dataclass(frozen=True)
class Field:
    group: str
    index: int
    name: str
    kind: str  # the luxtronik datatype class name ("Derived" for our own fields)
    unit: str | None  # luxtronik's measurement_type
    decoder: Callable[[Any], Any] | None  # None: the raw integer is the value
    sensor: Sensor | None = None  # the catalogue's row for this field, if any

    @property
    def numeric(self) -> bool:
        """True when the decoded value is a number (a chart or a gauge can use it)."""
        return self.kind in NUMERIC_TYPES or self.kind == "Derived"

    @property
    def secret(self) -> bool:
        return (self.group, self.index) in SECRETS

    @functools.cached_property
    def width(self) -> int:
        """How many values the decoding reads (the version string reads nine)."""
        versioned = self.group == "calculations" and self.index in VERSION_RANGE
        return VERSION_SLICE if versioned and self.decoder is not None else 1

    def decode(self, values: Sequence[int | None]) -> Any:
        """The value from its `width` raw values (None where the firmware has none)."""
        if values[0] is None or (self.width > 1 and None in values):
            return None
        if self.decoder is None:
            return values[0]
        return self.decoder(values if self.width > 1 else values[0])

    def label(self, language: str = "en") -> str:
        """What people call it ("Flow", "Vorlauf"), else the raw name."""
        return self.sensor.text(language) if self.sensor is not None else self.name

    @property
    def display_unit(self) -> str | None:
        if self.sensor is not None and self.sensor.unit:
            return self.sensor.unit
        return UNITS.get(self.unit or "")

    def header(self, style: str = "raw", language: str = "en") -> str:
        """A column name: the raw name, or the label with its unit ("Flow (°C)")."""
        if style != "readable" or self.sensor is None:
            return self.name
        unit = self.display_unit
        return f"{self.label(language)} ({unit})" if unit else self.label(language)


_CATALOGUE = {(s.group, s.index): s for s in catalogue.SENSORS}


def _field(group: str, index: int, datatype: Base | None) -> Field:
    sensor = _CATALOGUE.get((group, index))
    if sensor is not None and sensor.scale is not None:
        sensor = None  # the luxtronik field stays raw; the scaled one is an extra field
    if datatype is None:
        name = f"{_UNKNOWN_PREFIX[group]}{index}"
        return Field(group, index, name, "Unknown", None, None, sensor)
    method = type(datatype).from_heatpump
    decoder = None if method is Base.from_heatpump else datatype.from_heatpump
    return Field(
        group,
        index,
        datatype.name,
        type(datatype).__name__,
        datatype.measurement_type,
        decoder,
        sensor,
    )


_KNOWN: dict[str, list[Field | None]] = {}
for _group, _table in _TABLES.items():
    _KNOWN[_group] = [None] * (max(_table) + 1)
    for _index, _datatype in _table.items():
        _KNOWN[_group][_index] = _field(_group, _index, _datatype)


def library_length(group: str) -> int:
    """How many values of `group` luxtronik 0.3.14's tables cover (later ones are Unknown)."""
    return len(_KNOWN[group])


def field_at(group: str, index: int) -> Field | None:
    """The field at `index` of `group`, or None where luxtronik decodes nothing."""
    known = _KNOWN[group]
    if index < len(known):
        found = known[index]
        if found is None and group == "calculations" and index in VERSION_RANGE:
            return None
        return found if found is not None else _field(group, index, None)
    return _field(group, index, None)


def fields_for(group: str, length: int) -> list[Field]:
    """Every field luxtronik decodes from an array of `length` values of `group`."""
    return [f for f in (field_at(group, index) for index in range(length)) if f is not None]


def _scaled(sensor: Sensor) -> Field:
    scale = sensor.scale
    assert scale is not None
    return Field(
        sensor.group,
        sensor.index,
        sensor.key,
        "Derived",
        sensor.unit,
        lambda raw: round(raw * scale, 6),
        sensor,
    )


@functools.cache
def sensor_field(key: str) -> Field:
    """The field of a catalogue key: luxtronik's, or our extra one for a scaled sensor."""
    sensor = catalogue.by_key()[key]
    if sensor.scale is not None:
        return _scaled(sensor)
    found = field_at(sensor.group, sensor.index)
    assert found is not None, key
    return found


def well_known_fields() -> list[Field]:
    return [sensor_field(s.key) for s in catalogue.SENSORS if s.well_known]


class _GroupDecoder:
    """Names for every index (grown on demand) and the few fields that need converting.

    Most values are decoded as themselves, so `dict(zip(names, values))` does the bulk in C and
    only the typed fields (about 100 of 1,700) go through their luxtronik decoder.
    """

    def __init__(self, group: str) -> None:
        self.group = group
        self.names: list[str | None] = []
        self.typed: list[tuple[int, str, Callable[[Any], Any]]] = []
        self._grow(len(_KNOWN[group]))

    def _grow(self, length: int) -> None:
        for index in range(len(self.names), length):
            found = field_at(self.group, index)
            self.names.append(found.name if found is not None else None)
            if found is not None and found.decoder is not None:
                self.typed.append((index, found.name, found.decoder))

    def decode(self, values: Sequence[int]) -> dict[str, Any]:
        count = len(values)
        if count > len(self.names):
            self._grow(count)
        decoded: dict[Any, Any] = dict(zip(self.names[:count], values, strict=True))
        decoded.pop(None, None)
        version = self.group == "calculations"
        for index, name, decoder in self.typed:
            if index >= count:
                break
            if version and index in VERSION_RANGE:
                decoded[name] = decoder(values[index : index + VERSION_SLICE])
            else:
                decoded[name] = decoder(values[index])
        return decoded


_DECODERS = {group: _GroupDecoder(group) for group in GROUPS}


def decode_array(group: str, values: Sequence[int]) -> dict[str, Any]:
    """Decode one array as luxtronik 0.3.14 does: name -> value."""
    return _DECODERS[group].decode(values)


def decode_value(found: Field, values: Sequence[int]) -> Any:
    """Decode one field from its whole array; None where this firmware's array is shorter."""
    index, width = found.index, found.width
    if index + width > len(values):
        return None
    if width == 1:  # all but the firmware version: no slice, no tuple (94 fields a poll)
        value = values[index]
        if value is None or found.decoder is None:
            return value
        return found.decoder(value)
    return found.decode(values[index : index + width])


class Arrays(Protocol):
    """What holds a poll's three raw arrays (a Poll)."""

    def array(self, group: str) -> Sequence[int]: ...


def field_value(found: Field, poll: Arrays) -> Any:
    """A field's decoded value in a poll; None where the poll's array is shorter."""
    return decode_value(found, poll.array(found.group))


def value(poll: Arrays, key: str) -> Any:
    """A catalogue sensor's decoded value in a poll (None where the array is shorter)."""
    return field_value(sensor_field(key), poll)


def reading(poll: Arrays, sensor: Sensor) -> Any:
    """A sensor's value as a reading: None where absent or where it says the sensor is not
    connected (a rail value), so it is never taken for a temperature."""
    found = value(poll, sensor.key)
    return None if found is None or sensor.not_connected(found) else found


def _available(lengths: dict[str, int] | None) -> dict[str, list[Field]]:
    wanted = tuple(max(len(_KNOWN[group]), (lengths or {}).get(group, 0)) for group in GROUPS)
    return _available_for(wanted)


@functools.lru_cache(maxsize=16)
def _available_for(lengths: tuple[int, int, int]) -> dict[str, list[Field]]:
    return {
        group: [f for f in fields_for(group, length) if not f.secret]
        for group, length in zip(GROUPS, lengths, strict=True)
    }


def resolve_sensors(patterns: Iterable[str], lengths: dict[str, int] | None = None) -> list[Field]:
    """The fields matched by names, `*` globs, catalogue keys, group names or "well-known".

    In array order (calculations, parameters, visibilities); an extra field of ours follows
    the luxtronik field it decodes.
    `lengths` (group -> array length) adds the fields beyond luxtronik's tables a controller
    has. Secrets (access codes, passwords) are never matched. Raise SensorPatternError
    naming every pattern that matches nothing and every secret asked for by name.
    """
    available = _available(lengths)
    keys = catalogue.by_key()
    chosen: dict[tuple[str, int, str], Field] = {}
    unknown: list[str] = []
    secret: list[str] = []
    for raw_pattern in patterns:
        pattern = raw_pattern.strip()
        if not pattern:
            continue
        if pattern == WELL_KNOWN:
            matched = well_known_fields()
        elif pattern in keys:
            matched = [sensor_field(pattern)]
        elif pattern in available:
            matched = available[pattern]
        else:
            matched = [
                f
                for group in GROUPS
                for f in available[group]
                if fnmatch.fnmatchcase(f.name, pattern)
            ]
            if not matched and any(fnmatch.fnmatchcase(f.name, pattern) for f in secret_fields()):
                secret.append(pattern)
                continue
        if not matched:
            unknown.append(pattern)
        for found in matched:
            chosen.setdefault((found.group, found.index, found.name), found)
    problems = []
    if unknown:
        problems.append(
            "unknown sensor " + ", ".join(repr(p) for p in unknown) + " (expected "
            "luxtronik field names, * globs, catalogue keys such as 'flow', or "
            f"calculations, parameters, visibilities, {WELL_KNOWN})"
        )
    if secret:
        problems.append(
            ", ".join(repr(p) for p in secret) + " is a secret of the controller "
            "(an access code or password): never exported or served"
        )
    if problems:
        raise SensorPatternError("; ".join(problems))
    order = {
        group: position
        for position, group in enumerate(("calculations", "parameters", "visibilities"))
    }
    return sorted(chosen.values(), key=lambda f: (order[f.group], f.index, f.kind == "Derived"))


def secret_fields() -> list[Field]:
    return [f for f in (field_at(group, index) for group, index in SECRETS) if f is not None]


def check_patterns(patterns: Iterable[str]) -> list[str]:
    """Problems with sensor patterns, for check-config (firmware lengths are not known then:
    names beyond luxtronik's tables, Unknown_*_N, are accepted)."""
    try:
        resolve_sensors(patterns, {group: 10_000 for group in GROUPS})
    except SensorPatternError as error:
        return [str(error)]
    return []

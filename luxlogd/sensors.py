"""Field tables of luxtronik 0.3.14 (names, types, units) and decoding of raw integer arrays.

The only module that imports luxtronik. Its tables are class attributes that its own `parse()`
mutates, so we copy them once at import and decode with the fields' pure `from_heatpump()`:
no state is shared between reads. Decoded values equal what luxtronik 0.3.14 decodes from the
same integers, names included (it names visibilities beyond its table `Unknown_Parameter_N`;
we keep that, since a different name would be a different field to a user comparing both).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from luxtronik.calculations import Calculations
from luxtronik.datatypes import Base
from luxtronik.parameters import Parameters
from luxtronik.visibilities import Visibilities

from luxlogd.errors import SensorPatternError
from luxlogd.poll import GROUPS

# Calculations 81-90 hold the firmware version, one character per value; luxtronik decodes
# each index of its table in that range from the slice [index, index + 9).
VERSION_RANGE = range(81, 91)
VERSION_SLICE = 9

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
    "Celsius", "Kelvin", "Pressure", "Percent", "Percent2", "Speed", "Power", "Energy",
    "Voltage", "Hours", "Flow", "Level", "Count", "Seconds", "Pulses", "Frequency", "Bool",
    "Errorcode", "Icon", "Unknown",
}  # fmt: skip


@dataclass(frozen=True)
class Field:
    group: str
    index: int
    name: str
    kind: str  # the luxtronik datatype class name
    unit: str | None  # luxtronik's measurement_type
    decoder: Callable[[Any], Any] | None  # None: the raw integer is the value

    @property
    def numeric(self) -> bool:
        """True when the decoded value is a number (a chart or a Prometheus gauge can use it)."""
        return self.kind in NUMERIC_TYPES


def _field(group: str, index: int, datatype: Base | None) -> Field:
    if datatype is None:
        return Field(group, index, f"{_UNKNOWN_PREFIX[group]}{index}", "Unknown", None, None)
    method = type(datatype).from_heatpump
    decoder = None if method is Base.from_heatpump else datatype.from_heatpump
    return Field(group, index, datatype.name, type(datatype).__name__,
                 datatype.measurement_type, decoder)  # fmt: skip


_KNOWN: dict[str, list[Field | None]] = {}
for _group, _table in _TABLES.items():
    _KNOWN[_group] = [None] * (max(_table) + 1)
    for _index, _datatype in _table.items():
        _KNOWN[_group][_index] = _field(_group, _index, _datatype)


def field_at(group: str, index: int) -> Field | None:
    """Return the field at `index` of `group`, or None where luxtronik decodes nothing."""
    known = _KNOWN[group]
    if index < len(known):
        found = known[index]
        if found is None and group == "calculations" and index in VERSION_RANGE:
            return None
        return found if found is not None else _field(group, index, None)
    return _field(group, index, None)


def fields_for(group: str, length: int) -> list[Field]:
    """Every field luxtronik decodes from an array of `length` values of `group`."""
    result = []
    for index in range(length):
        found = field_at(group, index)
        if found is not None:
            result.append(found)
    return result


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
    """Decode one field from its array (the version string reads several values)."""
    if found.decoder is None:
        return values[found.index]
    if found.group == "calculations" and found.index in VERSION_RANGE:
        return found.decoder(values[found.index : found.index + VERSION_SLICE])
    return found.decoder(values[found.index])


def resolve_sensors(patterns: Iterable[str], lengths: dict[str, int] | None = None) -> list[Field]:
    """Return the fields matched by names, `*` globs or group names, in array order.

    `lengths` (group -> array length) adds the fields beyond luxtronik's tables a controller
    has. Raise SensorPatternError naming every pattern that matches nothing.
    """
    available = {
        group: fields_for(group, max(len(_KNOWN[group]), (lengths or {}).get(group, 0)))
        for group in GROUPS
    }
    chosen: dict[tuple[str, int], Field] = {}
    unknown: list[str] = []
    for raw_pattern in patterns:
        pattern = raw_pattern.strip()
        if not pattern:
            continue
        if pattern in available:
            matched = available[pattern]
        else:
            matched = [f for group in GROUPS for f in available[group]
                       if fnmatch.fnmatchcase(f.name, pattern)]  # fmt: skip
        if not matched:
            unknown.append(pattern)
        for found in matched:
            chosen.setdefault((found.group, found.index), found)
    if unknown:
        raise SensorPatternError(
            "unknown sensor "
            + ", ".join(repr(p) for p in unknown)
            + " (expected luxtronik field names, * globs, or calculations, parameters, "
            "visibilities)"
        )
    order = {group: position for position, group in enumerate(("calculations", "parameters",
                                                                 "visibilities"))}  # fmt: skip
    return sorted(chosen.values(), key=lambda f: (order[f.group], f.index))

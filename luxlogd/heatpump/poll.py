"""One poll of the heat pump: when, the status word, the three raw integer arrays.

The same type is what the client returns, what storage keeps and what readers give back:
the raw integers are the record of truth, decoded only on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from luxlogd.heatpump import sensors
from luxlogd.heatpump.protocol import GROUPS


@dataclass(frozen=True)
class Poll:
    """ts_ms: milliseconds since the epoch (UTC) when the read finished, by the system clock.

    clock_suspect: that clock then disagreed by more than a day with every other clock luxlogd
    has (the heat pump's, the newest poll stored before, the time since it started): the poll
    is kept exactly as read, but left out of time-range reads (luxlogd doctor lists them).
    """

    ts_ms: int
    calc_status: int
    parameters: tuple[int, ...]
    calculations: tuple[int, ...]
    visibilities: tuple[int, ...]
    clock_suspect: bool = False

    @property
    def read_at(self) -> float:
        """Seconds since the epoch (the client's name for the poll time)."""
        return self.ts_ms / 1000

    @property
    def lengths(self) -> tuple[int, int, int]:
        return (len(self.parameters), len(self.calculations), len(self.visibilities))

    def lengths_by_group(self) -> dict[str, int]:
        """{"parameters": n, "calculations": n, "visibilities": n}."""
        return dict(zip(GROUPS, self.lengths, strict=True))

    @cached_property
    def values(self) -> tuple[int, ...]:
        """Every value: parameters, then calculations, then visibilities (made once: the
        writer compares a poll with two others)."""
        return (*self.parameters, *self.calculations, *self.visibilities)

    def flat(self) -> list[int]:
        """Every value in one list (a copy, to change): see `values`."""
        return list(self.values)

    def array(self, group: str) -> tuple[int, ...]:
        """The raw array of `group` ("parameters", "calculations" or "visibilities")."""
        if group not in GROUPS:
            raise KeyError(group)
        array: tuple[int, ...] = getattr(self, group)  # the groups are its fields' names
        return array

    def decode(self) -> dict[str, Any]:
        """luxtronik field name -> value, exactly as luxtronik 0.3.14 decodes these integers."""
        decoded: dict[str, Any] = {}
        for group in GROUPS:
            decoded.update(sensors.decode_array(group, self.array(group)))
        return decoded

    def raw(self) -> dict[str, Any]:
        """The `dump --format raw` object."""
        return {
            "parameters": list(self.parameters),
            "calculations": list(self.calculations),
            "visibilities": list(self.visibilities),
            "calc_status": self.calc_status,
        }

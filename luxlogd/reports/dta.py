"""Stata files (.dta) through pandas, the optional extra `luxlogd[dta]`.

`timestamp` is a real Stata datetime (%tc, the local wall-clock time) and `utc_offset_min`
says which offset it had, so times stay unambiguous across DST changes. Variable names are
Stata-safe (catalogue keys where there are any); the column headers become variable labels.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from typing import IO, Any

from luxlogd.base.errors import LuxlogdError
from luxlogd.heatpump import sensors


class DtaError(LuxlogdError):
    """pandas, which writes Stata files, is not installed."""


def stata_names(chosen: Sequence[sensors.Field]) -> list[str]:
    """Unique Stata variable names (letters, digits, _; at most 32 characters)."""
    names: list[str] = []
    for found in chosen:
        base = found.sensor.key if found.sensor is not None else found.name
        name = re.sub(r"[^A-Za-z0-9_]", "_", base)[:32]
        if name[0].isdigit():
            name = f"v{name}"[:32]
        candidate, number = name, 1
        while candidate in names or candidate in ("timestamp", "utc_offset_min"):
            number += 1
            candidate = f"{name[:28]}_{number}"
        names.append(candidate)
    return names


def write_dta(
    handle: IO[bytes],
    chosen: Sequence[sensors.Field],
    headers: Sequence[str],
    rows: Iterator[tuple[int, list[Any]]],
) -> int:
    """Write the rows as a Stata 118 file to `handle`; return how many were written."""
    try:
        import pandas
    except ImportError:
        raise DtaError(
            "the dta format needs pandas: pip install 'luxlogd[dta]' (Debian: "
            "apt install python3-pandas)"
        ) from None
    names = stata_names(chosen)
    times, offsets, records = [], [], []
    for ts_ms, values in rows:
        moment = dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC).astimezone()
        offset = moment.utcoffset()
        times.append(moment.replace(tzinfo=None))
        offsets.append(int(offset.total_seconds() // 60) if offset else 0)
        records.append(values)
    frame = pandas.DataFrame.from_records(records, columns=names)
    frame.insert(0, "utc_offset_min", pandas.Series(offsets, dtype="int16"))
    frame.insert(0, "timestamp", pandas.to_datetime(pandas.Series(times, dtype="object")))
    for column in names:
        if frame[column].dtype == bool:
            frame[column] = frame[column].astype("int8")
        elif frame[column].dtype == object:
            frame[column] = frame[column].map(_text)
    labels = {"timestamp": "local time", "utc_offset_min": "offset of local time from UTC"}
    labels.update({name: header[:80] for name, header in zip(names, headers, strict=True)})
    frame.to_stata(
        handle,
        write_index=False,
        version=118,
        convert_dates={"timestamp": "tc"},
        variable_labels=labels,
    )
    return len(records)


def _text(value: Any) -> str:
    if value is None:
        return ""
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if isoformat is not None else str(value)

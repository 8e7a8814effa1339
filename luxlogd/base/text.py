"""Texts people read and JSON written for them: sizes, counts, values JSON has no type for."""

from __future__ import annotations

from typing import Any

from luxlogd.base.words import count, number

__all__ = ["bytes_text", "count", "json_default"]


def bytes_text(size: float) -> str:
    """A size in decimal units: 512 B, 1.5 KB, 12.3 MB, 2.0 GB (1,5 KB in German)."""
    for unit in ("B", "KB", "MB"):
        if size < 1000:
            return f"{number(size, 0 if unit == 'B' else 1, grouped=False)} {unit}"
        size /= 1000
    return f"{number(size, 1, grouped=False)} GB"


def json_default(value: Any) -> Any:
    """For json.dumps(default=...): dates and times as ISO 8601, anything else as its text."""
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if isoformat is not None else str(value)

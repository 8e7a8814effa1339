"""Texts people read and JSON written for them: sizes, counts, values JSON has no type for."""

from __future__ import annotations

from typing import Any


def bytes_text(size: float) -> str:
    """A size in decimal units: 512 B, 1.5 KB, 12.3 MB, 2.0 GB."""
    for unit in ("B", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def count(number: int, word: str) -> str:
    """1 gap, 2 gaps."""
    return f"{number:,} {word}" + ("" if number == 1 else "s")


def json_default(value: Any) -> Any:
    """For json.dumps(default=...): dates and times as ISO 8601, anything else as its text."""
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if isoformat is not None else str(value)

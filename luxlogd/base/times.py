"""Time as luxlogd stamps and shows it: epoch milliseconds, local days, texts people read.

Nothing here asks what time it is: every caller passes a time from its injected clock (the
daemon's wall clock, a test's fake one), so one run never mixes two clocks.
"""

from __future__ import annotations

import datetime as dt

from luxlogd.base.words import german, number, tr


def to_ms(moment: dt.datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (how polls are stamped)."""
    return int(moment.timestamp() * 1000)


def local_time(epoch_s: float) -> dt.datetime:
    """The moment in the machine's time zone (aware)."""
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).astimezone()


def local_date(epoch_s: float) -> dt.date:
    """The local calendar day of a moment: what reports and "today" mean."""
    return local_time(epoch_s).date()


def local_midnight_ms(day: dt.date) -> int:
    """The start of a local day (a daylight-saving day is 23 or 25 hours long)."""
    return int(dt.datetime.combine(day, dt.time()).astimezone().timestamp() * 1000)


def utc_date_text(ms: int) -> str:
    """The UTC day of a stamp, YYYY-MM-DD: how sealed days are named."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).date().isoformat()


def clock_text(epoch_s: float | None) -> str:
    """Local time to the second (2026-11-30 19:23:27, German 30.11.2026 19:23:27), or 'never'."""
    if epoch_s is None:
        return tr("never")
    return local_time(epoch_s).strftime("%d.%m.%Y %H:%M:%S" if german() else "%Y-%m-%d %H:%M:%S")


def minute_text(epoch_s: float) -> str:
    """Local time, to the minute."""
    return local_time(epoch_s).strftime("%d.%m.%Y %H:%M" if german() else "%Y-%m-%d %H:%M")


def date_text(day: dt.date) -> str:
    """A day: 2026-11-30, German 30.11.2026."""
    return day.strftime("%d.%m.%Y") if german() else day.isoformat()


def hour_minute_text(ms: int) -> str:
    """Local HH:MM of a stamp (within a day's figures)."""
    return local_time(ms / 1000).strftime("%H:%M")


def duration_text(seconds: float) -> str:
    """A duration people read at a glance: 45 s, 12 min, 3.5 h, 2.1 days, 1.3 years."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{number(seconds / 3600, 1)} h"
    if seconds < 2 * 365 * 86400:
        return tr("{n} days", n=number(seconds / 86400, 1))
    return tr("{n} years", n=number(seconds / (365.25 * 86400), 1))

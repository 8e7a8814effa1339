"""What every endpoint takes from a request, bounded: a slot of its kind (server.SLOTS),
times, ranges, integers and sensor patterns from the query, the page's language, and the
cache of summaries of finished days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from luxlogd.base.errors import SensorPatternError, TimeRangeError
from luxlogd.base.times import to_ms
from luxlogd.config import LANGUAGES
from luxlogd.heatpump import sensors
from luxlogd.outputs.web.server import BadRequest, Busy, Handler
from luxlogd.reports import export

MAX_POINTS = 10_000
MAX_PATTERNS = 64
MAX_PATTERN_CHARS = 2_000
MAX_DAYS = 31
WORK_DEADLINE_S = 20.0
CACHED_DAYS = 1200  # a season's day figures and heating-curve bins, and summaries


@contextmanager
def slot_for(handler: Handler, kind: str) -> Iterator[None]:
    slot = handler.server.slots[kind]
    if not slot.acquire(timeout=2.0):
        raise Busy(f"too many {kind} requests at once; try again")
    try:
        yield
    finally:
        slot.release()


def time_ms(text: str | None, name: str, *, end_of_day: bool = False) -> int:
    if not text:
        raise BadRequest(f"{name}: missing (an ISO 8601 date or date-time)")
    try:
        return to_ms(export.parse_time(text, end_of_day=end_of_day))
    except TimeRangeError as error:
        raise BadRequest(f"{name}: {error}") from None


def time_range(query: dict[str, str]) -> tuple[int, int]:
    start = time_ms(query.get("from"), "from")
    end = time_ms(query.get("to"), "to", end_of_day=True)
    if end <= start:
        raise BadRequest("to: must be after from")
    return start, end


def integer_arg(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(query.get(name, str(default)))
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadRequest(f"{name}: expected an integer {low}-{high}")
    return value


def poll_lengths(handler: Handler) -> dict[str, int]:
    poll = handler.server.provider.latest_poll()
    return {} if poll is None else poll.lengths_by_group()


def pattern_list(text: str, name: str) -> list[str]:
    patterns = [p for p in text.split(",") if p.strip()]
    if len(text) > MAX_PATTERN_CHARS or len(patterns) > MAX_PATTERNS:
        raise BadRequest(f"{name}: at most {MAX_PATTERNS} patterns, {MAX_PATTERN_CHARS} characters")
    return list(dict.fromkeys(p.strip() for p in patterns))


def chosen_fields(handler: Handler, text: str, name: str) -> list[sensors.Field]:
    try:
        return sensors.resolve_sensors(pattern_list(text, name), poll_lengths(handler))
    except SensorPatternError as error:
        raise BadRequest(f"{name}: {error}") from None


def language_of(handler: Handler, query: dict[str, str]) -> str:
    language = query.get("lang") or handler.server.config.ui.language
    if language not in LANGUAGES:
        raise BadRequest(f"lang: expected one of {', '.join(LANGUAGES)}")
    return language


def cached(handler: Handler, key: Any, end: dt.datetime, compute: Callable[[], Any]) -> Any:
    """Results about finished periods (ended more than an hour ago) are kept."""
    server = handler.server
    with server.cache_lock:
        if key in server.cache:
            return server.cache[key]
    value = compute()
    if end.timestamp() < server.clock() - 3600:
        with server.cache_lock:
            if len(server.cache) >= CACHED_DAYS:
                server.cache.pop(next(iter(server.cache)))
            server.cache[key] = value
    return value

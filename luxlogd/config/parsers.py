"""The schema of every key: its type, range and default, each a parser that says what it
expected and what it found (written here and nowhere else)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from luxlogd.config.model import (
    HEADER_STYLES,
    LANGUAGES,
    LOG_LEVELS,
    MAX_RETENTION_DAYS,
    REPORT_FORMATS,
)


class Invalid(ValueError):
    """A value that does not fit; the message says what was expected (and `found`, when
    that is more telling than the whole value: the bad item of a list)."""

    def __init__(self, expected: str, found: str | None = None) -> None:
        super().__init__(expected)
        self.found = found


def describe(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return str(value)


def _integer(low: int, high: int | None) -> Callable[[Any], int]:
    expected = f"an integer {low}-{high}" if high is not None else f"an integer >= {low}"

    def parse(value: Any) -> int:
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise Invalid(expected) from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(expected)
        if value < low or (high is not None and value > high):
            raise Invalid(expected)
        return value

    return parse


def _number(low: float, high: float, *, low_open: bool = False) -> Callable[[Any], float]:
    expected = f"a number {'>' if low_open else '>='} {low:g}" + (
        f" and <= {high:g}" if high != float("inf") else ""
    )

    def parse(value: Any) -> float:
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise Invalid(expected) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(expected)
        number = float(value)
        if number != number or number > high or number < low or (low_open and number == low):
            raise Invalid(expected)
        return number

    return parse


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    raise Invalid("true or false")


def _text(pattern: str | None = None, expected: str = "a string") -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(expected)
        if pattern is not None and not re.fullmatch(pattern, value):
            raise Invalid(expected)
        return value

    return parse


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    expected = "one of " + ", ".join(json.dumps(c) for c in choices)

    def parse(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise Invalid(expected)

    return parse


def _string_list(
    item_choices: tuple[str, ...] | None = None, non_empty: bool = True
) -> Callable[[Any], tuple[str, ...]]:
    what = "a list of strings"
    if item_choices:
        what = "a list of " + ", ".join(item_choices)

    def parse(value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise Invalid(what) from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise Invalid(what)
        if non_empty and not value:
            raise Invalid("a non-empty " + what.removeprefix("a "))
        if item_choices is not None:
            value = [v.strip().lower() for v in value]
            bad = [v for v in value if v not in item_choices]
            if bad:
                raise Invalid(what, ", ".join(json.dumps(v) for v in bad))
        return tuple(value)

    return parse


def _clock_time(value: Any) -> str:
    expected = 'a time "HH:MM" (00:00-23:59)'
    if not isinstance(value, str):
        raise Invalid(expected)
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise Invalid(expected)
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _host(value: Any) -> str:
    expected = "a host name or IP address"
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._:\-\[\]%]*", value):
        raise Invalid(expected)
    if re.fullmatch(r"[0-9.]+", value):  # looks like IPv4: must be one
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise Invalid("an IPv4 address (four numbers 0-255) or a host name") from None
    return value


def _month_day(value: Any) -> str:
    expected = 'a day of the year "MM-DD" (09-01 is 1 September)'
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}-\d{2}", value.strip()):
        raise Invalid(expected)
    try:
        dt.date.fromisoformat(f"2001-{value.strip()}")  # not a leap year: no 29 February
    except ValueError:
        raise Invalid(expected) from None
    return value.strip()


def _listen(value: Any) -> str:
    expected = 'an address "HOST:PORT" (port 0-65535; 0 picks a free one)'
    if not isinstance(value, str):
        raise Invalid(expected)
    host, _, port = value.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise Invalid(expected)
    return value.strip()


def _schedule(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str) and value.strip().lower() in ("auto", "on", "off"):
        return value.strip().lower()
    if isinstance(value, str):
        try:
            return "on" if _boolean(value) else "off"
        except Invalid:
            pass
    raise Invalid('"auto", true or false')


PARSERS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "heatpump": {
        "host": _host,
        "port": _integer(1, 65535),
        "timeout_s": _number(0, 3600, low_open=True),
        "retries": _integer(0, 100),
        "backoff_s": _number(0, 3600),
    },
    "poll": {"interval_s": _number(0.1, 86400)},
    "storage": {
        "state_dir": _text(r".+", "a directory path"),
        "retention_days": _integer(0, MAX_RETENTION_DAYS),
    },
    "reports": {
        "output_dirs": _string_list(),
        "time": _clock_time,
        "retention_days": _integer(0, MAX_RETENTION_DAYS),
        "sensors": _string_list(),
        "formats": _string_list(REPORT_FORMATS),
        "headers": _choice(HEADER_STYLES),
        "compress": _boolean,
    },
    "disk": {"usage_threshold_percent": _number(1, 100)},
    "web": {
        "enabled": _boolean,
        "listen": _listen,
        "token": _text(),
        "allowed_hosts": _string_list(non_empty=False),
    },
    "schedule": {"internal": _schedule},
    "log": {"level": _choice(LOG_LEVELS)},
    "ui": {"language": _choice(LANGUAGES)},
    "stats": {"season_start": _month_day},
    "metrics": {"raw": _boolean},
    "mqtt": {
        "enabled": _boolean,
        "host": _host,
        "port": _integer(1, 65535),
        "client_id": _text(r"[A-Za-z0-9._-]{0,64}", "1-64 letters, digits, '.', '_' or '-'"),
        "username": _text(),
        "password": _text(),
        "password_file": _text(),
        "tls": _boolean,
        "ca_file": _text(),
        "cert_file": _text(),
        "key_file": _text(),
        "tls_insecure": _boolean,
        "name": _text(
            r"([a-z0-9_-]{1,32})?",
            "1-32 lower-case letters, digits, '_' or '-' (empty: made of the instance or host)",
        ),
        "topic_prefix": _text(
            r"([^#+\s]+(?<!/))?", "a topic without '#', '+', spaces or a trailing '/'"
        ),
        "qos": _integer(0, 1),
        "retain": _boolean,
        "discovery": _boolean,
        "discovery_prefix": _text(r"[^#+\s/]+", "a topic level without '#', '+', '/' or spaces"),
        "sensors": _string_list(),
    },
}

"""Configuration: TOML file + built-in defaults + LUXLOGD_<SECTION>_<KEY> environment overrides.

Every problem is collected into one ConfigError, each naming the source, the key, what was
expected and what was found. The result is a frozen dataclass tree. The schema of every key
(its type, range and default) is written here and nowhere else, hence the length.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luxlogd.base.errors import ConfigError

try:
    import tomllib
except ImportError:  # pragma: no cover - an interpreter without tomllib (design card: tomli)
    import tomli as tomllib  # type: ignore[no-redef]

DEFAULT_CONFIG_PATH = Path("/etc/luxlogd/luxlogd.toml")
DEFAULT_STATE_DIR = "/var/lib/luxlogd"
ENV_PREFIX = "LUXLOGD_"
LOG_LEVELS = ("debug", "info", "warning", "error")
REPORT_FORMATS = ("csv", "json", "dta")
HEADER_STYLES = ("raw", "readable")
LANGUAGES = ("en", "de")
MAX_RETENTION_DAYS = 36_500  # a hundred years; 0 means forever
SECRET_KEYS = {("web", "token"), ("mqtt", "password")}  # masked wherever configuration is shown

# The first design's flat keys, still accepted at the top level of the file.
LEGACY_KEYS = {
    "HOST": ("heatpump", "host"),
    "PORT": ("heatpump", "port"),
    "INTERVAL_SEC": ("poll", "interval_s"),
    "CSV_TIME": ("reports", "time"),
    "CACHE_PATH": ("storage", "state_dir"),
    "OUTPUT_DIRS": ("reports", "output_dirs"),
}


@dataclass(frozen=True)
class HeatpumpConfig:
    host: str = ""
    port: int = 8889
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 2.0


@dataclass(frozen=True)
class PollConfig:
    interval_s: float = 30.0


@dataclass(frozen=True)
class StorageConfig:
    state_dir: str = DEFAULT_STATE_DIR
    retention_days: int = 400


@dataclass(frozen=True)
class ReportsConfig:
    output_dirs: tuple[str, ...] = ()
    time: str = "07:00"
    retention_days: int = 30
    sensors: tuple[str, ...] = ("calculations",)
    formats: tuple[str, ...] = ("csv",)
    headers: str = "raw"
    compress: bool = False


@dataclass(frozen=True)
class DiskConfig:
    usage_threshold_percent: float = 90.0


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = True
    listen: str = "127.0.0.1:8088"
    token: str = ""
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScheduleConfig:
    internal: str = "auto"


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"


@dataclass(frozen=True)
class UiConfig:
    language: str = "en"


@dataclass(frozen=True)
class StatsConfig:
    season_start: str = "09-01"


@dataclass(frozen=True)
class MetricsConfig:
    raw: bool = False


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = False
    host: str = ""
    port: int = 1883
    client_id: str = ""  # default: luxlogd-<name>
    username: str = ""
    password: str = ""
    password_file: str = ""  # read at start: the password in a file only root and luxlogd read
    tls: bool = False
    ca_file: str = ""  # default with tls: the system's CA certificates
    cert_file: str = ""
    key_file: str = ""
    tls_insecure: bool = False
    name: str = "heatpump"
    topic_prefix: str = ""  # default: luxlogd/<name>
    qos: int = 0
    retain: bool = True
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    sensors: tuple[str, ...] = ("well-known",)

    @property
    def prefix(self) -> str:
        return self.topic_prefix or f"luxlogd/{self.name}"

    @property
    def client(self) -> str:
        return self.client_id or f"luxlogd-{self.name}"


@dataclass(frozen=True)
class Config:
    heatpump: HeatpumpConfig = HeatpumpConfig()
    poll: PollConfig = PollConfig()
    storage: StorageConfig = StorageConfig()
    reports: ReportsConfig = ReportsConfig()
    disk: DiskConfig = DiskConfig()
    web: WebConfig = WebConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    log: LogConfig = LogConfig()
    ui: UiConfig = UiConfig()
    stats: StatsConfig = StatsConfig()
    metrics: MetricsConfig = MetricsConfig()
    mqtt: MqttConfig = MqttConfig()
    source: str = "built-in defaults"
    warnings: tuple[str, ...] = ()

    @property
    def state_dir(self) -> Path:
        return Path(self.storage.state_dir)

    @property
    def report_dirs(self) -> list[Path]:
        return [Path(d) for d in self.reports.output_dirs]


SECTIONS: dict[str, type] = {
    "heatpump": HeatpumpConfig,
    "poll": PollConfig,
    "storage": StorageConfig,
    "reports": ReportsConfig,
    "disk": DiskConfig,
    "web": WebConfig,
    "schedule": ScheduleConfig,
    "log": LogConfig,
    "ui": UiConfig,
    "stats": StatsConfig,
    "metrics": MetricsConfig,
    "mqtt": MqttConfig,
}


class _Invalid(ValueError):
    """A value that does not fit; the message says what was expected (and `found`, when
    that is more telling than the whole value: the bad item of a list)."""

    def __init__(self, expected: str, found: str | None = None) -> None:
        super().__init__(expected)
        self.found = found


def _describe(value: Any) -> str:
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
                raise _Invalid(expected) from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(expected)
        if value < low or (high is not None and value > high):
            raise _Invalid(expected)
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
                raise _Invalid(expected) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid(expected)
        value = float(value)
        if value != value or value > high or value < low or (low_open and value == low):
            raise _Invalid(expected)
        return value

    return parse


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    raise _Invalid("true or false")


def _text(pattern: str | None = None, expected: str = "a string") -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise _Invalid(expected)
        if pattern is not None and not re.fullmatch(pattern, value):
            raise _Invalid(expected)
        return value

    return parse


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    expected = "one of " + ", ".join(json.dumps(c) for c in choices)

    def parse(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise _Invalid(expected)

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
                    raise _Invalid(what) from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _Invalid(what)
        if non_empty and not value:
            raise _Invalid("a non-empty " + what.removeprefix("a "))
        if item_choices is not None:
            value = [v.strip().lower() for v in value]
            bad = [v for v in value if v not in item_choices]
            if bad:
                raise _Invalid(what, ", ".join(json.dumps(v) for v in bad))
        return tuple(value)

    return parse


def _clock_time(value: Any) -> str:
    expected = 'a time "HH:MM" (00:00-23:59)'
    if not isinstance(value, str):
        raise _Invalid(expected)
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise _Invalid(expected)
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def _host(value: Any) -> str:
    expected = "a host name or IP address"
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._:\-\[\]%]*", value):
        raise _Invalid(expected)
    if re.fullmatch(r"[0-9.]+", value):  # looks like IPv4: must be one
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise _Invalid("an IPv4 address (four numbers 0-255) or a host name") from None
    return value


def _month_day(value: Any) -> str:
    expected = 'a day of the year "MM-DD" (09-01 is 1 September)'
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}-\d{2}", value.strip()):
        raise _Invalid(expected)
    try:
        dt.date.fromisoformat(f"2001-{value.strip()}")  # not a leap year: no 29 February
    except ValueError:
        raise _Invalid(expected) from None
    return value.strip()


def _listen(value: Any) -> str:
    expected = 'an address "HOST:PORT" (port 0-65535; 0 picks a free one)'
    if not isinstance(value, str):
        raise _Invalid(expected)
    host, _, port = value.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise _Invalid(expected)
    return value.strip()


def _schedule(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str) and value.strip().lower() in ("auto", "on", "off"):
        return value.strip().lower()
    if isinstance(value, str):
        try:
            return "on" if _boolean(value) else "off"
        except _Invalid:
            pass
    raise _Invalid('"auto", true or false')


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
        "name": _text(r"[a-z0-9_-]{1,32}", "1-32 lower-case letters, digits, '_' or '-'"),
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


def find_config_path(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """Return the file to read: --config, else $LUXLOGD_CONFIG, else the system file if any."""
    if explicit:
        return Path(explicit)
    if environ.get("LUXLOGD_CONFIG"):
        return Path(environ["LUXLOGD_CONFIG"])
    if DEFAULT_CONFIG_PATH.exists():
        return DEFAULT_CONFIG_PATH
    return None


def _read_file(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        problems.append(f"{path}: file not found")
    except (PermissionError, IsADirectoryError) as error:
        problems.append(f"{path}: cannot read: {error.strerror}")
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{path}: not valid TOML: {error}")
    except UnicodeDecodeError:
        problems.append(f"{path}: not valid TOML: not UTF-8 text")
    return {}


def _collect_file_values(
    data: dict[str, Any], source: str, problems: list[str], warnings: list[str]
) -> dict[tuple[str, str], tuple[Any, str]]:
    values: dict[tuple[str, str], tuple[Any, str]] = {}
    for top_key, content in data.items():
        if top_key in LEGACY_KEYS:
            new = LEGACY_KEYS[top_key]
            warnings.append(f"{source}: {top_key} is deprecated, use {new[0]}.{new[1]}")
            if new == ("reports", "output_dirs") and isinstance(content, str):
                content = [content]
            values.setdefault(new, (content, source))
            continue
        if top_key not in PARSERS:
            problems.append(
                f"{source}: {top_key}: unknown section (expected one of {', '.join(PARSERS)})"
            )
            continue
        if not isinstance(content, dict):
            problems.append(
                f"{source}: {top_key}: expected a table [{top_key}], got {_describe(content)}"
            )
            continue
        for key, value in content.items():
            if key not in PARSERS[top_key]:
                problems.append(
                    f"{source}: {top_key}.{key}: unknown key (expected one of "
                    f"{', '.join(PARSERS[top_key])})"
                )
                continue
            values[(top_key, key)] = (value, source)
    return values


def _collect_env_values(
    environ: Mapping[str, str], problems: list[str]
) -> dict[tuple[str, str], tuple[Any, str]]:
    values: dict[tuple[str, str], tuple[Any, str]] = {}
    by_env_name = {
        f"{ENV_PREFIX}{section}_{key}".upper(): (section, key)
        for section, keys in PARSERS.items()
        for key in keys
    }
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "LUXLOGD_CONFIG":
            continue
        if name not in by_env_name:
            problems.append(
                f"environment {name}: unknown variable (expected LUXLOGD_<SECTION>_<KEY>)"
            )
            continue
        values[by_env_name[name]] = (value, f"environment {name}")
    return values


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    log_level: str | None = None,
) -> Config:
    """Load the configuration from `path` (or the lookup order of SPEC §3) and the environment.

    Raises ConfigError listing every problem found.
    """
    environ = os.environ if environ is None else environ
    file_path = find_config_path(str(path) if path else None, environ)
    problems: list[str] = []
    warnings: list[str] = []
    values: dict[tuple[str, str], tuple[Any, str]] = {}
    source = "built-in defaults"
    if file_path is not None:
        source = str(file_path)
        data = _read_file(file_path, problems)
        values.update(_collect_file_values(data, source, problems, warnings))
    values.update(_collect_env_values(environ, problems))
    if log_level is not None:
        values[("log", "level")] = (log_level, "--log-level")

    sections: dict[str, dict[str, Any]] = {name: {} for name in PARSERS}
    for (section, key), (raw, where) in values.items():
        try:
            sections[section][key] = PARSERS[section][key](raw)
        except _Invalid as invalid:
            found = invalid.found or _describe(raw)
            problems.append(f"{where}: {section}.{key}: expected {invalid}, got {found}")
    if "sensors" in sections["reports"]:
        from luxlogd.heatpump.sensors import check_patterns

        where = values[("reports", "sensors")][1]
        problems += [
            f"{where}: reports.sensors: {problem}"
            for problem in check_patterns(sections["reports"]["sensors"])
        ]

    problems += _mqtt_problems(sections["mqtt"], values)
    if problems:
        raise ConfigError(problems)

    if "state_dir" not in sections["storage"] and environ.get("STATE_DIRECTORY"):
        # systemd's StateDirectory= may list several paths separated by colons.
        sections["storage"]["state_dir"] = environ["STATE_DIRECTORY"].split(":")[0]
    state_dir = sections["storage"].get("state_dir", DEFAULT_STATE_DIR)
    if "output_dirs" not in sections["reports"]:
        sections["reports"]["output_dirs"] = (str(Path(state_dir) / "reports"),)
    interval = sections["poll"].get("interval_s", PollConfig.interval_s)
    if interval < 10:
        warnings.append(
            f"poll.interval_s is {interval:g} s: below 10 s the controller may not keep up"
        )
    built = {name: SECTIONS[name](**sections[name]) for name in PARSERS}
    return Config(**built, source=source, warnings=tuple(warnings))


def _mqtt_problems(
    mqtt: dict[str, Any], values: Mapping[tuple[str, str], tuple[Any, str]]
) -> list[str]:
    """What the [mqtt] keys cannot mean together; reads the password file (never logged)."""

    def where(key: str) -> str:
        return values[("mqtt", key)][1] if ("mqtt", key) in values else "mqtt"

    problems = []
    if mqtt.get("enabled") and not mqtt.get("host"):
        problems.append(
            f"{where('enabled')}: mqtt.host: expected the broker's host name or "
            "IP address (mqtt.enabled is true), got nothing"
        )
    if mqtt.get("password") and mqtt.get("password_file"):
        problems.append(
            f"{where('password_file')}: mqtt.password_file: give mqtt.password or "
            "mqtt.password_file, not both"
        )
    elif mqtt.get("password_file"):
        path = Path(mqtt["password_file"])
        try:
            mqtt["password"] = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            problems.append(
                f"{where('password_file')}: mqtt.password_file: cannot read {path}: {reason}"
            )
    if bool(mqtt.get("cert_file")) != bool(mqtt.get("key_file")):
        given = "cert_file" if mqtt.get("cert_file") else "key_file"
        problems.append(
            f"{where(given)}: mqtt.cert_file and mqtt.key_file: a client certificate needs both"
        )
    for key in ("ca_file", "cert_file", "key_file"):
        if mqtt.get(key) and not mqtt.get("tls"):
            problems.append(f"{where(key)}: mqtt.{key}: set mqtt.tls = true to use it")
        elif mqtt.get(key) and not Path(mqtt[key]).is_file():
            problems.append(f"{where(key)}: mqtt.{key}: no such file: {mqtt[key]}")
    if "sensors" in mqtt:
        from luxlogd.heatpump.sensors import check_patterns

        problems += [
            f"{where('sensors')}: mqtt.sensors: {problem}"
            for problem in check_patterns(mqtt["sensors"])
        ]
    return problems


def require_host(config: Config) -> None:
    """Raise ConfigError when heatpump.host is missing (`run` and `check-config` need it),
    with the hint the package installation prints."""
    if not config.heatpump.host:
        where = config.source if config.source != "built-in defaults" else DEFAULT_CONFIG_PATH
        raise ConfigError(
            [
                f"{config.source}: heatpump.host: expected a host name or IP address, got nothing "
                f"(set heatpump.host in {where}, then: systemctl restart luxlogd)"
            ]
        )


def reload_config(path: str | None, running: Config) -> Config:
    """The configuration re-read for `systemctl reload` (raises ConfigError; the running one
    stays). storage.state_dir changes only on restart: it is kept, with a warning."""
    import logging

    new = load_config(path)
    require_host(new)
    if new.storage.state_dir != running.storage.state_dir:
        logging.getLogger("luxlogd.service").warning(
            "storage.state_dir changes only on restart; keeping %s", running.storage.state_dir
        )
    return dataclasses.replace(new, storage=running.storage)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def format_config(config: Config) -> str:
    """Return the effective configuration as TOML text (the token is masked)."""
    lines = [f"# effective configuration (from {config.source})"]
    for name in PARSERS:
        lines.append(f"\n[{name}]")
        for field in dataclasses.fields(getattr(config, name)):
            value = getattr(getattr(config, name), field.name)
            if (name, field.name) in SECRET_KEYS and value:
                value = "********"
            lines.append(f"{field.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"

"""Reading the configuration: TOML file + built-in defaults + LUXLOGD_<SECTION>_<KEY>
environment overrides; every problem collected into one ConfigError, each naming the
source, the key, what was expected and what was found. Also its display (secrets masked)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from luxlogd.base.errors import ConfigError

try:
    import tomllib
except ImportError:  # pragma: no cover - an interpreter without tomllib (design card: tomli)
    import tomli as tomllib  # type: ignore[no-redef]


from luxlogd.config.model import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_STATE_DIR,
    ENV_PREFIX,
    LEGACY_KEYS,
    SECRET_KEYS,
    SECTIONS,
    Config,
    PollConfig,
)
from luxlogd.config.parsers import (
    PARSERS,
    Invalid,
    describe,
)

INSTANCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# An instance's state is /var/lib/luxlogd/NAME: not a name the plain daemon's state uses there.
RESERVED_INSTANCES = {"wal", "reports", "luxlogd"}


def find_config_path(
    explicit: str | None, environ: Mapping[str, str], instance: str = ""
) -> Path | None:
    """Return the file to read: --config, else $LUXLOGD_CONFIG, else the system file if any
    (an instance's: /etc/luxlogd/NAME.toml; without one, defaults and the environment, as
    in a container)."""
    if explicit:
        return Path(explicit)
    if environ.get("LUXLOGD_CONFIG"):
        return Path(environ["LUXLOGD_CONFIG"])
    system_file = instance_config_path(instance)
    return system_file if system_file.exists() else None


def instance_config_path(instance: str) -> Path:
    """The system's configuration file: /etc/luxlogd/luxlogd.toml, an instance's NAME.toml."""
    return DEFAULT_CONFIG_PATH.with_name(f"{instance}.toml") if instance else DEFAULT_CONFIG_PATH


def instance_of(explicit: str | None, environ: Mapping[str, str]) -> str:
    """The instance's name (--instance, else $LUXLOGD_INSTANCE, else none); ConfigError
    when it is not a name (it becomes a file name, a directory and MQTT topics)."""
    name = explicit if explicit is not None else environ.get("LUXLOGD_INSTANCE", "")
    if name in RESERVED_INSTANCES:
        raise ConfigError(
            [f"instance: {name!r} is a directory of luxlogd's own state: choose another name"]
        )
    if name and not INSTANCE.fullmatch(name):
        raise ConfigError(
            [
                f"instance: expected 1-32 lower-case letters, digits, '_' or '-' (starting "
                f"with a letter or digit), got {name!r}"
            ]
        )
    return name


def derived_mqtt_name(instance: str, host: str, port: int = 8889) -> str:
    """mqtt.name when not given: the instance's name, else one made of heatpump.host (and
    its port where not the usual 8889): two heat pumps on one broker then never share topics
    or entities ("heatpump_192_168_1_50")."""
    if instance:
        return instance
    address = host if port == 8889 else f"{host}_{port}"
    slug = re.sub(r"[^a-z0-9]+", "_", address.lower()).strip("_")
    return f"heatpump_{slug}"[:32].rstrip("_") if host else "heatpump"


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
                f"{source}: {top_key}: expected a table [{top_key}], got {describe(content)}"
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
        if not name.startswith(ENV_PREFIX) or name in ("LUXLOGD_CONFIG", "LUXLOGD_INSTANCE"):
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
    instance: str | None = None,
) -> Config:
    """Load the configuration from `path` (or the lookup order of SPEC §3) and the environment.
    `instance` (or $LUXLOGD_INSTANCE): one of several heat pumps on this host, with its own
    file (/etc/luxlogd/NAME.toml), state directory (/var/lib/luxlogd/NAME) and MQTT name.

    Raises ConfigError listing every problem found.
    """
    environ = os.environ if environ is None else environ
    instance = instance_of(instance, environ)
    file_path = find_config_path(str(path) if path else None, environ, instance)
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
        except Invalid as invalid:
            found = invalid.found or describe(raw)
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
    if instance and "state_dir" not in sections["storage"]:
        sections["storage"]["state_dir"] = f"{DEFAULT_STATE_DIR}/{instance}"
    state_dir = sections["storage"].get("state_dir", DEFAULT_STATE_DIR)
    if "output_dirs" not in sections["reports"]:
        sections["reports"]["output_dirs"] = (str(Path(state_dir) / "reports"),)
    interval = sections["poll"].get("interval_s", PollConfig.interval_s)
    if interval < 10:
        warnings.append(
            f"poll.interval_s is {interval:g} s: below 10 s the controller may not keep up"
        )
    name_given = bool(sections["mqtt"].get("name"))
    if not name_given:
        heatpump = sections["heatpump"]
        sections["mqtt"]["name"] = derived_mqtt_name(
            instance, heatpump.get("host", ""), heatpump.get("port", 8889)
        )
    built = {name: SECTIONS[name](**sections[name]) for name in PARSERS}
    return Config(
        **built,
        instance=instance,
        mqtt_name_given=name_given,
        given=frozenset(f"{section}.{key}" for section, key in values),
        source=source,
        warnings=tuple(warnings),
    )


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
        system_file = instance_config_path(config.instance)
        where = config.source if config.source != "built-in defaults" else system_file
        raise ConfigError(
            [
                f"{config.source}: heatpump.host: expected a host name or IP address, got nothing "
                f"(set heatpump.host in {where}, then: systemctl restart "
                f"{'luxlogd@' + config.instance if config.instance else 'luxlogd'})"
            ]
        )


def reload_config(path: str | None, running: Config) -> Config:
    """The configuration re-read for `systemctl reload` (raises ConfigError; the running one
    stays). storage.state_dir changes only on restart: it is kept, with a warning."""
    import logging

    new = load_config(path, instance=running.instance)
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
    if config.instance:
        lines.append(f"# instance {config.instance} (luxlogd@{config.instance}.service)")
    for name in PARSERS:
        lines.append(f"\n[{name}]")
        for field in dataclasses.fields(getattr(config, name)):
            value = getattr(getattr(config, name), field.name)
            if (name, field.name) in SECRET_KEYS and value:
                value = "********"
            lines.append(f"{field.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"

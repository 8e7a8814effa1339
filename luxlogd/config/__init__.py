"""Configuration: TOML file + built-in defaults + LUXLOGD_<SECTION>_<KEY> environment overrides.

Every problem is collected into one ConfigError, each naming the source, the key, what was
expected and what was found. The result is a frozen dataclass tree (model.py); the schema of
every key, its type, range and default, is written in parsers.py and nowhere else; load.py
reads, checks and shows it. This module is the package's interface.
"""

from luxlogd.base.errors import ConfigError
from luxlogd.config.load import (
    find_config_path,
    format_config,
    load_config,
    reload_config,
    require_host,
)
from luxlogd.config.model import (
    DEFAULT_CONFIG_PATH,
    DEFAULT_STATE_DIR,
    HEADER_STYLES,
    LANGUAGES,
    LOG_LEVELS,
    MAX_RETENTION_DAYS,
    REPORT_FORMATS,
    Config,
    MqttConfig,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_STATE_DIR",
    "HEADER_STYLES",
    "LANGUAGES",
    "LOG_LEVELS",
    "MAX_RETENTION_DAYS",
    "REPORT_FORMATS",
    "Config",
    "ConfigError",
    "MqttConfig",
    "find_config_path",
    "format_config",
    "load_config",
    "reload_config",
    "require_host",
]

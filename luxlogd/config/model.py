"""What the configuration is: every section as a frozen dataclass, the defaults, the limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    client_id: str = ""  # default: luxlogd-<name>-<8 hex digits of host and state_dir>
    username: str = ""
    password: str = ""
    password_file: str = ""  # read at start: the password in a file only root and luxlogd read
    tls: bool = False
    ca_file: str = ""  # default with tls: the system's CA certificates
    cert_file: str = ""
    key_file: str = ""
    tls_insecure: bool = False
    name: str = ""  # default: the instance's name, else one made of heatpump.host
    topic_prefix: str = ""  # default: luxlogd/<name>
    qos: int = 0
    retain: bool = True
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    sensors: tuple[str, ...] = ("well-known",)

    @property
    def prefix(self) -> str:
        return self.topic_prefix or f"luxlogd/{self.name}"


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
    instance: str = ""  # luxlogd@NAME / --instance NAME: one of several heat pumps on a host
    mqtt_name_given: bool = False  # mqtt.name set by the user (else derived: load.py)
    given: frozenset[str] = frozenset()  # "section.key" set by the file, environment or flag
    source: str = "built-in defaults"
    warnings: tuple[str, ...] = ()

    @property
    def state_dir(self) -> Path:
        return Path(self.storage.state_dir)

    @property
    def name(self) -> str:
        """This heat pump's name on the page, in metrics and MQTT: the instance's, else
        mqtt.name (given, or made of heatpump.host)."""
        return self.instance or self.mqtt.name

    @property
    def web_url(self) -> str | None:
        """The page's address, where the web server runs (for links: Home Assistant's
        device, the page's list of the heat pumps on this host)."""
        if not self.web.enabled:
            return None
        host, _, port = self.web.listen.rpartition(":")
        host = host.strip("[]")
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 - every address: name this host
            import socket

            host = socket.gethostname()
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

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

"""MQTT: every stored poll published to a broker, with Home Assistant discovery, so the
controller has one poller (luxlogd) and many listeners (Home Assistant, openHAB, ioBroker,
Node-RED).

Topics (`prefix` is mqtt.topic_prefix, by default luxlogd/<mqtt.name>):
- `<prefix>/state`: one JSON object per poll, retained: {"time": ISO 8601, "<key>": value}
  with the catalogue's keys (raw field names for fields outside it); states in words.
- `<prefix>/availability`: "online" while luxlogd is connected, "offline" as its last will
  (kill -9, a power cut) and when it stops.
- `<prefix>/controller`: "online" while the heat pump answers, "offline" while it does not.
- `<discovery_prefix>/<sensor|binary_sensor>/luxlogd_<name>/<key>/config`: Home Assistant
  discovery, sent after the first poll (the device block needs the firmware) and again
  when Home Assistant announces itself on `<discovery_prefix>/status`.

It never slows polling: update() only hands over the newest poll; a thread of its own
builds and publishes the messages, and paho's network thread talks to the broker. While the
broker is away only the newest poll waits (the data is safe in luxlogd's own store), paho
reconnects with back-off (1 s, doubling, at most 2 min), and the journal gets one warning
and one recovery line. A broker that refuses the credentials is an error said once; MQTT
then stays off until the configuration is fixed and reloaded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from luxlogd import __version__
from luxlogd.base.errors import ConfigError
from luxlogd.base.files import write_atomically
from luxlogd.base.text import json_default
from luxlogd.config import Config, MqttConfig
from luxlogd.health.logs import LIFECYCLE
from luxlogd.heatpump import catalogue, sensors
from luxlogd.heatpump.poll import Poll

logger = logging.getLogger("luxlogd.mqtt")  # its name in the journal (README)

RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 120
KEEPALIVE_S = 30
# CONNACK codes of a refusal that retrying cannot fix: MQTT 3.1.1 (4, 5) and 5 (134, 135).
REFUSED_CREDENTIALS = {4, 5, 134, 135}
ONLINE, OFFLINE = "online", "offline"

# Home Assistant's device_class, state_class, suggested display precision and icon for each
# catalogue kind (HA's rules: homeassistant/components/sensor/const.py, DEVICE_CLASS_UNITS and
# DEVICE_CLASS_STATE_CLASSES; a temperature difference has no device class there: a
# "temperature" is absolute, 0 K would show as -273.15 °C).
KINDS: dict[str, tuple[str | None, str | None, int | None, str | None]] = {
    "temperature": ("temperature", "measurement", 1, None),
    "temperature_difference": (None, "measurement", 1, "mdi:thermometer-lines"),
    "pressure": ("pressure", "measurement", 1, None),
    "flow_rate": (None, "measurement", 0, "mdi:waves-arrow-right"),
    "power": ("power", "measurement", 0, None),
    "electric_power": ("power", "measurement", 0, None),
    "frequency": ("frequency", "measurement", 0, None),
    "percent": (None, "measurement", 0, "mdi:pump"),
    "speed": (None, "measurement", 0, "mdi:fan"),
    "heat_energy": ("energy", "total_increasing", 1, None),
    "electric_energy": ("energy", "total_increasing", 1, None),
    "operating_time": ("duration", "total_increasing", 1, None),  # published in hours
    "starts": (None, "total_increasing", 0, "mdi:counter"),
    "duration": ("duration", "measurement", 0, None),
    "state": (None, None, None, "mdi:state-machine"),
    "setting": (None, None, None, "mdi:cog-outline"),
    "text": (None, None, None, "mdi:information-outline"),
    "code": (None, None, None, "mdi:alert-circle-outline"),
    "timestamp": (None, None, None, "mdi:clock-outline"),
}
# What belongs under the device's "Diagnostic" (status lines, settings, counters of time,
# countdowns), and what is off until the user turns it on (meaningless alone).
DIAGNOSTIC_KINDS = {"operating_time", "duration", "setting", "text", "code", "timestamp"}
DIAGNOSTIC_KEYS = {"status_line_1", "status_line_2", "status_line_3", "heat_pump_type"}
DISABLED_KEYS = {"status_line_2"}  # "since" or "in": the words before status_time
BINARY_CLASSES = {"defrost_valve": "opening"}  # other outputs: "running"
ANNOUNCED_FILE = "mqtt-announced.json"  # the discovery topics announced (state_dir)
# The brand behind luxtronik's heat pump type codes (ait-deutschland builds Alpha Innotec
# and Novelan on this controller and names its models so).
MANUFACTURER = "ait-deutschland (Alpha Innotec, Novelan)"


def paho() -> Any:
    """paho.mqtt.client, or a ConfigError saying how to install it."""
    try:
        import paho.mqtt.client as client
    except ImportError:
        raise ConfigError(
            [
                "mqtt.enabled: publishing needs the paho-mqtt library: apt install "
                "python3-paho-mqtt (or pip install 'luxlogd[mqtt]')"
            ]
        ) from None
    return client


@dataclass(frozen=True)
class Entity:
    """One published value: its key in the state and its discovery config."""

    key: str
    component: str  # sensor or binary_sensor
    config: dict[str, Any]


def _value(found: sensors.Field, poll: Poll, language: str) -> Any:
    """A field's value for the state topic: a number, true/false, words, or text."""
    values = poll.array(found.group)
    sensor = found.sensor
    if sensor is not None and sensor.states is not None:
        raw = values[found.index] if found.index < len(values) else None
        return catalogue.state_text(sensor.states, raw, language)
    value = sensors.decode_value(found, values)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return json_default(value)


def _key(found: sensors.Field) -> str:
    return found.sensor.key if found.sensor is not None else found.name


def published_fields(mqtt: MqttConfig, poll: Poll) -> list[sensors.Field]:
    """The fields mqtt.sensors names that this heat pump has: never a secret, never a
    temperature sensor that is not connected (it reads a fixed rail value)."""
    chosen = []
    for found in sensors.resolve_sensors(mqtt.sensors, poll.lengths_by_group()):
        value = sensors.field_value(found, poll)
        if found.secret or value is None:
            continue
        if found.sensor is not None and found.sensor.not_connected(value):
            continue
        chosen.append(found)
    return chosen


def state(fields: list[sensors.Field], poll: Poll, language: str) -> dict[str, Any]:
    moment = dt.datetime.fromtimestamp(poll.ts_ms / 1000, dt.UTC)
    return {
        "time": moment.isoformat(timespec="seconds"),
        **{_key(f): _value(f, poll, language) for f in fields},
    }


def device_name(config: Config) -> str:
    """The device's name in Home Assistant: the instance's, else "Heat pump" in the
    configured language."""
    if config.instance:
        return config.instance
    return "Wärmepumpe" if config.ui.language == "de" else "Heat pump"


def entity_name(label: str, device: str) -> str:
    """An entity's name without the device's in front (Home Assistant puts the device's name
    before it: "Heat pump operating time" would show as "Heat pump Heat pump ...")."""
    for prefix in (device, "Heat pump", "Wärmepumpe", "WP"):
        if label.lower().startswith(prefix.lower() + " ") and len(label) > len(prefix) + 1:
            rest = label[len(prefix) + 1 :]
            return rest[0].upper() + rest[1:]
    return label


def entities(config: Config, fields: list[sensors.Field], poll: Poll) -> list[Entity]:
    """The Home Assistant discovery configs of the published fields."""
    mqtt, language = config.mqtt, config.ui.language
    prefix = mqtt.prefix
    node = f"luxlogd_{mqtt.name}"
    kind_of = sensors.value(poll, "heat_pump_type")
    firmware = sensors.value(poll, "firmware")
    name = device_name(config)
    known_type = isinstance(kind_of, str) and bool(kind_of)
    device = {
        "identifiers": [node],
        "name": name,
        "manufacturer": MANUFACTURER if known_type else "Luxtronik 2.x controller",
        "model": str(kind_of) if known_type else "unknown",
        "sw_version": str(firmware or "unknown"),
    }
    url = config.web_url
    if url:
        device["configuration_url"] = url
    common = {
        "state_topic": f"{prefix}/state",
        "availability": [{"topic": f"{prefix}/availability"}, {"topic": f"{prefix}/controller"}],
        "availability_mode": "all",
        "device": device,
        "origin": {"name": "luxlogd", "sw_version": __version__},
        "expire_after": int(max(120, 3 * config.poll.interval_s)),
    }
    found = []
    for field in fields:
        key = _key(field)
        sensor = field.sensor
        kind = sensor.kind if sensor is not None else None
        body: dict[str, Any] = {
            **common,
            "name": entity_name(field.label(language), name),
            "unique_id": f"{node}_{key}",
        }
        if kind in DIAGNOSTIC_KINDS or key in DIAGNOSTIC_KEYS or key.endswith("_target"):
            body["entity_category"] = "diagnostic"
        if key in DISABLED_KEYS:
            body["enabled_by_default"] = False
        template = f"value_json[{json.dumps(key)}]"
        if kind in ("output", "input") or field.kind == "Bool":
            body.update(value_template=f"{{{{ 'ON' if {template} else 'OFF' }}}}")
            if kind == "output":
                body["device_class"] = BINARY_CLASSES.get(key, "running")
            found.append(Entity(key, "binary_sensor", body))
            continue
        device_class, state_class, precision, icon = KINDS.get(kind or "", (None,) * 4)
        unit = field.display_unit
        if sensor is None and unit == "°C":
            device_class, state_class, precision = "temperature", "measurement", 1
        elif sensor is None and field.numeric:
            state_class = "measurement"
        if sensor is not None and sensor.states is not None:
            device_class, state_class, precision = None, None, None  # words
        if kind == "operating_time":  # seconds on the wire; hours for people
            body["value_template"] = f"{{{{ ({template} / 3600) | round(2) }}}}"
            unit = "h"
        else:
            body["value_template"] = f"{{{{ {template} }}}}"
        for option, value in (
            ("device_class", device_class),
            ("state_class", state_class),
            ("unit_of_measurement", unit),
            ("suggested_display_precision", precision),
            ("icon", None if device_class else icon),
        ):
            if value is not None and value != "":
                body[option] = value
        found.append(Entity(key, "sensor", body))
    return found


class Publisher:
    """Publishes polls to the broker of `config.mqtt`; start(), update() per poll, stop()."""

    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.mqtt = config.mqtt
        self.clock = clock
        self.broker = f"{self.mqtt.host}:{self.mqtt.port}"
        self.connected = False
        self.error: str | None = None
        self.published = 0
        self.states = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._poll: Poll | None = None
        self._reachable: bool | None = None
        self._sent_ts: int | None = None
        self._sent_reachable: bool | None = None
        self._announce = True
        self._fields: list[sensors.Field] | None = None
        self._lost = False  # a warning said; the recovery line is due
        self._refused = False
        self._ever_connected = False
        self._client: Any = None
        self._thread: threading.Thread | None = None
        self._online = False  # "online" said on this connection (after its first state)
        self._gone = threading.Event()  # the broker acknowledged our disconnect
        self._clash: str | None = None  # another luxlogd publishes under our name
        self._since = round(clock(), 3)
        self.identity = {
            "host": socket.gethostname(),
            "state_dir": str(config.state_dir),
            "pid": os.getpid(),
            "since": self._since,
        }
        self._announced_path = config.state_dir / ANNOUNCED_FILE
        # The client id: unique per installation, so that two luxlogd never take over each
        # other's connection (the broker drops the older one); the owner topic tells a clash.
        where = hashlib.sha256(f"{socket.gethostname()}:{config.state_dir}".encode()).hexdigest()
        self.client_id = self.mqtt.client_id or f"luxlogd-{self.mqtt.name}-{where[:8]}"

    # --- the daemon's side -------------------------------------------------------------------

    def start(self) -> Publisher:
        mqtt_client = paho()
        mqtt = self.mqtt
        if hasattr(mqtt_client, "CallbackAPIVersion"):  # paho-mqtt 2.x (PyPI)
            client = mqtt_client.Client(
                mqtt_client.CallbackAPIVersion.VERSION2, client_id=self.client_id
            )
        else:  # paho-mqtt 1.6 (Debian 12)
            client = mqtt_client.Client(client_id=self.client_id)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.max_queued_messages_set(100)
        client.will_set(f"{mqtt.prefix}/availability", OFFLINE, qos=1, retain=True)
        if mqtt.username:
            client.username_pw_set(mqtt.username, mqtt.password or None)
        if mqtt.tls:
            if mqtt.tls_insecure:
                logger.warning(
                    "mqtt.tls_insecure is on: the broker's certificate is NOT "
                    "checked; anyone on the network path can read and change what "
                    "luxlogd publishes"
                )
            check = ssl.CERT_NONE if mqtt.tls_insecure else ssl.CERT_REQUIRED
            client.tls_set(
                ca_certs=mqtt.ca_file or None,
                certfile=mqtt.cert_file or None,
                keyfile=mqtt.key_file or None,
                cert_reqs=check,
            )
            client.tls_insecure_set(mqtt.tls_insecure)
        self._client = client
        client.connect_async(mqtt.host, mqtt.port, KEEPALIVE_S)
        client.loop_start()
        self._thread = threading.Thread(target=self._run, name="luxlogd-mqtt", daemon=True)
        self._thread.start()
        logger.info(
            "mqtt: publishing to %s as %s, topics %s/...", self.broker, self.client_id, mqtt.prefix
        )
        return self

    def update(self, poll: Poll | None, reachable: bool) -> None:
        """The newest stored poll and whether the heat pump answers (cheap: no I/O)."""
        with self._lock:
            if poll is not None:
                self._poll = poll
            self._reachable = reachable
        self._wake.set()

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "broker": self.broker,
            "error": self.error,
            "published": self.published,
            "states": self.states,
        }

    def stop(self, offline: bool = True) -> None:
        """Say offline (retained; not for a reload, whose publisher follows at once, nor
        after a clash: the other luxlogd is online), disconnect, end both threads."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        client = self._client
        if client is None:
            return
        if self.connected and offline and self._clash is None:
            info = client.publish(f"{self.mqtt.prefix}/availability", OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):  # not queued: the link went meanwhile
                pass
        self._gone.clear()
        client.disconnect()
        if self.connected:  # a clean DISCONNECT sent (no last will), then the loop ends
            self._gone.wait(2.0)
        client.loop_stop()
        self.connected = False

    # --- the publishing thread ------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if self._refused or self._clash is not None:
                self._client.disconnect()
                self._client.loop_stop()
                self.connected = False
                return
            if not self.connected or self._stop.is_set():
                continue
            try:
                self._publish_pending()
            except Exception:
                logger.exception("mqtt: publishing failed; polls are stored as always")

    def _publish_pending(self) -> None:
        with self._lock:
            poll, reachable = self._poll, self._reachable
        prefix = self.mqtt.prefix
        if reachable is not None and reachable != self._sent_reachable:
            self._send(f"{prefix}/controller", ONLINE if reachable else OFFLINE, qos=1, retain=True)
            self._sent_reachable = reachable
        if poll is None:
            return
        if self._fields is None or self._announce:
            self._fields = published_fields(self.mqtt, poll)
        if self._announce:
            self._announce_entities(poll)
        self._announce = False
        if poll.ts_ms != self._sent_ts:
            payload = json.dumps(
                state(self._fields, poll, self.config.ui.language), ensure_ascii=False
            )
            self._send(f"{prefix}/state", payload, qos=self.mqtt.qos, retain=self.mqtt.retain)
            self._sent_ts = poll.ts_ms
            self.states += 1
        if not self._online:  # only now: until then a listener sees the last run's values
            self._send(f"{prefix}/availability", ONLINE, qos=1, retain=True)
            self._online = True

    def _announce_entities(self, poll: Poll) -> None:
        """The discovery configs of what is published now, and an empty retained config for
        each topic announced before and not now (a sensor dropped from mqtt.sensors, another
        mqtt.name, discovery turned off): Home Assistant then removes that entity."""
        configs: dict[str, str] = {}
        if self.mqtt.discovery:
            for entity in entities(self.config, self._fields or [], poll):
                topic = (
                    f"{self.mqtt.discovery_prefix}/{entity.component}/luxlogd_"
                    f"{self.mqtt.name}/{entity.key}/config"
                )
                configs[topic] = json.dumps(entity.config, ensure_ascii=False)
        for topic in sorted(self._previously_announced(configs) - set(configs)):
            self._send(topic, "", qos=1, retain=True)
        last = None
        for topic, payload in configs.items():
            last = self._send(topic, payload, qos=1, retain=True)
        if last is not None:  # the state after the configs: QoS 1 and 0 may overtake
            try:
                last.wait_for_publish(2.0)
            except (RuntimeError, ValueError):  # not queued: the link went meanwhile
                pass
        try:
            write_atomically(
                self._announced_path, json.dumps({"topics": sorted(configs)}, indent=0) + "\n"
            )
        except OSError as error:  # storage trouble is said elsewhere; this is a convenience
            logger.debug("mqtt: cannot remember the announced topics: %s", error)

    def _previously_announced(self, configs: dict[str, str]) -> set[str]:
        """The discovery topics an earlier run announced (its file), or, on the first run
        of this version with a derived mqtt.name, the same entities under luxlogd's old
        default name "heatpump" (their entities would stay in Home Assistant, frozen)."""
        try:
            return set(json.loads(self._announced_path.read_text())["topics"])
        except FileNotFoundError:
            if self.mqtt.name == "heatpump" or self.config.mqtt_name_given:
                return set()
            node = f"/luxlogd_{self.mqtt.name}/"
            return {topic.replace(node, "/luxlogd_heatpump/") for topic in configs}
        except (OSError, ValueError, KeyError, TypeError):
            return set()

    def _send(self, topic: str, payload: str, qos: int, retain: bool) -> Any:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        self.published += 1
        return info

    # --- paho's callbacks (its network thread) --------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, code: Any, *_: Any) -> None:
        value = getattr(code, "value", code)
        if value != 0:
            reason = str(code) if hasattr(code, "value") else paho().connack_string(code)
            self.error = f"the broker refused the connection: {reason}"
            if value in REFUSED_CREDENTIALS:
                self._refused = True
                logger.error(
                    "mqtt: the broker %s refused the credentials (%s): check "
                    "mqtt.username and mqtt.password; MQTT is off until the "
                    "configuration is fixed (systemctl reload luxlogd). Polls are "
                    "stored as always",
                    self.broker,
                    reason,
                )
                self._wake.set()
            elif not self._lost:
                self._lost = True
                logger.warning(
                    "mqtt: %s refused the connection (%s); retrying", self.broker, reason
                )
            return
        self.connected, self.error = True, None
        # Who publishes under this name: a second luxlogd with the same one is a clash.
        client.subscribe(f"{self.mqtt.prefix}/owner", qos=1)
        client.publish(f"{self.mqtt.prefix}/owner", json.dumps(self.identity), qos=1, retain=True)
        if self.mqtt.discovery:
            client.subscribe(f"{self.mqtt.discovery_prefix}/status", qos=1)
        with self._lock:
            self._announce, self._sent_ts, self._sent_reachable = True, None, None
            self._online = False
        if self._lost:
            logger.info("mqtt: connected to %s again", self.broker)
        elif not self._ever_connected:
            logger.info("mqtt: connected to %s", self.broker)
        self._lost, self._ever_connected = False, True
        self._wake.set()

    def _on_owner(self, client: Any, payload: bytes) -> None:
        """Another luxlogd (another host or state directory: one daemon per directory holds
        its lock) says it publishes under our name: the later one of the two stops (one
        clear error), the earlier one says who it is again and goes on."""
        try:
            other = json.loads(payload)
            since = float(other["since"])
        except (ValueError, KeyError, TypeError):
            return
        same = (other.get("host"), other.get("state_dir")) == (
            self.identity["host"],
            self.identity["state_dir"],
        )
        if same or self._clash is not None:  # this installation (its last run, a reload)
            return
        if (since, str(other)) > (self._since, str(self.identity)):
            logger.warning(
                "mqtt: another luxlogd (host %s, state %s, pid %s) started publishing as %r "
                "on %s; it stops, this one goes on",
                other.get("host"),
                other.get("state_dir"),
                other.get("pid"),
                self.mqtt.name,
                self.broker,
            )
            client.publish(
                f"{self.mqtt.prefix}/owner", json.dumps(self.identity), qos=1, retain=True
            )
            return
        self._clash = (
            f"another luxlogd publishes as {self.mqtt.name!r} on {self.broker} (host "
            f"{other.get('host')}, state {other.get('state_dir')}, pid {other.get('pid')})"
        )
        self.error = self._clash
        logger.error(
            "mqtt: %s: give each heat pump its own mqtt.name (or run them as "
            "luxlogd@NAME.service); MQTT is off here until the configuration is fixed and "
            "reloaded. Polls are stored as always",
            self._clash,
        )
        self._wake.set()

    def _on_disconnect(self, client: Any, userdata: Any, *args: Any) -> None:
        code = args[1] if len(args) >= 2 else args[0]  # 2.x: flags, code, properties; 1.6: rc
        self.connected = False
        self._gone.set()
        if self._stop.is_set() or self._refused or self._clash or getattr(code, "value", code) == 0:
            return
        self.error = f"connection lost ({code})"
        if not self._lost:
            self._lost = True
            logger.warning(
                "mqtt: lost the broker %s (%s); reconnecting with back-off, polls "
                "are stored as always",
                self.broker,
                code,
            )

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self.error = "cannot reach the broker"
        if not self._lost:
            self._lost = True
            logger.warning(
                "mqtt: cannot reach the broker %s; retrying with back-off, polls "
                "are stored as always",
                self.broker,
            )

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if message.topic == f"{self.mqtt.prefix}/owner":
            self._on_owner(client, message.payload)
            return
        if message.payload.decode("utf-8", "replace").strip().lower() == ONLINE:
            logger.info(
                "mqtt: Home Assistant started: sending the discovery configs again",
                extra=LIFECYCLE,
            )
            with self._lock:
                self._announce, self._sent_ts = True, None
            self._wake.set()

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
import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from luxlogd import __version__
from luxlogd.base.errors import ConfigError
from luxlogd.base.text import json_default
from luxlogd.config import Config, MqttConfig
from luxlogd.heatpump import catalogue, sensors
from luxlogd.heatpump.poll import Poll

logger = logging.getLogger("luxlogd.mqtt")  # its name in the journal (README)

RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 120
KEEPALIVE_S = 30
# CONNACK codes of a refusal that retrying cannot fix: MQTT 3.1.1 (4, 5) and 5 (134, 135).
REFUSED_CREDENTIALS = {4, 5, 134, 135}
ONLINE, OFFLINE = "online", "offline"

# Home Assistant's device_class, state_class and unit for each catalogue kind.
KINDS: dict[str, tuple[str | None, str | None]] = {
    "temperature": ("temperature", "measurement"),
    "temperature_difference": ("temperature", "measurement"),
    "pressure": ("pressure", "measurement"),
    "flow_rate": (None, "measurement"),
    "power": ("power", "measurement"),
    "electric_power": ("power", "measurement"),
    "frequency": ("frequency", "measurement"),
    "percent": (None, "measurement"),
    "speed": (None, "measurement"),
    "heat_energy": ("energy", "total_increasing"),
    "electric_energy": ("energy", "total_increasing"),
    "operating_time": ("duration", "total_increasing"),
    "starts": (None, "total_increasing"),
    "duration": ("duration", "measurement"),
}


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


def entities(config: Config, fields: list[sensors.Field], poll: Poll) -> list[Entity]:
    """The Home Assistant discovery configs of the published fields."""
    mqtt, language = config.mqtt, config.ui.language
    prefix = mqtt.prefix
    node = f"luxlogd_{mqtt.name}"
    kind_of = sensors.value(poll, "heat_pump_type")
    firmware = sensors.value(poll, "firmware")
    device = {
        "identifiers": [node],
        "name": "Heat pump" if mqtt.name == "heatpump" else mqtt.name,
        "manufacturer": "Luxtronik 2.x controller",
        "model": str(kind_of or "unknown"),
        "sw_version": str(firmware or "unknown"),
    }
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
        body = {**common, "name": field.label(language), "unique_id": f"{node}_{key}"}
        template = f"value_json[{json.dumps(key)}]"
        if kind in ("output", "input") or field.kind == "Bool":
            body.update(value_template=f"{{{{ 'ON' if {template} else 'OFF' }}}}")
            if kind == "output":
                body["device_class"] = "running"
            found.append(Entity(key, "binary_sensor", body))
            continue
        body["value_template"] = f"{{{{ {template} }}}}"
        device_class, state_class = KINDS.get(kind or "", (None, None))
        if sensor is None and field.display_unit == "°C":
            device_class, state_class = "temperature", "measurement"
        elif sensor is None and field.numeric:
            state_class = "measurement"
        if sensor is not None and sensor.states is not None:
            device_class, state_class = None, None  # words; "unknown code N" is possible
        if device_class:
            body["device_class"] = device_class
        if state_class:
            body["state_class"] = state_class
        unit = field.display_unit
        if unit:
            body["unit_of_measurement"] = unit
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

    # --- the daemon's side -------------------------------------------------------------------

    def start(self) -> Publisher:
        mqtt_client = paho()
        mqtt = self.mqtt
        if hasattr(mqtt_client, "CallbackAPIVersion"):  # paho-mqtt 2.x (PyPI)
            client = mqtt_client.Client(
                mqtt_client.CallbackAPIVersion.VERSION2, client_id=mqtt.client
            )
        else:  # paho-mqtt 1.6 (Debian 12)
            client = mqtt_client.Client(client_id=mqtt.client)
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
            "mqtt: publishing to %s as %s, topics %s/...", self.broker, mqtt.client, mqtt.prefix
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

    def stop(self) -> None:
        """Say offline (retained), disconnect, end both threads."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        client = self._client
        if client is None:
            return
        if self.connected:
            info = client.publish(f"{self.mqtt.prefix}/availability", OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):  # not queued: the link went meanwhile
                pass
        client.disconnect()
        client.loop_stop()
        self.connected = False

    # --- the publishing thread ------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if self._refused:
                self._client.disconnect()
                self._client.loop_stop()
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
        if self._announce and self.mqtt.discovery:
            for entity in entities(self.config, self._fields, poll):
                topic = (
                    f"{self.mqtt.discovery_prefix}/{entity.component}/luxlogd_"
                    f"{self.mqtt.name}/{entity.key}/config"
                )
                self._send(topic, json.dumps(entity.config, ensure_ascii=False), qos=1, retain=True)
        self._announce = False
        if poll.ts_ms != self._sent_ts:
            payload = json.dumps(
                state(self._fields, poll, self.config.ui.language), ensure_ascii=False
            )
            self._send(f"{prefix}/state", payload, qos=self.mqtt.qos, retain=self.mqtt.retain)
            self._sent_ts = poll.ts_ms
            self.states += 1

    def _send(self, topic: str, payload: str, qos: int, retain: bool) -> None:
        self._client.publish(topic, payload, qos=qos, retain=retain)
        self.published += 1

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
        client.publish(f"{self.mqtt.prefix}/availability", ONLINE, qos=1, retain=True)
        if self.mqtt.discovery:
            client.subscribe(f"{self.mqtt.discovery_prefix}/status", qos=1)
        with self._lock:
            self._announce, self._sent_ts, self._sent_reachable = True, None, None
        if self._lost:
            logger.info("mqtt: connected to %s again", self.broker)
        elif not self._ever_connected:
            logger.info("mqtt: connected to %s", self.broker)
        self._lost, self._ever_connected = False, True
        self._wake.set()

    def _on_disconnect(self, client: Any, userdata: Any, *args: Any) -> None:
        code = args[1] if len(args) >= 2 else args[0]  # 2.x: flags, code, properties; 1.6: rc
        self.connected = False
        if self._stop.is_set() or self._refused or getattr(code, "value", code) == 0:
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
        if message.payload.decode("utf-8", "replace").strip().lower() == ONLINE:
            logger.info("mqtt: Home Assistant started: sending the discovery configs again")
            with self._lock:
                self._announce, self._sent_ts = True, None
            self._wake.set()

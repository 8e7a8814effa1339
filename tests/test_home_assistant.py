"""Home Assistant as its users expect it, against Debian's mosquitto: what is no longer
published is removed, a change of what discovery says is announced again and followed by the
state at once, two luxlogd never fight over one name, and every discovery payload follows
Home Assistant's own rules (written down below with pointers to its source)."""

import json
import logging
import re
import threading
import time

import pytest

from luxlogd.config import load_config
from luxlogd.daemon.service import Service
from luxlogd.heatpump import catalogue
from luxlogd.heatpump.poll import Poll
from luxlogd.outputs import mqtt
from luxlogd.sim.simulator import Simulator
from tests.helpers import FrozenClock, eventually
from tests.test_mqtt import Subscriber, name_of, states
from tests.test_service import config_for

# The rules of Home Assistant 2024.3 for MQTT discovery of sensors and binary sensors, from
# its source: the MQTT sensor and binary sensor schemas in components/mqtt (the keys below);
# the units and state classes each sensor device class allows in components/sensor/const.py;
# the binary sensor device classes in components/binary_sensor; an entity's name must not
# repeat its device's (helpers/entity.py; 2023.8 on warns and strips it); the entity
# category of a sensor can only be "diagnostic" (EntityCategory in const.py).
KEYS = {
    "name",
    "unique_id",
    "state_topic",
    "value_template",
    "availability",
    "availability_mode",
    "device",
    "origin",
    "expire_after",
    "device_class",
    "state_class",
    "unit_of_measurement",
    "suggested_display_precision",
    "icon",
    "entity_category",
    "enabled_by_default",
}
UNITS = {
    "temperature": {"°C", "°F", "K"},
    "energy": {"Wh", "kWh", "MWh", "GJ"},
    "power": {"W", "kW"},
    "pressure": {"bar", "Pa", "hPa", "kPa", "psi", "mbar"},
    "frequency": {"Hz", "kHz", "MHz"},
    "duration": {"d", "h", "min", "s", "ms"},
}
STATE_CLASSES = {
    "temperature": {"measurement"},
    "energy": {"total", "total_increasing"},
    "power": {"measurement"},
    "pressure": {"measurement"},
    "frequency": {"measurement"},
    "duration": {"measurement", "total", "total_increasing"},
}
BINARY_CLASSES = {"running", "opening", "power", "heat", "problem", "moving"}
DEVICE_KEYS = {"identifiers", "name", "manufacturer", "model", "sw_version", "configuration_url"}


def follows_home_assistants_rules(component, body):
    """Every rule above a discovery config must meet; the problems found."""
    problems = [f"unknown key {key}" for key in set(body) - KEYS]
    device = body["device"]
    problems += [f"unknown device key {key}" for key in set(device) - DEVICE_KEYS]
    name = body["name"]
    if name.lower().startswith(device["name"].lower() + " "):
        problems.append(f"{name!r} repeats the device's name")
    if body.get("entity_category") not in (None, "diagnostic"):
        problems.append("a sensor's entity_category can only be diagnostic")
    device_class = body.get("device_class")
    if component == "binary_sensor":
        if device_class is not None and device_class not in BINARY_CLASSES:
            problems.append(f"binary device_class {device_class}")
        return problems
    unit = body.get("unit_of_measurement")
    if device_class is not None:
        if device_class not in UNITS:
            problems.append(f"device_class {device_class} not used by luxlogd's rules")
        elif unit not in UNITS[device_class]:
            problems.append(f"{device_class} in {unit}")
        elif body.get("state_class") and body["state_class"] not in STATE_CLASSES[device_class]:
            problems.append(f"{device_class} with state_class {body['state_class']}")
    if unit == "K" and device_class == "temperature":
        problems.append("a temperature difference as an absolute temperature")
    if body.get("state_class") == "total_increasing" and not unit and "icon" not in body:
        problems.append("a counter without a unit needs an icon")
    if not re.fullmatch(r"\{\{ .* \}\}", body["value_template"]):
        problems.append("value_template")
    return problems


def every_sensor_poll(profile="V3.91"):
    sim = Simulator(clock=FrozenClock(1_700_000_000.0), profile=profile)
    p, c, v = sim.arrays()
    return Poll(1_700_000_000_000, 0, tuple(p), tuple(c), tuple(v))


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_discovery_payload_follows_home_assistants_rules(tmp_path, language):
    keys = ",".join(f'"{s.key}"' for s in catalogue.SENSORS)
    path = config_for(
        tmp_path,
        8889,
        mqtt={"enabled": "true", "host": '"127.0.0.1"', "sensors": f"[{keys}]"},
        ui={"language": f'"{language}"'},
        web={"enabled": "true", "listen": '"0.0.0.0:8088"'},
    )
    config = load_config(path)
    poll = every_sensor_poll()
    found = {
        e.key: e for e in mqtt.entities(config, mqtt.published_fields(config.mqtt, poll), poll)
    }
    assert len(found) > 100
    for entity in found.values():
        assert follows_home_assistants_rules(entity.component, entity.config) == [], entity.key
    device = found["flow"].config["device"]
    assert device["name"] == ("Wärmepumpe" if language == "de" else "Heat pump")
    assert device["configuration_url"].endswith(":8088/")
    assert device["model"] == "L1A" and "Alpha Innotec" in device["manufacturer"]
    if language == "en":
        assert found["heat_pump_time"].config["name"] == "Operating time"
        assert found["heat_pump_running"].config["name"] == "Running for"
    superheat = found["superheat"].config
    assert "device_class" not in superheat and superheat["unit_of_measurement"] == "K"
    hours = found["compressor_time"].config
    assert (hours["unit_of_measurement"], hours["device_class"]) == ("h", "duration")
    assert "/ 3600" in hours["value_template"] and hours["entity_category"] == "diagnostic"
    assert found["defrost_valve"].config["device_class"] == "opening"
    assert found["compressor"].config["device_class"] == "running"
    assert found["status_line_1"].config["entity_category"] == "diagnostic"
    assert found["status_line_2"].config["enabled_by_default"] is False
    assert found["return_target"].config["entity_category"] == "diagnostic"
    assert "entity_category" not in found["flow"].config  # what owners look at
    assert found["compressor_starts"].config["icon"] == "mdi:counter"
    assert found["flow"].config["suggested_display_precision"] == 1


def start(tmp_path, sim, port, interval_s=0.2, **mqtt_options):
    tmp_path.mkdir(exist_ok=True)
    options = {"enabled": "true", "host": '"127.0.0.1"', "port": port, **mqtt_options}
    path = config_for(tmp_path, sim.port, poll={"interval_s": interval_s}, mqtt=options)
    service = Service(load_config(path), config_path=str(path))
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    return service, thread, path


def reload(service, path, text):
    path.write_text(text)
    service._on_reload_signal(1, None)  # as SIGHUP does


def retained_configs(port, name):
    """What a subscriber that starts now gets retained under this node: key -> config."""
    late = Subscriber(port, topics=(f"homeassistant/+/luxlogd_{name}/+/config",))
    time.sleep(0.5)
    late.close()
    return {t.split("/")[3]: json.loads(p) for t, p, _ in late.messages if p}


def announced(messages, name):
    """The keys whose newest discovery config under this node is not empty (a removal)."""
    newest = {}
    for topic, payload, _ in messages:
        parts = topic.split("/")
        if len(parts) == 5 and parts[2] == f"luxlogd_{name}" and parts[4] == "config":
            newest[parts[3]] = payload
    return {key for key, payload in newest.items() if payload}


def test_entities_no_longer_published_are_removed_on_reload_and_at_start(tmp_path, broker):
    mosquitto = broker()
    live = Subscriber(mosquitto.port, topics=("homeassistant/#",))
    with Simulator() as sim:
        name = name_of(sim)
        service, thread, path = start(tmp_path, sim, mosquitto.port)
        try:
            live.wait_for(lambda m: len(announced(m, name)) > 30)
            reload(
                service,
                path,
                path.read_text().replace(
                    "[mqtt]\n", '[mqtt]\nsensors = ["flow", "return", "outdoor"]\n'
                ),
            )
            live.wait_for(lambda m: announced(m, name) == {"flow", "return", "outdoor"})
        finally:
            service.request_stop()
            thread.join(5)
        # The next start remembers what it announced: fewer sensors remove the rest.
        path.write_text(path.read_text().replace('"flow", "return", "outdoor"', '"flow"'))
        service, thread, path = start(tmp_path, sim, mosquitto.port, sensors='["flow"]')
        try:
            live.wait_for(lambda m: announced(m, name) == {"flow"})
            # Another name: the old device goes, the new one comes.
            reload(service, path, path.read_text().replace("[mqtt]\n", '[mqtt]\nname = "cellar"\n'))
            live.wait_for(lambda m: announced(m, "cellar") == {"flow"} and not announced(m, name))
        finally:
            service.request_stop()
            thread.join(5)
    live.close()
    # What the broker keeps is the same: a subscriber that starts now gets only these.
    assert set(retained_configs(mosquitto.port, "cellar")) == {"flow"}
    assert retained_configs(mosquitto.port, name) == {}


def test_a_changed_interval_and_language_are_announced_and_the_state_follows_at_once(
    tmp_path, broker
):
    """expire_after follows poll.interval_s; after a discovery change the state comes right
    after the configs, not with the next poll (Home Assistant expires on a config update)."""
    mosquitto = broker()
    live = Subscriber(mosquitto.port)
    with Simulator() as sim:
        name = name_of(sim)
        flow = f"homeassistant/sensor/luxlogd_{name}/flow/config"
        service, thread, path = start(tmp_path, sim, mosquitto.port, interval_s=0.2)
        try:
            live.wait_for(lambda m: any(t == flow for t, _, _ in m) and states(m))
            assert json.loads(live.on(flow)[-1][0])["expire_after"] == 120
            reload(service, path, path.read_text().replace("interval_s = 0.2", "interval_s = 150"))
            live.wait_for(
                lambda m: json.loads([p for t, p, _ in m if t == flow][-1])["expire_after"] == 450
            )
            # German now, with the next poll 150 s away: the state follows the configs.
            live.wait_for(lambda m: (f"luxlogd/{name}/availability", "online", False) in m)
            seen = len(live.messages)
            reload(service, path, path.read_text() + '[ui]\nlanguage = "de"\n')

            def state_after_german_config(messages):
                after = messages[seen:]
                german = [i for i, (t, p, _) in enumerate(after) if t == flow and "Vorlauf" in p]
                return german and any(t.endswith("/state") for t, _, _ in after[german[-1] :])

            live.wait_for(state_after_german_config, timeout=8)
            after = live.messages[seen:]
            state = next(p for t, p, _ in reversed(after) if t.endswith("/state"))
            german_modes = {german for _, german in catalogue.STATES["operating_mode"].values()}
            assert json.loads(state)["operating_mode"] in german_modes
            # A reload is no restart: no "offline" in between.
            assert not any(t.endswith("/availability") and p == "offline" for t, p, _ in after)
        finally:
            service.request_stop()
            thread.join(5)
    live.close()


def test_online_comes_after_the_first_state_of_a_run(tmp_path, broker):
    """While luxlogd starts, Home Assistant must not show the last run's retained values as
    current: "online" follows this run's first state."""
    mosquitto = broker()
    with Simulator() as sim:
        prefix = f"luxlogd/{name_of(sim)}"
        for _ in range(2):  # a start, then a restart over the retained messages
            live = Subscriber(mosquitto.port, topics=(f"{prefix}/#",))
            seen = len(live.messages)  # the retained ones of the last run
            service, thread, _ = start(tmp_path, sim, mosquitto.port)
            try:
                live.wait_for(
                    lambda m, seen=seen: (f"{prefix}/availability", "online", False) in m[seen:]
                )
            finally:
                service.request_stop()
                thread.join(5)
            fresh = [(t, p) for t, p, retained in live.messages[seen:] if not retained]
            online = fresh.index((f"{prefix}/availability", "online"))
            assert any(t == f"{prefix}/state" for t, _ in fresh[:online]), fresh[: online + 1]
            live.close()


def test_two_luxlogd_with_one_name_on_one_broker_do_not_fight(tmp_path, broker, caplog):
    """The second says so once and stops publishing; the first goes on, alone on its topics;
    no client-id takeovers. With the default names two heat pumps never meet."""
    mosquitto = broker()
    live = Subscriber(mosquitto.port, topics=("luxlogd/#",))
    with Simulator(seed=1) as first_sim, Simulator(seed=2) as second_sim:
        first, first_thread, _ = start(tmp_path / "a", first_sim, mosquitto.port, name='"house"')
        live.wait_for(lambda m: states(m, "luxlogd/house"))
        with caplog.at_level(logging.INFO, logger="luxlogd.mqtt"):
            second, second_thread, _ = start(
                tmp_path / "b", second_sim, mosquitto.port, name='"house"'
            )
            try:
                eventually(lambda: (second.status().get("mqtt") or {}).get("error"), 8, 0.05)
                time.sleep(1.0)
                count = len(states(live.messages, "luxlogd/house"))
                time.sleep(1.0)
                assert len(states(live.messages, "luxlogd/house")) > count  # the first goes on
                assert first.status()["mqtt"]["connected"] is True
                assert second.status()["mqtt"]["connected"] is False
            finally:
                for service, thread in ((second, second_thread), (first, first_thread)):
                    service.request_stop()
                    thread.join(5)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "another luxlogd publishes as 'house'" in errors[0], errors
    assert "mqtt.name" in errors[0]
    assert "already connected" not in mosquitto.log()  # no client-id takeover
    # Two heat pumps with default names: topics of their own.
    assert name_of(first_sim) != name_of(second_sim)
    live.close()

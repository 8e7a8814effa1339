"""Publishing over MQTT, against Debian's mosquitto on 127.0.0.1 and real subscribers:
Home Assistant discovery, states equal to the stored polls, retained messages, the last will
after kill -9, a broker restart, credentials, TLS with a throwaway CA, and paho-mqtt 1.6
(Debian's) beside 2.x (PyPI's)."""

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from luxlogd.cli import main
from luxlogd.config import load_config
from luxlogd.daemon.service import Service
from luxlogd.heatpump import catalogue
from luxlogd.outputs import metrics
from luxlogd.sim.simulator import Simulator
from luxlogd.store.chunks import series_id
from luxlogd.store.reader import Reader
from tests.helpers import accepts, eventually, require
from tests.test_service import config_for

try:
    import paho.mqtt.client as paho
except ImportError:  # the test extra brings it; without it every test here says so
    paho = None
REPO = Path(__file__).resolve().parent.parent
DEBIAN_PAHO = Path("/usr/lib/python3/dist-packages/paho")
SECRET_NAMES = {"ID_Einst_Zugangscode", "ID_Timer_Password", "ID_WebserverPasswort_1_akt"}


def need(program):
    path = shutil.which(program) or (
        f"/usr/sbin/{program}" if Path(f"/usr/sbin/{program}").exists() else None
    )
    require(path is not None, f"{program} (Debian's mosquitto and mosquitto-clients)")
    return path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """mosquitto on 127.0.0.1, optionally with a password file and TLS; stop() and start()
    again on the same port (a broker restart)."""

    def __init__(self, directory, users=None, tls=None):
        self.directory = directory
        self.port = free_port()
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            "user root",
            f"log_dest file {directory / 'mosquitto.log'}",
            f"allow_anonymous {'false' if users else 'true'}",
        ]
        if users:
            passwords = directory / "passwords"
            for number, (user, password) in enumerate(users.items()):
                subprocess.run(
                    [
                        need("mosquitto_passwd"),
                        "-b",
                        *(["-c"] if number == 0 else []),
                        str(passwords),
                        user,
                        password,
                    ],
                    check=True,
                )
            lines.append(f"password_file {passwords}")
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"]
        self.config = directory / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process = None
        self.start()

    def start(self):
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.process = subprocess.Popen([need("mosquitto"), "-c", str(self.config)], **quiet)
        eventually(lambda: accepts(self.port), 5, 0.02, what=lambda: f"mosquitto: {self.log()}")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)

    def log(self):
        path = self.directory / "mosquitto.log"
        return path.read_text() if path.exists() else ""


class Subscriber:
    """A real MQTT client that records every message it receives."""

    def __init__(self, port, topics=("#",), username=None, password=None, ca=None):
        self.messages = []  # (topic, payload text, retained)
        self.lock = threading.Lock()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="")
        if username:
            self.client.username_pw_set(username, password)
        if ca:
            self.client.tls_set(ca_certs=str(ca))
        self.client.on_message = self._on_message
        connected = threading.Event()
        self.client.on_connect = lambda *args: (
            [self.client.subscribe(t, qos=1) for t in topics],
            connected.set(),
        )
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()
        assert connected.wait(5), "the subscriber could not connect"
        time.sleep(0.1)  # the SUBACK

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, message.payload.decode(), bool(message.retain)))

    def on(self, topic):
        with self.lock:
            return [(payload, retained) for t, payload, retained in self.messages if t == topic]

    def wait_for(self, check, timeout=5.0):
        def seen():
            with self.lock:
                return check(list(self.messages))

        return eventually(seen, timeout, 0.02, what=lambda: f"got {[m[0] for m in self.messages]}")

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def start_daemon(tmp_path, sim, mqtt, interval_s=0.2):
    options = {"enabled": "true", "host": '"127.0.0.1"', **mqtt}
    service = Service(
        load_config(config_for(tmp_path, sim.port, poll={"interval_s": interval_s}, mqtt=options))
    )
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    return service, thread


@contextlib.contextmanager
def running(tmp_path, mqtt, **simulator):
    """A simulated heat pump and the daemon publishing to the broker `mqtt` names."""
    with Simulator(**simulator) as sim:
        service, thread = start_daemon(tmp_path, sim, mqtt)
        try:
            yield service
        finally:
            service.request_stop()
            thread.join(5)


def name_of(sim):
    """The default MQTT name of a daemon reading `sim` (made of heatpump.host and port)."""
    return f"heatpump_127_0_0_1_{sim.port}"


def states(messages, prefix=None):
    """The state messages of `prefix` (default: of any luxlogd/<name>)."""
    return [
        json.loads(p)
        for t, p, _ in messages
        if (t == f"{prefix}/state" if prefix else t.startswith("luxlogd/") and t.endswith("/state"))
    ]


def configs(messages):
    return {
        t: json.loads(p)
        for t, p, _ in messages
        if t.startswith("homeassistant/") and t.endswith("/config") and p  # "": a removal
    }


def test_home_assistant_sees_the_heat_pump_as_a_device(tmp_path, broker):
    mosquitto = broker()
    live = Subscriber(mosquitto.port)
    with Simulator(profile="V3.88", seed=2) as sim:
        name = name_of(sim)
        prefix = f"luxlogd/{name}"
        service, thread = start_daemon(tmp_path, sim, {"port": mosquitto.port})
        assert service.config.mqtt.name == name
        try:
            live.wait_for(lambda m: len(states(m)) >= 3)
            found = configs(live.messages)
            # A listener that starts later gets everything retained at once.
            late = Subscriber(mosquitto.port)
            late.wait_for(lambda m: states(m) and len(configs(m)) == len(found))
            assert all(
                retained
                for t, _, retained in late.messages
                if t.startswith("homeassistant/") or t.startswith("luxlogd/")
            )
            # Home Assistant restarts: it says so, and gets the discovery configs again.
            before = len([m for m in live.messages if m[0].endswith("/config")])
            late.client.publish("homeassistant/status", "online", qos=1)
            live.wait_for(
                lambda m: len([x for x in m if x[0].endswith("/config")]) >= before + len(found)
            )
            status = service.status()
            assert status["mqtt"]["connected"] is True
            text = metrics.render_metrics(status, None, {})
            assert "luxlogd_mqtt_connected 1" in text
        finally:
            service.request_stop()
            thread.join(5)
        late.close()
    # A clean stop says offline (the last will only covers a crash).
    live.wait_for(
        lambda m: (
            (f"{prefix}/availability", "offline", False) in m
            or (f"{prefix}/availability", "offline", True) in m
        )
    )
    live.close()

    by_key = {topic.split("/")[3]: (topic.split("/")[1], body) for topic, body in found.items()}
    for component, body in by_key.values():
        assert {
            "name",
            "unique_id",
            "state_topic",
            "value_template",
            "device",
            "availability",
        } <= set(body)
        assert body["device"]["identifiers"] == [f"luxlogd_{name}"]
        assert body["device"]["sw_version"] == "V3.88"
        assert body["state_topic"] == f"{prefix}/state"
        assert component in ("sensor", "binary_sensor")
    assert len({body["unique_id"] for _, body in by_key.values()}) == len(by_key)
    flow = by_key["flow"][1]
    assert (flow["device_class"], flow["state_class"], flow["unit_of_measurement"]) == (
        "temperature",
        "measurement",
        "°C",
    )
    for key in ("heat_total", "electric_heating"):  # the Energy dashboard takes these
        body = by_key[key][1]
        assert (body["device_class"], body["state_class"], body["unit_of_measurement"]) == (
            "energy",
            "total_increasing",
            "kWh",
        )
    hours = by_key["compressor_time"][1]
    assert (hours["device_class"], hours["state_class"]) == ("duration", "total_increasing")
    assert by_key["compressor"][0] == "binary_sensor"
    assert by_key["compressor"][1]["device_class"] == "running"
    assert "heat_source_in" not in by_key  # not connected on this model: not announced

    # Each state equals the stored poll of its time.
    published = states(live.messages)
    with Reader(tmp_path / "state") as reader:
        index = {
            key: catalogue.by_key()[key].index
            for key in ("flow", "compressor", "heat_total", "operating_mode")
        }
        rows = {
            ts: values
            for ts, _, values in reader.polls(
                0, 2**62, [series_id("calculations", i) for i in index.values()]
            )
        }
    assert len(published) >= 3
    for one in published:
        stored = [values for at, values in rows.items() if abs(at / 1000 - _epoch(one["time"])) < 1]
        assert stored, one["time"]
        flow_raw, compressor, heat_raw, mode = stored[0]
        assert one["flow"] == flow_raw / 10
        assert one["compressor"] is bool(compressor)
        assert one["heat_total"] == heat_raw / 10
        assert one["operating_mode"] == catalogue.state_text("operating_mode", mode, "en")
    assert not any(name in json.dumps(published) for name in SECRET_NAMES)


def _epoch(text):
    import datetime as dt

    return dt.datetime.fromisoformat(text).timestamp()


def test_secrets_are_never_published_even_when_every_parameter_is(tmp_path, broker):
    mosquitto = broker()
    live = Subscriber(mosquitto.port)
    with running(tmp_path, {"port": mosquitto.port, "sensors": '["parameters"]'}):
        live.wait_for(lambda m: states(m))
    live.close()
    state = states(live.messages)[0]
    assert len(state) > 1000  # every parameter ...
    assert not SECRET_NAMES & set(state)  # ... but the access codes and passwords
    assert not any(name in topic for topic, _, _ in live.messages for name in SECRET_NAMES)


def test_kill_9_leaves_the_last_will_and_debian_paho_works(tmp_path, broker):
    """The daemon as its own process, with Debian's paho-mqtt 1.6 (python3-paho-mqtt)
    first on its path: online while it runs, offline from the broker after kill -9."""
    require(DEBIAN_PAHO.exists(), "Debian's python3-paho-mqtt 1.6")
    mosquitto = broker()
    live = Subscriber(mosquitto.port, topics=("luxlogd/#",))
    only_paho = tmp_path / "debian-paho"
    only_paho.mkdir()
    (only_paho / "paho").symlink_to(DEBIAN_PAHO)
    with Simulator() as sim:
        prefix = f"luxlogd/{name_of(sim)}"
        path = config_for(
            tmp_path,
            sim.port,
            poll={"interval_s": 0.2},
            mqtt={"enabled": "true", "host": '"127.0.0.1"', "port": mosquitto.port},
        )
        env = dict(os.environ, PYTHONPATH=str(only_paho))
        version = "import paho.mqtt; print(paho.mqtt.__version__)"
        check = subprocess.run(
            [sys.executable, "-c", version], env=env, capture_output=True, text=True
        )
        assert check.stdout.startswith("1.6"), check
        daemon = subprocess.Popen(
            [sys.executable, "-m", "luxlogd", "--config", str(path), "run"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            live.wait_for(
                lambda m: states(m) and (f"{prefix}/availability", "online", False) in m,
                timeout=8,
            )
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(5)
            live.wait_for(lambda m: m[-1][:2] == (f"{prefix}/availability", "offline"))
        finally:
            if daemon.poll() is None:
                daemon.kill()
            errors = daemon.stderr.read()
    live.close()
    assert "mqtt: connected to 127.0.0.1" in errors
    late = Subscriber(mosquitto.port, topics=(f"{prefix}/availability",))
    late.wait_for(lambda m: m and m[-1][1:] == ("offline", True))  # retained for later ones
    late.close()


def test_a_broker_restart_loses_and_delays_no_poll(tmp_path, broker, caplog):
    caplog.set_level(logging.INFO, logger="luxlogd.mqtt")
    mosquitto = broker()
    live = Subscriber(mosquitto.port, topics=("luxlogd/#",))
    with Simulator() as sim:
        service, thread = start_daemon(tmp_path, sim, {"port": mosquitto.port})
        try:
            live.wait_for(lambda m: states(m))
            live.close()
            mosquitto.stop()
            time.sleep(1.0)
            polls_while_away = service.counters.polls_ok
            mosquitto.start()
            after = Subscriber(mosquitto.port, topics=("luxlogd/#",))
            after.wait_for(lambda m: states(m) and service.outputs.mqtt.connected, timeout=8)
            newest = states(after.messages)[-1]
        finally:
            service.request_stop()
            thread.join(5)
        after.close()
    counters = service.counters
    assert counters.polls_failed == 0 and counters.polls_late == 0
    assert counters.polls_ok > polls_while_away > 3
    with Reader(tmp_path / "state") as reader:
        assert reader.stats().polls == counters.polls_ok  # every poll stored
    # Only the newest poll waited for the broker: no backlog was sent.
    assert service.outputs.mqtt.states < counters.polls_ok
    assert newest["time"]
    said = [r.getMessage() for r in caplog.records if r.name == "luxlogd.mqtt"]
    assert len([s for s in said if s.startswith("mqtt: lost the broker")]) == 1
    assert len([s for s in said if s.endswith("again")]) == 1


def test_wrong_credentials_are_one_clear_error_and_polling_goes_on(tmp_path, broker, caplog):
    mosquitto = broker(users={"heatpump": "right horse battery"})
    wrong = "Xq7-not-the-password"  # not a word that a path or a message could contain
    options = {"port": mosquitto.port, "username": '"heatpump"', "password": f'"{wrong}"'}
    with running(tmp_path, options) as service:
        deadline = time.monotonic() + 5
        while service.counters.polls_ok < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        status = service.status()["mqtt"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("mqtt: the broker 127.0.0.1:")
    assert "refused the credentials" in errors[0] and "mqtt.password" in errors[0]
    assert wrong not in " ".join(r.getMessage() for r in caplog.records)  # never logged
    assert status["connected"] is False and "refused" in status["error"]
    assert service.counters.polls_ok >= 10 and service.counters.polls_failed == 0
    assert mosquitto.log().count("not authorised") <= 2  # no retry loop

    # The right password, from a file.
    secret = tmp_path / "mqtt-password"
    secret.write_text("right horse battery\n")
    live = Subscriber(mosquitto.port, username="heatpump", password="right horse battery")
    options = {"port": mosquitto.port, "username": '"heatpump"', "password_file": f'"{secret}"'}
    with running(tmp_path, options):
        live.wait_for(lambda m: states(m))
    live.close()


def make_ca(directory):
    """A throwaway CA and a server certificate for 127.0.0.1, made with openssl."""
    openssl = need("openssl")
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, request = directory / "server.crt", directory / "server.key", directory / "s.csr"
    run = {"check": True, "capture_output": True}
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            *curve,
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-subj",
            "/CN=luxlogd test CA",
            "-days",
            "2",
        ],
        **run,
    )
    subprocess.run(
        [openssl, "req", *curve, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1"], **run
    )
    extensions = directory / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(
        [
            openssl,
            "x509",
            "-req",
            "-in",
            request,
            "-CA",
            ca,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "2",
            "-extfile",
            extensions,
        ],
        **run,
    )
    return {"ca": ca, "cert": cert, "key": key}


def test_tls_with_a_throwaway_ca(tmp_path, broker, caplog):
    pki = tmp_path / "pki"
    pki.mkdir()
    tls = make_ca(pki)
    mosquitto = broker(tls=tls)
    live = Subscriber(mosquitto.port, topics=("luxlogd/#",), ca=tls["ca"])
    with running(tmp_path, {"port": mosquitto.port, "tls": "true", "ca_file": f'"{tls["ca"]}"'}):
        live.wait_for(lambda m: states(m))
    live.close()
    # Without the CA the broker's certificate is not trusted: no connection, said once.
    (tmp_path / "untrusted").mkdir()
    with running(tmp_path / "untrusted", {"port": mosquitto.port, "tls": "true"}) as service:
        time.sleep(1.5)
        status = service.status()["mqtt"]
    assert status["connected"] is False
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "luxlogd.mqtt" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1 and "cannot reach the broker" in warnings[0]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"enabled": "true"}, "mqtt.host: expected the broker's host name or IP address"),
        ({"password": '"a"', "password_file": '"/etc/hostname"'}, "not both"),
        (
            {"password_file": '"/nonexistent/mqtt-password"'},
            "cannot read /nonexistent/mqtt-password",
        ),
        ({"cert_file": '"/etc/hostname"', "tls": "true"}, "a client certificate needs both"),
        ({"ca_file": '"/etc/hostname"'}, "mqtt.ca_file: set mqtt.tls = true to use it"),
        ({"qos": "2"}, "mqtt.qos: expected an integer 0-1"),
        ({"name": '"Heat Pump"'}, "mqtt.name: expected 1-32 lower-case letters"),
        ({"topic_prefix": '"luxlogd/#"'}, "mqtt.topic_prefix: expected a topic without '#'"),
        ({"sensors": '["no_such_sensor"]'}, "mqtt.sensors:"),
    ],
)
def test_check_config_names_what_is_wrong_in_mqtt(tmp_path, capsys, section, message):
    path = config_for(tmp_path, 1, mqtt=section)
    assert main(["--config", str(path), "check-config"]) == 78
    assert message in capsys.readouterr().err


def test_check_config_masks_the_password(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LUXLOGD_MQTT_PASSWORD", "s3cret-value")
    path = config_for(
        tmp_path, 1, mqtt={"enabled": "true", "host": '"127.0.0.1"', "username": '"heatpump"'}
    )
    assert main(["--config", str(path), "check-config"]) == 0
    out = capsys.readouterr().out
    assert 'password = "********"' in out and "s3cret-value" not in out

"""MQTT: what publishing adds per poll (CPU, messages, bytes), against Debian's mosquitto on
127.0.0.1, side by side with what storing the same poll costs.

CPU is the whole process's (time.process_time: our publishing thread and paho's network
thread), per poll handed to the publisher and published; storing is Storage.append with the
fsync left out (the disk's share is measured in bench_storage).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench_storage import generate
from common import Figure

from luxlogd.config import load_config
from luxlogd.outputs import mqtt
from luxlogd.outputs.mqtt import Publisher
from luxlogd.store.writer import Storage


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(quick: bool) -> list[Figure]:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        return [Figure("mqtt: skipped (no mosquitto; tests/install-debian-packages)", 0, "")]
    count = 200 if quick else 1000
    polls = list(generate(count + 1))
    work = Path(tempfile.mkdtemp(prefix="luxlogd-bench-mqtt-"))
    port = free_port()
    (work / "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n"
    )
    broker = subprocess.Popen(
        [mosquitto, "-c", str(work / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.02)
        (work / "luxlogd.toml").write_text(
            f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
        )
        publisher = Publisher(load_config(work / "luxlogd.toml")).start()
        deadline = time.monotonic() + 5
        while not publisher.connected and time.monotonic() < deadline:
            time.sleep(0.01)
        publisher.update(polls[0], True)  # discovery and the first state: not counted
        while publisher.states < 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        sent_before, states_before = publisher.published, publisher.states
        started = time.process_time()
        for poll in polls[1:]:
            publisher.update(poll, True)
            target = publisher.states + 1
            while publisher.states < target:
                time.sleep(0.0005)
        publish_cpu = (time.process_time() - started) / count
        messages = (publisher.published - sent_before) / (publisher.states - states_before)
        publisher.stop()

        fields = mqtt.published_fields(publisher.mqtt, polls[-1])
        size = len(json.dumps(mqtt.state(fields, polls[-1], "en")))

        with Storage(work / "state", fdatasync=lambda fd: None) as storage:
            started = time.process_time()
            for poll in polls:
                storage.append(poll)
            store_cpu = (time.process_time() - started) / len(polls)
    finally:
        broker.terminate()
        broker.wait(5)
        shutil.rmtree(work, ignore_errors=True)
    return [
        Figure(
            "mqtt: CPU per poll published (both threads)",
            publish_cpu * 1000,
            "ms",
            note=f"{publish_cpu / store_cpu:.1f}x storing it",
        ),
        Figure("mqtt: CPU per poll stored (for comparison, no fsync)", store_cpu * 1000, "ms"),
        Figure("mqtt: messages per poll (one JSON state)", messages, "", goal=1.0),
        Figure("mqtt: bytes per state message (well-known set)", size, "B"),
    ]

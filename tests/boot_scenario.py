"""Runs inside a booted Debian 12 container (systemd-nspawn): what an administrator does.

Copied in by tests/test_packaging.py with the .deb files and a settings file; started by a
Type=simple unit at boot; writes its observations to /root/results.json and powers the
container off. The host test asserts on the observations, so a failed step shows what was
seen. Standard library only: it runs with the container's /usr/bin/python3.
"""

import json
import re
import subprocess
import time
import traceback
import urllib.request
from pathlib import Path

ROOT = Path("/root")
SETTINGS = json.loads((ROOT / "settings.json").read_text())
RESULTS = ROOT / "results.json"
CONFIG = Path("/etc/luxlogd/luxlogd.toml")
DROPIN = Path("/etc/systemd/system/luxlogd.service.d/test-watchdog.conf")
facts: dict = {}


def sh(command: str, timeout: float = 120) -> dict:
    started = time.monotonic()
    done = subprocess.run(
        command, shell=True, capture_output=True, text=True, timeout=timeout, check=False
    )
    return {
        "rc": done.returncode,
        "out": done.stdout[-6000:],
        "err": done.stderr[-6000:],
        "seconds": round(time.monotonic() - started, 2),
    }


def show(unit: str) -> dict:
    properties = "ActiveState,SubState,Result,ExecMainStatus,MainPID,NRestarts,StatusText"
    out = sh(f"systemctl show {unit} -p {properties}")["out"]
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_until(predicate, timeout: float, step: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def save() -> None:
    RESULTS.write_text(json.dumps(facts, indent=1, default=str))


def step(name: str):
    """Record each step's facts, and an exception as a fact instead of a lost run."""

    def wrap(function):
        try:
            facts[name] = function()
        except Exception:
            facts[name] = {"exception": traceback.format_exc()}
        save()

    return wrap


def journal(unit: str) -> list[dict]:
    out = subprocess.run(
        ["journalctl", "-u", unit, "-o", "json", "--no-pager"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def messages(unit: str) -> list[str]:
    return [str(entry.get("MESSAGE")) for entry in journal(unit)]


sh("systemctl is-system-running --wait", timeout=60)


@step("install")
def _():
    result = sh(f"cd /root && apt-get install -y ./{SETTINGS['deb']}", timeout=300)
    time.sleep(1)
    result["unit_after_install"] = show("luxlogd")
    result["enabled"] = sh(
        "systemctl is-enabled luxlogd luxlogd-rollup.timer luxlogd-cleanup.timer"
    )["out"].split()
    result["journal"] = messages("luxlogd")[-10:]
    return result


if facts["install"].get("rc") != 0:  # nothing else can work; do not wait for it
    save()
    subprocess.run(["systemctl", "poweroff"], check=False)
    raise SystemExit(1)


@step("layout")
def _():
    return {
        "passwd": sh("getent passwd luxlogd")["out"].strip(),
        "stat": sh(
            "stat -c '%n %U:%G %a' /var/lib/luxlogd /var/lib/luxlogd/reports "
            "/etc/luxlogd /etc/luxlogd/luxlogd.toml /usr/bin/luxlogd"
        )["out"],
        "version": sh("luxlogd --version")["out"].strip(),
        "man": sh("man -w luxlogd")["out"].strip(),
        "verify": sh(
            "cd /lib/systemd/system && systemd-analyze verify --recursive-errors=no "
            "luxlogd.service luxlogd@check.service luxlogd-rollup.service luxlogd-rollup.timer "
            "luxlogd-cleanup.service luxlogd-cleanup.timer"
        ),
    }


@step("configure")
def _():
    port, web = SETTINGS["port"], SETTINGS["web_port"]
    sim = sh(
        f"systemd-run --unit=heatpump-sim /usr/bin/luxlogd simulate --host 127.0.0.1 --port {port}"
    )
    # The roll-up window must end after the daemon has stored polls: the first full minute
    # at least 45 s from now.
    rollup_at = time.localtime(time.time() + 105)
    facts["rollup_at"] = time.mktime(rollup_at[:5] + (0, 0, 0, -1))
    text = CONFIG.read_text()
    text = text.replace('# host = "192.168.1.50"', 'host = "127.0.0.1"', 1)
    text = re.sub(r"^port = 8889$", f"port = {port}", text, count=1, flags=re.M)
    text = re.sub(r"^interval_s = 30$", "interval_s = 1", text, count=1, flags=re.M)
    text = re.sub(
        r'^time = "07:00"$',
        f'time = "{time.strftime("%H:%M", rollup_at)}"',
        text,
        count=1,
        flags=re.M,
    )
    text = re.sub(r"^listen = .*$", f'listen = "127.0.0.1:{web}"', text, count=1, flags=re.M)
    CONFIG.write_text(text)
    check = sh("luxlogd check-config")
    started = sh("systemctl reset-failed luxlogd; systemctl restart luxlogd")
    status = wait_until(lambda: "heat pump reachable" in show("luxlogd").get("StatusText", ""), 30)
    time.sleep(3)
    return {
        "sim": sim,
        "check_config": check,
        "restart": started,
        "reached": bool(status),
        "unit": show("luxlogd"),
        "status_command": sh("luxlogd status"),
        "healthz": urllib.request.urlopen(f"http://127.0.0.1:{web}/healthz", timeout=5)
        .read()
        .decode(),
        "files": sh("ls -l /var/lib/luxlogd /var/lib/luxlogd/wal /run/luxlogd")["out"],
    }


@step("journal")
def _():
    # What the daemon wrote (systemd's own lines about the unit come from PID 1).
    entries = [e for e in journal("luxlogd") if e.get("_PID") != "1" and "MESSAGE" in e]
    return {
        "count": len(entries),
        "priorities": sorted({e.get("PRIORITY") for e in entries}),
        "identifiers": sorted({e.get("SYSLOG_IDENTIFIER") for e in entries}),
        "sample": [
            {k: e.get(k) for k in ("PRIORITY", "SYSLOG_IDENTIFIER", "MESSAGE")} for e in entries
        ][-8:],
    }


@step("timers")
def _():
    return sh("systemctl list-timers --all --no-pager")


@step("reload")
def _():
    before = show("luxlogd")["MainPID"]
    result = sh("systemctl reload luxlogd")
    time.sleep(2)
    after = show("luxlogd")
    result.update(
        pid_before=before, unit=after, journal=[m for m in messages("luxlogd") if "reloaded" in m]
    )
    return result


@step("mqtt")
def _():
    """Publishing to the container's own mosquitto with Debian's python3-paho-mqtt."""
    sh("systemctl start mosquitto")
    head, _, tail = CONFIG.read_text().partition("\n[mqtt]")
    tail = tail.replace("enabled = false", "enabled = true", 1)
    tail = tail.replace('host = ""', 'host = "127.0.0.1"', 1)
    CONFIG.write_text(head + "\n[mqtt]" + tail)
    reload = sh("systemctl reload luxlogd")
    state = sh("mosquitto_sub -h 127.0.0.1 -t 'luxlogd/+/state' -C 1 -W 30", timeout=40)
    discovery = sh(
        "mosquitto_sub -h 127.0.0.1 -t 'homeassistant/#' -v -W 3 | grep -c '/config '", timeout=10
    )
    time.sleep(2)  # status.json on /run is rewritten after every poll
    return {
        "reload": reload,
        "state": state["out"],
        "configs": int(discovery["out"].strip() or 0),
        "paho": sh("python3 -c 'import paho.mqtt; print(paho.mqtt.__version__)'")["out"].strip(),
        "status_command": sh("luxlogd status")["out"],
    }


@step("instances")
def _():
    """Two more heat pumps on this host (luxlogd@cellar, luxlogd@flat), each against a
    simulator of its own, beside luxlogd.service: their own files, topics and pages."""
    port, web = SETTINGS["port"], SETTINGS["web_port"]
    main_before = show("luxlogd")
    for offset, name in ((1, "cellar"), (2, "flat")):
        sh(
            f"systemd-run --unit=sim-{name} /usr/bin/luxlogd simulate --host 127.0.0.1 "
            f"--port {port + offset} --seed {offset + 5}"
        )
        Path(f"/etc/luxlogd/{name}.toml").write_text(
            f'[heatpump]\nhost = "127.0.0.1"\nport = {port + offset}\n'
            "[poll]\ninterval_s = 1\n"
            f'[web]\nlisten = "127.0.0.1:{web + offset}"\n'
            '[mqtt]\nenabled = true\nhost = "127.0.0.1"\n'
        )
    started = sh("systemctl start luxlogd@cellar luxlogd@flat")

    def both_reachable():
        return all(
            "reachable" in show(f"luxlogd@{name}").get("StatusText", "")
            for name in ("cellar", "flat")
        )

    reached = wait_until(both_reachable, 40)
    time.sleep(3)
    states = sh("mosquitto_sub -h 127.0.0.1 -t 'luxlogd/+/state' -v -W 4", timeout=10)["out"]
    pumps = {}
    for offset, name in ((1, "cellar"), (2, "flat")):
        with urllib.request.urlopen(f"http://127.0.0.1:{web + offset}/api/heatpumps") as answer:
            pumps[name] = json.loads(answer.read())
    result = {
        "started": started,
        "reached": bool(reached),
        "units": {name: show(f"luxlogd@{name}") for name in ("cellar", "flat")},
        "files": {
            name: sorted(p.name for p in Path(f"/var/lib/luxlogd/{name}").iterdir())
            for name in ("cellar", "flat")
        },
        "status": {
            name: sh(f"luxlogd --instance {name} status")["out"] for name in ("cellar", "flat")
        },
        "state_topics": sorted({line.split()[0] for line in states.splitlines() if line}),
        "heatpumps": pumps,
        "runtime": sh("ls -d /run/luxlogd /run/luxlogd-*")["out"].split(),
        "identifiers": sorted(
            {
                j.get("SYSLOG_IDENTIFIER")
                for n in ("cellar", "flat")
                for j in journal(f"luxlogd@{n}")
            }
        ),
        "main_before": main_before,
        "main_after": show("luxlogd"),
    }
    sh("systemctl stop luxlogd@cellar luxlogd@flat sim-cellar sim-flat")
    for name in ("cellar", "flat"):  # not the package's: purge would keep /etc/luxlogd
        Path(f"/etc/luxlogd/{name}.toml").unlink()
    return result


@step("watchdog")
def _():
    DROPIN.parent.mkdir(parents=True, exist_ok=True)
    DROPIN.write_text("[Service]\nWatchdogSec=4\n")
    sh("systemctl daemon-reload && systemctl restart luxlogd")
    wait_until(lambda: "reachable" in show("luxlogd").get("StatusText", ""), 20)
    first = show("luxlogd")
    sh(f"kill -STOP {first['MainPID']}")
    stopped_at = time.monotonic()

    def restarted():
        unit = show("luxlogd")
        return unit if unit["MainPID"] not in ("0", first["MainPID"]) else None

    second = wait_until(restarted, 60)
    seconds = time.monotonic() - stopped_at
    wait_until(lambda: "reachable" in show("luxlogd").get("StatusText", ""), 20)
    DROPIN.unlink()
    sh("systemctl daemon-reload && systemctl restart luxlogd")
    log = messages("luxlogd")
    return {
        "first": first,
        "second": second,
        "seconds": round(seconds, 1),
        "watchdog_lines": [m for m in log if "atchdog" in m][-5:],
        "traceback_lines": [m for m in log if "most recent call first" in m][-2:],
        "after": show("luxlogd"),
    }


@step("rollup")
def _():
    wait_until(lambda: time.time() > facts["rollup_at"] + 2, 200, step=1)
    result = sh("systemctl start luxlogd-rollup.service", timeout=300)
    result["unit"] = show("luxlogd-rollup.service")
    result["reports"] = sh("ls -l /var/lib/luxlogd/reports")["out"]
    result["journal"] = messages("luxlogd-rollup")[-6:]
    return result


@step("stop")
def _():
    result = sh("systemctl stop luxlogd")
    result["unit"] = show("luxlogd")
    result["journal"] = messages("luxlogd")[-3:]
    return result


@step("upgrade")
def _():
    sh("systemctl start luxlogd")
    wait_until(lambda: "reachable" in show("luxlogd").get("StatusText", ""), 20)
    before = show("luxlogd")
    result = sh(f"cd /root && apt-get install -y ./{SETTINGS['deb_next']}", timeout=300)
    wait_until(lambda: "reachable" in show("luxlogd").get("StatusText", ""), 20)
    result.update(
        before=before,
        after=show("luxlogd"),
        version=sh("luxlogd --version")["out"].strip(),
        config_host=[line for line in CONFIG.read_text().splitlines() if "host =" in line],
        etc=sh("ls -la /etc/luxlogd")["out"],
        stat=sh("stat -c '%U:%G %a' /etc/luxlogd/luxlogd.toml")["out"].strip(),
    )
    return result


@step("purge")
def _():
    result = sh("apt-get purge -y luxlogd", timeout=300)
    result.update(
        etc_exists=Path("/etc/luxlogd").exists(),
        data=sorted(p.name for p in Path("/var/lib/luxlogd").iterdir())
        if Path("/var/lib/luxlogd").exists()
        else None,
        user=sh("getent passwd luxlogd")["out"].strip(),
        unit_files=sh("ls /lib/systemd/system | grep luxlogd")["out"].strip(),
        processes=sh("pgrep -a -u luxlogd")["out"].strip(),
        binary=Path("/usr/bin/luxlogd").exists(),
    )
    return result


facts["finished"] = True
save()
subprocess.run(["systemctl", "poweroff"], check=False)

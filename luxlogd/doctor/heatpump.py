"""Doctor's heat pump sections: can it be read (and how well), and what does it have."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import time
from pathlib import Path

from luxlogd.base.times import clock_text, duration_text
from luxlogd.base.words import language, number, plain, tr
from luxlogd.doctor.report import Section
from luxlogd.health.status import process_alive, read_status
from luxlogd.heatpump import catalogue, quality, sensors
from luxlogd.heatpump.client import AttemptError, HeatPumpClient
from luxlogd.heatpump.poll import Poll

# The other port a Luxtronik 2.x controller may listen on (8888 on very old firmware).
OTHER_PORT = {8888: 8889, 8889: 8888}
SLOW_READ_S = 2.0  # a real controller answers all three reads in about 0.1 s
CLOCK_OK_S = 60  # the controller's clock within a minute of ours: fine
# Array lengths of the firmware versions seen so far (parameters, calculations, visibilities).
KNOWN_LENGTHS = {"V1.80": (1086, 200, 336), "V3.78": (1075, 232, 327), "V3.81": (1087, 249, 337)}
ANOTHER_CLIENT = (
    "Luxtronik controllers serve one client at a time: another one (an app, a "
    "home automation system, a second logger) may have held the connection. Run "
    "doctor again; if it stays so, find and stop the other client"
)


def connection(
    host: str, port: int, timeout_s: float, state_dir: Path, now: float
) -> tuple[Section, Poll | None]:
    """Resolve, connect, read all three arrays (a second attempt after a failure); judge the
    answer, the time it took and the controller's clock."""
    section = Section("connection", facts={"host": host, "port": port})
    if not host:
        section.add(
            "problem",
            tr("no heat pump address"),
            tr("set heatpump.host in the configuration (or give --host)"),
        )
        return section, None
    if not _resolve(section, host, port):
        return section, None
    client = HeatPumpClient(host, port, timeout_s, retries=0)
    failures: list[AttemptError] = []
    poll = None
    for attempt in (1, 2):
        try:
            poll = client.read_once()
            break
        except AttemptError as error:
            failures.append(error)
            if error.final or attempt == 2:
                break
            time.sleep(1.0)
    section.facts["attempts"] = [str(error) for error in failures]
    if poll is None:
        _explain_failure(section, failures[-1], host, port, timeout_s)
        _note_daemon(section, state_dir, now)
        return section, None
    if failures:
        passing = tr("a passing network problem; if it recurs, check the link to the heat pump")
        section.add(
            "warning",
            tr("the first attempt failed ({why}); the second worked", why=failures[0]),
            tr(ANOTHER_CLIENT) if "reset" in failures[0].reason.lower() else passing,
        )
    _judge_read(section, client.timings, poll)
    _judge_clock(section, poll, time.time())
    _note_daemon(section, state_dir, now)
    return section, poll


def _resolve(section: Section, host: str, port: int) -> bool:
    try:
        ipaddress.ip_address(host)
        section.add("ok", tr("{host} is an IP address (no name to resolve)", host=host))
        return True
    except ValueError:
        pass
    started = time.monotonic()
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        section.add(
            "problem",
            tr("cannot resolve {host}: {why}", host=repr(host), why=error.strerror),
            tr(
                "check the name, or use the controller's IP address (its network settings show "
                "it; a DHCP reservation keeps it fixed)"
            ),
        )
        return False
    took = time.monotonic() - started
    addresses = sorted({str(info[4][0]) for info in found})
    section.facts["addresses"] = addresses
    text = tr(
        "{host} resolves to {addresses} in {ms} ms",
        host=host,
        addresses=", ".join(addresses),
        ms=number(took * 1000),
    )
    if took > 1.0:
        section.add(
            "warning", text, tr("slow name resolution delays every poll: use the IP address")
        )
    else:
        section.add("ok", text)
    return True


def _explain_failure(
    section: Section, error: AttemptError, host: str, port: int, timeout_s: float
) -> None:
    """Tell refused, no answer, garbage, silence, a broken-off answer and a reset apart."""
    reason, where = error.reason, f"{host}:{port}"
    section.facts["failure"] = {"phase": error.phase, "reason": reason}
    if error.phase == "connect" and "refused" in reason.lower():
        advice = tr(
            "Luxtronik 2.x controllers listen on 8889, very old firmware on 8888; check "
            "heatpump.port, and that the address is the heat pump's"
        )
        other = OTHER_PORT.get(port)
        if other is not None and _accepts(host, other):
            advice = tr("port {port} accepts connections: set heatpump.port = {port}", port=other)
        section.add(
            "problem",
            tr("{where} refused the connection: nothing listens on that port", where=where),
            advice,
        )
    elif error.phase == "connect" and "timed out" in reason:
        section.add(
            "problem",
            tr(
                "no answer from {where} within {timeout} s (connecting timed out)",
                where=where,
                timeout=plain(timeout_s),
            ),
            tr(
                "the controller is off or restarting, the address is wrong, or a firewall "
                "drops the packets: check the address in the controller's network settings "
                "and that this computer reaches it (ping {host})",
                host=host,
            ),
        )
    elif _reset_before_answer(reason):  # also in connect: accepted, then reset
        section.add(
            "problem",
            tr(
                "the controller reset the connection before answering ({phase}: {why})",
                phase=error.phase,
                why=reason,
            ),
            tr(ANOTHER_CLIENT),
        )
    elif error.phase == "connect":
        section.add(
            "problem",
            tr("cannot connect to {where}: {why}", where=where, why=reason),
            tr(
                "check the network between this computer and the heat pump (cable, Wi-Fi, "
                "routes, VLANs)"
            ),
        )
    elif "wrong echo" in reason or "implausible length" in reason:
        section.add(
            "problem",
            tr(
                "{where} answers, but not as a Luxtronik 2.x controller ({phase}: {why})",
                where=where,
                phase=error.phase,
                why=reason,
            ),
            tr(
                "is this the heat pump's address and port? Another device may have the "
                "address; Luxtronik 2.x answers on 8889 (its web page is not what luxlogd reads)"
            ),
        )
    elif "timed out with 0 of" in reason:
        section.add(
            "problem",
            tr(
                "{where} accepted the connection but sent nothing within {timeout} s ({phase})",
                where=where,
                timeout=plain(timeout_s),
                phase=error.phase,
            ),
            tr(
                "the controller is busy with another client or hanging; if it stays so, "
                "restart it (power off for a minute)"
            ),
        )
    else:
        section.add(
            "problem",
            tr("the answer broke off ({phase}: {why})", phase=error.phase, why=reason),
            tr(
                "a flaky link (Wi-Fi, powerline adapters) or a controller restarting: run "
                "doctor again, and check the link if it recurs"
            ),
        )


def _reset_before_answer(reason: str) -> bool:
    """A reset before a single byte of the answer (what a controller busy with another
    client does), not one in the middle of an answer."""
    return "reset" in reason.lower() and ("after 0 of" in reason or " after " not in reason)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return True
    except OSError:
        return False


def _judge_read(section: Section, timings: dict[str, float], poll: Poll) -> None:
    total = sum(timings.values())
    section.facts["timings_ms"] = {k: round(v * 1000, 1) for k, v in timings.items()}
    parts = ", ".join(
        f"{tr(k)} {number(v * 1000)} ms" for k, v in timings.items() if k != "connect"
    )
    text = tr(
        "connected in {connect} ms; read {parts} ({total} s in all)",
        connect=number(timings.get("connect", 0) * 1000),
        parts=parts,
        total=number(total, 2),
    )
    if total > SLOW_READ_S:
        section.add(
            "warning",
            text,
            tr(
                "a real controller answers in about 0.1 s: a weak link (Wi-Fi, powerline) or a "
                "busy controller; luxlogd copes, but each poll takes longer"
            ),
        )
    else:
        section.add("ok", text)
    if poll.calc_status != 0:
        section.add(
            "warning",
            tr("the controller says it is busy (status word {status})", status=poll.calc_status),
            tr("nothing to do: it still sent every value, and luxlogd keeps them with the status"),
        )
    firmware = _firmware(poll)
    lengths = poll.lengths
    section.facts.update(firmware=firmware, lengths=list(lengths))
    text = tr(
        "firmware {firmware}: {parameters} parameters, {calculations} calculations, "
        "{visibilities} visibilities",
        firmware=firmware or tr("unknown"),
        parameters=lengths[0],
        calculations=lengths[1],
        visibilities=lengths[2],
    )
    known = KNOWN_LENGTHS.get(firmware or "")
    if known is not None and known != lengths:
        text += tr(" (this firmware usually sends {lengths})", lengths="/".join(map(str, known)))
    section.add("ok", text)


def _firmware(poll: Poll) -> str | None:
    value = sensors.value(poll, "firmware")
    return str(value).strip() or None if value is not None else None


def _judge_clock(section: Section, poll: Poll, now: float) -> None:
    """The controller's clock (calculation 134) is epoch seconds of its own wall clock: we
    compare it with ours as UTC and as local time and take the nearer reading."""
    clock = quality.controller_clock(poll)
    if not clock:
        section.add("info", tr("the controller does not report its clock"))
        return
    offset = dt.datetime.fromtimestamp(now, dt.UTC).astimezone().utcoffset()
    local_s = offset.total_seconds() if offset else 0.0
    as_utc, as_local = clock - now, clock - (now + local_s)
    local = abs(as_local) <= abs(as_utc)
    drift, zone = (as_local, tr("local time")) if local else (as_utc, "UTC")
    if local_s == 0:
        zone = tr("UTC or local time: this computer runs on UTC")
    section.facts["clock_drift_s"] = round(drift, 1)
    if abs(drift) <= CLOCK_OK_S:
        section.add(
            "ok",
            tr(
                "the controller's clock is within {s} s of this computer's (it keeps {zone})",
                s=number(abs(drift)),
                zone=zone,
            ),
        )
        return
    template = (
        "the controller's clock is {by} ahead of this computer's (it keeps {zone})"
        if drift > 0
        else "the controller's clock is {by} behind this computer's (it keeps {zone})"
    )
    section.add(
        "warning",
        tr(template, by=duration_text(drift), zone=zone),
        tr(
            "set the controller's date and time; luxlogd stamps polls with this computer's "
            "clock, but the controller's error and switch-off logs use its own"
        ),
    )


def _note_daemon(section: Section, state_dir: Path, now: float) -> None:
    status = read_status(state_dir)
    if status is None or not process_alive(status.get("pid")):
        return
    last = status.get("last_success")
    when = clock_text(last) if last else tr("none yet")
    section.add(
        "info",
        tr(
            "the luxlogd daemon is running (pid {pid}, last poll {when}); doctor read the heat "
            "pump beside it",
            pid=status.get("pid"),
            when=when,
        ),
    )


def capabilities(poll: Poll) -> Section:
    """What this installation has: type, sensors connected, circuits, what it reports."""
    section = Section("capabilities")
    kind = sensors.value(poll, "heat_pump_type")
    section.facts["heat_pump_type"] = str(kind)
    section.add("info", tr("heat pump type {kind}", kind=kind))
    connected: list[catalogue.Sensor] = []
    absent: list[catalogue.Sensor] = []
    zero: list[catalogue.Sensor] = []
    for sensor in catalogue.SENSORS:
        if sensor.kind != "temperature":
            continue
        value = sensors.value(poll, sensor.key)
        if value is None:
            continue
        if sensor.not_connected(value):
            absent.append(sensor)
        else:
            (zero if value == 0 else connected).append(sensor)
    section.facts["connected"] = [s.key for s in connected]
    section.facts["not_connected"] = [s.key for s in absent]
    section.facts["zero"] = [s.key for s in zero]
    section.add(
        "ok",
        tr(
            "{n} temperature sensors connected: {names}",
            n=len(connected),
            names="; ".join(s.text(language()) for s in connected),
        ),
    )
    if absent:
        section.add(
            "info",
            tr(
                "not connected (they read a fixed value): {names}",
                names="; ".join(s.text(language()) for s in absent),
            ),
        )
    if zero:
        section.add(
            "info",
            tr(
                "reading exactly 0.0 (not present on this installation, or really 0 °C now): "
                "{names}",
                names="; ".join(s.text(language()) for s in zero),
            ),
        )
    for sensor in absent:
        if sensor.key in catalogue.CRITICAL:
            section.add(
                "problem",
                tr(
                    "the {label} sensor is not connected (it reads a fixed value)",
                    label=_name(sensor),
                ),
                tr(
                    "the heat pump cannot work right without it: check the sensor and its "
                    "wiring (a service call)"
                ),
            )
    circuits = [
        key
        for key, (_, keys) in catalogue.CIRCUITS.items()
        if any(_in_use(key, poll) for key in keys)
    ]
    section.facts["circuits"] = circuits
    german = language() == "de"
    names = [catalogue.CIRCUITS[key][0][1 if german else 0] for key in circuits]
    names = names if german else [name.lower() for name in names]
    section.add(
        "info",
        tr("in use: {circuits}", circuits=", ".join(names) if names else tr("no circuit seen yet")),
    )
    _reported(section, poll)
    _newer_fields(section, poll)
    beyond = {
        group: length - sensors.library_length(group)
        for group, length in poll.lengths_by_group().items()
    }
    newer = ", ".join(f"{n} {tr(group)}" for group, n in beyond.items() if n > 0)
    if newer:
        section.add(
            "info",
            tr(
                "newer firmware than luxtronik 0.3.14 knows: {fields} without a name; stored "
                "like every other value, shown as Unknown_*",
                fields=newer,
            ),
        )
    return section


def _name(sensor: catalogue.Sensor) -> str:
    """A sensor's label inside a sentence: lower case in English, as it is in German."""
    return sensor.de if language() == "de" else sensor.en.lower()


def _in_use(key: str, poll: Poll) -> bool:
    """A counter above zero, or a temperature connected and not exactly 0.0."""
    sensor = catalogue.by_key()[key]
    value = sensors.value(poll, key)
    if not isinstance(value, int | float) or value == 0:
        return False
    return sensor.counter or not sensor.not_connected(value)


def _reported(section: Section, poll: Poll) -> None:
    def value(key: str) -> float:
        found = sensors.decode_value(
            sensors.sensor_field(key), poll.array(catalogue.by_key()[key].group)
        )
        return float(value_or_zero(found))

    heat = value("heat_total")
    electric = value("electric_heating") + value("electric_hot_water")
    flow = max(value("flow_rate_heat_meter"), value("flow_rate"))
    section.facts.update(heat_kwh=heat, electric_kwh=electric, flow_rate_l_h=flow)
    if heat > 0:
        section.add(
            "ok", tr("reports the heat it produced ({kwh} kWh so far)", kwh=number(heat, 1))
        )
    else:
        section.add(
            "info",
            tr(
                "reports no heat produced (no heat meter, or it is switched off): no heat "
                "figures and no COP"
            ),
        )
    if electric > 0:
        section.add(
            "ok",
            tr("reports the electric energy it used ({kwh} kWh so far)", kwh=number(electric, 1)),
        )
    else:
        section.add(
            "info",
            tr(
                "reports no electric energy (older firmware has no energy counters): a COP "
                "needs an external meter"
            ),
        )
    if flow > 0:
        section.add("ok", tr("reports the flow rate ({flow} l/h now)", flow=number(flow)))
    else:
        section.add("info", tr("reports no flow rate now (no flow meter, or the pump is off)"))


def _newer_fields(section: Section, poll: Poll) -> None:
    """Which of the fields newer firmware adds this controller sends (its arrays reach them)."""
    keys = catalogue.by_key()
    sent = [
        keys[key]
        for key in catalogue.NEWER_FIRMWARE
        if keys[key].index < len(poll.array(keys[key].group))
    ]
    missing = [keys[key] for key in catalogue.NEWER_FIRMWARE if keys[key] not in sent]
    section.facts["newer_fields"] = [s.key for s in sent]
    section.facts["newer_fields_missing"] = [s.key for s in missing]
    if sent:
        section.add(
            "info",
            tr(
                "sends {n} of the {total} fields newer firmware adds: {names}",
                n=len(sent),
                total=len(catalogue.NEWER_FIRMWARE),
                names="; ".join(_name(s) for s in sent),
            ),
        )
    if missing:
        section.add(
            "info",
            tr(
                "does not send: {names}",
                names="; ".join(f"{_name(s)} ({tr(s.group)} {s.index})" for s in missing),
            )
            + (
                tr(" (no live COP without the electric power input)")
                if "electric_power" in [s.key for s in missing]
                else ""
            ),
        )


def value_or_zero(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0

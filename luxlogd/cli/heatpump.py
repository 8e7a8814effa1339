"""Commands that talk to the heat pump: dump (and doctor)."""

from __future__ import annotations

import argparse
import json
import sys

from luxlogd.base.errors import EXIT_OK, UsageError
from luxlogd.base.text import json_default
from luxlogd.cli.common import (
    Commands,
    count,
    load_args_config,
    port,
    positive_float,
    terminal_progress,
)

HIDDEN = "(secret: not shown)"
INTERACTIVE_TIMEOUT_S = 10.0  # dump's defaults, at most: heatpump.timeout_s, .retries
INTERACTIVE_RETRIES = 1


def add_commands(commands: Commands) -> None:
    parser = commands.add_parser(
        "dump",
        help="read the heat pump once and print every value",
        description="Read the heat pump once and print every value. Exit 69 when it cannot "
        "be read; a refused connection or an unknown name fails at once. Access codes and "
        "passwords are shown only in --format raw (the arrays exactly as received).",
    )
    _connection_arguments(parser)
    parser.add_argument(
        "--format",
        choices=("text", "json", "raw"),
        default="text",
        help="text: a table; json: one object name -> value; raw: the integer arrays",
    )
    parser.set_defaults(handler=cmd_dump)

    parser = commands.add_parser(
        "doctor",
        help="check the connection, the heat pump and the recorded data; say what to do",
        description="Check the connection to the heat pump (one read; a second after a "
        "failure), what the heat pump has, the recorded data (polls per day, gaps and why, "
        "clock jumps, growth, reports), its integrity (write-ahead log, SQLite, sealed days) "
        "and the plausibility of the readings. Read-only, safe beside the running daemon. "
        "Exit 0 when nothing is a problem, 1 when something is, 69 when the heat pump cannot "
        "be read.",
    )
    _connection_arguments(parser, retries=False)
    parser.add_argument(
        "--days",
        type=days_back,
        default=14,
        metavar="N",
        help="days of polls per day to list (default 14)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="SQLite integrity_check and every sealed day re-checked (slower)",
    )
    parser.add_argument(
        "--no-heat-pump",
        dest="heat_pump",
        action="store_false",
        help="check only the recorded data (no connection)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: sections with verdicts; json: the same for scripts",
    )
    parser.set_defaults(handler=cmd_doctor)


def days_back(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 366:
        raise argparse.ArgumentTypeError(f"expected a number of days 1-366, got {text!r}")
    return int(text)


def _connection_arguments(parser: argparse.ArgumentParser, retries: bool = True) -> None:
    parser.add_argument("--host", help="controller address (default: heatpump.host)")
    parser.add_argument("--port", type=port, help="controller port (default: heatpump.port)")
    parser.add_argument(
        "--timeout",
        type=positive_float,
        metavar="S",
        help="deadline for connecting and each answer (default: heatpump.timeout_s, at most 10 s)",
    )
    if not retries:
        return
    parser.add_argument(
        "--retries",
        type=count,
        metavar="N",
        help="retries after a failed attempt (default: heatpump.retries, at most 1)",
    )


def make_client(args: argparse.Namespace) -> object:
    from luxlogd.heatpump.client import HeatPumpClient

    config = load_args_config(args)
    host = args.host or config.heatpump.host
    if not host:
        raise UsageError("no heat pump address: give --host or set heatpump.host")
    h = config.heatpump
    # Someone waits at a terminal: short defaults (the daemon's are for a controller that
    # must not be lost); --timeout and --retries say otherwise.
    timeout = args.timeout or min(h.timeout_s, INTERACTIVE_TIMEOUT_S)
    retries = min(h.retries, INTERACTIVE_RETRIES) if args.retries is None else args.retries
    return HeatPumpClient(
        host, args.port or h.port, timeout, retries, h.backoff_s, progress=terminal_progress
    )


def cmd_dump(args: argparse.Namespace) -> int:
    from luxlogd.heatpump import sensors
    from luxlogd.heatpump.client import HeatPumpClient
    from luxlogd.heatpump.protocol import GROUPS

    client = make_client(args)
    assert isinstance(client, HeatPumpClient)
    poll = client.read()
    if args.format == "raw":
        sys.stdout.write(json.dumps(poll.raw()) + "\n")
        return EXIT_OK
    secrets = {f.name for f in sensors.secret_fields()}
    if args.format == "json":
        decoded = {
            name: (HIDDEN if name in secrets else value) for name, value in poll.decode().items()
        }
        sys.stdout.write(json.dumps(decoded, default=json_default, ensure_ascii=False) + "\n")
        return EXIT_OK
    lines = []
    for group in GROUPS:
        values = poll.array(group)
        for found in sensors.fields_for(group, len(values)):
            value = HIDDEN if found.secret else sensors.decode_value(found, values)
            unit = f" {found.unit}" if found.unit and found.numeric and not found.secret else ""
            lines.append(f"{group[:4]} {found.index:5d}  {found.name:42} {value}{unit}")
    lines.append(f"calc_status {poll.calc_status}")
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from luxlogd import doctor
    from luxlogd.doctor import report as doctor_report

    config = load_args_config(args)
    terminal_progress(
        "checking"
        + (" the heat pump and" if args.heat_pump else "")
        + f" the data in {config.state_dir} ..."
    )
    report = doctor.run(
        config,
        host=args.host,
        port=args.port,
        timeout_s=args.timeout,
        heat_pump=args.heat_pump,
        days=args.days,
        full=args.full,
    )
    text = (
        doctor_report.format_json(report)
        if args.format == "json"
        else doctor_report.format_text(report)
    )
    sys.stdout.write(text)
    return report.exit_code

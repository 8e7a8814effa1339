"""Commands that talk to the heat pump: dump (and doctor)."""

from __future__ import annotations

import argparse
import json
import sys

from luxlogd.cli import (
    EXIT_OK,
    count,
    json_value,
    load_args_config,
    port,
    positive_float,
    terminal_progress,
)
from luxlogd.errors import UsageError

HIDDEN = "(secret: not shown)"


def add_commands(commands: argparse._SubParsersAction) -> None:
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


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="controller address (default: heatpump.host)")
    parser.add_argument("--port", type=port, help="controller port (default: heatpump.port)")
    parser.add_argument("--timeout", type=positive_float, metavar="S",
                        help="deadline for connecting and each answer (default: "
                        "heatpump.timeout_s)")  # fmt: skip
    parser.add_argument(
        "--retries", type=count, metavar="N",
        help="retries after a failed attempt (default: heatpump.retries)",
    )  # fmt: skip


def make_client(args: argparse.Namespace) -> object:
    from luxlogd.client import HeatPumpClient

    config = load_args_config(args)
    host = args.host or config.heatpump.host
    if not host:
        raise UsageError("no heat pump address: give --host or set heatpump.host")
    h = config.heatpump
    return HeatPumpClient(
        host,
        args.port or h.port,
        args.timeout or h.timeout_s,
        h.retries if args.retries is None else args.retries,
        h.backoff_s,
        progress=terminal_progress,
    )


def cmd_dump(args: argparse.Namespace) -> int:
    from luxlogd import sensors
    from luxlogd.client import HeatPumpClient
    from luxlogd.poll import GROUPS

    client = make_client(args)
    assert isinstance(client, HeatPumpClient)
    poll = client.read()
    if args.format == "raw":
        sys.stdout.write(json.dumps(poll.raw()) + "\n")
        return EXIT_OK
    secrets = {f.name for f in sensors.secret_fields()}
    if args.format == "json":
        decoded = {name: (HIDDEN if name in secrets else value)
                   for name, value in poll.decode().items()}  # fmt: skip
        sys.stdout.write(json.dumps(decoded, default=json_value, ensure_ascii=False) + "\n")
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

"""Command line: argparse subcommands; the only place that prints and picks exit codes."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from luxlogd import __version__
from luxlogd.config import LOG_LEVELS, Config, format_config, load_config
from luxlogd.errors import (
    ConfigError,
    HeatPumpError,
    LuxlogdError,
    SensorPatternError,
    StateDirError,
    UsageError,
)
from luxlogd.logs import configure_logging

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69  # sysexits.h EX_UNAVAILABLE: the heat pump cannot be read
EXIT_CONFIG = 78  # sysexits.h EX_CONFIG; luxlogd.service has RestartPreventExitStatus=78

logger = logging.getLogger("luxlogd")

Handler = Callable[[argparse.Namespace], int]


def _add_check_config(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "check-config",
        help="validate and print the effective configuration",
        description="Validate the configuration (file, environment, defaults) and print the "
        "effective values. Exit 78 when it is invalid.",
    )
    parser.add_argument("path", nargs="?", help="configuration file (default: the lookup order)")
    parser.set_defaults(handler=cmd_check_config)


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_args_config(args, path=args.path or args.config)
    sys.stdout.write(format_config(config))
    return EXIT_OK


def load_args_config(args: argparse.Namespace, path: str | None = None) -> Config:
    """Load the configuration the arguments name and report its warnings."""
    config = load_config(path if path is not None else args.config, log_level=args.log_level)
    for warning in config.warnings:
        logger.warning("%s", warning)
    return config


def _add_simulate(commands: argparse._SubParsersAction) -> None:
    from luxlogd.simmodel import DEFAULT_PROFILE, PROFILES
    from luxlogd.simulator import FAULTS

    parser = commands.add_parser(
        "simulate",
        help="serve a simulated heat pump controller",
        description="Serve a simulated Luxtronik 2.x controller speaking the real protocol, "
        "with a thermal model, firmware profiles and fault modes. Ctrl-C stops it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="fault modes:\n" + "\n".join(f"  {name:16} {text}" for name, text in FAULTS.items()),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8889, help="TCP port (8889; 0 picks one)")
    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        default=DEFAULT_PROFILE,
        help=f"firmware profile (array lengths), default {DEFAULT_PROFILE}",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the thermal model (1)")
    parser.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        help="simulated seconds per real second (default 1; 60: a minute per second)",
    )
    parser.add_argument(
        "--fault", choices=list(FAULTS), metavar="MODE", help="misbehave in this way (see below)"
    )
    parser.add_argument(
        "--delay", type=_positive_float, default=35.0, metavar="S",
        help="with --fault slow: seconds a whole read takes (default 35)",
    )  # fmt: skip
    parser.add_argument(
        "--replay",
        metavar="DIR",
        help="send the captured 3003.bin, 3004.bin, 3005.bin of DIR byte for byte",
    )
    parser.set_defaults(handler=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    import signal
    import threading

    from luxlogd.simulator import Simulator

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.replay:
        for name in ("3003.bin", "3004.bin", "3005.bin"):
            if not (Path(args.replay) / name).is_file():
                raise UsageError(f"--replay {args.replay}: {name} not found")
    simulator = Simulator(
        args.host,
        args.port,
        profile=args.profile,
        seed=args.seed,
        speed=args.speed,
        fault=args.fault,
        replay_dir=args.replay,
        delay_s=args.delay,
    )
    simulator.start()
    what = f"replay of {args.replay}" if args.replay else f"profile {args.profile}"
    logger.info(
        "simulated controller listening host=%s port=%d %s speed=%g fault=%s",
        simulator.host,
        simulator.port,
        what,
        args.speed,
        args.fault or "none",
    )
    print(f"simulated heat pump on {simulator.host}:{simulator.port} (Ctrl-C stops)", flush=True)
    stop.wait()
    simulator.stop()
    return EXIT_OK


def _add_dump(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "dump",
        help="read the heat pump once and print every value",
        description="Read the heat pump once (heatpump.* settings for timeout and retries) and "
        "print every value. Exit 69 when it cannot be read.",
    )
    parser.add_argument("--host", help="controller address (default: heatpump.host)")
    parser.add_argument("--port", type=_port, help="controller port (default: heatpump.port)")
    parser.add_argument(
        "--format",
        choices=("text", "json", "raw"),
        default="text",
        help="text: a table; json: one object name -> value; raw: the integer arrays",
    )
    parser.set_defaults(handler=cmd_dump)


def cmd_dump(args: argparse.Namespace) -> int:
    import json

    from luxlogd import sensors
    from luxlogd.client import HeatPumpClient

    config = load_args_config(args)
    host = args.host or config.heatpump.host
    if not host:
        raise UsageError("no heat pump address: give --host or set heatpump.host")
    port = args.port or config.heatpump.port
    client = HeatPumpClient(
        host, port, config.heatpump.timeout_s, config.heatpump.retries, config.heatpump.backoff_s
    )
    snapshot = client.read()
    if args.format == "raw":
        sys.stdout.write(json.dumps(snapshot.raw()) + "\n")
    elif args.format == "json":
        sys.stdout.write(
            json.dumps(snapshot.decode(), default=_json_value, ensure_ascii=False) + "\n"
        )
    else:
        lines = []
        for group in sensors.GROUPS:
            values = getattr(snapshot, group)
            for found in sensors.fields_for(group, len(values)):
                value = sensors.decode_value(found, values)
                unit = f" {found.unit}" if found.unit and found.numeric else ""
                lines.append(f"{group[:4]} {found.index:5d}  {found.name:42} {value}{unit}")
        lines.append(f"calc_status {snapshot.calc_status}")
        sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def _add_export(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="export stored polls of a time range as CSV or JSON",
        description="Export the stored polls of [--from, --to) with decoded values. T is an "
        "ISO 8601 date or date-time, local time unless it has an offset; a date as --to means "
        "the end of that day. Polls still only in the write-ahead log are included.",
    )
    parser.add_argument("--from", dest="start", required=True, metavar="T", help="start")
    parser.add_argument("--to", dest="end", required=True, metavar="T", help="end (exclusive)")
    parser.add_argument(
        "--format", choices=("csv", "json", "dta"), default="csv",
        help="csv, json, or dta (Stata; needs --output and the extra luxlogd[dta])",
    )  # fmt: skip
    parser.add_argument(
        "--sensors", metavar="P,...",
        help="field names, * globs or groups (default: reports.sensors)",
    )  # fmt: skip
    parser.add_argument("--output", metavar="FILE", help="write here (default: stdout)")
    parser.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from luxlogd import export, sensors
    from luxlogd.reader import Reader

    config = load_args_config(args)
    start = export.to_ms(export.parse_time(args.start))
    end = export.to_ms(export.parse_time(args.end, end_of_day=True))
    if end <= start:
        raise UsageError(f"--to {args.end} is not after --from {args.start}")
    patterns = args.sensors.split(",") if args.sensors else list(config.reports.sensors)
    reader = Reader(config.state_dir)
    try:
        chosen = sensors.resolve_sensors(patterns, reader.latest_lengths())
        names = [f.name for f in chosen]
        progress = export.TerminalProgress(start, end)
        rows = export.decoded_rows(reader, chosen, start, end)
        if args.format == "dta":
            from luxlogd.reports import write_dta

            if not args.output:
                raise UsageError("--format dta writes a binary file: give --output FILE")
            counted = []

            def counting() -> Iterator[tuple[int, list[Any]]]:
                for row in rows:
                    counted.append(1)
                    yield row

            target = Path(args.output)
            temporary = target.with_name(f".{target.name}.tmp")
            write_dta(temporary, names, counting())
            temporary.replace(target)
            count = len(counted)
        elif args.output:
            from luxlogd.files import write_file_atomically

            count = write_file_atomically(
                Path(args.output),
                lambda handle: export.write_export(rows, names, handle, args.format, progress),
            )
        else:
            count = export.write_export(rows, names, sys.stdout, args.format, progress)
        progress.done()
    finally:
        reader.close()
    if count == 0:
        logger.warning("no polls stored between %s and %s", args.start, args.end)
    else:
        logger.info("exported polls=%d sensors=%d", count, len(names))
    return EXIT_OK


def _add_run(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "run",
        help="the daemon, in the foreground (systemd Type=notify)",
        description="Poll the heat pump every poll.interval_s and store every reading. "
        "SIGTERM/SIGINT stop it cleanly; SIGHUP reloads the configuration.",
    )
    parser.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from luxlogd.config import require_host
    from luxlogd.health import StallMonitor, stall_limit_s
    from luxlogd.service import Service

    config = load_args_config(args)
    require_host(config)
    logging.getLogger().setLevel(config.log.level.upper())
    # A watchdog SIGABRT (or SIGSEGV) prints where every thread was, into the journal.
    try:
        faulthandler.enable(2)  # fd 2: also under pytest capture
    except (OSError, ValueError):  # fd 2 closed
        pass
    limit = stall_limit_s(config.poll.interval_s, os.environ)
    monitor = StallMonitor(limit) if limit else None
    service = Service(config, config_path=args.config, stall_monitor=monitor)
    service.install_signal_handlers()
    return service.run()


def _add_status(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "status",
        help="last poll, samples stored, sizes, disk use; exit 1 when unhealthy",
        description="Report on the daemon and its state directory (works while it runs). "
        "Exit 1 when the daemon is not running or has not stored a poll recently.",
    )
    parser.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from luxlogd import status

    config = load_args_config(args)
    report, healthy = status.build_report(config)
    sys.stdout.write(report)
    return EXIT_OK if healthy else EXIT_FAILURE


def _add_rollup(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "rollup",
        help="write the daily and weekly reports and the summary",
        description="Write YYYY-MM-DD_daily, _weekly and _summary reports for the period "
        "that ends at reports.time of DATE (default: the latest roll-up time that has passed) "
        "into every reports.output_dirs directory. Idempotent; finishes an interrupted roll-up "
        "first; exit 0 with a warning when there is no data.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--date", metavar="YYYY-MM-DD", type=_date, help="the roll-up date")
    which.add_argument(
        "--now", action="store_true", help="on-demand reports for the periods ending now"
    )
    parser.set_defaults(handler=cmd_rollup)


def cmd_rollup(args: argparse.Namespace) -> int:
    from luxlogd import reports

    reports.rollup(load_args_config(args), args.date, on_demand=args.now)
    return EXIT_OK


def _add_cleanup(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "cleanup",
        help="apply retention to reports and raw data",
        description="Delete reports older than reports.retention_days (judged by the date in "
        "their name; only files named like luxlogd's reports) and raw data older than "
        "storage.retention_days. Logs the files deleted and the bytes freed.",
    )
    parser.set_defaults(handler=cmd_cleanup)


def cmd_cleanup(args: argparse.Namespace) -> int:
    from luxlogd.housekeeping import cleanup

    result = cleanup(load_args_config(args))
    print(
        f"deleted {result.files} report files and {result.polls_removed} old polls, freed "
        f"{result.bytes_freed} bytes (raw-data retention: {result.raw_retention})"
    )
    return EXIT_OK


def _date(text: str) -> object:
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _add_demo(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="a simulated heat pump plus the daemon, with state in DIR",
        description="Start a simulated heat pump (one simulated minute per second) and the "
        "daemon polling it every 10 s, with configuration and state in DIR. Ctrl-C stops.",
    )
    parser.add_argument("dir", nargs="?", default="luxlogd-demo", metavar="DIR",
                        help="where to keep state (default ./luxlogd-demo)")  # fmt: skip
    parser.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    import datetime as dt

    from luxlogd.service import Service
    from luxlogd.simulator import Simulator

    directory = Path(args.dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    simulator = Simulator("127.0.0.1", 0, speed=60.0, seed=1).start()
    config_path = directory / "luxlogd.toml"
    config_path.write_text(
        "# Written by `luxlogd demo`: the simulated heat pump of this run.\n"
        f'[heatpump]\nhost = "127.0.0.1"\nport = {simulator.port}\ntimeout_s = 5\n'
        "retries = 1\nbackoff_s = 1\n[poll]\ninterval_s = 10\n"
        f'[storage]\nstate_dir = "{directory / "state"}"\n'
        f'[reports]\noutput_dirs = ["{directory / "reports"}"]\n'
        '[web]\nenabled = true\nlisten = "127.0.0.1:8088"\n'
    )
    config = load_config(config_path, log_level=args.log_level)
    today = dt.datetime.now().astimezone().date().isoformat()
    # The way this demo was started, so the printed commands work as typed (.venv/bin/...).
    started_as = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("luxlogd")
    command = str(started_as) if started_as.name == "luxlogd" else f"{sys.executable} -m luxlogd"
    print(
        f"luxlogd demo: simulated heat pump on 127.0.0.1:{simulator.port} (a simulated minute "
        f"per second), polled every 10 s.\n"
        f"Web page, API and metrics: http://{config.web.listen}/ (web.listen; "
        f"LUXLOGD_WEB_LISTEN overrides it)\n"
        f"State and configuration in {directory}. In another terminal:\n"
        f"  {command} --config {config_path} status\n"
        f"  {command} --config {config_path} export --from {today} --to {today} "
        f"--sensors 'ID_WEB_Temperatur_*'\n"
        f"  {command} --config {config_path} dump\n"
        "Ctrl-C stops.",
        flush=True,
    )
    service = Service(config, config_path=str(config_path))
    service.install_signal_handlers()
    try:
        return service.run()
    finally:
        simulator.stop()


def _json_value(value: object) -> str:
    """JSON for what luxtronik decodes besides numbers and strings (timestamps)."""
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if isoformat is not None else str(value)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_run,
    _add_status,
    _add_rollup,
    _add_cleanup,
    _add_check_config,
    _add_demo,
    _add_dump,
    _add_export,
    _add_simulate,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="luxlogd",
        description="Record a Luxtronik 2.x heat pump controller, safely, for years.",
        epilog="Config lookup: --config, $LUXLOGD_CONFIG, /etc/luxlogd/luxlogd.toml, defaults. "
        "Every key can be overridden as LUXLOGD_<SECTION>_<KEY>.",
    )
    parser.add_argument("--version", action="version", version=f"luxlogd {__version__}")
    parser.add_argument("--config", metavar="PATH", help="configuration file (TOML)")
    parser.add_argument(
        "--log-level",
        metavar="LEVEL",
        choices=LOG_LEVELS,
        type=str.lower,
        help="one of " + ", ".join(LOG_LEVELS) + " (overrides log.level)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(commands)
    return parser


# Exit codes of the expected failures, by class; the most specific class in an error's MRO
# wins. Anything not listed here is a bug and keeps its traceback.
EXIT_CODES: dict[type[BaseException], int] = {
    ConfigError: EXIT_CONFIG,
    StateDirError: EXIT_CONFIG,  # systemd must not restart into a directory it cannot use
    UsageError: EXIT_USAGE,
    SensorPatternError: EXIT_USAGE,
    HeatPumpError: EXIT_UNAVAILABLE,
    LuxlogdError: EXIT_FAILURE,
    OSError: EXIT_FAILURE,
}


def exit_code_of(error: BaseException) -> int | None:
    """The exit code of an expected failure, or None for a bug."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return None


def _error(text: str) -> None:
    """One line naming what is wrong; under journald tagged <3> (err) so it is not info."""
    from luxlogd.logs import stream_is_journal

    prefix = "<3>" if stream_is_journal(sys.stderr) else ""
    print(f"{prefix}luxlogd: error: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    setup = configure_logging(args.log_level or "info")
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        code = exit_code_of(error)
        if code is None:
            raise
        problems = error.problems if isinstance(error, ConfigError) else [str(error)]
        for problem in problems:
            _error(problem)
        return code
    finally:
        setup.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

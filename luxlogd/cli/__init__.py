"""Command line: argparse subcommands; the only place that prints and picks exit codes.

`main()` builds the parser from the command modules (daemon, data, heatpump), runs the
handler, and turns an expected failure into one line and the exit code of EXIT_CODES.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Sequence

from luxlogd import __version__
from luxlogd.base.errors import (
    ConfigError,
    HeatPumpError,
    LuxlogdError,
    SensorPatternError,
    StateDirError,
    UsageError,
)
from luxlogd.config import LOG_LEVELS, Config, load_config
from luxlogd.health.logs import configure_logging

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69  # sysexits.h EX_UNAVAILABLE: the heat pump cannot be read
EXIT_CONFIG = 78  # sysexits.h EX_CONFIG; luxlogd.service has RestartPreventExitStatus=78

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

logger = logging.getLogger("luxlogd")


def load_args_config(args: argparse.Namespace, path: str | None = None) -> Config:
    """Load the configuration the arguments name, apply its log level, report its warnings."""
    config = load_config(path if path is not None else args.config, log_level=args.log_level)
    logging.getLogger().setLevel(config.log.level.upper())
    for warning in config.warnings:
        logger.warning("%s", warning)
    return config


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def count(text: str) -> int:
    if not text.isdigit() or int(text) > 100:
        raise argparse.ArgumentTypeError(f"expected a whole number 0-100, got {text!r}")
    return int(text)


def date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def json_value(value: object) -> str:
    """JSON for what luxtronik decodes besides numbers and strings (timestamps)."""
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if isoformat is not None else str(value)


def terminal_progress(text: str) -> None:
    """A line on stderr saying what a command waits for, only at a terminal."""
    if sys.stderr.isatty():
        sys.stderr.write(f"luxlogd: {text}\n")
        sys.stderr.flush()


def build_parser() -> argparse.ArgumentParser:
    from luxlogd.cli import daemon, data, heatpump

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
    for module in (daemon, data, heatpump):
        module.add_commands(commands)
    return parser


def exit_code_of(error: BaseException) -> int | None:
    """The exit code of an expected failure, or None for a bug."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return None


def _error(text: str) -> None:
    """One line naming what is wrong; under journald tagged <3> (err) so it is not info."""
    from luxlogd.health.logs import stream_is_journal

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

"""Command line: argparse subcommands; the only place that prints and picks exit codes.

`main()` builds the parser from the command modules (daemon, data, heatpump), runs the
handler, and turns an expected failure into one line and its exit code (base.errors.EXIT_CODES).
Each command imports what it uses when it runs (the only function-level imports left), so
`luxlogd --version` or `check-config` on a Raspberry Pi does not load the web server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from luxlogd import __version__
from luxlogd.base.errors import ConfigError, exit_code_of
from luxlogd.cli import daemon, data, heatpump
from luxlogd.config import LOG_LEVELS
from luxlogd.health.logs import configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="luxlogd",
        description="Record a Luxtronik 2.x heat pump controller, safely, for years.",
        epilog="Config lookup: --config, $LUXLOGD_CONFIG, /etc/luxlogd/luxlogd.toml (with "
        "--instance NAME: /etc/luxlogd/NAME.toml), defaults. Every key can be overridden as "
        "LUXLOGD_<SECTION>_<KEY>.",
    )
    parser.add_argument("--version", action="version", version=f"luxlogd {__version__}")
    parser.add_argument("--config", metavar="PATH", help="configuration file (TOML)")
    parser.add_argument(
        "--instance",
        metavar="NAME",
        help="one of several heat pumps on this host (luxlogd@NAME.service): its "
        "configuration /etc/luxlogd/NAME.toml, state /var/lib/luxlogd/NAME, MQTT name NAME "
        "(default: $LUXLOGD_INSTANCE)",
    )
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

"""Commands on the recorded data: export, rollup, cleanup, stats."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from luxlogd.cli import EXIT_OK, date, load_args_config
from luxlogd.config import HEADER_STYLES
from luxlogd.errors import UsageError

logger = logging.getLogger("luxlogd")


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="export stored polls of a time range as CSV, JSON or DTA",
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
        help="catalogue keys (flow, outdoor, ...), well-known, field names, * globs or groups "
        "(default: reports.sensors)",
    )  # fmt: skip
    parser.add_argument("--headers", choices=HEADER_STYLES,
                        help="column names (default: reports.headers)")  # fmt: skip
    parser.add_argument("--output", metavar="FILE", help="write here (default: stdout)")
    parser.set_defaults(handler=cmd_export)

    parser = commands.add_parser(
        "rollup",
        help="write the daily and weekly reports and the summary",
        description="Write YYYY-MM-DD_daily, _weekly and _summary reports for the period "
        "that ends at reports.time of DATE (default: the latest roll-up time that has passed) "
        "into every reports.output_dirs directory. Idempotent; finishes an interrupted roll-up "
        "first; exit 0 with a warning when there is no data. --now writes on-demand reports "
        "for the periods ending now, named YYYY-MM-DD_now_daily (never over the scheduled "
        "ones).",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--date", metavar="YYYY-MM-DD", type=date, help="the roll-up date")
    which.add_argument(
        "--now", action="store_true", help="on-demand reports for the periods ending now"
    )
    parser.set_defaults(handler=cmd_rollup)

    parser = commands.add_parser(
        "cleanup",
        help="apply retention to reports and raw data",
        description="Delete reports older than reports.retention_days (judged by the date in "
        "their name; only files named exactly like luxlogd's reports) and raw data older than "
        "storage.retention_days (left to the daemon while it runs: it applies it itself). "
        "Prints the files deleted and the bytes freed.",
    )
    parser.set_defaults(handler=cmd_cleanup)


def cmd_export(args: argparse.Namespace) -> int:
    from luxlogd import export, sensors
    from luxlogd.files import atomic_file
    from luxlogd.reader import Reader

    config = load_args_config(args)
    start = export.to_ms(export.parse_time(args.start))
    end = export.to_ms(export.parse_time(args.end, end_of_day=True))
    if end <= start:
        raise UsageError(f"--to {args.end} is not after --from {args.start}")
    if args.format == "dta" and not args.output:
        raise UsageError("--format dta writes a binary file: give --output FILE")
    patterns = args.sensors.split(",") if args.sensors else list(config.reports.sensors)
    style = args.headers or config.reports.headers
    with Reader(config.state_dir) as reader:
        chosen = sensors.resolve_sensors(patterns, reader.latest_lengths())
        names = [f.header(style, config.ui.language) for f in chosen]
        progress = export.TerminalProgress(start, end)
        rows = export.decoded_rows(reader, chosen, start, end)
        if args.format == "dta":
            from luxlogd.dta import write_dta

            with atomic_file(Path(args.output), "wb") as handle:
                count = write_dta(handle, chosen, names, rows)
        elif args.output:
            with atomic_file(Path(args.output)) as handle:
                count = export.write_export(rows, names, handle, args.format, progress)
        else:
            count = export.write_export(rows, names, sys.stdout, args.format, progress)
        progress.done()
    if count == 0:
        logger.warning("no polls stored between %s and %s", args.start, args.end)
    else:
        logger.info("exported polls=%d sensors=%d", count, len(names))
    return EXIT_OK


def cmd_rollup(args: argparse.Namespace) -> int:
    from luxlogd import reports

    reports.rollup(load_args_config(args), args.date, on_demand=args.now)
    return EXIT_OK


def cmd_cleanup(args: argparse.Namespace) -> int:
    from luxlogd.housekeeping import cleanup

    result = cleanup(load_args_config(args))
    print(
        f"deleted {result.files} report files and {result.polls_removed} old polls, freed "
        f"{result.bytes_freed} bytes (raw-data retention: {result.raw_retention})"
    )
    return EXIT_OK

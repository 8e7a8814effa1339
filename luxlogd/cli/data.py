"""Commands on the recorded data: export, rollup, cleanup, stats."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from luxlogd.base.errors import EXIT_OK, UsageError
from luxlogd.base.times import to_ms
from luxlogd.cli.common import Commands, date, load_args_config
from luxlogd.config import HEADER_STYLES

logger = logging.getLogger("luxlogd")


def add_commands(commands: Commands) -> None:
    parser = commands.add_parser(
        "export",
        help="export stored polls of a time range as CSV, JSON or DTA",
        description="Export the stored polls of [--from, --to) with decoded values, one row "
        "per poll in time order (polls with the same time stamp, after a clock stepped back, "
        "in the order stored). T is an ISO 8601 date or date-time, local time unless it has "
        "an offset; a date as --to means the end of that day. Polls still only in the "
        "write-ahead log are included.",
    )
    parser.add_argument("--from", dest="start", required=True, metavar="T", help="start")
    parser.add_argument("--to", dest="end", required=True, metavar="T", help="end (exclusive)")
    parser.add_argument(
        "--format",
        choices=("csv", "json", "dta"),
        default="csv",
        help="csv, json, or dta (Stata; needs --output and the extra luxlogd[dta])",
    )
    parser.add_argument(
        "--sensors",
        metavar="P,...",
        help="catalogue keys (flow, outdoor, ...), well-known, field names, * globs or groups "
        "(default: reports.sensors)",
    )
    parser.add_argument(
        "--headers", choices=HEADER_STYLES, help="column names (default: reports.headers)"
    )
    parser.add_argument("--output", metavar="FILE", help="write here (default: stdout)")
    parser.add_argument(
        "--clock-suspect",
        action="store_true",
        help="instead: the polls kept apart because a wrong system clock stamped them (their "
        "stamps as read; luxlogd doctor tells when the clock was wrong)",
    )
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

    parser = commands.add_parser(
        "stats",
        help="heat, electric energy, COP, starts and temperatures of a month or season",
        description="Statistics per local calendar day (a month, a range) or per month (a "
        "heating season, from stats.season_start), and their total: heat produced, electric "
        "energy used, COP (the seasonal performance factor for a season), compressor starts, "
        "hours and average run, defrosts, hot-water cycles, outdoor min/mean/max. Counter "
        "glitches are ignored and listed as notes. Beside them, HeatpumpMonitor-style "
        "figures by mode (space heating, hot water, cooling: heat, electricity, COP, hours, "
        "temperatures while running, %% of Carnot), heat-weighted flow temperature, cycling, "
        "defrost, backup heater, data quality, and a few observations in plain words. "
        "Default: this month, today so far.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--month", metavar="YYYY-MM", help="one month, per day")
    which.add_argument(
        "--season",
        metavar="YYYY",
        type=int,
        help="the heating season that begins in YYYY, per month",
    )
    which.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        type=date,
        help="from this day on, per day (with --to)",
    )
    parser.add_argument(
        "--to", dest="end", metavar="DATE", type=date, help="up to and including this day"
    )
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument(
        "--heatpumpmonitor",
        action="store_true",
        help="CSV of daily rows under HeatpumpMonitor.org's column names (combined_cop, "
        "space_cop, weighted_flowT, ...), a season too, to compare with its public dataset",
    )
    parser.set_defaults(handler=cmd_stats)


def cmd_export(args: argparse.Namespace) -> int:
    from luxlogd.base.files import atomic_file
    from luxlogd.heatpump import sensors
    from luxlogd.reports import export
    from luxlogd.store.reader import Reader

    config = load_args_config(args)
    start = to_ms(export.parse_time(args.start))
    end = to_ms(export.parse_time(args.end, end_of_day=True))
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
        rows = export.decoded_rows(reader, chosen, start, end, suspect=args.clock_suspect)
        if args.format == "dta":
            from luxlogd.reports.dta import write_dta

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
    from luxlogd.reports import rollup

    rollup.rollup(load_args_config(args), args.date, on_demand=args.now)
    return EXIT_OK


def cmd_cleanup(args: argparse.Namespace) -> int:
    from luxlogd.reports.cleanup import cleanup

    result = cleanup(load_args_config(args))
    skipped = f", skipped {result.skipped} that could not be deleted" if result.skipped else ""
    print(
        f"deleted {result.files} report files{skipped} and {result.polls_removed} old polls, "
        f"freed {result.bytes_freed} bytes (raw-data retention: {result.raw_retention})"
    )
    return EXIT_OK


STATS_COLUMNS = [  # (row key, table header)
    ("date", "period"),
    ("polls", "polls"),
    ("outdoor_min_c", "out min"),
    ("outdoor_mean_c", "out mean"),
    ("outdoor_max_c", "out max"),
    ("heat_total_kwh", "heat kWh"),
    ("electric_kwh", "elec kWh"),
    ("cop", "COP"),
    ("compressor_starts", "starts"),
    ("compressor_hours", "hours"),
    ("average_run_min", "run min"),
    ("defrosts", "defrosts"),
    ("hot_water_cycles", "hot water"),
]


def cmd_stats(args: argparse.Namespace) -> int:
    import csv
    import datetime as dt
    import json
    import time

    from luxlogd.base import words
    from luxlogd.cli.common import terminal_progress
    from luxlogd.reports import stats
    from luxlogd.store.reader import Reader

    config = load_args_config(args)
    today = dt.datetime.now(dt.UTC).astimezone().date()
    by = "day"
    if args.season is not None:
        first, end = stats.season_range(args.season, config.stats.season_start)
        by = "month"
    elif args.start is not None:
        if args.end is None or args.end < args.start:
            raise UsageError("--from needs --to, a day on or after it")
        first, end = args.start, args.end + dt.timedelta(days=1)
    elif args.end is not None:
        raise UsageError("--to goes with --from")
    else:
        try:
            first, end = stats.month_range(args.month or today.strftime("%Y-%m"))
        except ValueError:
            raise UsageError(f"--month: expected YYYY-MM, got {args.month!r}") from None
    shown = [0]

    def progress(done: int, total: int) -> None:
        if total > 31 and done - shown[0] >= 30:
            shown[0] = done
            terminal_progress(words.tr("stats: day {done} of {total}", done=done, total=total))

    interval_s = config.poll.interval_s
    if args.heatpumpmonitor:
        by = "day"  # HeatpumpMonitor's rows are days, a season's too
    with Reader(config.state_dir) as reader:
        rows, total = stats.calendar_figures(
            reader,
            first,
            end,
            by,
            int(time.time() * 1000),
            progress,
            interval_s,
            workers=stats_workers(),
        )
    total.label = "total" if by == "day" else "season"
    if args.heatpumpmonitor:
        from luxlogd.reports import heatpumpmonitor

        writer = csv.DictWriter(sys.stdout, heatpumpmonitor.COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            theirs = heatpumpmonitor.row(row.row(), row.start_ms, row.polls, interval_s)
            writer.writerow({k: "" if v is None else v for k, v in theirs.items()})
        return EXIT_OK
    records = [row.row() | {"partial": row.partial} for row in [*rows, total]]
    if args.format == "json":
        document = {
            "rows": records[:-1],
            "total": records[-1],
            "observations": total.observations(),
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    elif args.format == "csv":
        writer = csv.DictWriter(sys.stdout, [*stats.ROW_COLUMNS, "partial"], lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: "" if v is None else v for k, v in record.items()})
    else:
        sys.stdout.write(_table(records, first, end, by))
        sys.stdout.write(_by_mode(records[-1], total.observations(words.language())))
    return EXIT_OK


def stats_workers() -> int:
    """Processes for a long period's days: the cores, at most four (a Raspberry Pi's)."""
    import os

    return max(1, min(len(os.sched_getaffinity(0)), 4))


MODE_NAMES = {
    "combined": "all modes",
    "space": "space heating",
    "water": "hot water",
    "cooling": "cooling",
}


def _by_mode(total: dict[str, object], observations: list[str]) -> str:
    """The total's figures by mode, and the observations."""
    from luxlogd.base.words import tr
    from luxlogd.reports.performance import SHORT_RUN_MIN

    lines = ["", tr("by mode (temperatures: means while the compressor ran in that mode)")]
    for mode in ("combined", "space", "water", "cooling"):
        if not total.get(f"{mode}_hours") and not total.get(f"{mode}_elec_kwh"):
            continue
        text = tr(
            "heat {heat} kWh, electricity {electric} kWh, COP {cop}, {hours} h, flow {flow} °C, "
            "outdoor {outdoor} °C, {carnot} % of Carnot",
            **_cells(
                total,
                heat=f"{mode}_heat_kwh",
                electric=f"{mode}_elec_kwh",
                cop=f"{mode}_cop",
                hours=f"{mode}_hours",
                flow=f"{mode}_flow_mean_c",
                outdoor=f"{mode}_outdoor_mean_c",
                carnot=f"{mode}_prc_carnot",
            ),
        )
        lines.append(f"  {tr(MODE_NAMES[mode]) + ':':<15} {text}")
    cycling = _cells(
        total,
        starts="combined_starts",
        per_hour="starts_per_running_hour",
        runs="runs",
        median="run_minutes_median",
        longest="longest_run_minutes",
        short="short_cycles",
    )
    defrost = _cells(
        total,
        minutes="defrost_minutes",
        share="defrost_share_percent",
        hours="backup_heater_hours",
        quality="data_quality_percent",
    )
    lines += [
        "  "
        + tr(
            "cycling: {starts} starts, {per_hour} per running hour; {runs} runs ended, median "
            "{median} min, longest {longest} min, {short} under {limit} min",
            **cycling,
            limit=_cell(SHORT_RUN_MIN),
        ),
        "  "
        + tr(
            "defrost: {minutes} min ({share} % of running time); backup heater {hours} h; data "
            "quality {quality} %",
            **defrost,
        ),
    ]
    if observations:
        lines += ["", tr("observations:")] + [f"  - {line}" for line in observations]
    return "\n".join(lines) + "\n"


def _cells(total: dict[str, object], **keys: str) -> dict[str, str]:
    """The total's figures of `keys` (a placeholder -> a figure's name) as table cells."""
    return {name: _cell(total.get(key)) for name, key in keys.items()}


def _period(value: object) -> str:
    """A row's period as people read it: a day, a month (German 30.11.2026, 11.2026), the total."""
    import datetime as dt

    from luxlogd.base.times import date_text
    from luxlogd.base.words import german, tr

    text = str(value)
    if len(text) == 10 and text[4] == "-":
        return date_text(dt.date.fromisoformat(text))
    if len(text) == 7 and text[4] == "-":
        return f"{text[5:]}.{text[:4]}" if german() else text
    return tr(text) if text in ("total", "season") else text


def _table(records: list[dict[str, object]], first: object, end: object, by: str) -> str:
    import datetime as dt

    from luxlogd.base.times import date_text
    from luxlogd.base.words import language, tr
    from luxlogd.heatpump.counters import note_text

    assert isinstance(end, dt.date) and isinstance(first, dt.date)
    title = tr(
        "luxlogd stats {start} to {end}, per {by}",
        start=date_text(first),
        end=date_text(end - dt.timedelta(days=1)),
        by=tr(by),
    )
    cells = [[tr(header) for _, header in STATS_COLUMNS]]
    for record in records:
        cells.append(
            [
                (_period(record.get(key)) if key == "date" else _cell(record.get(key)))
                + ("*" if key == "date" and record["partial"] else "")
                for key, _ in STATS_COLUMNS
            ]
        )
    widths = [max(len(row[i]) for row in cells) for i in range(len(STATS_COLUMNS))]
    lines = [title, ""]
    for position, row in enumerate(cells):
        pairs = enumerate(zip(row, widths, strict=True))
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs))
        if position in (0, len(cells) - 2):
            lines.append("  ".join("-" * w for w in widths))
    notes = [note_text(n, language()) for n in str(records[-1].get("notes") or "").split("; ") if n]
    lines.append("")
    partial = (
        tr("* so far (the period has not ended). ") if any(r["partial"] for r in records) else ""
    )
    lines.append(
        partial
        + tr(
            "COP: heat produced / electric energy used (a season's: the seasonal performance "
            "factor)."
        )
    )
    lines += [tr("data quality: {note}", note=note) for note in notes]
    return "\n".join(lines) + "\n"


def _cell(value: object) -> str:
    from luxlogd.base.words import german, number

    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return number(value, 1)
        text = f"{value:.2f}".rstrip("0").rstrip(".")
        return text.replace(".", ",") if german() else text
    return number(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)

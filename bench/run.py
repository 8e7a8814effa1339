"""Run every benchmark in bench/ and print one table of figures, goals and ratios.

Usage: python bench/run.py [--quick] [NAME ...]   (NAME: a bench_<NAME>.py module)

Each bench module has `run(quick: bool) -> list[Figure]`. Compare side by side in one run
(ratios): this machine is shared and noisy, absolute times move between runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Figure  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    names = args.names or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    figures: list[Figure] = []
    for name in names:
        module = importlib.import_module(f"bench_{name}")
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        figures.extend(module.run(args.quick))
        print(f"  {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(f"run: {'quick (smaller inputs, a smoke run)' if args.quick else 'full'}")
    print(format_table(figures))
    failed = [f for f in figures if f.meets_goal is False]
    return 1 if failed else 0


def format_table(figures: list[Figure]) -> str:
    rows = [("benchmark", "figure", "goal", "ok")]
    for figure in figures:
        ok = {True: "yes", False: "NO", None: ""}[figure.meets_goal]
        rows.append((figure.name, figure.text(), figure.goal_text(), ok))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


if __name__ == "__main__":
    sys.exit(main())

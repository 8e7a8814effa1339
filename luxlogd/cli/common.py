"""What the commands share: loading the configuration the arguments name, argument types,
the commands' logger and their progress lines at a terminal."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from typing import TypeAlias

from luxlogd.base import words
from luxlogd.config import Config, load_config

# What each command module's add_commands() adds its parsers to.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

logger = logging.getLogger("luxlogd")


def load_args_config(args: argparse.Namespace, path: str | None = None) -> Config:
    """Load the configuration the arguments name, apply its log level, report its warnings."""
    config = load_config(
        path if path is not None else args.config,
        log_level=args.log_level,
        instance=getattr(args, "instance", None),
    )
    level = logging.getLevelName(config.log.level.upper())
    daemon = getattr(args, "command", "") in ("run", "demo")
    if not daemon and "log.level" not in config.given and not os.environ.get("JOURNAL_STREAM"):
        # A command at a terminal prints its result; INFO lines are for the journal (the
        # daemon, the timers' jobs) or when log.level / --log-level asks for them.
        level = max(level, logging.WARNING)
    logging.getLogger().setLevel(level)
    if not daemon:  # what a command prints follows ui.language; the daemon's journal is English
        words.use(config.ui.language)
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


def terminal_progress(text: str) -> None:
    """A line on stderr saying what a command waits for, only at a terminal."""
    if sys.stderr.isatty():
        sys.stderr.write(f"luxlogd: {text}\n")
        sys.stderr.flush()

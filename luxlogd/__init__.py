"""luxlogd: a crash-safe logger for Luxtronik 2.x heat pump controllers."""

__version__ = "0.1.0"

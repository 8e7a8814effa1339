"""The expected failures of luxlogd: one base class, one subclass per kind of trouble.

Library code raises these with a sentence for the user; only `cli.py` turns them into an
exit code (its EXIT_CODES map) and a one-line message. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class LuxlogdError(Exception):
    """An expected failure; str() is one line (or several, one per problem) for the user."""


class UsageError(LuxlogdError):
    """Bad arguments that argparse could not catch by itself."""


class ConfigError(LuxlogdError):
    """One or more configuration problems; str() gives one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class SensorPatternError(LuxlogdError, ValueError):
    """A sensor name or pattern that matches no field (or names a secret)."""


class TimeRangeError(UsageError, ValueError):
    """A time that does not parse, or lies outside what luxlogd can store (1970-9999)."""


class HeatPumpError(LuxlogdError):
    """The heat pump could not be read; the message names host, phase and every attempt."""

    def __init__(
        self, message: str, attempts: list[str] | None = None, *, final: bool = False
    ) -> None:
        super().__init__(message)
        self.attempts = attempts or [message]
        self.final = final  # refused or unknown name: retrying cannot help


class StorageError(LuxlogdError):
    """The database cannot be opened, read or written."""


class StateDirError(StorageError):
    """The state directory cannot be used by configuration (missing rights, not a directory):
    a person must change something, so systemd must not restart into it."""


class StorageFaultError(StorageError):
    """The state directory's storage is failing (a read-only or full file system, EIO): it
    may recover by itself, so the daemon keeps polling and retries."""


# errno values that mean "configured wrongly"; any other OSError on the state directory is a
# fault of the storage (EROFS, EIO, ENOSPC, EDQUOT ...) that may pass.
CONFIG_ERRNOS = frozenset((1, 2, 13, 20, 21, 36, 40))  # EPERM ENOENT EACCES ENOTDIR EISDIR
# ENAMETOOLONG ELOOP


def state_dir_error(message: str, error: OSError) -> StorageError:
    """StateDirError for a configuration problem, StorageFaultError for a failing disk."""
    kind = StateDirError if error.errno in CONFIG_ERRNOS else StorageFaultError
    return kind(message)


class LockedError(LuxlogdError):
    """Another process holds the lock of what this one wants to write."""


class RollupError(LuxlogdError):
    """A roll-up that failed twice."""


class PeriodNotOverError(UsageError):
    """A roll-up asked for a period that has not ended yet."""

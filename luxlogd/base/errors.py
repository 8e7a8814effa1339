"""The expected failures of luxlogd: one base class, one subclass per kind of trouble.

Library code raises these with a sentence for the user; only the command line turns them
into an exit code (EXIT_CODES, at the end) and a one-line message. Anything else is a bug
and keeps its traceback.
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


def exit_code_of(error: BaseException) -> int | None:
    """The exit code of an expected failure, or None for a bug."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return None

"""Every file luxlogd keeps in its state directory (/var/lib/luxlogd), by name, in one place.

luxlogd.sqlite           the store: sealed days and the hot day (SQLite, WAL mode)
wal/                     the write-ahead log: numbered segments, each with a .base copy
luxlogd.lock             held by the one writer (its PID inside)
losses.jsonl             the ledger of losses: every damage, rebuild or drop, counted
database-rebuilt.json    the note of the last rebuild of a damaged database
events.jsonl             the daemon's diary: started, stopped, unreachable, clock jumps
status.json, heartbeat   the daemon's status and liveness (in /run/luxlogd under systemd)
reports.lock             held by whoever writes reports
reports-written.jsonl    the ledger of reports luxlogd wrote (only these are ever shed)
rollup-progress.json     a roll-up under way; rollup-last.json, rollup-failed.json after
crash.txt                a fatal signal's traceback (in the runtime directory or /dev/shm)
"""

DATABASE_NAME = "luxlogd.sqlite"
WAL_DIRECTORY = "wal"
STORE_LOCK = "luxlogd.lock"
LOSSES_FILE = "losses.jsonl"
REBUILT_FILE = "database-rebuilt.json"
EVENTS_FILE = "events.jsonl"
STATUS_FILE = "status.json"
HEARTBEAT_FILE = "heartbeat"
REPORTS_LOCK = "reports.lock"
LEDGER_FILE = "reports-written.jsonl"
PROGRESS_FILE = "rollup-progress.json"
LAST_ROLLUP_FILE = "rollup-last.json"
FAILED_ROLLUP_FILE = "rollup-failed.json"
CRASH_FILE = "crash.txt"

"""A storage writer for crash tests: appends deterministic polls, prints "ack SEQ" once durable.

Run as: python -m tests.crash_writer STATE_DIR [MAX_POLLS]
Poll content is a function of its sequence number (poll_for), so the test can check every
value of what survived. Polls are 15 minutes apart, so days are sealed inside the crash loops,
and segments are small, so they rotate and are removed there too.
"""

import functools
import random
import sys

from luxlogd.heatpump.poll import Poll
from luxlogd.store.writer import Storage

BASE_MS = 1_700_000_000_000
STEP_MS = 15 * 60 * 1000
LENGTHS = (1143, 267, 366)


@functools.lru_cache(maxsize=64)
def base_state(block):
    """The "base state" shared by 50 polls in a row (made once: the tests check every value
    of hundreds of polls, and drawing 1,776 random numbers a poll was most of their time)."""
    rnd = random.Random(block)
    parameters = tuple(rnd.randrange(-5, 300) for _ in range(LENGTHS[0]))
    calculations = tuple(rnd.randrange(-500, 900) for _ in range(LENGTHS[1]))
    visibilities = tuple(rnd.randrange(0, 2) for _ in range(LENGTHS[2]))
    return parameters, calculations, visibilities


def poll_for(seq, block=None):
    """Poll `seq`: its base state changes every 50 polls (every value anew), unless `block`
    fixes it (then only the 27 values below change, as in real polls)."""
    base = base_state(seq // 50 if block is None else block)
    parameters, calculations, visibilities = list(base[0]), list(base[1]), base[2]
    parameters[0] = seq  # every poll says which one it is
    calculations[10] = 300 + seq % 97
    calculations[134] = (BASE_MS + seq * STEP_MS) // 1000
    changes = random.Random(seq)
    for _ in range(25):
        calculations[changes.randrange(LENGTHS[1])] = changes.randrange(-1000, 1000)
    return Poll(
        BASE_MS + seq * STEP_MS,
        seq % 3 == 0,
        tuple(parameters),
        tuple(calculations),
        tuple(visibilities),
    )


def main():
    state_dir = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 10**9
    storage = Storage(state_dir, segment_bytes=16 * 1024, commit_every=3).open()
    print(f"ready {storage.wal.last_seq}", flush=True)
    for _ in range(limit):
        seq = storage.append(poll_for(storage.wal.last_seq + 1))
        print(f"ack {seq}", flush=True)
    storage.close()


if __name__ == "__main__":
    main()

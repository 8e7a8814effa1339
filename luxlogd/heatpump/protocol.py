"""The Luxtronik 2.x binary protocol on TCP 8889: command numbers and answer framing.

Everything is big-endian int32, except the values of the 3005 answer (one signed byte each):
    3003 parameters   -> 3003, n, n x int32
    3004 calculations -> 3004, status, n, n x int32
    3005 visibilities -> 3005, n, n x int8
    3002 write (3002, index, value) -> 3002, index
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

WRITE_PARAMETER = 3002
READ_PARAMETERS = 3003
READ_CALCULATIONS = 3004
READ_VISIBILITIES = 3005
READ_COMMANDS = (READ_PARAMETERS, READ_CALCULATIONS, READ_VISIBILITIES)
GROUPS = ("parameters", "calculations", "visibilities")  # the arrays they answer, in order

# No controller has more than ~1,200 values per array; a larger count is a broken answer.
MAX_VALUES = 10_000


def encode_request(command: int) -> bytes:
    """Return the 8 bytes that ask for one array."""
    return struct.pack(">ii", command, 0)


def encode_answer(command: int, values: Sequence[int], status: int = 0) -> bytes:
    """Return the controller's answer to a read command, byte for byte."""
    count = len(values)
    if command == READ_PARAMETERS:
        return struct.pack(f">ii{count}i", command, count, *values)
    if command == READ_CALCULATIONS:
        return struct.pack(f">iii{count}i", command, status, count, *values)
    if command == READ_VISIBILITIES:
        return struct.pack(f">ii{count}b", command, count, *values)
    raise ValueError(f"not a read command: {command}")


def header_size(command: int) -> int:
    """Bytes before the values: echo + count, plus the status word for 3004."""
    return 12 if command == READ_CALCULATIONS else 8


def value_size(command: int) -> int:
    return 1 if command == READ_VISIBILITIES else 4


def decode_values(command: int, payload: bytes) -> tuple[int, ...]:
    """Unpack the values of an answer (the bytes after the header)."""
    size = value_size(command)
    count = len(payload) // size
    return struct.unpack(f">{count}{'b' if size == 1 else 'i'}", payload[: count * size])

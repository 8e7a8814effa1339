"""Read a Luxtronik 2.x controller: one connection per read, deadlines, exact reads, retries.

Our own socket code (luxtronik 0.3.14 has no timeouts and shifts indices on short reads); the
library is used only for its field tables, through luxlogd.fields. `read()` returns a complete,
validated Snapshot or raises HeatPumpError.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from luxlogd import fields
from luxlogd.protocol import (
    MAX_VALUES,
    READ_CALCULATIONS,
    READ_PARAMETERS,
    READ_VISIBILITIES,
    encode_request,
    header_size,
    value_size,
)

logger = logging.getLogger(__name__)

PHASES = {
    READ_PARAMETERS: "parameters (3003)",
    READ_CALCULATIONS: "calculations (3004)",
    READ_VISIBILITIES: "visibilities (3005)",
}


class HeatPumpError(Exception):
    """The heat pump could not be read; the message names host, phase and every attempt."""

    exit_code = 69  # sysexits.h EX_UNAVAILABLE, what `luxlogd dump` exits with

    def __init__(self, message: str, attempts: list[str] | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts or [message]


class _AttemptError(Exception):
    """One failed attempt: which phase, what happened."""

    def __init__(self, phase: str, reason: str) -> None:
        super().__init__(f"{phase}: {reason}")
        self.phase = phase
        self.reason = reason


@dataclass(frozen=True)
class Snapshot:
    """One complete read: the raw integer arrays exactly as received, and the status word."""

    parameters: tuple[int, ...]
    calculations: tuple[int, ...]
    visibilities: tuple[int, ...]
    calc_status: int = 0
    read_at: float = field(default=0.0, compare=False)  # epoch seconds when the read finished

    def decode(self) -> dict[str, Any]:
        """Return luxtronik field name -> value, as luxtronik 0.3.14 decodes these integers."""
        decoded = fields.decode_array("parameters", self.parameters)
        decoded.update(fields.decode_array("calculations", self.calculations))
        decoded.update(fields.decode_array("visibilities", self.visibilities))
        return decoded

    def raw(self) -> dict[str, Any]:
        """The `dump --format raw` object."""
        return {
            "parameters": list(self.parameters),
            "calculations": list(self.calculations),
            "visibilities": list(self.visibilities),
            "calc_status": self.calc_status,
        }


class HeatPumpClient:
    """A Luxtronik controller at (host, port). No network I/O until `read()`."""

    def __init__(
        self,
        host: str,
        port: int = 8889,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 2.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.clock = clock
        self.sleep = sleep

    def read(self, budget_s: float | None = None) -> Snapshot:
        """Read all three arrays; retry with exponential back-off.

        `budget_s` bounds the whole call, back-off included (the daemon passes the time left
        until the next poll). Raise HeatPumpError with every attempt when all failed.
        """
        started = self.clock()
        give_up_at = None if budget_s is None else started + budget_s
        attempts: list[str] = []
        total = self.retries + 1
        for attempt in range(1, total + 1):
            attempt_started = self.clock()
            try:
                snapshot = self._read_once(give_up_at)
            except _AttemptError as error:
                elapsed = self.clock() - attempt_started
                attempts.append(f"attempt {attempt}: {error} after {elapsed:.2f} s")
                logger.debug(
                    "read failed host=%s port=%d phase=%s attempt=%d/%d elapsed_s=%.2f error=%s",
                    self.host, self.port, error.phase, attempt, total, elapsed, error.reason,
                )  # fmt: skip
                if attempt == total:
                    break
                delay = self.backoff_s * 2 ** (attempt - 1)
                if give_up_at is not None and self.clock() + delay >= give_up_at:
                    attempts.append("no time left for another attempt")
                    break
                self.sleep(delay)
                continue
            if attempt > 1:
                logger.debug("read succeeded host=%s attempt=%d/%d", self.host, attempt, total)
            return snapshot
        elapsed = self.clock() - started
        raise HeatPumpError(
            f"heat pump {self.host}:{self.port} unreachable after {attempt} "
            f"attempt(s) in {elapsed:.1f} s: " + "; ".join(attempts),
            attempts,
        )

    def _read_once(self, give_up_at: float | None) -> Snapshot:
        def deadline() -> float:
            own = self.clock() + self.timeout_s
            return own if give_up_at is None else min(own, give_up_at)

        connect_by = deadline()
        try:
            sock = socket.create_connection(
                (self.host, self.port), timeout=max(0.001, connect_by - self.clock())
            )
        except TimeoutError:
            raise _AttemptError("connect", "timed out") from None
        except OSError as error:
            raise _AttemptError("connect", error.strerror or str(error)) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            parameters, _ = self._read_array(sock, READ_PARAMETERS, deadline())
            calculations, status = self._read_array(sock, READ_CALCULATIONS, deadline())
            visibilities, _ = self._read_array(sock, READ_VISIBILITIES, deadline())
        finally:
            sock.close()
        return Snapshot(parameters, calculations, visibilities, status, time.time())

    def _read_array(
        self, sock: socket.socket, command: int, deadline: float
    ) -> tuple[tuple[int, ...], int]:
        phase = PHASES[command]
        try:
            sock.sendall(encode_request(command))
            header = self._receive(sock, header_size(command), deadline, phase)
            if command == READ_CALCULATIONS:
                echo, status, count = struct.unpack(">iii", header)
            else:
                (echo, count), status = struct.unpack(">ii", header), 0
            if echo != command:
                raise _AttemptError(phase, f"wrong echo {echo} (expected {command})")
            if not 0 <= count <= MAX_VALUES:
                raise _AttemptError(phase, f"implausible length {count} (expected 0-{MAX_VALUES})")
            size = value_size(command)
            payload = self._receive(sock, count * size, deadline, phase)
        except OSError as error:
            raise _AttemptError(phase, error.strerror or str(error)) from None
        code = "b" if size == 1 else "i"
        return struct.unpack(f">{count}{code}", payload), status

    def _receive(self, sock: socket.socket, size: int, deadline: float, phase: str) -> bytes:
        """Exactly `size` bytes before `deadline`, however the controller splits them."""
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise _AttemptError(phase, f"timed out with {received} of {size} bytes")
            sock.settimeout(remaining)
            try:
                got = sock.recv_into(view[received:])
            except TimeoutError:
                raise _AttemptError(phase, f"timed out with {received} of {size} bytes") from None
            if got == 0:
                raise _AttemptError(phase, f"connection closed after {received} of {size} bytes")
            received += got
        return bytes(buffer)

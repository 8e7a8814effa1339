"""Read a Luxtronik 2.x controller: one connection per read, deadlines, exact reads, retries.

Our own socket code (luxtronik 0.3.14 has no timeouts and shifts indices on short reads); the
library is used only for its field tables, through luxlogd.sensors. `read()` returns a complete,
validated Poll (the type storage keeps; `Snapshot` is its older name here) or raises
HeatPumpError.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable
from typing import Any, Protocol

from luxlogd.base.errors import HeatPumpError
from luxlogd.heatpump.poll import Poll
from luxlogd.heatpump.protocol import (
    MAX_VALUES,
    READ_CALCULATIONS,
    READ_PARAMETERS,
    READ_VISIBILITIES,
    encode_request,
    header_size,
    value_size,
)

logger = logging.getLogger("luxlogd.client")  # its name in the journal (README)

PHASES = {
    READ_PARAMETERS: "parameters (3003)",
    READ_CALCULATIONS: "calculations (3004)",
    READ_VISIBILITIES: "visibilities (3005)",
}


class AttemptError(Exception):
    """One failed attempt: which phase (connect, or the array being read), what happened;
    `final` when retrying cannot help."""

    def __init__(self, phase: str, reason: str, final: bool = False) -> None:
        super().__init__(f"{phase}: {reason}")
        self.phase = phase
        self.reason = reason
        self.final = final


__all__ = ["AttemptError", "HeatPumpClient", "HeatPumpError", "Poll", "Snapshot"]

Snapshot = Poll  # the name of the client's result in the library API of earlier versions


class Endpoint(Protocol):
    """Where and how patiently to read: what a [heatpump] configuration section says."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def timeout_s(self) -> float: ...

    @property
    def retries(self) -> int: ...

    @property
    def backoff_s(self) -> float: ...


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
        progress: Callable[[str], Any] | None = None,
        wallclock: Callable[[], float] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.clock = clock
        self.sleep = sleep
        self.progress = progress  # told what a read is waiting for (dump at a terminal)
        # What stamps a poll (looked up at each call, so a patched time.time reaches it).
        self.wallclock = wallclock if wallclock is not None else lambda: time.time()
        self.timings: dict[str, float] = {}  # seconds per phase of the last attempt (doctor)

    def read(self, budget_s: float | None = None) -> Poll:
        """Read all three arrays; retry with exponential back-off.

        `budget_s` bounds the whole call, back-off included. A refused connection or a name
        that does not resolve is a final answer: no retry. Raise HeatPumpError with every
        attempt when all failed.
        """
        started = self.clock()
        give_up_at = None if budget_s is None else started + budget_s
        attempts: list[str] = []
        final = False
        total = self.retries + 1
        for attempt in range(1, total + 1):
            attempt_started = self.clock()
            if self.progress is not None:
                self.progress(
                    f"reading {self.host}:{self.port} (attempt {attempt} of {total}, "
                    f"up to {self.timeout_s:g} s)"
                )
            try:
                snapshot = self._read_once(give_up_at)
            except AttemptError as error:
                elapsed = self.clock() - attempt_started
                attempts.append(f"attempt {attempt}: {error} after {elapsed:.2f} s")
                logger.debug(
                    "read failed host=%s port=%d phase=%s attempt=%d/%d elapsed_s=%.2f error=%s",
                    self.host,
                    self.port,
                    error.phase,
                    attempt,
                    total,
                    elapsed,
                    error.reason,
                )
                final = error.final
                if attempt == total:
                    break
                if final:
                    attempts.append("not retried: that answer is final")
                    break
                delay = self.backoff_s * 2 ** (attempt - 1)
                if give_up_at is not None and self.clock() + delay >= give_up_at:
                    attempts.append("no time left for another attempt")
                    break
                if self.progress is not None:
                    self.progress(f"{error}; trying again in {delay:g} s")
                self.sleep(delay)
                continue
            if attempt > 1:
                logger.debug("read succeeded host=%s attempt=%d/%d", self.host, attempt, total)
            return snapshot
        elapsed = self.clock() - started
        raise HeatPumpError(
            f"heat pump {self.host}:{self.port} unreachable after {attempt} "
            f"attempt(s) in {elapsed:.1f} s: " + "; ".join(attempts),
            [a for a in attempts if a.startswith("attempt ")],
            final=final,
        )

    @classmethod
    def from_config(
        cls, heatpump: Endpoint, wallclock: Callable[[], float] | None = None
    ) -> HeatPumpClient:
        """The client a [heatpump] configuration section describes."""
        h = heatpump
        return cls(h.host, h.port, h.timeout_s, h.retries, h.backoff_s, wallclock=wallclock)

    def read_once(self, budget_s: float | None = None) -> Poll:
        """One attempt, no retry: raise AttemptError saying where and how it failed."""
        return self._read_once(None if budget_s is None else self.clock() + budget_s)

    def _read_once(self, give_up_at: float | None) -> Poll:
        self.timings = {}

        def deadline() -> float:
            own = self.clock() + self.timeout_s
            return own if give_up_at is None else min(own, give_up_at)

        connect_by = deadline()
        began = self.clock()
        try:
            sock = socket.create_connection(
                (self.host, self.port), timeout=max(0.001, connect_by - self.clock())
            )
        except TimeoutError:
            raise AttemptError("connect", "timed out (no answer)") from None
        except socket.gaierror as error:
            raise AttemptError(
                "connect", f"cannot resolve {self.host!r}: {error.strerror}", final=True
            ) from None
        except ConnectionRefusedError:
            raise AttemptError(
                "connect",
                "Connection refused (nothing listens on that port; Luxtronik 2.x "
                "listens on 8889, very old firmware on 8888)",
                final=True,
            ) from None
        except OSError as error:
            raise AttemptError("connect", error.strerror or str(error)) from None
        self.timings["connect"] = self.clock() - began
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            parameters, _ = self._read_array(sock, READ_PARAMETERS, deadline())
            calculations, status = self._read_array(sock, READ_CALCULATIONS, deadline())
            visibilities, _ = self._read_array(sock, READ_VISIBILITIES, deadline())
        finally:
            sock.close()
        return Poll(int(self.wallclock() * 1000), status, parameters, calculations, visibilities)

    def _read_array(
        self, sock: socket.socket, command: int, deadline: float
    ) -> tuple[tuple[int, ...], int]:
        phase = PHASES[command]
        began = self.clock()
        try:
            sock.sendall(encode_request(command))
            header = self._receive(sock, header_size(command), deadline, phase)
            if command == READ_CALCULATIONS:
                echo, status, count = struct.unpack(">iii", header)
            else:
                (echo, count), status = struct.unpack(">ii", header), 0
            if echo != command:
                raise AttemptError(phase, f"wrong echo {echo} (expected {command})")
            if not 0 <= count <= MAX_VALUES:
                raise AttemptError(phase, f"implausible length {count} (expected 0-{MAX_VALUES})")
            size = value_size(command)
            payload = self._receive(sock, count * size, deadline, phase)
        except OSError as error:
            raise AttemptError(phase, error.strerror or str(error)) from None
        code = "b" if size == 1 else "i"
        self.timings[phase.split()[0]] = self.clock() - began
        return struct.unpack(f">{count}{code}", payload), status

    def _receive(self, sock: socket.socket, size: int, deadline: float, phase: str) -> bytes:
        """Exactly `size` bytes before `deadline`, however the controller splits them."""
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise AttemptError(phase, f"timed out with {received} of {size} bytes")
            sock.settimeout(remaining)
            try:
                got = sock.recv_into(view[received:])
            except TimeoutError:
                raise AttemptError(phase, f"timed out with {received} of {size} bytes") from None
            except OSError as error:
                reason = error.strerror or str(error)
                raise AttemptError(phase, f"{reason} after {received} of {size} bytes") from None
            if got == 0:
                raise AttemptError(phase, f"connection closed after {received} of {size} bytes")
            received += got
        return bytes(buffer)

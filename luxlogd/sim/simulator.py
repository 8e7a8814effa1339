"""A simulated Luxtronik 2.x controller on TCP: the real protocol, a thermal model, fault modes.

Used by the tests (one instance per test on 127.0.0.1 port 0, no global state), by
`luxlogd simulate` and by `luxlogd demo`. Faults apply to new connections, for good or for the
next `count` connections only. The server and every fault mode are one state machine per
connection, hence together and a little over 400 lines.
"""

from __future__ import annotations

import logging
import queue
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from luxlogd.heatpump.protocol import (
    READ_CALCULATIONS,
    READ_COMMANDS,
    READ_PARAMETERS,
    READ_VISIBILITIES,
    WRITE_PARAMETER,
    encode_answer,
    header_size,
    value_size,
)
from luxlogd.sim.model import DEFAULT_PROFILE, PROFILES, ThermalModel, base_arrays

logger = logging.getLogger("luxlogd.simulator")  # its name in the journal (README)

FAULTS = {
    "refuse": "nothing listens: connections are refused",
    "stall": "accept and read the request, never answer",
    "stall-mid": "send half of each answer, then nothing",
    "drip": "send each answer one byte every 0.2 s",
    "slow": "answer correctly, but a whole read takes --delay seconds (35 by default)",
    "reset-mid": "send half of each answer, then reset the connection",
    "garbage": "answer with random bytes",
    "wrong-echo": "answer with the wrong command number",
    "absurd-length": "announce 2**30 values",
    "negative-length": "announce -5 values",
    "short": "announce all values, send half, close",
    "busy": "calculations with status word 1 (all values still sent)",
    "flapping": "refuse and accept connections in turns of 2 s",
    "single": "reset a second connection while one is open",
    "chunked": "send answers in random small pieces",
    "bytewise": "send answers one byte per write",
}
DRIP_INTERVAL_S = 0.2
FLAP_PERIOD_S = 2.0
IDLE_TIMEOUT_S = 120.0
SLOW_READ_S = 35.0
REPLAY_FILES = {
    READ_PARAMETERS: "3003.bin",
    READ_CALCULATIONS: "3004.bin",
    READ_VISIBILITIES: "3005.bin",
}


STAMP_INDEX = 266  # the last calculation of V3.88; no catalogue sensor, no model value


class Simulator:
    """A controller on (host, port); `start()` binds (port 0 picks a free one), `stop()` ends."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        profile: str = DEFAULT_PROFILE,
        seed: int = 1,
        speed: float = 1.0,
        fault: str | None = None,
        replay_dir: str | Path | None = None,
        start_s: float | None = None,
        clock: Callable[[], float] = time.time,
        delay_s: float = SLOW_READ_S,
        stamp: bool = False,
        since_s: float | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)})")
        self.host = host
        self.port = port
        self.profile = PROFILES[profile]
        self.speed = speed
        self.clock = clock
        self.delay_s = delay_s  # the "slow" fault: seconds per whole read (three answers)
        self._wall_start = clock()
        self.model = ThermalModel(
            seed=seed, start_s=self._wall_start if start_s is None else start_s
        )
        if since_s is not None:
            # A controller that has run since `since_s`, on real time: its clock is the wall
            # clock, its counters grew as a real one's would (the demo: the same history at
            # every start).
            self.model = ThermalModel(seed=seed, start_s=since_s)
            self._wall_start, self.speed = since_s, 1.0
        self._base = base_arrays(self.profile, seed)
        self._written: dict[int, int] = {}
        # One-off wrong values (a glitch on the bus): command -> [(index, value, answers left)]
        self._glitches: dict[int, list[list[int]]] = {}
        # Encoded answers of the current model step: the model moves in 10 s steps, so most
        # requests are answered from here (a real controller answers in ~0.1 s; tests and
        # benchmarks want the simulator's own time out of the measurement).
        self._answer_cache: dict[tuple[int, int, float], bytes] = {}
        self._replay = self._load_replay(Path(replay_dir)) if replay_dir else None
        self._fault: str | None = fault
        self._fault_count: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._random = random.Random(seed)
        # Reused connection threads: starting a thread per connection would add its cost to
        # every read the benchmarks and tests measure.
        self._pending: queue.Queue[tuple[socket.socket, str | None] | None] = queue.Queue()
        self._idle_workers = 0
        self._workers: list[threading.Thread] = []
        self.connections_accepted = 0
        self.requests_answered = 0
        # Tests keep their own ledger of what was served: with `stamp`, every calculations
        # answer carries the next serial number at STAMP_INDEX (a field no firmware uses).
        self.stamp = stamp
        self.served: list[int] = []

    @staticmethod
    def _load_replay(directory: Path) -> dict[int, bytes]:
        return {command: (directory / name).read_bytes() for command, name in REPLAY_FILES.items()}

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def start(self) -> Simulator:
        self._open_listener()
        self._thread = threading.Thread(target=self._accept_loop, name="simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for _ in self._workers:
            self._pending.put(None)
        self._close_listener()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _close_quietly(connection)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_fault(self, fault: str | None, count: int | None = None) -> None:
        """Apply `fault` to new connections: all of them, or only the next `count`."""
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._fault = fault
            self._fault_count = count

    def sim_time(self) -> float:
        """The simulated clock: wall time since start, times the speed."""
        return self.model.start_s + (self.clock() - self._wall_start) * self.speed

    def arrays(self) -> tuple[list[int], list[int], list[int]]:
        """The three arrays as the controller would send them now."""
        with self._lock:
            self.model.advance_to(self.sim_time())
            parameters, calculations, visibilities = (list(a) for a in self._base)
            self.model.fill(parameters, calculations, visibilities)
            for index, value in self._written.items():
                if index < len(parameters):
                    parameters[index] = value
        return parameters, calculations, visibilities

    def glitch(self, command: int, index: int, value: int, answers: int = 1) -> None:
        """Send `value` at `index` in the next `answers` answers to `command`, then the truth
        again (what a disturbed controller or bus does once in a while)."""
        with self._lock:
            self._glitches.setdefault(command, []).append([index, value, answers])

    def _apply_glitches(self, command: int, answer: bytes) -> bytes:
        with self._lock:
            pending = self._glitches.get(command)
            if not pending:
                return answer
            data = bytearray(answer)
            for glitch in pending:
                index, value, _ = glitch
                offset = header_size(command) + index * value_size(command)
                struct.pack_into(">i" if value_size(command) == 4 else ">b", data, offset, value)
                glitch[2] -= 1
            self._glitches[command] = [g for g in pending if g[2] > 0]
            return bytes(data)

    def answer(self, command: int, status: int = 0) -> bytes:
        """The bytes of a correct answer to a read command (a glitch included, if one is due)."""
        return self._apply_glitches(command, self._true_answer(command, status))

    def _true_answer(self, command: int, status: int = 0) -> bytes:
        if self._replay is not None:
            return self._replay[command]
        if self.stamp and command == READ_CALCULATIONS:
            calculations = self.arrays()[1]
            with self._lock:
                serial = len(self.served) + 1
                self.served.append(serial)
            calculations[STAMP_INDEX] = serial
            return encode_answer(command, calculations, status)
        with self._lock:
            self.model.advance_to(self.sim_time())
            key = (command, status, self.model.now_s)
            cached = self._answer_cache.get(key)
        if cached is not None:
            return cached
        parameters, calculations, visibilities = self.arrays()
        values = {
            READ_PARAMETERS: parameters,
            READ_CALCULATIONS: calculations,
            READ_VISIBILITIES: visibilities,
        }[command]
        encoded = encode_answer(command, values, status)
        with self._lock:
            if len(self._answer_cache) > 16:
                self._answer_cache.clear()
            self._answer_cache[key] = encoded
        return encoded

    def _open_listener(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            _close_quietly(self._listener)
            self._listener = None

    def _refusing(self) -> bool:
        with self._lock:
            fault, count = self._fault, self._fault_count
        if fault == "refuse" and count is None:
            return True
        if fault == "flapping":
            return int((self.clock() - self._wall_start) / FLAP_PERIOD_S) % 2 == 1
        return False

    def _take_fault(self) -> str | None:
        with self._lock:
            fault = self._fault
            if self._fault_count is not None:
                self._fault_count -= 1
                if self._fault_count <= 0:
                    self._fault, self._fault_count = None, None
            return fault

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            if self._refusing():
                self._close_listener()
                self._stop.wait(0.02)
                continue
            if self._listener is None:
                try:
                    self._open_listener()
                except OSError:
                    self._stop.wait(0.05)
                    continue
            listener = self._listener
            assert listener is not None
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready:
                    continue
                connection, _ = listener.accept()
            except OSError:
                continue
            self.connections_accepted += 1
            fault = self._take_fault()
            with self._lock:
                busy = bool(self._connections)
            if fault == "refuse" or (fault == "single" and busy):
                _reset(connection)
                continue
            with self._lock:
                self._connections.add(connection)
                spawn = self._idle_workers == 0
                if not spawn:
                    self._idle_workers -= 1
            if spawn:
                worker = threading.Thread(target=self._work, name="simulator-conn", daemon=True)
                self._workers.append(worker)
                worker.start()
            self._pending.put((connection, fault))

    def _work(self) -> None:
        while True:
            item = self._pending.get()
            if item is None:
                return
            self._serve(*item)
            with self._lock:
                self._idle_workers += 1

    def _serve(self, connection: socket.socket, fault: str | None) -> None:
        try:
            connection.settimeout(IDLE_TIMEOUT_S)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # closed by stop() before this worker took it
            return
        try:
            while not self._stop.is_set():
                request = _recv_exactly(connection, 8)
                if request is None:
                    return
                command, argument = struct.unpack(">ii", request)
                if command == WRITE_PARAMETER:
                    value_bytes = _recv_exactly(connection, 4)
                    if value_bytes is None:
                        return
                    (value,) = struct.unpack(">i", value_bytes)
                    with self._lock:
                        self._written[argument] = value
                        self._answer_cache.clear()
                    connection.sendall(struct.pack(">ii", WRITE_PARAMETER, argument))
                    continue
                if command not in READ_COMMANDS:
                    logger.debug("simulator: unknown command %d, closing", command)
                    return
                if not self._send_answer(connection, command, fault):
                    return
                self.requests_answered += 1
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(connection)
            _close_quietly(connection)

    def _send_answer(self, connection: socket.socket, command: int, fault: str | None) -> bool:
        """Send the answer as `fault` dictates; False when the connection is to end."""
        status = 1 if fault == "busy" and command == READ_CALCULATIONS else 0
        answer = self.answer(command, status)
        half = len(answer) // 2
        if fault == "stall":
            self._stop.wait()
            return False
        if fault == "stall-mid":
            connection.sendall(answer[:half])
            self._stop.wait()
            return False
        if fault == "reset-mid":
            connection.sendall(answer[:half])
            time.sleep(0.01)
            _reset(connection)
            return False
        if fault == "slow":
            if self._stop.wait(self.delay_s / 3):
                return False
            connection.sendall(answer)
            return True
        if fault == "drip":
            for offset in range(len(answer)):
                if self._stop.wait(DRIP_INTERVAL_S):
                    return False
                connection.sendall(answer[offset : offset + 1])
            return True
        if fault == "garbage":
            noise = bytes(self._random.randrange(256) for _ in range(len(answer)))
            connection.sendall(struct.pack(">i", 0x7A7A7A7A) + noise)
            return True
        if fault == "wrong-echo":
            connection.sendall(struct.pack(">i", command + 1) + answer[4:])
            return True
        if fault in ("absurd-length", "negative-length"):
            count = 2**30 if fault == "absurd-length" else -5
            header = answer[: 8 if command != READ_CALCULATIONS else 12]
            connection.sendall(header[:-4] + struct.pack(">i", count) + answer[len(header) :])
            return False
        if fault == "short":
            header_bytes = 12 if command == READ_CALCULATIONS else 8
            connection.sendall(answer[: header_bytes + (len(answer) - header_bytes) // 2])
            return False
        if fault == "chunked":
            offset = 0
            while offset < len(answer):
                size = self._random.randint(1, 97)
                connection.sendall(answer[offset : offset + size])
                offset += size
                time.sleep(self._random.random() * 0.0005)
            return True
        if fault == "bytewise":
            for offset in range(len(answer)):
                connection.send(answer[offset : offset + 1])
            return True
        connection.sendall(answer)
        return True


def _recv_exactly(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _reset(connection: socket.socket) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER with a zero timeout)."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close_quietly(connection)


def _close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass

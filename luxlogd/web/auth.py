"""Who may ask: the token (Bearer header or a session cookie), a throttle on wrong guesses,
and, without a token, the Host header check that stops DNS rebinding.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)

SESSION_COOKIE = "luxlogd_session"
SESSION_MAX_AGE_S = 30 * 86_400
FAILURES_ALLOWED = 5  # wrong tokens per client address and window
FAILURE_WINDOW_S = 60.0
BLOCK_S = 60.0
MAX_TRACKED = 1_000


def session_value(token: str) -> str:
    """What the session cookie holds: derived from the token, never the token itself."""
    return hmac.new(token.encode(), b"luxlogd session v1", hashlib.sha256).hexdigest()


def same(given: str, expected: str) -> bool:
    """Constant-time comparison."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


class Throttle:
    """Wrong tokens from one address: after FAILURES_ALLOWED in a window, that address is
    turned away for BLOCK_S; logged once per block, not once per guess."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._blocked: dict[str, float] = {}
        self._lock = threading.Lock()

    def blocked(self, address: str) -> bool:
        with self._lock:
            until = self._blocked.get(address)
            if until is not None and self.clock() >= until:
                del self._blocked[address]
                until = None
            return until is not None

    def failed(self, address: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) > MAX_TRACKED:  # a flood of addresses: forget the oldest
                self._failures.clear()
            recent = [t for t in self._failures.get(address, []) if now - t < FAILURE_WINDOW_S]
            recent.append(now)
            self._failures[address] = recent
            if len(recent) >= FAILURES_ALLOWED and address not in self._blocked:
                self._blocked[address] = now + BLOCK_S
                del self._failures[address]
                logger.warning(
                    "web: %d wrong tokens from %s within %.0f s; turning it away for %.0f s",
                    len(recent), address, FAILURE_WINDOW_S, BLOCK_S,
                )  # fmt: skip


def listen_is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HostCheck:
    """Without a token, only requests that name this machine are answered: an IP address,
    localhost, the host name (also with .local), or a name in web.allowed_hosts. A web page
    on another site whose name was made to resolve to us (DNS rebinding) is turned away.
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        names = {"localhost", *(name.lower() for name in allowed)}
        try:
            own = socket.gethostname().lower()
        except OSError:
            own = ""
        if own:
            short = own.split(".")[0]
            names |= {own, short, f"{short}.local"}
        self.names = names

    def allows(self, header: str | None) -> bool:
        if not header:
            return True  # HTTP/1.0 clients; every browser sends a Host header
        host = header.strip().lower()
        if host.startswith("["):
            host = host[1 : host.find("]")] if "]" in host else host
        elif host.count(":") == 1:
            host = host.rsplit(":", 1)[0]
        try:
            ipaddress.ip_address(host)
            return True
        except ValueError:
            return host.rstrip(".") in self.names

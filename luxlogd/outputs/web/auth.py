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

logger = logging.getLogger("luxlogd.web.auth")  # its name in the journal (README)

SESSION_COOKIE = "luxlogd_session"
SESSION_MAX_AGE_S = 30 * 86_400
FAILURES_ALLOWED = 5  # wrong tokens per client address and window
FAILURE_WINDOW_S = 60.0
BLOCK_S = 60.0
GLOBAL_FAILURES = 20  # wrong tokens from all addresses together per window
TRUSTED_S = 86_400.0  # an address that got the token right is trusted this long
MAX_TRACKED = 1_000


def session_value(token: str) -> str:
    """What the session cookie holds: derived from the token, never the token itself."""
    return hmac.new(token.encode(), b"luxlogd session v1", hashlib.sha256).hexdigest()


def same(given: str, expected: str) -> bool:
    """Constant-time comparison."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


class Throttle:
    """Wrong tokens: after FAILURES_ALLOWED from one address in a window, that address is
    turned away for BLOCK_S. All addresses together have a budget too (GLOBAL_FAILURES per
    window): past it, token guesses from addresses that never got it right are turned away
    for BLOCK_S, so rotating source addresses buys nothing; an address that presented the
    right token within the last day (a Prometheus scraping) is not. Logged once per block
    and per burst, not once per guess."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._blocked: dict[str, float] = {}
        self._all: list[float] = []  # every failure in the window, whoever sent it
        self._all_blocked_until = 0.0
        self._trusted: dict[str, float] = {}  # address -> when it last got the token right
        self.turned_away = 0
        self._lock = threading.Lock()

    def blocked(self, address: str) -> bool:
        with self._lock:
            now = self.clock()
            until = self._blocked.get(address)
            if until is not None and now >= until:
                del self._blocked[address]
                until = None
            if (
                until is None
                and now < self._all_blocked_until
                and now - self._trusted.get(address, -TRUSTED_S) >= TRUSTED_S
            ):
                until = self._all_blocked_until
            if until is not None:
                self.turned_away += 1
            return until is not None

    def succeeded(self, address: str) -> None:
        with self._lock:
            if len(self._trusted) > MAX_TRACKED:
                self._trusted.clear()
            self._trusted[address] = self.clock()

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
                    len(recent),
                    address,
                    FAILURE_WINDOW_S,
                    BLOCK_S,
                )
            self._all = [t for t in self._all if now - t < FAILURE_WINDOW_S] + [now]
            if len(self._all) >= GLOBAL_FAILURES and now >= self._all_blocked_until:
                self._all_blocked_until = now + BLOCK_S
                logger.warning(
                    "web: %d wrong tokens within %.0f s from %d addresses; turning away every "
                    "address that has not shown the right token for %.0f s",
                    len(self._all),
                    FAILURE_WINDOW_S,
                    len(self._failures) + len(self._blocked),
                    BLOCK_S,
                )
                self._all.clear()


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

"""What the daemon serves beside storing polls: the web server and the MQTT publisher.

Both run in threads of their own and only ever read what the daemon hands them, so neither
can slow a poll, and neither can stop polling: a web server that cannot listen (the port is
taken) is one ERROR naming the cause and who holds the port, shown in `status`, and tried
again with back-off. A reload restarts what changed (the publisher, the web server on a new
address).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from luxlogd.base.errors import ConfigError
from luxlogd.config import Config
from luxlogd.health.status import StatusProvider
from luxlogd.heatpump.poll import Poll
from luxlogd.outputs.mqtt import Publisher
from luxlogd.outputs.web.app import WebServer

logger = logging.getLogger("luxlogd.outputs")  # its name in the journal (README)

RETRY_FIRST_S = 10.0  # a web server that could not listen: tried again after 10 s, doubling
RETRY_MAX_S = 300.0  # up to every 5 minutes


def port_holder(port: int) -> str | None:
    """'pid N (name)' of the process listening on TCP `port`, when /proc tells (else None)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    name = (entry / "comm").read_text().strip()
                    return f"pid {entry.name} ({name})"
        except OSError:
            continue
    return None


class Outputs:
    def __init__(
        self,
        config: Config,
        daemon: StatusProvider,
        wallclock: Callable[[], float],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.daemon = daemon
        self.wallclock = wallclock
        self.monotonic = monotonic
        self.web: WebServer | None = None
        self.mqtt: Publisher | None = None
        self.web_problem: str | None = None  # why the web server is not serving
        self._last: tuple[Poll | None, bool] = (None, False)  # for a publisher that follows
        self._web_retry_at = 0.0
        self._web_retry_s = RETRY_FIRST_S

    def start(self) -> None:
        self._start_web()
        self._start_mqtt()

    def _start_web(self) -> None:
        if not self.config.web.enabled or self.web is not None:
            return
        server = WebServer(self.config, self.daemon, self.wallclock)
        try:
            server.start()
        except (OSError, ValueError) as error:
            self._web_failed(error, server.address)
            return
        if self.web_problem is not None:
            logger.info("web server listening again on %s", self.config.web.listen)
        self.web, self.web_problem = server, None
        self._web_retry_s = RETRY_FIRST_S

    def _web_failed(self, error: Exception, address: tuple[str, int]) -> None:
        reason = getattr(error, "strerror", None) or str(error)
        holder = port_holder(address[1]) if "in use" in reason else None
        problem = (
            f"web server not serving: cannot listen on {self.config.web.listen} "
            f"({reason}" + (f"; held by {holder}" if holder else "") + ")"
        )
        if problem != self.web_problem:
            logger.error(
                "%s; polls are stored as always, trying again with back-off (set "
                "web.listen to another port, or stop what holds it)",
                problem,
            )
        else:
            logger.debug("%s", problem)
            self._web_retry_s = min(RETRY_MAX_S, self._web_retry_s * 2)
        self.web_problem = problem
        self._web_retry_at = self.monotonic() + self._web_retry_s

    def _start_mqtt(self) -> None:
        if not self.config.mqtt.enabled:
            return

        try:
            self.mqtt = Publisher(self.config, self.wallclock).start()
        except (ConfigError, OSError, ValueError) as error:  # no paho; unusable TLS files
            text = "; ".join(error.problems) if isinstance(error, ConfigError) else str(error)
            logger.error("mqtt: cannot start publishing: %s; polls are stored as always", text)
            self.mqtt = None

    def update(self, poll: Poll | None, reachable: bool) -> None:
        if self.web_problem is not None and self.monotonic() >= self._web_retry_at:
            self._start_web()
        self._last = (poll if poll is not None else self._last[0], reachable)
        if self.mqtt is not None:
            self.mqtt.update(poll, reachable)

    @staticmethod
    def _announced(config: Config) -> tuple[object, ...]:
        """What the MQTT publisher's messages depend on: a change restarts it (and so
        announces Home Assistant's configs again: expire_after follows poll.interval_s)."""
        return (config.mqtt, config.ui, config.poll.interval_s, config.web, config.instance)

    def reload(self, config: Config) -> None:
        mqtt_changed = self._announced(config) != self._announced(self.config)
        web_moved = (config.web.listen, config.web.enabled) != (
            self.config.web.listen,
            self.config.web.enabled,
        )
        self.config = config
        if web_moved:
            if self.web is not None:
                self.web.stop()
                self.web = None
            self.web_problem = None
            self._start_web()
        elif self.web is not None:
            self.web.reconfigure(config)
        if mqtt_changed:
            if self.mqtt is not None:
                self.mqtt.stop(offline=False)  # the next one follows at once
                self.mqtt = None
            self._start_mqtt()
            if self.mqtt is not None:  # the newest poll at once: no entity waits a poll
                self.mqtt.update(*self._last)

    def status(self) -> dict[str, Any] | None:
        return self.mqtt.status() if self.mqtt is not None else None

    def problems(self) -> list[str]:
        """What an output cannot do now (polling goes on regardless)."""
        return [self.web_problem] if self.web_problem else []

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
        if self.mqtt is not None:
            self.mqtt.stop()

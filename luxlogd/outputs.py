"""What the daemon serves beside storing polls: the web server and the MQTT publisher.

Both run in threads of their own and only ever read what the daemon hands them, so neither
can slow a poll. A reload restarts the publisher when its section changed (the web server's
address changes only on restart).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from luxlogd.config import Config
from luxlogd.errors import ConfigError
from luxlogd.poll import Poll

logger = logging.getLogger(__name__)


class Outputs:
    def __init__(self, config: Config, daemon: Any, wallclock: Callable[[], float]) -> None:
        self.config = config
        self.daemon = daemon
        self.wallclock = wallclock
        self.web: Any = None
        self.mqtt: Any = None

    def start(self) -> None:
        if self.config.web.enabled and self.web is None:
            from luxlogd.web import start_web

            self.web = start_web(self.config, self.daemon, self.wallclock)
        self._start_mqtt()

    def _start_mqtt(self) -> None:
        if not self.config.mqtt.enabled:
            return
        from luxlogd.mqtt import Publisher

        try:
            self.mqtt = Publisher(self.config, self.wallclock).start()
        except (ConfigError, OSError, ValueError) as error:  # no paho; unusable TLS files
            text = "; ".join(error.problems) if isinstance(error, ConfigError) else str(error)
            logger.error("mqtt: cannot start publishing: %s; polls are stored as always", text)
            self.mqtt = None

    def update(self, poll: Poll | None, reachable: bool) -> None:
        if self.mqtt is not None:
            self.mqtt.update(poll, reachable)

    def reload(self, config: Config) -> None:
        changed = config.mqtt != self.config.mqtt or config.ui != self.config.ui
        self.config = config
        if changed:
            if self.mqtt is not None:
                self.mqtt.stop()
                self.mqtt = None
            self._start_mqtt()

    def status(self) -> dict[str, Any] | None:
        return self.mqtt.status() if self.mqtt is not None else None

    def stop(self) -> None:
        if self.web is not None:
            self.web.stop()
        if self.mqtt is not None:
            self.mqtt.stop()

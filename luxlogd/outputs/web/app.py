"""luxlogd's web server: the HTTP server (server.py) answering with the API (api.py), and a
thread that keeps the current heating season's finished days computed, so that the page's
statistics and performance charts for a season open at once."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from luxlogd.config import Config
from luxlogd.health.status import StatusProvider
from luxlogd.outputs.web import api, data, server

logger = logging.getLogger("luxlogd.web")

WARM_AFTER_S = 5.0  # after the start: the daemon's first poll comes first
WARM_EVERY_S = 3600.0  # a day that ended since is computed within the hour


class WebServer(server.WebServer):
    """The daemon's web server: health, Prometheus metrics, JSON API, the page."""

    def __init__(
        self, config: Config, provider: StatusProvider, clock: Callable[[], float]
    ) -> None:
        super().__init__(config, provider, clock, api.route)
        self._stopping = threading.Event()

    def start(self) -> tuple[str, int]:
        bound = super().start()
        self._stopping.clear()
        threading.Thread(target=self._warm, name="web-warm", daemon=True).start()
        return bound

    def stop(self) -> None:
        self._stopping.set()
        super().stop()

    def _warm(self) -> None:
        try:  # the lowest priority for this thread: polling and requests come first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        delay = WARM_AFTER_S
        while not self._stopping.wait(delay):
            delay = WARM_EVERY_S
            httpd = self.httpd
            if httpd is None:
                return
            try:
                days = data.warm_season(httpd)
            except Exception as error:  # a cache left cold is no reason to stop anything
                logger.debug("web: season figures not computed ahead: %s", error)
                delay = 60.0
            else:
                logger.debug("web: %d finished days of the season computed ahead", days)

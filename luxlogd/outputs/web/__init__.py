"""The daemon's web server: health, Prometheus metrics, JSON API, the page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from luxlogd.config import Config
from luxlogd.outputs.web.server import WebServer

__all__ = ["WebServer", "start_web"]

logger = logging.getLogger("luxlogd.web")  # its name in the journal (README)


def start_web(config: Config, provider: Any, clock: Callable[[], float]) -> WebServer | None:
    """The daemon's web server, started; None (and an error logged) when it cannot listen."""
    server = WebServer(config, provider, clock)
    try:
        server.start()
    except OSError as error:
        logger.error("web server not started on %s: %s", config.web.listen, error)
        return None
    return server

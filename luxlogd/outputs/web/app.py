"""luxlogd's web server: the HTTP server (server.py) answering with the API (api.py)."""

from __future__ import annotations

from collections.abc import Callable

from luxlogd.config import Config
from luxlogd.health.status import StatusProvider
from luxlogd.outputs.web import api, server


class WebServer(server.WebServer):
    """The daemon's web server: health, Prometheus metrics, JSON API, the page."""

    def __init__(
        self, config: Config, provider: StatusProvider, clock: Callable[[], float]
    ) -> None:
        super().__init__(config, provider, clock, api.route)

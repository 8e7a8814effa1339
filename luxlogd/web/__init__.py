"""The daemon's web server: health, Prometheus metrics, JSON API, the page."""

from luxlogd.web.server import WebServer

__all__ = ["WebServer"]

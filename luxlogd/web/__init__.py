"""The daemon's web server: health, Prometheus metrics, JSON API, the page."""

from luxlogd.web.server import WebServer, render_metrics

__all__ = ["WebServer", "render_metrics"]

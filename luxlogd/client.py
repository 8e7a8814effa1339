"""The library API's import path (SPEC §10: `from luxlogd.client import HeatPumpClient`),
kept while the client lives in luxlogd.heatpump.client."""

from luxlogd.heatpump.client import AttemptError, HeatPumpClient, HeatPumpError, Poll, Snapshot

__all__ = ["AttemptError", "HeatPumpClient", "HeatPumpError", "Poll", "Snapshot"]

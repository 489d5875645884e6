"""The per-app context: the parts `create_app` built, kept on the Flask server as an extension entry.

Routes and installers are handed the parts they use; the page's callbacks (which Dash calls with
no way to hand them anything) and the entry points (app.py, the ASGI layer) ask `context_of`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

from aurora.settings import SHUTDOWN_SECONDS, Settings

if TYPE_CHECKING:
    from dash import Dash
    from sqlalchemy import Engine

    from aurora.alerts.monitor import AlertMonitor
    from aurora.api.stream import StreamSlots
    from aurora.bot_runner import BotRunner
    from aurora.demo.simulation.demo_bot import Simulation
    from aurora.protocols import SnapshotHandOver
    from aurora.scaleout.lease import BotLease
    from aurora.stats.hours import HourBreakdowns
    from aurora.stats.service import StatsService

EXTENSION_KEY = "aurora"


@dataclass(frozen=True)
class AuroraContext:
    """The app's parts, for the page's callbacks and the entry points (`context_of`)."""

    settings: Settings
    engine: Engine
    snapshots: SnapshotHandOver
    service: StatsService
    streams: StreamSlots
    bot: BotRunner | None = None
    bot_lease: BotLease | None = None
    hours: HourBreakdowns | None = None  # one hour's breakdown (the API's and the page's hour panel)
    alerts: AlertMonitor | None = None
    simulation: Simulation | None = None  # the demo's simulated Discord the bot is logged in to
    # Renders the current stats version in the views pages asked for lately (the page installs it; the
    # live stream's fan-out calls it before announcing a new version).
    prepare_views: Callable[[], int] | None = None

    def shutdown(self, timeout: float = SHUTDOWN_SECONDS) -> None:
        """Within `timeout` in all: stop the bot (its gateway connection closed, its queued records
        written or kept for the next start), then the simulated Discord if any; end every call still
        waiting on the database, then the alerts (a last message) and the figures' schedule."""
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        if self.bot is not None:
            self.bot.stop(left())
        if self.simulation is not None:
            self.simulation.stop()
        if self.bot_lease is not None:
            self.bot_lease.release()
        # The records are settled: a refresh or query stuck on a silent database ends now rather
        # than holding the process's exit (aurora.storage.deadline).
        self.engine.dispose()
        if self.alerts is not None:
            self.alerts.close(left())
        self.service.close(left())


def install_context(server: Flask, context: AuroraContext) -> None:
    server.extensions[EXTENSION_KEY] = context


def context_of(app: Dash | Flask | None = None) -> AuroraContext:
    """The context of `app` (a Dash app or its Flask server); without one, the current app's."""
    server = current_app if app is None else getattr(app, "server", app)
    return server.extensions[EXTENSION_KEY]

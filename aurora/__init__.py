"""Aurora Dashboard: the application factory."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dash import Dash

    from aurora.protocols import Clock, SnapshotHandOver
    from aurora.settings import Settings

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    snapshots: SnapshotHandOver | None = None,
    clock: Clock | None = None,
    bot_options: dict | None = None,
    simulation_options: dict | None = None,
) -> Dash:
    """Build the dashboard. With a DISCORD_TOKEN, the bot starts in a background thread; showing
    demo data without one, the bot logs in to a simulated Discord (`aurora.demo.simulation`).
    `bot_options` tunes that runner (tests shorten its timers), `simulation_options` the
    simulation (`start_simulation`'s seed, rhythm and poll interval)."""
    # Imported here, as in Flask's flaskr: importing any aurora module loads only what it needs.
    from aurora.alerts.monitor import alert_board, start_alert_monitor
    from aurora.api.stream import StreamSlots
    from aurora.demo.simulation.demo_bot import runs_simulated_discord, start_simulation
    from aurora.scaleout.roles import connect_shared, snapshot_source
    from aurora.startup import StartupError, hold_bot_lease, prepare_database, start_bot, wire_stats_service
    from aurora.stats.hours import HourBreakdowns
    from aurora.stats.service import utc_now
    from aurora.storage.engine import create_db_engine
    from aurora.web.context import AuroraContext
    from aurora.web.install import bot_description, dash_app, install_app
    from aurora.web.serving.capacity import open_files_limit, stream_cap

    clock = clock or utc_now
    if (refusal := settings.web_refusal) is not None:
        raise StartupError(refusal)
    engine = create_db_engine(settings.database_url)
    demo = prepare_database(engine, settings, clock)
    # With REDIS_URL: role web reads the bot's snapshot from Redis, and every process shares one
    # stats computation per interval.
    shared = connect_shared(settings)
    snapshots = snapshots or snapshot_source(settings, shared, clock)
    # Whatever starts below is stopped again, newest first, if a later step fails: a failed
    # create_app leaves no simulated Discord, bot or alert thread running, and no port open.
    with ExitStack() as undo:
        undo.callback(engine.dispose)
        simulation = None
        if runs_simulated_discord(settings, demo=demo):
            simulation = start_simulation(clock, **(simulation_options or {}))
            undo.callback(simulation.stop)
        board = alert_board(settings)
        service = wire_stats_service(settings, engine, snapshots, shared, demo=demo, clock=clock, alerts=board,
                                     simulated=simulation is not None)
        undo.callback(service.close)

        app = dash_app()
        bot, lease = None, None
        if settings.bot_enabled:
            # With Redis, the all-in-one process holds the same per-token lease as a bot process.
            lease = hold_bot_lease(settings, shared) if shared is not None else None
            if lease is not None:
                undo.callback(lease.release)
            bot = start_bot(settings, engine, snapshots, service, clock, shared=shared, **(bot_options or {}))
            undo.callback(bot.stop)
            if lease is not None:
                lease.keep_renewed(on_lost=bot.stop)
        elif simulation is not None:
            bot = start_bot(simulation.bot_settings(settings), engine, snapshots, service, clock, shared=shared,
                            **simulation.bot_options(bot_options))
            undo.callback(bot.stop)
        total_streams = stream_cap(settings.stream_max_total, open_files_limit())
        streams = StreamSlots(settings.stream_max_per_client, total_streams)
        alerts = start_alert_monitor(settings, service, snapshots, board, shared, clock)
        if alerts is not None:
            undo.callback(alerts.close)
        parts = AuroraContext(settings, engine, snapshots, service, streams,
                              bot=bot, bot_lease=lease, alerts=alerts,
                              hours=HourBreakdowns(engine, clock), simulation=simulation)
        install_app(app, parts)
        undo.pop_all()  # ready: from here on the app's shutdown stops them
    log.info(
        "Aurora Dashboard ready: database %s%s, bot %s",
        engine.url.render_as_string(hide_password=True),
        " (demo data)" if demo else "",
        bot_description(settings, simulation is not None),
    )
    return app

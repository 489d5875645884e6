"""Aurora Dashboard: the application factory."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dash import Dash

    from aurora.protocols import Clock, SnapshotHandOver
    from aurora.settings import Settings
    from aurora.web.context import AuroraContext

log = logging.getLogger(__name__)

ASSETS_FOLDER = str(Path(__file__).resolve().parent.parent / "assets")


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
    from dash import Dash

    from aurora.alerts.monitor import alert_board, start_alert_monitor
    from aurora.api.stream import StreamSlots
    from aurora.demo.simulation.demo_bot import runs_simulated_discord, start_simulation
    from aurora.scaleout.roles import connect_shared, snapshot_source, web_refusal
    from aurora.startup import StartupError, hold_bot_lease, prepare_database, start_bot, stats_service
    from aurora.stats.hours import HourBreakdowns
    from aurora.stats.service import utc_now
    from aurora.storage.engine import create_db_engine
    from aurora.web.context import AuroraContext
    from aurora.web.serving.capacity import open_files_limit, stream_cap

    clock = clock or utc_now
    if (refusal := web_refusal(settings)) is not None:
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
        service = stats_service(settings, engine, snapshots, shared, demo=demo, clock=clock, alerts=board,
                                simulated=simulation is not None)
        undo.callback(service.close)

        app = Dash(
            __name__,
            assets_folder=ASSETS_FOLDER,
            title="Aurora Dashboard",
            update_title=None,
        )
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


def install_app(app: Dash, parts: AuroraContext) -> None:
    """The context, the guards and headers, the API and the page, on `app`."""
    from aurora.api.health import install_health
    from aurora.api.rate_limit import install_rate_limits
    from aurora.api.routes import create_api_blueprint, register_error_handlers
    from aurora.layouts.callbacks import install_page
    from aurora.layouts.page_guard import install_page_guard
    from aurora.web.context import install_context
    from aurora.web.metrics import install_metrics
    from aurora.web.security import (
        install_access_control,
        install_proxy_fix,
        install_relative_redirects,
        install_security_headers,
    )

    server, settings = app.server, parts.settings
    install_context(server, parts)
    # Bodies past the limit are refused (413, JSON) once the app reads them; nginx refuses them first.
    server.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    install_proxy_fix(app, settings)
    install_access_control(app, settings)
    install_security_headers(app)
    install_relative_redirects(app)
    install_metrics(server)
    api = create_api_blueprint()
    # After access control: a request without the token is refused before it is counted.
    install_rate_limits(app, api, settings)
    server.register_blueprint(api)
    install_health(server)
    register_error_handlers(server)
    install_page(app, settings.refresh_seconds)
    install_page_guard(app)
    # Dash sets itself up on a worker's first request and marks that done before it is: other
    # first requests arriving meanwhile (a browser fetching scripts from a fresh gunicorn worker)
    # found no component library registered. Setting it up here closes that window.
    with server.test_request_context("/"):
        app._setup_server()


def bot_description(settings: Settings, simulated: bool) -> str:
    if settings.bot_enabled:
        return "enabled"
    if simulated:
        return "logged in to a simulated Discord on 127.0.0.1 (demo data, no DISCORD_TOKEN)"
    return "disabled (DISCORD_TOKEN not set)"

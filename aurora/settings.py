"""Settings: the only place that reads the environment, and where the roles' rules are decided.

`load_settings()` builds one frozen `Settings` from `os.environ` (plus an optional `.env` file);
everything else receives that object. A bad value raises `SettingsError` whose message is one line
naming the variable, so startup can print it instead of a traceback.

What each role (README, "Running at scale") may run is decided here, and only here: the parse
refuses a role without what it needs, and the factory, the bot process and gunicorn's config ask
`Settings` (`web_refusal`, `bot_thread_refusal`, `bot_process_refusal`, `workers_refusal`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from aurora.setting_values import (
    SettingsError,
    parse_alert_settings,
    parse_bool,
    parse_database_url,
    parse_int,
    parse_rate_limit,
    parse_url,
    read_env_file,
)

DEFAULT_DATABASE_FILE = "aurora.db"
DEFAULT_SPOOL_DIR = "aurora-spool"
DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg"
KIB = 1024
# The README's promise for a stop (SIGTERM, SIGINT, SIGQUIT): what the app does in it, leaving the
# last 2 s for the server's own stop and the process's exit on a busy machine.
SHUTDOWN_SECONDS = 3.0

ROLES = ("all", "bot", "web")
WEB_REFUSED = "AURORA_ROLE=bot runs no web server: start the bot with `python app.py`"
BOT_THREAD_REFUSED = "AURORA_ROLE=web never starts the bot: run it as its own process with AURORA_ROLE=bot"
BOT_PROCESS_REFUSED = "the bot process needs AURORA_ROLE=bot, REDIS_URL and DISCORD_TOKEN"


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{DEFAULT_DATABASE_FILE}"
    database_is_default: bool = True
    discord_token: str | None = field(default=None, repr=False)
    discord_api_base: str = DEFAULT_API_BASE
    discord_gateway_url: str = DEFAULT_GATEWAY_URL
    discord_shard_count: int | None = None
    host: str = "127.0.0.1"
    port: int = 8050
    refresh_seconds: int = 30
    rate_limit: str | None = "60/minute"  # None: no limit (a proxy in front enforces one)
    # The page's own requests (the page, its layout and its callbacks: several per load and refresh).
    page_rate_limit: str | None = "600/minute"
    trusted_proxy_hops: int = 0
    access_token: str | None = field(default=None, repr=False)
    stream_max_per_client: int = 3
    stream_max_total: int = 1000
    stream_max_seconds: int = 3600
    stream_heartbeat_seconds: float = 15.0
    # Dash's callback requests are a few KB; anything far larger is refused unread (413).
    max_body_bytes: int = 256 * KIB
    # Threads running the Flask/Dash app per process (streams and slow clients never hold one).
    app_threads: int = 8
    demo: bool = True
    # When demo data is shown without a token, the bot logs in to a simulated Discord on loopback
    # (aurora.demo.simulation); False keeps the demo's bot disabled.
    simulated_discord: bool = True
    debug: bool = False
    # Scale-out (docs/scaling.md): which part this process runs, and the Redis that
    # the parts share. The URL can carry a password, hence repr=False.
    role: str = "all"
    redis_url: str | None = field(default=None, repr=False)
    redis_prefix: str = "aurora"
    bot_ttl_seconds: int = 30
    # `app.py init-db` only: its DDL gets these limits instead of the 5 s request timeout.
    ddl_timeout_seconds: int = 3600
    ddl_lock_timeout_seconds: int = 60
    # Command records the database could not take before a shutdown wait here for the next start.
    spool_dir: str = DEFAULT_SPOOL_DIR
    # Alerts (docs/alerts.md): a Discord webhook; its URL carries the webhook's token.
    alert_webhook_url: str | None = field(default=None, repr=False)
    alert_offline_minutes: int = 5
    alert_stale_minutes: int = 10
    alert_ping_ms: int = 500
    alert_failures_per_hour: int = 20
    alert_command_p95_ms: int = 2000
    alert_late_per_hour: int = 5
    public_url: str | None = None

    @property
    def bot_enabled(self) -> bool:
        return bool(self.discord_token)

    @property
    def runs_bot_process(self) -> bool:
        """Role bot: the bot as a process of its own, no web server."""
        return self.role == "bot"

    @property
    def reads_bot_from_redis(self) -> bool:
        """Role web: the bot's snapshots come from Redis, published by the bot process."""
        return self.role == "web"

    @property
    def web_refusal(self) -> str | None:
        return WEB_REFUSED if self.runs_bot_process else None

    @property
    def bot_thread_refusal(self) -> str | None:
        return BOT_THREAD_REFUSED if self.role == "web" else None

    @property
    def bot_process_refusal(self) -> str | None:
        ready = self.runs_bot_process and role_problem(self.role, self.redis_url, self.discord_token) is None
        return None if ready else BOT_PROCESS_REFUSED

    def workers_refusal(self, workers: int) -> str | None:
        """Why this process may not run `workers` web workers: each would start its own bot."""
        if self.bot_enabled and workers > 1:
            return (
                f"DISCORD_TOKEN is set and gunicorn would start {workers} workers, each with "
                "its own bot and gateway connection; run one worker (it serves many clients at once), or run "
                "the bot as its own process (AURORA_ROLE=bot) and these as AURORA_ROLE=web"
            )
        return None

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)


def settings_from_mapping(env: Mapping[str, str]) -> Settings:
    """Build settings from a mapping of environment variables (empty values count as unset)."""

    def get(name: str) -> str | None:
        value = env.get(name)
        return value if value is not None and value.strip() != "" else None

    kwargs: dict = {}
    if (raw := get("DATABASE_URL")) is not None:
        kwargs["database_url"] = parse_database_url("DATABASE_URL", raw)
        kwargs["database_is_default"] = False
    if (raw := get("DISCORD_TOKEN")) is not None:
        token = raw.strip()
        if any(ch.isspace() for ch in token):
            raise SettingsError("DISCORD_TOKEN contains whitespace")
        kwargs["discord_token"] = token
    if (raw := get("DISCORD_API_BASE")) is not None:
        kwargs["discord_api_base"] = parse_url("DISCORD_API_BASE", raw, ("http", "https"))
    if (raw := get("DISCORD_GATEWAY_URL")) is not None:
        kwargs["discord_gateway_url"] = parse_url("DISCORD_GATEWAY_URL", raw, ("ws", "wss"))
    if (raw := get("DISCORD_SHARD_COUNT")) is not None:
        kwargs["discord_shard_count"] = parse_int("DISCORD_SHARD_COUNT", raw, low=1, high=4096)
    if (raw := get("AURORA_HOST")) is not None:
        kwargs["host"] = raw.strip()
    if (raw := get("AURORA_PORT")) is not None:
        kwargs["port"] = parse_int("AURORA_PORT", raw, low=1, high=65535)
    if (raw := get("AURORA_REFRESH_SECONDS")) is not None:
        kwargs["refresh_seconds"] = parse_int("AURORA_REFRESH_SECONDS", raw, low=1, high=3600)
    if (raw := get("AURORA_RATE_LIMIT")) is not None:
        kwargs["rate_limit"] = parse_rate_limit("AURORA_RATE_LIMIT", raw)
    if (raw := get("AURORA_PAGE_RATE_LIMIT")) is not None:
        kwargs["page_rate_limit"] = parse_rate_limit("AURORA_PAGE_RATE_LIMIT", raw)
    if (raw := get("AURORA_TRUSTED_PROXY_HOPS")) is not None:
        kwargs["trusted_proxy_hops"] = parse_int("AURORA_TRUSTED_PROXY_HOPS", raw, low=0, high=10)
    if (raw := get("AURORA_ACCESS_TOKEN")) is not None:
        token = raw.strip()
        if len(token) < 16:
            raise SettingsError("AURORA_ACCESS_TOKEN is too short (use at least 16 random characters)")
        kwargs["access_token"] = token
    if (raw := get("AURORA_STREAMS_PER_CLIENT")) is not None:
        kwargs["stream_max_per_client"] = parse_int("AURORA_STREAMS_PER_CLIENT", raw, low=1, high=1000)
    if (raw := get("AURORA_STREAMS_TOTAL")) is not None:
        kwargs["stream_max_total"] = parse_int("AURORA_STREAMS_TOTAL", raw, low=1, high=100_000)
    if (raw := get("AURORA_STREAM_MAX_SECONDS")) is not None:
        kwargs["stream_max_seconds"] = parse_int("AURORA_STREAM_MAX_SECONDS", raw, low=10, high=86_400)
    if (raw := get("AURORA_MAX_BODY_KB")) is not None:
        kwargs["max_body_bytes"] = parse_int("AURORA_MAX_BODY_KB", raw, low=1, high=100 * KIB) * KIB
    if (raw := get("AURORA_THREADS")) is not None:
        kwargs["app_threads"] = parse_int("AURORA_THREADS", raw, low=1, high=256)
    if (raw := get("AURORA_SIMULATED_DISCORD")) is not None:
        kwargs["simulated_discord"] = parse_bool("AURORA_SIMULATED_DISCORD", raw)
    if (raw := get("AURORA_DEBUG")) is not None:
        kwargs["debug"] = parse_bool("AURORA_DEBUG", raw)
    if (raw := get("AURORA_DDL_TIMEOUT_SECONDS")) is not None:
        kwargs["ddl_timeout_seconds"] = parse_int("AURORA_DDL_TIMEOUT_SECONDS", raw, low=1, high=604_800)
    if (raw := get("AURORA_DDL_LOCK_TIMEOUT_SECONDS")) is not None:
        kwargs["ddl_lock_timeout_seconds"] = parse_int("AURORA_DDL_LOCK_TIMEOUT_SECONDS", raw, low=1, high=86_400)
    if (raw := get("AURORA_SPOOL_DIR")) is not None:
        kwargs["spool_dir"] = raw.strip()
    _parse_scale_out(get, kwargs)
    # Any webhook URL only while DISCORD_API_BASE points at another Discord (a proxy or a fake).
    parse_alert_settings(get, kwargs, any_webhook_host=kwargs.get("discord_api_base", DEFAULT_API_BASE) != DEFAULT_API_BASE)
    # Demo data is only ever seeded into the embedded default database unless asked for.
    demo_default = kwargs.get("database_is_default", True)
    raw = get("AURORA_DEMO")
    kwargs["demo"] = parse_bool("AURORA_DEMO", raw) if raw is not None else demo_default
    return Settings(**kwargs)


def role_problem(role: str, redis_url: str | None, discord_token: str | None) -> str | None:
    """What `role` lacks or must not have; the bot and web roles only make sense with Redis."""
    if role != "all" and redis_url is None:
        return (
            f"REDIS_URL is required with AURORA_ROLE={role} (redis://host:6379/0 or rediss://...): "
            "the bot and web processes share the bot's state and the rate limit through it"
        )
    if role == "bot" and not discord_token:
        return "DISCORD_TOKEN is required with AURORA_ROLE=bot: that process only runs the bot"
    if role == "web" and discord_token:
        return (
            "DISCORD_TOKEN is set but AURORA_ROLE=web never starts the bot; run the bot as its own "
            "process (AURORA_ROLE=bot) and keep the token out of the web processes"
        )
    return None


def _parse_scale_out(get: Callable[[str], str | None], kwargs: dict) -> None:
    """AURORA_ROLE, REDIS_URL and friends."""
    role = (get("AURORA_ROLE") or "all").strip().lower()
    if role not in ROLES:
        raise SettingsError(f"AURORA_ROLE={role!r} is not a role (use all, bot or web)")
    kwargs["role"] = role
    if (raw := get("REDIS_URL")) is not None:
        kwargs["redis_url"] = parse_url("REDIS_URL", raw, ("redis", "rediss"))
    if (raw := get("AURORA_REDIS_PREFIX")) is not None:
        if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", raw.strip()):
            raise SettingsError(f"AURORA_REDIS_PREFIX={raw!r} may only use letters, digits and _.:- (1-64)")
        kwargs["redis_prefix"] = raw.strip()
    if (raw := get("AURORA_BOT_TTL_SECONDS")) is not None:
        kwargs["bot_ttl_seconds"] = parse_int("AURORA_BOT_TTL_SECONDS", raw, low=2, high=600)
    if (problem := role_problem(role, kwargs.get("redis_url"), kwargs.get("discord_token"))) is not None:
        raise SettingsError(problem)


def load_settings(env_file: Path | None = Path(".env")) -> Settings:
    """Read `.env` (if present) and the process environment, the latter winning."""
    merged: dict[str, str] = {}
    if env_file is not None:
        merged.update(read_env_file(env_file))
    merged.update(os.environ)
    return settings_from_mapping(merged)

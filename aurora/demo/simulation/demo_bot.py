"""The simulated Discord beside the demo: when demo data is shown and no DISCORD_TOKEN is set, the
real bot (the same `AuroraBot` through the same `BotRunner`) logs in to a Discord simulated on
127.0.0.1, so the demo shows servers, latency and commands arriving, all said to be simulated.

`create_app` asks `runs_simulated_discord`, starts a `Simulation` and hands the bot the settings
from `bot_settings`; the app's shutdown stops the bot first, then the simulation.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from aurora.demo.simulation.answer_times import AnswerTimes
from aurora.demo.simulation.director import Director, Rhythm
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.protocols import Clock
from aurora.settings import Settings

SERVER_THREAD = "aurora-simulated-discord"
DIRECTOR_THREAD = "aurora-simulated-discord-director"
BOT_NAME = "Aurora (simulated)"
# On loopback every GUILD_CREATE follows READY at once: discord.py's 2 s wait for more is not needed.
GUILD_READY_TIMEOUT = 0.2


def runs_simulated_discord(settings: Settings, *, demo: bool) -> bool:
    """Exactly when demo data is shown (never beside real rows), no token is set, this process may
    run the bot, and AURORA_SIMULATED_DISCORD does not turn it off."""
    return settings.simulated_discord and demo and not settings.bot_enabled and settings.bot_thread_refusal is None


@dataclass(frozen=True)
class Simulation:
    discord: SimulatedDiscord
    director: Director

    def bot_settings(self, settings: Settings) -> Settings:
        """`settings` with the bot pointed at the simulated Discord (one shard, its own token)."""
        return settings.with_overrides(
            discord_token=self.discord.token, discord_api_base=self.discord.api_base,
            discord_gateway_url=self.discord.gateway_url, discord_shard_count=None,
        )

    def bot_options(self, options: dict | None) -> dict:
        """The bot runner's options for the simulated Discord; `options` (tests') win."""
        options = dict(options or {})
        options["client_options"] = {"guild_ready_timeout": GUILD_READY_TIMEOUT, **(options.get("client_options") or {})}
        return options

    def stop(self) -> None:
        """Stop the director, then the server (its connections, port and thread); idempotent."""
        self.director.stop()
        self.discord.stop()


def start_simulation(clock: Clock, *, seed: int | None = None, rhythm: Rhythm | None = None,
                     poll_seconds: float = 1.0) -> Simulation:
    """A simulated Discord on a free loopback port with `rhythm.guilds` guilds, and its director."""
    rhythm = rhythm or Rhythm()
    sizes = random.Random(seed)
    discord = SimulatedDiscord(
        token=secrets.token_urlsafe(24),  # never leaves the process; the bot thread's name derives from it
        guilds=[sizes.randint(*rhythm.members) for _ in range(rhythm.guilds)],
        heartbeat_interval_ms=rhythm.heartbeat_interval_ms, bot_name=BOT_NAME, thread_name=SERVER_THREAD,
        answer_times=AnswerTimes(seed),
    )
    director = Director(discord, clock, rhythm=rhythm, seed=seed, poll_seconds=poll_seconds)
    discord.start()
    try:
        director.start(DIRECTOR_THREAD)
    except BaseException:
        discord.stop()
        raise
    return Simulation(discord, director)

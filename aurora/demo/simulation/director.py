"""What makes the simulated Discord lively: slash commands at a daily rhythm, now and then a
reconnect (op 7) or a guild joining or leaving, and heartbeat ACKs with a realistic, jittery delay.

Every moment comes from the injected clock: `tick()` does whatever fell due since the last call,
so a test moves its clock and calls `tick()`, and production calls it from a thread once a second.
The randomness comes from one seeded `random.Random` per concern, so a seed replays the same run.
Commands are only those the bot registered itself (its command sync), picked by name.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from aurora.demo.rhythm import commands_per_hour
from aurora.demo.simulation.server import SimulatedDiscord
from aurora.protocols import Clock

log = logging.getLogger(__name__)

# How often one command name is picked against another; names not listed weigh 1.
COMMAND_WEIGHTS = {"ping": 5, "balance": 4, "stats": 2}
# A clock that jumped (a suspended laptop, a test) does not replay hours of commands at once.
MAX_CATCH_UP = 50


@dataclass(frozen=True)
class Rhythm:
    """How busy the simulation is; its commands follow the demo's daily rhythm, for the whole bot."""

    guilds: int = 36
    members: tuple[int, int] = (6, 90)
    heartbeat_interval_ms: int = 41_250  # Discord's own
    latency_ms: tuple[float, float, float] = (40.0, 120.0, 58.0)  # low, high, most likely
    reconnect_minutes: tuple[float, float] = (10.0, 20.0)
    guild_change_minutes: tuple[float, float] = (15.0, 45.0)

    def commands_per_minute(self, moment: datetime) -> float:
        """The seeded history's rhythm (`aurora.demo.rhythm`), live: the same hour, the same rate."""
        return commands_per_hour(moment, moment) / 60


class Director:
    def __init__(self, discord: SimulatedDiscord, clock: Clock, *, rhythm: Rhythm, seed: int | None = None,
                 poll_seconds: float = 1.0) -> None:
        self.discord = discord
        self.rhythm = rhythm
        self._clock = clock
        self._random = random.Random(seed)
        self._latency_random = random.Random(None if seed is None else seed + 1)
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()  # tick() from the thread and from a test never interleave
        # The rhythm starts now: the first of each is due some way after it.
        now = clock()
        self._next_command = now + self._command_gap(now)
        self._next_reconnect = now + self._minutes(rhythm.reconnect_minutes)
        self._next_guild_change = now + self._minutes(rhythm.guild_change_minutes)
        self.commands_sent: Counter[str] = Counter()  # by command name
        self.reconnects = 0
        self.guild_changes = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        discord.ack_delay = self.heartbeat_ack_delay  # the server asks how late each ACK comes

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self, thread_name: str) -> None:
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failing = False
        while not self._stopping.wait(self._poll_seconds):
            try:
                self.tick()
                failing = False
            except Exception as error:  # the demo goes on; one line per spell of failures
                if not failing:
                    log.warning("simulated Discord: %s: %s", error.__class__.__name__, error)
                failing = True

    # --- what happens ---------------------------------------------------------------------------
    def heartbeat_ack_delay(self) -> float:
        """Seconds before a HEARTBEAT_ACK (called on the server's loop): the bot's measured latency."""
        low, high, mode = self.rhythm.latency_ms
        return self._latency_random.triangular(low, high, mode) / 1000

    def tick(self) -> int:
        """Do what fell due by the clock's now; return how many commands were sent."""
        with self._lock:
            now = self._clock()
            sent = 0
            for _ in range(MAX_CATCH_UP):
                if self._next_command > now:
                    break
                sent += self.send_command() is not None
                self._next_command += self._command_gap(self._next_command)
            if self._next_command <= now:
                self._next_command = now + self._command_gap(now)
            if self._next_reconnect <= now:
                self.discord.request_reconnect()
                self.reconnects += 1
                self._next_reconnect = now + self._minutes(self.rhythm.reconnect_minutes)
            if self._next_guild_change <= now:
                self.change_guilds()
                self._next_guild_change = now + self._minutes(self.rhythm.guild_change_minutes)
            return sent

    def send_command(self) -> str | None:
        """One slash command from a random member of a random guild; None before the bot synced any."""
        names = self.discord.synced_commands
        guild_ids = self.discord.guild_ids
        if not names or not guild_ids:
            return None
        name = self._random.choices(names, weights=[COMMAND_WEIGHTS.get(n, 1) for n in names])[0]
        guild_id = self._random.choice(guild_ids)
        members = self.discord.member_ids(guild_id)[1:]  # everyone but the bot itself
        self.discord.send_interaction(name, guild_id, self._random.choice(members) if members else None)
        self.commands_sent[name] += 1
        return name

    def change_guilds(self) -> None:
        """A guild joins or leaves, drifting around the rhythm's guild count."""
        guild_ids = self.discord.guild_ids
        drift = (len(guild_ids) - self.rhythm.guilds) / 10
        if len(guild_ids) <= 1 or self._random.random() > 0.5 + drift:
            self.discord.add_guild(self._random.randint(*self.rhythm.members))
        else:
            self.discord.remove_guild(self._random.choice(guild_ids))
        self.guild_changes += 1

    def _command_gap(self, moment: datetime) -> timedelta:
        # Even gaps, ±20 %: an hour then holds its rate give or take a few commands, as each seeded
        # hour does (aurora.demo.seed), so a few minutes of it already read like a full hour.
        mean_seconds = 60 / self.rhythm.commands_per_minute(moment)
        return timedelta(seconds=mean_seconds * self._random.uniform(0.8, 1.2))

    def _minutes(self, bounds: tuple[float, float]) -> timedelta:
        return timedelta(minutes=self._random.uniform(*bounds))

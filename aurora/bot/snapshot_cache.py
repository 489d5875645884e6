"""The hand-over point between the bot thread and the web side: latest snapshot, under a lock."""

from __future__ import annotations

import threading

from aurora.bot.snapshot import BotSnapshot, disabled_snapshot
from aurora.protocols import Clock


class SnapshotCache:
    """Thread-safe holder of the newest `BotSnapshot`.

    The bot thread calls `publish`; request threads call `latest`. Snapshots are frozen plain
    data, so handing out the same object to many readers is safe.
    """

    def __init__(self, clock: Clock, initial: BotSnapshot | None = None) -> None:
        self._lock = threading.Lock()
        # Stamped by the injected clock like every other moment: a wall-clock stamp here would
        # become the stats' `generatedAt` whenever it is later than the database result.
        self._snapshot = initial or disabled_snapshot(clock())
        self._version = 0

    def publish(self, snapshot: BotSnapshot) -> None:
        with self._lock:
            self._snapshot = snapshot
            self._version += 1

    def latest(self) -> tuple[int, BotSnapshot]:
        """The newest snapshot and a version number that changes with every publish."""
        with self._lock:
            return self._version, self._snapshot

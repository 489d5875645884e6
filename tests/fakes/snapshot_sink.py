"""For the tests of the bot's own parts (runner, cogs), which run a `BotRunner` without the web
side (conftest's `make_runner`): snapshots go to a `RecordingSink`, the slash commands get plain
callables, and command records go to a real `CommandRecorder` on the test's database.
"""

from __future__ import annotations

import threading

from aurora.bot.snapshot_cache import SnapshotCache
from aurora.demo.simulation.server import SimulatedDiscord

wait_for = SimulatedDiscord.wait_for


class RecordingSink(SnapshotCache):
    """Keeps every published snapshot; raises instead of publishing while `failing` is set."""

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.published = []
        self.failing = threading.Event()
        self._lock = threading.Lock()

    def publish(self, snapshot) -> None:
        if self.failing.is_set():
            raise RuntimeError("snapshot sink unavailable")
        with self._lock:
            self.published.append(snapshot)
        super().publish(snapshot)

    @property
    def statuses(self) -> list[str]:
        with self._lock:
            return [snapshot.status for snapshot in self.published]


def no_balance(_user_id: int) -> int | None:
    return None


def no_stats():
    raise AssertionError("this test sends no /stats")

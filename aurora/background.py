"""The threads Aurora runs beside the requests: the bot's (`aurora.bot_runner`), the stats schedule's
(`aurora.stats.refresh_schedule`) and the alert check's (`aurora.alerts.monitor`).

Daemon threads, so a process that exits never waits for one; each is named, since thread names are
what dumps, debuggers and the bot's one-per-token check (`aurora.bot_runner`) see.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class StoppableThread(threading.Thread):
    """A named daemon thread and the flag that asks it to stop (its work looks at `stopping`)."""

    def __init__(self, name: str, target: Callable[[], None] | None = None) -> None:
        super().__init__(target=target, name=name, daemon=True)
        self.stopping = threading.Event()

    @property
    def started(self) -> bool:
        return self.ident is not None

    def stop(self, timeout: float) -> None:
        """Ask the thread to stop and wait for it to end, at most `timeout` s. Asked from the thread
        itself (or before it started) there is nothing to wait for."""
        self.stopping.set()
        if self.started and self is not threading.current_thread():
            self.join(timeout)


class RepeatingThread(StoppableThread):
    """Runs `step` again and again until stopped. Between two steps it waits the seconds the step
    returned, or less when woken (`wake`, which never blocks: callers may hold their own locks)."""

    def __init__(self, name: str, step: Callable[[], float], *, first_wait: float = 0.0) -> None:
        super().__init__(name)
        self._step = step
        self._first_wait = first_wait
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float) -> None:
        self.stopping.set()
        self._wake.set()  # cuts the wait short: the loop looks at `stopping` right after it
        super().stop(timeout)

    def run(self) -> None:
        seconds = self._first_wait
        while True:
            self._wake.wait(seconds)
            self._wake.clear()
            if self.stopping.is_set():
                return
            seconds = self._step()

"""What the database refreshes did so far, and what follows from it: when the next attempt is due
(the interval, or the backoff after failures), whether the running one hangs, whether the figures
are stale. Plain bookkeeping, read and changed under the schedule's lock
(`aurora.stats.refresh_schedule`), which owns the threads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aurora.stats.model import DatabaseStats

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = timedelta(seconds=5)
RETRY_AFTER_FAILURE_CAP = timedelta(minutes=2)


@dataclass
class RefreshRecord:
    result: DatabaseStats | None = None
    last_error: str | None = None  # the last attempt's failure: what went wrong and the fix
    failures: int = 0  # consecutive failed attempts (a hung one included)
    failing_since: datetime | None = None  # when the first of those attempts started
    preparing: float | None = None  # the last attempt's progress when it made no figures yet
    refreshing: bool = False
    refresh_count: int = 0
    generation: int = 0
    last_attempt_at: datetime | None = None
    # When the first attempt since the last new result started: how long new figures are awaited.
    awaited_since: datetime | None = None

    def next_attempt_at(self, interval: timedelta) -> datetime:
        if self.last_attempt_at is None:
            return datetime.min.replace(tzinfo=UTC)
        if self.failures:
            first = min(interval, RETRY_AFTER_FAILURE)
            return self.last_attempt_at + min(RETRY_AFTER_FAILURE_CAP, first * 2 ** min(self.failures - 1, 16))
        if self.preparing is not None:
            return self.last_attempt_at
        return self.last_attempt_at + interval

    def hung(self, now: datetime, deadline: timedelta) -> bool:
        return self.refreshing and now - self.last_attempt_at > deadline

    def stale(self, now: datetime, deadline: timedelta, grace: timedelta) -> bool:
        """Late because refreshing failed: the last attempt failed or hangs, or new figures have been
        awaited for longer than `grace`."""
        overdue = self.awaited_since is not None and now - self.awaited_since > grace
        return self.failures > 0 or self.hung(now, deadline) or overdue

    def begin(self, now: datetime) -> int:
        """An attempt starts at `now`; its generation tells its outcome from a given-up one's."""
        self.refreshing = True
        self.generation += 1
        self.last_attempt_at = now
        if self.awaited_since is None:
            self.awaited_since = now
        return self.generation

    def give_up(self) -> None:
        """The running attempt hangs: it counts as failed and no longer blocks a new one."""
        self.refreshing = False
        self.failures += 1
        self.last_error = "the refresh timed out"
        self.failing_since = self.failing_since or self.last_attempt_at

    def finish(
        self, generation: int, result: DatabaseStats | None, error: str | None, progress: float | None, now: datetime
    ) -> None:
        """An attempt of `generation` ended (begun at `now`): figures, a failure, or progress only."""
        self.refresh_count += 1
        _log_change(self.last_error, error if generation == self.generation else self.last_error)
        newer = result is not None and (self.result is None or result.computed_at > self.result.computed_at)
        if self.result is None and (newer or (progress is not None and self.preparing is None)):
            log.info("first database figures %s", "ready" if newer else "being prepared (counted in pieces)")
        if newer:
            self.result = result
        if newer or (generation == self.generation and result is not None):
            self.awaited_since = None  # the figures are as new as the database can make them
        if generation == self.generation:
            self.refreshing = False
            self.failures = self.failures + 1 if error else 0
            self.last_error = error
            if error is None:
                self.failing_since = None
            elif self.failing_since is None:
                self.failing_since = now
            self.preparing = progress
        elif newer:
            self.failures = 0  # a given-up refresh came back after all
            self.failing_since = None


def _log_change(before: str | None, after: str | None) -> None:
    # One line per change of state, not per attempt: a database down for hours is one line.
    if after is not None and after != before:
        log.warning("stats refresh failed: %s (retrying with backoff)", after)
    elif after is None and before is not None:
        log.info("stats refresh succeeded again")

"""Discord's clock, read through the host's stopwatch (a monotonic clock) and the `Date` header of
Discord's answers.

Answer times are differences between Discord's moments (an interaction's id says when Discord
created it) and moments the bot saw, so both must be on Discord's clock. The app's clock cannot
carry them: it may be set anywhere (a test's moment, a host clock off by minutes) and may jump or
stand still while an answer is on its way. The stopwatch only moves forward at the rate of real
time, so Discord's time at a stopwatch reading is the reading plus an offset.

`Date` has whole seconds, and Discord wrote it somewhere between our request leaving and its answer
arriving, so each answer bounds the offset to an interval: [date - received, date + 1 s - sent].
The intersection of the intervals narrows with every answer; one that no longer overlaps means
Discord's clock moved, and starts the intersection afresh. The estimate is its middle.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class DiscordTime:
    def __init__(self) -> None:
        self._low: float | None = None
        self._high: float | None = None

    def observe(self, sent: float, received: float, date_header: str | None) -> None:
        """An answer that left at stopwatch reading `sent` and came back at `received`."""
        try:
            said = parsedate_to_datetime(date_header) if date_header else None
        except (TypeError, ValueError):
            said = None
        if said is None or said.tzinfo is None:
            return  # no usable Date: this answer tells nothing about the offset
        low, high = said.timestamp() - received, said.timestamp() + 1 - sent
        if self._low is None or self._high is None or low > self._high or high < self._low:
            self._low, self._high = low, high
        else:
            self._low, self._high = max(self._low, low), min(self._high, high)

    @property
    def known(self) -> bool:
        """Whether Discord has answered with a `Date` yet."""
        return self._low is not None

    def at(self, reading: float) -> datetime | None:
        """Discord's time at a stopwatch reading; None until Discord has answered once."""
        if self._low is None or self._high is None:
            return None
        return datetime.fromtimestamp(reading + self._low + (self._high - self._low) / 2, UTC)

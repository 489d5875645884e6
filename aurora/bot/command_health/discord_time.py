"""The host clock's offset from Discord's, measured from the `Date` header of Discord's answers.

`Date` has whole seconds, and Discord wrote it somewhere between our request leaving and its answer
arriving, so each answer bounds the offset to an interval: [date - received, date + 1 s - sent].
The intersection of the intervals narrows with every answer; one that no longer overlaps means a
clock moved, and starts the intersection afresh. The estimate is its middle.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

ONE_SECOND = timedelta(seconds=1)


class DiscordTime:
    def __init__(self) -> None:
        self._low: timedelta | None = None
        self._high: timedelta | None = None

    def observe(self, sent: datetime, received: datetime, date_header: str | None) -> None:
        try:
            said = parsedate_to_datetime(date_header) if date_header else None
        except (TypeError, ValueError):
            said = None
        if said is None or said.tzinfo is None:
            return  # no usable Date: this answer tells nothing about the offset
        low, high = said - received, said + ONE_SECOND - sent
        if self._low is None or self._high is None or low > self._high or high < self._low:
            self._low, self._high = low, high
        else:
            self._low, self._high = max(self._low, low), min(self._high, high)

    @property
    def offset(self) -> timedelta:
        """Discord's time minus ours (zero until Discord has answered once)."""
        if self._low is None or self._high is None:
            return timedelta(0)
        return self._low + (self._high - self._low) / 2

    def at(self, host_moment: datetime) -> datetime:
        """Discord's time at a moment of the host clock."""
        return host_moment + self.offset

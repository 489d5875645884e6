"""How the API and the page's address name one hour of the last 24, and what can go wrong asking for it.

Plain Python (no SQLAlchemy, no Dash), shared by the API route, the page's hour panel and the
queries (`aurora.queries.hours`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# An hour as the API and the page's address write it: on the hour, in UTC; seconds optional.
HOUR_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:00(:00)?Z$"
# Matched whole (no trailing newline, as `$` allows) and ASCII digits only (\d takes any Unicode digit).
_HOUR_FORMAT = re.compile(HOUR_PATTERN, flags=re.ASCII)
# The page's address holds the selected hour as `#hour=2026-11-28T14:00Z`.
HASH_PREFIX = "#hour="


class MalformedHour(ValueError):
    """Not an hour written as HOUR_PATTERN says."""


class HourOutOfRange(LookupError):
    """A well-formed hour that is not one of the last 24 (or no real moment, like February 30)."""


class BreakdownUnavailable(RuntimeError):
    """The database did not answer for the breakdown."""


def parse_hour(text: str) -> datetime:
    """The UTC hour `text` names; MalformedHour or HourOutOfRange otherwise."""
    if not _HOUR_FORMAT.fullmatch(text):
        raise MalformedHour("an hour is written like 2026-11-28T14:00:00Z (UTC, on the hour)")
    try:
        return datetime.strptime(text[:13], "%Y-%m-%dT%H").replace(tzinfo=UTC)
    except ValueError:
        raise HourOutOfRange(f"{text} is not a moment of the calendar") from None


def hour_hash(hour: datetime) -> str:
    """The page address's fragment selecting `hour`."""
    return f"{HASH_PREFIX}{hour.astimezone(UTC):%Y-%m-%dT%H:00Z}"


def hour_of_hash(fragment: str | None) -> datetime | None:
    """The hour a page address's fragment selects; None when it selects none (or nothing sensible)."""
    if not fragment or not fragment.startswith(HASH_PREFIX):
        return None
    try:
        return parse_hour(fragment.removeprefix(HASH_PREFIX))
    except (MalformedHour, HourOutOfRange):
        return None

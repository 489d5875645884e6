"""The viewer's time zone: the page shows times in the browser's zone unless the viewer chose UTC.

The browser says its zone (an IANA name, from `Intl`, in assets/day.js); the choice is kept in the
browser's local storage. Anything the server cannot use as a zone means UTC. The hours themselves
stay UTC hours: in a zone whose offset is not whole hours, each bar starts at that many minutes; on
a day the clocks change, each hour keeps its own offset and abbreviation (two hours may both start at
02:00 local time: "02:00 CEST" and "02:00 CET").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

LOCAL_CHOICE = "local"
UTC_CHOICE = "utc"
LONGEST_ZONE_NAME = 64


@dataclass(frozen=True)
class ViewZone:
    zone: tzinfo
    name: str  # "UTC" or the browser's IANA name

    def shown(self, moment: datetime) -> tuple[datetime, str]:
        """`moment` as the page shows it, with its abbreviation ("UTC", or the zone's short name then,
        e.g. "CET", "IST"). Within a day of 0001-01-01 or 9999-12-31 a zone's time may be no date
        Python holds: such a moment is shown in UTC (said by its abbreviation), never an error."""
        for zone in (self.zone, UTC):
            try:
                local = moment.astimezone(zone)
            except OverflowError:
                continue
            return local, ("UTC" if zone is UTC else local.strftime("%Z") or self.name)
        return moment, moment.tzname() or "UTC"  # not even UTC holds it: in its own offset

    def local(self, moment: datetime) -> datetime:
        return self.shown(moment)[0]

    def abbreviation(self, moment: datetime) -> str:
        return self.shown(moment)[1]

    def clock_label(self, moment: datetime) -> str:
        """A time with its own abbreviation: "02:00 CEST" and "02:00 CET" on the night clocks go back."""
        local, abbreviation = self.shown(moment)
        return f"{local:%H:%M} {abbreviation}"

    def hour_labels(self, hours: list[datetime]) -> list[str]:
        """Each hour's local time, with its abbreviation where the same time shows twice among `hours`
        (the hour repeated when clocks go back), so that no two labels read alike."""
        times = [f"{self.local(hour):%H:%M}" for hour in hours]
        return [
            self.clock_label(hour) if times.count(time) > 1 else time for hour, time in zip(hours, times, strict=True)
        ]

    def abbreviations(self, hours: list[datetime]) -> str:
        """The abbreviations `hours` are shown in, in order: "CET", or "CEST, then CET" across a change."""
        seen = list(dict.fromkeys(self.abbreviation(hour) for hour in hours)) or ["UTC"]
        return ", then ".join(seen)

    def offset_text(self, moment: datetime) -> str:
        offset = self.local(moment).utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        sign = "+" if minutes >= 0 else "-"
        return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def offset_note(self, moment: datetime) -> str:
        """Said under the chart when the offset is not whole hours (the bars are UTC hours)."""
        offset = self.local(moment).utcoffset()
        minutes = int(offset.total_seconds() // 60) % 60 if offset is not None else 0
        if not minutes:
            return ""
        return (
            f"Bars are UTC hours: in {self.name} ({self.offset_text(moment)}) each one starts at "
            f":{minutes:02d} local time."
        )


UTC_VIEW = ViewZone(UTC, "UTC")


def calendar_date(moment: datetime) -> str:
    """The date with a four-digit year ("0001-01-01", where strftime's %Y says "1")."""
    return f"{moment.year:04d}-{moment:%m-%d}"


@cache
def known_zones() -> frozenset[str]:
    """The IANA names the server has: only these are opened (a tzdata folder such as "Europe", or a
    file that is no zone, would fail in ZoneInfo with an OSError). Read once, on first use."""
    return frozenset(available_timezones())


def view_zone(choice: str | None, browser: dict | None) -> ViewZone:
    """The zone to show times in: the browser's, unless UTC was chosen or the browser's is unusable."""
    if choice == UTC_CHOICE or not isinstance(browser, dict):
        return UTC_VIEW
    name = browser.get("zone")
    if not isinstance(name, str) or len(name) > LONGEST_ZONE_NAME or name not in known_zones():
        return UTC_VIEW
    return named_view(name)


@cache
def named_view(name: str) -> ViewZone:
    """The view of a known zone, made once: ZoneInfo keeps only a few zones it opened, and a page
    request would otherwise read the zone's file again (bounded by `known_zones`)."""
    return ViewZone(ZoneInfo(name), name)

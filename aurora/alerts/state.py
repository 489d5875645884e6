"""When a condition starts and clears: each condition alerts once when it has held for its
threshold duration and once when it clears, and starts again no sooner than `COOLDOWN` after its
last start (a flapping condition sends a start and a recovery per cooldown at most).

The state is plain data (`to_plain` / `from_plain`) so that, with Redis, it is kept there and a
restarted or another web process carries on without sending anything twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from aurora.stats.model import ALERT_CONDITIONS, RESOLVED_SHOWN, AlertCondition, AlertRecord

COOLDOWN = timedelta(minutes=15)


@dataclass(frozen=True)
class AlertEvent:
    kind: Literal["started", "resolved"]
    condition: AlertCondition
    since: datetime
    at: datetime
    figure: str = ""


@dataclass
class _Track:
    pending_since: datetime | None = None  # the condition has held since then
    alerted_since: datetime | None = None  # a start was sent for the spell that began then
    last_started_at: datetime | None = None  # when the last start was sent (for the cooldown)


def _moment(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


def _text(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass
class AlertLedger:
    tracks: dict[AlertCondition, _Track] = field(
        default_factory=lambda: {name: _Track() for name in ALERT_CONDITIONS}
    )
    resolved: list[AlertRecord] = field(default_factory=list)  # newest first

    def step(
        self,
        now: datetime,
        holding: Mapping[AlertCondition, str],
        hold: Callable[[AlertCondition], timedelta],
    ) -> list[AlertEvent]:
        """Move every condition on to `now`, given those `holding` (with their figures); the
        messages to send."""
        events = []
        for condition, track in self.tracks.items():
            if condition in holding:
                track.pending_since = track.pending_since or now
                cooled = track.last_started_at is None or now - track.last_started_at >= COOLDOWN
                if track.alerted_since is None and now - track.pending_since >= hold(condition) and cooled:
                    track.alerted_since, track.last_started_at = track.pending_since, now
                    events.append(
                        AlertEvent("started", condition, track.pending_since, now, holding[condition])
                    )
                continue
            if track.alerted_since is not None:
                events.append(AlertEvent("resolved", condition, track.alerted_since, now))
                self.resolved.insert(0, AlertRecord(condition, track.alerted_since, now))
                del self.resolved[RESOLVED_SHOWN:]
            track.pending_since = track.alerted_since = None
        return events

    def records(self) -> tuple[AlertRecord, ...]:
        """The active alerts (oldest first), then the last few resolved ones (newest first)."""
        active = sorted(
            (
                AlertRecord(name, track.alerted_since)
                for name, track in self.tracks.items()
                if track.alerted_since
            ),
            key=lambda record: record.since,
        )
        return (*active, *self.resolved)

    def to_plain(self) -> dict:
        return {
            "conditions": {
                name: [_text(track.pending_since), _text(track.alerted_since), _text(track.last_started_at)]
                for name, track in self.tracks.items()
            },
            "resolved": [
                [record.condition, _text(record.since), _text(record.resolved_at)] for record in self.resolved
            ],
        }

    @classmethod
    def from_plain(cls, plain: Mapping | None) -> AlertLedger:
        ledger = cls()
        if not plain:
            return ledger
        for name, moments in plain.get("conditions", {}).items():
            if name in ledger.tracks:
                ledger.tracks[name] = _Track(*(_moment(raw) for raw in moments))
        ledger.resolved = [
            AlertRecord(name, _moment(since), _moment(resolved))
            for name, since, resolved in plain.get("resolved", [])
            if name in ledger.tracks
        ][:RESOLVED_SHOWN]
        return ledger

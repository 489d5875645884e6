"""The last 24 h of bot health in 5-minute slots (`aurora.bot.command_health.slots`): bounded by
slots x names x buckets, whatever the traffic (288 slots; names from the registered set and the
kinds of component).

Plain Python, fed on the bot's loop. Alongside the slots it keeps what changed since the last
`take_unsaved()`, so a store (Redis) can add just that, and the since-start histograms /metrics
reads.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from aurora.bot.command_health import histogram
from aurora.bot.command_health.figures import (
    CommandHealth,
    CommandTiming,
    GatewayHealth,
    HealthHour,
    InteractionKind,
    LifetimeHistogram,
)
from aurora.bot.command_health.slots import (
    GATEWAY_FIELDS,
    HOUR_SLOTS,
    RECENT_SLOTS,
    SLOTS_KEPT,
    Counts,
    Run,
    SlotData,
    slot_of,
    slot_start,
)


class HealthWindow:
    def __init__(self, started: datetime) -> None:
        self.since = started
        self.kinds: dict[str, InteractionKind] = {}
        self._slots: dict[int, SlotData] = {}
        self._unsaved: dict[int, SlotData] = {}
        self._lifetime: dict[str, tuple[list[int], list[float]]] = {}
        self._late_total = 0
        self._connected_at: datetime | None = None
        # The connected share counts from the first connection: logging in is not time disconnected.
        self._first_connected: datetime | None = None
        self._merges = 0
        self._closed: tuple[tuple[int, int], dict[str, Counts], list[Counts]] | None = None

    # --- feeding --------------------------------------------------------------------------------
    def _both(self, slot: int) -> tuple[SlotData, SlotData]:
        return self._slots.setdefault(slot, SlotData()), self._unsaved.setdefault(slot, SlotData())

    def add_run(self, now: datetime, run: Run) -> None:
        self.kinds[run.name] = run.kind
        for data in self._both(slot_of(now)):
            data.counts(run.name).add_run(run)
        buckets, total = self._lifetime.setdefault(run.name, ([0] * histogram.BUCKETS, [0.0]))
        buckets[histogram.bucket_of(run.end_ms)] += 1
        total[0] += run.end_ms / 1000
        self._late_total += run.late
        self._prune(now)

    def count(self, now: datetime, what: str, amount: int = 1) -> None:
        """Add to a gateway figure (`GATEWAY_FIELDS`) in the current slot."""
        for data in self._both(slot_of(now)):
            data.gateway[what] += amount

    def connected(self, now: datetime) -> None:
        self.settle(now)
        if self._connected_at is None:
            self._connected_at = now
        if self._first_connected is None:
            self._first_connected = now

    def disconnected(self, now: datetime) -> None:
        self.settle(now)
        self._connected_at = None

    def settle(self, now: datetime) -> None:
        """Book the connected time up to `now`, slot by slot."""
        start = self._connected_at
        if start is None:
            return
        self._connected_at = now
        while start < now:
            slot = slot_of(start)
            end = min(now, slot_start(slot + 1))
            self.count(start, "connected_ms", int((end - start).total_seconds() * 1000))
            start = end
        self._prune(now)

    def merge(self, slot: int, data: SlotData, kinds: dict[str, InteractionKind]) -> None:
        """Add slots kept elsewhere (Redis, from before a restart)."""
        self._slots.setdefault(slot, SlotData()).add(data)
        self._merges += 1
        for name, kind in kinds.items():
            self.kinds.setdefault(name, kind)

    def take_unsaved(self) -> dict[int, SlotData]:
        unsaved, self._unsaved = self._unsaved, {}
        return unsaved

    def give_back(self, unsaved: dict[int, SlotData], now: datetime) -> None:
        """What a store could not take: kept for the next try (still bounded to the window)."""
        for slot, data in unsaved.items():
            self._unsaved.setdefault(slot, SlotData()).add(data)
        self._prune(now)

    def _prune(self, now: datetime) -> None:
        oldest = slot_of(now) - SLOTS_KEPT + 1
        for slots in (self._slots, self._unsaved):
            for slot in [slot for slot in slots if slot < oldest]:
                del slots[slot]

    # --- reading --------------------------------------------------------------------------------
    def _tally(self, slots: range, first_hour_slot: int) -> tuple[dict[str, Counts], list[Counts]]:
        """The slots' counts per command and per hour of the line (24, the first at `first_hour_slot`)."""
        totals: dict[str, Counts] = defaultdict(Counts)
        hours = [Counts() for _ in range(24)]
        for slot in slots:
            if (data := self._slots.get(slot)) is None:
                continue
            hour = (slot - first_hour_slot) // HOUR_SLOTS
            for name, counts in data.commands.items():
                totals[name].add(counts)
                if 0 <= hour < len(hours):
                    hours[hour].add(counts)
        return totals, hours

    def _closed_tally(self, current: int, first_hour_slot: int) -> tuple[dict[str, Counts], list[Counts]]:
        # Runs only ever land in the current slot, so the closed slots' tally holds until the slot
        # turns or slots are merged in: a snapshot adds just the current slot to it.
        key = (current, self._merges)
        if self._closed is None or self._closed[0] != key:
            self._closed = (key, *self._tally(range(current - SLOTS_KEPT + 1, current), first_hour_slot))
        _, totals, hours = self._closed
        return {name: Counts().added(counts) for name, counts in totals.items()}, [Counts().added(c) for c in hours]

    def summary(self, now: datetime) -> CommandHealth:
        self.settle(now)
        self._prune(now)
        current = slot_of(now)
        window = range(current - SLOTS_KEPT + 1, current + 1)
        this_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        hour_starts = [this_hour - timedelta(hours=back) for back in range(23, -1, -1)]
        first_hour_slot = slot_of(hour_starts[0])
        totals, hours = self._closed_tally(current, first_hour_slot)
        now_totals, now_hours = self._tally(range(current, current + 1), first_hour_slot)
        for name, counts in now_totals.items():
            totals.setdefault(name, Counts()).add(counts)
        for hour, counts in zip(hours, now_hours, strict=True):
            hour.add(counts)
        recent, _ = self._tally(range(current - RECENT_SLOTS + 1, current + 1), first_hour_slot)
        last_hour, _ = self._tally(range(current - HOUR_SLOTS + 1, current + 1), first_hour_slot)
        late_last_hour = sum(counts.late for counts in last_hour.values())
        rows = [
            CommandTiming(
                name=name, kind=self.kinds.get(name, "slash"), runs=counts.runs, failures=counts.failures,
                late=counts.late, p50_ms=histogram.percentile(counts.durations, 50),
                p95_ms=histogram.percentile(counts.durations, 95), p99_ms=histogram.percentile(counts.durations, 99),
                ack_p95_ms=histogram.percentile(counts.acks, 95),
                recent_runs=recent[name].runs if name in recent else 0,
                recent_p95_ms=histogram.percentile(recent[name].durations, 95) if name in recent else None,
            )
            for name, counts in sorted(totals.items())
        ]
        since = max(self.since, slot_start(window.start))
        return CommandHealth(
            since=since,
            commands=tuple(rows),
            hours=tuple(
                HealthHour(start, total.runs, histogram.percentile(total.durations, 95), total.late)
                for start, total in zip(hour_starts, hours, strict=True)
            ),
            late_last_hour=late_last_hour,
            late_total=self._late_total,
            lifetime=tuple(
                LifetimeHistogram(name, tuple(buckets), total[0]) for name, (buckets, total) in sorted(self._lifetime.items())
            ),
            gateway=self._gateway(window, self._observed(since, now)),
        )

    def _observed(self, since: datetime, now: datetime) -> timedelta | None:
        """The time the connected share is a share of: since the window began when it holds slots
        from before a restart (the restart's gap was time disconnected), else since this process
        first connected; None before anything is known."""
        if self._merges:
            return now - since
        if self._first_connected is None:
            return None
        return now - max(since, self._first_connected)

    def _gateway(self, window: range, observed: timedelta | None) -> GatewayHealth:
        totals = dict.fromkeys(GATEWAY_FIELDS, 0)
        for slot in window:
            if (data := self._slots.get(slot)) is not None:
                for name, value in data.gateway.items():
                    totals[name] = totals.get(name, 0) + value
        observed_ms = observed.total_seconds() * 1000 if observed is not None else 0
        share = min(1.0, totals["connected_ms"] / observed_ms) if observed_ms > 0 else None
        return GatewayHealth(
            guilds_joined=totals["guilds_joined"], guilds_left=totals["guilds_left"],
            reconnects=totals["reconnects"], resumes=totals["resumes"], connected_share=share,
        )

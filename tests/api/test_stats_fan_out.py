"""The live streams' one fan-out: a new version reaches every open stream at the same moment, at
most once per gap, whatever moment each stream was opened at."""

from __future__ import annotations

import asyncio
import time

from aurora.api.stream import StatsFanOut
from tests.support import run_in_own_loop


class ChangingStats:
    """A stats service whose JSON the test changes by hand."""

    def __init__(self) -> None:
        self.body = b'{"version": "a"}'

    def current_with_json(self, wait_for_first: bool = True):
        return None, self.body


async def first_stats_event(events, loop) -> float:
    async for chunk in events:
        if chunk.startswith(b"id:") or b"event: stats" in chunk:
            return loop.time()
    raise AssertionError("the stream ended")


def test_a_version_soon_after_another_reaches_every_stream_at_once():
    async def scenario() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        service = ChangingStats()
        fan_out = StatsFanOut(service, poll_seconds=0.02, min_gap_seconds=0.6)
        options = {"heartbeat_seconds": 60, "max_seconds": 60}
        early = fan_out.events(last_event_id=None, **options)
        await first_stats_event(early, loop)  # version a, at once
        published_a = loop.time()
        await asyncio.sleep(0.1)
        service.body = b'{"version": "b"}'  # soon after a: held until the gap has passed
        await asyncio.sleep(0.2)
        late = fan_out.events(last_event_id=None, **options)
        await first_stats_event(late, loop)  # version a, at once, 0.3 s into the gap
        early_b, late_b = await asyncio.gather(first_stats_event(early, loop), first_stats_event(late, loop))
        await early.aclose()
        await late.aclose()
        fan_out.close()
        return published_a, early_b, late_b

    published_a, early_b, late_b = run_in_own_loop(scenario())
    assert early_b - published_a >= 0.55  # the gap holds
    assert abs(early_b - late_b) < 0.15  # one moment for both (a gap per stream would put 0.3 s between)


def test_a_new_version_is_prepared_before_it_is_announced_and_a_failure_holds_nothing():
    async def scenario() -> tuple[list[tuple[str, bytes]], list[bytes]]:
        loop = asyncio.get_running_loop()
        service = ChangingStats()
        seen: list[tuple[str, bytes]] = []

        def prepare() -> None:
            seen.append(("prepared", service.body))
            time.sleep(0.2)
            if service.body == b'{"version": "c"}':
                raise RuntimeError("a render failed")

        fan_out = StatsFanOut(service, poll_seconds=0.02, prepare=prepare)
        events = fan_out.events(last_event_id=None, heartbeat_seconds=60, max_seconds=60)
        announced = []
        await first_stats_event(events, loop)  # version a: shown already by a page that opens its stream
        announced.append(service.body)
        for version in (b'{"version": "b"}', b'{"version": "c"}'):
            service.body = version
            await first_stats_event(events, loop)
            seen.append(("announced", version))
            announced.append(version)
        await events.aclose()
        fan_out.close()
        return seen, announced

    seen, announced = run_in_own_loop(scenario())
    assert seen == [("prepared", b'{"version": "b"}'), ("announced", b'{"version": "b"}'),
                    ("prepared", b'{"version": "c"}'), ("announced", b'{"version": "c"}')]
    assert announced == [b'{"version": "a"}', b'{"version": "b"}', b'{"version": "c"}']

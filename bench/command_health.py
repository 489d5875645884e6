"""What measuring bot health costs the bot's loop, side by side with what it already does per
interaction and per snapshot:

    python -m bench.command_health --runs 200000

- per interaction: the tracker and the 24-h window (received, ack out, ack answered, finished),
  against parsing the INTERACTION_CREATE frame's JSON (which discord.py does for every one anyway);
- per snapshot: the window's summary with all 288 slots filled for 10 commands (the first in a
  5-minute slot tallies the closed slots, the later ones reuse that tally), against encoding the
  rest of the bot snapshot for Redis.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta

from discord.utils import time_snowflake

from aurora.bot.command_health.tracker import InteractionTracker
from aurora.bot.command_health.window import HealthWindow
from aurora.bot.snapshot import BotSnapshot
from aurora.demo.simulation.payloads import Shapes, frame, interaction
from aurora.scaleout import codec
from bench.common import Result, format_table

START = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = [f"command{n}" for n in range(10)]


class SteppingClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def per_interaction_us(runs: int) -> float:
    clock = SteppingClock()
    tracker = InteractionTracker(HealthWindow(clock()), clock)
    started = time.perf_counter()
    for n in range(runs):
        iid = time_snowflake(clock.now) + n % 4096
        tracker.received(iid, NAMES[n % 10], "slash")
        tracker.ack_leaving(iid)
        tracker.ack_answered(iid, 200)
        tracker.finished(iid, failed=False)
        clock.now += timedelta(milliseconds=900)  # 200,000 runs span two days
    return (time.perf_counter() - started) / runs * 1e6


def interaction_frame_us(runs: int) -> float:
    """The anchor: parsing the INTERACTION_CREATE frame, which discord.py does for every interaction."""
    shapes = Shapes(1, 2, "bench")
    data = interaction(3, "t" * 32, 2, 4, "ping", None)
    data.update(guild_id="5", member={**shapes.member(6), "permissions": "0"}, channel_id="7")
    raw = frame(0, data, 9, "INTERACTION_CREATE")
    started = time.perf_counter()
    for _ in range(runs):
        json.loads(raw)
    return (time.perf_counter() - started) / runs * 1e6


def summary_ms(repeats: int) -> tuple[float, float, float]:
    clock = SteppingClock()
    window = HealthWindow(clock())
    tracker = InteractionTracker(window, clock)
    for n in range(288 * 20):  # 20 runs per slot over 24 h, spread over the 10 names
        iid = time_snowflake(clock.now) + n % 4096
        tracker.received(iid, NAMES[n % 10], "slash")
        tracker.finished(iid, failed=n % 30 == 0)
        clock.now += timedelta(seconds=15)
    started = time.perf_counter()
    health = window.summary(clock())  # the first in a slot tallies the closed slots
    first = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    for _ in range(repeats):
        health = window.summary(clock())
    ours = (time.perf_counter() - started) / repeats * 1000
    snapshot = BotSnapshot(status="connected", taken_at=clock(), guild_count=36, user_count=900)
    started = time.perf_counter()
    for _ in range(repeats):
        codec.dumps(snapshot)
    anchor = (time.perf_counter() - started) / repeats * 1000
    assert len(health.commands) == len(NAMES)
    return first, ours, anchor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    first, summary, encode = summary_ms(args.repeats)
    print(format_table([
        Result("per interaction: tracker + window vs parsing its gateway frame", per_interaction_us(args.runs),
               interaction_frame_us(args.runs), "us", ""),
        Result("first snapshot in a 5-min slot: 24-h summary vs encoding a snapshot", first, encode, "ms", ""),
        Result("later snapshots in the slot: 24-h summary vs encoding a snapshot", summary, encode, "ms", ""),
    ]))


if __name__ == "__main__":
    main()

"""How long the simulated Discord takes to answer, so the demo's bot health looks like a real bot's:
most answers quick, the follow-up of a deferred command (the slow one: `/stats`) slower, a rare
answer refused with a 500, and now and then an interaction that reached the bot late (the gateway
held it), whose answer then comes after Discord's 3 seconds and is refused with 10062.

Seeded, so a demo replays the same; `SimulatedDiscord` without one answers at once and never fails.
"""

from __future__ import annotations

import random


class AnswerTimes:
    def __init__(self, seed: int | None = None, *, late_share: float = 0.01, failure_share: float = 0.01) -> None:
        self._random = random.Random(seed)
        self._late_share = late_share
        self._failure_share = failure_share

    def callback_delay(self) -> float:
        """Seconds before Discord answers an interaction callback (the ack): tens of ms, a long tail."""
        return min(self._random.lognormvariate(-2.9, 0.6), 1.5)

    def followup_delay(self) -> float:
        """Seconds before a follow-up (the deferred answer) is taken: what makes `/stats` the slow one."""
        return min(self._random.lognormvariate(-0.4, 0.5), 4.0)

    def callback_fails(self) -> bool:
        return self._random.random() < self._failure_share

    def delivery_age(self) -> float:
        """How old an interaction already is when the bot receives it: 0, or late enough to miss 3 s."""
        return self._random.uniform(3.1, 3.6) if self._random.random() < self._late_share else 0.0

"""The demo's one daily rhythm: how many commands an hour the seeded history holds and the simulated
Discord sends live. Both read it from here, so the current hour of a demo sits among its earlier
days instead of towering over them."""

from __future__ import annotations

import math
from datetime import datetime

# Commands in an hour at the daily peak (around 19:00 UTC), before any growth. Every day of the week
# alike: with busier weekends a Saturday would stand out against the week before it.
PEAK_SCALE = 70.0
# The history grows slowly towards today: a day further back holds 0.4 % fewer commands.
GROWTH_PER_DAY = 0.004


def daily_factor(moment: datetime) -> float:
    """0.1 around 07:00 UTC up to 1.0 around 19:00 UTC, constant within each UTC hour."""
    return 0.55 + 0.45 * math.sin((moment.hour - 13) / 24 * 2 * math.pi)


def commands_per_hour(moment: datetime, now: datetime) -> float:
    """The mean number of commands in the UTC hour of `moment`, as seen from `now`."""
    growth = 1.0 - GROWTH_PER_DAY * max(0, (now - moment).days)
    return PEAK_SCALE * daily_factor(moment) * growth

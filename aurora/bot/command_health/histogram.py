"""Fixed duration buckets (ms) and percentiles read from their counts.

A bucket's samples are taken as spread evenly across it, and a percentile is interpolated between
the two ranks around it as numpy's default ("linear") does, so an estimate is off by at most the
width of the bucket its neighbours fall in. Beyond the last bound, the overflow bucket answers
with the last bound.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Sequence

# Upper edges; fine where the 3-second limit and the usual answers are, coarse beyond.
BOUNDS_MS: tuple[float, ...] = (
    25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 2500, 3000, 4000, 5000,
    7500, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 900_000,
)
BUCKETS = len(BOUNDS_MS) + 1  # the last one holds anything beyond the last bound


def bucket_of(ms: float) -> int:
    return bisect.bisect_left(BOUNDS_MS, max(ms, 0.0))


def edges(bucket: int) -> tuple[float, float]:
    lower = BOUNDS_MS[bucket - 1] if bucket > 0 else 0.0
    upper = BOUNDS_MS[bucket] if bucket < len(BOUNDS_MS) else lower
    return lower, upper


def _sample_at(counts: Sequence[int], rank: int) -> float:
    """Where the rank-th smallest sample (0-based) sits if each bucket's samples are spread evenly."""
    seen = 0
    for bucket, count in enumerate(counts):
        if rank < seen + count:
            lower, upper = edges(bucket)
            return lower + (upper - lower) * (rank - seen + 0.5) / count
        seen += count
    raise IndexError(rank)


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The q-th percentile (0-100) of the samples behind `counts`; None without samples."""
    total = sum(counts)
    if total == 0:
        return None
    position = (total - 1) * q / 100
    below = int(position)
    low = _sample_at(counts, below)
    if below + 1 >= total:
        return low
    return low + (_sample_at(counts, below + 1) - low) * (position - below)


def add_into(target: list[int], counts: Sequence[int]) -> None:
    target[:] = map(operator.add, target, counts)  # in C: summaries add thousands of these

"""Read-only, parameterised queries. Each takes a connection and `now` and returns plain values.

Every time range here is half-open, `[low, high)`; a closed bound like "created_at <= now" is
written as "< now + 1 µs" (timestamps have microsecond resolution). See `aurora.db` for why.
"""

from datetime import timedelta

MICROSECOND = timedelta(microseconds=1)

"""Read-only, parameterised queries. Each takes a connection and `now` and returns plain values.

- `figure_definitions`: what each database figure counts (rows, time windows, list sizes) and the
  one pandas gridding of the hourly activity series, shared by both ways of computing the stats;
- `counts`, `activity`: the reference definitions, plain statements over whole windows, which the
  tests and the bench check the incremental stats (`aurora.queries.aggregates`, what the app runs) against;
- `aggregates`, `ledger`, `hour_tallies`, `user_counts`: the incremental stats the app runs (hours
  kept, new rows by id, the reconcile spread over ten minutes);
- `bounded_counts`, `hourly_counts`: counting in statements of bounded size, for the incremental stats;
- `day_glance`, `day_glance_figures`, `hour_kinds`, `hours`: the day at a glance and one hour's breakdown;
- `events`: the recent events (one small statement, used as it is by both); `balances`: /balance.

Every time range here is half-open, `[low, high)`; a closed bound like "created_at <= now" is
written as "< now + 1 µs" (timestamps have microsecond resolution). See `aurora.storage.tables` for why.
"""

from datetime import timedelta

MICROSECOND = timedelta(microseconds=1)

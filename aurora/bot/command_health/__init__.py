"""Bot health as the bot measures it: how long each interaction took to be answered and finished,
which failed, which Discord saw answered too late, and how the gateway connection fared.

- `figures`: the frozen values that travel in the bot snapshot.
- `histogram`: fixed duration buckets and the percentiles read from them.
- `slots`: what one 5-minute slot holds, and one finished interaction (`Run`).
- `window`: the slots over a rolling 24 h (bounded), summed into `figures`.
- `discord_time`: Discord's clock read through the host's stopwatch, from the `Date` of its answers.
- `tracker`: one interaction from its creation to its answer and its end, counted once.
- `redis_window`: the window kept in Redis so a restart keeps it.
- `process`: the bot process's memory and CPU share.
- `monitor`: these parts in one object, as the bot and its cogs hold them.
- `exposition`: the durations and late answers for /metrics.
"""

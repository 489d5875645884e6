"""Alerts to a Discord webhook when the bot or the data goes wrong, and when it recovers.

`conditions` turns the figures the dashboard already has into the conditions that hold now;
`state` decides when a condition starts and clears (after its threshold duration, with a
cooldown); `messages` builds the Discord embeds; `sender` delivers them from a background
thread; `store` keeps the state (and picks the one sender) in memory or in Redis; `monitor` runs
the whole on every stats refresh; `board` is what the page and the API show.
"""

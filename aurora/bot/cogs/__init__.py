"""The bot's cogs: each one a concern of `AuroraBot`, added in its `setup_hook`.

- `presence`: connection and guild events, and the snapshot ticker (what the dashboard shows).
- `commands`: every completed command recorded, failures counted and answered.

The slash commands themselves are the `AuroraCommands` cog in `aurora.bot.cogs.slash_commands`.
"""

"""The bot's cogs: each one a concern of `AuroraBot`, added in its `setup_hook`.

- `presence`: connection and guild events, and the snapshot ticker (what the dashboard shows).
- `command_log`: every completed command recorded, failures counted and answered.
- `health`: bot health measured where it happens (interactions, the gateway's connection).

`host` names what the cogs use of the bot, so that they need not import `AuroraBot` back.

The slash commands themselves are the `AuroraCommands` cog in `aurora.bot.cogs.slash_commands`.
"""

"""The Discord bot: the `AuroraBot` client, its cogs, what it knows of itself, the records it writes and the
snapshot it hands to the web side."""

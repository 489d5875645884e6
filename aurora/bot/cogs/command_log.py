"""What became of each command: completions recorded, failures counted and answered.

Every completed command (slash or prefixed) becomes a `COMMAND_RUN` row through the
`CommandRecorder` (which only queues on this loop; its own thread writes) and moves the bot's
last-command time. A failed slash command is counted per name and, unless it already answered
(or Discord refuses any answer now), told "Sorry" instead of leaving Discord's "the application did
not respond"; bot health (`aurora.bot.cogs.health`) hears of every failure.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from aurora.bot.cogs.host import CogHost
from aurora.bot.command_record import CommandRecord
from aurora.bot.recorder import CommandRecorder

log = logging.getLogger(__name__)

# Discord's codes for an answer it refuses, and what each means for the bot's admin.
ANSWER_REFUSED = {
    10062: "answered too late: Discord had already told the user the interaction failed (10062)",
    40060: "answered twice: the interaction was already acknowledged (40060)",
}


class CommandLog(commands.Cog):
    def __init__(self, bot: CogHost, recorder: CommandRecorder) -> None:
        self.bot = bot
        self.recorder = recorder
        self._previous_tree_error = None

    # The tree has one error handler, not a listener list: take it while loaded, give it back after.
    async def cog_load(self) -> None:
        self._previous_tree_error = self.bot.tree.on_error
        self.bot.tree.on_error = self.on_tree_error

    async def cog_unload(self) -> None:
        self.bot.tree.on_error = self._previous_tree_error

    def _record(self, command_name: str, user_id: int) -> None:
        now = self.bot.clock()
        self.bot.state.command_completed(now)
        self.recorder.record(CommandRecord(command_name=command_name, invoker_id=user_id, ran_at=now))

    @commands.Cog.listener()
    async def on_app_command_completion(
        self, interaction: discord.Interaction, command: app_commands.Command | app_commands.ContextMenu
    ) -> None:
        self._record(command.qualified_name, interaction.user.id)

    @commands.Cog.listener()
    async def on_command_completion(self, context: commands.Context) -> None:
        self._record(context.command.qualified_name, context.author.id)

    @commands.Cog.listener()
    async def on_command_error(self, context: commands.Context, _error: commands.CommandError) -> None:
        if context.command is not None:
            self.bot.state.command_failed(context.command.qualified_name)

    async def on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        name = interaction.command.qualified_name if interaction.command else "unknown"
        self.bot.state.command_failed(name)
        cause = getattr(error, "original", error)
        if isinstance(cause, discord.HTTPException) and cause.code in ANSWER_REFUSED:
            # Discord no longer takes an answer to this interaction: saying "Sorry" would fail the same way.
            log.warning("command /%s: %s", name, ANSWER_REFUSED[cause.code])
        else:
            log.warning("command /%s failed: %s", name, error.__class__.__name__)
            if not interaction.response.is_done():
                try:
                    await interaction.response.send_message("Sorry, that command failed.", ephemeral=True)
                except discord.HTTPException as answer_error:
                    log.warning("command /%s: the failure could not be answered (HTTP %s)", name, answer_error.status)
        self.bot.health.tracker.finished(interaction.id, failed=True)

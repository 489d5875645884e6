"""One completed command as the bot records it: what the recorder writes and the spool keeps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CommandRecord:
    command_name: str
    invoker_id: int | None
    ran_at: datetime
    # Kept from a commit that got no answer: the row may exist already (`aurora.bot.recorder`).
    uncertain: bool = False

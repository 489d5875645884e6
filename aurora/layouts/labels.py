"""How the page names a kind of transaction or moderation case: `DAILY_REWARD` reads "Daily reward",
`ban` reads "Ban". One function, used wherever a kind is shown."""

from __future__ import annotations

from aurora.layouts.formatting import shown_text


def kind_label(kind: str) -> str:
    """A stored kind as words: underscores become spaces, only the first letter stays capital."""
    words = " ".join(shown_text(kind).title.replace("_", " ").split())
    return words[:1].upper() + words[1:].lower() if words else kind

"""How the page names a kind of transaction or moderation case: `DAILY_REWARD` reads "Daily reward",
`ban` reads "Ban". One function, used wherever a kind is shown."""

from __future__ import annotations

from aurora.layouts.formatting import without_bidi_controls


def kind_label(kind: str) -> str:
    """A stored kind as words: underscores become spaces, only the first letter stays capital."""
    words = " ".join(without_bidi_controls(kind).replace("_", " ").split())
    return words[:1].upper() + words[1:].lower() if words else kind

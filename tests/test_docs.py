"""The README's configuration table against the settings, and the links between README and docs/.

The table is the operator's contract: every variable `aurora.settings` reads is in it, nothing else,
and each default it gives is what the settings use when the variable is unset.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from aurora.settings import settings_from_mapping

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
# Seeded into the embedded default only; derived from DATABASE_URL, not a fixed value.
DERIVED = {"database_is_default", "demo"}


def configuration_rows() -> dict[str, str]:
    """Variable -> its default cell, from the table under "## Configuration"."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
        defaults = [part.strip() for part in cells[1].split(" / ")]
        for index, name in enumerate(names):
            rows[name] = defaults[index] if len(defaults) == len(names) else cells[1]
    return rows


class AskedFor(dict):
    """An empty environment that remembers every variable the settings ask it for."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def get(self, name, default=None):
        self.names.add(name)
        return default


def variables_read_by_settings() -> set[str]:
    environment = AskedFor()
    settings_from_mapping(environment)
    return environment.names


def test_the_table_lists_exactly_the_variables_the_settings_read():
    assert set(configuration_rows()) == variables_read_by_settings()


@pytest.mark.parametrize("name", sorted(variables_read_by_settings()))
def test_each_default_in_the_table_is_the_settings_default(name):
    cell = configuration_rows()[name]
    if cell == "unset":
        unset = settings_from_mapping({})
        assert getattr(unset, _field_set_by(name)) is None
        return
    value = re.fullmatch(r"`([^`]+)`(.*)", cell)
    assert value, f"{name}: default {cell!r} is neither `value` nor unset"
    if value.group(2):  # a default that depends on another setting, said in words
        assert name == "AURORA_DEMO" and settings_from_mapping({}).demo is True
        assert settings_from_mapping({"DATABASE_URL": "sqlite:///other.db"}).demo is False
        return
    given = dataclasses.asdict(settings_from_mapping({name: value.group(1)}))
    default = dataclasses.asdict(settings_from_mapping({}))
    for key in DERIVED:
        given.pop(key), default.pop(key)
    assert given == default, f"{name}={value.group(1)} is not the default"


def _field_set_by(name: str) -> str:
    """The Settings field that a variable sets, found by setting it to a value it accepts."""
    samples = {"DISCORD_TOKEN": "x" * 20, "AURORA_ACCESS_TOKEN": "y" * 20, "DISCORD_SHARD_COUNT": "2",
               "REDIS_URL": "redis://127.0.0.1:6379/0", "AURORA_PUBLIC_URL": "https://aurora.example.org",
               "AURORA_ALERT_WEBHOOK_URL": "https://discord.com/api/webhooks/1/abc"}
    default = dataclasses.asdict(settings_from_mapping({}))
    given = dataclasses.asdict(settings_from_mapping({name: samples[name]}))
    changed = [key for key in default if given[key] != default[key]]
    assert len(changed) == 1, (name, changed)
    return changed[0]


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file (code blocks left out)."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    headings = re.findall(r"^#+ (.+)$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("document", [README, *DOCS], ids=lambda path: path.name)
def test_every_link_between_readme_and_docs_resolves(document):
    text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"https?:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        if not linked.exists() or (anchor and anchor not in _anchors(linked)):
            broken.append(target)
    assert not broken, f"{document.name}: {broken}"

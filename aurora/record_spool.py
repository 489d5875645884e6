"""Command records the database could not take before shutdown, kept in a file for the next start.

One JSON-lines file per database (its name carries a hash of the database URL, so a record is
only ever written to the database it was meant for) in `AURORA_SPOOL_DIR`. The file holds what
the row will hold: the command's name, the invoker's id (linked to `users` when written) and the
time; it is readable by its owner only. Each shutdown replaces the file with what is still
unwritten; a start reads it, and the recorder removes it once those records are written.

A record marked `uncertain` was in a commit that got no answer: the database may hold it already,
so it is written only if no such row is found (`CommandRecorder`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url

from aurora.recorder import CommandRecord

log = logging.getLogger(__name__)

FILE_MODE = 0o600


class RecordSpool:
    def __init__(self, folder: str | Path, database_url: str) -> None:
        identity = make_url(database_url).render_as_string(hide_password=True)
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.path = Path(folder) / f"command-records-{digest}.jsonl"

    def keep(self, records: list[CommandRecord]) -> None:
        """Replace the file with `records` (none: remove it); written whole or not at all."""
        if not records:
            self.discard()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        with _owner_only(partial) as output:
            for record in records:
                output.write(json.dumps(_as_json(record), separators=(",", ":")) + "\n")
            output.flush()
            os.fsync(output.fileno())
        os.replace(partial, self.path)

    def read(self) -> list[CommandRecord]:
        """What the last shutdown kept; unreadable lines are skipped with one ERROR naming the file."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        records, unreadable = [], 0
        for line in text.splitlines():
            try:
                records.append(_from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                unreadable += 1
        if unreadable:
            copy = self.path.with_suffix(".unreadable")
            with _owner_only(copy) as output:  # invokers' ids: as private as the spool itself
                output.write(text)
            log.error("%s: %d lines are not command records and are not written; the file as it was is "
                      "kept in %s", self.path, unreadable, copy)
        return records

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _owner_only(path: Path) -> TextIO:
    """`path` opened for writing, emptied, readable by its owner only (even if it existed before)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    return os.fdopen(descriptor, "w", encoding="utf-8")


def _as_json(record: CommandRecord) -> dict:
    return {"command_name": record.command_name, "invoker_id": record.invoker_id,
            "ran_at": record.ran_at.isoformat(), "uncertain": record.uncertain}


def _from_json(data: dict) -> CommandRecord:
    ran_at = datetime.fromisoformat(data["ran_at"])
    if ran_at.tzinfo is None or not isinstance(data["command_name"], str):
        raise ValueError("not a command record")
    invoker = data["invoker_id"]
    if invoker is not None and not isinstance(invoker, int):
        raise ValueError("not a command record")
    return CommandRecord(data["command_name"], invoker, ran_at, uncertain=bool(data.get("uncertain")))

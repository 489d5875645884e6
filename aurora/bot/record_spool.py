"""Command records the database could not take before shutdown, kept in a file for the next start.

One JSON-lines file per database (its name carries a hash of the database URL, so a record is
only ever written to the database it was meant for) in `AURORA_SPOOL_DIR`. The file holds what
the row will hold: the command's name, the invoker's id (linked to `users` when written) and the
time; it is readable by its owner only.

Several processes may share the folder (gunicorn's workers, a reload's old and new worker, a
second deployment in the same directory), so a record must be neither lost nor taken twice: a stop
adds its records to the file under an exclusive lock; a start claims the file by renaming it under
that lock and holds a lock on the claimed file for as long as it lives. Only the holder writes a
claimed file's records, and removes the file once they are written (or kept again by its own stop);
a claimed file whose process ended unlocks by itself, and the next start claims it.

A record marked `uncertain` was in a commit that got no answer: the database may hold it already,
so it is written only if no such row is found (`CommandRecorder`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.engine import make_url

from aurora.bot.command_record import CommandRecord

log = logging.getLogger(__name__)

FILE_MODE = 0o600


class RecordSpool:
    def __init__(self, folder: str | Path, database_url: str) -> None:
        identity = make_url(database_url).render_as_string(hide_password=True)
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.path = Path(folder) / f"command-records-{digest}.jsonl"
        self._claimed: dict[Path, int] = {}  # claimed files and the descriptor holding each one's lock

    def keep(self, records: list[CommandRecord]) -> None:
        """Add `records` to the file, whole or not at all; the claimed files' records are among them
        (a stop keeps what it has not written): those files go."""
        if records:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._folder_locked():
                try:
                    earlier = self.path.read_bytes()  # as it is: an unreadable line is set aside at the start
                except FileNotFoundError:
                    earlier = b""
                partial = self.path.with_suffix(".partial")
                with _owner_only(partial) as output:
                    output.write(earlier)
                    for record in records:
                        output.write(json.dumps(_as_json(record), separators=(",", ":")).encode() + b"\n")
                    output.flush()
                    os.fsync(output.fileno())
                os.replace(partial, self.path)
        self.discard()

    def read(self) -> list[CommandRecord]:
        """What earlier stops kept and no running process claimed, now claimed by this spool;
        unreadable lines are skipped with one ERROR naming the file."""
        if self.path.exists():
            with self._folder_locked():
                with contextlib.suppress(FileNotFoundError):
                    os.replace(self.path, self.path.with_suffix(f".{uuid.uuid4().hex}.claimed"))
        for claimed in sorted(self.path.parent.glob(self.path.stem + ".*.claimed")):
            if claimed not in self._claimed and (descriptor := _locked_if_free(claimed)) is not None:
                self._claimed[claimed] = descriptor
        return [record for claimed in self._claimed for record in _records_in(claimed)]

    def discard(self) -> None:
        """The claimed records are written (or kept again): their files go. The recorder's writer and
        its stop may both call this: each file is taken by one call (popitem is atomic), so no
        descriptor is closed twice."""
        while True:
            try:
                claimed, descriptor = self._claimed.popitem()
            except KeyError:
                return
            claimed.unlink(missing_ok=True)
            os.close(descriptor)

    @contextlib.contextmanager
    def _folder_locked(self) -> Iterator[None]:
        descriptor = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)


def _locked_if_free(path: Path) -> int | None:
    """A descriptor holding `path`'s lock, or None while another process holds it (or it is gone)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Its holder may have removed it between our open and our lock: then it is not ours.
        if os.fstat(descriptor).st_ino == os.stat(path).st_ino:
            return descriptor
    except (BlockingIOError, FileNotFoundError):
        pass
    os.close(descriptor)
    return None


def _records_in(path: Path) -> list[CommandRecord]:
    content = path.read_bytes()
    records, unreadable = [], 0
    for line in content.splitlines():
        try:  # bytes: a line that is not UTF-8 is one unreadable line, not the whole file
            records.append(_from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            unreadable += 1
    if unreadable:
        copy = path.with_suffix(".unreadable")
        with _owner_only(copy) as output:  # invokers' ids: as private as the spool itself
            output.write(content)
        log.error("%s: %d lines are not command records and are not written; the file as it was is "
                  "kept in %s", path, unreadable, copy)
    return records


def _owner_only(path: Path) -> BinaryIO:
    """`path` opened for writing, emptied, readable by its owner only (even if it existed before)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    return os.fdopen(descriptor, "wb")


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

"""The health window in Redis (with REDIS_URL), so a restart or a deploy keeps the last 24 h.

One hash per 5-minute slot, `{prefix}:bot:health:{slot}`, that every save adds to (HINCRBY: the
counts only ever grow, so a save that reaches Redis twice after a retry is the only way to count
twice, and a lost one loses a tick's worth), expiring a little after it leaves the window. Calls go
through the process's Redis breaker (`aurora.scaleout.redis_link.RedisHealth`): while Redis is
away the window lives in memory and what changed waits for the next save.
"""

from __future__ import annotations

import logging
from datetime import datetime

import redis

from aurora.bot.command_health import histogram
from aurora.bot.command_health.figures import INTERACTION_KINDS, InteractionKind
from aurora.bot.command_health.slots import GATEWAY_FIELDS, SLOT, SLOTS_KEPT, Counts, SlotData, slot_of
from aurora.scaleout.redis_link import RedisError, RedisHealth

log = logging.getLogger(__name__)

KEEP_SECONDS = int((SLOT * (SLOTS_KEPT + 2)).total_seconds())
COUNT_FIELDS = ("runs", "failures", "late")


def _count_fields(name: str, counts: Counts) -> dict[str, int]:
    fields = {f"c|{name}|{what}": getattr(counts, what) for what in COUNT_FIELDS}
    fields.update({f"c|{name}|d{bucket}": n for bucket, n in enumerate(counts.durations)})
    fields.update({f"c|{name}|a{bucket}": n for bucket, n in enumerate(counts.acks)})
    return {field: n for field, n in fields.items() if n}


def _slot_data(raw: dict[bytes, bytes]) -> tuple[SlotData, dict[str, InteractionKind]]:
    data, kinds = SlotData(), {}
    for key, value in raw.items():
        part, _, rest = key.decode().partition("|")
        text = value.decode()
        if part == "k" and text in INTERACTION_KINDS:
            kinds[rest] = text
        elif part == "g" and rest in GATEWAY_FIELDS and text.lstrip("-").isdigit():
            data.gateway[rest] += int(text)
        elif part == "c" and text.isdigit():
            name, _, what = rest.rpartition("|")
            counts = data.counts(name)
            if what in COUNT_FIELDS:
                setattr(counts, what, getattr(counts, what) + int(text))
            elif what[:1] in ("d", "a") and what[1:].isdigit() and int(what[1:]) < histogram.BUCKETS:
                (counts.durations if what[0] == "d" else counts.acks)[int(what[1:])] += int(text)
    return data, kinds


class RedisWindowStore:
    def __init__(self, client: redis.Redis, *, prefix: str, health: RedisHealth) -> None:
        self._client = client
        self._prefix = f"{prefix}:bot:health"
        self._health = health

    def _slot_key(self, slot: int) -> str:
        return f"{self._prefix}:{slot}"

    def save(self, unsaved: dict[int, SlotData], kinds: dict[str, InteractionKind], since: datetime) -> bool:
        if not self._health.usable():
            return False
        pipe = self._client.pipeline(transaction=False)
        for slot, data in unsaved.items():
            key = self._slot_key(slot)
            for name, counts in data.commands.items():
                for field, amount in _count_fields(name, counts).items():
                    pipe.hincrby(key, field, amount)
                pipe.hset(key, f"k|{name}", kinds.get(name, "slash"))
            for field, amount in data.gateway.items():
                if amount:
                    pipe.hincrby(key, f"g|{field}", amount)
            pipe.expire(key, KEEP_SECONDS)
        pipe.set(f"{self._prefix}:since", since.isoformat(), nx=True, ex=KEEP_SECONDS)
        try:
            pipe.execute()
        except RedisError as error:
            self._health.failed("saving the bot health window", error)
            return False
        self._health.succeeded()
        return True

    def load(self, now: datetime) -> tuple[datetime | None, dict[int, tuple[SlotData, dict[str, InteractionKind]]]]:
        if not self._health.usable():
            return None, {}
        current = slot_of(now)
        slots = range(current - SLOTS_KEPT + 1, current + 1)
        pipe = self._client.pipeline(transaction=False)
        for slot in slots:
            pipe.hgetall(self._slot_key(slot))
        pipe.get(f"{self._prefix}:since")
        try:
            *hashes, since_raw = pipe.execute()
        except RedisError as error:
            self._health.failed("loading the bot health window", error)
            return None, {}
        self._health.succeeded()
        try:
            since = datetime.fromisoformat(since_raw.decode()) if since_raw else None
        except ValueError:
            since = None
        loaded = {slot: _slot_data(raw) for slot, raw in zip(slots, hashes, strict=True) if raw}
        if loaded:
            log.info("bot health: %d slots of the last 24 h restored from Redis", len(loaded))
        return since, loaded

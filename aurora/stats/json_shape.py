"""A small vocabulary for writing a public JSON shape once: each piece knows its JSON Schema and how
a model value becomes JSON, so the answers and the OpenAPI document cannot disagree.

A piece is a `Shape`: `leaf` for a scalar (with an optional conversion, e.g. a time to ISO text),
`obj` for a closed object of `Prop`s (a key, its shape and where its value comes from), `array`
for a list. `nullable`, `described` and `with_keywords` refine a shape. Schema keywords keep the
order they are written in: the published document's bytes depend on it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from operator import attrgetter
from typing import Any

from aurora.stats.model import iso_utc

Source = str | Callable[[Any], Any]


def itself(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Shape:
    """One JSON value: its schema, and how the model value it describes is written."""

    schema: dict
    write: Callable[[Any], Any] = itself

    def json_schema(self) -> dict:
        """A fresh copy of the schema (callers may extend what they get)."""
        return copy.deepcopy(self.schema)

    def nullable(self) -> Shape:
        """null where the model holds None; the schema's `type` becomes `[type, "null"]` in place."""
        inner = self.write
        return Shape({**self.schema, "type": [self.schema["type"], "null"]},
                     lambda value: None if value is None else inner(value))

    def described(self, description: str) -> Shape:
        return self.with_keywords(description=description)

    def with_keywords(self, **keywords: Any) -> Shape:
        """The same value with more schema keywords (after the existing ones; a repeated one is replaced
        where it stands)."""
        return Shape({**self.schema, **keywords}, self.write)


def leaf(schema: dict, convert: Callable[[Any], Any] = itself) -> Shape:
    return Shape(schema, convert)


@dataclass(frozen=True)
class Prop:
    """A key of an object, its shape, and its value: an attribute path of the object's model value
    (`"bot.status"`), or a function of it (by default the object's value itself)."""

    key: str
    shape: Shape
    source: Source = itself

    @cached_property
    def _getter(self) -> Callable[[Any], Any]:
        return attrgetter(self.source) if isinstance(self.source, str) else self.source

    def value_of(self, model: Any) -> Any:
        return self.shape.write(self._getter(model))


def obj(*props: Prop, **keywords: Any) -> Shape:
    """A closed object: every property present (null where the contract allows), nothing else."""
    schema = {
        "type": "object",
        "properties": {prop.key: prop.shape.schema for prop in props},
        "required": [prop.key for prop in props],
        "additionalProperties": False,
        **keywords,
    }
    return Shape(schema, lambda model: {prop.key: prop.value_of(model) for prop in props})


def array(items: Shape, *, before: dict | None = None, after: dict | None = None) -> Shape:
    """A list of `items`; `before`/`after` hold the keywords written before and after `items`."""
    schema = {"type": "array", **(before or {}), "items": items.schema, **(after or {})}
    write = items.write
    return Shape(schema, lambda values: [write(value) for value in values])


def rounded(value: float) -> int:
    return round(value)


# The values the API's shapes share.
ISO_UTC_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"
TIMESTAMP = leaf({"type": "string", "format": "date-time", "pattern": ISO_UTC_PATTERN}, iso_utc)
HOUR_TIMESTAMP = TIMESTAMP.with_keywords(pattern=r"^\d{4}-\d\d-\d\dT\d\d:00:00Z$")
COUNT = leaf({"type": "integer", "minimum": 0})
# Sums of BIGINT amounts: exact whatever their size, so they can pass 2^53 (and 64 bits).
COINS = COUNT.described(
    "sum of absolute amounts, always exact: it may exceed 2^53 - 1 (and 64 bits), where a "
    "JSON parser reading numbers as doubles rounds it; read it as a big integer to keep every digit"
)
STRING = leaf({"type": "string"})
NAMED_COUNT = obj(Prop("name", STRING, "name"), Prop("count", COUNT, "count"))


def enum(values: Iterable[str]) -> Shape:
    return leaf({"type": "string", "enum": list(values)})

"""The vocabulary the public shapes are written in: each piece's schema and what it writes agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import jsonschema_rs
import pytest

from aurora.stats.json_shape import COUNT, STRING, TIMESTAMP, Prop, array, leaf, obj


@dataclass(frozen=True)
class Inner:
    moment: datetime | None


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner
    counts: tuple[int, ...]


MOMENT = datetime(2026, 3, 4, 12, 34, 56, 789, tzinfo=UTC)
OUTER = obj(
    Prop("label", STRING, "name"),
    Prop("at", TIMESTAMP.nullable(), "inner.moment"),
    Prop("total", COUNT, lambda outer: sum(outer.counts)),
    Prop("counts", array(COUNT, before={"maxItems": 3}), "counts"),
    description="a test object",
)


def test_nullable_keeps_the_type_in_its_place_and_writes_none_as_null():
    stamp = TIMESTAMP.nullable()
    assert list(stamp.schema) == ["type", "format", "pattern"]
    assert stamp.schema["type"] == ["string", "null"]
    assert stamp.write(None) is None
    assert stamp.write(MOMENT) == "2026-03-04T12:34:56Z"
    described = COUNT.nullable().described("why")
    assert list(described.schema) == ["type", "minimum", "description"]


def test_an_object_writes_its_props_in_order_from_paths_and_functions():
    written = OUTER.write(Outer("x", Inner(MOMENT), (1, 2)))
    assert list(written) == ["label", "at", "total", "counts"] == OUTER.schema["required"]
    assert written == {"label": "x", "at": "2026-03-04T12:34:56Z", "total": 3, "counts": [1, 2]}
    assert OUTER.write(Outer("y", Inner(None), ()))["at"] is None
    assert list(OUTER.schema) == ["type", "properties", "required", "additionalProperties", "description"]


def test_what_a_shape_writes_validates_against_its_schema_and_only_that():
    validator = jsonschema_rs.validator_for(OUTER.json_schema(), validate_formats=True)
    written = OUTER.write(Outer("x", Inner(MOMENT), (1, 2, 3)))
    validator.validate(written)
    for broken in ({**written, "extra": 1}, {**written, "counts": [1, 2, 3, 4]}, {**written, "total": -1},
                   {key: value for key, value in written.items() if key != "at"}):
        assert not validator.is_valid(broken), broken


def test_array_keywords_stand_before_or_after_the_items_as_written():
    assert list(array(COUNT, before={"maxItems": 2}, after={"minItems": 1}).schema) == [
        "type", "maxItems", "items", "minItems"]


def test_json_schema_is_a_copy_the_caller_may_change():
    copy = OUTER.json_schema()
    copy["properties"]["label"]["type"] = "integer"
    assert OUTER.schema["properties"]["label"]["type"] == "string"


def test_a_conversion_runs_only_on_present_values():
    rounded = leaf({"type": "integer"}, round).nullable()
    assert rounded.write(41.6) == 42 and rounded.write(None) is None
    with pytest.raises(AttributeError):
        obj(Prop("x", COUNT, "missing")).write(Outer("x", Inner(None), ()))

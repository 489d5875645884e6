"""Frozen dataclasses (`aurora.stats.model`, `aurora.bot.snapshot`) to JSON and back, for sharing
them through Redis.

Generic over the field types the models use (int, float, str, bool, datetime, Literal, optional
values, `tuple[X, ...]` and nested dataclasses), so a field added to a model travels without a
change here. Payloads carry a format number: a process of another version that cannot read one
treats it as absent instead of guessing.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

FORMAT = 1
T = TypeVar("T")


class CodecError(ValueError):
    """A payload that does not decode into the expected dataclass."""


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CodecError("naive datetimes are ambiguous across processes")
        return value.isoformat()
    return value


def dumps(value: Any) -> bytes:
    """A dataclass instance as compact JSON bytes (NaN/Infinity refused: they are not JSON)."""
    return json.dumps({"format": FORMAT, "data": _plain(value)}, allow_nan=False, separators=(",", ":")).encode()


@cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(kind: Any, data: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _build(option, data)
            except CodecError as error:
                errors.append(str(error))
        raise CodecError("; ".join(errors) or f"{data!r} matches no option of {kind}")
    if origin is typing.Literal:
        if data not in typing.get_args(kind):
            raise CodecError(f"{data!r} is not one of {typing.get_args(kind)}")
        return data
    if origin is tuple:
        item_kind = typing.get_args(kind)[0]
        if not isinstance(data, list):
            raise CodecError(f"expected a list, got {type(data).__name__}")
        return tuple(_build(item_kind, item) for item in data)
    if dataclasses.is_dataclass(kind):
        if not isinstance(data, dict):
            raise CodecError(f"expected an object for {kind.__name__}")
        hints = _field_types(kind)
        values = {}
        for field in dataclasses.fields(kind):
            if field.name in data:
                values[field.name] = _build(hints[field.name], data[field.name])
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise CodecError(f"{kind.__name__}.{field.name} is missing")
        return kind(**values)
    if kind is datetime:
        try:
            moment = datetime.fromisoformat(data)
        except (TypeError, ValueError):
            raise CodecError(f"{data!r} is not an ISO-8601 time") from None
        if moment.tzinfo is None:
            raise CodecError(f"{data!r} has no time zone")
        return moment
    if kind is float and isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    if kind in (int, str, bool) and type(data) is kind:
        return data
    raise CodecError(f"{data!r} is not a {getattr(kind, '__name__', kind)}")


def loads(cls: type[T], raw: bytes | str) -> T:
    """Decode `dumps` output back into `cls`; CodecError for anything else."""
    try:
        payload = json.loads(raw)
    except (TypeError, ValueError):
        raise CodecError("not JSON") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CodecError(f"unknown payload format {payload.get('format') if isinstance(payload, dict) else None!r}")
    return _build(cls, payload.get("data"))

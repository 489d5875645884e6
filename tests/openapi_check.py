"""Checking an HTTP answer against the served OpenAPI document, in the tests' own words.

schemathesis does this for whole fuzzing runs; these helpers are for single answers the tests get by
other means (the Flask test client, a raw socket, an open event stream).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import jsonschema_rs

from aurora.api.openapi import build_openapi_document
from aurora.api.schemas import error_schema


def document(*, access_control: bool = False) -> dict:
    return build_openapi_document(rate_limit="60/minute", access_control=access_control)


def _validator(doc: dict, schema: dict):
    # The components ride along so that `#/components/...` references resolve from the root.
    return jsonschema_rs.validator_for({**schema, "components": doc["components"]}, validate_formats=True)


def stats_validator(doc: dict | None = None):
    doc = doc or document()
    return _validator(doc, {"$ref": "#/components/schemas/Stats"})


def documented_response(doc: dict, path: str, method: str, status: int) -> dict:
    """The response object the document gives for this operation and status (references resolved)."""
    operation = doc["paths"][path][method.lower()]
    response = operation["responses"].get(str(status))
    assert response is not None, f"{method} {path} answered {status}, which the document does not list"
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def _header_value(schema: dict, raw: str):
    return int(raw) if schema.get("type") == "integer" else raw


def assert_conforms(
    doc: dict,
    path: str,
    method: str,
    *,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
) -> None:
    """Status listed, content type listed, required headers present and valid, JSON body valid."""
    response = documented_response(doc, path, method, status)
    lowered = {name.lower(): value for name, value in headers.items()}
    for name, spec in response.get("headers", {}).items():
        raw = lowered.get(name.lower())
        if raw is None:
            assert not spec.get("required"), f"{status} answer lacks required header {name}"
            continue
        header_check = _validator(doc, spec["schema"])
        value = _header_value(spec["schema"], raw)
        assert header_check.is_valid(value), f"header {name}: {raw!r} does not match {spec['schema']}"
    content = response.get("content")
    if content is None or method.upper() == "HEAD":
        return
    media_type = lowered.get("content-type", "").split(";")[0].strip()
    assert media_type in content, f"{status} answer is {media_type!r}, documented: {sorted(content)}"
    if media_type == "application/json":
        _validator(doc, content[media_type]["schema"]).validate(json.loads(body))


def json_error_validator(status: int):
    """The JSON error body for `status`, as the document spells error bodies."""
    return jsonschema_rs.validator_for(error_schema(status))

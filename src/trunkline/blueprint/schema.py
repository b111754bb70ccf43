"""The blueprint's JSON Schema, for editors (yaml-language-server) and other tools."""

from __future__ import annotations

import json

from trunkline.blueprint.models import Blueprint, format_duration

SCHEMA_ID = "https://trunkline.dev/schema/center-v1.json"  # an identifier, not fetched


def schema() -> dict:
    body = Blueprint.model_json_schema(by_alias=True, mode="validation")
    _durations_as_written(body)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **body}


def _durations_as_written(node) -> None:
    """pydantic writes a duration's default as the seconds it holds (rpo: 900); an editor that fills
    it in would write a value the field refuses. Write it as the field takes it (rpo: 15m)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and isinstance(node.get("default"), int) and not isinstance(node["default"], bool):
            node["default"] = format_duration(node["default"])
        for value in node.values():
            _durations_as_written(value)
    elif isinstance(node, list):
        for value in node:
            _durations_as_written(value)


def schema_json() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"

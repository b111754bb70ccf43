"""The blueprint's JSON Schema, for editors (yaml-language-server) and other tools."""

from __future__ import annotations

import json

from trunkline.blueprint.models import Center

SCHEMA_ID = "https://trunkline.dev/schema/center-v1.json"  # an identifier, not fetched


def schema() -> dict:
    body = Center.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **body}


def schema_json() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"

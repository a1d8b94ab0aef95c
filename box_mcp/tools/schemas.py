"""Lean JSON Schemas for tools/list: pydantic's schema minus what tells an agent nothing, made once per model.

tools/list sits in an agent's context for the whole session, so every byte counts; the schema must still
say exactly what a call accepts and what structuredContent holds (clients validate it against outputSchema).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pydantic import BaseModel

_NULL = {"type": "null"}
_SUBSCHEMA_MAPS = ("properties", "$defs", "patternProperties", "dependentSchemas")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_ONE = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else")
_DEF_PREFIX = "#/$defs/"


@cache
def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """What a call accepts. Pydantic's `X | None = None` is written as a plain optional X (absent is None)."""
    return _inline_single_use(_lean(model.model_json_schema(mode="validation"), output=False))


@cache
def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """What structuredContent holds. It is dumped with exclude_none, so a field that can be None is optional
    and never null, and every other field is always present (required), defaults included."""
    return _inline_single_use(_lean(model.model_json_schema(mode="serialization"), output=True))


def _lean(schema: Any, *, output: bool) -> Any:
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":  # pydantic's "File Id" for file_id, "FileIdInput" for the model: no news
            continue
        if key in _SUBSCHEMA_MAPS:
            out[key] = {name: _lean(sub, output=output) for name, sub in value.items()}
        elif key in _SUBSCHEMA_LISTS:
            out[key] = [_lean(sub, output=output) for sub in value]
        elif key in _SUBSCHEMA_ONE:
            if key == "additionalProperties" and value is True:  # the default
                continue
            out[key] = _lean(value, output=output)
        else:
            out[key] = value
    if output:
        out.pop("default", None)  # annotation only; a field with a default is always in the output
        if "properties" in out:
            _outputs_required(out)
    elif "default" in out and out["default"] is None:
        del out["default"]
        out = _without_null(out)
    return out


def _outputs_required(obj: dict[str, Any]) -> None:
    required = []
    for name, prop in obj["properties"].items():
        if _accepts_null(prop):
            obj["properties"][name] = _without_null(prop)
        else:
            required.append(name)
    if required:
        obj["required"] = required
    else:
        obj.pop("required", None)


def _accepts_null(prop: dict[str, Any]) -> bool:
    """Whether a field's schema lets it be None (then exclude_none may leave it out of the output)."""
    if "anyOf" in prop:
        return any(_accepts_null(branch) for branch in prop["anyOf"])
    if "$ref" in prop:  # a model: an object, never None
        return False
    if "type" in prop:
        kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        return "null" in kinds
    if "enum" in prop:
        return None in prop["enum"]
    if "const" in prop:
        return prop["const"] is None
    return True  # no type at all (`Any`): None is one of its values


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    branches = [b for b in prop.get("anyOf", ()) if b != _NULL]
    if len(branches) == len(prop.get("anyOf", ())):
        return prop
    rest = {k: v for k, v in prop.items() if k != "anyOf"}
    if len(branches) == 1:
        return {**branches[0], **rest}
    return {"anyOf": branches, **rest}


def _inline_single_use(schema: dict[str, Any]) -> dict[str, Any]:
    """A definition used once is written in place; one used more often stays in this schema's $defs
    (clients resolve $ref only inside one tool's schema, so nothing is shared across tools)."""
    defs: dict[str, Any] = schema.get("$defs") or {}
    if not defs:
        return schema
    text = json.dumps(schema)
    shared = {name for name in defs if text.count(json.dumps(_DEF_PREFIX + name)) > 1}

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(n) for n in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEF_PREFIX) and ref[len(_DEF_PREFIX) :] not in shared:
            rest = {k: resolve(v) for k, v in node.items() if k != "$ref"}
            return {**resolve(defs[ref[len(_DEF_PREFIX) :]]), **rest}
        return {k: resolve(v) for k, v in node.items() if k != "$defs"}

    out: dict[str, Any] = resolve(schema)
    if shared:
        out["$defs"] = {name: resolve(defs[name]) for name in defs if name in shared}
    return out

"""Metadata instances on files and folders: list, get, create (validated against the template's
fields), JSON-Patch update (`application/json-patch+json`, `test` ops), delete; Box's error codes."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

import jsonpatch
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import permissions
from ..common import box_json, caller, json_body, load_item, store, view
from ..errors import BoxError
from ..events import emit_event
from ..store import Store, now, timestamp
from .metadata_templates import find_template, resolve_scope

_INSTANCE_SQL = (
    "SELECT * FROM metadata_instances WHERE item_type = ? AND item_id = ? AND scope = ? AND template_key = ?"
)


# -- instances ----------------------------------------------------------------------------------
def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        timestamp(value, "date")
    except BoxError:
        return False
    return True


def validate_instance(template: sqlite3.Row | dict[str, Any], data: Any) -> None:
    """Every key must be a template field and every value of that field's type (Box's rule)."""
    if not isinstance(data, dict):
        raise BoxError(400, "schema_validation_failed", "The metadata instance must be a JSON object")
    if template["scope"] == "global" and template["template_key"] == "properties":
        bad = [k for k, v in data.items() if k.startswith("$") or not isinstance(v, str)]
        if bad:
            raise BoxError(
                400, "schema_validation_failed", f"Invalid value for '{bad[0]}': properties take strings"
            )
        return
    fields = {f["key"]: f for f in json.loads(template["fields"])}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            raise BoxError(
                400,
                "schema_validation_failed",
                f"'{key}' is not a field of template '{template['template_key']}'",
            )
        ftype = field["type"]
        options = {o["key"] for o in field.get("options", [])}
        ok = {
            "string": isinstance(value, str),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
            "date": _is_date(value),
            "enum": isinstance(value, str) and value in options,
            "multiSelect": isinstance(value, list)
            and all(isinstance(v, str) and v in options for v in value),
        }[ftype]
        if not ok:
            raise BoxError(
                400, "schema_validation_failed", f"Invalid value for '{key}': expected a {ftype} value"
            )


def instance_json(st: Store, row: sqlite3.Row, can_edit: bool, *, full: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "$parent": f"{row['item_type']}_{row['item_id']}",
        "$template": row["template_key"],
        "$scope": row["scope"],
        "$version": row["version"],
    }
    if full:
        template = find_template(st, row["scope"], row["template_key"])
        data.update(
            {
                "$id": row["id"],
                "$type": f"{row['template_key']}-{template['id'] if template else row['id']}",
                "$typeVersion": 0,
                "$canEdit": can_edit,
            }
        )
    data.update(json.loads(row["data"]))
    return data


def _item_type(request: Request) -> str:
    return "file" if request.url.path.startswith("/2.0/files/") else "folder"


def _instance(request: Request, action: str) -> tuple[sqlite3.Row, str, str]:
    """(item, scope, template key) for an instance route, after the item permission check."""
    item = load_item(request, _item_type(request), request.path_params["item_id"], action)
    return item, resolve_scope(request, request.path_params["scope"]), request.path_params["template_key"]


def _find_instance(st: Store, item: sqlite3.Row, scope: str, key: str) -> sqlite3.Row:
    row = st.fetch_one(
        _INSTANCE_SQL,
        (item["type"], item["id"], scope, key),
    )
    if row is None:
        raise BoxError(404, "instance_not_found", "Instance not found")
    return row


async def list_instances(request: Request) -> Response:
    st, who = store(request), caller(request)
    item = load_item(request, _item_type(request), request.path_params["item_id"], "read")
    rows = st.fetch_all(
        "SELECT * FROM metadata_instances WHERE item_type = ? AND item_id = ? ORDER BY created_at, id",
        (item["type"], item["id"]),
    )
    can_edit = permissions.can(st, who, item, "metadata")
    return box_json({"entries": [instance_json(st, r, can_edit, full=False) for r in rows], "limit": 100})


async def get_instance(request: Request) -> Response:
    st, who = store(request), caller(request)
    item, scope, key = _instance(request, "read")
    row = _find_instance(st, item, scope, key)
    return box_json(instance_json(st, row, permissions.can(st, who, item, "metadata")))


async def create_instance(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request, required=False)
    st, who = store(request), caller(request)
    with st.tx():
        item, scope, key = _instance(request, "metadata")
        template = find_template(st, scope, key)
        if template is None:
            raise BoxError(404, "instance_tuple_not_found", "Template not found")
        validate_instance(template, body)
        exists = st.fetch_one(
            _INSTANCE_SQL,
            (item["type"], item["id"], scope, key),
        )
        if exists is not None:
            raise BoxError(
                409, "tuple_already_exists", "An instance of the metadata template already exists on the item"
            )
        instance_id = str(uuid.uuid4())
        st.insert(
            "metadata_instances",
            {
                "id": instance_id,
                "item_type": item["type"],
                "item_id": item["id"],
                "scope": scope,
                "template_key": key,
                "data": json.dumps(body),
                "created_at": now(),
            },
        )
        row = st.fetch_one("SELECT * FROM metadata_instances WHERE id = ?", (instance_id,))
        assert row is not None
        details = {"metadata_template": key, "metadata_scope": scope}
        emit_event(st, "METADATA_INSTANCE_CREATE", view(request).item(item), who.user_id, details)
        return box_json(instance_json(st, row, True), status=201)


async def update_instance(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json-patch+json":
        raise BoxError(
            400,
            "bad_request",
            "Send the update as a JSON Patch with content-type application/json-patch+json",
        )
    try:
        ops = json.loads(await request.body())
        patch = jsonpatch.JsonPatch(ops)
        if not isinstance(ops, list):
            raise ValueError("not a list")
    except (ValueError, TypeError, jsonpatch.JsonPatchException, jsonpatch.InvalidJsonPatch):
        raise BoxError(
            400, "bad_request", "The request body must be an array of JSON Patch operations"
        ) from None
    st, who = store(request), caller(request)
    with st.tx():
        item, scope, key = _instance(request, "metadata")
        row = _find_instance(st, item, scope, key)
        current = json.loads(row["data"])
        try:
            updated = patch.apply(current)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise BoxError(409, "conflict", f"A JSON Patch 'test' operation failed: {exc}") from None
        except (
            jsonpatch.JsonPatchException,
            jsonpatch.JsonPointerException,
            KeyError,
            IndexError,
            TypeError,
        ) as exc:
            raise BoxError(400, "bad_request", f"The JSON Patch cannot be applied: {exc}") from None
        template = find_template(st, scope, key)
        if template is not None:
            validate_instance(template, updated)
        st.update(
            "metadata_instances",
            {"id": row["id"]},
            {"data": json.dumps(updated), "version": row["version"] + 1},
        )
        fresh = st.fetch_one("SELECT * FROM metadata_instances WHERE id = ?", (row["id"],))
        assert fresh is not None
        details = {"metadata_template": key, "metadata_scope": scope}
        emit_event(st, "METADATA_INSTANCE_UPDATE", view(request).item(item), who.user_id, details)
        return box_json(instance_json(st, fresh, True))


async def delete_instance(request: Request) -> Response:
    st, who = store(request), caller(request)
    with st.tx():
        item, scope, key = _instance(request, "metadata")
        row = _find_instance(st, item, scope, key)
        st.execute("DELETE FROM metadata_instances WHERE id = ?", (row["id"],))
        details = {"metadata_template": key, "metadata_scope": scope}
        emit_event(st, "METADATA_INSTANCE_DELETE", view(request).item(item), who.user_id, details)
    return Response(status_code=204)


_INSTANCE = "/metadata/{scope}/{template_key}"
routes: list[BaseRoute] = [
    *(
        Route(f"/2.0/{kind}/{{item_id:boxid}}/metadata", list_instances, methods=["GET"])
        for kind in ("files", "folders")
    ),
    *(
        Route(f"/2.0/{kind}/{{item_id:boxid}}{_INSTANCE}", handler, methods=[method])
        for kind in ("files", "folders")
        for handler, method in (
            (get_instance, "GET"),
            (create_instance, "POST"),
            (update_instance, "PUT"),
            (delete_instance, "DELETE"),
        )
    ),
]

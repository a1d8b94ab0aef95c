"""Metadata templates: list (enterprise, global, by instance id), get by scope/key or by id, create
(`POST /metadata_templates/schema`, admins only) and delete; the template lookups instances use."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import permissions
from ..auth import ADMIN_ROLES
from ..common import box_json, caller, json_body, marker_page, store
from ..errors import BoxError, not_found
from ..store import Store
from ..template_ops import (
    CLASSIFICATION_FIELD,
    CLASSIFICATION_KEY,
    TEMPLATE_KEY,
    apply_operations,
    field_definition,
    flag,
    rewrite_instances,
)

# Box's one free-form global template: any string keys and values.
GLOBAL_PROPERTIES = {
    "id": "global-properties-0000-4000-8000-000000000000",
    "scope": "global",
    "template_key": "properties",
    "display_name": "Properties",
    "hidden": 0,
    "copy_instance_on_item_copy": 0,
    "fields": "[]",
}


def _enterprise_scope(st: Store, user_id: str) -> str:
    row = st.fetch_one("SELECT enterprise_id FROM users WHERE id = ?", (user_id,))
    return f"enterprise_{row['enterprise_id'] if row else ''}"


def resolve_scope(request: Request, scope: str) -> str:
    """`enterprise` (the caller's), `enterprise_<id>` (must be the caller's) or `global`."""
    mine = _enterprise_scope(store(request), caller(request).user_id)
    if scope == "global":
        return scope
    if scope in ("enterprise", mine):
        return mine
    if scope.startswith("enterprise_"):
        raise not_found("Metadata template not found")
    raise BoxError(400, "bad_request", f"Unknown metadata scope '{scope}'; use 'enterprise' or 'global'")


def template_json(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "metadata_template",
        "id": row["id"],
        "scope": row["scope"],
        "templateKey": row["template_key"],
        "displayName": row["display_name"],
        "hidden": bool(row["hidden"]),
        "copyInstanceOnItemCopy": bool(row["copy_instance_on_item_copy"]),
        "fields": json.loads(row["fields"]),
    }


def find_template(st: Store, scope: str, key: str) -> sqlite3.Row | dict[str, Any] | None:
    if scope == "global" and key == "properties":
        return GLOBAL_PROPERTIES
    return st.fetch_one("SELECT * FROM metadata_templates WHERE scope = ? AND template_key = ?", (scope, key))


def _template_list(request: Request, scope: str) -> Response:
    st = store(request)
    rows: list[Any] = st.fetch_all(
        "SELECT * FROM metadata_templates WHERE scope = ? ORDER BY template_key", (scope,)
    )
    if scope == "global":
        rows = [GLOBAL_PROPERTIES, *rows]
    page, limit, next_marker = marker_page(request, rows, 100, 1000)
    return box_json(
        {
            "entries": [template_json(r) for r in page],
            "limit": limit,
            "next_marker": next_marker,
            "prev_marker": None,
        }
    )


async def enterprise_templates(request: Request) -> Response:
    return _template_list(request, _enterprise_scope(store(request), caller(request).user_id))


async def global_templates(request: Request) -> Response:
    caller(request)
    return _template_list(request, "global")


async def get_template(request: Request) -> Response:
    scope = resolve_scope(request, request.path_params["scope"])
    row = find_template(store(request), scope, request.path_params["template_key"])
    if row is None:
        raise not_found("Metadata template not found")
    return box_json(template_json(row))


async def get_template_by_id(request: Request) -> Response:
    st, who = store(request), caller(request)
    row = st.fetch_one("SELECT * FROM metadata_templates WHERE id = ?", (request.path_params["template_id"],))
    if row is None or row["scope"] not in ("global", _enterprise_scope(st, who.user_id)):
        raise not_found("Metadata template not found")
    return box_json(template_json(row))


async def templates_by_instance(request: Request) -> Response:
    """GET /metadata_templates?metadata_instance_id=...: the template an instance was made from."""
    instance_id = request.query_params.get("metadata_instance_id")
    if not instance_id:
        raise BoxError(400, "bad_request", "'metadata_instance_id' is required")
    st, who = store(request), caller(request)
    entries: list[dict[str, Any]] = []
    inst = st.fetch_one("SELECT * FROM metadata_instances WHERE id = ?", (instance_id,))
    if inst is not None:
        item = st.fetch_one(
            "SELECT * FROM items WHERE id = ? AND type = ?", (inst["item_id"], inst["item_type"])
        )
        template = find_template(st, inst["scope"], inst["template_key"])
        if item is not None and template is not None and permissions.can(st, who, item, "read"):
            entries.append(template_json(template))
    return box_json({"entries": entries, "limit": 100, "next_marker": None, "prev_marker": None})


def _check_fields(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BoxError(400, "bad_request", "'fields' must be a list of template fields")
    taken: set[str] = set()
    return [field_definition(field, f"fields[{index}]", taken) for index, field in enumerate(raw)]


def _admin(st: Store, user_id: str, action: str) -> None:
    me = st.fetch_one("SELECT role, kind FROM users WHERE id = ?", (user_id,))
    if me is None or (me["role"] not in ADMIN_ROLES and me["kind"] != "service_account"):
        raise BoxError(403, "access_denied_insufficient_permissions", f"Only admins and co-admins {action}")


async def create_template(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    st, who = store(request), caller(request)
    _admin(st, who.user_id, "create templates")
    if body.get("scope") != "enterprise":
        if body.get("scope") == "global":
            raise BoxError(
                403, "access_denied_insufficient_permissions", "Templates cannot be created in 'global'"
            )
        raise BoxError(400, "bad_request", "'scope' is required and must be 'enterprise'")
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip() or len(name) > 4096:
        raise BoxError(400, "bad_request", "'displayName' is required (a non-empty string)")
    key = body.get("templateKey")
    if key is None:  # Box derives a key from the display name
        words = re.sub(r"[^A-Za-z0-9 ]", "", name).split()
        key = (words[0].lower() + "".join(w.capitalize() for w in words[1:])) if words else "template"
        key = key if TEMPLATE_KEY.match(key) else f"t{key}"
    if not isinstance(key, str) or not TEMPLATE_KEY.match(key) or len(key) > 64:
        raise BoxError(
            400, "bad_request", "'templateKey' must match ^[a-zA-Z_][-a-zA-Z0-9_]*$ (64 characters at most)"
        )
    fields = _check_fields(body.get("fields"))
    hidden, copy_on_copy = flag(body, "hidden"), flag(body, "copyInstanceOnItemCopy")
    if key == CLASSIFICATION_KEY and (
        len(fields) != 1 or fields[0]["key"] != CLASSIFICATION_FIELD or fields[0]["type"] != "enum"
    ):
        raise BoxError(
            400,
            "bad_request",
            f"The classification template needs exactly one enum field, '{CLASSIFICATION_FIELD}'",
        )
    scope = _enterprise_scope(st, who.user_id)
    with st.tx():
        if find_template(st, scope, key) is not None:
            raise BoxError(409, "conflict", f"A template with templateKey '{key}' already exists")
        row = {
            "id": str(uuid.uuid4()),
            "scope": scope,
            "template_key": key,
            "display_name": name,
            "hidden": int(hidden),
            "copy_instance_on_item_copy": int(copy_on_copy),
            "fields": json.dumps(fields),
        }
        st.insert("metadata_templates", row)
    return box_json(template_json(row), status=201)


async def update_template(request: Request) -> Response:
    """`PUT .../schema`: Box's operations (editTemplate, addField, editField, removeField, reorderFields,
    add/edit/remove/reorder enum and multiSelect options), all applied or none; instances follow."""
    st, who = store(request), caller(request)
    scope = resolve_scope(request, request.path_params["scope"])
    key = request.path_params["template_key"]
    if scope == "global":
        raise BoxError(403, "access_denied_insufficient_permissions", "Global templates cannot be changed")
    _admin(st, who.user_id, "change templates")
    raw = await request.body()
    try:
        ops = json.loads(raw) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BoxError(400, "bad_request", f"Could not parse JSON body: {exc.__class__.__name__}") from None
    with st.tx():
        row = find_template(st, scope, key)
        if row is None:
            raise not_found("Metadata template not found")
        updated, rewrites = apply_operations(dict(row), ops)
        fields = json.loads(updated["fields"])
        if key == CLASSIFICATION_KEY and [f["key"] for f in fields] != [CLASSIFICATION_FIELD]:
            raise BoxError(
                400, "bad_request", f"The classification template keeps one field, '{CLASSIFICATION_FIELD}'"
            )
        st.execute(
            "UPDATE metadata_templates SET display_name = ?, hidden = ?, copy_instance_on_item_copy = ?, "
            "fields = ? WHERE id = ?",
            (
                updated["display_name"],
                updated["hidden"],
                updated["copy_instance_on_item_copy"],
                updated["fields"],
                updated["id"],
            ),
        )
        rewrite_instances(st, scope, key, rewrites)
    return box_json(template_json(updated))


async def delete_template(request: Request) -> Response:
    st, who = store(request), caller(request)
    scope = resolve_scope(request, request.path_params["scope"])
    me = st.fetch_one("SELECT role, kind FROM users WHERE id = ?", (who.user_id,))
    if scope == "global" or me is None or (me["role"] not in ADMIN_ROLES and me["kind"] != "service_account"):
        raise BoxError(
            403, "access_denied_insufficient_permissions", "Only admins delete enterprise templates"
        )
    key = request.path_params["template_key"]
    with st.tx():
        if (
            st.execute("DELETE FROM metadata_templates WHERE scope = ? AND template_key = ?", (scope, key))
            == 0
        ):
            raise not_found("Metadata template not found")
        st.execute("DELETE FROM metadata_instances WHERE scope = ? AND template_key = ?", (scope, key))
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/2.0/metadata_templates", templates_by_instance, methods=["GET"]),
    Route("/2.0/metadata_templates/enterprise", enterprise_templates, methods=["GET"]),
    Route("/2.0/metadata_templates/global", global_templates, methods=["GET"]),
    Route("/2.0/metadata_templates/schema", create_template, methods=["POST"]),
    Route("/2.0/metadata_templates/{scope}/{template_key}/schema", get_template, methods=["GET"]),
    Route("/2.0/metadata_templates/{scope}/{template_key}/schema", delete_template, methods=["DELETE"]),
    Route("/2.0/metadata_templates/{scope}/{template_key}/schema", update_template, methods=["PUT"]),
    Route("/2.0/metadata_templates/{template_id}", get_template_by_id, methods=["GET"]),
]

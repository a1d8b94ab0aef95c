"""Metadata templates (list, get by scope/key or id, create, delete) and instances on files and folders
(list, get, create validated against the template, JSON-Patch update with `test` ops, delete)."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from datetime import datetime
from typing import Any

import jsonpatch
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import permissions
from ..auth import ADMIN_ROLES
from ..common import box_json, caller, json_body, store
from ..errors import BoxError, not_found
from ..events import emit_event
from ..family import load_item, marker_page
from ..store import Store, now

FIELD_TYPES = ("string", "float", "date", "enum", "multiSelect")
TEMPLATE_KEY = re.compile(r"^[a-zA-Z_][-a-zA-Z0-9_]*$")
# Box's one free-form global template: any string keys and values.
_INSTANCE_SQL = (
    "SELECT * FROM metadata_instances WHERE item_type = ? AND item_id = ? AND scope = ? AND template_key = ?"
)
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
    row = st.one("SELECT enterprise_id FROM users WHERE id = ?", (user_id,))
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
    return st.one("SELECT * FROM metadata_templates WHERE scope = ? AND template_key = ?", (scope, key))


def _template_list(request: Request, scope: str) -> Response:
    st = store(request)
    rows: list[Any] = st.q("SELECT * FROM metadata_templates WHERE scope = ? ORDER BY template_key", (scope,))
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
    row = st.one("SELECT * FROM metadata_templates WHERE id = ?", (request.path_params["template_id"],))
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
    inst = st.one("SELECT * FROM metadata_instances WHERE id = ?", (instance_id,))
    if inst is not None:
        item = st.one("SELECT * FROM items WHERE id = ? AND type = ?", (inst["item_id"], inst["item_type"]))
        template = find_template(st, inst["scope"], inst["template_key"])
        if item is not None and template is not None and permissions.can(st, who, item, "read"):
            entries.append(template_json(template))
    return box_json({"entries": entries, "limit": 100, "next_marker": None, "prev_marker": None})


def _check_fields(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BoxError(400, "bad_request", "'fields' must be a list of template fields")
    out: list[dict[str, Any]] = []
    keys: set[str] = set()
    for index, field in enumerate(raw):
        where = f"fields[{index}]"
        if not isinstance(field, dict):
            raise BoxError(400, "bad_request", f"'{where}' must be an object")
        ftype, key, name = field.get("type"), field.get("key"), field.get("displayName")
        if ftype not in FIELD_TYPES:
            raise BoxError(400, "bad_request", f"'{where}.type' must be one of {', '.join(FIELD_TYPES)}")
        if not isinstance(key, str) or not TEMPLATE_KEY.match(key) or len(key) > 256:
            raise BoxError(400, "bad_request", f"'{where}.key' must be letters, digits, '_' or '-'")
        if key in keys:
            raise BoxError(400, "bad_request", f"'{where}.key' duplicates the key '{key}'")
        keys.add(key)
        if not isinstance(name, str) or not name:
            raise BoxError(400, "bad_request", f"'{where}.displayName' is required")
        entry: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "type": ftype,
            "key": key,
            "displayName": name,
            "hidden": bool(field.get("hidden", False)),
        }
        if isinstance(field.get("description"), str):
            entry["description"] = field["description"]
        if ftype in ("enum", "multiSelect"):
            options = field.get("options")
            if (
                not isinstance(options, list)
                or not options
                or not all(isinstance(o, dict) and isinstance(o.get("key"), str) for o in options)
            ):
                raise BoxError(400, "bad_request", f"'{where}.options' needs a list of {{key}} for {ftype}")
            entry["options"] = [{"id": str(uuid.uuid4()), "key": o["key"]} for o in options]
        out.append(entry)
    return out


async def create_template(request: Request) -> Response:
    body = await json_body(request)
    st, who = store(request), caller(request)
    me = st.one("SELECT role, kind FROM users WHERE id = ?", (who.user_id,))
    if me is None or (me["role"] not in ADMIN_ROLES and me["kind"] != "service_account"):
        raise BoxError(
            403, "access_denied_insufficient_permissions", "Only admins and co-admins create templates"
        )
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
    scope = _enterprise_scope(st, who.user_id)
    with st.tx():
        if find_template(st, scope, key) is not None:
            raise BoxError(409, "conflict", f"A template with templateKey '{key}' already exists")
        row = {
            "id": str(uuid.uuid4()),
            "scope": scope,
            "template_key": key,
            "display_name": name,
            "hidden": int(bool(body.get("hidden", False))),
            "copy_instance_on_item_copy": int(bool(body.get("copyInstanceOnItemCopy", False))),
            "fields": json.dumps(fields),
        }
        st.insert("metadata_templates", row)
    return box_json(template_json(row), status=201)


async def delete_template(request: Request) -> Response:
    st, who = store(request), caller(request)
    scope = resolve_scope(request, request.path_params["scope"])
    me = st.one("SELECT role, kind FROM users WHERE id = ?", (who.user_id,))
    if scope == "global" or me is None or (me["role"] not in ADMIN_ROLES and me["kind"] != "service_account"):
        raise BoxError(
            403, "access_denied_insufficient_permissions", "Only admins delete enterprise templates"
        )
    key = request.path_params["template_key"]
    with st.tx():
        if st.x("DELETE FROM metadata_templates WHERE scope = ? AND template_key = ?", (scope, key)) == 0:
            raise not_found("Metadata template not found")
        st.x("DELETE FROM metadata_instances WHERE scope = ? AND template_key = ?", (scope, key))
    return Response(status_code=204)


# -- instances ----------------------------------------------------------------------------------
def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
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
    row = st.one(
        _INSTANCE_SQL,
        (item["type"], item["id"], scope, key),
    )
    if row is None:
        raise BoxError(404, "instance_not_found", "Instance not found")
    return row


async def list_instances(request: Request) -> Response:
    st, who = store(request), caller(request)
    item = load_item(request, _item_type(request), request.path_params["item_id"], "read")
    rows = st.q(
        "SELECT * FROM metadata_instances WHERE item_type = ? AND item_id = ? ORDER BY created_at, id",
        (item["type"], item["id"]),
    )
    can_edit = permissions.can(st, who, item, "update")
    return box_json({"entries": [instance_json(st, r, can_edit, full=False) for r in rows], "limit": 100})


async def get_instance(request: Request) -> Response:
    st, who = store(request), caller(request)
    item, scope, key = _instance(request, "read")
    row = _find_instance(st, item, scope, key)
    return box_json(instance_json(st, row, permissions.can(st, who, item, "update")))


async def create_instance(request: Request) -> Response:
    body = await json_body(request, required=False)
    st, who = store(request), caller(request)
    with st.tx():
        item, scope, key = _instance(request, "update")
        template = find_template(st, scope, key)
        if template is None:
            raise BoxError(404, "instance_tuple_not_found", "Template not found")
        validate_instance(template, body)
        exists = st.one(
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
        row = st.one("SELECT * FROM metadata_instances WHERE id = ?", (instance_id,))
        assert row is not None
        details = {"metadata_template": key, "metadata_scope": scope}
        emit_event(
            st, "METADATA_INSTANCE_CREATE", {"type": item["type"], "id": item["id"]}, who.user_id, details
        )
        return box_json(instance_json(st, row, True), status=201)


async def update_instance(request: Request) -> Response:
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
        item, scope, key = _instance(request, "update")
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
        fresh = st.one("SELECT * FROM metadata_instances WHERE id = ?", (row["id"],))
        assert fresh is not None
        details = {"metadata_template": key, "metadata_scope": scope}
        emit_event(
            st, "METADATA_INSTANCE_UPDATE", {"type": item["type"], "id": item["id"]}, who.user_id, details
        )
        return box_json(instance_json(st, fresh, True))


async def delete_instance(request: Request) -> Response:
    st, who = store(request), caller(request)
    with st.tx():
        item, scope, key = _instance(request, "update")
        row = _find_instance(st, item, scope, key)
        st.x("DELETE FROM metadata_instances WHERE id = ?", (row["id"],))
        details = {"metadata_template": key, "metadata_scope": scope}
        emit_event(
            st, "METADATA_INSTANCE_DELETE", {"type": item["type"], "id": item["id"]}, who.user_id, details
        )
    return Response(status_code=204)


_INSTANCE = "/metadata/{scope}/{template_key}"
routes: list[BaseRoute] = [
    Route("/2.0/metadata_templates", templates_by_instance, methods=["GET"]),
    Route("/2.0/metadata_templates/enterprise", enterprise_templates, methods=["GET"]),
    Route("/2.0/metadata_templates/global", global_templates, methods=["GET"]),
    Route("/2.0/metadata_templates/schema", create_template, methods=["POST"]),
    Route("/2.0/metadata_templates/{scope}/{template_key}/schema", get_template, methods=["GET"]),
    Route("/2.0/metadata_templates/{scope}/{template_key}/schema", delete_template, methods=["DELETE"]),
    Route("/2.0/metadata_templates/{template_id}", get_template_by_id, methods=["GET"]),
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

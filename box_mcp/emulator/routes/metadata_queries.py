"""Metadata queries (`POST /metadata_queries/execute_read`): one enterprise template's instances, filtered
by Box's query language (box_mcp/emulator/metadata_query.py), inside `ancestor_folder_id` (0: everywhere
the caller can see), only items the caller may at least preview, ordered by `order_by`, marker paging
(limit 0..100), and `fields` including `metadata.<scope>.<templateKey>[.<field>]`."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..common import box_json, caller, json_body, marker, marker_position, store, view
from ..errors import bad_request, not_found
from ..fields import parse_fields
from ..metadata_query import compile_query, sort_key
from ..store import Store
from ..template_ops import CLASSIFICATION_KEY
from .metadata import instance_json
from .metadata_templates import find_template

MAX_LIMIT = 100


def _template(st: Store, user_id: str, source: Any) -> sqlite3.Row | dict[str, Any]:
    if not isinstance(source, str) or source.count(".") != 1:
        raise bad_request("'from' must be 'enterprise_<id>.<templateKey>'")
    scope, key = source.split(".")
    me = st.fetch_one("SELECT enterprise_id FROM users WHERE id = ?", (user_id,))
    mine = f"enterprise_{me['enterprise_id']}" if me is not None else None
    if not scope.startswith("enterprise_") or scope == "enterprise_":
        raise bad_request(
            "'from' needs the enterprise's full scope, e.g. enterprise_123456 (not 'global' or 'enterprise')"
        )
    if key == CLASSIFICATION_KEY:
        raise bad_request("The classification template cannot be used in a metadata query")
    template = find_template(st, scope, key) if scope == mine else None
    if template is None:
        raise not_found(f"Metadata template '{source}' not found")
    return template


def _order(body: dict[str, Any], fields: dict[str, dict[str, Any]]) -> tuple[list[str], bool]:
    raw = body.get("order_by")
    if raw is None:
        return [], False
    if not isinstance(raw, list):
        raise bad_request("'order_by' must be a list of {field_key, direction}")
    keys, directions = [], set()
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or entry.get("field_key") not in fields:
            raise bad_request(f"'order_by[{index}].field_key' must be a field of the template")
        direction = str(entry.get("direction", "asc")).lower()
        if direction not in ("asc", "desc"):
            raise bad_request(f"'order_by[{index}].direction' must be asc or desc")
        keys.append(entry["field_key"])
        directions.add(direction)
    if len(directions) > 1:
        raise bad_request("Every 'order_by' entry must have the same direction")
    return keys, directions == {"desc"}


def _metadata_fields(names: list[str], scope: str, key: str) -> tuple[list[str], set[str] | None, bool]:
    """(item fields, instance fields asked for, whether the instance was asked for at all)."""
    plain, wanted, asked = [], set(), False
    for name in names:
        if not name.startswith("metadata."):
            plain.append(name)
            continue
        parts = name.split(".")
        if len(parts) < 3 or parts[1] != scope or parts[2] != key:
            raise bad_request(
                f"'fields' entry '{name}' must name the queried template: metadata.{scope}.{key}[.field]"
            )
        asked = True
        if len(parts) == 4:
            wanted.add(parts[3])
        elif len(parts) > 4:
            raise bad_request(f"'fields' entry '{name}' has too many parts")
    return plain, wanted, asked


async def execute_read(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    st, who = store(request), caller(request)
    template = _template(st, who.user_id, body.get("from"))
    scope, key = template["scope"], template["template_key"]
    fields = {f["key"]: f for f in json.loads(template["fields"])}
    params = body.get("query_params") or {}
    if not isinstance(params, dict):
        raise bad_request("'query_params' must be an object")
    query = body.get("query")
    if query is not None and not isinstance(query, str):
        raise bad_request("'query' must be a string")
    matches = compile_query(query, list(fields.values()), params)
    ancestor = body.get("ancestor_folder_id")
    if not isinstance(ancestor, str) or not ancestor.isdigit():
        raise bad_request(
            "'ancestor_folder_id' is required (a folder id; 0 searches every folder you can see)"
        )
    if ancestor != items.ROOT_ID:
        folder = items.get(st, ancestor, "folder")
        if folder is None or folder["status"] != "active" or not permissions.can(st, who, folder, "read"):
            raise not_found("Folder not found")
    order_keys, descending = _order(body, fields)
    limit = body.get("limit", MAX_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= MAX_LIMIT:
        raise bad_request(f"'limit' must be an integer from 0 to {MAX_LIMIT}")
    limit = limit or MAX_LIMIT
    names = body.get("fields") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise bad_request("'fields' must be a list of field names")
    plain, wanted, asked = _metadata_fields(names, scope, key)
    item_fields = parse_fields(",".join(plain)) if plain else []

    found: list[tuple[sqlite3.Row, sqlite3.Row, dict[str, Any]]] = []
    for inst in st.fetch_all(
        "SELECT * FROM metadata_instances WHERE scope = ? AND template_key = ? ORDER BY item_id",
        (scope, key),
    ):
        item = items.get(st, inst["item_id"], inst["item_type"])
        if item is None or item["status"] != "active":
            continue
        if ancestor != items.ROOT_ID and (item["id"] == ancestor or not items.is_within(st, item, ancestor)):
            continue  # items in the folder or below it: not the folder itself
        if not permissions.can(st, who, item, "read"):
            continue
        data = json.loads(inst["data"])
        if matches(data):
            found.append((item, inst, data))
    if order_keys:
        present: list[tuple[sqlite3.Row, sqlite3.Row, dict[str, Any]]] = []
        missing: list[tuple[sqlite3.Row, sqlite3.Row, dict[str, Any]]] = []
        for f in found:
            (present if all(f[2].get(k) is not None for k in order_keys) else missing).append(f)
        present.sort(
            key=lambda f: tuple(sort_key(fields[k]["type"], f[2].get(k)) for k in order_keys),
            reverse=descending,
        )
        found = present + missing  # items without a value come last in either direction

    given = body.get("marker")
    if given is not None and not isinstance(given, str):
        raise bad_request("'marker' must be a next_marker from an earlier page")
    start = marker_position(given) if given else 0
    page = found[start : start + limit]
    render = view(request)
    entries = []
    for item, inst, _data in page:
        out = render.item(item, item_fields)
        if asked:
            instance = instance_json(st, inst, permissions.can(st, who, item, "metadata"))
            shown = {k: v for k, v in instance.items() if k.startswith("$") or k in (wanted or ())}
            out["metadata"] = {scope: {key: shown}}
        entries.append(out)
    page_data: dict[str, Any] = {"entries": entries, "limit": limit}
    if start + limit < len(found):  # the spec types next_marker as a string: absent on the last page
        page_data["next_marker"] = marker(start + limit)
    return box_json(page_data)


routes: list[BaseRoute] = [
    Route("/2.0/metadata_queries/execute_read", execute_read, methods=["POST"]),
]

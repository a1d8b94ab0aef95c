"""Folders: get, list items (offset and marker paging, sort, type-first order), create."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import changes, items, permissions
from ..common import (
    box_json,
    caller,
    check_if_match,
    json_body,
    marker_page,
    not_modified,
    offset_page,
    store,
    view,
)
from ..errors import BoxError, not_found
from ..events import emit_event
from ..serialize import View, parse_fields
from ..store import Store

TYPE_ORDER = {"folder": 0, "file": 1, "web_link": 2}
SORT_KEYS = ("id", "name", "date", "size")


def load_folder(request: Request, folder_id: str, action: str) -> sqlite3.Row | None:
    """The folder row after the permission check (None for the caller's root '0')."""
    st, who = store(request), caller(request)
    if folder_id == items.ROOT_ID:
        permissions.check_root(st, who, action)
        return None
    row = items.get(st, folder_id, "folder")
    if row is None:
        raise not_found()
    permissions.check(st, who, row, action)
    if row["status"] == "trashed":
        raise BoxError(404, "trashed", "Item is trashed")
    return row


def root_entries(st: Store, user_id: str) -> list[sqlite3.Row]:
    """The caller's 'All Files': their own top-level items plus items collaborated with them."""
    own = items.children(st, items.ROOT_ID, user_id)
    groups = permissions.group_ids(st, user_id)
    marks = ",".join("?" * len(groups))
    group_clause = (
        f" OR (c.accessible_by_type = 'group' AND c.accessible_by_id IN ({marks}))" if groups else ""
    )
    shared = st.fetch_all(
        "SELECT DISTINCT i.* FROM items i JOIN collaborations c ON c.item_id = i.id "  # noqa: S608
        "WHERE i.status = 'active' AND i.owner_id != ? AND c.status = 'accepted' AND "
        f"((c.accessible_by_type = 'user' AND c.accessible_by_id = ?){group_clause})",
        [user_id, user_id, *groups],
    )
    return own + [row for row in shared if not _under_any(st, row, shared)]


def _under_any(st: Store, row: sqlite3.Row, others: list[sqlite3.Row]) -> bool:
    # A collaborated subfolder of a collaborated folder shows once, under its collaborated parent.
    ids = {o["id"] for o in others if o["id"] != row["id"]}
    return any(a["id"] in ids for a in items.ancestors(st, row))


def sorted_children(request: Request, folder_id: str) -> list[sqlite3.Row]:
    st, who = store(request), caller(request)
    rows = (
        root_entries(st, who.user_id)
        if folder_id == items.ROOT_ID
        else items.children(st, folder_id, who.user_id)
    )
    sort = request.query_params.get("sort", "name")
    direction = request.query_params.get("direction", "ASC").upper()
    if sort not in SORT_KEYS:
        raise BoxError(
            400, "bad_request", f"Invalid value '{sort}' for 'sort'; use one of {', '.join(SORT_KEYS)}"
        )
    if direction not in ("ASC", "DESC"):
        raise BoxError(400, "bad_request", "Invalid value for 'direction'; use ASC or DESC")

    def key(row: sqlite3.Row) -> Any:
        return {
            "id": int(row["id"]),
            "name": row["name"].lower(),
            "date": row["modified_at"],
            "size": row["size"],
        }[sort]

    rows.sort(key=key, reverse=direction == "DESC")
    rows.sort(key=lambda r: TYPE_ORDER.get(r["type"], 9))  # stable: type first, then the chosen order
    return rows


def item_page(request: Request, folder_id: str, fields: list[str] | None, v: View) -> dict[str, Any]:
    rows = sorted_children(request, folder_id)
    sort = request.query_params.get("sort", "name")
    order = [
        {"by": "type", "direction": "ASC"},
        {"by": sort, "direction": request.query_params.get("direction", "ASC").upper()},
    ]
    render = (lambda r: v.item(r, fields)) if fields is not None else v.mini
    if request.query_params.get("usemarker", "").lower() == "true":
        page, limit, next_marker = marker_page(request, rows, 100, 1000)
        return {
            "entries": [render(r) for r in page],
            "limit": limit,
            "next_marker": next_marker,
            "prev_marker": None,
            "order": order,
        }
    page, limit, offset = offset_page(request, rows, 100, 1000)
    return {
        "total_count": len(rows),
        "entries": [render(r) for r in page],
        "offset": offset,
        "limit": limit,
        "order": order,
    }


async def get_folder(request: Request) -> Response:
    folder_id = request.path_params["folder_id"]
    fields = parse_fields(request.query_params.get("fields"))
    row = load_folder(request, folder_id, "read")
    v = view(request)
    if row is None:
        data = v.root()
        if fields is not None:
            data = {k: data[k] for k in ("type", "id", "sequence_id", "etag", "name")} | {
                k: data[k] for k in fields if k in data
            }
    else:
        if not_modified(request, row):
            return Response(status_code=304)
        data = v.item(row, fields)
    if fields is None or "item_collection" in fields:
        data["item_collection"] = item_page(request, folder_id, None, v)
    return box_json(data, headers={"ETag": str(data["etag"])} if data.get("etag") is not None else None)


async def get_folder_items(request: Request) -> Response:
    folder_id = request.path_params["folder_id"]
    fields = parse_fields(request.query_params.get("fields"))
    load_folder(request, folder_id, "list")
    return box_json(item_page(request, folder_id, fields, view(request)))


async def create_folder(request: Request) -> Response:
    body = await json_body(request)
    fields = parse_fields(request.query_params.get("fields"))
    name = items.validate_name(body.get("name"))
    parent = body.get("parent")
    if not isinstance(parent, dict) or not isinstance(parent.get("id"), str):
        raise BoxError(400, "bad_request", "'parent.id' is required (the id of the folder to create in)")
    st, who = store(request), caller(request)
    with st.tx():
        parent_row = load_folder(request, parent["id"], "upload")
        if parent_row is not None:
            check_if_match(request, parent_row)
        conflict = items.find_conflict(st, parent["id"], who.user_id, name)
        v = view(request)
        if conflict is not None:
            raise BoxError(
                409,
                "item_name_in_use",
                "Item with the same name already exists",
                context_info={"conflicts": [v.mini(conflict)]},
            )
        row = items.create_folder(st, parent["id"], name, who.user_id)
        data = v.item(row, fields)
        emit_event(st, "ITEM_CREATE", v.item(row), who.user_id)
    return box_json(data, status=201)


async def update_folder(request: Request) -> Response:
    body = await json_body(request, required=False)
    fields = parse_fields(request.query_params.get("fields"))
    folder_id = request.path_params["folder_id"]
    if folder_id == items.ROOT_ID:
        raise BoxError(403, "access_denied_insufficient_permissions", "The root folder cannot be changed")
    st, who = store(request), caller(request)
    with st.tx():
        row = load_folder(request, folder_id, "read")
        assert row is not None
        check_if_match(request, row)
        v = view(request)
        updated = changes.update_item(st, who, row, body, v)
        data = v.item(updated, fields)
    return box_json(data)


async def copy_folder(request: Request) -> Response:
    body = await json_body(request)
    fields = parse_fields(request.query_params.get("fields"))
    folder_id = request.path_params["folder_id"]
    if folder_id == items.ROOT_ID:
        raise BoxError(400, "bad_request", "The root folder cannot be copied")
    st, who = store(request), caller(request)
    with st.tx():
        row = load_folder(request, folder_id, "read")
        assert row is not None
        v = view(request)
        copied = changes.copy_item(st, who, row, body.get("parent"), body.get("name"), v)
        data = v.item(copied, fields)
    return box_json(data, status=201)


async def delete_folder(request: Request) -> Response:
    folder_id = request.path_params["folder_id"]
    if folder_id == items.ROOT_ID:
        raise BoxError(403, "access_denied_insufficient_permissions", "The root folder cannot be deleted")
    recursive = request.query_params.get("recursive", "false").lower() == "true"
    st, who = store(request), caller(request)
    with st.tx():
        row = load_folder(request, folder_id, "read")
        assert row is not None
        check_if_match(request, row)
        changes.trash_item(st, who, row, view(request), recursive=recursive)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/2.0/folders", create_folder, methods=["POST"]),
    Route("/2.0/folders/{folder_id:boxid}", update_folder, methods=["PUT"]),
    Route("/2.0/folders/{folder_id:boxid}", delete_folder, methods=["DELETE"]),
    Route("/2.0/folders/{folder_id:boxid}/copy", copy_folder, methods=["POST"]),
    Route("/2.0/folders/{folder_id:boxid}", get_folder, methods=["GET"]),
    Route("/2.0/folders/{folder_id:boxid}/items", get_folder_items, methods=["GET"]),
]

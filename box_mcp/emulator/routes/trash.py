"""Trash: list the caller's trash, get a trashed file or folder, restore it, delete it permanently."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import changes, items, permissions
from ..common import box_json, caller, json_body, marker_page, offset_page, store, view
from ..errors import BoxError, not_found
from ..serialize import parse_fields
from .folders import TYPE_ORDER

TRASH_PATH = {
    "total_count": 1,
    "entries": [{"type": "folder", "id": "1", "sequence_id": None, "etag": None, "name": "Trash"}],
}
SORTS = ("name", "date", "size")


def load_trashed(request: Request, item_type: str) -> sqlite3.Row:
    st = store(request)
    row = items.get(st, request.path_params["item_id"], item_type)
    if row is None:
        raise not_found()
    permissions.check(st, caller(request), row, "read")
    if row["status"] != "trashed":
        raise BoxError(404, "not_trashed", "Item is not trashed")
    return row


def trashed_json(request: Request, row: sqlite3.Row, fields: list[str] | None) -> dict[str, Any]:
    data = view(request).item(row, fields)
    if fields is None or "path_collection" in fields:
        data["path_collection"] = TRASH_PATH
    return _no_link(data)


def _no_link(data: dict[str, Any]) -> dict[str, Any]:
    """Box shows a trashed file's or folder's shared link as null, and still null in the answer to its
    restore, "even though the original shared link does become active again" (TrashFileRestored)."""
    if "shared_link" in data and data.get("type") in ("file", "folder"):
        data["shared_link"] = None
    return data


async def get_trashed(request: Request) -> Response:
    item_type = "file" if request.url.path.startswith("/2.0/files/") else "folder"
    fields = parse_fields(request.query_params.get("fields"))
    return box_json(trashed_json(request, load_trashed(request, item_type), fields))


async def restore(request: Request) -> Response:
    item_type = "file" if request.url.path.startswith("/2.0/files/") else "folder"
    body = await json_body(request, required=False)
    fields = parse_fields(request.query_params.get("fields"))
    st, who = store(request), caller(request)
    with st.tx():
        row = items.get(st, request.path_params["item_id"], item_type)
        if row is None or permissions.role_on(st, who.user_id, row) is None:
            raise not_found()
        v = view(request)
        restored = changes.restore_item(st, who, row, body, v)
        data = _no_link(v.item(restored, fields))
    return box_json(data, status=201)


async def purge(request: Request) -> Response:
    item_type = "file" if request.url.path.startswith("/2.0/files/") else "folder"
    st, who = store(request), caller(request)
    with st.tx():
        row = items.get(st, request.path_params["item_id"], item_type)
        if row is None or permissions.role_on(st, who.user_id, row) is None:
            raise not_found()
        changes.purge_item(st, who, row)
    return Response(status_code=204)


async def list_trash(request: Request) -> Response:
    st, who = store(request), caller(request)
    fields = parse_fields(request.query_params.get("fields"))
    permissions.check_root(st, who, "list")
    sort = request.query_params.get("sort", "name")
    direction = request.query_params.get("direction", "ASC").upper()
    if sort not in SORTS or direction not in ("ASC", "DESC"):
        raise BoxError(400, "bad_request", "sort must be name, date or size; direction ASC or DESC")
    rows = st.fetch_all(
        "SELECT * FROM items WHERE status = 'trashed' AND trash_root = 1 AND owner_id = ?", (who.user_id,)
    )
    column = {"name": "name", "date": "trashed_at", "size": "size"}[sort]
    rows.sort(
        key=lambda r: r[column].lower() if column == "name" else r[column] or 0, reverse=direction == "DESC"
    )
    rows.sort(key=lambda r: TYPE_ORDER.get(r["type"], 9))
    v = view(request)
    render = (lambda r: v.item(r, fields)) if fields is not None else v.mini
    order = [{"by": sort, "direction": direction}]
    if request.query_params.get("usemarker", "").lower() == "true":
        page, limit, next_marker = marker_page(request, rows, 100, 1000)
        return box_json(
            {
                "entries": [render(r) for r in page],
                "limit": limit,
                "next_marker": next_marker,
                "prev_marker": None,
                "order": order,
            }
        )
    page, limit, offset = offset_page(request, rows, 100, 1000)
    return box_json(
        {
            "total_count": len(rows),
            "entries": [render(r) for r in page],
            "offset": offset,
            "limit": limit,
            "order": order,
        }
    )


routes: list[BaseRoute] = [
    Route("/2.0/folders/trash/items", list_trash, methods=["GET"]),
    Route("/2.0/files/{item_id:boxid}/trash", get_trashed, methods=["GET"]),
    Route("/2.0/folders/{item_id:boxid}/trash", get_trashed, methods=["GET"]),
    Route("/2.0/files/{item_id:boxid}/trash", purge, methods=["DELETE"]),
    Route("/2.0/folders/{item_id:boxid}/trash", purge, methods=["DELETE"]),
    Route("/2.0/files/{item_id:boxid}", restore, methods=["POST"]),
    Route("/2.0/folders/{item_id:boxid}", restore, methods=["POST"]),
]

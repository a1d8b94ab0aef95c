"""Folder locks: `POST /folder_locks`, `GET /folder_locks?folder_id=`, `DELETE /folder_locks/{id}`.

Box: "you must be authenticated as the owner or co-owner of the folder"; a lock freezes the folder against
being moved (to a new place or owner) and deleted, and `locked_operations`, when given, must set both
`move` and `delete` to true. Anyone else who can see the folder gets 404 on create and list (Box's
`not_found` "or the user making call is not an owner or co-owner"), 403 on delete. The freeze itself is
enforced where folders move and are trashed (changes.check_folder_unlocked).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..common import box_json, caller, json_body, load_item, store, view
from ..errors import BoxError, not_found
from ..store import iso, now

MANAGERS = ("owner", "co-owner")


def lock_json(request: Request, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "type": "folder_lock",
        "id": row["id"],
        "folder": view(request).folder_mini(row["folder_id"]),
        "created_by": {"type": "user", "id": row["created_by"]},
        "created_at": iso(row["created_at"]),
        "locked_operations": {"move": bool(row["locks_move"]), "delete": bool(row["locks_delete"])},
        "lock_type": "freeze",
    }


def _managed_folder(request: Request, folder_id: str, action: str) -> sqlite3.Row:
    """The folder, when the caller is its owner or co-owner; 404 for anyone else (Box's answer)."""
    if folder_id == items.ROOT_ID:
        raise BoxError(400, "bad_request", "The root folder cannot be locked")
    row = load_item(request, "folder", folder_id, action)
    if permissions.role_on(store(request), caller(request).user_id, row) not in MANAGERS:
        raise not_found("Not Found: only the folder's owner or a co-owner manages its locks")
    return row


async def create_lock(request: Request) -> Response:
    body = await json_body(request)
    folder = body.get("folder")
    if not isinstance(folder, dict) or folder.get("type", "folder") != "folder":
        raise BoxError(400, "bad_request", '\'folder\' is required: {"type": "folder", "id": "<id>"}')
    folder_id = folder.get("id")
    if not isinstance(folder_id, str) or not folder_id.isdigit():
        raise BoxError(400, "bad_request", "'folder.id' must be a Box folder id (digits, as a string)")
    ops = body.get("locked_operations", {"move": True, "delete": True})
    if not isinstance(ops, dict) or ops.get("move") is not True or ops.get("delete") is not True:
        raise BoxError(
            400,
            "schema_validation_failed",
            "locked_operations, when given, must set both 'move' and 'delete' to true",
        )
    st, who = store(request), caller(request)
    with st.tx():
        row = _managed_folder(request, folder_id, "update")
        lock_id = st.next_id("folder_lock")
        st.insert(
            "folder_locks",
            {
                "id": lock_id,
                "folder_id": row["id"],
                "locks_move": 1,
                "locks_delete": 1,
                "created_by": who.user_id,
                "created_at": now(),
            },
        )
        created = st.fetch_one("SELECT * FROM folder_locks WHERE id = ?", (lock_id,))
    assert created is not None
    return box_json(lock_json(request, created))


async def list_locks(request: Request) -> Response:
    folder_id = request.query_params.get("folder_id")
    if not folder_id or not folder_id.isdigit():
        raise BoxError(400, "bad_request", "folder_id is required: the folder whose locks to list")
    st = store(request)
    row = _managed_folder(request, folder_id, "read")
    rows = st.fetch_all(
        "SELECT * FROM folder_locks WHERE folder_id = ? ORDER BY created_at, id", (row["id"],)
    )
    return box_json({"entries": [lock_json(request, r) for r in rows], "limit": "1000", "next_marker": None})


async def delete_lock(request: Request) -> Response:
    st, who = store(request), caller(request)
    with st.tx():
        lock = st.fetch_one("SELECT * FROM folder_locks WHERE id = ?", (request.path_params["lock_id"],))
        if lock is None:
            raise not_found("Folder lock not found")
        row = load_item(request, "folder", lock["folder_id"], "update", allow_trashed=True)
        if permissions.role_on(st, who.user_id, row) not in MANAGERS:
            raise BoxError(
                403,
                "access_denied_insufficient_permissions",
                "Only the folder's owner or a co-owner can remove its lock",
            )
        st.execute("DELETE FROM folder_locks WHERE id = ?", (lock["id"],))
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/2.0/folder_locks", create_lock, methods=["POST"]),
    Route("/2.0/folder_locks", list_locks, methods=["GET"]),
    Route("/2.0/folder_locks/{lock_id:boxid}", delete_lock, methods=["DELETE"]),
]

"""Collaborations: create (by user id, login or group id), get, update (role, status, owner transfer),
delete, and the lists on a file, a folder and the caller's pending invites. Inheritance down the tree
is applied by `permissions.role_on`; this module only writes the rows it reads."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..auth import Caller
from ..common import (
    box_json,
    caller,
    choice,
    group_mini,
    item_ref,
    json_body,
    load_item,
    marker_page,
    offset_page,
    store,
    user_row,
    view,
)
from ..errors import BoxError, not_found
from ..events import emit_event
from ..serialize import INVITEE_ROLES, View, user_mini
from ..store import Store, iso, now, timestamp
from .groups import invitable_group, load_group

COLLAB_FIELDS = frozenset(
    {
        "type",
        "id",
        "item",
        "app_item",
        "accessible_by",
        "invite_email",
        "role",
        "expires_at",
        "is_access_only",
        "status",
        "acknowledged_at",
        "created_by",
        "created_at",
        "modified_at",
        "acceptance_requirements_status",
        "can_view_path",
    }
)
# Only the owner and co-owners may hand out co-owner (Box: editors invite at editor level and below).
OWNER_GRANTS = frozenset({"owner", "co-owner"})


def collab_json(st: Store, v: View, row: sqlite3.Row, fields: list[str] | None = None) -> dict[str, Any]:
    item = items.get(st, row["item_id"], row["item_type"])
    if row["accessible_by_type"] == "group":
        grantee: dict[str, Any] = group_mini(st, row["accessible_by_id"])
    elif row["accessible_by_id"]:
        user = user_row(st, row["accessible_by_id"])
        grantee = {
            **user_mini(st, row["accessible_by_id"]),
            "is_active": bool(user and user["status"] == "active"),
        }
    else:  # an invite to a login with no Box account yet: only the e-mail is known
        grantee = {
            "type": "user",
            "id": "",
            "name": "",
            "login": row["invite_email"] or "",
            "is_active": False,
        }
    pending = row["status"] == "pending"
    data: dict[str, Any] = {
        "type": "collaboration",
        "id": row["id"],
        "item": v.mini(item) if item is not None and not pending else None,
        "app_item": None,
        "accessible_by": grantee,
        "invite_email": row["invite_email"],
        "role": row["role"],
        "expires_at": iso(row["expires_at"]),
        "is_access_only": False,
        "status": row["status"],
        "acknowledged_at": iso(row["acknowledged_at"] or row["created_at"]),
        "created_by": user_mini(st, row["created_by"]),
        "created_at": iso(row["created_at"]),
        "modified_at": iso(row["modified_at"]),
    }
    if fields is not None:
        wanted = {"type", "id", *fields}
        data = {k: val for k, val in data.items() if k in wanted}
        if "can_view_path" in wanted:
            data["can_view_path"] = bool(row["can_view_path"])
    return data


def _fields(request: Request) -> list[str] | None:
    raw = request.query_params.get("fields")
    if raw is None:
        return None
    names = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = [n for n in names if n not in COLLAB_FIELDS]
    if unknown:
        raise BoxError(400, "bad_request", f"Unknown field '{unknown[0]}' requested in 'fields'")
    return names


def _load(request: Request, collab_id: str) -> tuple[sqlite3.Row, sqlite3.Row]:
    """The collaboration and its item, visible to its collaborator and to anyone who can see the item."""
    st, who = store(request), caller(request)
    row = st.fetch_one("SELECT * FROM collaborations WHERE id = ?", (collab_id,))
    if row is None:
        raise not_found()
    item = items.get(st, row["item_id"], row["item_type"])
    if item is None:
        raise not_found()
    mine = row["accessible_by_type"] == "user" and row["accessible_by_id"] == who.user_id
    if not mine and not permissions.can(st, who, item, "read"):
        raise not_found()
    return row, item


def _grantee(st: Store, caller: Caller, body: dict[str, Any]) -> tuple[str, str, str | None]:
    """(accessible_by_type, id, invite_email) from `accessible_by`: a user id, a login, or a group id."""
    who = body.get("accessible_by")
    if not isinstance(who, dict):
        raise BoxError(400, "bad_request", "'accessible_by' is required: {type: user|group, id or login}")
    kind = who.get("type")
    ident, login = who.get("id"), who.get("login")
    if kind == "group":
        return "group", str(invitable_group(st, caller, ident)["id"]), None
    if kind != "user":
        raise BoxError(400, "bad_request", "'accessible_by.type' must be 'user' or 'group'")
    if ident is not None:
        if not isinstance(ident, str) or user_row(st, ident) is None:
            raise not_found("User not found; 'accessible_by.id' must name an existing user")
        return "user", ident, None
    if not isinstance(login, str) or "@" not in login:
        raise BoxError(400, "bad_request", "'accessible_by' needs an 'id' or an e-mail 'login'")
    row = st.fetch_one("SELECT id FROM users WHERE lower(login) = lower(?)", (login,))
    return ("user", row["id"], None) if row else ("user", "", login)


async def create_collaboration(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    fields = _fields(request)
    item_type, item_id = item_ref(body, "item", ("file", "folder"))
    if item_id == items.ROOT_ID:
        raise BoxError(
            400, "collaborations_not_available_on_root_folder", "Root folder cannot be collaborated"
        )
    role = choice(body, "role", tuple(INVITEE_ROLES))
    if role is None:
        raise BoxError(400, "bad_request", f"'role' is required: one of {', '.join(INVITEE_ROLES)}")
    st, who = store(request), caller(request)
    expires_at = timestamp(body.get("expires_at"), "expires_at")
    if expires_at is not None and expires_at <= now():
        raise BoxError(400, "bad_request", "'expires_at' must be in the future")
    can_view_path = body.get("can_view_path", False)
    if not isinstance(can_view_path, bool):
        raise BoxError(400, "bad_request", "'can_view_path' must be a boolean")
    with st.tx():
        item = load_item(request, item_type, item_id, "invite")
        my_role = permissions.role_on(st, who.user_id, item)
        if role == "co-owner" and my_role not in OWNER_GRANTS:
            raise BoxError(
                403, "access_denied_insufficient_permissions", "Only owners and co-owners can add co-owners"
            )
        if can_view_path and (item_type != "folder" or my_role not in OWNER_GRANTS):
            raise BoxError(
                400, "bad_request", "'can_view_path' applies to folders, set by an owner or co-owner"
            )
        kind, ident, email = _grantee(st, who, body)
        if kind == "user" and ident == item["owner_id"]:
            raise BoxError(400, "bad_request", "The owner of an item cannot be added as its collaborator")
        existing = st.fetch_one(
            "SELECT id FROM collaborations WHERE item_id = ? AND accessible_by_type = ? AND "
            "((accessible_by_id = ? AND ? != '') OR (invite_email = ? AND ? IS NOT NULL))",
            (item_id, kind, ident, ident, email, email),
        )
        if existing is not None:
            raise BoxError(400, "user_already_collaborator", "User is already a collaborator")
        ts = now()
        collab_id = st.next_id("collaboration")
        st.insert(
            "collaborations",
            {
                "id": collab_id,
                "item_type": item_type,
                "item_id": item_id,
                "accessible_by_type": kind,
                "accessible_by_id": ident,
                "invite_email": email,
                "role": role,
                "status": "pending" if email else "accepted",
                "can_view_path": int(can_view_path),
                "created_by": who.user_id,
                "created_at": ts,
                "modified_at": ts,
                "expires_at": expires_at,
                "acknowledged_at": None if email else ts,
            },
        )
        row = st.fetch_one("SELECT * FROM collaborations WHERE id = ?", (collab_id,))
        assert row is not None
        v = view(request)
        emit_event(st, "COLLABORATION_INVITE", collab_json(st, v, row), who.user_id)
        return box_json(collab_json(st, v, row, fields), status=201)


async def get_collaboration(request: Request) -> Response:
    fields = _fields(request)
    row, _ = _load(request, request.path_params["collab_id"])
    return box_json(collab_json(store(request), view(request), row, fields))


async def update_collaboration(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    fields = _fields(request)
    st, who = store(request), caller(request)
    allowed_roles = (*INVITEE_ROLES, "owner")
    with st.tx():
        row, item = _load(request, request.path_params["collab_id"])
        role = choice(body, "role", allowed_roles)
        status = choice(body, "status", ("accepted", "rejected", "pending"))
        mine = row["accessible_by_type"] == "user" and row["accessible_by_id"] == who.user_id
        if status is not None and status != row["status"]:
            if row["status"] != "pending":
                raise BoxError(
                    400, "invalid_status", "You can change the status only if the collaboration is pending"
                )
            if not mine:
                raise BoxError(
                    403, "access_denied_insufficient_permissions", "Only the invitee can accept or reject"
                )
        if role is not None or "expires_at" in body or "can_view_path" in body:
            permissions.check(st, who, item, "invite")
        if role == "owner":
            return _transfer_ownership(request, st, row, item)
        if role == "co-owner" and permissions.role_on(st, who.user_id, item) not in OWNER_GRANTS:
            raise BoxError(
                403, "access_denied_insufficient_permissions", "Only owners and co-owners can add co-owners"
            )
        changes: dict[str, Any] = {"modified_at": now()}
        if role is not None:
            changes["role"] = role
        if status is not None:
            changes["status"] = status
            changes["acknowledged_at"] = now()
        if "expires_at" in body:
            changes["expires_at"] = timestamp(body["expires_at"], "expires_at")
        if "can_view_path" in body:
            if not isinstance(body["can_view_path"], bool):
                raise BoxError(400, "bad_request", "'can_view_path' must be a boolean")
            changes["can_view_path"] = int(body["can_view_path"])
        st.update("collaborations", {"id": row["id"]}, changes)
        updated = st.fetch_one("SELECT * FROM collaborations WHERE id = ?", (row["id"],))
        assert updated is not None
        v = view(request)
        event = {"accepted": "COLLABORATION_ACCEPT", "rejected": "COLLABORATION_REJECT"}.get(
            status or "", "COLLABORATION_ROLE_CHANGE"
        )
        emit_event(st, event, collab_json(st, v, updated), who.user_id)
        return box_json(collab_json(st, v, updated, fields))


def _transfer_ownership(request: Request, st: Store, row: sqlite3.Row, item: sqlite3.Row) -> Response:
    """role=owner: the collaborator becomes owner of the item and its tree; the old owner an editor."""
    who = caller(request)
    if item["owner_id"] != who.user_id:
        raise BoxError(403, "access_denied_insufficient_permissions", "Only the owner can transfer ownership")
    if row["accessible_by_type"] != "user" or row["status"] != "accepted":
        raise BoxError(400, "bad_request", "Ownership moves only to a user whose collaboration is accepted")
    new_owner = row["accessible_by_id"]
    ids = [item["id"], *(d["id"] for d in items.descendants(st, item["id"]))]
    for item_id in ids:
        st.execute("UPDATE items SET owner_id = ? WHERE id = ?", (new_owner, item_id))
    st.update(
        "collaborations",
        {"id": row["id"]},
        {"accessible_by_id": who.user_id, "role": "editor", "modified_at": now(), "created_by": new_owner},
    )
    # The item leaves the old owner's tree: it now hangs off the new owner's root.
    if item["parent_id"] != items.ROOT_ID:
        st.execute("UPDATE items SET parent_id = ? WHERE id = ?", (items.ROOT_ID, item["id"]))
    emit_event(st, "COLLABORATION_ROLE_CHANGE", {"type": "collaboration", "id": row["id"]}, who.user_id)
    return Response(status_code=204)


async def delete_collaboration(request: Request) -> Response:
    st, who = store(request), caller(request)
    with st.tx():
        row, item = _load(request, request.path_params["collab_id"])
        mine = row["accessible_by_type"] == "user" and row["accessible_by_id"] == who.user_id
        if not mine:
            permissions.check(st, who, item, "invite")
        snapshot = collab_json(st, view(request), row)
        st.execute("DELETE FROM collaborations WHERE id = ?", (row["id"],))
        emit_event(st, "COLLABORATION_REMOVE", snapshot, who.user_id)
    return Response(status_code=204)


def _item_collabs(request: Request, item_type: str) -> Response:
    fields = _fields(request)
    st = store(request)
    item_id = request.path_params["item_id"]
    if item_id == items.ROOT_ID:
        return box_json({"entries": [], "limit": 100, "next_marker": None, "prev_marker": None})
    item = load_item(request, item_type, item_id, "read")
    rows = st.fetch_all(
        "SELECT * FROM collaborations WHERE item_id = ? AND status != 'rejected' "
        "ORDER BY CAST(id AS INTEGER)",
        (item["id"],),
    )
    page, limit, next_marker = marker_page(request, rows, 100, 1000)
    v = view(request)
    return box_json(
        {
            "entries": [collab_json(st, v, r, fields) for r in page],
            "limit": limit,
            "next_marker": next_marker,
            "prev_marker": None,
        }
    )


async def folder_collaborations(request: Request) -> Response:
    return _item_collabs(request, "folder")


async def file_collaborations(request: Request) -> Response:
    return _item_collabs(request, "file")


async def pending_collaborations(request: Request) -> Response:
    """GET /collaborations?status=pending: the invites waiting for the caller's answer."""
    if request.query_params.get("status") != "pending":
        raise BoxError(400, "bad_request", "'status' is required and must be 'pending'")
    fields = _fields(request)
    st, who = store(request), caller(request)
    rows = st.fetch_all(
        "SELECT * FROM collaborations WHERE status = 'pending' AND accessible_by_type = 'user' "
        "AND accessible_by_id = ? ORDER BY CAST(id AS INTEGER)",
        (who.user_id,),
    )
    page, limit, offset = offset_page(request, rows, 100, 1000)
    v = view(request)
    return box_json(
        {
            "total_count": len(rows),
            "limit": limit,
            "offset": offset,
            "entries": [collab_json(st, v, r, fields) for r in page],
        }
    )


async def group_collaborations(request: Request) -> Response:
    """GET /groups/{id}/collaborations: what the group was invited to (offset paging)."""
    group = load_group(request, request.path_params["group_id"])
    st = store(request)
    rows = st.fetch_all(
        "SELECT * FROM collaborations WHERE accessible_by_type = 'group' AND accessible_by_id = ? "
        "ORDER BY CAST(id AS INTEGER)",
        (group["id"],),
    )
    page, limit, offset = offset_page(request, rows, 100, 1000)
    v = view(request)
    return box_json(
        {
            "total_count": len(rows),
            "limit": limit,
            "offset": offset,
            "entries": [collab_json(st, v, r) for r in page],
        }
    )


routes: list[BaseRoute] = [
    Route("/2.0/collaborations", create_collaboration, methods=["POST"]),
    Route("/2.0/collaborations", pending_collaborations, methods=["GET"]),
    Route("/2.0/collaborations/{collab_id:boxid}", get_collaboration, methods=["GET"]),
    Route("/2.0/collaborations/{collab_id:boxid}", update_collaboration, methods=["PUT"]),
    Route("/2.0/collaborations/{collab_id:boxid}", delete_collaboration, methods=["DELETE"]),
    Route("/2.0/folders/{item_id:boxid}/collaborations", folder_collaborations, methods=["GET"]),
    Route("/2.0/files/{item_id:boxid}/collaborations", file_collaborations, methods=["GET"]),
    Route("/2.0/groups/{group_id:boxid}/collaborations", group_collaborations, methods=["GET"]),
]

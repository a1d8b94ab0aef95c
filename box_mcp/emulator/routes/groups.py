"""Groups and group memberships: enterprise managers manage them; members can see their own groups."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..auth import Caller
from ..common import box_json, caller, json_body, offset_page, store
from ..errors import BoxError, not_found
from ..people import caller_row, group_json, is_enterprise_manager, membership_json, require_manager
from ..store import Store, now

LEVELS = {
    "invitability_level": ("admins_only", "admins_and_members", "all_managed_users"),
    "member_viewability_level": ("admins_only", "admins_and_members", "all_managed_users"),
}
MEMBER_ROLES = ("member", "admin")


def _is_member(st: Any, user_id: str, group_id: str) -> bool:
    return (
        st.fetch_one(
            "SELECT id FROM group_memberships WHERE user_id = ? AND group_id = ?", (user_id, group_id)
        )
        is not None
    )


def invitable_group(st: Store, who: Caller, group_id: object) -> sqlite3.Row:
    """The group a collaboration is given to, if the caller may invite it: its `invitability_level` says
    who may (admins_only: the enterprise's admins, co-admins and the group's own admins; admins_and_members:
    also its members; all_managed_users: every managed user of the enterprise). Another enterprise's group,
    or none, is 404."""
    me = caller_row(st, who)
    row = (
        st.fetch_one("SELECT * FROM groups WHERE id = ?", (group_id,)) if isinstance(group_id, str) else None
    )
    if row is None or row["enterprise_id"] != me["enterprise_id"]:
        raise not_found("Group not found; 'accessible_by.id' must name an existing group")
    if is_enterprise_manager(st, who):
        return row
    membership = st.fetch_one(
        "SELECT role FROM group_memberships WHERE user_id = ? AND group_id = ?", (me["id"], row["id"])
    )
    level = row["invitability_level"]
    allowed = (
        (membership is not None and membership["role"] == "admin")
        or (level == "admins_and_members" and membership is not None)
        or (level == "all_managed_users" and me["kind"] == "managed")
    )
    if not allowed:
        raise BoxError(
            403,
            "access_denied_insufficient_permissions",
            f"This group's invitability_level ({level}) does not let you invite it to collaborate",
        )
    return row


def load_group(request: Request, group_id: str, *, manage: bool = False) -> sqlite3.Row:
    st, who = store(request), caller(request)
    me = caller_row(st, who)
    row = st.fetch_one("SELECT * FROM groups WHERE id = ?", (group_id,))
    if row is None or row["enterprise_id"] != me["enterprise_id"]:
        raise not_found()
    if manage:
        require_manager(st, who, "manage_groups")
    elif not (is_enterprise_manager(st, who) or _is_member(st, me["id"], group_id)):
        raise not_found()
    return row


def _group_values(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    name = body.get("name")
    if creating or "name" in body:
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise BoxError(400, "bad_request", "'name' must be a non-empty string of at most 255 characters")
        values["name"] = name
    for key in ("description", "provenance", "external_sync_identifier"):
        if key in body:
            if not isinstance(body[key], str) or len(body[key]) > 255:
                raise BoxError(400, "bad_request", f"'{key}' must be a string of at most 255 characters")
            values[key] = body[key]
    for key, allowed in LEVELS.items():
        if key in body:
            if body[key] not in allowed:
                raise BoxError(400, "bad_request", f"'{key}' must be one of {', '.join(allowed)}")
            values[key] = body[key]
    return values


def _name_taken(st: Any, enterprise_id: str, name: str, exclude: str | None = None) -> bool:
    row = st.fetch_one(
        "SELECT id FROM groups WHERE enterprise_id = ? AND lower(name) = lower(?) AND id != ?",
        (enterprise_id, name, exclude or ""),
    )
    return row is not None


async def list_groups(request: Request) -> Response:
    st, who = store(request), caller(request)
    me = caller_row(st, who)
    sql, params = "SELECT * FROM groups WHERE enterprise_id = ?", [me["enterprise_id"]]
    if not is_enterprise_manager(st, who):
        sql += " AND id IN (SELECT group_id FROM group_memberships WHERE user_id = ?)"
        params.append(me["id"])
    term = request.query_params.get("filter_term")
    if term:
        sql += " AND lower(name) LIKE ?"
        params.append(f"{term.lower()}%")
    rows = st.fetch_all(sql + " ORDER BY id", params)
    page, limit, offset = offset_page(request, rows, 100, 1000)
    return box_json(
        {
            "total_count": len(rows),
            "entries": [group_json(r) for r in page],
            "limit": limit,
            "offset": offset,
        }
    )


async def create_group(request: Request) -> Response:
    st, who = store(request), caller(request)
    body = await json_body(request)
    me = require_manager(st, who, "manage_groups")
    values = _group_values(body, creating=True)
    with st.tx():
        if _name_taken(st, me["enterprise_id"], values["name"]):
            raise BoxError(409, "conflict", "A group with this name already exists")
        ts = now()
        group_id = st.next_id("group")
        st.insert(
            "groups",
            {
                "id": group_id,
                "enterprise_id": me["enterprise_id"],
                "created_at": ts,
                "modified_at": ts,
                **values,
            },
        )
        row = st.fetch_one("SELECT * FROM groups WHERE id = ?", (group_id,))
    assert row is not None
    return box_json(group_json(row), status=201)


async def get_group(request: Request) -> Response:
    return box_json(group_json(load_group(request, request.path_params["group_id"])))


async def update_group(request: Request) -> Response:
    st = store(request)
    body = await json_body(request)
    row = load_group(request, request.path_params["group_id"], manage=True)
    values = _group_values(body, creating=False)
    with st.tx():
        if "name" in values and _name_taken(st, row["enterprise_id"], values["name"], exclude=row["id"]):
            raise BoxError(409, "conflict", "A group with this name already exists")
        if values:
            st.update("groups", {"id": row["id"]}, {**values, "modified_at": now()})
        updated = st.fetch_one("SELECT * FROM groups WHERE id = ?", (row["id"],))
    assert updated is not None
    return box_json(group_json(updated))


async def delete_group(request: Request) -> Response:
    st = store(request)
    row = load_group(request, request.path_params["group_id"], manage=True)
    with st.tx():
        st.execute("DELETE FROM group_memberships WHERE group_id = ?", (row["id"],))
        st.execute(
            "DELETE FROM collaborations WHERE accessible_by_type = 'group' AND accessible_by_id = ?",
            (row["id"],),
        )
        st.execute("DELETE FROM groups WHERE id = ?", (row["id"],))
    return Response(status_code=204)


async def group_memberships(request: Request) -> Response:
    st = store(request)
    row = load_group(request, request.path_params["group_id"])
    rows = st.fetch_all("SELECT * FROM group_memberships WHERE group_id = ? ORDER BY id", (row["id"],))
    page, limit, offset = offset_page(request, rows, 100, 1000)
    return box_json(
        {
            "total_count": len(rows),
            "entries": [membership_json(st, r) for r in page],
            "limit": limit,
            "offset": offset,
        }
    )


def _ref_id(body: dict[str, Any], key: str) -> str:
    ref = body.get(key)
    if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
        raise BoxError(400, "bad_request", f"'{key}.id' is required")
    return str(ref["id"])


async def create_membership(request: Request) -> Response:
    st, who = store(request), caller(request)
    body = await json_body(request)
    me = require_manager(st, who, "manage_groups")
    user_id, group_id = _ref_id(body, "user"), _ref_id(body, "group")
    role = body.get("role", "member")
    if role not in MEMBER_ROLES:
        raise BoxError(400, "bad_request", "role must be member or admin")
    user = st.fetch_one(
        "SELECT * FROM users WHERE id = ? AND enterprise_id = ?", (user_id, me["enterprise_id"])
    )
    group = st.fetch_one(
        "SELECT * FROM groups WHERE id = ? AND enterprise_id = ?", (group_id, me["enterprise_id"])
    )
    if user is None or group is None:
        raise not_found("User or group not found")
    with st.tx():
        if _is_member(st, user_id, group_id):
            raise BoxError(409, "conflict", "The user is already a member of this group")
        ts = now()
        membership_id = st.next_id("group_membership")
        st.insert(
            "group_memberships",
            {
                "id": membership_id,
                "group_id": group_id,
                "user_id": user_id,
                "role": role,
                "created_at": ts,
                "modified_at": ts,
            },
        )
        row = st.fetch_one("SELECT * FROM group_memberships WHERE id = ?", (membership_id,))
    assert row is not None
    return box_json(membership_json(st, row), status=201)


def load_membership(request: Request, *, manage: bool) -> sqlite3.Row:
    st = store(request)
    row = st.fetch_one(
        "SELECT * FROM group_memberships WHERE id = ?", (request.path_params["membership_id"],)
    )
    if row is None:
        raise not_found()
    load_group(request, row["group_id"], manage=manage)
    return row


async def get_membership(request: Request) -> Response:
    return box_json(membership_json(store(request), load_membership(request, manage=False)))


async def update_membership(request: Request) -> Response:
    st = store(request)
    body = await json_body(request)
    row = load_membership(request, manage=True)
    role = body.get("role", row["role"])
    if role not in MEMBER_ROLES:
        raise BoxError(400, "bad_request", "role must be member or admin")
    st.update("group_memberships", {"id": row["id"]}, {"role": role, "modified_at": now()})
    updated = st.fetch_one("SELECT * FROM group_memberships WHERE id = ?", (row["id"],))
    assert updated is not None
    return box_json(membership_json(st, updated))


async def delete_membership(request: Request) -> Response:
    row = load_membership(request, manage=True)
    store(request).execute("DELETE FROM group_memberships WHERE id = ?", (row["id"],))
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/2.0/groups", list_groups, methods=["GET"]),
    Route("/2.0/groups", create_group, methods=["POST"]),
    Route("/2.0/groups/{group_id:boxid}", get_group, methods=["GET"]),
    Route("/2.0/groups/{group_id:boxid}", update_group, methods=["PUT"]),
    Route("/2.0/groups/{group_id:boxid}", delete_group, methods=["DELETE"]),
    Route("/2.0/groups/{group_id:boxid}/memberships", group_memberships, methods=["GET"]),
    Route("/2.0/group_memberships", create_membership, methods=["POST"]),
    Route("/2.0/group_memberships/{membership_id:boxid}", get_membership, methods=["GET"]),
    Route("/2.0/group_memberships/{membership_id:boxid}", update_membership, methods=["PUT"]),
    Route("/2.0/group_memberships/{membership_id:boxid}", delete_membership, methods=["DELETE"]),
]

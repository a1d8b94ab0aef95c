"""Users: /users/me, list, get, create, update and delete (managed users and app users), and a user's
group memberships."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..common import box_json, caller, emulator, json_body, marker_page, offset_page, store
from ..errors import BoxError, not_found
from ..people import (
    attach_invitations,
    caller_row,
    is_enterprise_manager,
    membership_json,
    parse_user_fields,
    require_manager,
    user_json,
)
from ..store import now

ROLES = ("user", "coadmin")
STATUSES = ("active", "inactive", "cannot_delete_edit", "cannot_delete_edit_upload")
TEXT_ATTRS = ("language", "job_title", "phone", "address", "timezone")


async def get_me(request: Request) -> Response:
    fields = parse_user_fields(request.query_params.get("fields"))
    row = caller_row(store(request), caller(request))
    return box_json(user_json(store(request), row, emulator(request).origin(request), fields))


def visible_user(request: Request, user_id: str) -> sqlite3.Row:
    """Yourself, or a user of your enterprise (Box never confirms users of other enterprises)."""
    st, who = store(request), caller(request)
    me = caller_row(st, who)
    row = st.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,))
    if row is None or row["enterprise_id"] != me["enterprise_id"]:
        raise not_found()
    if row["id"] != me["id"] and not (is_enterprise_manager(st, who) or me["can_see_managed_users"]):
        raise not_found()
    return row


async def get_user(request: Request) -> Response:
    fields = parse_user_fields(request.query_params.get("fields"))
    row = visible_user(request, request.path_params["user_id"])
    return box_json(user_json(store(request), row, emulator(request).origin(request), fields))


async def list_users(request: Request) -> Response:
    st, who = store(request), caller(request)
    fields = parse_user_fields(request.query_params.get("fields"))
    me = caller_row(st, who)
    if not is_enterprise_manager(st, who):
        raise BoxError(
            403,
            "access_denied_insufficient_permissions",
            "Listing enterprise users needs an admin, co-admin or service account",
        )
    user_type = request.query_params.get("user_type", "managed")
    if user_type not in ("all", "managed", "external"):
        raise BoxError(400, "bad_request", "user_type must be all, managed or external")
    sql = "SELECT * FROM users WHERE enterprise_id = ? AND kind != 'service_account'"
    params: list[Any] = [me["enterprise_id"]]
    if user_type == "managed":  # Box: "all managed and app users"
        sql += " AND kind IN ('managed', 'app_user')"
    elif user_type == "external":
        sql += " AND 0"  # the emulator has no users outside the enterprise
    term = request.query_params.get("filter_term")
    if term:
        sql += " AND (lower(name) LIKE ? OR lower(login) LIKE ?)"
        params += [f"{term.lower()}%", f"{term.lower()}%"]
    external_id = request.query_params.get("external_app_user_id")
    if external_id:  # "app users with the given external_app_user_id"
        sql += " AND kind = 'app_user' AND external_app_user_id = ?"
        params.append(external_id)
    rows = st.fetch_all(sql + " ORDER BY id", params)
    origin = emulator(request).origin(request)
    if request.query_params.get("usemarker", "").lower() == "true":
        marked, limit, next_marker = marker_page(request, rows, 100, 1000)
        shown = [user_json(st, r, origin, fields) for r in marked]
        return box_json({"entries": shown, "limit": limit, "next_marker": next_marker})
    page, limit, offset = offset_page(request, rows, 100, 1000)
    entries = [user_json(st, r, origin, fields) for r in page]
    return box_json({"total_count": len(rows), "entries": entries, "limit": limit, "offset": offset})


def _text(body: dict[str, Any], name: str, *, required: bool = False, max_len: int = 255) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BoxError(400, "bad_request", f"'{name}' is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_len:
        raise BoxError(
            400, "bad_request", f"'{name}' must be a non-empty string of at most {max_len} characters"
        )
    return value


async def create_user(request: Request) -> Response:
    st, who = store(request), caller(request)
    body = await json_body(request)
    app_user = body.get("is_platform_access_only") is True
    me = require_manager(st, who, "manage_app_users" if app_user else "manage_managed_users")
    name = _text(body, "name", required=True)
    role = body.get("role", "user")
    if role not in ROLES:
        raise BoxError(400, "bad_request", f"role must be one of {', '.join(ROLES)}")
    status = body.get("status", "active")
    if status not in STATUSES:
        raise BoxError(400, "bad_request", f"status must be one of {', '.join(STATUSES)}")
    login = None if app_user else _text(body, "login", required=True)
    if login is not None and ("@" not in login or " " in login):
        raise BoxError(400, "bad_request", "login must be an email address")
    space = body.get("space_amount", 10737418240)
    if not isinstance(space, int) or (space < 0 and space != -1):
        raise BoxError(400, "bad_request", "space_amount must be a number of bytes (or -1 for unlimited)")
    extras = {k: v for k in TEXT_ATTRS if (v := _text(body, k)) is not None}
    external = _text(body, "external_app_user_id")
    with st.tx():
        user_id = st.next_id("user")
        login = login or f"AppUser_{user_id}@boxdevedition.com"
        if st.fetch_one("SELECT id FROM users WHERE lower(login) = lower(?)", (login,)) is not None:
            raise BoxError(409, "user_login_already_used", "User with the specified login already exists")
        ts = now()
        st.insert(
            "users",
            {
                "id": user_id,
                "enterprise_id": me["enterprise_id"],
                "login": login,
                "name": name,
                "role": role,
                "kind": "app_user" if app_user else "managed",
                "status": status,
                "space_amount": space,
                "is_platform_access_only": int(app_user),
                "external_app_user_id": external,
                "created_at": ts,
                "modified_at": ts,
                **extras,
            },
        )
        attach_invitations(st, user_id, login)
        row = st.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,))
    assert row is not None
    return box_json(user_json(st, row, emulator(request).origin(request)), status=201)


def _managed_target(request: Request) -> tuple[sqlite3.Row, sqlite3.Row]:
    """(the caller, the user it changes): an admin, co-admin or service account, on a user of its own
    enterprise other than itself or a service account. App users need `manage_app_users`, others
    `manage_managed_users`."""
    st, who = store(request), caller(request)
    me = caller_row(st, who)
    target = st.fetch_one("SELECT * FROM users WHERE id = ?", (request.path_params["user_id"],))
    if target is None or target["enterprise_id"] != me["enterprise_id"]:
        raise not_found()
    require_manager(st, who, "manage_app_users" if target["kind"] == "app_user" else "manage_managed_users")
    if target["kind"] == "service_account" or target["id"] == me["id"]:
        raise BoxError(
            403, "access_denied_insufficient_permissions", "A user cannot change or delete itself this way"
        )
    if target["role"] == "admin":
        raise BoxError(
            403, "access_denied_insufficient_permissions", "The enterprise admin cannot be changed"
        )
    return me, target


async def update_user(request: Request) -> Response:
    st = store(request)
    fields = parse_user_fields(request.query_params.get("fields"))
    body = await json_body(request)
    _me, target = _managed_target(request)
    changes: dict[str, Any] = {}
    name = _text(body, "name", max_len=50)
    if name is not None:
        if not name.strip():
            raise BoxError(400, "invalid_parameter", "'name' must not be empty")
        changes["name"] = name
    if "status" in body:
        if body["status"] not in STATUSES:
            raise BoxError(400, "invalid_parameter", f"status must be one of {', '.join(STATUSES)}")
        changes["status"] = body["status"]
    if "role" in body:
        if body["role"] not in ROLES:
            raise BoxError(400, "invalid_parameter", f"role must be one of {', '.join(ROLES)}")
        changes["role"] = body["role"]
    if "space_amount" in body:
        space = body["space_amount"]
        if not isinstance(space, int) or isinstance(space, bool) or (space < 0 and space != -1):
            raise BoxError(400, "invalid_parameter", "space_amount must be a number of bytes (or -1)")
        changes["space_amount"] = space
    for attr in TEXT_ATTRS:
        value = _text(body, attr, max_len=100)
        if value is not None:
            changes[attr] = value
    if "external_app_user_id" in body:
        if target["kind"] != "app_user":
            raise BoxError(400, "invalid_parameter", "external_app_user_id can be set on app users only")
        changes["external_app_user_id"] = _text(body, "external_app_user_id")
    if "login" in body:
        login = _text(body, "login", required=True)
        if target["kind"] == "app_user":
            raise BoxError(400, "invalid_parameter", "An app user's login cannot be changed")
        assert login is not None
        if "@" not in login or " " in login:
            raise BoxError(400, "invalid_parameter", "login must be an email address")
        changes["login"] = login
    with st.tx():
        if "login" in changes and st.fetch_one(
            "SELECT id FROM users WHERE lower(login) = lower(?) AND id != ?", (changes["login"], target["id"])
        ):
            raise BoxError(409, "user_login_already_used", "User with the specified login already exists")
        if changes:
            changes["modified_at"] = now()
            columns = ", ".join(f"{k} = ?" for k in changes)
            st.execute(f"UPDATE users SET {columns} WHERE id = ?", (*changes.values(), target["id"]))  # noqa: S608
        if "login" in changes:
            attach_invitations(st, target["id"], changes["login"])
        row = st.fetch_one("SELECT * FROM users WHERE id = ?", (target["id"],))
    assert row is not None
    return box_json(user_json(st, row, emulator(request).origin(request), fields))


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise BoxError(400, "bad_request", f"'{name}' must be true or false")
    return raw.lower() == "true"


async def delete_user(request: Request) -> Response:
    st = store(request)
    force = _flag(request, "force")
    _flag(request, "notify")  # checked; the emulator sends no email
    _me, target = _managed_target(request)
    with st.tx():
        owned = st.fetch_one(
            "SELECT COUNT(*) AS n FROM items WHERE owner_id = ? AND id != '0'", (target["id"],)
        )
        if owned and owned["n"] and not force:
            raise BoxError(
                400,
                "user_not_deletable",
                "The user still owns files or folders: transfer them first, or delete with force=true",
            )
        st.execute(
            "DELETE FROM collaborations WHERE accessible_by_type = 'user' AND accessible_by_id = ?",
            (target["id"],),
        )
        st.execute("DELETE FROM group_memberships WHERE user_id = ?", (target["id"],))
        if owned and owned["n"]:
            st.execute(
                "UPDATE items SET status = 'deleted' WHERE owner_id = ? AND id != '0'", (target["id"],)
            )
        st.execute("UPDATE tokens SET revoked = 1 WHERE user_id = ?", (target["id"],))
        st.execute("DELETE FROM users WHERE id = ?", (target["id"],))
    return Response(status_code=204)


async def user_memberships(request: Request) -> Response:
    st = store(request)
    row = visible_user(request, request.path_params["user_id"])
    rows = st.fetch_all("SELECT * FROM group_memberships WHERE user_id = ? ORDER BY id", (row["id"],))
    page, limit, offset = offset_page(request, rows, 100, 1000)
    return box_json(
        {
            "total_count": len(rows),
            "entries": [membership_json(st, r) for r in page],
            "limit": limit,
            "offset": offset,
        }
    )


routes: list[BaseRoute] = [
    Route("/2.0/users/me", get_me, methods=["GET"]),
    Route("/2.0/users", list_users, methods=["GET"]),
    Route("/2.0/users", create_user, methods=["POST"]),
    Route("/2.0/users/{user_id:boxid}", get_user, methods=["GET"]),
    Route("/2.0/users/{user_id:boxid}", update_user, methods=["PUT"]),
    Route("/2.0/users/{user_id:boxid}", delete_user, methods=["DELETE"]),
    Route("/2.0/users/{user_id:boxid}/memberships", user_memberships, methods=["GET"]),
]

"""Users: /users/me, list, get, create (managed users and app users), and a user's group memberships."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..common import box_json, caller, emulator, json_body, marker_page, offset_page, store
from ..errors import BoxError, not_found
from ..people import (
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
    if user_type == "managed":
        sql += " AND kind = 'managed'"
    elif user_type == "external":
        sql += " AND 0"  # the emulator has no users outside the enterprise
    term = request.query_params.get("filter_term")
    if term:
        sql += " AND (lower(name) LIKE ? OR lower(login) LIKE ?)"
        params += [f"{term.lower()}%", f"{term.lower()}%"]
    external_id = request.query_params.get("external_app_user_id")
    if external_id:
        sql += " AND external_app_user_id = ?"
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
        row = st.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,))
    assert row is not None
    return box_json(user_json(st, row, emulator(request).origin(request)), status=201)


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
    Route("/2.0/users/{user_id:boxid}/memberships", user_memberships, methods=["GET"]),
]

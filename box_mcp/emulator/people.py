"""Users and groups: their Box representations and the enterprise-role rules that guard managing them."""

from __future__ import annotations

import sqlite3
from typing import Any

from .auth import ADMIN_ROLES, Caller
from .errors import BoxError
from .store import Store, iso

USER_MINI = ("type", "id", "name", "login")
USER_STANDARD = (
    "type",
    "id",
    "name",
    "login",
    "created_at",
    "modified_at",
    "language",
    "timezone",
    "space_amount",
    "space_used",
    "max_upload_size",
    "status",
    "job_title",
    "phone",
    "address",
    "avatar_url",
    "notification_email",
)
# Every field `fields=` may ask for: the standard representation plus the full user's extras.
USER_FIELDS = frozenset(
    (
        *USER_STANDARD,
        "role",
        "enterprise",
        "is_platform_access_only",
        "can_see_managed_users",
        "is_external_collab_restricted",
        "is_exempt_from_device_limits",
        "is_exempt_from_login_verification",
        "is_sync_enabled",
        "my_tags",
        "hostname",
        "tracking_codes",
        "external_app_user_id",
    )
)


def user_json(
    store: Store, row: sqlite3.Row, base_url: str, fields: list[str] | None = None, *, full: bool = True
) -> dict[str, Any]:
    """Box's user: full for /users/me and /users/{id}, standard in lists, mini + `fields` on request."""
    enterprise = store.fetch_one("SELECT * FROM enterprises WHERE id = ?", (row["enterprise_id"],))
    used = store.fetch_one(
        "SELECT COALESCE(SUM(size), 0) AS n FROM items "
        "WHERE owner_id = ? AND type = 'file' AND status = 'active'",
        (row["id"],),
    )
    everything: dict[str, Any] = {
        "type": "user",
        "id": row["id"],
        "name": row["name"],
        "login": row["login"],
        "created_at": iso(row["created_at"]),
        "modified_at": iso(row["modified_at"]),
        "language": row["language"],
        "timezone": row["timezone"],
        "space_amount": row["space_amount"],
        "space_used": int(used["n"]) if used else 0,
        "max_upload_size": row["max_upload_size"],
        "status": row["status"],
        "job_title": row["job_title"],
        "phone": row["phone"],
        "address": row["address"],
        "avatar_url": f"{base_url}/api/avatar/large/{row['id']}",
        "notification_email": None,
        "role": row["role"],
        "enterprise": {"type": "enterprise", "id": enterprise["id"], "name": enterprise["name"]}
        if enterprise
        else None,
        "is_platform_access_only": bool(row["is_platform_access_only"]),
        "can_see_managed_users": bool(row["can_see_managed_users"]),
        "is_external_collab_restricted": False,
        "is_exempt_from_device_limits": False,
        "is_exempt_from_login_verification": False,
        "is_sync_enabled": True,
        "my_tags": [],
        "hostname": base_url,
        "tracking_codes": [],
        "external_app_user_id": row["external_app_user_id"],
    }
    if fields is not None:
        return {k: everything[k] for k in (*USER_MINI, *fields) if k in everything}
    if not full:
        return {k: everything[k] for k in USER_STANDARD}
    everything.pop("external_app_user_id")
    return everything


def parse_user_fields(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    names = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = [n for n in names if n not in USER_FIELDS]
    if unknown:
        raise BoxError(400, "bad_request", f"Unknown field '{unknown[0]}' requested in 'fields'")
    return names


def caller_row(store: Store, caller: Caller) -> sqlite3.Row:
    row = store.fetch_one("SELECT * FROM users WHERE id = ?", (caller.user_id,))
    if row is None:
        raise BoxError(401, "invalid_token", "The access token provided is invalid.")
    return row


def is_enterprise_manager(store: Store, caller: Caller) -> bool:
    """Admins, co-admins and the app's service account manage their enterprise's users and groups."""
    me = caller_row(store, caller)
    return me["role"] in ADMIN_ROLES or me["kind"] == "service_account"


def require_manager(store: Store, caller: Caller, scope: str) -> sqlite3.Row:
    me = caller_row(store, caller)
    if not (me["role"] in ADMIN_ROLES or me["kind"] == "service_account"):
        raise BoxError(
            403,
            "access_denied_insufficient_permissions",
            "Only an admin, co-admin or service account can do this",
        )
    if scope not in caller.scopes:
        raise BoxError(403, "insufficient_scope", f"The token lacks the '{scope}' scope needed for this")
    return me


def attach_invitations(store: Store, user_id: str, login: str) -> int:
    """Email invitations waiting for `login` (collaborations made for a login no user had) now name the
    user who has it: they stay pending until that user accepts or rejects them (PUT /collaborations/{id}
    with a status), as Box's are once the invitee signs up. The number attached."""
    return store.execute(
        "UPDATE collaborations SET accessible_by_id = ? WHERE accessible_by_type = 'user' "
        "AND accessible_by_id = '' AND status = 'pending' AND lower(invite_email) = lower(?)",
        (user_id, login),
    )


def group_json(row: sqlite3.Row, full: bool = True) -> dict[str, Any]:
    mini = {"type": "group", "id": row["id"], "name": row["name"], "group_type": "managed_group"}
    if not full:
        return mini
    return {
        **mini,
        "created_at": iso(row["created_at"]),
        "modified_at": iso(row["modified_at"]),
        "provenance": row["provenance"],
        "external_sync_identifier": row["external_sync_identifier"],
        "description": row["description"],
        "invitability_level": row["invitability_level"],
        "member_viewability_level": row["member_viewability_level"],
        "permissions": {"can_invite_as_collaborator": True},
    }


def membership_json(store: Store, row: sqlite3.Row) -> dict[str, Any]:
    user = store.fetch_one("SELECT id, name, login FROM users WHERE id = ?", (row["user_id"],))
    group = store.fetch_one("SELECT * FROM groups WHERE id = ?", (row["group_id"],))
    return {
        "type": "group_membership",
        "id": row["id"],
        "user": {"type": "user", "id": user["id"], "name": user["name"], "login": user["login"]}
        if user
        else None,
        "group": group_json(group, full=False) if group else None,
        "role": row["role"],
        "created_at": iso(row["created_at"]),
        "modified_at": iso(row["modified_at"]),
    }

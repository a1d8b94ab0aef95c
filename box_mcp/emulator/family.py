"""Helpers shared by the collaboration, sharing, metadata, comment, task, web link, search, event and
webhook routes: item references in bodies, permission-checked loads, typed body fields, marker paging."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from starlette.requests import Request

from . import items, permissions
from .common import caller, paging, store
from .errors import BoxError, not_found
from .routes.folders import _marker, _position
from .store import Store

ITEM_TYPES = ("file", "folder", "web_link")


def load_item(
    request: Request, item_type: str, item_id: str, action: str, *, allow_trashed: bool = False
) -> sqlite3.Row:
    """An item row after `permissions.check`; trashed items answer 404 `trashed` unless allowed."""
    st = store(request)
    row = items.get(st, item_id, item_type)
    if row is None:
        raise not_found()
    permissions.check(st, caller(request), row, action)
    if row["status"] == "trashed" and not allow_trashed:
        raise BoxError(404, "trashed", "Item is trashed")
    return row


def item_ref(body: dict[str, Any], key: str, types: tuple[str, ...] = ITEM_TYPES) -> tuple[str, str]:
    """`{"item": {"type": "file", "id": "123"}}` -> ("file", "123"), or a 400 naming what is wrong."""
    ref = body.get(key)
    if not isinstance(ref, dict):
        raise BoxError(400, "bad_request", f"'{key}' is required: an object with 'type' and 'id'")
    kind, ident = ref.get("type"), ref.get("id")
    if kind is None and len(types) == 1:  # the SDK leaves out a type the endpoint implies (tasks)
        kind = types[0]
    if kind not in types:
        raise BoxError(400, "bad_request", f"'{key}.type' must be one of {', '.join(types)}")
    if not isinstance(ident, str | int) or not str(ident).isdigit():
        raise BoxError(400, "bad_request", f"'{key}.id' must be a Box id (digits, as a string)")
    return str(kind), str(ident)


def text(body: dict[str, Any], key: str, *, required: bool = False, max_len: int = 10000) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BoxError(400, "bad_request", f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise BoxError(400, "bad_request", f"'{key}' must be a string")
    if len(value) > max_len:
        raise BoxError(400, "bad_request", f"'{key}' must be at most {max_len} characters")
    return value


def choice(
    body: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None = None
) -> str | None:
    value = body.get(key, default)
    if value is None:
        return None
    if value not in allowed:
        raise BoxError(400, "bad_request", f"'{key}' must be one of: {', '.join(allowed)}")
    return str(value)


def timestamp(value: Any, name: str) -> float | None:
    """An ISO-8601 date-time (Box accepts `Z` or an offset) as UNIX seconds; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BoxError(400, "bad_request", f"'{name}' must be an ISO-8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BoxError(400, "bad_request", f"'{name}' must be an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        raise BoxError(400, "bad_request", f"'{name}' needs a time zone offset (e.g. Z or +00:00)")
    return parsed.timestamp()


def user_row(st: Store, user_id: str) -> sqlite3.Row | None:
    return st.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,))


def group_mini(st: Store, group_id: str) -> dict[str, Any]:
    row = st.fetch_one("SELECT id, name FROM groups WHERE id = ?", (group_id,))
    return {
        "type": "group",
        "id": group_id,
        "name": row["name"] if row else "",
        "group_type": "managed_group",
    }


def marker_page(
    request: Request, rows: list[Any], default_limit: int, max_limit: int
) -> tuple[list[Any], int, str | None]:
    """Marker paging over an already ordered list: (page, limit used, next_marker or None)."""
    limit, _ = paging(request, default_limit, max_limit)
    marker = request.query_params.get("marker")
    start = _position(marker) if marker else 0
    page = rows[start : start + limit]
    return page, limit, _marker(start + limit) if start + limit < len(rows) else None


def offset_page(
    request: Request, rows: list[Any], default_limit: int, max_limit: int
) -> tuple[list[Any], int, int]:
    """Offset paging: (page, limit used, offset)."""
    limit, offset = paging(request, default_limit, max_limit)
    return rows[offset : offset + limit], limit, offset

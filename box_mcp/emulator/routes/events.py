"""User events (`GET /events`): stream positions (`now`, `0`, a position), `next_stream_position`,
limit up to 500, stream types all / changes / sync and, for admins, admin_logs; `OPTIONS /events`
and a long-poll endpoint for the SDK's event stream."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import permissions
from ..auth import ADMIN_ROLES, Caller
from ..common import box_json, caller, emulator, int_param, store
from ..errors import BoxError
from ..serialize import user_mini
from ..store import Store, iso, timestamp
from ..webhook_triggers import event_item

STREAM_TYPES = ("all", "changes", "sync", "admin_logs", "admin_logs_streaming")
# Events that do not change the tree are left out of the `changes` and `sync` streams.
NOT_CHANGES = frozenset(
    {"ITEM_DOWNLOAD", "ITEM_PREVIEW", "ITEM_OPEN", "COMMENT_CREATE", "COMMENT_EDIT", "COMMENT_DELETE"}
)
SCAN_BATCH = 500
# admin_logs name events as the enterprise event stream does (user events say ITEM_DOWNLOAD, ...).
ADMIN_TYPES = {
    "ITEM_UPLOAD": "UPLOAD",
    "ITEM_CREATE": "UPLOAD",
    "ITEM_DOWNLOAD": "DOWNLOAD",
    "ITEM_PREVIEW": "PREVIEW",
    "ITEM_TRASH": "DELETE",
    "ITEM_DELETE": "DELETE",
    "ITEM_UNDELETE_VIA_TRASH": "UNDELETE",
    "ITEM_COPY": "COPY",
    "ITEM_MOVE": "MOVE",
    "ITEM_RENAME": "RENAME",
    "ITEM_MODIFY": "EDIT",
    "ITEM_SHARED_CREATE": "SHARE",
    "ITEM_SHARED_UPDATE": "SHARE",
    "ITEM_SHARED_UNSHARE": "UNSHARE",
    "LOCK_CREATE": "LOCK",
    "LOCK_DESTROY": "UNLOCK",
}
LONG_POLL_SECONDS = 10  # how long a long poll waits before answering `reconnect`
LONG_POLL_STEP = 0.05


def visible(st: Store, who: Caller, event: sqlite3.Row, admin: bool) -> bool:
    if admin:
        return True
    item = event_item(st, event)
    if item is not None:
        return permissions.role_on(st, who.user_id, item) is not None and permissions.resource_allows(
            st, who, item
        )
    return bool(event["created_by"] == who.user_id) and who.resource is None


def enterprise_source(source: dict[str, Any]) -> dict[str, Any]:
    """A file or folder as the enterprise stream (admin_logs) names it: Box's `EventSource` (item_type,
    item_id, item_name, parent, owned_by), not the full item the user stream carries."""
    if source.get("type") not in ("file", "folder"):
        return source  # users, groups, collaborations...: the same object in both streams
    parent = source.get("parent")
    if parent is None:
        path = (source.get("path_collection") or {}).get("entries") or []
        parent = path[-1] if path else None
    out: dict[str, Any] = {
        "item_type": source["type"],
        "item_id": source["id"],
        "item_name": source.get("name", ""),
        "parent": parent,
    }
    if source.get("owned_by") is not None:
        out["owned_by"] = source["owned_by"]
    return out


def event_json(st: Store, row: sqlite3.Row, *, admin: bool = False) -> dict[str, Any]:
    source = json.loads(row["source"]) if row["source"] else None
    if admin and isinstance(source, dict):
        source = enterprise_source(source)
    data: dict[str, Any] = {
        "type": "event",
        "event_id": row["event_id"],
        "event_type": ADMIN_TYPES.get(row["event_type"], row["event_type"]) if admin else row["event_type"],
        "created_at": iso(row["created_at"]),
        "recorded_at": iso(row["created_at"]),
        "created_by": user_mini(st, row["created_by"]),
        "source": source,
    }
    if row["additional_details"]:  # the spec types it as an object: absent rather than null
        data["additional_details"] = json.loads(row["additional_details"])
    return data


def _latest(st: Store) -> int:
    row = st.fetch_one("SELECT COALESCE(MAX(position), 0) AS p FROM events")
    return int(row["p"]) if row else 0


def _admin_filters(request: Request) -> tuple[float | None, float | None, set[str]]:
    """admin_logs filters: created_after, created_before (RFC 3339) and event_type (comma-separated)."""
    bounds: list[float | None] = []
    for name in ("created_after", "created_before"):
        raw = request.query_params.get(name)
        bounds.append(timestamp(raw, name) if raw else None)
    types = {t.strip() for t in request.query_params.get("event_type", "").split(",") if t.strip()}
    return bounds[0], bounds[1], types


def _admin_match(row: sqlite3.Row, after: float | None, before: float | None, types: set[str]) -> bool:
    return (
        (after is None or row["created_at"] >= after)
        and (before is None or row["created_at"] <= before)
        and (not types or ADMIN_TYPES.get(row["event_type"], row["event_type"]) in types)
    )


async def get_events(request: Request) -> Response:
    st, who = store(request), caller(request)
    stream_type = request.query_params.get("stream_type", "all")
    if stream_type not in STREAM_TYPES:
        raise BoxError(400, "bad_request", f"'stream_type' must be one of {', '.join(STREAM_TYPES)}")
    admin = stream_type.startswith("admin_logs")
    if admin:
        me = st.fetch_one("SELECT role FROM users WHERE id = ?", (who.user_id,))
        if me is None or me["role"] not in ADMIN_ROLES:
            raise BoxError(
                403, "access_denied_insufficient_permissions", "admin_logs needs an admin or co-admin"
            )
    limit = int_param(request, "limit", 100, 500, "invalid_limit") or 100
    wanted = _admin_filters(request) if admin else None
    raw = request.query_params.get("stream_position", "0") or "0"
    if raw == "now":
        return box_json({"chunk_size": 0, "next_stream_position": _latest(st), "entries": []})
    try:
        position = int(raw)
    except ValueError:
        raise BoxError(
            400, "bad_request", "'stream_position' must be 'now', 0 or a next_stream_position"
        ) from None
    if position < 0:
        raise BoxError(400, "bad_request", "'stream_position' must not be negative")
    entries: list[dict[str, Any]] = []
    cursor = position
    while len(entries) < limit:
        batch = st.fetch_all(
            "SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?", (cursor, SCAN_BATCH)
        )
        if not batch:
            break
        for row in batch:
            cursor = row["position"]
            if stream_type in ("changes", "sync") and row["event_type"] in NOT_CHANGES:
                continue
            if wanted is not None and not _admin_match(row, *wanted):
                continue
            if visible(st, who, row, admin):
                entries.append(event_json(st, row, admin=admin))
                if len(entries) == limit:
                    break
    return box_json({"chunk_size": len(entries), "next_stream_position": cursor, "entries": entries})


async def events_options(request: Request) -> Response:
    """`OPTIONS /events`: where to long-poll (the SDK's event stream asks this first)."""
    caller(request)
    server = {
        "type": "realtime_server",
        "url": f"{emulator(request).origin(request)}/2.0/events/realtime?stream_type=all",
        "ttl": str(math.ceil(LONG_POLL_SECONDS)),
        "max_retries": "10",
        "retry_timeout": math.ceil(LONG_POLL_SECONDS) + 600,
    }
    return box_json({"chunk_size": 1, "entries": [server]})


async def long_poll(request: Request) -> Response:
    """Hold the request until an event the caller may see lies past `stream_position`, then answer
    `new_change`; after LONG_POLL_SECONDS answer `reconnect` (Box's real-time server protocol)."""
    st, who = store(request), caller(request)
    raw = request.query_params.get("stream_position", "now") or "now"
    try:
        position = _latest(st) if raw == "now" else int(raw)
    except ValueError:
        raise BoxError(
            400, "bad_request", "'stream_position' must be 'now' or a next_stream_position"
        ) from None
    deadline = time.monotonic() + LONG_POLL_SECONDS
    while True:
        rows = st.fetch_all(
            "SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?", (position, SCAN_BATCH)
        )
        if any(visible(st, who, row, False) for row in rows):
            return box_json({"message": "new_change"})
        if rows:
            position = rows[-1]["position"]
        if time.monotonic() >= deadline or await request.is_disconnected():
            return box_json({"message": "reconnect"})
        await asyncio.sleep(LONG_POLL_STEP)


routes: list[BaseRoute] = [
    Route("/2.0/events", get_events, methods=["GET"]),
    Route("/2.0/events", events_options, methods=["OPTIONS"]),
    Route("/2.0/events/realtime", long_poll, methods=["GET"]),
]

"""Recent items (`GET /recent_items`): what the caller touched lately, from the emulator's event history:
the last interaction per item, newest first, within Box's 90 days and 1000 items, for items the caller
can still read."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..common import box_json, caller, marker_page, store, view
from ..serialize import parse_fields
from ..store import iso, now

WINDOW = 90 * 24 * 3600
MAX_ITEMS = 1000
# Box's interaction types, by the event that records one
INTERACTIONS = {
    "ITEM_UPLOAD": "item_upload",
    "ITEM_CREATE": "item_upload",
    "ITEM_COPY": "item_upload",
    "ITEM_PREVIEW": "item_preview",
    "ITEM_DOWNLOAD": "item_open",
    "COMMENT_CREATE": "item_comment",
    "ITEM_RENAME": "item_modify",
    "ITEM_MOVE": "item_modify",
    "ITEM_MODIFY": "item_modify",
    "ITEM_MAKE_CURRENT_VERSION": "item_modify",
    "METADATA_INSTANCE_CREATE": "item_modify",
    "METADATA_INSTANCE_UPDATE": "item_modify",
}
KINDS = ("file", "folder", "web_link")


def _subject(event: Any) -> tuple[str, str] | None:
    """The item an event is about: its source, or a comment's item."""
    if event["source_type"] in KINDS and event["source_id"]:
        return str(event["source_type"]), str(event["source_id"])
    source = json.loads(event["source"]) if event["source"] else {}
    target = source.get("item") if isinstance(source, dict) else None
    if isinstance(target, dict) and target.get("type") in KINDS and target.get("id"):
        return str(target["type"]), str(target["id"])
    return None


async def recent_items(request: Request) -> Response:
    fields = parse_fields(request.query_params.get("fields"))
    st, who = store(request), caller(request)
    types = tuple(INTERACTIONS)
    marks = ", ".join("?" for _ in types)
    events = st.fetch_all(
        f"SELECT * FROM events WHERE created_by = ? AND created_at >= ? AND event_type IN ({marks}) "  # noqa: S608
        "ORDER BY position DESC",
        (who.user_id, now() - WINDOW, *types),
    )
    seen: set[tuple[str, str]] = set()
    found: list[tuple[Any, Any]] = []
    for event in events:
        subject = _subject(event)
        if subject is None or subject in seen:
            continue
        seen.add(subject)
        item = items.get(st, subject[1], subject[0])
        if item is None or item["status"] != "active" or not permissions.can(st, who, item, "read"):
            continue
        found.append((event, item))
        if len(found) >= MAX_ITEMS:
            break
    page, limit, next_marker = marker_page(request, found, 100, 1000)
    v = view(request)
    entries = [
        {
            "type": "recent_item",
            "item": v.item(item, fields) if fields else v.mini(item),
            "interaction_type": INTERACTIONS[event["event_type"]],
            "interacted_at": iso(event["created_at"]),
            # Box's `interaction_shared_link` names a link the item was opened through; the spec types it
            # a string (not nullable), so it is left out where there was none, as here (no event has one)
        }
        for event, item in page
    ]
    return box_json({"entries": entries, "limit": limit, "next_marker": next_marker, "prev_marker": None})


routes: list[BaseRoute] = [Route("/2.0/recent_items", recent_items, methods=["GET"])]

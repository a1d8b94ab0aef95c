"""From what Box sent (a webhook payload's `source`, an event's `source`) to a `Change`: only the item's
type and id, and its parent folder's id as a hint. Everything else Box sent is dropped unread."""

from __future__ import annotations

import re
from typing import Any, Literal

from box_mcp.changes import Change, ItemType

_ID = re.compile(r"\d{1,20}")
_NAME = re.compile(r"[A-Z][A-Z0-9_.]{0,63}")  # FILE.UPLOADED, ITEM_UPLOAD, COMMENT.CREATED ...


def box_id(value: object) -> str | None:
    """A Box id (digits) as text, or None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def event_name(value: object) -> str | None:
    """Box's trigger or event type when it looks like one (upper-case words), else None."""
    return value if isinstance(value, str) and _NAME.fullmatch(value) else None


def _item(source: Any) -> tuple[ItemType, str, Any] | None:
    if not isinstance(source, dict):
        return None
    kind, ident = source.get("type"), box_id(source.get("id"))
    if kind in ("file", "folder") and ident is not None:
        return kind, ident, source
    ref = source.get("item")  # a comment, task, collaboration or shared link: the item it is on
    if isinstance(ref, dict) and ref.get("type") in ("file", "folder") and box_id(ref.get("id")):
        return ref["type"], str(box_id(ref.get("id"))), ref
    return None


def change_from(
    source: Any, event: object, *, origin: Literal["webhook", "events"], delivery_id: str
) -> Change | None:
    """The Change a delivery or an event names, or None when it names no file or folder (a webhook's
    own WEBHOOK.DELETED, a user event, ...) or its event name is not Box's."""
    name = event_name(event)
    found = _item(source)
    if name is None or found is None:
        return None
    kind, ident, holder = found
    parent = holder.get("parent")
    parent_id = box_id(parent.get("id")) if isinstance(parent, dict) else None
    return Change(kind, ident, name, origin, delivery_id, parent_id)

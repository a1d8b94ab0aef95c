"""Webhook V2 triggers: which trigger a recorded event fires, and which item an event is about."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .store import Store

ITEM_KINDS = ("file", "folder", "web_link")

# (event type, source type) -> V2 trigger; `*` matches files and folders alike.
_ITEM_TRIGGERS = {
    "ITEM_UPLOAD": "UPLOADED",
    "ITEM_DOWNLOAD": "DOWNLOADED",
    "ITEM_PREVIEW": "PREVIEWED",
    "ITEM_TRASH": "TRASHED",
    "DELETE": "DELETED",
    "ITEM_DELETE": "DELETED",
    "ITEM_UNDELETE_VIA_TRASH": "RESTORED",
    "ITEM_COPY": "COPIED",
    "ITEM_MOVE": "MOVED",
    "ITEM_RENAME": "RENAMED",
    "LOCK_CREATE": "LOCKED",
    "LOCK_DESTROY": "UNLOCKED",
}
_OTHER_TRIGGERS = {
    "COMMENT_CREATE": "COMMENT.CREATED",
    "COMMENT_EDIT": "COMMENT.UPDATED",
    "COMMENT_DELETE": "COMMENT.DELETED",
    "TASK_ASSIGNMENT_CREATE": "TASK_ASSIGNMENT.CREATED",
    "TASK_ASSIGNMENT_UPDATE": "TASK_ASSIGNMENT.UPDATED",
    "METADATA_INSTANCE_CREATE": "METADATA_INSTANCE.CREATED",
    "METADATA_INSTANCE_UPDATE": "METADATA_INSTANCE.UPDATED",
    "METADATA_INSTANCE_DELETE": "METADATA_INSTANCE.DELETED",
    "COLLABORATION_INVITE": "COLLABORATION.CREATED",
    "COLLABORATION_ACCEPT": "COLLABORATION.ACCEPTED",
    "COLLABORATION_REJECT": "COLLABORATION.REJECTED",
    "COLLABORATION_ROLE_CHANGE": "COLLABORATION.UPDATED",
    "COLLABORATION_REMOVE": "COLLABORATION.REMOVED",
    "ITEM_SHARED_CREATE": "SHARED_LINK.CREATED",
    "ITEM_SHARED_UPDATE": "SHARED_LINK.UPDATED",
    "ITEM_SHARED_UNSHARE": "SHARED_LINK.DELETED",
}
TRIGGERS = frozenset(
    [f"FILE.{t}" for t in _ITEM_TRIGGERS.values()]
    + [
        f"FOLDER.{t}"
        for t in ("CREATED", "RENAMED", "DOWNLOADED", "RESTORED", "DELETED", "COPIED", "MOVED", "TRASHED")
    ]
    + list(_OTHER_TRIGGERS.values())
    + ["WEBHOOK.DELETED"]
    # Box Sign's: accepted as Box accepts them; the emulator has no Box Sign, so they never fire
    + [
        f"SIGN_REQUEST.{t}"
        for t in (
            "COMPLETED",
            "DECLINED",
            "EXPIRED",
            "SIGNER_EMAIL_BOUNCED",
            "SIGN_SIGNER_SIGNED",
            "SIGN_DOCUMENT_CREATED",
            "SIGN_ERROR_FINALIZING",
        )
    ]
)


def trigger_for(event_type: str, source_type: str | None) -> str | None:
    if event_type in _OTHER_TRIGGERS:
        return _OTHER_TRIGGERS[event_type]
    if event_type == "ITEM_CREATE" and source_type == "folder":
        return "FOLDER.CREATED"
    if event_type == "ITEM_CREATE" and source_type == "file":
        return "FILE.UPLOADED"
    verb = _ITEM_TRIGGERS.get(event_type)
    if verb is None or source_type not in ("file", "folder"):
        return None
    trigger = f"{source_type.upper()}.{verb}"
    return trigger if trigger in TRIGGERS else None


def event_item(st: Store, event: sqlite3.Row | dict[str, Any]) -> sqlite3.Row | None:
    """The file, folder or web link an event is about (a collaboration's or comment's item for those)."""
    source = json.loads(event["source"]) if event["source"] else {}
    kind, ident = event["source_type"], event["source_id"]
    if kind not in ITEM_KINDS:
        ref = source.get("item") if isinstance(source, dict) else None
        if not isinstance(ref, dict):
            return None
        kind, ident = ref.get("type"), ref.get("id")
    if kind not in ITEM_KINDS or not ident:
        return None
    return st.fetch_one("SELECT * FROM items WHERE id = ? AND type = ?", (str(ident), kind))

"""Recording user events (what `/events` serves) and notifying listeners such as webhook delivery."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from .store import Store, now
from .webhook_delivery import deliver_event

log = logging.getLogger(__name__)


def emit_event(
    store: Store,
    event_type: str,
    source: dict[str, Any] | None,
    user: str | None,
    additional_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record one event about `source` done by user id `user`.

    Event types the core emits: ITEM_CREATE (folder), ITEM_UPLOAD (file or new version), ITEM_DOWNLOAD,
    ITEM_RENAME, ITEM_MOVE, ITEM_MODIFY (description/tags), ITEM_COPY, ITEM_TRASH, ITEM_UNDELETE_VIA_TRASH,
    ITEM_DELETE (permanent delete; not a Box user-event type, but webhooks need FILE.DELETED),
    ITEM_SHARED_CREATE, ITEM_SHARED_UNSHARE, LOCK_CREATE, LOCK_DESTROY, ITEM_MAKE_CURRENT_VERSION.

    `source` is the item's JSON representation at the time (type and id at least). Listeners run
    after the row is written; a failing listener is logged and never fails the request.
    """
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "source_type": (source or {}).get("type"),
        "source_id": (source or {}).get("id"),
        "source": json.dumps(source) if source is not None else None,
        "created_by": user,
        "created_at": now(),
        "additional_details": json.dumps(additional_details) if additional_details else None,
    }
    store.insert("events", event)
    row = store.fetch_one("SELECT last_insert_rowid() AS p")
    event["position"] = int(row["p"]) if row else 0
    for listener in list(store.listeners):
        try:
            listener(store, event)
        except Exception:  # a webhook bug must not fail the upload that triggered it
            log.exception("event listener failed for %s", event_type)
    try:
        deliver_event(store, event)  # queues signed webhook deliveries; never waits for a receiver
    except Exception:
        log.exception("webhook delivery could not be queued for %s", event_type)
    return event

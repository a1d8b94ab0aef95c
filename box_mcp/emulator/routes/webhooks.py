"""Webhooks (V2): create, list, get, update, delete. Deliveries are made by `webhook_delivery` whenever
`emit_event` records an event whose trigger and item match a webhook."""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import webhook_delivery, webhook_triggers
from ..common import box_json, caller, emulator, item_ref, json_body, load_item, marker_page, store
from ..errors import BoxError, not_found
from ..serialize import user_mini
from ..store import Store, iso, now

MAX_PER_APP_USER = 1000
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def webhook_json(st: Store, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "type": "webhook",
        "id": row["id"],
        "target": {"type": row["target_type"], "id": row["target_id"]},
        "created_by": user_mini(st, row["created_by"]),
        "created_at": iso(row["created_at"]),
        "address": row["address"],
        "triggers": json.loads(row["triggers"]),
    }


def _address(value: Any) -> str:
    """Box requires HTTPS; plain HTTP is accepted only for a loopback receiver (local tests)."""
    if not isinstance(value, str) or len(value) > 2048:
        raise BoxError(400, "bad_request", "'address' is required: the https:// URL to notify")
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return value
    if parts.scheme == "http" and host in LOOPBACK:
        return value
    raise BoxError(400, "bad_request", "'address' must be an https:// URL (http:// only for a loopback host)")


def _triggers(value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
        raise BoxError(400, "bad_request", "'triggers' must be a non-empty list of trigger names")
    unknown = [t for t in value if t not in webhook_triggers.TRIGGERS]
    if unknown:
        raise BoxError(400, "bad_request", f"Unknown trigger '{unknown[0]}'")
    return list(dict.fromkeys(value))


def _check_scope(request: Request) -> None:
    who = caller(request)
    if "manage_webhook" not in who.scopes:
        raise BoxError(403, "insufficient_scope", "Managing webhooks needs the manage_webhook scope")


def _load(request: Request) -> sqlite3.Row:
    _check_scope(request)
    st, who = store(request), caller(request)
    row = st.fetch_one("SELECT * FROM webhooks WHERE id = ?", (request.path_params["webhook_id"],))
    if row is None or row["created_by"] != who.user_id or row["client_id"] != (who.client_id or ""):
        raise not_found()  # a webhook belongs to the app and user that made it
    return row


async def create_webhook(request: Request) -> Response:
    _check_scope(request)
    body = await json_body(request)
    target_type, target_id = item_ref(body, "target", ("file", "folder"))
    address = _address(body.get("address"))
    triggers = _triggers(body.get("triggers"))
    st, who = store(request), caller(request)
    webhook_delivery.remember_origin(st, emulator(request).origin(request))
    with st.tx():
        load_item(request, target_type, target_id, "read")
        client = who.client_id or ""
        mine = st.fetch_all(
            "SELECT * FROM webhooks WHERE created_by = ? AND client_id = ?", (who.user_id, client)
        )
        if any(r["target_id"] == target_id and r["target_type"] == target_type for r in mine):
            raise BoxError(409, "conflict", "A webhook for this target already exists for this application")
        if len(mine) >= MAX_PER_APP_USER:
            raise BoxError(400, "bad_request", "At most 1000 webhooks per application and user")
        webhook_id = st.next_id("webhook")
        st.insert(
            "webhooks",
            {
                "id": webhook_id,
                "target_type": target_type,
                "target_id": target_id,
                "address": address,
                "triggers": json.dumps(triggers),
                "created_by": who.user_id,
                "client_id": client,
                "created_at": now(),
            },
        )
        row = st.fetch_one("SELECT * FROM webhooks WHERE id = ?", (webhook_id,))
        assert row is not None
        return box_json(webhook_json(st, row), status=201)


async def list_webhooks(request: Request) -> Response:
    _check_scope(request)
    st, who = store(request), caller(request)
    rows = st.fetch_all(
        "SELECT * FROM webhooks WHERE created_by = ? AND client_id = ? ORDER BY CAST(id AS INTEGER)",
        (who.user_id, who.client_id or ""),
    )
    page, limit, next_marker = marker_page(request, rows, 100, 1000)  # Box: at most 1000 a page
    entries = [
        {"type": "webhook", "id": r["id"], "target": {"type": r["target_type"], "id": r["target_id"]}}
        for r in page
    ]
    return box_json({"entries": entries, "limit": limit, "next_marker": next_marker, "prev_marker": None})


async def get_webhook(request: Request) -> Response:
    row = _load(request)
    return box_json(webhook_json(store(request), row))


async def update_webhook(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    st = store(request)
    with st.tx():
        row = _load(request)
        changes: dict[str, Any] = {}
        if "target" in body:
            changes["target_type"], changes["target_id"] = item_ref(body, "target", ("file", "folder"))
            load_item(request, changes["target_type"], changes["target_id"], "read")
        if "address" in body:
            changes["address"] = _address(body["address"])
        if "triggers" in body:
            changes["triggers"] = json.dumps(_triggers(body["triggers"]))
        if changes:
            st.update("webhooks", {"id": row["id"]}, changes)
        fresh = st.fetch_one("SELECT * FROM webhooks WHERE id = ?", (row["id"],))
        assert fresh is not None
        return box_json(webhook_json(st, fresh))


async def delete_webhook(request: Request) -> Response:
    st = store(request)
    with st.tx():
        row = _load(request)
        st.execute("DELETE FROM webhooks WHERE id = ?", (row["id"],))
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/2.0/webhooks", create_webhook, methods=["POST"]),
    Route("/2.0/webhooks", list_webhooks, methods=["GET"]),
    Route("/2.0/webhooks/{webhook_id:boxid}", get_webhook, methods=["GET"]),
    Route("/2.0/webhooks/{webhook_id:boxid}", update_webhook, methods=["PUT"]),
    Route("/2.0/webhooks/{webhook_id:boxid}", delete_webhook, methods=["DELETE"]),
]

"""Comments on files: create (or reply to a comment), list a file's comments, get, edit, delete."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..common import box_json, caller, item_ref, json_body, load_item, offset_page, store, text
from ..errors import BoxError, not_found
from ..events import emit_event
from ..serialize import user_mini
from ..store import Store, iso, now

MAX_MESSAGE = 10000
MENTION = re.compile(r"@\[(\d+):([^\]]*)\]")
COMMENT_FIELDS = frozenset(
    {
        "type",
        "id",
        "is_reply_comment",
        "message",
        "tagged_message",
        "created_by",
        "created_at",
        "modified_at",
        "item",
    }
)


def comment_json(st: Store, row: sqlite3.Row, fields: list[str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "comment",
        "id": row["id"],
        "is_reply_comment": row["reply_to"] is not None,
        "message": row["message"],
        "tagged_message": row["tagged_message"] or row["message"],
        "created_by": user_mini(st, row["created_by"]),
        "created_at": iso(row["created_at"]),
        "modified_at": iso(row["modified_at"]),
        "item": {"type": "file", "id": row["item_id"]},
    }
    if fields is not None:
        data = {k: v for k, v in data.items() if k in {"type", "id", *fields}}
    return data


def _fields(request: Request) -> list[str] | None:
    raw = request.query_params.get("fields")
    if raw is None:
        return None
    names = [f.strip() for f in raw.split(",") if f.strip()]
    for name in names:
        if name not in COMMENT_FIELDS:
            raise BoxError(400, "bad_request", f"Unknown field '{name}' requested in 'fields'")
    return names


def _load(request: Request, comment_id: str, action: str) -> tuple[sqlite3.Row, sqlite3.Row]:
    st = store(request)
    row = st.fetch_one("SELECT * FROM comments WHERE id = ?", (comment_id,))
    if row is None:
        raise not_found()
    return row, load_item(request, "file", row["item_id"], action)


async def create_comment(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    fields = _fields(request)
    kind, ident = item_ref(body, "item", ("file", "comment"))
    message = text(body, "message", max_len=MAX_MESSAGE)
    tagged = text(body, "tagged_message", max_len=MAX_MESSAGE)
    if not (message or tagged):
        raise BoxError(400, "bad_request", "'message' (or 'tagged_message' with @[user_id:name]) is required")
    st, who = store(request), caller(request)
    with st.tx():
        reply_to = None
        if kind == "comment":
            parent, _ = _load(request, ident, "comment")
            reply_to, file_id = parent["id"], parent["item_id"]
        else:
            file_id = ident
        file_row = load_item(request, "file", file_id, "comment")
        for user_id, _name in MENTION.findall(tagged or ""):
            if st.fetch_one("SELECT id FROM users WHERE id = ?", (user_id,)) is None:
                raise BoxError(400, "bad_request", f"tagged_message mentions unknown user {user_id}")
        plain = message if message else MENTION.sub(lambda m: "@" + m.group(2), tagged or "")
        ts = now()
        comment_id = st.next_id("comment")
        st.insert(
            "comments",
            {
                "id": comment_id,
                "item_id": file_row["id"],
                "reply_to": reply_to,
                "message": plain,
                "tagged_message": tagged,
                "created_by": who.user_id,
                "created_at": ts,
                "modified_at": ts,
            },
        )
        items.touch(st, file_row["id"], who.user_id)
        row = st.fetch_one("SELECT * FROM comments WHERE id = ?", (comment_id,))
        assert row is not None
        emit_event(st, "COMMENT_CREATE", comment_json(st, row), who.user_id)
        return box_json(comment_json(st, row, fields), status=201)


async def list_file_comments(request: Request) -> Response:
    fields = _fields(request)
    st = store(request)
    file_row = load_item(request, "file", request.path_params["file_id"], "activity")
    rows = st.fetch_all(
        "SELECT * FROM comments WHERE item_id = ? ORDER BY created_at, CAST(id AS INTEGER)", (file_row["id"],)
    )
    page, limit, offset = offset_page(request, rows, 100, 1000)
    return box_json(
        {
            "total_count": len(rows),
            "limit": limit,
            "offset": offset,
            "order": [{"by": "created_at", "direction": "ASC"}],
            "entries": [comment_json(st, r, fields) for r in page],
        }
    )


async def get_comment(request: Request) -> Response:
    row, _ = _load(request, request.path_params["comment_id"], "activity")
    return box_json(comment_json(store(request), row, _fields(request)))


async def update_comment(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    fields = _fields(request)
    message = text(body, "message", required=True, max_len=MAX_MESSAGE)
    st, who = store(request), caller(request)
    with st.tx():
        row, _ = _load(request, request.path_params["comment_id"], "comment")
        if row["created_by"] != who.user_id:
            raise BoxError(
                403, "access_denied_insufficient_permissions", "Only the author can edit a comment"
            )
        st.update(
            "comments", {"id": row["id"]}, {"message": message, "tagged_message": None, "modified_at": now()}
        )
        fresh = st.fetch_one("SELECT * FROM comments WHERE id = ?", (row["id"],))
        assert fresh is not None
        emit_event(st, "COMMENT_EDIT", comment_json(st, fresh), who.user_id)
        return box_json(comment_json(st, fresh, fields))


async def delete_comment(request: Request) -> Response:
    st, who = store(request), caller(request)
    with st.tx():
        row, file_row = _load(request, request.path_params["comment_id"], "activity")
        role = permissions.role_on(st, who.user_id, file_row)
        if row["created_by"] != who.user_id and role not in ("owner", "co-owner"):
            raise BoxError(
                403, "access_denied_insufficient_permissions", "Only the author or the owner can delete"
            )
        snapshot = comment_json(st, row)
        st.execute("DELETE FROM comments WHERE id = ? OR reply_to = ?", (row["id"], row["id"]))
        emit_event(st, "COMMENT_DELETE", snapshot, who.user_id)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/2.0/comments", create_comment, methods=["POST"]),
    Route("/2.0/comments/{comment_id:boxid}", get_comment, methods=["GET"]),
    Route("/2.0/comments/{comment_id:boxid}", update_comment, methods=["PUT"]),
    Route("/2.0/comments/{comment_id:boxid}", delete_comment, methods=["DELETE"]),
    Route("/2.0/files/{file_id:boxid}/comments", list_file_comments, methods=["GET"]),
]

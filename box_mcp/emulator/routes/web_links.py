"""Web links: create in a folder, get, update (name, url, description, move, shared link), trash,
restore and purge.
They live in the item tree, so folder listings, trash and search see them."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..changes import purge_item, restore_item, trash_item, update_item
from ..common import box_json, caller, check_if_match, json_body, load_item, not_modified, store, text, view
from ..errors import BoxError, not_found
from ..events import emit_event
from ..serialize import parse_fields
from ..store import now
from .trash import load_trashed, trashed_json


def _url(value: object) -> str:
    if not isinstance(value, str) or len(value) > 2048:
        raise BoxError(400, "bad_request", "'url' is required: an http:// or https:// URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BoxError(400, "bad_request", "'url' must start with http:// or https:// and name a host")
    return value


def _parent_id(body: dict[str, object]) -> str:
    parent = body.get("parent")
    if not isinstance(parent, dict) or not isinstance(parent.get("id"), str) or not parent["id"].isdigit():
        raise BoxError(400, "bad_request", "'parent.id' is required: the id of the folder to put the link in")
    return str(parent["id"])


def _check_folder(request: Request, folder_id: str) -> None:
    st, who = store(request), caller(request)
    if folder_id == items.ROOT_ID:
        permissions.check_root(st, who, "upload")
        return
    load_item(request, "folder", folder_id, "upload")


async def create_web_link(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    fields = parse_fields(request.query_params.get("fields"), ("web_link",))
    url = _url(body.get("url"))
    parent_id = _parent_id(body)
    name = body.get("name")
    # Box: the name "defaults to the URL if not set" (a URL may hold '/', which a given name may not)
    name = items.validate_name(name) if name is not None else url[: items.MAX_NAME]
    description = text(body, "description", max_len=256) or ""
    st, who = store(request), caller(request)
    with st.tx():
        _check_folder(request, parent_id)
        ts = now()
        link_id = st.next_id("web_link")
        st.insert(
            "items",
            {
                "id": link_id,
                "type": "web_link",
                "name": name,
                "parent_id": parent_id,
                "owner_id": items.owner_for_new_child(st, parent_id, who.user_id),
                "created_by": who.user_id,
                "modified_by": who.user_id,
                "created_at": ts,
                "modified_at": ts,
                "description": description,
                "url": url,
            },
        )
        row = items.require(st, link_id, "web_link")
        v = view(request)
        emit_event(st, "ITEM_CREATE", v.item(row), who.user_id)
        return box_json(v.item(row, fields))  # Box's spec answers 200 here, not 201


async def get_web_link(request: Request) -> Response:
    fields = parse_fields(request.query_params.get("fields"), ("web_link",))
    row = load_item(request, "web_link", request.path_params["link_id"], "read", allow_trashed=True)
    if not_modified(request, row):
        return Response(status_code=304)
    return box_json(view(request).item(row, fields), headers={"ETag": str(row["etag"])})


async def update_web_link(request: Request) -> Response:
    """`url` is changed here; name, parent, description and shared_link go through `changes.update_item`."""
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    fields = parse_fields(request.query_params.get("fields"), ("web_link",))
    st, who = store(request), caller(request)
    with st.tx():
        row = load_item(request, "web_link", request.path_params["link_id"], "read")
        check_if_match(request, row)
        v = view(request)
        if "url" in body:
            permissions.check(st, who, row, "update")
            items.touch(st, row["id"], who.user_id, url=_url(body["url"]))
            emit_event(st, "ITEM_MODIFY", v.item(items.require(st, row["id"], "web_link")), who.user_id)
        rest = {k: val for k, val in body.items() if k in ("name", "parent", "description", "shared_link")}
        if rest:
            update_item(st, who, items.require(st, row["id"], "web_link"), rest, v)
        fresh = items.require(st, row["id"], "web_link")
        return box_json(v.item(fresh, fields), headers={"ETag": str(fresh["etag"])})


async def delete_web_link(request: Request) -> Response:
    st, who = store(request), caller(request)
    with st.tx():
        row = load_item(request, "web_link", request.path_params["link_id"], "delete")
        check_if_match(request, row)
        trash_item(st, who, row, view(request))
    return Response(status_code=204)


async def get_trashed_web_link(request: Request) -> Response:
    fields = parse_fields(request.query_params.get("fields"), ("web_link",))
    return box_json(trashed_json(request, load_trashed(request, "web_link"), fields))


def _own_trashed(request: Request) -> sqlite3.Row:
    st, who = store(request), caller(request)
    row = items.get(st, request.path_params["item_id"], "web_link")
    if row is None or permissions.role_on(st, who.user_id, row) is None:
        raise not_found()
    return row


async def restore_web_link(request: Request) -> Response:
    """`POST /web_links/{id}`: restore from the trash (optionally to another parent or name)."""
    caller(request)
    body = await json_body(request, required=False)
    fields = parse_fields(request.query_params.get("fields"), ("web_link",))
    st, who = store(request), caller(request)
    with st.tx():
        v = view(request)
        restored = restore_item(st, who, _own_trashed(request), body, v)
        return box_json(v.item(restored, fields), status=201)


async def purge_web_link(request: Request) -> Response:
    st, who = store(request), caller(request)
    with st.tx():
        purge_item(st, who, _own_trashed(request))
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/2.0/web_links", create_web_link, methods=["POST"]),
    Route("/2.0/web_links/{link_id:boxid}", get_web_link, methods=["GET"]),
    Route("/2.0/web_links/{link_id:boxid}", update_web_link, methods=["PUT"]),
    Route("/2.0/web_links/{link_id:boxid}", delete_web_link, methods=["DELETE"]),
    Route("/2.0/web_links/{item_id:boxid}", restore_web_link, methods=["POST"]),
    Route("/2.0/web_links/{item_id:boxid}/trash", get_trashed_web_link, methods=["GET"]),
    Route("/2.0/web_links/{item_id:boxid}/trash", purge_web_link, methods=["DELETE"]),
]

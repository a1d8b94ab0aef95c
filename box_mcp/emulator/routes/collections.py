"""Collections: each user's one collection, Favorites (`GET /collections`, `/collections/{id}`,
`/collections/{id}/items`). An item joins or leaves it through `PUT /files|folders|web_links/{id}` with
`collections: [{id}]` (an empty list takes it out): see favorites.set_item_collections."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..common import box_json, caller, offset_page, store, view
from ..errors import not_found
from ..favorites import FAVORITES, favorites_id
from ..serialize import parse_fields


def _collection_json(collection_id: str) -> dict[str, Any]:
    return {"id": collection_id, **FAVORITES}


def _mine(request: Request) -> str:
    """The collection the path names, if it is the caller's own (another user's is not found)."""
    st, who = store(request), caller(request)
    mine = favorites_id(st, who.user_id)
    if request.path_params["collection_id"] != mine:
        raise not_found("No collection with that id")
    return mine


async def list_collections(request: Request) -> Response:
    st, who = store(request), caller(request)
    with st.tx():
        mine = favorites_id(st, who.user_id)
    rows = [mine]
    page, limit, offset = offset_page(request, rows, 100, 1000)
    return box_json(
        {
            "total_count": len(rows),
            "limit": limit,
            "offset": offset,
            "entries": [_collection_json(c) for c in page],
        }
    )


async def get_collection(request: Request) -> Response:
    st = store(request)
    with st.tx():
        mine = _mine(request)
    return box_json(_collection_json(mine))


async def collection_items(request: Request) -> Response:
    fields = parse_fields(request.query_params.get("fields"))
    st, who = store(request), caller(request)
    with st.tx():
        mine = _mine(request)
    rows = st.fetch_all(
        "SELECT * FROM collection_items WHERE collection_id = ? ORDER BY added_at, item_id", (mine,)
    )
    shown = []
    for entry in rows:  # items since trashed, deleted or no longer shared with the user drop out
        item = items.get(st, entry["item_id"], entry["item_type"])
        if item is not None and item["status"] == "active" and permissions.can(st, who, item, "read"):
            shown.append(item)
    page, limit, offset = offset_page(request, shown, 100, 1000)
    v = view(request)
    entries = [v.item(r, fields) if fields else v.mini(r) for r in page]
    return box_json({"total_count": len(shown), "limit": limit, "offset": offset, "entries": entries})


routes: list[BaseRoute] = [
    Route("/2.0/collections", list_collections, methods=["GET"]),
    Route("/2.0/collections/{collection_id:boxid}", get_collection, methods=["GET"]),
    Route("/2.0/collections/{collection_id:boxid}/items", collection_items, methods=["GET"]),
]

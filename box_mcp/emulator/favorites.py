"""Each user's Favorites collection (Box's only collection type): where its id comes from and how an item
update's `collections` member puts an item in it or takes it out."""

from __future__ import annotations

import sqlite3
from typing import Any

from . import permissions
from .auth import Caller
from .errors import BoxError, not_found
from .store import Store, now

FAVORITES = {"type": "collection", "name": "Favorites", "collection_type": "favorites"}


def favorites_id(st: Store, user_id: str) -> str:
    """The user's Favorites collection id, made on first use (Box gives every user one)."""
    row = st.fetch_one("SELECT id FROM collections WHERE user_id = ?", (user_id,))
    if row is not None:
        return str(row["id"])
    collection_id = st.next_id("collection")
    st.insert("collections", {"id": collection_id, "user_id": user_id, "created_at": now()})
    return collection_id


def set_item_collections(st: Store, who: Caller, row: sqlite3.Row, value: Any) -> None:
    """`collections` of an item update: the caller's collections the item is in, replaced as given."""
    if not isinstance(value, list) or not all(
        isinstance(c, dict) and isinstance(c.get("id"), str) for c in value
    ):
        raise BoxError(400, "bad_request", '\'collections\' must be a list of {"id": "<collection id>"}')
    mine = favorites_id(st, who.user_id)
    wanted = {c["id"] for c in value}
    unknown = wanted - {mine}
    if unknown:
        raise not_found(f"No collection with id {sorted(unknown)[0]}")
    permissions.check(st, who, row, "read")
    if mine in wanted:
        st.execute(
            "INSERT OR IGNORE INTO collection_items(collection_id, item_type, item_id, added_at) "
            "VALUES (?, ?, ?, ?)",
            (mine, row["type"], row["id"], now()),
        )
    else:
        st.execute(
            "DELETE FROM collection_items WHERE collection_id = ? AND item_type = ? AND item_id = ?",
            (mine, row["type"], row["id"]),
        )

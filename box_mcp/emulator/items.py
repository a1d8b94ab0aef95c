"""The item tree: lookups, ancestry, name rules, and creating folders, files and file versions."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from typing import Any

from .errors import BoxError, not_found
from .store import Blob, Store, now

ROOT_ID = "0"
MAX_NAME = 255
# Characters Box refuses anywhere in a name (the error table's list); leading/trailing spaces,
# non-printable characters and the names "." and ".." are refused as well.
FORBIDDEN_CHARS = set("/\\")


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or name == "":
        raise BoxError(400, "bad_request", "'name' is required and must be a non-empty string")
    if len(name) > MAX_NAME:
        raise BoxError(400, "item_name_too_long", "Item name too long")
    bad = (
        name in (".", "..")
        or name != name.strip(" ")
        or any(c in FORBIDDEN_CHARS for c in name)
        or any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name)
    )
    if bad:
        raise BoxError(400, "item_name_invalid", "Item name invalid")
    return name


def get(store: Store, item_id: str, item_type: str | None = None) -> sqlite3.Row | None:
    if item_type is None:
        return store.fetch_one("SELECT * FROM items WHERE id = ? AND status != 'deleted'", (item_id,))
    return store.fetch_one(
        "SELECT * FROM items WHERE id = ? AND type = ? AND status != 'deleted'", (item_id, item_type)
    )


def require(store: Store, item_id: str, item_type: str) -> sqlite3.Row:
    row = get(store, item_id, item_type)
    if row is None:
        raise not_found()
    return row


def ancestors(store: Store, row: sqlite3.Row) -> list[sqlite3.Row]:
    """Folders from the top of the owner's tree down to the item's parent (root '0' excluded)."""
    chain: list[sqlite3.Row] = []
    parent_id = row["parent_id"]
    seen: set[str] = set()
    while parent_id and parent_id != ROOT_ID and parent_id not in seen:
        seen.add(parent_id)
        parent = store.fetch_one("SELECT * FROM items WHERE id = ?", (parent_id,))
        if parent is None:
            break
        chain.append(parent)
        parent_id = parent["parent_id"]
    chain.reverse()
    return chain


def is_within(store: Store, row: sqlite3.Row, folder_id: str) -> bool:
    """True when `row` is the folder `folder_id` or lies anywhere below it."""
    if row["id"] == folder_id:
        return True
    return folder_id == ROOT_ID or any(a["id"] == folder_id for a in ancestors(store, row))


def children(store: Store, folder_id: str, owner_id: str, status: str = "active") -> list[sqlite3.Row]:
    if folder_id == ROOT_ID:
        return store.fetch_all(
            "SELECT * FROM items WHERE parent_id = ? AND owner_id = ? AND status = ?",
            (ROOT_ID, owner_id, status),
        )
    return store.fetch_all("SELECT * FROM items WHERE parent_id = ? AND status = ?", (folder_id, status))


def descendants(store: Store, folder_id: str) -> list[sqlite3.Row]:
    """Every non-deleted item below a folder, parents before children."""
    out: list[sqlite3.Row] = []
    frontier = [folder_id]
    while frontier:
        current = frontier.pop()
        for row in store.fetch_all(
            "SELECT * FROM items WHERE parent_id = ? AND status != 'deleted'", (current,)
        ):
            out.append(row)
            if row["type"] == "folder":
                frontier.append(row["id"])
    return out


def find_conflict(
    store: Store, parent_id: str, owner_id: str, name: str, exclude_id: str | None = None
) -> sqlite3.Row | None:
    """Box names are unique per folder, case-insensitively, across files, folders and web links."""
    params: list[Any] = [parent_id, name]
    sql = "SELECT * FROM items WHERE parent_id = ? AND lower(name) = lower(?) AND status = 'active'"
    if parent_id == ROOT_ID:
        sql += " AND owner_id = ?"
        params.append(owner_id)
    if exclude_id is not None:
        sql += " AND id != ?"
        params.append(exclude_id)
    return store.fetch_one(sql, params)


def owner_for_new_child(store: Store, parent_id: str, caller_id: str) -> str:
    """Content created inside someone's folder belongs to that folder's owner (Box's rule)."""
    if parent_id == ROOT_ID:
        return caller_id
    parent = store.fetch_one("SELECT owner_id FROM items WHERE id = ?", (parent_id,))
    return str(parent["owner_id"]) if parent else caller_id


def touch(store: Store, item_id: str, user_id: str, **values: Any) -> None:
    """Apply changes and bump etag / sequence_id, as every Box modification does."""
    ts = now()
    sets = {**values, "modified_at": ts, "modified_by": user_id}
    assignments = ", ".join(f"{k} = ?" for k in sets)
    store.execute(
        f"UPDATE items SET {assignments}, etag = etag + 1, sequence_id = sequence_id + 1 WHERE id = ?",  # noqa: S608
        [*sets.values(), item_id],
    )


def create_folder(
    store: Store,
    parent_id: str,
    name: str,
    caller_id: str,
    *,
    description: str = "",
    tags: list[str] | None = None,
    item_id: str | None = None,
) -> sqlite3.Row:
    ts = now()
    fid = item_id or store.next_id("folder")
    store.insert(
        "items",
        {
            "id": fid,
            "type": "folder",
            "name": name,
            "parent_id": parent_id,
            "owner_id": owner_for_new_child(store, parent_id, caller_id),
            "created_by": caller_id,
            "modified_by": caller_id,
            "created_at": ts,
            "modified_at": ts,
            "content_created_at": ts,
            "content_modified_at": ts,
            "description": description,
            "tags": json.dumps(tags or []),
        },
    )
    return require(store, fid, "folder")


def create_file(
    store: Store,
    parent_id: str,
    name: str,
    caller_id: str,
    blob: Blob,
    *,
    content_created_at: float | None = None,
    content_modified_at: float | None = None,
    description: str = "",
) -> sqlite3.Row:
    ts = now()
    fid = store.next_id("file")
    store.insert(
        "items",
        {
            "id": fid,
            "type": "file",
            "name": name,
            "parent_id": parent_id,
            "owner_id": owner_for_new_child(store, parent_id, caller_id),
            "created_by": caller_id,
            "modified_by": caller_id,
            "created_at": ts,
            "modified_at": ts,
            "content_created_at": content_created_at or ts,
            "content_modified_at": content_modified_at or ts,
            "description": description,
            "size": blob.size,
            "sha1": blob.sha1,
        },
    )
    version_id = _insert_version(store, fid, 1, name, blob, caller_id)
    store.execute("UPDATE items SET version_id = ? WHERE id = ?", (version_id, fid))
    return require(store, fid, "file")


def add_version(
    store: Store,
    file_row: sqlite3.Row,
    blob: Blob,
    caller_id: str,
    *,
    name: str | None = None,
    content_modified_at: float | None = None,
) -> sqlite3.Row:
    row = store.fetch_one(
        "SELECT COALESCE(MAX(version_number), 0) AS n FROM file_versions WHERE file_id = ?", (file_row["id"],)
    )
    number = (row["n"] if row else 0) + 1
    new_name = name or file_row["name"]
    version_id = _insert_version(store, file_row["id"], number, new_name, blob, caller_id)
    touch(
        store,
        file_row["id"],
        caller_id,
        name=new_name,
        size=blob.size,
        sha1=blob.sha1,
        version_id=version_id,
        content_modified_at=content_modified_at or now(),
    )
    return require(store, file_row["id"], "file")


def _insert_version(store: Store, file_id: str, number: int, name: str, blob: Blob, caller_id: str) -> str:
    ts = now()
    vid = store.next_id("file_version")
    user = store.fetch_one("SELECT name FROM users WHERE id = ?", (caller_id,))
    store.insert(
        "file_versions",
        {
            "id": vid,
            "file_id": file_id,
            "version_number": number,
            "name": name,
            "size": blob.size,
            "sha1": blob.sha1,
            "blob": blob.address,
            "created_at": ts,
            "modified_at": ts,
            "modified_by": caller_id,
            "uploader_display_name": user["name"] if user else "",
        },
    )
    return vid


def version_count(store: Store, file_id: str) -> int:
    row = store.fetch_one("SELECT COUNT(*) AS n FROM file_versions WHERE file_id = ?", (file_id,))
    return int(row["n"]) if row else 0


def current_version(store: Store, file_row: sqlite3.Row) -> sqlite3.Row:
    row = store.fetch_one("SELECT * FROM file_versions WHERE id = ?", (file_row["version_id"],))
    if row is None:
        raise BoxError(500, "internal_server_error", "File has no content")
    return row


def check_upload_size(store: Store, uploader_id: str, owner_id: str, size: int) -> None:
    """Box's two limits: the uploader's max_upload_size (413) and the owner's storage quota (403)."""
    uploader = store.fetch_one("SELECT max_upload_size FROM users WHERE id = ?", (uploader_id,))
    if uploader is not None and size > uploader["max_upload_size"]:
        raise BoxError(
            413,
            "file_size_limit_exceeded",
            f"File size {size} exceeds the maximum upload size of {uploader['max_upload_size']} bytes",
        )
    owner = store.fetch_one("SELECT space_amount FROM users WHERE id = ?", (owner_id,))
    if owner is None or owner["space_amount"] < 0:  # -1: unlimited
        return
    used = store.fetch_one(
        "SELECT COALESCE(SUM(size), 0) AS n FROM items "
        "WHERE owner_id = ? AND type = 'file' AND status != 'deleted'",
        (owner_id,),
    )
    if (int(used["n"]) if used else 0) + size > owner["space_amount"]:
        raise BoxError(403, "storage_limit_exceeded", "Account storage limit reached")

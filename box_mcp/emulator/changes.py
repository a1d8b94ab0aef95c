"""Changing items: update (rename, move, description, tags, shared link, lock), copy, trash, restore, purge.

Routes parse and authorize the request; these functions enforce Box's tree rules (names, cycles,
locks, non-empty folders) and record the events. All run inside the caller's transaction.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from . import favorites, items, permissions
from .auth import Caller
from .errors import BoxError, not_found
from .events import emit_event
from .serialize import View
from .store import Store, now, sha256_hex, timestamp

TRASH_RETENTION = 30 * 24 * 3600
SHARED_ACCESS = ("open", "company", "collaborators")


def locked_for(row: sqlite3.Row, user_id: str) -> bool:
    """A file locked by someone else (and not expired) refuses changes from this user."""
    if row["type"] != "file" or not row["lock"]:
        return False
    lock = json.loads(row["lock"])
    expired = lock.get("expires_at") is not None and lock["expires_at"] <= now()
    return not expired and lock["created_by"] != user_id


def check_unlocked(row: sqlite3.Row, caller: Caller) -> None:
    if locked_for(row, caller.user_id):
        raise BoxError(403, "access_denied_item_locked", "Access denied - item locked")


def check_folder_unlocked(store: Store, folders: list[sqlite3.Row], operation: str) -> None:
    """A folder lock (POST /folder_locks) freezes its folder against `operation` ("move" or "delete")."""
    ids = [f["id"] for f in folders if f["type"] == "folder"]
    if not ids:
        return
    column = "locks_move" if operation == "move" else "locks_delete"
    marks = ",".join("?" * len(ids))
    hit = store.fetch_one(
        f"SELECT i.name FROM folder_locks l JOIN items i ON i.id = l.folder_id "  # noqa: S608
        f"WHERE l.folder_id IN ({marks}) AND l.{column} = 1 LIMIT 1",
        ids,
    )
    if hit is not None:
        raise BoxError(
            403,
            "access_denied_item_locked",
            f"Folder '{hit['name']}' is locked against {operation}: "
            "its owner or a co-owner must remove the lock first",
        )


def conflict_error(view: View, conflict: sqlite3.Row, as_list: bool) -> BoxError:
    mini = view.mini(conflict)
    return BoxError(
        409,
        "item_name_in_use",
        "Item with the same name already exists",
        context_info={"conflicts": [mini] if as_list else mini},
    )


def resolve_destination(store: Store, caller: Caller, parent: Any) -> str:
    """The destination folder id from a `parent` body member, after checking the caller may add to it."""
    if not isinstance(parent, dict) or not isinstance(parent.get("id"), str) or not parent["id"].isdigit():
        raise BoxError(400, "bad_request", "'parent.id' must be the id of a folder")
    folder_id: str = parent["id"]
    if folder_id == items.ROOT_ID:
        permissions.check_root(store, caller, "upload")
        return folder_id
    folder = items.get(store, folder_id, "folder")
    if folder is None or folder["status"] != "active":
        raise not_found("The destination folder was not found")
    permissions.check(store, caller, folder, "upload")
    return folder_id


def shared_link_value(row: sqlite3.Row, body: Any, caller: Caller) -> str | None:
    """Build the stored shared link from a request's `shared_link` member (null removes it)."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise BoxError(400, "bad_request", "'shared_link' must be an object or null")
    link: dict[str, Any] = (
        json.loads(row["shared_link"])
        if row["shared_link"]
        else {
            "token": secrets.token_urlsafe(18).replace("-", "x").replace("_", "y"),
            "created_by": caller.user_id,
            "created_at": now(),
            "download_count": 0,
            "preview_count": 0,
        }
    )
    access = body.get("access", link.get("access", "open"))
    if access not in SHARED_ACCESS:
        raise BoxError(400, "bad_request", f"shared_link.access must be one of {', '.join(SHARED_ACCESS)}")
    link["access"] = access
    if "password" in body:
        password = body["password"]
        if password is None:
            link.pop("password_sha256", None)
        elif not isinstance(password, str) or len(password) < 8:
            raise BoxError(400, "bad_request", "shared_link.password must be at least 8 characters")
        elif access != "open":
            raise BoxError(400, "bad_request", "A password can only be set on a shared link with open access")
        else:
            link["password_sha256"] = sha256_hex(password)
    if "unshared_at" in body:
        moment = timestamp(body["unshared_at"], "shared_link.unshared_at")
        if moment is not None and moment <= now():
            # Box refuses an expiry that has already passed (it would make the link dead on arrival).
            raise BoxError(
                400,
                "bad_request",
                context_info={
                    "errors": [
                        {
                            "reason": "invalid_parameter",
                            "name": "unshared_at",
                            "message": f"Invalid value '{body['unshared_at']}'. It must be in the future.",
                        }
                    ]
                },
            )
        link["unshared_at"] = body["unshared_at"]
    if "vanity_name" in body:
        link["vanity_name"] = body["vanity_name"]
    perms = body.get("permissions")
    if perms is not None:
        if not isinstance(perms, dict):
            raise BoxError(400, "bad_request", "shared_link.permissions must be an object")
        link["permissions"] = {
            **link.get("permissions", {}),
            **{k: bool(v) for k, v in perms.items() if k in ("can_download", "can_preview", "can_edit")},
        }
    return json.dumps(link)


def lock_value(store: Store, body: Any, caller: Caller) -> str | None:
    if body is None:
        return None
    if not isinstance(body, dict) or body.get("type", "lock") != "lock":
        raise BoxError(400, "bad_request", '\'lock\' must be {"type": "lock", ...} or null')
    return json.dumps(
        {
            "id": store.next_id("lock"),
            "created_by": caller.user_id,
            "created_at": now(),
            "expires_at": timestamp(body.get("expires_at"), "lock.expires_at"),
            "is_download_prevented": bool(body.get("is_download_prevented", False)),
        }
    )


def update_item(
    store: Store, caller: Caller, row: sqlite3.Row, body: dict[str, Any], view: View
) -> sqlite3.Row:
    """PUT on a file or folder: every member is optional; each is authorized by what it changes."""
    values: dict[str, Any] = {}
    events: list[str] = []
    parent_id = row["parent_id"]
    if "lock" in body:
        permissions.check(store, caller, row, "lock")
        if (
            row["lock"]
            and locked_for(row, caller.user_id)
            and permissions.role_on(store, caller.user_id, row) != "owner"
        ):
            raise BoxError(
                403, "access_denied_item_locked", "Only the lock's creator or the owner can unlock"
            )
        values["lock"] = lock_value(store, body["lock"], caller)
        events.append("LOCK_CREATE" if values["lock"] else "LOCK_DESTROY")
    elif set(body) & {"name", "parent", "description", "tags"}:
        check_unlocked(row, caller)
    if "name" in body and body["name"] != row["name"]:
        permissions.check(store, caller, row, "update")
        values["name"] = items.validate_name(body["name"])
        events.append("ITEM_RENAME")
    if "parent" in body and isinstance(body["parent"], dict) and body["parent"].get("id") != row["parent_id"]:
        permissions.check(store, caller, row, "update")
        check_folder_unlocked(store, [row], "move")
        parent_id = resolve_destination(store, caller, body["parent"])
        if row["type"] == "folder" and parent_id != items.ROOT_ID:
            dest = items.require(store, parent_id, "folder")
            if items.is_within(store, dest, row["id"]):
                raise BoxError(
                    400, "cyclical_folder_structure", "Folder move creates cyclical folder structure"
                )
        if parent_id == items.ROOT_ID and row["owner_id"] != caller.user_id:
            raise BoxError(
                403,
                "access_denied_insufficient_permissions",
                "Only the owner can move an item to their own root folder",
            )
        values["parent_id"] = parent_id
        new_owner = items.owner_for_new_child(store, parent_id, caller.user_id)
        if new_owner != row["owner_id"]:
            # Moving into someone else's folder hands the item (and what it holds) to that folder's owner.
            values["owner_id"] = new_owner
            for child in items.descendants(store, row["id"]):
                store.execute("UPDATE items SET owner_id = ? WHERE id = ?", (new_owner, child["id"]))
        events.append("ITEM_MOVE")
    elif "parent" in body and not isinstance(body["parent"], dict):
        raise BoxError(400, "bad_request", "'parent' must be an object with an 'id'")
    if "description" in body:
        permissions.check(store, caller, row, "update")
        if not isinstance(body["description"], str) or len(body["description"]) > 256:
            raise BoxError(400, "bad_request", "'description' must be a string of at most 256 characters")
        values["description"] = body["description"]
    if "tags" in body:
        permissions.check(store, caller, row, "update")
        tags = body["tags"]
        if (
            not isinstance(tags, list)
            or not all(isinstance(t, str) and t.strip() for t in tags)
            or len(tags) > 100
        ):
            raise BoxError(400, "bad_request", "'tags' must be a list of at most 100 non-empty strings")
        values["tags"] = json.dumps(list(dict.fromkeys(tags)))
    if "shared_link" in body:
        permissions.check(store, caller, row, "share")
        values["shared_link"] = shared_link_value(row, body["shared_link"], caller)
        events.append("ITEM_SHARED_CREATE" if values["shared_link"] else "ITEM_SHARED_UNSHARE")
    if "collections" in body:  # the caller's Favorites: per user, the item itself does not change
        favorites.set_item_collections(store, caller, row, body["collections"])
    if "name" in values or "parent_id" in values:
        conflict = items.find_conflict(
            store, parent_id, caller.user_id, values.get("name", row["name"]), exclude_id=row["id"]
        )
        if conflict is not None:
            raise conflict_error(view, conflict, as_list=row["type"] == "folder")
    if values:
        items.touch(store, row["id"], caller.user_id, **values)
    updated = items.require(store, row["id"], row["type"])
    for event_type in events or (["ITEM_MODIFY"] if values else []):
        emit_event(store, event_type, view.item(updated), caller.user_id)
    return updated


def copy_item(
    store: Store,
    caller: Caller,
    row: sqlite3.Row,
    parent: Any,
    name: Any,
    view: View,
    version_id: str | None = None,
) -> sqlite3.Row:
    permissions.check(store, caller, row, "download" if row["type"] == "file" else "read")
    dest_id = resolve_destination(store, caller, parent)
    new_name = items.validate_name(name) if name is not None else row["name"]
    if row["type"] == "folder" and dest_id != items.ROOT_ID:
        dest = items.require(store, dest_id, "folder")
        if items.is_within(store, dest, row["id"]):
            raise BoxError(400, "cyclical_folder_structure", "A folder cannot be copied into itself")
    conflict = items.find_conflict(store, dest_id, caller.user_id, new_name)
    if conflict is not None:
        raise conflict_error(view, conflict, as_list=row["type"] == "folder")
    copied = _copy(store, caller.user_id, row, dest_id, new_name, version_id)
    emit_event(store, "ITEM_COPY", view.item(copied), caller.user_id, {"copied_from": view.mini(row)})
    return copied


def _copy(
    store: Store, user_id: str, row: sqlite3.Row, dest_id: str, name: str, version_id: str | None = None
) -> sqlite3.Row:
    if row["type"] == "file":
        version = store.fetch_one(
            "SELECT * FROM file_versions WHERE id = ? AND file_id = ?",
            (version_id or row["version_id"], row["id"]),
        )
        if version is None:
            raise not_found("File version not found")
        from .store import Blob

        blob = Blob(address=version["blob"], sha1=version["sha1"], size=version["size"])
        return items.create_file(
            store,
            dest_id,
            name,
            user_id,
            blob,
            description=row["description"],
            content_created_at=row["content_created_at"],
            content_modified_at=row["content_modified_at"],
        )
    if row["type"] == "web_link":
        new_id = store.next_id("web_link")
        ts = now()
        store.insert(
            "items",
            {
                **{k: row[k] for k in row.keys()},
                "id": new_id,
                "parent_id": dest_id,
                "name": name,
                "owner_id": items.owner_for_new_child(store, dest_id, user_id),
                "created_by": user_id,
                "modified_by": user_id,
                "created_at": ts,
                "modified_at": ts,
                "etag": 0,
                "sequence_id": 0,
                "shared_link": None,
            },
        )
        return items.require(store, new_id, "web_link")
    folder = items.create_folder(
        store, dest_id, name, user_id, description=row["description"], tags=json.loads(row["tags"])
    )
    for child in store.fetch_all(
        "SELECT * FROM items WHERE parent_id = ? AND status = 'active'", (row["id"],)
    ):
        _copy(store, user_id, child, folder["id"], child["name"])
    return folder


def trash_item(store: Store, caller: Caller, row: sqlite3.Row, view: View, *, recursive: bool = True) -> None:
    permissions.check(store, caller, row, "delete")
    check_unlocked(row, caller)
    below = items.descendants(store, row["id"]) if row["type"] == "folder" else []
    active_below = [d for d in below if d["status"] == "active"]
    if active_below and not recursive:
        raise BoxError(400, "folder_not_empty", "Cannot delete - folder not empty")
    check_folder_unlocked(store, [row, *active_below], "delete")
    locked = [d for d in active_below if locked_for(d, caller.user_id)]
    if locked:
        raise BoxError(403, "access_denied_item_locked", f"'{locked[0]['name']}' inside the folder is locked")
    ts = now()
    store.execute(
        "UPDATE items SET status = 'trashed', trashed_at = ?, trashed_by = ?, trash_root = 1, purge_at = ?, "
        "etag = etag + 1, sequence_id = sequence_id + 1 WHERE id = ?",
        (ts, caller.user_id, ts + TRASH_RETENTION, row["id"]),
    )
    for child in active_below:
        store.execute(
            "UPDATE items SET status = 'trashed', trashed_at = ?, trashed_by = ?, trash_root = 0, "
            "purge_at = ? WHERE id = ?",
            (ts, caller.user_id, ts + TRASH_RETENTION, child["id"]),
        )
    emit_event(store, "ITEM_TRASH", view.item(items.require(store, row["id"], row["type"])), caller.user_id)


def restore_item(
    store: Store, caller: Caller, row: sqlite3.Row, body: dict[str, Any], view: View
) -> sqlite3.Row:
    if row["status"] != "trashed" or not row["trash_root"]:
        raise BoxError(404, "not_trashed", "Item is not trashed")
    if permissions.role_on(store, caller.user_id, row) not in ("owner", "co-owner", "editor"):
        raise not_found()
    name = items.validate_name(body["name"]) if body.get("name") is not None else row["name"]
    if body.get("parent") is not None:
        parent_id = resolve_destination(store, caller, body["parent"])
    else:
        parent_id = row["parent_id"]
        parent = items.get(store, parent_id, "folder") if parent_id != items.ROOT_ID else None
        if parent_id != items.ROOT_ID and (parent is None or parent["status"] != "active"):
            raise BoxError(
                403,
                "access_denied_insufficient_permissions",
                "The original parent folder is gone; restore it first or pass parent.id",
            )
    conflict = items.find_conflict(store, parent_id, row["owner_id"], name, exclude_id=row["id"])
    if conflict is not None:
        raise conflict_error(view, conflict, as_list=True)
    trashed_at = row["trashed_at"]
    store.execute(
        "UPDATE items SET status = 'active', trashed_at = NULL, trashed_by = NULL, trash_root = 0, "
        "purge_at = NULL, parent_id = ?, name = ?, etag = etag + 1, sequence_id = sequence_id + 1 "
        "WHERE id = ?",
        (parent_id, name, row["id"]),
    )
    for child in items.descendants(store, row["id"]):
        if child["status"] == "trashed" and not child["trash_root"] and child["trashed_at"] == trashed_at:
            store.execute(
                "UPDATE items SET status = 'active', trashed_at = NULL, trashed_by = NULL, purge_at = NULL "
                "WHERE id = ?",
                (child["id"],),
            )
    restored = items.require(store, row["id"], row["type"])
    emit_event(store, "ITEM_UNDELETE_VIA_TRASH", view.item(restored), caller.user_id)
    return restored


def purge_item(store: Store, caller: Caller, row: sqlite3.Row) -> None:
    if row["status"] != "trashed" or not row["trash_root"]:
        raise BoxError(404, "not_trashed", "Item is not trashed")
    if permissions.role_on(store, caller.user_id, row) not in ("owner", "co-owner"):
        raise not_found()
    ids = [row["id"], *(d["id"] for d in items.descendants(store, row["id"]))]
    marks = ",".join("?" * len(ids))
    store.execute(f"UPDATE items SET status = 'deleted' WHERE id IN ({marks})", ids)  # noqa: S608
    emit_event(
        store, "ITEM_DELETE", {"type": row["type"], "id": row["id"], "name": row["name"]}, caller.user_id
    )

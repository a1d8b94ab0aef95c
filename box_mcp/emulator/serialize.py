"""Box's JSON for folders, files, versions and locks (mini, standard, full), as one caller sees them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from . import permissions
from .auth import Caller
from .fields import FILE_STANDARD, FOLDER_STANDARD, INVITEE_ROLES, KNOWN_FIELDS, parse_fields
from .items import ROOT_ID, ancestors, version_count
from .store import Store, iso
from .template_ops import classification_of


def user_mini(store: Store, user_id: str | None) -> dict[str, Any]:
    row = store.fetch_one("SELECT id, name, login FROM users WHERE id = ?", (user_id,)) if user_id else None
    if row is None:
        return {"type": "user", "id": user_id or "", "name": "", "login": ""}
    return {"type": "user", "id": row["id"], "name": row["name"], "login": row["login"]}


def shared_link_json(base_url: str, item: sqlite3.Row) -> dict[str, Any] | None:
    if not item["shared_link"]:
        return None
    link = json.loads(item["shared_link"])
    url = f"{base_url}/s/{link['token']}"
    perms = link.get("permissions") or {}
    can_download = bool(perms.get("can_download", True))
    access = link.get("access", "open")
    return {
        "url": url,
        "download_url": f"{base_url}/shared/static/{link['token']}" if item["type"] == "file" else None,
        "vanity_url": f"{base_url}/v/{link['vanity_name']}" if link.get("vanity_name") else None,
        "vanity_name": link.get("vanity_name"),
        "access": access,
        "effective_access": access,
        "effective_permission": "can_download" if can_download else "can_preview",
        "unshared_at": link.get("unshared_at"),
        "is_password_enabled": bool(link.get("password_sha256")),
        "permissions": {
            "can_download": can_download,
            "can_preview": True,
            "can_edit": bool(perms.get("can_edit", False)),
        },
        "download_count": int(link.get("download_count", 0)),
        "preview_count": int(link.get("preview_count", 0)),
    }


@dataclass
class View:
    """Renders items as one caller sees them (paths, permissions) with absolute URLs on this origin."""

    store: Store
    caller: Caller
    base_url: str

    def root(self) -> dict[str, Any]:
        me = user_mini(self.store, self.caller.user_id)
        return {
            "type": "folder",
            "id": ROOT_ID,
            "sequence_id": None,
            "etag": None,
            "name": "All Files",
            "created_at": None,
            "modified_at": None,
            "description": "",
            "size": 0,
            "path_collection": {"total_count": 0, "entries": []},
            "created_by": {"type": "user", "id": "", "name": "", "login": ""},
            "modified_by": me,
            "trashed_at": None,
            "purged_at": None,
            "content_created_at": None,
            "content_modified_at": None,
            "owned_by": me,
            "shared_link": None,
            "folder_upload_email": None,
            "parent": None,
            "item_status": "active",
        }

    def mini(self, row: sqlite3.Row) -> dict[str, Any]:
        out: dict[str, Any] = {"type": row["type"], "id": row["id"]}
        if row["type"] == "web_link":
            return {
                **out,
                "sequence_id": str(row["sequence_id"]),
                "etag": str(row["etag"]),
                "name": row["name"],
                "url": row["url"],
            }
        out.update(sequence_id=str(row["sequence_id"]), etag=str(row["etag"]), name=row["name"])
        if row["type"] == "file":
            out["sha1"] = row["sha1"]
            out["file_version"] = {"type": "file_version", "id": row["version_id"], "sha1": row["sha1"]}
        return out

    def folder_mini(self, folder_id: str | None) -> dict[str, Any] | None:
        if folder_id is None:
            return None
        if folder_id == ROOT_ID:
            return {"type": "folder", "id": ROOT_ID, "sequence_id": None, "etag": None, "name": "All Files"}
        row = self.store.fetch_one("SELECT * FROM items WHERE id = ?", (folder_id,))
        return self.mini(row) if row else None

    def path_collection(self, row: sqlite3.Row) -> dict[str, Any]:
        entries: list[dict[str, Any]] = [self.folder_mini(ROOT_ID) or {}]
        for folder in ancestors(self.store, row):
            if permissions.role_on(self.store, self.caller.user_id, folder) is not None:
                entries.append(self.mini(folder))
        return {"total_count": len(entries), "entries": entries}

    def parent(self, row: sqlite3.Row) -> dict[str, Any] | None:
        parent_id = row["parent_id"]
        if parent_id not in (None, ROOT_ID):
            parent = self.store.fetch_one("SELECT * FROM items WHERE id = ?", (parent_id,))
            if parent is not None and permissions.role_on(self.store, self.caller.user_id, parent) is None:
                parent_id = ROOT_ID  # a collaborated item hangs off the collaborator's own root
        return self.folder_mini(parent_id)

    def folder_size(self, row: sqlite3.Row) -> int:
        from .items import descendants

        return sum(d["size"] for d in descendants(self.store, row["id"]) if d["type"] == "file")

    def item(self, row: sqlite3.Row, fields: list[str] | None = None) -> dict[str, Any]:
        """Standard representation, or mini + the requested `fields`."""
        if row["type"] == "web_link":
            return self._render(row, fields, KNOWN_FIELDS["web_link"])
        standard = FOLDER_STANDARD if row["type"] == "folder" else FILE_STANDARD
        return self._render(row, fields, standard)

    def _render(
        self, row: sqlite3.Row, fields: list[str] | None, default: tuple[str, ...] | frozenset[str]
    ) -> dict[str, Any]:
        out = self.mini(row)
        wanted = list(default) if fields is None else fields
        for name in wanted:
            if name in out:
                continue
            value = self._field(row, name)
            if value is not _SKIP:
                out[name] = value
        return out

    def _field(self, row: sqlite3.Row, name: str) -> Any:
        store = self.store
        simple: dict[str, Any] = {
            "name": row["name"],
            "description": row["description"],
            "item_status": row["status"],
            "created_at": iso(row["created_at"]),
            "modified_at": iso(row["modified_at"]),
            "content_created_at": iso(row["content_created_at"]),
            "content_modified_at": iso(row["content_modified_at"]),
            "trashed_at": iso(row["trashed_at"]),
            "purged_at": iso(row["purge_at"]),
            "sync_state": row["sync_state"],
            "url": row["url"],
            "folder_upload_email": None,
            "is_package": False,
            "is_externally_owned": False,
            "can_non_owners_invite": True,
            "can_non_owners_view_collaborators": True,
            "is_collaboration_restricted_to_enterprise": False,
            "is_accessible_via_shared_link": bool(row["shared_link"]),
            "expires_at": None,
            "disposition_at": None,
            "watermark_info": {"is_watermarked": False},
            "is_associated_with_app_item": False,
            "allowed_shared_link_access_levels": ["open", "company", "collaborators"],
            "allowed_invitee_roles": INVITEE_ROLES,
        }
        if name in simple:
            return simple[name]
        if name in ("created_by", "modified_by", "owned_by"):
            column = {"created_by": "created_by", "modified_by": "modified_by", "owned_by": "owner_id"}[name]
            return user_mini(store, row[column])
        if name == "size":
            return row["size"] if row["type"] != "folder" else self.folder_size(row)
        if name == "sha1":
            return row["sha1"]
        if name == "path_collection":
            return self.path_collection(row)
        if name == "parent":
            return self.parent(row)
        if name == "shared_link":
            return shared_link_json(self.base_url, row)
        if name == "tags":
            tags = json.loads(row["tags"])
            return tags or _SKIP  # Box's spec gives tags minItems 1: no tags means no member
        if name == "extension":
            return row["name"].rsplit(".", 1)[1] if "." in row["name"] else ""
        if name == "version_number":
            return str(version_count(store, row["id"]))
        if name == "comment_count":
            return _count(
                store, "SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'comments'"
            ) and _count(store, "SELECT COUNT(*) AS n FROM comments WHERE item_id = ?", (row["id"],))
        if name == "has_collaborations":
            return (
                _count(store, "SELECT COUNT(*) AS n FROM collaborations WHERE item_id = ?", (row["id"],)) > 0
            )
        if name == "lock":
            return self.lock(row)
        if name == "classification":  # from the owner's enterprise classification template (null if none)
            owner = store.fetch_one("SELECT enterprise_id FROM users WHERE id = ?", (row["owner_id"],))
            scope = f"enterprise_{owner['enterprise_id']}" if owner is not None else ""
            return classification_of(store, row["type"], row["id"], scope)
        if name == "uploader_display_name":
            version = store.fetch_one(
                "SELECT uploader_display_name FROM file_versions WHERE id = ?", (row["version_id"],)
            )
            return version["uploader_display_name"] if version else ""
        if name == "permissions":
            return self.permissions(row)
        return _SKIP

    def lock(self, row: sqlite3.Row) -> dict[str, Any] | None:
        if not row["lock"]:
            return None
        lock = json.loads(row["lock"])
        out = {
            "type": "lock",
            "id": lock["id"],
            "created_by": user_mini(self.store, lock["created_by"]),
            "created_at": iso(lock["created_at"]),
            "is_download_prevented": bool(lock.get("is_download_prevented")),
            "app_type": None,
        }
        if lock.get("expires_at") is not None:  # Box omits expired_at for a lock without expiry
            out["expired_at"] = iso(lock["expires_at"])
        return out

    def permissions(self, row: sqlite3.Row) -> dict[str, bool]:
        acts = permissions.allowed_actions(self.store, self.caller, row)
        perms = {
            "can_delete": "delete" in acts,
            "can_download": "download" in acts,
            "can_invite_collaborator": "invite" in acts,
            "can_rename": "update" in acts,
            "can_set_share_access": "share" in acts,
            "can_share": "share" in acts,
            "can_upload": "upload" in acts,
        }
        if row["type"] == "file":
            perms.update(
                can_annotate="comment" in acts,
                can_comment="comment" in acts,
                can_preview="preview" in acts,
                can_view_annotations_all="preview" in acts,
                can_view_annotations_self="preview" in acts,
            )
        return perms

    def version(self, row: sqlite3.Row) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "file_version",
            "id": row["id"],
            "sha1": row["sha1"],
            "name": row["name"],
            "size": row["size"],
            "created_at": iso(row["created_at"]),
            "modified_at": iso(row["modified_at"]),
            "modified_by": user_mini(self.store, row["modified_by"]),
            "trashed_at": iso(row["trashed_at"]),
            "restored_at": None,
            "purged_at": None,
            "uploader_display_name": row["uploader_display_name"],
            "version_number": str(row["version_number"]),
        }
        if row["trashed_by"]:  # Box omits trashed_by / restored_by rather than sending null
            out["trashed_by"] = user_mini(self.store, row["trashed_by"])
        return out


__all__ = ["INVITEE_ROLES", "KNOWN_FIELDS", "View", "parse_fields", "shared_link_json", "user_mini"]

_SKIP = object()


def _count(store: Store, sql: str, params: tuple[Any, ...] = ()) -> int:
    row = store.fetch_one(sql, params)
    return int(row["n"]) if row else 0

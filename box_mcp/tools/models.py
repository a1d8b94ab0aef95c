"""Compact output models built from Box JSON. Box text is untrusted: keep known fields, never act on it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from box_mcp.tools.spec import ToolOutput

# Fields asked of Box for details calls: enough for a model to act, small enough to keep outputs compact.
FILE_FIELDS = (
    "type,id,name,size,etag,sha1,description,extension,parent,path_collection,created_at,modified_at,"
    "created_by,modified_by,shared_link,item_status,file_version"
)
FOLDER_FIELDS = (
    "type,id,name,etag,description,parent,path_collection,created_at,modified_at,created_by,modified_by,"
    "shared_link,item_status,item_collection,size"
)
ITEM_FIELDS = "type,id,name,size,etag,modified_at,extension"


class ItemMini(ToolOutput):
    type: str
    id: str
    name: str | None = None
    etag: str | None = None
    size: int | None = None
    modified_at: str | None = None


class ParentMini(ToolOutput):  # an item's parent as Box nests it: a folder mini, no size or dates
    type: str
    id: str
    name: str | None = None
    etag: str | None = None


class UserMini(ToolOutput):
    type: str = "user"
    id: str
    name: str | None = None
    login: str | None = None


class SharedLink(ToolOutput):
    url: str | None = None
    access: str | None = None
    effective_access: str | None = None
    unshared_at: str | None = None
    is_password_enabled: bool | None = None
    download_url: str | None = None


def _path(raw: dict[str, Any]) -> str | None:
    """Path from All Files ("/" for the root itself), from path_collection; None when Box sent none."""
    if str(raw.get("id")) == "0" and raw.get("type", "folder") == "folder":
        return "/"
    entries = (raw.get("path_collection") or {}).get("entries")
    if entries is None:
        return None
    names = [str(e.get("name") or e.get("id")) for e in entries if isinstance(e, dict)]
    return "/" + "/".join([*names[1:], str(raw.get("name") or "")])


def _user(raw: Any) -> UserMini | None:
    return UserMini.model_validate(raw) if isinstance(raw, dict) and raw.get("id") is not None else None


def _mini(raw: Any) -> ItemMini | None:
    return ItemMini.model_validate(raw) if isinstance(raw, dict) and raw.get("id") is not None else None


def _parent(raw: Any) -> ParentMini | None:
    return ParentMini.model_validate(raw) if isinstance(raw, dict) and raw.get("id") is not None else None


def _link(raw: Any) -> SharedLink | None:
    return SharedLink.model_validate(raw) if isinstance(raw, dict) else None


class FileDetails(ToolOutput):
    type: str = "file"
    id: str
    name: str | None = None
    size: int | None = None
    etag: str | None = None
    sha1: str | None = None
    extension: str | None = None
    description: str | None = None
    path: str | None = Field(None, description="From All Files, e.g. /Projects/plan.txt")
    parent: ParentMini | None = None
    created_at: str | None = None
    modified_at: str | None = None
    created_by: UserMini | None = None
    modified_by: UserMini | None = None
    shared_link: SharedLink | None = None
    item_status: str | None = None
    version_id: str | None = None

    @classmethod
    def from_box(cls, raw: dict[str, Any]) -> FileDetails:
        version = raw.get("file_version")
        return cls.model_validate(
            {
                **_item_fields(raw, ("size", "sha1", "extension")),
                "version_id": version.get("id") if isinstance(version, dict) else None,
            }
        )


class FolderDetails(ToolOutput):
    type: str = "folder"
    id: str
    name: str | None = None
    etag: str | None = None
    description: str | None = None
    path: str | None = None
    parent: ParentMini | None = None
    size: int | None = None
    created_at: str | None = None
    modified_at: str | None = None
    created_by: UserMini | None = None
    modified_by: UserMini | None = None
    shared_link: SharedLink | None = None
    item_status: str | None = None
    item_count: int | None = Field(None, description="Items directly inside")

    @classmethod
    def from_box(cls, raw: dict[str, Any]) -> FolderDetails:
        items = raw.get("item_collection")
        return cls.model_validate(
            {
                **_item_fields(raw, ("size",)),
                "item_count": items.get("total_count") if isinstance(items, dict) else None,
            }
        )


def _item_fields(raw: dict[str, Any], extra: tuple[str, ...]) -> dict[str, Any]:
    """What files and folders share in their details: plain fields, path, parent, people, link."""
    plain = ("id", "name", "etag", "description", "created_at", "modified_at", "item_status", *extra)
    return {
        **{k: raw.get(k) for k in plain},
        "path": _path(raw),
        "parent": _parent(raw.get("parent")),
        "created_by": _user(raw.get("created_by")),
        "modified_by": _user(raw.get("modified_by")),
        "shared_link": _link(raw.get("shared_link")),
    }


class Deleted(ToolOutput):
    type: str
    id: str
    deleted: bool = True
    note: str = Field(description="Where the item went and how to get it back")


def minis(entries: Any) -> list[ItemMini]:
    """Entries of a Box collection as minis; anything malformed is skipped rather than trusted."""
    out: list[ItemMini] = []
    for entry in entries or ():
        mini = _mini(entry)
        if mini is not None:
            out.append(mini)
    return out

"""trash toolset: list the Box trash, read a trashed item, restore a file or folder, purge one for good.

How the policy sees a trashed item: as `trashed_file:<id>` / `trashed_folder:<id>` (policy/locate.py), which
stands for the file or folder itself in rules (`items: [file:123]` covers it) and sits where it was trashed
from: Box keeps that folder as the trashed item's `parent` (its `path_collection` is the Trash alone), so the
grant is checked against the item's original folder, never the trash. A restore writes there, and also into
`parent_folder_id` when one is given (both must be granted). `list_trashed_items` shows only trashed items
whose original folder the agent could read, and never their parent above its grant.

Purging (`purge_trashed_item`) cannot be undone: it is `admin` access (granted only by a rule with
`access: admin`, which no shipped policy gives) and destructive, so approvals and first-destructive rules
reach it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from box_mcp.access import Access, CallFacts, ResourceUse, trashed_ref
from box_mcp.errors import BoxError
from box_mcp.tools.models import FILE_FIELDS, FOLDER_FIELDS, FileDetails, FolderDetails, ParentMini
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import (
    READ_HINTS,
    BoxId,
    Hints,
    ItemName,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    extension_of,
    item,
)

TRASHED_FIELDS = "type,id,name,size,trashed_at,purged_at,parent"
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
TrashedType = Literal["file", "folder"]


def trashed(kind: str, item_id: str, access: Access) -> ResourceUse:
    """The trashed file or folder a call acts on, located where it was trashed from."""
    return ResourceUse(trashed_ref(kind, item_id), access, "item", kind == "folder" and access.rank > 0)


# --- outputs ------------------------------------------------------------------------------------


class TrashedItem(ToolOutput):
    type: str
    id: str
    name: str | None = None
    size: int | None = None
    trashed_at: str | None = None
    purge_at: str | None = Field(None, description="When Box deletes it for good")
    parent: ParentMini | None = Field(None, description="The folder it was trashed from")


class TrashedItems(ToolOutput):
    entries: list[TrashedItem]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page; absent at the end")


class Purged(ToolOutput):
    type: str
    id: str
    purged: bool = True
    note: str = "deleted permanently: Box cannot restore it"


def _trashed(raw: Any) -> TrashedItem | None:
    if not isinstance(raw, dict) or raw.get("id") is None or raw.get("type") not in ("file", "folder"):
        return None
    parent = raw.get("parent")
    return TrashedItem(
        type=str(raw["type"]),
        id=str(raw["id"]),
        name=raw.get("name") if isinstance(raw.get("name"), str) else None,
        size=raw.get("size") if isinstance(raw.get("size"), int) else None,
        trashed_at=raw.get("trashed_at") if isinstance(raw.get("trashed_at"), str) else None,
        purge_at=raw.get("purged_at") if isinstance(raw.get("purged_at"), str) else None,
        parent=ParentMini.model_validate(parent) if isinstance(parent, dict) and parent.get("id") else None,
    )


# --- list_trashed_items / get_trashed_item ------------------------------------------------------


class ListTrashInput(ToolInput):
    sort: Literal["name", "date", "size"] = "date"
    direction: Literal["ASC", "DESC"] = "DESC"
    limit: int = Field(100, ge=1, le=1000)
    cursor: Cursor | None = None  # next_cursor of the previous page


async def list_trashed_items(ctx: ToolContext, args: ListTrashInput) -> TrashedItems:
    params: dict[str, Any] = {
        "fields": TRASHED_FIELDS,
        "usemarker": "true",
        "limit": args.limit,
        "sort": args.sort,
        "direction": args.direction,
    }
    if args.cursor:
        params["marker"] = args.cursor
    raw = await ctx.box.get("/folders/trash/items", params=params)
    entries = [e for e in (_trashed(r) for r in raw.get("entries") or ()) if e is not None]
    marker = raw.get("next_marker")
    return TrashedItems(entries=entries, next_cursor=str(marker) if marker else None)


class TrashedItemInput(ToolInput):
    item_type: TrashedType
    item_id: BoxId


async def get_trashed_item(ctx: ToolContext, args: TrashedItemInput) -> TrashedItem:
    raw = await ctx.box.get(f"/{args.item_type}s/{args.item_id}/trash", params={"fields": TRASHED_FIELDS})
    found = _trashed(raw)
    if found is None:
        raise BoxError(f"Box's answer for trashed {args.item_type} {args.item_id} is not a trashed item")
    return found


# --- restore_file_from_trash / restore_folder_from_trash ----------------------------------------


class RestoreFileInput(ToolInput):
    file_id: BoxId
    parent_folder_id: BoxId | None = Field(
        None, description="Restore into this folder instead (needed when the original folder is gone)"
    )
    new_name: ItemName | None = Field(None, description="Restore under this name (when the old one is taken)")


class RestoreFolderInput(ToolInput):
    folder_id: BoxId
    parent_folder_id: BoxId | None = Field(
        None, description="Restore into this folder instead (needed when the original folder is gone)"
    )
    new_name: ItemName | None = Field(None, description="Restore under this name (when the old one is taken)")


def _restore_body(parent_folder_id: str | None, new_name: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if parent_folder_id is not None:
        body["parent"] = {"id": parent_folder_id}
    if new_name is not None:
        body["name"] = new_name
    return body


async def restore_file_from_trash(ctx: ToolContext, args: RestoreFileInput) -> FileDetails:
    raw = await ctx.box.post(
        f"/files/{args.file_id}",
        json=_restore_body(args.parent_folder_id, args.new_name),
        params={"fields": FILE_FIELDS},
    )
    return FileDetails.from_box(raw)


async def restore_folder_from_trash(ctx: ToolContext, args: RestoreFolderInput) -> FolderDetails:
    raw = await ctx.box.post(
        f"/folders/{args.folder_id}",
        json=_restore_body(args.parent_folder_id, args.new_name),
        params={"fields": FOLDER_FIELDS},
    )
    return FolderDetails.from_box(raw)


def _restore_uses(kind: str, item_id: str, parent_folder_id: str | None) -> tuple[ResourceUse, ...]:
    uses = (trashed(kind, item_id, Access.WRITE),)
    if parent_folder_id is None:
        return uses  # back where it was: the original folder is the item's place, checked above
    return (*uses, item("folder", parent_folder_id, Access.WRITE, "destination"))


def _named(name: str | None) -> CallFacts:
    return CallFacts(name=name, extension=extension_of(name)) if name else CallFacts()


# --- purge_trashed_item -------------------------------------------------------------------------


async def purge_trashed_item(ctx: ToolContext, args: TrashedItemInput) -> Purged:
    await ctx.box.delete(f"/{args.item_type}s/{args.item_id}/trash")
    return Purged(type=args.item_type, id=args.item_id)


# --- the specs ----------------------------------------------------------------------------------

# A second restore answers 404 not_trashed: not a safe blind retry, so the uncertain-failure path checks.
RESTORE_HINTS = Hints(read_only=False, destructive=False, idempotent=False)

SPECS = (
    ToolSpec(
        name="list_trashed_items",
        title="List the Box trash",
        description=(
            "List trashed files and folders (only those trashed from folders you may read), newest first by "
            "default, each with the folder it was trashed from (parent) and when Box purges it. Pass "
            "next_cursor back as cursor."
        ),
        toolset="trash",
        access=Access.READ,
        box_scopes=box_scopes("list_trashed_items"),
        hints=READ_HINTS,
        input_model=ListTrashInput,
        output_model=TrashedItems,
        handler=list_trashed_items,
        output_kind="trash",
    ),
    ToolSpec(
        name="get_trashed_item",
        title="Get a trashed item",
        description="A trashed file's or folder's name, size, the folder it was trashed from, and dates.",
        toolset="trash",
        access=Access.READ,
        box_scopes=box_scopes("get_trashed_item"),
        hints=READ_HINTS,
        input_model=TrashedItemInput,
        output_model=TrashedItem,
        handler=get_trashed_item,
        resources=lambda a: (trashed(a.item_type, a.item_id, Access.READ),),
        output_kind="trashed_item",
    ),
    ToolSpec(
        name="restore_file_from_trash",
        title="Restore a file from the trash",
        description=(
            "Put a trashed file back in the folder it was trashed from, or into parent_folder_id, optionally "
            "under new_name. Fails with item_name_in_use if the name is taken there. Returns its details."
        ),
        toolset="trash",
        access=Access.WRITE,
        box_scopes=box_scopes("restore_file_from_trash"),
        hints=RESTORE_HINTS,
        input_model=RestoreFileInput,
        output_model=FileDetails,
        handler=restore_file_from_trash,
        resources=lambda a: _restore_uses("file", a.file_id, a.parent_folder_id),
        facts=lambda a: _named(a.new_name),
        output_kind="item",
    ),
    ToolSpec(
        name="restore_folder_from_trash",
        title="Restore a folder from the trash",
        description=(
            "Put a trashed folder (and what it held) back where it was trashed from, or into "
            "parent_folder_id, optionally under new_name. Fails with item_name_in_use if the name is taken."
        ),
        toolset="trash",
        access=Access.WRITE,
        box_scopes=box_scopes("restore_folder_from_trash"),
        hints=RESTORE_HINTS,
        input_model=RestoreFolderInput,
        output_model=FolderDetails,
        handler=restore_folder_from_trash,
        resources=lambda a: _restore_uses("folder", a.folder_id, a.parent_folder_id),
        facts=lambda a: _named(a.new_name),
        output_kind="folder",
    ),
    ToolSpec(
        name="purge_trashed_item",
        title="Delete a trashed item permanently",
        description=(
            "Permanently delete a trashed file or folder: Box cannot restore it afterwards. Only for items "
            "already in the trash (delete_file and delete_folder move items there)."
        ),
        toolset="trash",
        access=Access.ADMIN,
        box_scopes=box_scopes("purge_trashed_item"),
        # Not idempotent: a resend after a lost answer gets 404, indistinguishable from a wrong id.
        hints=Hints(read_only=False, destructive=True, idempotent=False),
        input_model=TrashedItemInput,
        output_model=Purged,
        handler=purge_trashed_item,
        resources=lambda a: (trashed(a.item_type, a.item_id, Access.ADMIN),),
    ),
)

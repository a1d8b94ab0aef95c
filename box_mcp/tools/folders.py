"""folders toolset: details, listing (cursor paging), create, rename/describe, copy, move, delete."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from box_mcp.access import Access, CallFacts
from box_mcp.tools.models import FOLDER_FIELDS, ITEM_FIELDS, Deleted, FolderDetails, ItemMini, minis
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import (
    READ_HINTS,
    BoxId,
    Etag,
    Hints,
    ItemName,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    item,
)


class FolderIdInput(ToolInput):
    folder_id: BoxId


async def get_folder_details(ctx: ToolContext, args: FolderIdInput) -> FolderDetails:
    raw = await ctx.box.get(f"/folders/{args.folder_id}", params={"fields": FOLDER_FIELDS})
    return FolderDetails.from_box(raw)


class ListFolderInput(ToolInput):
    folder_id: BoxId
    limit: int = Field(100, ge=1, le=1000)
    cursor: str | None = Field(None, min_length=1, max_length=2048)


class FolderListing(ToolOutput):
    folder_id: str
    entries: list[ItemMini] = Field(description="Folders first, then files, then web links")
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page; absent at the end")


async def list_folder_content_by_folder_id(ctx: ToolContext, args: ListFolderInput) -> FolderListing:
    params: dict[str, Any] = {"usemarker": "true", "limit": args.limit, "fields": ITEM_FIELDS}
    if args.cursor:
        params["marker"] = args.cursor
    raw = await ctx.box.get(f"/folders/{args.folder_id}/items", params=params)
    return FolderListing(
        folder_id=args.folder_id,
        entries=minis(raw.get("entries")),
        next_cursor=raw.get("next_marker") or None,
    )


class CreateFolderInput(ToolInput):
    parent_folder_id: BoxId = Field(description="Where to create it ('0' is All Files)")
    name: ItemName


async def create_folder(ctx: ToolContext, args: CreateFolderInput) -> FolderDetails:
    raw = await ctx.box.post(
        "/folders",
        json={"name": args.name, "parent": {"id": args.parent_folder_id}},
        params={"fields": FOLDER_FIELDS},
    )
    return FolderDetails.from_box(raw)


class UpdateFolderInput(ToolInput):
    folder_id: BoxId
    name: ItemName | None = None
    description: Annotated[str, Field(max_length=256)] | None = None
    etag: Etag | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateFolderInput:
        if self.name is None and self.description is None:
            raise ValueError("give at least one of name, description")
        return self


async def update_folder_properties(ctx: ToolContext, args: UpdateFolderInput) -> FolderDetails:
    body: dict[str, Any] = {}
    if args.name is not None:
        body["name"] = args.name
    if args.description is not None:
        body["description"] = args.description
    raw = await ctx.box.put(
        f"/folders/{args.folder_id}", json=body, params={"fields": FOLDER_FIELDS}, if_match=args.etag
    )
    return FolderDetails.from_box(raw)


class CopyFolderInput(ToolInput):
    folder_id: BoxId
    destination_folder_id: BoxId
    new_name: ItemName | None = None


async def copy_folder(ctx: ToolContext, args: CopyFolderInput) -> FolderDetails:
    body: dict[str, Any] = {"parent": {"id": args.destination_folder_id}}
    if args.new_name is not None:
        body["name"] = args.new_name
    raw = await ctx.box.post(f"/folders/{args.folder_id}/copy", json=body, params={"fields": FOLDER_FIELDS})
    return FolderDetails.from_box(raw)


class MoveFolderInput(ToolInput):
    folder_id: BoxId
    destination_folder_id: BoxId


async def move_folder(ctx: ToolContext, args: MoveFolderInput) -> FolderDetails:
    raw = await ctx.box.put(
        f"/folders/{args.folder_id}",
        json={"parent": {"id": args.destination_folder_id}},
        params={"fields": FOLDER_FIELDS},
    )
    return FolderDetails.from_box(raw)


class DeleteFolderInput(ToolInput):
    folder_id: BoxId
    recursive: bool = Field(False, description="Also delete a non-empty folder's contents")
    etag: Etag | None = None


async def delete_folder(ctx: ToolContext, args: DeleteFolderInput) -> Deleted:
    await ctx.box.delete(
        f"/folders/{args.folder_id}",
        params={"recursive": "true" if args.recursive else "false"},
        if_match=args.etag,
    )
    return Deleted(
        type="folder", id=args.folder_id, note="moved to the Box trash with its contents; restorable"
    )


def _folder(access: Access) -> Any:
    return lambda args: (item("folder", args.folder_id, access),)


SPECS = (
    ToolSpec(
        name="get_folder_details",
        title="Get folder details",
        description=(
            "Return a folder's details: name, path, parent, etag, dates, people, shared link and item count. "
            "For what is inside use list_folder_content_by_folder_id."
        ),
        toolset="folders",
        access=Access.READ,
        box_scopes=box_scopes("get_folder_details"),
        hints=READ_HINTS,
        input_model=FolderIdInput,
        output_model=FolderDetails,
        handler=get_folder_details,
        output_kind="folder",
        resources=_folder(Access.READ),
    ),
    ToolSpec(
        name="list_folder_content_by_folder_id",
        title="List a folder's content",
        description=(
            "List what is directly inside a folder ('0' is All Files; not recursive), one page at a time: "
            "pass next_cursor back as cursor. Each entry has type, id, name, size, etag and modified_at."
        ),
        toolset="folders",
        access=Access.READ,
        box_scopes=box_scopes("list_folder_content_by_folder_id"),
        hints=READ_HINTS,
        input_model=ListFolderInput,
        output_model=FolderListing,
        handler=list_folder_content_by_folder_id,
        output_kind="listing",
        resources=_folder(Access.READ),
    ),
    ToolSpec(
        name="create_folder",
        title="Create a folder",
        description=(
            "Create a folder in a parent folder. Returns its details. Fails with item_name_in_use if the "
            "parent already holds that name (the error gives its id)."
        ),
        toolset="folders",
        access=Access.WRITE,
        box_scopes=box_scopes("create_folder"),
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=CreateFolderInput,
        output_model=FolderDetails,
        handler=create_folder,
        output_kind="folder",
        resources=lambda a: (item("folder", a.parent_folder_id, Access.WRITE, "parent"),),
        facts=lambda a: CallFacts(name=a.name),
    ),
    ToolSpec(
        name="update_folder_properties",
        title="Rename or describe a folder",
        description=(
            "Rename a folder or change its description. Pass etag to refuse if it changed since you read it. "
            "Returns the updated details. To move it use move_folder."
        ),
        toolset="folders",
        access=Access.WRITE,
        box_scopes=box_scopes("update_folder_properties"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=UpdateFolderInput,
        output_model=FolderDetails,
        handler=update_folder_properties,
        output_kind="folder",
        resources=_folder(Access.WRITE),
        facts=lambda a: CallFacts(name=a.name),
    ),
    ToolSpec(
        name="copy_folder",
        title="Copy a folder",
        description=(
            "Copy a folder with everything in it into a folder, optionally under a new name. Returns the "
            "copy's details. Fails with item_name_in_use if the name is taken there."
        ),
        toolset="folders",
        access=Access.WRITE,
        box_scopes=box_scopes("copy_folder"),
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=CopyFolderInput,
        output_model=FolderDetails,
        handler=copy_folder,
        output_kind="folder",
        resources=lambda a: (
            item("folder", a.folder_id, Access.READ, "source", subtree=True),
            item("folder", a.destination_folder_id, Access.WRITE, "destination"),
        ),
        facts=lambda a: CallFacts(name=a.new_name),
    ),
    ToolSpec(
        name="move_folder",
        title="Move a folder",
        description=(
            "Move a folder with its contents into another folder, keeping its id. Returns its details. Fails "
            "with cyclical_folder_structure when moving it into itself or below."
        ),
        toolset="folders",
        access=Access.WRITE,
        box_scopes=box_scopes("move_folder"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=MoveFolderInput,
        output_model=FolderDetails,
        handler=move_folder,
        output_kind="folder",
        resources=lambda a: (
            item("folder", a.folder_id, Access.WRITE, "source", subtree=True),
            item("folder", a.destination_folder_id, Access.WRITE, "destination"),
        ),
    ),
    ToolSpec(
        name="delete_folder",
        title="Delete a folder",
        description=(
            "Move a folder to the Box trash. A non-empty folder needs recursive=true (else "
            "folder_not_empty). Pass etag to refuse if it changed since you read it. Folder '0' cannot be "
            "deleted."
        ),
        toolset="folders",
        access=Access.WRITE,
        box_scopes=box_scopes("delete_folder"),
        hints=Hints(read_only=False, destructive=True, idempotent=True),
        input_model=DeleteFolderInput,
        output_model=Deleted,
        handler=delete_folder,
        resources=lambda a: (item("folder", a.folder_id, Access.WRITE, subtree=True),),
    ),
)

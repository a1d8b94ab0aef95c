"""files toolset, item side: details, rename/describe/move, copy, delete, versions (content: content.py)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from box_mcp.access import Access, CallFacts, ResourceUse
from box_mcp.tools.models import FILE_FIELDS, Deleted, FileDetails
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
    extension_of,
    item,
)


class FileIdInput(ToolInput):
    file_id: BoxId


async def get_file_details(ctx: ToolContext, args: FileIdInput) -> FileDetails:
    return FileDetails.from_box(await ctx.box.get(f"/files/{args.file_id}", params={"fields": FILE_FIELDS}))


class UpdateFileInput(ToolInput):
    file_id: BoxId
    name: ItemName | None = Field(
        None, description="New name (rename); keep the extension unless you mean it"
    )
    description: Annotated[str, Field(max_length=256)] | None = None
    parent_folder_id: BoxId | None = Field(None, description="Move the file into this folder")
    etag: Etag | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateFileInput:
        if self.name is None and self.description is None and self.parent_folder_id is None:
            raise ValueError("give at least one of name, description, parent_folder_id")
        return self


async def update_file_properties(ctx: ToolContext, args: UpdateFileInput) -> FileDetails:
    body: dict[str, Any] = {}
    if args.name is not None:
        body["name"] = args.name
    if args.description is not None:
        body["description"] = args.description
    if args.parent_folder_id is not None:
        body["parent"] = {"id": args.parent_folder_id}
    raw = await ctx.box.put(
        f"/files/{args.file_id}", json=body, params={"fields": FILE_FIELDS}, if_match=args.etag
    )
    return FileDetails.from_box(raw)


def _update_resources(args: UpdateFileInput) -> tuple[ResourceUse, ...]:
    if args.parent_folder_id is not None:  # a move: the policy checks it as it checks move_file
        return _moved(args.file_id, args.parent_folder_id)
    return (item("file", args.file_id, Access.WRITE),)


def _moved(file_id: str, folder_id: str) -> tuple[ResourceUse, ...]:
    """A file moved into a folder: the "source" (its kept name meets name and extension rules) and the
    "destination" (written to)."""
    return (
        item("file", file_id, Access.WRITE, "source"),
        item("folder", folder_id, Access.WRITE, "destination"),
    )


class CopyFileInput(ToolInput):
    file_id: BoxId
    destination_folder_id: BoxId
    new_name: ItemName | None = Field(None, description="Name of the copy; default: the original name")


async def copy_file(ctx: ToolContext, args: CopyFileInput) -> FileDetails:
    body: dict[str, Any] = {"parent": {"id": args.destination_folder_id}}
    if args.new_name is not None:
        body["name"] = args.new_name
    raw = await ctx.box.post(f"/files/{args.file_id}/copy", json=body, params={"fields": FILE_FIELDS})
    return FileDetails.from_box(raw)


class MoveFileInput(ToolInput):
    file_id: BoxId
    destination_folder_id: BoxId


async def move_file(ctx: ToolContext, args: MoveFileInput) -> FileDetails:
    raw = await ctx.box.put(
        f"/files/{args.file_id}",
        json={"parent": {"id": args.destination_folder_id}},
        params={"fields": FILE_FIELDS},
    )
    return FileDetails.from_box(raw)


class DeleteFileInput(ToolInput):
    file_id: BoxId
    etag: Etag | None = None


async def delete_file(ctx: ToolContext, args: DeleteFileInput) -> Deleted:
    await ctx.box.delete(f"/files/{args.file_id}", if_match=args.etag)
    return Deleted(type="file", id=args.file_id, note="moved to the Box trash; restorable from the trash")


class ListVersionsInput(ToolInput):
    file_id: BoxId
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=9999)


class FileVersion(ToolOutput):
    id: str
    sha1: str | None = None
    name: str | None = None
    size: int | None = None
    created_at: str | None = None
    modified_at: str | None = None
    modified_by: str | None = Field(None, description="Login of who made this version")
    trashed_at: str | None = Field(None, description="Set when deleted (see restore_file_version)")


class FileVersions(ToolOutput):
    file_id: str
    total_count: int | None = None
    versions: list[FileVersion]
    note: str = "Lists previous versions only; the current version is in get_file_details."


async def list_file_versions(ctx: ToolContext, args: ListVersionsInput) -> FileVersions:
    raw = await ctx.box.get(
        f"/files/{args.file_id}/versions", params={"limit": args.limit, "offset": args.offset}
    )
    versions = []
    for entry in raw.get("entries") or ():
        if isinstance(entry, dict) and entry.get("id") is not None:
            by = entry.get("modified_by")
            versions.append(
                FileVersion.model_validate(
                    {**entry, "modified_by": by.get("login") if isinstance(by, dict) else None}
                )
            )
    return FileVersions(file_id=args.file_id, total_count=raw.get("total_count"), versions=versions)


def _file(access: Access) -> Any:
    return lambda args: (item("file", args.file_id, access),)


SPECS = (
    ToolSpec(
        name="get_file_details",
        title="Get file details",
        description=(
            "Return a file's details: name, size, path, parent, etag, sha1, dates, people and shared link. "
            "Use it to check a file before reading or changing it; for the content use get_file_content."
        ),
        toolset="files",
        access=Access.READ,
        box_scopes=box_scopes("get_file_details"),
        hints=READ_HINTS,
        input_model=FileIdInput,
        output_model=FileDetails,
        handler=get_file_details,
        output_kind="item",
        resources=_file(Access.READ),
    ),
    ToolSpec(
        name="update_file_properties",
        title="Rename, describe or move a file",
        description=(
            "Rename a file, change its description, or move it (parent_folder_id). Pass etag to refuse if it "
            "changed since you read it. Returns the updated details. Content: use upload_file_version."
        ),
        toolset="files",
        access=Access.WRITE,
        box_scopes=box_scopes("update_file_properties"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=UpdateFileInput,
        output_model=FileDetails,
        handler=update_file_properties,
        output_kind="item",
        resources=_update_resources,
        facts=lambda a: CallFacts(name=a.name, extension=extension_of(a.name)) if a.name else CallFacts(),
    ),
    ToolSpec(
        name="copy_file",
        title="Copy a file",
        description=(
            "Copy a file into a folder, optionally under a new name. Returns the copy's details. Fails with "
            "item_name_in_use if the name is taken there."
        ),
        toolset="files",
        access=Access.WRITE,
        box_scopes=box_scopes("copy_file"),
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=CopyFileInput,
        output_model=FileDetails,
        handler=copy_file,
        output_kind="item",
        resources=lambda a: (
            item("file", a.file_id, Access.READ, "source"),
            item("folder", a.destination_folder_id, Access.WRITE, "destination"),
        ),
        facts=lambda a: CallFacts(name=a.new_name, extension=extension_of(a.new_name)),
    ),
    ToolSpec(
        name="move_file",
        title="Move a file",
        description=(
            "Move a file into another folder, keeping its name and id. Returns its details. Fails with "
            "item_name_in_use if the name is taken there."
        ),
        toolset="files",
        access=Access.WRITE,
        box_scopes=box_scopes("move_file"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=MoveFileInput,
        output_model=FileDetails,
        handler=move_file,
        output_kind="item",
        resources=lambda a: _moved(a.file_id, a.destination_folder_id),
    ),
    ToolSpec(
        name="delete_file",
        title="Delete a file",
        description=(
            "Move a file to the Box trash, where it stays restorable for the enterprise's retention period "
            "(the trash is not purged). Pass etag to refuse if it changed since you read it."
        ),
        toolset="files",
        access=Access.WRITE,
        box_scopes=box_scopes("delete_file"),
        hints=Hints(read_only=False, destructive=True, idempotent=True),
        input_model=DeleteFileInput,
        output_model=Deleted,
        handler=delete_file,
        resources=_file(Access.WRITE),
    ),
    ToolSpec(
        name="list_file_versions",
        title="List file versions",
        description=(
            "List a file's previous versions (id, sha1, size, dates, who made each), newest first; the "
            "current version is in get_file_details."
        ),
        toolset="files",
        access=Access.READ,
        box_scopes=box_scopes("list_file_versions"),
        hints=READ_HINTS,
        input_model=ListVersionsInput,
        output_model=FileVersions,
        handler=list_file_versions,
        resources=_file(Access.READ),
    ),
)

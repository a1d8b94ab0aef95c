"""File versions beyond listing them (files toolset): make an old version current, restore a deleted
version, delete one. Each changes the one file's history, so each is a write on that file.

Promoting copies the old version's content into a new current version (history grows, nothing is lost);
restoring clears a deleted version's `trashed_at`; deleting moves a version to the trash, where only
restore_file_version brings it back (Box purges trashed versions with the trash).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from box_mcp.access import Access
from box_mcp.tools.files import FileVersion
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import BoxId, Hints, ToolContext, ToolInput, ToolOutput, ToolSpec, item


class VersionInput(ToolInput):
    file_id: BoxId
    version_id: BoxId = Field(description="From list_file_versions")


class VersionResult(ToolOutput):
    file_id: str
    version: FileVersion


class VersionDeleted(ToolOutput):
    file_id: str
    version_id: str
    deleted: bool = True
    note: str = "moved to the trash: restore_file_version brings it back until Box purges it"


def _version(file_id: str, raw: Any) -> VersionResult:
    raw = raw if isinstance(raw, dict) else {}
    by = raw.get("modified_by")
    version = FileVersion.model_validate(
        {**raw, "id": str(raw.get("id")), "modified_by": by.get("login") if isinstance(by, dict) else None}
    )
    return VersionResult(file_id=file_id, version=version)


async def promote_file_version(ctx: ToolContext, args: VersionInput) -> VersionResult:
    raw = await ctx.box.post(
        f"/files/{args.file_id}/versions/current", json={"type": "file_version", "id": args.version_id}
    )
    return _version(args.file_id, raw)


async def restore_file_version(ctx: ToolContext, args: VersionInput) -> VersionResult:
    raw = await ctx.box.put(f"/files/{args.file_id}/versions/{args.version_id}", json={"trashed_at": None})
    return _version(args.file_id, raw)


async def delete_file_version(ctx: ToolContext, args: VersionInput) -> VersionDeleted:
    await ctx.box.delete(f"/files/{args.file_id}/versions/{args.version_id}")
    return VersionDeleted(file_id=args.file_id, version_id=args.version_id)


def _on_file(args: VersionInput) -> tuple[Any, ...]:
    return (item("file", args.file_id, Access.WRITE),)


SPECS = (
    ToolSpec(
        name="promote_file_version",
        title="Make an old file version current",
        description=(
            "Make a previous version (from list_file_versions) the file's current content: Box copies it "
            "into a new current version, so no version is lost. Returns the new current version."
        ),
        toolset="versions",
        access=Access.WRITE,
        box_scopes=box_scopes("promote_file_version"),
        # Each call adds another version with the same content: the content ends the same, history grows.
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=VersionInput,
        output_model=VersionResult,
        handler=promote_file_version,
        resources=_on_file,  # the promoted version may carry another name: the file's cached name is dropped
    ),
    ToolSpec(
        name="restore_file_version",
        title="Restore a deleted file version",
        description=(
            "Bring back a previous version that was deleted (its trashed_at is set in list_file_versions). "
            "It does not make it current: use promote_file_version for that."
        ),
        toolset="versions",
        access=Access.WRITE,
        box_scopes=box_scopes("restore_file_version"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=VersionInput,
        output_model=VersionResult,
        handler=restore_file_version,
        resources=_on_file,
        keeps_items_in_place=True,
    ),
    ToolSpec(
        name="delete_file_version",
        title="Delete a file version",
        description=(
            "Move a previous version of a file to the trash (not the current version: delete the file for "
            "that). restore_file_version brings it back until Box purges it."
        ),
        toolset="versions",
        access=Access.WRITE,
        box_scopes=box_scopes("delete_file_version"),
        hints=Hints(read_only=False, destructive=True, idempotent=True),
        input_model=VersionInput,
        output_model=VersionDeleted,
        handler=delete_file_version,
        resources=_on_file,
        keeps_items_in_place=True,
    ),
)

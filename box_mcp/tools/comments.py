"""comments toolset: add a comment to a file, list a file's comments."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from box_mcp.access import Access
from box_mcp.tools.models import UserMini
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import (
    READ_HINTS,
    BoxId,
    Hints,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    item,
)


class CreateCommentInput(ToolInput):
    file_id: BoxId
    message: str = Field(min_length=1, max_length=10_000)


class Comment(ToolOutput):
    id: str
    message: str | None = None
    created_by: UserMini | None = None
    created_at: str | None = None

    @classmethod
    def from_box(cls, raw: dict[str, Any]) -> Comment:
        by = raw.get("created_by")
        return cls(
            id=str(raw.get("id")),
            message=raw.get("message"),
            created_at=raw.get("created_at"),
            created_by=UserMini.model_validate(by) if isinstance(by, dict) and by.get("id") else None,
        )


async def create_file_comment(ctx: ToolContext, args: CreateCommentInput) -> Comment:
    raw = await ctx.box.post(
        "/comments", json={"item": {"type": "file", "id": args.file_id}, "message": args.message}
    )
    return Comment.from_box(raw)


class ListCommentsInput(ToolInput):
    file_id: BoxId
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=9999)


class Comments(ToolOutput):
    file_id: str
    total_count: int | None = None
    entries: list[Comment]


async def list_file_comments(ctx: ToolContext, args: ListCommentsInput) -> Comments:
    raw = await ctx.box.get(
        f"/files/{args.file_id}/comments", params={"limit": args.limit, "offset": args.offset}
    )
    entries = [Comment.from_box(c) for c in raw.get("entries") or () if isinstance(c, dict) and c.get("id")]
    return Comments(file_id=args.file_id, total_count=raw.get("total_count"), entries=entries)


SPECS = (
    ToolSpec(
        name="create_file_comment",
        title="Comment on a file",
        description=(
            "Add a comment to a file, visible to everyone who can see it; the file itself does not change. "
            "Returns the comment."
        ),
        toolset="comments",
        access=Access.WRITE,
        box_scopes=box_scopes("create_file_comment"),
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=CreateCommentInput,
        output_model=Comment,
        handler=create_file_comment,
        keeps_items_in_place=True,
        resources=lambda a: (item("file", a.file_id, Access.WRITE),),
    ),
    ToolSpec(
        name="list_file_comments",
        title="List a file's comments",
        description="List the comments on a file (id, text, author, date), oldest first.",
        toolset="comments",
        access=Access.READ,
        box_scopes=box_scopes("list_file_comments"),
        hints=READ_HINTS,
        input_model=ListCommentsInput,
        output_model=Comments,
        handler=list_file_comments,
        resources=lambda a: (item("file", a.file_id, Access.READ),),
    ),
)

"""files toolset, continued: the items the Box identity touched lately (`GET /recent_items`).

How the policy sees it: the call names no item; what it shows is confined like a hub's items (output kind
`items`): each recent file, folder or web link is located and shown only when the agent could read it
itself, and the page is refilled past the hidden ones. An agent confined to a folder never learns what
its identity did elsewhere.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from box_mcp.access import Access
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import READ_HINTS, ToolContext, ToolInput, ToolOutput, ToolSpec

Cursor = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
KINDS = ("file", "folder", "web_link")


class RecentItem(ToolOutput):
    type: str
    id: str
    name: str | None = None
    interaction_type: str | None = Field(None, description="item_open, item_upload, item_comment, ...")
    interacted_at: str | None = None


class RecentItems(ToolOutput):
    entries: list[RecentItem]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page; absent at the end")


class ListRecentItemsInput(ToolInput):
    limit: int = Field(100, ge=1, le=1000)
    cursor: Cursor | None = None  # next_cursor of the previous page


def _entry(raw: Any) -> RecentItem | None:
    if not isinstance(raw, dict):
        return None
    item = raw.get("item")
    if not isinstance(item, dict) or item.get("type") not in KINDS or item.get("id") is None:
        return None
    text = {
        k: raw.get(k) if isinstance(raw.get(k), str) else None for k in ("interaction_type", "interacted_at")
    }
    name = item.get("name")
    return RecentItem(
        type=str(item["type"]), id=str(item["id"]), name=name if isinstance(name, str) else None, **text
    )


async def list_recent_items(ctx: ToolContext, args: ListRecentItemsInput) -> RecentItems:
    params: dict[str, Any] = {"limit": args.limit}
    if args.cursor:
        params["marker"] = args.cursor
    raw = await ctx.box.get("/recent_items", params=params)
    entries = [e for e in map(_entry, raw.get("entries") or ()) if e is not None]
    marker = raw.get("next_marker")
    return RecentItems(entries=entries, next_cursor=str(marker) if marker else None)


SPECS = (
    ToolSpec(
        name="list_recent_items",
        title="List recent Box items",
        description=(
            "The files, folders and web links your Box identity opened, uploaded, commented on or changed "
            "lately (Box keeps 90 days), newest first. Pass next_cursor back as cursor."
        ),
        toolset="files",
        access=Access.READ,
        box_scopes=box_scopes("list_recent_items"),
        hints=READ_HINTS,
        input_model=ListRecentItemsInput,
        output_model=RecentItems,
        handler=list_recent_items,
        output_kind="items",
    ),
)

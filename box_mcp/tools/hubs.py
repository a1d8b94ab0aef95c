"""hubs toolset: Box Hubs (2025.0 API): list, details, items, create, update, add items, copy.

How the policy sees a hub: as its own resource, `hub:<id>`. A hub is not in the folder tree, so `within:`
never covers one: a rule names it in `items: ['hub:123']`, or grants the tool or toolset with no
`within:`/`items:` at all. Reading a hub (details, items, copying it) needs read on it; changing it
(update, add items) needs write on it; adding an item also needs read on each item added (a hub can pull
in content from anywhere the identity sees, so each item must be inside the agent's grant). Creating a
hub, and the new hub a copy makes, are enterprise-level writes: they touch `enterprise hubs`, which only
an unscoped grant of the tool covers. `list_hubs` shows only the hubs the agent's grant names, and
`get_hub_items` only the items the agent could read itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
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

V2025 = {"box-version": "2025.0"}  # Box Hubs are served only under API version 2025.0
ENTERPRISE_HUBS = ItemRef("enterprise", "hubs")  # what creating a hub writes: no folder, no hub yet
HubTitle = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"\S")]
Description = Annotated[str, StringConstraints(max_length=10000)]
CopyAccess = Literal["all", "company", "none"]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


def hub(hub_id: str, access: Access, role: str = "item") -> ResourceUse:
    return ResourceUse(ItemRef("hub", hub_id), access, role)


def new_hub() -> ResourceUse:
    return ResourceUse(ENTERPRISE_HUBS, Access.WRITE, "parent")


# --- outputs ------------------------------------------------------------------------------------


class Hub(ToolOutput):
    type: str = "hub"
    id: str
    title: str | None = None
    description: str | None = None
    updated_at: str | None = None
    created_by: UserMini | None = None
    view_count: int | None = None
    is_ai_enabled: bool | None = None
    copy_hub_access: str | None = None


class HubList(ToolOutput):
    entries: list[Hub]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page; absent at the end")


class HubItem(ToolOutput):
    type: str
    id: str
    name: str | None = None


class HubItems(ToolOutput):
    hub_id: str
    entries: list[HubItem]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page; absent at the end")


class ItemResult(ToolOutput):
    type: str
    id: str
    status: int | None = None
    error: str | None = None


class AddedItems(ToolOutput):
    hub_id: str
    added: int
    results: list[ItemResult]


def _user(raw: Any) -> UserMini | None:
    return UserMini.model_validate(raw) if isinstance(raw, dict) and raw.get("id") else None


def _hub(raw: dict[str, Any]) -> Hub:
    data = {k: raw.get(k) for k in Hub.model_fields if k not in ("type", "created_by", "updated_by")}
    data["id"] = str(raw.get("id"))
    return Hub.model_validate(
        {**data, "created_by": _user(raw.get("created_by")), "updated_by": _user(raw.get("updated_by"))}
    )


def _page(raw: dict[str, Any]) -> str | None:
    marker = raw.get("next_marker")
    return str(marker) if marker else None


# --- list_hubs ----------------------------------------------------------------------------------


class ListHubsInput(ToolInput):
    query: str | None = Field(None, min_length=1, max_length=200, description="Words in the hub's title")
    scope: Literal["all", "editable", "view_only"] = "all"
    sort: Literal["name", "updated_at", "view_count", "relevance"] = "relevance"
    limit: int = Field(100, ge=1, le=1000)
    cursor: Cursor | None = None  # next_cursor of the previous page


async def list_hubs(ctx: ToolContext, args: ListHubsInput) -> HubList:
    params: dict[str, Any] = {"scope": args.scope, "sort": args.sort, "limit": args.limit}
    if args.query is not None:
        params["query"] = args.query
    if args.sort == "name":
        params["direction"] = "ASC"  # names read A to Z; counts and dates come newest or largest first
    if args.cursor:
        params["marker"] = args.cursor
    raw = await ctx.box.get("/hubs", params=params, headers=V2025)
    entries = [_hub(h) for h in raw.get("entries") or () if isinstance(h, dict) and h.get("id")]
    return HubList(entries=entries, next_cursor=_page(raw))


# --- get_hub_details / get_hub_items ------------------------------------------------------------


class HubIdInput(ToolInput):
    hub_id: BoxId


async def get_hub_details(ctx: ToolContext, args: HubIdInput) -> Hub:
    return _hub(await ctx.box.get(f"/hubs/{args.hub_id}", headers=V2025))


class HubItemsInput(ToolInput):
    hub_id: BoxId
    limit: int = Field(100, ge=1, le=1000)
    cursor: Cursor | None = None  # next_cursor of the previous page


async def get_hub_items(ctx: ToolContext, args: HubItemsInput) -> HubItems:
    params: dict[str, Any] = {"hub_id": args.hub_id, "limit": args.limit}
    if args.cursor:
        params["marker"] = args.cursor
    raw = await ctx.box.get("/hub_items", params=params, headers=V2025)
    entries = [
        HubItem(type=str(e["type"]), id=str(e["id"]), name=e.get("name"))
        for e in raw.get("entries") or ()
        if isinstance(e, dict) and e.get("id") and e.get("type") in ("file", "folder", "web_link")
    ]
    return HubItems(hub_id=args.hub_id, entries=entries, next_cursor=_page(raw))


# --- create_hub / update_hub / copy_hub ---------------------------------------------------------


class CreateHubInput(ToolInput):
    title: HubTitle
    description: Description | None = None


async def create_hub(ctx: ToolContext, args: CreateHubInput) -> Hub:
    body: dict[str, Any] = {"title": args.title}
    if args.description is not None:
        body["description"] = args.description
    return _hub(await ctx.box.post("/hubs", json=body, headers=V2025))


class UpdateHubInput(ToolInput):
    hub_id: BoxId
    title: HubTitle | None = None
    description: Description | None = None
    is_ai_enabled: bool | None = None
    copy_hub_access: CopyAccess | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateHubInput:
        if all(
            getattr(self, k) is None for k in ("title", "description", "is_ai_enabled", "copy_hub_access")
        ):
            raise ValueError("nothing to change: give title, description, is_ai_enabled or copy_hub_access")
        return self


async def update_hub(ctx: ToolContext, args: UpdateHubInput) -> Hub:
    body = args.model_dump(exclude={"hub_id"}, exclude_none=True)
    return _hub(await ctx.box.put(f"/hubs/{args.hub_id}", json=body, headers=V2025))


class CopyHubInput(ToolInput):
    hub_id: BoxId
    title: HubTitle | None = Field(None, description="The copy's title (default: the source hub's)")
    description: Description | None = None
    include_items: bool = Field(False, description="Also reference the items you may edit in the source")


async def copy_hub(ctx: ToolContext, args: CopyHubInput) -> Hub:
    body = args.model_dump(exclude={"hub_id"}, exclude_none=True)
    return _hub(await ctx.box.post(f"/hubs/{args.hub_id}/copy", json=body, headers=V2025))


# --- add_items_to_hub ---------------------------------------------------------------------------


class ItemToAdd(ToolInput):
    type: Literal["file", "folder", "web_link"]
    id: BoxId


class AddItemsInput(ToolInput):
    hub_id: BoxId
    items: list[ItemToAdd] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _distinct(self) -> AddItemsInput:
        seen = {(i.type, i.id) for i in self.items}
        if len(seen) != len(self.items):
            raise ValueError("each item may be listed once")
        return self


async def add_items_to_hub(ctx: ToolContext, args: AddItemsInput) -> AddedItems:
    ops = [{"action": "add", "item": {"type": i.type, "id": i.id}} for i in args.items]
    raw = await ctx.box.post(f"/hubs/{args.hub_id}/manage_items", json={"operations": ops}, headers=V2025)
    results = []
    for op in raw.get("operations") or ():
        ref = op.get("item") if isinstance(op, dict) else None
        if not isinstance(ref, dict) or not ref.get("id"):
            continue
        status = op.get("status")
        results.append(
            ItemResult(
                type=str(ref.get("type")),
                id=str(ref["id"]),
                status=status if isinstance(status, int) else None,
                error=op.get("error") if isinstance(op.get("error"), str) else None,
            )
        )
    added = sum(1 for r in results if r.status is not None and 200 <= r.status < 300)
    return AddedItems(hub_id=args.hub_id, added=added, results=results)


# --- the specs ----------------------------------------------------------------------------------

WRITE_HINTS = Hints(read_only=False, destructive=False, idempotent=False)

SPECS = (
    ToolSpec(
        name="list_hubs",
        title="List Box Hubs",
        description=(
            "List the Box Hubs you can see, optionally by words in the title and by scope (editable, "
            "view_only). Pass next_cursor back as cursor."
        ),
        toolset="hubs",
        access=Access.READ,
        box_scopes=box_scopes("list_hubs"),
        hints=READ_HINTS,
        input_model=ListHubsInput,
        output_model=HubList,
        handler=list_hubs,
        output_kind="hubs",
    ),
    ToolSpec(
        name="get_hub_details",
        title="Get a Box Hub",
        description="A Box Hub's title, description, creator, view count and settings.",
        toolset="hubs",
        access=Access.READ,
        box_scopes=box_scopes("get_hub_details"),
        hints=READ_HINTS,
        input_model=HubIdInput,
        output_model=Hub,
        handler=get_hub_details,
        resources=lambda a: (hub(a.hub_id, Access.READ),),
    ),
    ToolSpec(
        name="get_hub_items",
        title="List a Box Hub's items",
        description=("The files, folders and web links in a Box Hub. Pass next_cursor back as cursor."),
        toolset="hubs",
        access=Access.READ,
        box_scopes=box_scopes("get_hub_items"),
        hints=READ_HINTS,
        input_model=HubItemsInput,
        output_model=HubItems,
        handler=get_hub_items,
        resources=lambda a: (hub(a.hub_id, Access.READ),),
        output_kind="items",
    ),
    ToolSpec(
        name="create_hub",
        title="Create a Box Hub",
        description=(
            "Create a Box Hub (title up to 50 characters). Hubs can be visible across the organization."
        ),
        toolset="hubs",
        access=Access.WRITE,
        box_scopes=box_scopes("create_hub"),
        hints=WRITE_HINTS,
        input_model=CreateHubInput,
        output_model=Hub,
        handler=create_hub,
        resources=lambda a: (new_hub(),),
        facts=lambda a: CallFacts(name=a.title),  # name rules read the new hub's title
    ),
    ToolSpec(
        name="update_hub",
        title="Update a Box Hub",
        description=("Change a Box Hub's title, description, Box AI setting, or who may copy it."),
        toolset="hubs",
        access=Access.WRITE,
        box_scopes=box_scopes("update_hub"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=UpdateHubInput,
        output_model=Hub,
        handler=update_hub,
        resources=lambda a: (hub(a.hub_id, Access.WRITE),),
    ),
    ToolSpec(
        name="add_items_to_hub",
        title="Add items to a Box Hub",
        description=(
            "Add files, folders or web links to a Box Hub (up to 100). Each answers a status: 200 added, "
            "404 not found, 409 already there."
        ),
        toolset="hubs",
        access=Access.WRITE,
        box_scopes=box_scopes("add_items_to_hub"),
        hints=WRITE_HINTS,  # a resend answers 409 per item: the tool would report nothing added
        input_model=AddItemsInput,
        output_model=AddedItems,
        handler=add_items_to_hub,
        resources=lambda a: (
            hub(a.hub_id, Access.WRITE),
            *(item(i.type, i.id, Access.READ) for i in a.items),
        ),
    ),
    ToolSpec(
        name="copy_hub",
        title="Copy a Box Hub",
        description=("Copy a Box Hub into a new one (with include_items, also the items you may edit)."),
        toolset="hubs",
        access=Access.WRITE,
        box_scopes=box_scopes("copy_hub"),
        hints=WRITE_HINTS,
        input_model=CopyHubInput,
        output_model=Hub,
        handler=copy_hub,
        resources=lambda a: (hub(a.hub_id, Access.READ, "source"), new_hub()),
        facts=lambda a: CallFacts(name=a.title),
    ),
)

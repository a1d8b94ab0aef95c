"""sharing toolset: shared links and collaborations (both change who else can reach an item, hence admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.tools.models import SharedLink, UserMini
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import (
    READ_HINTS,
    BoxId,
    Hints,
    ItemType,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    item,
)

Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
LinkAccess = Literal["open", "company", "collaborators"]
Role = Literal[
    "editor", "viewer", "previewer", "uploader", "previewer uploader", "viewer uploader", "co-owner"
]
_PLURAL = {"file": "files", "folder": "folders"}


class SharedLinkResult(ToolOutput):
    item_type: str
    item_id: str
    shared_link: SharedLink | None = Field(None, description="Absent: the item has no shared link")


class _AddLinkInput(ToolInput):
    access: LinkAccess = Field(
        "collaborators",
        description="open: anyone with the link; company: the enterprise; collaborators: invitees",
    )
    password: str | None = Field(None, min_length=8, max_length=100, description="Require this password")
    unshared_at: str | None = Field(
        None,
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}([+-]\d{2}:\d{2}|Z)$",
        description="Expiry as RFC 3339, e.g. 2026-12-31T00:00:00Z",
    )
    can_download: bool = True


class AddFileLinkInput(_AddLinkInput):
    file_id: BoxId


class AddFolderLinkInput(_AddLinkInput):
    folder_id: BoxId


async def _set_link(
    ctx: ToolContext, kind: str, item_id: str, link: dict[str, Any] | None
) -> SharedLinkResult:
    raw = await ctx.box.put(
        f"/{_PLURAL[kind]}/{item_id}", json={"shared_link": link}, params={"fields": "id,type,shared_link"}
    )
    found = raw.get("shared_link")
    return SharedLinkResult(
        item_type=kind, item_id=item_id, shared_link=SharedLink.model_validate(found) if found else None
    )


def _link_body(args: _AddLinkInput) -> dict[str, Any]:
    body: dict[str, Any] = {"access": args.access, "permissions": {"can_download": args.can_download}}
    if args.password is not None:
        body["password"] = args.password
    if args.unshared_at is not None:
        body["unshared_at"] = args.unshared_at
    return body


async def add_file_shared_link(ctx: ToolContext, args: AddFileLinkInput) -> SharedLinkResult:
    return await _set_link(ctx, "file", args.file_id, _link_body(args))


async def add_folder_shared_link(ctx: ToolContext, args: AddFolderLinkInput) -> SharedLinkResult:
    return await _set_link(ctx, "folder", args.folder_id, _link_body(args))


class ItemInput(ToolInput):
    item_type: ItemType
    item_id: BoxId


async def get_shared_link(ctx: ToolContext, args: ItemInput) -> SharedLinkResult:
    raw = await ctx.box.get(
        f"/{_PLURAL[args.item_type]}/{args.item_id}", params={"fields": "id,type,shared_link"}
    )
    found = raw.get("shared_link")
    return SharedLinkResult(
        item_type=args.item_type,
        item_id=args.item_id,
        shared_link=SharedLink.model_validate(found) if found else None,
    )


async def remove_shared_link(ctx: ToolContext, args: ItemInput) -> SharedLinkResult:
    return await _set_link(ctx, args.item_type, args.item_id, None)


class Collaboration(ToolOutput):
    id: str
    role: str | None = None
    status: str | None = None
    item_type: str | None = None
    item_id: str | None = None
    accessible_by: UserMini | None = None  # a user, or a group (type group, no login)
    created_at: str | None = None
    expires_at: str | None = None

    @classmethod
    def from_box(cls, raw: dict[str, Any]) -> Collaboration:
        target, who = raw.get("item"), raw.get("accessible_by")
        return cls.model_validate(
            {
                **{k: raw.get(k) for k in ("id", "role", "status", "created_at", "expires_at")},
                "item_type": target.get("type") if isinstance(target, dict) else None,
                "item_id": target.get("id") if isinstance(target, dict) else None,
                "accessible_by": UserMini.model_validate(who)
                if isinstance(who, dict) and who.get("id")
                else None,
            }
        )


class CreateCollabInput(ItemInput):
    role: Role
    invitee_email: Email | None = Field(None, description="The invitee's Box login")
    user_id: BoxId | None = Field(None, description="Or their Box user id")
    group_id: BoxId | None = Field(None, description="Or a Box group's id: every member gets the role")
    notify: bool = Field(False, description="Email the invitee")

    @model_validator(mode="after")
    def _one_invitee(self) -> CreateCollabInput:
        if sum(v is not None for v in (self.invitee_email, self.user_id, self.group_id)) != 1:
            raise ValueError("give exactly one of invitee_email, user_id, group_id")
        return self


async def create_collaboration(ctx: ToolContext, args: CreateCollabInput) -> Collaboration:
    who: dict[str, Any] = {"type": "user"}
    if args.invitee_email is not None:
        who["login"] = str(args.invitee_email)
    elif args.group_id is not None:
        # A group collaboration: Box checks the group's invitability_level against the caller.
        who = {"type": "group", "id": args.group_id}
    else:
        who["id"] = args.user_id
    raw = await ctx.box.post(
        "/collaborations",
        json={"item": {"type": args.item_type, "id": args.item_id}, "accessible_by": who, "role": args.role},
        params={"notify": "true" if args.notify else "false"},
    )
    return Collaboration.from_box(raw)


class Collaborations(ToolOutput):
    item_type: str
    item_id: str
    entries: list[Collaboration]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page; absent at the end")


# Box's collaboration fields this tool shows (type and id always come back); `fields` asks Box for these only.
CollabField = Literal["role", "status", "item", "accessible_by", "created_at", "expires_at"]


class ListItemCollabsInput(ItemInput):
    fields: list[CollabField] | None = Field(None, min_length=1, description="Only these (default: all)")
    limit: int = Field(100, ge=1, le=1000)
    cursor: Annotated[str, StringConstraints(min_length=1, max_length=2048)] | None = None


async def list_item_collaborations(ctx: ToolContext, args: ListItemCollabsInput) -> Collaborations:
    params: dict[str, Any] = {"limit": args.limit}
    if args.fields:
        params["fields"] = ",".join(dict.fromkeys(args.fields))
    if args.cursor:
        params["marker"] = args.cursor
    raw = await ctx.box.get(f"/{_PLURAL[args.item_type]}/{args.item_id}/collaborations", params=params)
    entries = [
        Collaboration.from_box(e) for e in raw.get("entries") or () if isinstance(e, dict) and e.get("id")
    ]
    marker = raw.get("next_marker")
    return Collaborations(
        item_type=args.item_type,
        item_id=args.item_id,
        entries=entries,
        next_cursor=str(marker) if marker else None,
    )


class UpdateCollabInput(ToolInput):
    collaboration_id: BoxId
    role: Role


async def update_collaboration(ctx: ToolContext, args: UpdateCollabInput) -> Collaboration:
    raw = await ctx.box.put(f"/collaborations/{args.collaboration_id}", json={"role": args.role})
    return Collaboration.from_box(raw)


class CollabIdInput(ToolInput):
    collaboration_id: BoxId


class CollabRemoved(ToolOutput):
    collaboration_id: str
    removed: bool = True


async def delete_collaboration(ctx: ToolContext, args: CollabIdInput) -> CollabRemoved:
    await ctx.box.delete(f"/collaborations/{args.collaboration_id}")
    return CollabRemoved(collaboration_id=args.collaboration_id)


def _on_item(access: Access) -> Any:
    # Changing who can reach a folder changes who can reach everything inside it.
    return lambda a: (item(a.item_type, a.item_id, access, subtree=access is Access.ADMIN),)


def _on_collab(a: Any) -> Any:
    # The collaboration's item is not in the arguments: the policy decides on the item it resolves to.
    return (ResourceUse(ItemRef("collaboration", a.collaboration_id), Access.ADMIN, "item", True),)


_ADMIN_WRITE = Hints(read_only=False, destructive=False, idempotent=True)

SPECS = (
    ToolSpec(
        name="add_file_shared_link",
        title="Create or change a file's shared link",
        description=(
            "Create or replace a file's shared link: access open | company | collaborators, optional "
            "password, expiry and download permission. Returns the link. It widens who can reach the file: "
            "prefer 'collaborators' unless told otherwise."
        ),
        toolset="sharing",
        access=Access.ADMIN,
        box_scopes=box_scopes("add_file_shared_link"),
        hints=_ADMIN_WRITE,
        input_model=AddFileLinkInput,
        output_model=SharedLinkResult,
        handler=add_file_shared_link,
        keeps_items_in_place=True,
        resources=lambda a: (item("file", a.file_id, Access.ADMIN),),
        facts=lambda a: CallFacts(shared_link_access=a.access),
    ),
    ToolSpec(
        name="add_folder_shared_link",
        title="Create or change a folder's shared link",
        description=(
            "Create or replace a folder's shared link: access open | company | collaborators, optional "
            "password, expiry and download permission. Returns the link. Everything inside the folder "
            "becomes reachable through it."
        ),
        toolset="sharing",
        access=Access.ADMIN,
        box_scopes=box_scopes("add_folder_shared_link"),
        hints=_ADMIN_WRITE,
        input_model=AddFolderLinkInput,
        output_model=SharedLinkResult,
        handler=add_folder_shared_link,
        keeps_items_in_place=True,
        resources=lambda a: (item("folder", a.folder_id, Access.ADMIN, subtree=True),),
        facts=lambda a: CallFacts(shared_link_access=a.access),
    ),
    ToolSpec(
        name="get_shared_link",
        title="Get an item's shared link",
        description=(
            "Return a file's or folder's shared link (URL, access, expiry), or none if it has no link."
        ),
        toolset="sharing",
        access=Access.READ,
        box_scopes=box_scopes("get_shared_link"),
        hints=READ_HINTS,
        input_model=ItemInput,
        output_model=SharedLinkResult,
        handler=get_shared_link,
        resources=_on_item(Access.READ),
    ),
    ToolSpec(
        name="remove_shared_link",
        title="Remove an item's shared link",
        description="Remove a file's or folder's shared link; people holding the URL lose access through it.",
        toolset="sharing",
        access=Access.ADMIN,
        box_scopes=box_scopes("remove_shared_link"),
        hints=Hints(read_only=False, destructive=True, idempotent=True),
        input_model=ItemInput,
        output_model=SharedLinkResult,
        handler=remove_shared_link,
        keeps_items_in_place=True,
        resources=_on_item(Access.ADMIN),
    ),
    ToolSpec(
        name="create_collaboration",
        title="Invite a collaborator",
        description=(
            "Give a person (invitee_email or user_id) or a Box group (group_id) a role on a file or folder. "
            "Returns the collaboration. Fails with user_already_collaborator if they have one: use "
            "update_collaboration."
        ),
        toolset="sharing",
        access=Access.ADMIN,
        box_scopes=box_scopes("create_collaboration"),
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=CreateCollabInput,
        output_model=Collaboration,
        handler=create_collaboration,
        invitee_user_field="user_id",
        resources=_on_item(Access.ADMIN),
        facts=lambda a: CallFacts(
            collaboration_role=a.role, invitee_email=str(a.invitee_email).lower() if a.invitee_email else None
        ),
    ),
    ToolSpec(
        name="list_item_collaborations",
        title="List an item's collaborators",
        description=(
            "List who collaborates on a file or folder: collaboration id, person, role and status. Pass "
            "next_cursor back as cursor."
        ),
        toolset="sharing",
        access=Access.READ,
        box_scopes=box_scopes("list_item_collaborations"),
        hints=READ_HINTS,
        input_model=ListItemCollabsInput,
        output_model=Collaborations,
        handler=list_item_collaborations,
        resources=_on_item(Access.READ),
    ),
    ToolSpec(
        name="update_collaboration",
        title="Change a collaborator's role",
        description=(
            "Change the role of an existing collaboration (id from list_item_collaborations). Returns it."
        ),
        toolset="sharing",
        access=Access.ADMIN,
        box_scopes=box_scopes("update_collaboration"),
        hints=_ADMIN_WRITE,
        input_model=UpdateCollabInput,
        output_model=Collaboration,
        handler=update_collaboration,
        resources=_on_collab,
        facts=lambda a: CallFacts(collaboration_role=a.role),
    ),
    ToolSpec(
        name="delete_collaboration",
        title="Remove a collaborator",
        description=(
            "End a collaboration (id from list_item_collaborations): the person loses that access to the "
            "item."
        ),
        toolset="sharing",
        access=Access.ADMIN,
        box_scopes=box_scopes("delete_collaboration"),
        hints=Hints(read_only=False, destructive=True, idempotent=True),
        input_model=CollabIdInput,
        output_model=CollabRemoved,
        handler=delete_collaboration,
        resources=_on_collab,
    ),
)

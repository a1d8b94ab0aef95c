"""weblinks toolset: Box web links (bookmarks kept in folders): create, details, update or move, delete.

How the policy sees a web link: as an item in the folder tree, `web_link:<id>`, located by its parent
folder, so a folder grant (`within:`) covers the links inside it and a folder forbid reaches them.
Creating one writes its parent folder; reading one needs read on it; changing one needs write on it, and a
move (update_web_link with parent_folder_id) needs write on the link (the source) and on the destination.

The URL is untrusted input: only http and https with a host, no user name or password in it (the
`https://bank.example@evil.example` disguise), no spaces or control characters. A policy constrains
where links may point with the `url_domains` condition, matched against the URL's host; a name rule
meets the link's name, which Box sets to the URL when none is given.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from box_mcp.access import Access, CallFacts, ResourceUse
from box_mcp.tools.models import Deleted, ParentMini, SharedLink, UserMini, _path
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

MAX_URL = 2048


def url_host(url: str) -> str:
    """The host a policy's url_domains compares: lower-case, IDNA (punycode) spelling, no trailing dot."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"the URL's host {host!r} is not a valid domain name") from None


def check_url(value: str) -> str:
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ValueError("the URL cannot contain spaces or control characters: percent-encode them")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("the URL must start with http:// or https:// (Box web links take no other scheme)")
    if not parts.hostname:
        raise ValueError("the URL must name a host, e.g. https://example.com/page")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL cannot carry a user name or password (user@host): give the plain address")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ValueError("the URL's port is not a number from 0 to 65535") from None
    url_host(value)
    return value


Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL),
    AfterValidator(check_url),
    Field(description="http:// or https:// address"),
]
Description = Annotated[str, StringConstraints(max_length=256)]


# --- output -------------------------------------------------------------------------------------


class WebLink(ToolOutput):
    type: str = "web_link"
    id: str
    name: str | None = None
    url: str | None = None
    description: str | None = None
    path: str | None = Field(None, description="From All Files, e.g. /Projects/Status page")
    parent: ParentMini | None = None
    etag: str | None = None
    created_at: str | None = None
    modified_at: str | None = None
    created_by: UserMini | None = None
    modified_by: UserMini | None = None
    shared_link: SharedLink | None = None
    item_status: str | None = None

    @classmethod
    def from_box(cls, raw: dict[str, Any]) -> WebLink:
        def mini(model: Any, value: Any) -> Any:
            return model.model_validate(value) if isinstance(value, dict) and value.get("id") else None

        plain = ("name", "url", "description", "etag", "created_at", "modified_at", "item_status")
        link = raw.get("shared_link")
        return cls.model_validate(
            {
                **{k: raw.get(k) for k in plain},
                "id": str(raw.get("id")),
                "path": _path(raw),
                "parent": mini(ParentMini, raw.get("parent")),
                "created_by": mini(UserMini, raw.get("created_by")),
                "modified_by": mini(UserMini, raw.get("modified_by")),
                "shared_link": SharedLink.model_validate(link) if isinstance(link, dict) else None,
            }
        )


# --- handlers -----------------------------------------------------------------------------------


class CreateWebLinkInput(ToolInput):
    parent_folder_id: BoxId
    url: Url
    name: ItemName | None = Field(None, description="Default: the URL")
    description: Description | None = None


async def create_web_link(ctx: ToolContext, args: CreateWebLinkInput) -> WebLink:
    body: dict[str, Any] = {"url": args.url, "parent": {"id": args.parent_folder_id}}
    if args.name is not None:
        body["name"] = args.name
    if args.description is not None:
        body["description"] = args.description
    return WebLink.from_box(await ctx.box.post("/web_links", json=body))


class WebLinkIdInput(ToolInput):
    web_link_id: BoxId


async def get_web_link(ctx: ToolContext, args: WebLinkIdInput) -> WebLink:
    return WebLink.from_box(await ctx.box.get(f"/web_links/{args.web_link_id}"))


class UpdateWebLinkInput(ToolInput):
    web_link_id: BoxId
    url: Url | None = None
    name: ItemName | None = None
    description: Description | None = None
    parent_folder_id: BoxId | None = Field(None, description="Move the link into this folder")
    etag: Etag | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateWebLinkInput:
        if all(getattr(self, k) is None for k in ("url", "name", "description", "parent_folder_id")):
            raise ValueError("give at least one of url, name, description, parent_folder_id")
        return self


async def update_web_link(ctx: ToolContext, args: UpdateWebLinkInput) -> WebLink:
    body: dict[str, Any] = args.model_dump(include={"url", "name", "description"}, exclude_none=True)
    if args.parent_folder_id is not None:
        body["parent"] = {"id": args.parent_folder_id}
    raw = await ctx.box.put(f"/web_links/{args.web_link_id}", json=body, if_match=args.etag)
    return WebLink.from_box(raw)


class DeleteWebLinkInput(ToolInput):
    web_link_id: BoxId
    etag: Etag | None = None


async def delete_web_link(ctx: ToolContext, args: DeleteWebLinkInput) -> Deleted:
    await ctx.box.delete(f"/web_links/{args.web_link_id}", if_match=args.etag)
    return Deleted(
        type="web_link", id=args.web_link_id, note="moved to the Box trash; restorable from the trash"
    )


# --- what the policy decides on -----------------------------------------------------------------


def _update_uses(args: UpdateWebLinkInput) -> tuple[ResourceUse, ...]:
    if args.parent_folder_id is None:
        return (item("web_link", args.web_link_id, Access.WRITE),)
    # A move, as move_file: write on the link where it is (the source) and on the destination folder.
    return (
        item("web_link", args.web_link_id, Access.WRITE, "source"),
        item("folder", args.parent_folder_id, Access.WRITE, "destination"),
    )


def _link_facts(url: str | None, name: str | None) -> CallFacts:
    return CallFacts(name=name, url_domain=url_host(url) if url is not None else None)


SPECS = (
    ToolSpec(
        name="create_web_link",
        title="Create a web link",
        description=(
            "Save a web link (bookmark) to an http(s) URL in a folder, with an optional name (default: the "
            "URL) and description. Returns the link's details."
        ),
        toolset="weblinks",
        access=Access.WRITE,
        box_scopes=box_scopes("create_web_link"),
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=CreateWebLinkInput,
        output_model=WebLink,
        handler=create_web_link,
        output_kind="item",
        resources=lambda a: (item("folder", a.parent_folder_id, Access.WRITE, "parent"),),
        facts=lambda a: _link_facts(a.url, a.name if a.name is not None else a.url),
    ),
    ToolSpec(
        name="get_web_link",
        title="Get a web link",
        description="A web link's URL, name, description, path, parent folder, dates and shared link.",
        toolset="weblinks",
        access=Access.READ,
        box_scopes=box_scopes("get_web_link"),
        hints=READ_HINTS,
        input_model=WebLinkIdInput,
        output_model=WebLink,
        handler=get_web_link,
        output_kind="item",
        resources=lambda a: (item("web_link", a.web_link_id, Access.READ),),
    ),
    ToolSpec(
        name="update_web_link",
        title="Change or move a web link",
        description=(
            "Change a web link's URL, name or description, or move it (parent_folder_id). Pass etag to "
            "refuse if it changed since you read it. Returns the updated details."
        ),
        toolset="weblinks",
        access=Access.WRITE,
        box_scopes=box_scopes("update_web_link"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=UpdateWebLinkInput,
        output_model=WebLink,
        handler=update_web_link,
        output_kind="item",
        resources=_update_uses,
        facts=lambda a: _link_facts(a.url, a.name),
    ),
    ToolSpec(
        name="delete_web_link",
        title="Delete a web link",
        description=(
            "Move a web link to the Box trash (restorable from there). Pass etag to refuse if it changed "
            "since you read it."
        ),
        toolset="weblinks",
        access=Access.WRITE,
        box_scopes=box_scopes("delete_web_link"),
        hints=Hints(read_only=False, destructive=True, idempotent=True),
        input_model=DeleteWebLinkInput,
        output_model=Deleted,
        handler=delete_web_link,
        resources=lambda a: (item("web_link", a.web_link_id, Access.WRITE),),
    ),
)

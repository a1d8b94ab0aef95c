"""sharing toolset, continued: resolve a shared link to the item it points at (`GET /shared_items`).

How the policy sees it: the call names a `shared_link` resource (its id is the link's URL), and the policy
resolves the link itself, on the agent's lookup identity, before deciding (policy/decide.py): the rules
then decide on the file, folder or web link the link points at, as on any other item. A link to an item
outside the grant is refused with the words a link to nothing gets, and nothing of the item is returned.
The password goes to Box in the `boxapi` header only: it is a `password` argument, masked in every audit
record, shown in no error, and never cached.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from box_mcp.access import Access, ItemRef, ResourceUse
from box_mcp.box.links import boxapi_header
from box_mcp.errors import Denied
from box_mcp.tools.models import ParentMini, SharedLink, UserMini, _path
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import READ_HINTS, ToolContext, ToolInput, ToolOutput, ToolSpec

SHARED_LINK = "shared_link"  # the resource type; the policy resolves it (policy/decide.py SHARED_LINK)
FIELDS = "type,id,name,size,extension,url,parent,owned_by,modified_at,shared_link,path_collection"


def _check_link(value: str) -> str:
    parts = urlsplit(value)
    # Box's links are https; the link only goes to Box in a header (the emulator's are http on loopback)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("a shared link is a URL as Box shows it, e.g. https://app.box.com/s/abc")
    if any(ch.isspace() for ch in value) or "&" in value:
        raise ValueError("a shared link has no spaces or '&': pass the URL exactly as Box shows it")
    return value


LinkUrl = Annotated[str, StringConstraints(min_length=12, max_length=2048), AfterValidator(_check_link)]


class ResolveSharedLinkInput(ToolInput):
    shared_link: LinkUrl = Field(description="The shared link URL, e.g. https://app.box.com/s/abc123")
    password: SecretStr | None = Field(
        None, min_length=1, max_length=100, description="The link's password, if it has one"
    )
    # Set by the policy, not the agent (absent from the schema): the item it decided on, "type:id".
    resolved_item: SkipJsonSchema[str | None] = Field(None, pattern=r"^(file|folder|web_link):[0-9]{1,20}$")


class SharedItem(ToolOutput):
    type: str
    id: str
    name: str | None = None
    size: int | None = None
    extension: str | None = None
    url: str | None = Field(None, description="A web link's target address")
    path: str | None = Field(None, description="From All Files, as far as you may see it")
    parent: ParentMini | None = None
    owned_by: UserMini | None = None
    modified_at: str | None = None
    shared_link: SharedLink | None = None


def _shared_item(raw: dict[str, Any]) -> SharedItem:
    plain = ("name", "size", "extension", "url", "modified_at")
    data: dict[str, Any] = {k: raw.get(k) for k in plain}
    parent, owner, link = raw.get("parent"), raw.get("owned_by"), raw.get("shared_link")
    return SharedItem.model_validate(
        {
            **data,
            "type": str(raw.get("type")),
            "id": str(raw.get("id")),
            "path": _path(raw),
            "parent": parent if isinstance(parent, dict) and parent.get("id") is not None else None,
            "owned_by": owner if isinstance(owner, dict) and owner.get("id") is not None else None,
            "shared_link": link if isinstance(link, dict) else None,
        }
    )


async def resolve_shared_link(ctx: ToolContext, args: ResolveSharedLinkInput) -> SharedItem:
    password = args.password.get_secret_value() if args.password is not None else None
    raw = await ctx.box.get(
        "/shared_items",
        params={"fields": FIELDS},
        headers={"boxapi": boxapi_header(args.shared_link, password)},
    )
    found = _shared_item(raw if isinstance(raw, dict) else {})
    if args.resolved_item is not None and f"{found.type}:{found.id}" != args.resolved_item:
        # Nothing of what Box answered is shown: it is not the item the policy decided on.
        raise Denied(
            "Denied: the shared link now leads to another item than the one box-mcp checked a moment "
            "ago, so nothing of it is shown. Call resolve_shared_link again to have it checked."
        )
    return found


def link_resource(args: ResolveSharedLinkInput) -> tuple[ResourceUse, ...]:
    return (ResourceUse(ItemRef(SHARED_LINK, args.shared_link), Access.READ, "item"),)


SPECS = (
    ToolSpec(
        name="resolve_shared_link",
        title="Resolve a Box shared link",
        description=(
            "Find the file, folder or web link a Box shared link (https://…/s/…) points to, with its id, "
            "name, size and link settings; give the password if the link has one. Then use the id with the "
            "other tools. A link to something outside what you may read is refused."
        ),
        toolset="sharing",
        access=Access.READ,
        box_scopes=box_scopes("resolve_shared_link"),
        hints=READ_HINTS,
        input_model=ResolveSharedLinkInput,
        output_model=SharedItem,
        handler=resolve_shared_link,
        resources=link_resource,
        shared_link_fields=("password", "resolved_item"),
        output_kind="item",
    ),
)

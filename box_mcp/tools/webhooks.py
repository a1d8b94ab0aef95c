"""webhooks toolset: the webhooks (V2) that notify an https address of changes to a file or folder.

How the policy sees a webhook: by the item it watches. Creating one needs read on its target (a webhook
tells its address what happens there: names, who, when), inside the grant like any read; deleting one needs
write on its target, which the policy learns by looking the webhook up (a webhook id stands for its target,
as a collaboration id stands for its item). `list_webhooks` shows only webhooks whose target the agent could
read itself: never one on an item outside the grant. Box keeps webhooks per app and user, so an agent sees
those its own Box identity made through box-mcp's app.

This is the agent's side; box-mcp's own receiver for webhook deliveries is `box-mcp webhooks` (watch/).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from box_mcp.access import Access, ItemRef, ResourceUse
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

Cursor = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
# Box's webhook (V2) triggers, as the OpenAPI spec lists them (POST /webhooks, `triggers`).
Trigger = Literal[
    "FILE.UPLOADED",
    "FILE.PREVIEWED",
    "FILE.DOWNLOADED",
    "FILE.TRASHED",
    "FILE.DELETED",
    "FILE.RESTORED",
    "FILE.COPIED",
    "FILE.MOVED",
    "FILE.LOCKED",
    "FILE.UNLOCKED",
    "FILE.RENAMED",
    "COMMENT.CREATED",
    "COMMENT.UPDATED",
    "COMMENT.DELETED",
    "TASK_ASSIGNMENT.CREATED",
    "TASK_ASSIGNMENT.UPDATED",
    "METADATA_INSTANCE.CREATED",
    "METADATA_INSTANCE.UPDATED",
    "METADATA_INSTANCE.DELETED",
    "FOLDER.CREATED",
    "FOLDER.RENAMED",
    "FOLDER.DOWNLOADED",
    "FOLDER.RESTORED",
    "FOLDER.DELETED",
    "FOLDER.COPIED",
    "FOLDER.MOVED",
    "FOLDER.TRASHED",
    "WEBHOOK.DELETED",
    "COLLABORATION.CREATED",
    "COLLABORATION.ACCEPTED",
    "COLLABORATION.REJECTED",
    "COLLABORATION.REMOVED",
    "COLLABORATION.UPDATED",
    "SHARED_LINK.DELETED",
    "SHARED_LINK.CREATED",
    "SHARED_LINK.UPDATED",
    "SIGN_REQUEST.COMPLETED",
    "SIGN_REQUEST.DECLINED",
    "SIGN_REQUEST.EXPIRED",
    "SIGN_REQUEST.SIGNER_EMAIL_BOUNCED",
    "SIGN_REQUEST.SIGN_SIGNER_SIGNED",
    "SIGN_REQUEST.SIGN_DOCUMENT_CREATED",
    "SIGN_REQUEST.SIGN_ERROR_FINALIZING",
]


def _check_address(value: str) -> str:
    """Box notifies https addresses only; refuse what Box would, and what is plainly not a receiver."""
    if any(ch.isspace() for ch in value):
        raise ValueError("the address has spaces: give the receiver's https:// URL")
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise ValueError("the address must be an https:// URL (Box notifies https receivers only)")
    host = parts.hostname or ""
    if not host:
        raise ValueError("the address has no host name")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the address must not carry a user name or password")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the address has a port that is not a number from 1 to 65535") from None
    if port == 0:
        raise ValueError("the address has port 0")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if "." not in host and host != "localhost":
            raise ValueError("the address needs a full host name (e.g. hooks.example.com)") from None
    return value


Address = Annotated[
    str,
    StringConstraints(min_length=12, max_length=2048),
    AfterValidator(_check_address),
    Field(description="The https:// URL Box notifies, e.g. https://hooks.example.com/box"),
]


class WebhookTarget(ToolOutput):
    type: str
    id: str


class WebhookMini(ToolOutput):
    type: str = "webhook"
    id: str
    target: WebhookTarget


class WebhookList(ToolOutput):
    entries: list[WebhookMini]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page; absent at the end")


class Webhook(ToolOutput):
    type: str = "webhook"
    id: str
    target: WebhookTarget
    address: str | None = None
    triggers: list[str] = Field(default_factory=list)
    created_at: str | None = None


class WebhookDeleted(ToolOutput):
    webhook_id: str
    deleted: bool = True


def _target(raw: object) -> WebhookTarget | None:
    if not isinstance(raw, dict) or raw.get("id") is None or not raw.get("type"):
        return None
    return WebhookTarget(type=str(raw["type"]), id=str(raw["id"]))


# --- list_webhooks ------------------------------------------------------------------------------------


class ListWebhooksInput(ToolInput):
    limit: int = Field(100, ge=1, le=1000)
    cursor: Cursor | None = None  # next_cursor of the previous page


async def list_webhooks(ctx: ToolContext, args: ListWebhooksInput) -> WebhookList:
    params: dict[str, object] = {"limit": args.limit}
    if args.cursor:
        params["marker"] = args.cursor
    raw = await ctx.box.get("/webhooks", params=params)
    entries = []
    for entry in raw.get("entries") or ():
        target = _target(entry.get("target")) if isinstance(entry, dict) else None
        if target is not None and entry.get("id") is not None:
            entries.append(WebhookMini(id=str(entry["id"]), target=target))
    marker = raw.get("next_marker")
    return WebhookList(entries=entries, next_cursor=str(marker) if marker else None)


# --- create_webhook / delete_webhook ------------------------------------------------------------------


class CreateWebhookInput(ToolInput):
    target_type: ItemType
    target_id: BoxId
    address: Address
    triggers: list[Trigger] = Field(min_length=1, max_length=50, description="Box events to be told of")

    @model_validator(mode="after")
    def _fits(self) -> CreateWebhookInput:
        if len(set(self.triggers)) != len(self.triggers):
            raise ValueError("each trigger may be listed once")
        if self.target_type == "folder" and self.target_id == "0":
            raise ValueError("Box does not allow a webhook on the root folder '0': pick a folder inside it")
        return self


async def create_webhook(ctx: ToolContext, args: CreateWebhookInput) -> Webhook:
    body = {
        "target": {"type": args.target_type, "id": args.target_id},
        "address": args.address,
        "triggers": list(args.triggers),
    }
    raw = await ctx.box.post("/webhooks", json=body)
    target = _target(raw.get("target")) or WebhookTarget(type=args.target_type, id=args.target_id)
    triggers = raw.get("triggers")
    return Webhook(
        id=str(raw.get("id")),
        target=target,
        address=raw.get("address") if isinstance(raw.get("address"), str) else None,
        triggers=[t for t in triggers if isinstance(t, str)] if isinstance(triggers, list) else [],
        created_at=raw.get("created_at") if isinstance(raw.get("created_at"), str) else None,
    )


class WebhookIdInput(ToolInput):
    webhook_id: BoxId


async def delete_webhook(ctx: ToolContext, args: WebhookIdInput) -> WebhookDeleted:
    await ctx.box.delete(f"/webhooks/{args.webhook_id}")
    return WebhookDeleted(webhook_id=args.webhook_id)


def _on_webhook(a: WebhookIdInput) -> tuple[ResourceUse, ...]:
    # The target is not in the arguments: the policy decides on the item the webhook resolves to.
    return (ResourceUse(ItemRef("webhook", a.webhook_id), Access.WRITE, "item"),)


SPECS = (
    ToolSpec(
        name="list_webhooks",
        title="List Box webhooks",
        description=(
            "List the webhooks your Box identity created through this app: each one's id and the file or "
            "folder it watches. Pass next_cursor back as cursor."
        ),
        toolset="webhooks",
        access=Access.READ,
        box_scopes=box_scopes("list_webhooks"),
        hints=READ_HINTS,
        input_model=ListWebhooksInput,
        output_model=WebhookList,
        handler=list_webhooks,
        output_kind="webhooks",
    ),
    ToolSpec(
        name="create_webhook",
        title="Create a Box webhook",
        description=(
            "Have Box notify an https:// address when chosen events (triggers such as FILE.UPLOADED, "
            "COMMENT.CREATED) happen to a file or folder. Box sends the event's details to that address."
        ),
        toolset="webhooks",
        access=Access.WRITE,
        box_scopes=box_scopes("create_webhook"),
        # a second identical call answers 409 (one webhook per target and app): not a second webhook
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=CreateWebhookInput,
        output_model=Webhook,
        handler=create_webhook,
        resources=lambda a: (item(a.target_type, a.target_id, Access.READ),),
        keeps_items_in_place=True,
    ),
    ToolSpec(
        name="delete_webhook",
        title="Delete a Box webhook",
        description="Delete a webhook by id: Box stops notifying its address.",
        toolset="webhooks",
        access=Access.WRITE,
        box_scopes=box_scopes("delete_webhook"),
        hints=Hints(read_only=False, destructive=True, idempotent=True),
        input_model=WebhookIdInput,
        output_model=WebhookDeleted,
        handler=delete_webhook,
        resources=_on_webhook,
        keeps_items_in_place=True,
    ),
)

"""Box items as MCP resources, and change notifications that respect each agent's policy.

Resources. `box://files/{file_id}` (the file's text, or a small binary, as get_file_content gives it) and
`box://folders/{folder_id}` (its listing as JSON, as list_folder_content_by_folder_id gives it). Every
read, listing and completion is a call of those tools through the gate, as the calling agent: the same
policy decision, brokered token, confinement and audit record (`detail.via` says which MCP method it
came from), so an agent reads as a resource exactly what it could read with a tool. resources/list is
the agent's grant roots (the folders its policy confines its listing to, or All Files when it is not
confined), each named as the agent's own Box identity sees it.

Notifications. Box changes arrive on the deployment's `ChangeFeed` (webhooks, the events API). For each
subscriber (a legacy session's resources/subscribe, or a 2026-07-28 subscriptions/listen stream) the
notifier asks the gate, as that subscriber's agent, for the item's details: only an agent that may see
the item hears of it, and only of the URIs it subscribed to (a folder it may also see, when the change is
to an item in it, by the parent Box names to that agent; the change's own parent hint is never used).
Each notification sent is an audit record (`notification`). A policy reload that changes an agent's
tools or grant roots sends `notifications/tools/list_changed` / `resources/list_changed` to each of its
sessions and listen streams that asked for them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    SUBSCRIPTION_ID_META_KEY,
    ResourcesListChanged,
    ResourceUpdated,
    ServerEvent,
    ToolsListChanged,
    event_to_notification,
)
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    BlobResourceContents,
    CallToolResult,
    Completion,
    EmbeddedResource,
    Resource,
    ResourceListChangedNotification,
    ResourceTemplate,
    ResourceUpdatedNotification,
    ResourceUpdatedNotificationParams,
    ServerNotification,
    SubscriptionFilter,
    SubscriptionsAcknowledgedNotification,
    SubscriptionsAcknowledgedNotificationParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    TextContent,
    TextResourceContents,
    ToolListChangedNotification,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from box_mcp.changes import Change, ChangeFeed, ItemType
from box_mcp.events import SessionInfo
from box_mcp.identity import Person
from box_mcp.sessions import connection_of
from box_mcp.tools.marking import UNTRUSTED, item_uri

if TYPE_CHECKING:
    from box_mcp.gate import Gate
    from box_mcp.tools.spec import TransportKind

log = logging.getLogger("box_mcp.resources")

FILE_TEMPLATE = "box://files/{file_id}"
FOLDER_TEMPLATE = "box://folders/{folder_id}"
_URI = re.compile(r"box://(files|folders)/([0-9]{1,20})")
_TYPES: dict[str, ItemType] = {"files": "file", "folders": "folder"}
READ_TOOL: dict[ItemType, str] = {"file": "get_file_content", "folder": "list_folder_content_by_folder_id"}
CHECK_TOOL: dict[ItemType, str] = {"file": "get_file_details", "folder": "get_folder_details"}
ID_ARG: dict[ItemType, str] = {"file": "file_id", "folder": "folder_id"}
ALL_FILES = "0"
MAX_ROOTS = 100  # resources/list names at most this many grant roots (each is one Box request)
MAX_COMPLETIONS = 100  # MCP's cap on completion values
MAX_LISTENS = 256  # concurrent subscriptions/listen streams per server
MAX_URIS = 256  # resource subscriptions per session or listen stream
MAX_BUFFERED = 256  # events a listen stream may have waiting; a stream that stops reading is ended
MAX_PENDING_CHANGES = 1024  # changes waiting for the notifier; beyond it the oldest are dropped (logged)
SEND_TIMEOUT = 5.0  # seconds a legacy session's notification may take before the session is dropped
POLICY_POLL = 1.0  # seconds between checks of what each subscribed agent may see after a policy reload


def parse_uri(uri: str) -> tuple[ItemType, str] | None:
    """('file' | 'folder', id) of a box:// URI this server serves, else None."""
    m = _URI.fullmatch(uri)
    return None if m is None else (_TYPES[m.group(1)], m.group(2))


def unknown_resource(uri: str) -> MCPError:
    return MCPError(
        code=INVALID_PARAMS,
        message=(
            "Unknown resource: box-mcp serves box://files/{file_id} and box://folders/{folder_id} "
            "(Box ids are digit strings); resources/list shows the folders you may start from."
        ),
        data={"uri": uri[:200]},
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a resource request (or a notification check) is for."""

    agent: str
    transport: TransportKind
    person: Person | None = None
    session: SessionInfo | None = None


@dataclass(frozen=True, slots=True)
class Seen:
    """An item as an agent may see it: its name and the parent folder Box names to that agent."""

    name: str | None
    parent_id: str | None


def _text_of(result: CallToolResult) -> str:
    for block in result.content:
        if isinstance(block, TextContent):
            return block.text
    return "the call failed"


class Resources:
    """resources/read, resources/list, resource templates and completion, through the gate."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def templates(self) -> list[ResourceTemplate]:
        return [
            ResourceTemplate(
                name="box-file",
                title="Box file",
                uri_template=FILE_TEMPLATE,
                description="A Box file's text (or a small binary), as get_file_content reads it.",
            ),
            ResourceTemplate(
                name="box-folder",
                title="Box folder",
                uri_template=FOLDER_TEMPLATE,
                description="A Box folder's first page of items, as JSON.",
                mime_type="application/json",
            ),
        ]

    async def _tool(self, name: str, args: dict[str, Any], caller: Caller, via: str) -> CallToolResult:
        if name not in self.gate.tools:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"This server does not serve {name} (--tools/--toolsets), which this resource needs.",
            )
        return await self.gate.call(
            name,
            args,
            agent=caller.agent,
            person=caller.person,
            transport=caller.transport,
            session=caller.session,
            via=via,
        )

    async def read(self, uri: str, caller: Caller) -> list[TextResourceContents | BlobResourceContents]:
        """The resource's contents, read as `caller`; a denial or a missing item is -32602 with the
        gate's own sentence (an item the agent may not use reads as one that does not exist)."""
        parsed = parse_uri(uri)
        if parsed is None:
            raise unknown_resource(uri)
        kind, item_id = parsed
        result = await self._tool(READ_TOOL[kind], {ID_ARG[kind]: item_id}, caller, "resources/read")
        if result.is_error:
            raise MCPError(code=INVALID_PARAMS, message=_text_of(result), data={"uri": uri})
        structured = result.structured_content or {}
        if kind == "folder":
            text = json.dumps(structured, separators=(",", ":"), ensure_ascii=False)
            return [
                TextResourceContents(uri=uri, mime_type="application/json", text=text, _meta=dict(UNTRUSTED))
            ]
        for block in result.content:  # a binary comes back as an embedded resource
            if isinstance(block, EmbeddedResource) and isinstance(block.resource, BlobResourceContents):
                blob = block.resource
                return [
                    BlobResourceContents(
                        uri=uri, mime_type=blob.mime_type, blob=blob.blob, _meta=dict(UNTRUSTED)
                    )
                ]
        said_mime, said_text = structured.get("mime_type"), structured.get("content")
        mime = said_mime if isinstance(said_mime, str) else "text/plain"
        text = said_text if isinstance(said_text, str) else ""
        return [TextResourceContents(uri=uri, mime_type=mime, text=text, _meta=dict(UNTRUSTED))]

    def root_ids(self, caller: Caller) -> tuple[str, ...]:
        """The folders the agent's policy confines it to (All Files when it is not confined)."""
        roots_of = getattr(self.gate.policy, "grant_roots", None)
        roots = roots_of(caller.agent, caller.person) if roots_of is not None else None
        return (ALL_FILES,) if roots is None else tuple(roots)[:MAX_ROOTS]

    async def roots(self, caller: Caller) -> list[Resource]:
        """resources/list: the agent's grant roots as its identity sees them (those it cannot see are
        left out: the policy may name a folder the identity was never given)."""
        out = []
        for folder_id in self.root_ids(caller):
            seen = await self.sees("folder", folder_id, caller, via="resources/list")
            if seen is None:
                continue
            name = seen.name or ("All Files" if folder_id == ALL_FILES else folder_id)
            out.append(
                Resource(
                    name=name,
                    uri=f"box://folders/{folder_id}",
                    mime_type="application/json",
                    description="A folder your policy lets you work in (its listing as JSON).",
                    _meta=dict(UNTRUSTED),
                )
            )
        return out

    async def sees(self, kind: ItemType, item_id: str, caller: Caller, *, via: str) -> Seen | None:
        """The item's name and parent as `caller` may see them, or None (denied, missing, unservable)."""
        if CHECK_TOOL[kind] not in self.gate.tools:
            return None  # nothing can check it: nobody hears of it
        result = await self._tool(CHECK_TOOL[kind], {ID_ARG[kind]: item_id}, caller, via)
        if result.is_error:
            return None
        structured = result.structured_content or {}
        parent = structured.get("parent")
        parent_id = parent.get("id") if isinstance(parent, dict) else None
        name = structured.get("name")
        return Seen(
            name if isinstance(name, str) else None, parent_id if isinstance(parent_id, str) else None
        )

    async def complete(self, template: str, argument: str, value: str, caller: Caller) -> Completion:
        """Ids for a template's argument: the agent's grant roots and the items in them it may see."""
        wanted: ItemType | None = {
            (FILE_TEMPLATE, "file_id"): "file",
            (FOLDER_TEMPLATE, "folder_id"): "folder",
        }.get((template, argument))  # type: ignore[assignment]
        if wanted is None:
            return Completion(values=[])
        ids: dict[str, None] = {}
        roots = self.root_ids(caller)
        if wanted == "folder":
            ids.update(dict.fromkeys(roots))
        for folder_id in roots:
            if len(ids) >= MAX_COMPLETIONS or READ_TOOL["folder"] not in self.gate.tools:
                break
            listing = await self._tool(
                READ_TOOL["folder"], {"folder_id": folder_id}, caller, "completion/complete"
            )
            if listing.is_error:
                continue
            for entry in (listing.structured_content or {}).get("entries") or ():
                if (
                    isinstance(entry, dict)
                    and entry.get("type") == wanted
                    and isinstance(entry.get("id"), str)
                ):
                    ids[entry["id"]] = None
        values = [i for i in ids if i.startswith(value)]
        return Completion(
            values=values[:MAX_COMPLETIONS], total=len(values), has_more=len(values) > MAX_COMPLETIONS
        )


Channel = Literal["resources/subscribe", "subscriptions/listen"]


@dataclass(eq=False)
class Subscriber:
    """One place notifications go: a legacy session (its standalone stream) or one listen stream."""

    caller: Caller
    channel: Channel
    send: Callable[[ServerEvent], Awaitable[bool]]  # False: the subscriber is gone
    uris: set[str] = field(default_factory=set)
    tools_list_changed: bool = False
    resources_list_changed: bool = False
    tools_seen: frozenset[str] = frozenset()
    roots_seen: tuple[str, ...] = ()


class Notifier:
    """Subscribers, the change feed's consumer and the policy watcher of one server."""

    def __init__(self, resources: Resources, *, poll: float = POLICY_POLL) -> None:
        self.resources = resources
        self.gate = resources.gate
        self.poll = poll
        self.subscribers: set[Subscriber] = set()
        self._changes: MemoryObjectSendStream[Change] | None = None  # while running
        self._running = 0

    # --- who is subscribed -----------------------------------------------------------------------

    def _tools_of(self, caller: Caller) -> frozenset[str]:
        return frozenset(t.name for t in self.gate.visible_tools(caller.agent, caller.person))

    def _add(self, sub: Subscriber) -> Subscriber:
        sub.tools_seen = self._tools_of(sub.caller)
        sub.roots_seen = self.resources.root_ids(sub.caller)
        self.subscribers.add(sub)
        return sub

    def known(self, ctx: ServerRequestContext[Any, Any]) -> bool:
        """Whether the connection of `ctx` needs no registering (known already, or of the 2026 era)."""
        connection = connection_of(ctx)
        return (
            connection is None
            or connection.protocol_version in MODERN_PROTOCOL_VERSIONS
            or isinstance(connection.state.get(STATE_KEY), Subscriber)
        )

    def legacy(self, ctx: ServerRequestContext[Any, Any], caller: Caller) -> Subscriber | None:
        """The subscriber of a handshake-era session (registered on its first request), else None."""
        connection = connection_of(ctx)
        if connection is None or connection.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return None
        known = connection.state.get(STATE_KEY)
        if isinstance(known, Subscriber):
            return known
        session = ctx.session

        async def send(event: ServerEvent) -> bool:
            try:
                with anyio.fail_after(SEND_TIMEOUT):
                    await session.send_notification(_legacy_notification(event))
            except Exception:  # closed, gone, too slow: it hears nothing more
                log.info("a session of agent %s could not be notified; dropping it", caller.agent)
                return False
            return True

        sub = self._add(
            Subscriber(
                caller, "resources/subscribe", send, tools_list_changed=True, resources_list_changed=True
            )
        )
        connection.state[STATE_KEY] = sub
        connection.exit_stack.callback(self.subscribers.discard, sub)
        return sub

    async def listen(
        self, ctx: ServerRequestContext[Any, Any], params: SubscriptionsListenRequestParams, caller: Caller
    ) -> SubscriptionsListenResult:
        """One subscriptions/listen stream: the ack first, then only this agent's events, until the client
        goes (the spec's abrupt close) or the server stops."""
        subscription_id = ctx.request_id
        if subscription_id is None:
            raise MCPError(INVALID_REQUEST, "subscriptions/listen requires a request id")
        if sum(1 for s in self.subscribers if s.channel == "subscriptions/listen") >= MAX_LISTENS:
            raise MCPError(INTERNAL_ERROR, "Subscription limit reached; close a listen stream and retry")
        asked = params.notifications
        if len(asked.resource_subscriptions or ()) > MAX_URIS:
            raise MCPError(INVALID_PARAMS, f"At most {MAX_URIS} resource subscriptions per listen stream")
        # Only URIs this server serves can ever fire: the ack honors those alone.
        uris = [u for u in dict.fromkeys(asked.resource_subscriptions or ()) if parse_uri(u) is not None]
        honored = SubscriptionFilter(  # no prompts here: prompts_list_changed is not honored
            tools_list_changed=True if asked.tools_list_changed else None,
            resources_list_changed=True if asked.resources_list_changed else None,
            resource_subscriptions=uris or None,
        )
        meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: subscription_id}
        send_events, events = anyio.create_memory_object_stream[ServerEvent](MAX_BUFFERED)

        async def send(event: ServerEvent) -> bool:
            try:
                send_events.send_nowait(event)
            except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
                send_events.close()  # a client that stopped reading: end its stream (it re-listens)
                return False
            return True

        sub = self._add(
            Subscriber(
                caller,
                "subscriptions/listen",
                send,
                uris=set(uris),
                tools_list_changed=bool(asked.tools_list_changed),
                resources_list_changed=bool(asked.resources_list_changed),
            )
        )
        try:
            ack = SubscriptionsAcknowledgedNotificationParams(notifications=honored, _meta=meta)
            await ctx.session.send_notification(
                SubscriptionsAcknowledgedNotification(params=ack), related_request_id=subscription_id
            )
            async for event in events:
                await ctx.session.send_notification(
                    event_to_notification(event, meta), related_request_id=subscription_id
                )
        finally:
            self.subscribers.discard(sub)
            send_events.close()
            events.close()
        return SubscriptionsListenResult(_meta=meta)

    # --- the background work ---------------------------------------------------------------------

    async def on_change(self, change: Change) -> None:
        """ChangeFeed listener: queue the change (the producer is never held up by slow agents)."""
        if not self.subscribers or self._changes is None:
            return
        try:
            self._changes.send_nowait(change)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # the server is stopping
        except anyio.WouldBlock:
            log.warning("change notifications are behind; dropped %s %s", change.item_type, change.item_id)

    @asynccontextmanager
    async def running(self, feed: ChangeFeed | None) -> AsyncIterator[None]:
        """Consume the feed and watch the policy while the server runs (its lifespan)."""
        if self._running:  # one consumer per server, however many lifespans overlap
            self._running += 1
            try:
                yield
            finally:
                self._running -= 1
            return
        self._running = 1
        changes_in, changes_out = anyio.create_memory_object_stream[Change](MAX_PENDING_CHANGES)
        self._changes = changes_in
        unsubscribe = feed.subscribe(self.on_change) if feed is not None else None
        try:
            async with changes_in, changes_out, anyio.create_task_group() as tg:
                tg.start_soon(self._consume, changes_out)
                tg.start_soon(self._watch_policy)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
        finally:
            self._running = 0
            self._changes = None
            if unsubscribe is not None:
                unsubscribe()

    async def _consume(self, changes: MemoryObjectReceiveStream[Change]) -> None:
        async for change in changes:
            try:
                await self.deliver(change)
            except Exception:  # one bad change must not stop the next ones
                log.exception("notifying of %s %s failed", change.item_type, change.item_id)

    async def _watch_policy(self) -> None:
        while True:  # until the server stops (its lifespan cancels this task)
            await anyio.sleep(self.poll)
            try:
                await self.check_policy()
            except Exception:
                log.exception("checking subscribers after a policy change failed")

    async def deliver(self, change: Change) -> None:
        """Tell each subscriber that may see the changed item (checked as its own agent) of each URI it
        subscribed to that the change touches: the item, and the folder Box says holds it."""
        uri = item_uri(change.item_type, change.item_id)
        if uri is None:
            return
        targets = [
            s
            for s in self.subscribers
            if uri in s.uris or any(u.startswith("box://folders/") for u in s.uris)
        ]
        groups: dict[tuple[str, str | None, str], list[Subscriber]] = {}
        for s in targets:
            who = s.caller
            key = (who.agent, who.person.box_user_id if who.person else None, who.transport)
            groups.setdefault(key, []).append(s)
        for subs in groups.values():
            caller = subs[0].caller
            seen = await self.resources.sees(change.item_type, change.item_id, caller, via="notification")
            if seen is None:
                continue  # it may not see the item: it hears nothing, not even the id
            parent_uri = f"box://folders/{seen.parent_id}" if seen.parent_id else None
            parent_ok: bool | None = None
            for s in subs:
                if uri in s.uris:
                    await self._notify(s, ResourceUpdated(uri), change)
                if parent_uri is not None and parent_uri in s.uris:
                    if parent_ok is None:  # may it see the folder too? (a grant on a file alone)
                        assert seen.parent_id is not None
                        parent_ok = (
                            await self.resources.sees("folder", seen.parent_id, caller, via="notification")
                        ) is not None
                    if parent_ok:
                        await self._notify(s, ResourceUpdated(parent_uri), change)

    async def check_policy(self) -> None:
        """After a policy reload: list_changed to each subscriber whose tools or grant roots changed."""
        for s in list(self.subscribers):
            if s.tools_list_changed:
                tools = self._tools_of(s.caller)
                if tools != s.tools_seen:
                    s.tools_seen = tools
                    await self._notify(s, ToolsListChanged(), None, {"tools_shown": len(tools)})
            if s.resources_list_changed and s in self.subscribers:
                roots = self.resources.root_ids(s.caller)
                if roots != s.roots_seen:
                    s.roots_seen = roots
                    await self._notify(s, ResourcesListChanged(), None)

    async def _notify(
        self, sub: Subscriber, event: ServerEvent, change: Change | None, extra: dict[str, Any] | None = None
    ) -> None:
        """Record the notification, then send it (as a read is recorded before it is served); a subscriber
        that cannot take it is dropped."""
        if sub not in self.subscribers:
            return
        note = _legacy_notification(event)
        detail: dict[str, Any] = {"method": note.method, "channel": sub.channel, **(extra or {})}
        items = None
        if isinstance(event, ResourceUpdated):
            detail["uri"] = event.uri
            parsed = parse_uri(event.uri)
            items = [{"type": parsed[0], "id": parsed[1], "role": "item"}] if parsed else []
            if change is not None:
                if parsed is not None and (parsed[0], parsed[1]) != (change.item_type, change.item_id):
                    items.append({"type": change.item_type, "id": change.item_id, "role": "changed"})
                detail["change"] = {
                    "event": change.event,
                    "source": change.source,
                    "delivery_id": change.delivery_id,
                }
        session = sub.caller.session
        await self.gate.events.emit(
            "notification",
            agent=sub.caller.agent,
            person=sub.caller.person,
            **(session.fields() if session else {}),
            items=items,
            detail=detail,
        )
        if not await sub.send(event):
            self.subscribers.discard(sub)


STATE_KEY = "box_mcp.subscriber"


def _legacy_notification(event: ServerEvent) -> ServerNotification:
    if isinstance(event, ToolsListChanged):
        return ToolListChangedNotification()
    if isinstance(event, ResourcesListChanged):
        return ResourceListChangedNotification()
    if isinstance(event, ResourceUpdated):
        return ResourceUpdatedNotification(params=ResourceUpdatedNotificationParams(uri=event.uri))
    raise TypeError(f"box-mcp sends no {type(event).__name__}")


class SubscriberTracker:
    """Server middleware: a handshake-era session becomes a subscriber on its first request after the
    handshake (for list_changed); `caller_of` says who it is."""

    def __init__(
        self, notifier: Notifier, caller_of: Callable[[ServerRequestContext[Any, Any]], Caller]
    ) -> None:
        self.notifier = notifier
        self.caller_of = caller_of

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "initialize" and not self.notifier.known(ctx):
            self.notifier.legacy(ctx, self.caller_of(ctx))
        return await call_next(ctx)


__all__ = [
    "FILE_TEMPLATE",
    "FOLDER_TEMPLATE",
    "Caller",
    "Notifier",
    "Resources",
    "Subscriber",
    "SubscriberTracker",
    "parse_uri",
]

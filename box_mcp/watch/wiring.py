"""How a deployment watches Box (BOX_MCP_WATCH): the webhook receiver for its HTTP app, or an events
follower per watched identity running beside the server. Called by the composition root only."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

import anyio

from box_mcp.box.client import BoxClient
from box_mcp.broker.broker import Broker, IdentitySpec
from box_mcp.changes import ChangeFeed
from box_mcp.config import Settings
from box_mcp.errors import ConfigError
from box_mcp.events import Events
from box_mcp.policy.model import Policy
from box_mcp.watch.follower import Follower
from box_mcp.watch.owners import identity_name, watching_identities
from box_mcp.watch.receiver import WebhookReceiver
from box_mcp.watch.state import FilePositions, Positions, Seen


def webhook_receiver(
    settings: Settings, feed: ChangeFeed, events: Events, stack: AsyncExitStack, *, transport: str
) -> WebhookReceiver | None:
    """The receiver BOX_MCP_WATCH=webhooks asks for (None otherwise); its seen-delivery ids in
    PostgreSQL when the deployment has a database."""
    if settings.watch != "webhooks":
        return None
    if transport != "http":
        raise ConfigError(
            "BOX_MCP_WATCH=webhooks needs --transport http (Box delivers webhooks over HTTP); over stdio "
            "use BOX_MCP_WATCH=events, which follows Box's events API instead"
        )
    seen: Seen | None = None
    if settings.database_url is not None:
        from box_mcp.state.watch import PostgresSeen

        pg = PostgresSeen.open(settings.database_url)
        stack.callback(pg.close)
        seen = pg
    return WebhookReceiver(settings.webhook_keys, feed, events, seen=seen)


def positions_for(settings: Settings, stack: AsyncExitStack) -> Positions:
    if settings.database_url is not None:
        from box_mcp.state.watch import PostgresPositions

        pg = PostgresPositions.open(settings.database_url)
        stack.callback(pg.close)
        return pg
    return FilePositions(Path(settings.data_dir) / "watch")


async def start_followers(
    settings: Settings,
    *,
    policy: Policy | None,
    identity_of: Callable[[str], IdentitySpec],
    fallback: IdentitySpec | None,
    broker: Broker,
    box: BoxClient,
    feed: ChangeFeed,
    events: Events,
    stack: AsyncExitStack,
) -> list[Follower]:
    """BOX_MCP_WATCH=events: one follower per watched identity, in a task group closed with `stack`."""
    if settings.watch != "events":
        return []
    positions = positions_for(settings, stack)
    followers: list[Follower] = []
    for identity in watching_identities(policy, identity_of, fallback):
        source = await broker.token_source(identity)
        client = box.bound(token_source=source, as_user=broker.as_user_header(identity))
        followers.append(Follower(client, identity_name(identity), positions, feed, events))
    if not followers:
        return []
    group = anyio.create_task_group()
    await group.__aenter__()
    for follower in followers:
        group.start_soon(follower.run)

    async def stop() -> None:
        group.cancel_scope.cancel()
        await group.__aexit__(None, None, None)

    stack.push_async_callback(stop)
    return followers

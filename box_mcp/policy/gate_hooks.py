"""The policy's part of a deployment (loaded by `box_mcp.server.load_hooks` when a policy is configured):
tool visibility, per-call decisions, result confinement, and API-key authentication for HTTP.

Where items sit (their path_collection) is looked up as each agent's own Box identity, through the
broker's `lookup` (contributed before this module runs), so it works with every credential mode and the
engine sees exactly the path Box shows that identity. Without a broker, the developer token is the one
lookup identity; with neither, calls on items a folder-confined rule governs are refused (fail closed).
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from box_mcp.policy.hooks import PolicyGate
from box_mcp.policy.locate import Locator, Lookup
from box_mcp.policy.reference_tools import tools_for_policy
from box_mcp.policy.store import PolicyStore

if TYPE_CHECKING:
    from box_mcp.config import Settings
    from box_mcp.server import GateHooks

log = logging.getLogger("box_mcp.policy")


async def gate_hooks(
    settings: Settings, stack: AsyncExitStack, *, events: Any = None, prior: GateHooks | None = None
) -> GateHooks:
    """`events` (box_mcp.events.Events) receives policy_load / policy_reload records; `prior.lookup`
    (from the broker) gives a Box client per agent for item lookups."""
    from box_mcp.server import GateHooks

    if settings.policy is None:
        return GateHooks()
    store = PolicyStore(settings.policy, tools_for_policy(),
                        on_event=events.post if events is not None else None)
    lookup: Lookup | None = prior.lookup if prior is not None else None
    if lookup is None and settings.developer_token is not None:
        from box_mcp.box.client import BoxClient, StaticToken

        client = BoxClient(
            token_source=StaticToken(settings.developer_token.get_secret_value()),
            base_url=settings.api_url,
            upload_url=settings.upload_url,
        )
        stack.push_async_callback(client.aclose)

        async def developer_token(agent: str) -> BoxClient:
            return client

        lookup = developer_token
    elif lookup is None:
        log.warning("no identity to look up item locations: folder-confined calls will be refused")
    gate = PolicyGate(store, locator=Locator(lookup))
    # API keys switch on inbound authentication; a policy without keys serves its default agent on loopback.
    has_keys = any(agent.keys for agent in store.engine().policy.agents.values())
    return GateHooks(policy=gate, results=gate, authenticate=gate.authenticate if has_keys else None,
                     default_agent=store.engine().policy.default_agent)

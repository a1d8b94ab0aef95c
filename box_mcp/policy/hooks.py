"""The policy as the gate sees it: `PolicyHooks` is its PolicyHook and its ResultFilterHook, over one
policy store and one item locator. Decisions live in policy/decide.py, confinement in policy/confine.py,
item lookups in policy/locate.py; this class only puts them behind the methods the gate calls.

    PolicyHooks(store, locator=Locator(lookup))   # lookup: (agent, person) -> a Box client on its identity
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from box_mcp.decision import Decision
from box_mcp.policy.confine import FOLDER_LISTING, Confiner
from box_mcp.policy.decide import Decider
from box_mcp.policy.limits import Limiter
from box_mcp.policy.locate import Locator
from box_mcp.policy.store import PolicyStore

if TYPE_CHECKING:
    from box_mcp.errors import BoxError
    from box_mcp.identity import Person
    from box_mcp.seams import Call
    from box_mcp.tools.spec import ToolOutput, ToolSpec


class PolicyHooks:
    """PolicyHook + ResultFilterHook: visibility, rate limits, decisions, confinement, secret fields."""

    def __init__(self, store: PolicyStore, *, locator: Locator, limiter: Limiter | None = None) -> None:
        self.store = store
        self.locator = locator
        self.decider = Decider(store, locator, limiter)
        self.confiner = Confiner(store, locator)

    def tool_visible(self, agent: str, tool: ToolSpec, person: Person | None = None) -> bool:
        return self.decider.tool_visible(agent, tool, person)

    async def admit(self, agent: str, tool: ToolSpec | None, person: Person | None = None) -> str | None:
        return await self.decider.admit(agent, tool, person)

    async def decide(self, call: Call) -> Decision:
        return await self.decider.decide(call)

    def succeeded(self, call: Call) -> None:
        """The gate ran the call's handler to completion: a destructive call marks its session."""
        self.decider.firsts.succeeded(call)

    async def confine(self, call: Call, output: ToolOutput) -> ToolOutput:
        return await self.confiner.confine(call, output)

    async def confine_error(self, call: Call, exc: BoxError) -> BoxError:
        return await self.confiner.confine_error(call, exc)

    def grant_roots(self, agent: str, person: Person | None = None) -> tuple[str, ...] | None:
        """The folders the agent's folder listing is confined to (None: not confined; empty: no grant):
        its resources/list (box_mcp/resources.py)."""
        return self.store.engine().roots(agent, FOLDER_LISTING, person)

    def secret_fields(self) -> frozenset[str]:
        """Argument names the current policy marks secret: the audit masks them (follows hot reloads)."""
        return self.store.engine().policy.secret_fields

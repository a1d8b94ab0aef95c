"""Policy test fixtures: the reference tool table and a way to build an engine from YAML text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.policy.engine import Decision, DecisionRequest, Engine, ToolInfo
from box_mcp.policy.hooks import PolicyHooks
from box_mcp.policy.locate import Locator, Lookup
from box_mcp.policy.model import policy_from_text
from box_mcp.policy.reference_tools import tools_for_policy
from box_mcp.policy.store import PolicyStore


@pytest.fixture
def tools() -> dict[str, ToolInfo]:
    return tools_for_policy()


@pytest.fixture
def make_engine(tools: dict[str, ToolInfo]) -> Callable[[str], Engine]:
    def build(text: str) -> Engine:
        return Engine(policy_from_text(text), tools)

    return build


def _use(kind: str, id_: str, access: str = "read", role: str = "item") -> ResourceUse:
    return ResourceUse(ItemRef(kind, id_), Access(access), role)


def _ask(
    engine: Engine,
    agent: str,
    tool: str,
    *uses: ResourceUse,
    ancestry: dict[str, tuple[str, ...]] | None = None,
    **facts: object,
) -> Decision:
    """Decide one call; ancestry keys are 'file:1' / 'folder:2'."""
    anc = {}
    for key, path in (ancestry or {}).items():
        kind, _, id_ = key.partition(":")
        anc[ItemRef(kind, id_)] = tuple(path)
    return engine.decide(DecisionRequest(agent, tool, tuple(uses), CallFacts(**facts), anc))  # type: ignore[arg-type]


@pytest.fixture
def use() -> Callable[..., ResourceUse]:
    return _use


@pytest.fixture
def ask() -> Callable[..., Decision]:
    return _ask


# -- the policy in the real gate, against the in-process emulator ---------------------------------------


def one_identity(box: Any) -> Lookup:
    """A lookup that gives every agent the same Box client (a developer token's identity)."""

    async def lookup(agent: str, person: Any = None) -> Any:
        return box

    return lookup


def gate_for(policy: Path, box: Any) -> PolicyHooks:
    return PolicyHooks(PolicyStore(policy, tools_for_policy()), locator=Locator(one_identity(box)))


@dataclass
class World:
    """The demo emulator (in-process), an admin Box client that counts requests, and the PolicyHooks."""

    app: Any
    credentials: dict[str, Any]
    box: Any
    gate: PolicyHooks
    requests: list[httpx2.Request] = field(default_factory=list)

    def folder(self, path: str) -> str:
        return str(self.credentials["folders"][path])

    def file(self, path: str) -> str:
        return str(self.credentials["files"][path])


@dataclass
class AgentClient:
    client: Client

    async def ok(self, tool: str, **args: Any) -> Any:
        result = await self.client.call_tool(tool, args)
        assert not result.is_error, result.content[0].text
        return result.structured_content

    async def err(self, tool: str, **args: Any) -> str:
        result = await self.client.call_tool(tool, args)
        assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
        return str(result.content[0].text)


@pytest.fixture
async def make_world() -> AsyncIterator[Callable[[Path], World]]:
    from box_mcp.box.client import BoxClient, StaticToken
    from box_mcp.emulator.app import create_app

    made: list[World] = []

    def build(policy: Path) -> World:
        app = create_app(memory=True, seed="demo", rate_limits=False, base_url="http://emulator")
        requests: list[httpx2.Request] = []
        inner = httpx2.ASGITransport(app=app)

        class Counting(httpx2.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
                requests.append(request)
                return await inner.handle_async_request(request)

        creds = app.state.emulator.credentials
        token = next(u["developer_token"] for u in creds["users"] if u["login"].startswith("ada"))
        box = BoxClient(token_source=StaticToken(token), base_url="http://emulator", transport=Counting())
        gate = gate_for(policy, box)
        world = World(app, creds, box, gate, requests)
        made.append(world)
        return world

    yield build
    for w in made:
        await w.box.aclose()
        w.app.state.emulator.store.close()


@pytest.fixture
async def connect(make_world: Any) -> AsyncIterator[Callable[[World, str], Any]]:
    """connect(world, agent) -> an MCP client on a server that runs every call as `agent` through the gate."""
    from box_mcp.config import Settings
    from box_mcp.server import build_server

    async with AsyncExitStack() as stack:

        async def open_client(world: World, agent: str) -> AgentClient:
            settings = Settings.load(env={}, agent=agent, toolsets=("all",))  # decisions on every tool
            server = build_server(settings, box_client=world.box, policy=world.gate, results=world.gate)
            return AgentClient(await stack.enter_async_context(Client(server)))

        yield open_client

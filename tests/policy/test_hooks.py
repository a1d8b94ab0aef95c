"""The policy in the real gate, against the in-process emulator's demo seed and policies/default.yaml."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client

from box_mcp.box.client import BoxClient, StaticToken
from box_mcp.config import Settings
from box_mcp.emulator.app import create_app
from box_mcp.policy.hooks import PolicyGate, box_fetch
from box_mcp.policy.reference_tools import tools_for_policy
from box_mcp.policy.store import PolicyStore
from box_mcp.server import build_server

pytestmark = pytest.mark.anyio

DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"


@dataclass
class World:
    app: Any
    credentials: dict[str, Any]
    box: BoxClient
    gate: PolicyGate
    requests: list[httpx2.Request] = field(default_factory=list)

    def folder(self, path: str) -> str:
        return str(self.credentials["folders"][path])

    def file(self, path: str) -> str:
        return str(self.credentials["files"][path])


@dataclass
class Agent:
    client: Client

    async def ok(self, tool: str, **args: Any) -> Any:
        result = await self.client.call_tool(tool, args)
        assert not result.is_error, result.content[0].text
        return result.structured_content

    async def err(self, tool: str, **args: Any) -> str:
        result = await self.client.call_tool(tool, args)
        assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
        return str(result.content[0].text)


def make_world(policy: Path) -> World:
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
    gate = PolicyGate(PolicyStore(policy, tools_for_policy()), box_fetch(box))
    return World(app, creds, box, gate, requests)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = make_world(DEFAULT)
    try:
        yield w
    finally:
        await w.box.aclose()
        w.app.state.emulator.store.close()


@pytest.fixture
async def as_agent(world: World) -> AsyncIterator[Callable[[str], Any]]:
    async with AsyncExitStack() as stack:

        async def connect(name: str) -> Agent:
            settings = Settings.load(env={}, agent=name)
            server = build_server(settings, box_client=world.box, policy=world.gate, results=world.gate)
            client = await stack.enter_async_context(Client(server))
            return Agent(client)

        yield connect


async def test_tools_list_shows_only_tools_the_agent_holds_a_grant_for(as_agent) -> None:
    bot = await as_agent("contracts-bot")
    names = {t.name for t in (await bot.client.list_tools()).tools}
    assert {"get_file_content", "upload_file", "move_file", "search_files_keyword"} <= names
    assert not names & {"create_folder", "add_file_shared_link", "create_collaboration", "delete_folder"}
    stranger = await as_agent("nobody")
    assert (await stranger.client.list_tools()).tools == []


async def test_confined_agent_reads_inside_and_is_denied_outside_without_touching_the_item(
    as_agent, world: World
) -> None:
    bot = await as_agent("contracts-bot")
    content = await bot.ok("get_file_content", file_id=world.file("Contracts/MSA-Globex.pdf"))
    assert content
    salaries = world.file("HR/salaries.csv")
    world.requests.clear()
    text = await bot.err("get_file_content", file_id=salaries)
    assert text.startswith("Denied: get_file_content reads file")
    assert "outside contracts-bot's read grants 'contracts-read' (folder" in text
    # Only the location lookup reached Box, never the content.
    assert [r.url.path for r in world.requests] == [f"/2.0/files/{salaries}"]
    assert "path_collection" in str(world.requests[0].url)


async def test_move_out_of_the_write_grant_is_denied_with_the_rule_and_reach(as_agent, world: World) -> None:
    bot = await as_agent("contracts-bot")
    text = await bot.err(
        "move_file",
        file_id=world.file("Contracts/Inbox/SOW-Umbrella-draft.pdf"),
        destination_folder_id=world.folder("Finance"),
    )
    inbox = world.folder("Contracts/Inbox")
    assert f"outside contracts-bot's write grant 'contracts-inbox' (folder {inbox} and below)" in text


async def test_upload_limits_hold_in_the_gate(as_agent, world: World) -> None:
    bot = await as_agent("contracts-bot")
    inbox = world.folder("Contracts/Inbox")
    text = await bot.err("upload_file", parent_folder_id=inbox, name="notes.docx", content_text="hello")
    assert "allows only file extensions pdf, not extension 'docx'" in text
    done = await bot.ok("upload_file", parent_folder_id=inbox, name="SOW-new.pdf", content_text="%PDF-1.4 hi")
    assert done["name"] == "SOW-new.pdf"


async def test_unscoped_search_by_a_confined_agent_stays_inside_its_grant(as_agent, world: World) -> None:
    bot = await as_agent("contracts-bot")
    found = await bot.ok("search_files_keyword", query="agreement")
    assert found["entries"], "the seed has agreements under Contracts"
    contracts = world.folder("Contracts")
    for hit in found["entries"]:
        assert contracts in hit["ancestor_ids"], hit
    search = [r for r in world.requests if r.url.path == "/2.0/search"][-1]
    assert search.url.params["ancestor_folder_ids"] == contracts


async def test_listing_hides_entries_a_forbid_covers(tmp_path: Path) -> None:
    w = make_world(DEFAULT)
    try:
        archive, contracts = w.folder("Contracts/Archive"), w.folder("Contracts")
        policy = tmp_path / "p.yaml"
        policy.write_text(
            "agents: {reader: {}}\nrules:\n"
            f"  - {{id: contracts, effect: permit, agents: reader, access: read, within: ['{contracts}']}}\n"
            f"  - {{id: not-archive, effect: forbid, agents: reader, within: ['{archive}']}}\n"
        )
        w.gate = PolicyGate(PolicyStore(policy, tools_for_policy()), box_fetch(w.box))
        server = build_server(
            Settings.load(env={}, agent="reader"), box_client=w.box, policy=w.gate, results=w.gate
        )
        async with Client(server) as client:
            reader = Agent(client)
            listing = await reader.ok("list_folder_content_by_folder_id", folder_id=w.folder("Contracts"))
            ids = {e["id"] for e in listing["entries"]}
            assert w.folder("Contracts/Inbox") in ids and archive not in ids
            assert "not-archive" in await reader.err("get_folder_details", folder_id=archive)
            assert "outside" in await reader.err("list_folder_content_by_folder_id", folder_id="0")
    finally:
        await w.box.aclose()
        w.app.state.emulator.store.close()


async def test_a_move_by_box_mcp_invalidates_the_cached_location(as_agent, world: World) -> None:
    demo = await as_agent("demo")
    bot = await as_agent("contracts-bot")
    readme = world.file("Engineering/README.md")
    assert "outside" in await bot.err("get_file_details", file_id=readme)  # caches its Engineering location
    await demo.ok("move_file", file_id=readme, destination_folder_id=world.folder("Contracts/Inbox"))
    details = await bot.ok("get_file_details", file_id=readme)  # now inside Contracts: the cache moved on
    assert details["id"] == readme


async def test_unknown_items_are_denied_with_a_clear_sentence(as_agent) -> None:
    bot = await as_agent("contracts-bot")
    text = await bot.err("get_file_details", file_id="999999999")
    assert "Box has no file 999999999 that this server can see" in text


async def test_api_keys_identify_agents_by_hash(tmp_path: Path) -> None:
    import hashlib

    key = "bmcp_secret_for_test"
    policy = tmp_path / "p.yaml"
    policy.write_text(f"agents:\n  bot: {{keys: ['sha256:{hashlib.sha256(key.encode()).hexdigest()}']}}\n")
    gate = PolicyGate(PolicyStore(policy, tools_for_policy()), None)

    class Req:
        def __init__(self, header: str) -> None:
            self.headers = {"authorization": header}

    assert gate.authenticate(Req(f"Bearer {key}")) == "bot"
    assert gate.authenticate(Req(f"bearer  {key} ")) == "bot"
    assert gate.authenticate(Req("Bearer wrong")) is None
    assert gate.authenticate(Req(f"Basic {key}")) is None
    assert gate.authenticate(Req("")) is None

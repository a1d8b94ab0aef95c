"""End to end: a real stdio subprocess, a real HTTP port, Host/Origin checks, inbound auth, and the demo."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from box_mcp._serving import bind, serving
from box_mcp.config import Settings
from box_mcp.decision import ALLOW, Decision
from box_mcp.errors import ConfigError
from box_mcp.http.app import create_http_app
from box_mcp.http.auth import APIKeyVerifier
from box_mcp.seams import AllowAll, Call
from box_mcp.server import build_server
from box_mcp.tools.catalog import select
from box_mcp.tools.spec import ToolSpec

pytestmark = pytest.mark.anyio

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_stdio_subprocess_serves_tools_against_a_loopback_emulator(
    emulator: Any, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_MCP_", "BOX_DEVELOPER"))}
    env |= {"BOX_DEVELOPER_TOKEN": emulator.token("ada"), "BOX_MCP_DATA_DIR": str(tmp_path)}
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "box_mcp.cli",
            "serve",
            "--transport",
            "stdio",
            "--box-url",
            emulator.base_url,
            "--toolsets",
            "users,folders",
            "--read-only",
        ],
        env=env,
    )
    async with Client(params) as client:
        info, capabilities = client.server_info, client.server_capabilities
        names = {t.name for t in (await client.list_tools()).tools}
        me = await client.call_tool("who_am_i", {})
        listing = await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "0"})
    assert names == {"who_am_i", "get_folder_details", "list_folder_content_by_folder_id"}
    # Who it is, as a client shows it: a title and an icon (an SVG data URI with no script in it).
    assert info is not None and info.name == "box-mcp" and info.title == "box-mcp" and info.icons
    (icon,) = info.icons
    svg = base64.b64decode(icon.src.removeprefix("data:image/svg+xml;base64,")).decode()
    assert icon.mime_type == "image/svg+xml" and svg.startswith("<svg") and "script" not in svg.lower()
    assert capabilities.logging is not None  # handshake-era clients may ask for log messages
    assert not me.is_error and me.structured_content["login"] == "ada@acme.example"
    assert not listing.is_error and listing.structured_content["entries"]


class _PerAgent(AllowAll):
    """A stand-in policy: alice sees and may call only who_am_i; records who asked."""

    def __init__(self) -> None:
        self.agents: list[str] = []

    def tool_visible(self, agent: str, tool: ToolSpec, person: Any = None) -> bool:
        return agent != "alice" or tool.name == "who_am_i"

    async def decide(self, call: Call) -> Decision:
        self.agents.append(call.agent)
        if call.agent == "alice" and call.tool.name != "who_am_i":
            return Decision("deny", reason="alice holds no grant for " + call.tool.name)
        return ALLOW


KEYS = APIKeyVerifier({"key-alice": "alice", "key-bob": "bob"}.get)


@pytest.fixture
async def http_server(emulator: Any) -> Any:
    from box_mcp.box.client import BoxClient, StaticToken

    box = BoxClient(token_source=StaticToken(emulator.token("ada")), base_url=emulator.base_url)
    policy = _PerAgent()
    server = build_server(Settings.load(env={}), box_client=box, policy=policy)
    sock = bind(0)
    app = create_http_app(server, host="127.0.0.1", port=sock.getsockname()[1], verifier=KEYS)
    try:
        async with serving(app, sock) as served:
            yield served, policy
    finally:
        await box.aclose()


async def test_http_port_identifies_agents_filters_tools_and_denies_without_a_box_request(
    http_server: Any,
) -> None:
    served, policy = http_server
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers={"Authorization": "Bearer key-alice"}) as http:
        async with Client(streamable_http_client(served.url + "/mcp", http_client=http)) as alice:
            alice_tools = [t.name for t in (await alice.list_tools()).tools]
            me = await alice.call_tool("who_am_i", {})
            denied = await alice.call_tool("get_folder_details", {"folder_id": "0"})
    async with httpx2.AsyncClient(headers={"Authorization": "Bearer key-bob"}) as http:
        async with Client(streamable_http_client(served.url + "/mcp", http_client=http)) as bob:
            bob_tools = (await bob.list_tools()).tools
            root = await bob.call_tool("get_folder_details", {"folder_id": "0"})
    assert alice_tools == ["who_am_i"] and len(bob_tools) == len(select())  # Bob: every tool served
    assert not me.is_error and me.structured_content["login"] == "ada@acme.example"
    assert denied.is_error and "alice holds no grant" in denied.content[0].text
    assert not root.is_error
    assert policy.agents == ["alice", "alice", "bob"]


async def test_http_without_a_valid_key_gets_401_with_www_authenticate(http_server: Any) -> None:
    served, _ = http_server
    async with httpx2.AsyncClient() as http:
        none = await http.post(served.url + "/mcp", json=INIT, headers=MCP_HEADERS)
        wrong = await http.post(
            served.url + "/mcp", json=INIT, headers=MCP_HEADERS | {"Authorization": "Bearer x"}
        )
        health = await http.get(served.url + "/healthz")
    assert none.status_code == wrong.status_code == 401
    assert none.headers["www-authenticate"].startswith("Bearer")
    assert health.status_code == 200 and health.json()["status"] == "ok"


async def test_http_rejects_foreign_host_and_origin_headers(http_server: Any) -> None:
    served, _ = http_server
    auth = {"Authorization": "Bearer key-bob"}
    async with httpx2.AsyncClient() as http:
        bad_host = await http.post(
            served.url + "/mcp", json=INIT, headers=MCP_HEADERS | auth | {"Host": "evil.example"}
        )
        bad_origin = await http.post(
            served.url + "/mcp", json=INIT, headers=MCP_HEADERS | auth | {"Origin": "http://evil.example"}
        )
        good = await http.post(
            served.url + "/mcp", json=INIT, headers=MCP_HEADERS | auth | {"Origin": "http://localhost:3000"}
        )
    assert bad_host.status_code in (400, 403, 421)
    assert bad_origin.status_code in (400, 403)
    assert good.status_code == 200


def test_binding_beyond_loopback_without_inbound_auth_is_refused() -> None:
    from box_mcp.box.client import BoxClient, StaticToken

    server = build_server(Settings.load(env={}), box_client=BoxClient(token_source=StaticToken("t")))
    with pytest.raises(ConfigError, match="without inbound authentication"):
        create_http_app(server, host="0.0.0.0", port=8000)  # noqa: S104


async def test_demo_script_only_runs_a_session_and_exits(tmp_path: Path) -> None:
    import anyio

    from box_mcp import demo

    lines: list[str] = []
    with anyio.fail_after(60):
        code = await anyio.to_thread.run_sync(
            lambda: demo.run(port=0, data_dir=tmp_path, script_only=True, out=lines.append)
        )
    text = "\n".join(lines)
    for expected in (
        "claude mcp add --transport http",
        '"mcpServers"',
        '"servers"',
        "-> who_am_i",
        "-> create_folder",
        "<- error: Invalid arguments for create_folder",
        "<- error: Denied: delete_folder",
        "chain ok",
    ):
        assert expected in text
    assert "ada@acme.example" in text and 'developer_token":' not in text
    assert code == 0
    assert (tmp_path / "emulator" / "credentials.json").exists()


async def test_a_4_mib_base64_upload_fits_through_http(http_server: Any) -> None:
    import base64

    from mcp.client.streamable_http import streamable_http_client

    served, _ = http_server
    payload = base64.b64encode(b"\x01" * (4 * 1024 * 1024)).decode()
    async with httpx2.AsyncClient(headers={"Authorization": "Bearer key-bob"}, timeout=60) as http:
        async with Client(streamable_http_client(served.url + "/mcp", http_client=http)) as bob:
            result = await bob.call_tool(
                "upload_file", {"parent_folder_id": "0", "name": "four-mib.bin", "content_base64": payload}
            )
    assert not result.is_error, result.content[0].text
    assert result.structured_content["size"] == 4 * 1024 * 1024


def test_an_ipv6_bind_address_is_accepted_in_its_bracketed_host_form() -> None:
    from box_mcp.http.app import transport_security

    security = transport_security("2001:db8::5", 8000)
    assert "[2001:db8::5]:8000" in security.allowed_hosts and "[2001:db8::5]" in security.allowed_hosts
    assert "http://[2001:db8::5]:8000" in security.allowed_origins
    assert "2001:db8::5:8000" not in security.allowed_hosts  # not a Host header anyone sends


async def test_an_http_session_belongs_to_the_agent_that_opened_it(http_server: Any) -> None:
    """Bob holding Alice's Mcp-Session-Id cannot act inside her session (e.g. to trigger approval
    prompts on her client): the session is bound to the key that opened it, as the MCP spec advises."""
    served, _ = http_server
    alice = {"Authorization": "Bearer key-alice"}
    bob = {"Authorization": "Bearer key-bob"}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    async with httpx2.AsyncClient() as http:
        opened = await http.post(served.url + "/mcp", json=INIT, headers=MCP_HEADERS | alice)
        session = opened.headers["mcp-session-id"]
        version = {"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-06-18"}
        await http.post(served.url + "/mcp", json=initialized, headers=MCP_HEADERS | alice | version)
        hijack = await http.post(served.url + "/mcp", json=listing, headers=MCP_HEADERS | bob | version)
        own = await http.post(served.url + "/mcp", json=listing, headers=MCP_HEADERS | alice | version)
        ended_by_bob = await http.delete(served.url + "/mcp", headers=bob | version)
        still = await http.post(served.url + "/mcp", json=listing, headers=MCP_HEADERS | alice | version)
    assert opened.status_code == 200
    assert hijack.status_code == 404 and "who_am_i" not in hijack.text
    assert own.status_code == 200 and "who_am_i" in own.text
    assert ended_by_bob.status_code == 404
    assert still.status_code == 200

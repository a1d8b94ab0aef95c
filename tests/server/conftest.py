"""Fixtures for the server tests: a server on a Box client whose transport counts every request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client

from box_mcp.box.client import BoxClient, StaticToken
from box_mcp.config import Settings
from box_mcp.emulator.app import create_app
from box_mcp.server import BoxMCPServer, build_server


@dataclass
class CountingBox:
    """A Box that answers 404 to everything and remembers what reached it."""

    requests: list[httpx2.Request] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        body = {
            "type": "error",
            "status": 404,
            "code": "not_found",
            "message": "Not Found",
            "request_id": "r1",
        }
        return httpx2.Response(404, json=body)


@pytest.fixture
def counting_box() -> CountingBox:
    return CountingBox()


@pytest.fixture
async def counted_server(counting_box: CountingBox) -> AsyncIterator[BoxMCPServer]:
    box = BoxClient(
        token_source=StaticToken("test-token"),
        base_url="http://emulator",
        transport=httpx2.MockTransport(counting_box),
    )
    try:
        yield build_server(Settings.load(env={}, toolsets=("all",)), box_client=box, transport="memory")
    finally:
        await box.aclose()


@dataclass
class Emu:
    """The demo emulator in-process (ASGI transport), its seeded ids, and a request counter."""

    app: Any
    credentials: dict[str, Any]
    requests: list[httpx2.Request] = field(default_factory=list)

    def folder(self, path: str) -> str:
        return str(self.credentials["folders"][path])

    def file(self, path: str) -> str:
        return str(self.credentials["files"][path])

    def token(self, login_prefix: str = "ada") -> str:
        return next(
            u["developer_token"] for u in self.credentials["users"] if u["login"].startswith(login_prefix)
        )


@pytest.fixture
def emu() -> Iterator[Emu]:
    app = create_app(memory=True, seed="demo", rate_limits=False, base_url="http://emulator")
    try:
        yield Emu(app=app, credentials=app.state.emulator.credentials)
    finally:
        app.state.emulator.store.close()


def box_for(emu: Emu, login_prefix: str = "ada") -> BoxClient:
    inner = httpx2.ASGITransport(app=emu.app)

    class Counting(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            emu.requests.append(request)
            return await inner.handle_async_request(request)

    return BoxClient(
        token_source=StaticToken(emu.token(login_prefix)), base_url="http://emulator", transport=Counting()
    )


@pytest.fixture
async def box(emu: Emu) -> AsyncIterator[BoxClient]:
    """A Box client on the in-process emulator acting as the demo admin."""
    client = box_for(emu)
    try:
        yield client
    finally:
        await client.aclose()


@dataclass
class Tools:
    """Calls tools through an MCP client: `ok` returns structured content, `err` returns the error text."""

    client: Client

    async def ok(self, tool: str, **args: Any) -> Any:
        result = await self.client.call_tool(tool, args)
        assert not result.is_error, result.content[0].text
        return result.structured_content

    async def err(self, tool: str, **args: Any) -> str:
        result = await self.client.call_tool(tool, args)
        assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
        text = str(result.content[0].text)
        assert "Traceback" not in text
        return text


@pytest.fixture
async def tools(emu: Emu) -> AsyncIterator[Tools]:
    """Tools on an in-memory box-mcp server acting as the demo admin against the emulator."""
    box = box_for(emu)
    server = build_server(Settings.load(env={}, toolsets=("all",)), box_client=box, transport="memory")
    try:
        async with Client(server) as client:
            yield Tools(client)
    finally:
        await box.aclose()


@pytest.fixture
def allowed_dir(tmp_path: Path) -> Path:
    path = tmp_path / "allowed"
    path.mkdir()
    return path


@pytest.fixture
async def stdio_server(emu: Emu, allowed_dir: Path) -> AsyncIterator[BoxMCPServer]:
    """A server that believes it runs over stdio, with one allowed directory."""
    box = box_for(emu)
    try:
        yield build_server(
            Settings.load(env={}, allowed_dirs=(allowed_dir,), toolsets=("all",)),
            box_client=box,
            transport="stdio",
        )
    finally:
        await box.aclose()


@pytest.fixture
async def stdio_tools(stdio_server: BoxMCPServer) -> AsyncIterator[Tools]:
    async with Client(stdio_server) as client:
        yield Tools(client)

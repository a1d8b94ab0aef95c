"""Fixtures for the server tests: a server on a Box client whose transport counts every request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2
import pytest

from box_mcp.box.client import BoxClient, StaticToken
from box_mcp.config import Settings
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
        yield build_server(Settings.load(env={}), box_client=box, transport="memory")
    finally:
        await box.aclose()

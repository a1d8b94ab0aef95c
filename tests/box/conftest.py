"""Fixtures for the Box client tests: a fake clock whose sleep returns at once, and a client factory."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest

from box_mcp.box import BoxClient, StaticToken

TOKEN = "dev-token-SECRET-123"


class FakeTime:
    """A monotonic clock that only moves when the client sleeps, so back-off costs no wall time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


MakeClient = Callable[..., BoxClient]


@pytest.fixture
async def make_client(fake_time: FakeTime) -> AsyncIterator[MakeClient]:
    made: list[BoxClient] = []

    def make(handler: Callable[[httpx2.Request], Any], **kw: Any) -> BoxClient:
        kw.setdefault("token_source", StaticToken(TOKEN))
        kw.setdefault("base_url", "https://api.box.com")
        client = BoxClient(
            transport=httpx2.MockTransport(handler),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            rng=random.Random(7),  # noqa: S311  (deterministic jitter in tests)
            **kw,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def _box_error(status: int, code: str, message: str = "", **extra: Any) -> httpx2.Response:
    body = {"type": "error", "status": status, "code": code, "message": message, "request_id": "req42"}
    body.update(extra)
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(body.pop("retry_after"))
    return httpx2.Response(status, json=body, headers=headers)


@pytest.fixture
def box_error() -> Callable[..., httpx2.Response]:
    """Build a Box error response: box_error(409, "item_name_in_use", "msg", retry_after=3, ...)."""
    return _box_error

"""The session forwarder in process: what it records, what it forwards (and how), what it answers
itself. The owner replica is an httpx2 mock transport here; tests/e2e/test_replicas.py runs the real
thing with two `box-mcp serve` processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from box_mcp.http.forward import FORWARDED_HEADER, SessionForwarder
from box_mcp.state.sessions import SessionRegistry
from tests.state.pg import fresh_database

pytestmark = pytest.mark.anyio

OWNER_URL = "http://10.9.9.9:8002"


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("forward") as url:
        yield url


class Inner:
    """Stands in for the SDK's app: answers an initialize with a new session id, anything else 200."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.opened = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        session = headers.get(b"mcp-session-id")
        self.seen.append((scope["method"], session.decode() if session else None))
        extra = {}
        if session is None:
            self.opened += 1
            extra = {"mcp-session-id": f"local{self.opened}"}
        await JSONResponse({"ok": True}, headers=extra)(scope, receive, send)


class Owner:
    """The other replica, as a mock transport: records what reached it, answers an SSE-looking body."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.refuse = False

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if self.refuse:
            raise httpx2.ConnectError("refused", request=request)
        self.requests.append(request)

        async def events() -> AsyncIterator[bytes]:  # streamed in pieces, as an SSE answer comes
            yield b"event: message\n"
            yield b"data: {}\n\n"

        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=events())


@pytest.fixture
async def rig(database: str) -> AsyncIterator[dict[str, Any]]:
    url = SecretStr(database)
    owner_registry = SessionRegistry.open(url, url=OWNER_URL)
    owner_registry.register()
    owner_registry.add("theirs", agent="alice", principal=None)
    inner, owner = Inner(), Owner()
    here = SessionRegistry.open(url, url="http://127.0.0.1:8001")
    forwarder = SessionForwarder(
        inner, here, idle_timeout=None, max_body=1024, transport=httpx2.MockTransport(owner)
    )
    async with forwarder.run():
        client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=forwarder), base_url="http://lb:9000")
        async with client:
            yield {"client": client, "inner": inner, "owner": owner, "here": here, "theirs": owner_registry}
    owner_registry.close()


def _mcp(session: str | None = None, **headers: str) -> dict[str, str]:
    base = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    return base | ({"mcp-session-id": session} if session else {}) | headers


async def test_a_session_opened_here_is_registered_before_its_id_is_answered_and_served_here(
    rig: dict[str, Any],
) -> None:
    client, inner, theirs = rig["client"], rig["inner"], rig["theirs"]
    opened = await client.post("/mcp", content=b"{}", headers=_mcp())
    session = opened.headers["mcp-session-id"]
    owner = theirs.owner(session)  # what any other replica sees now
    assert owner is not None and owner.replica.replica_id == rig["here"].replica_id
    again = await client.post("/mcp", content=b"{}", headers=_mcp(session))
    assert again.status_code == 200 and inner.seen[-1] == ("POST", session)
    ended = await client.delete("/mcp", headers=_mcp(session))
    assert ended.status_code == 200 and theirs.owner(session) is None


async def test_another_replicas_session_is_forwarded_whole_with_the_clients_host_and_key(
    rig: dict[str, Any],
) -> None:
    client, owner = rig["client"], rig["owner"]
    headers = _mcp("theirs", authorization="Bearer bmcp_k", origin="http://lb:9000")
    response = await client.post("/mcp?x=1", content=b'{"jsonrpc":"2.0"}', headers=headers)
    assert response.status_code == 200 and response.text == "event: message\ndata: {}\n\n"
    assert response.headers["content-type"] == "text/event-stream"
    (sent,) = owner.requests
    assert str(sent.url) == OWNER_URL + "/mcp?x=1"
    assert sent.headers["host"] == "lb:9000"  # as the client sent it: the owner's Host guard judges it
    assert sent.headers["authorization"] == "Bearer bmcp_k"  # the owner authenticates it again
    assert sent.headers["origin"] == "http://lb:9000"
    assert sent.headers[FORWARDED_HEADER.decode()] == rig["here"].replica_id
    assert sent.content == b'{"jsonrpc":"2.0"}'
    assert rig["inner"].seen == []


async def test_a_forwarded_request_is_never_forwarded_again(rig: dict[str, Any]) -> None:
    client, inner, owner = rig["client"], rig["inner"], rig["owner"]
    headers = _mcp("theirs", **{FORWARDED_HEADER.decode(): "someone"})
    await client.post("/mcp", content=b"{}", headers=headers)
    assert owner.requests == [] and inner.seen == [("POST", "theirs")]  # the SDK answers 404 for it


async def test_an_unknown_session_or_a_dead_or_unreachable_owner_answers_404(
    rig: dict[str, Any], database: str
) -> None:
    client, owner, theirs = rig["client"], rig["owner"], rig["theirs"]
    unknown = await client.post("/mcp", content=b"{}", headers=_mcp("nobody"))
    owner.refuse = True
    refused = await client.post("/mcp", content=b"{}", headers=_mcp("theirs"))
    owner.refuse = False
    theirs.unregister()  # the owner shut down
    gone = await client.get("/mcp", headers=_mcp("theirs"))
    for response in (unknown, refused, gone):
        assert response.status_code == 404
        assert response.json()["error"]["message"] == "Session not found"
    assert owner.requests == []


async def test_the_2026_era_is_never_forwarded(rig: dict[str, Any]) -> None:
    client, inner, owner = rig["client"], rig["inner"], rig["owner"]
    await client.post("/mcp", content=b"{}", headers=_mcp("theirs", **{"mcp-protocol-version": "2026-07-28"}))
    assert owner.requests == [] and inner.seen == [("POST", "theirs")]

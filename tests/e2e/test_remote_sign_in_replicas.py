"""Remote sign-in across two replicas: two real `box-mcp serve --transport http` processes on one fresh
PostgreSQL database (same BOX_MCP_DATABASE_URL, BOX_MCP_VAULT_KEY and public URL, a data dir each), behind
a small proxy in the test standing for the balancer. The MCP python SDK's client discovers, registers
and sends the browser to /authorize on replica A; the proxy then moves to replica B, where the consent
page's POST, Box's callback and the token exchange land. The token then works on both replicas, and a
refresh rotated on A is refused as a reuse on B (which revokes the sign-in on both)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from box_mcp._serving import bind, serving
from tests.e2e.replicas import Replica, replicas
from tests.e2e.test_remote_sign_in import Person, oauth_env, people_policy
from tests.server.hostile_servers import HEADERS, encode, init_message
from tests.state.pg import fresh_database

pytestmark = pytest.mark.anyio

_HOP = {b"host", b"content-length", b"connection", b"transfer-encoding", b"content-encoding", b"keep-alive"}


@dataclass
class SwitchingProxy:
    """Forwards every request to one replica; after the first /authorize it forwards to the other one.
    Records which replica answered which path. Plain request/response (no stream is opened through it)."""

    first: Replica
    then: Replica
    http: httpx2.AsyncClient
    switched: bool = False
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        target = self.then if self.switched else self.first
        url = target.base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = [(k, v) for k, v in request.headers.raw if k.lower() not in _HOP]
        answer = await self.http.request(request.method, url, headers=headers, content=await request.body())
        self.seen.append((target.name, request.url.path))
        if request.url.path == "/authorize":
            self.switched = True
        response = Response(answer.content, status_code=answer.status_code)
        response.raw_headers = [(k, v) for k, v in answer.headers.raw if k.lower() not in _HOP] + [
            (b"content-length", str(len(answer.content)).encode())
        ]
        await response(scope, receive, send)


@asynccontextmanager
async def _two_replicas_behind_a_proxy(
    emulator: Any, tmp_path: Path, database: str
) -> AsyncIterator[tuple[SwitchingProxy, str, list[Replica]]]:
    sock = bind(0, "127.0.0.1")
    sock.listen(16)
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = oauth_env(emulator) | {
        "BOX_MCP_PUBLIC_URL": public,  # what the balancer is reached at: the same for every replica
        "BOX_CLIENT_ID": "",  # no service account: the OAuth app only, as a policy for people needs
        "BOX_CLIENT_SECRET": "",
        "BOX_ENTERPRISE_ID": "",
    }
    policy = people_policy(tmp_path)
    async with (
        replicas(emulator, tmp_path / "replicas", database, policy, extra_env=env) as group,
        httpx2.AsyncClient(follow_redirects=False, timeout=30) as forwarder,
    ):
        proxy = SwitchingProxy(group[0], group[1], forwarder)
        async with serving(proxy, sock):
            yield proxy, public, group.members


async def _who(replica: Replica, token: str) -> str:
    """who_am_i on `replica` directly (its own session, no balancer), with the bearer token."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(replica.url, http_client=http)) as client:
            result = await client.call_tool("who_am_i", {})
    assert not result.is_error, result.content
    return str((result.structured_content or {})["login"])


async def test_a_sign_in_started_on_one_replica_finishes_on_the_other_and_its_token_works_on_both(
    emulator: Any, tmp_path: Path
) -> None:
    with fresh_database("e2e_signin") as database:
        async with _two_replicas_behind_a_proxy(emulator, tmp_path, database) as (proxy, public, members):
            a, b = members
            bob = Person(f"{public}/mcp", emulator.base_url, "bob@acme.example")
            with anyio.fail_after(60):
                async with httpx2.AsyncClient(auth=bob.provider, timeout=30) as http:
                    # The SDK's whole OAuth flow runs inside this one request (401 -> ... -> retried).
                    opened = await http.post(f"{public}/mcp", content=encode(init_message()), headers=HEADERS)
            assert opened.status_code == 200, opened.text

            served = {path: name for name, path in reversed(proxy.seen)}  # the first replica per path
            assert served["/register"] == "a" and served["/authorize"] == "a"
            assert served["/oauth/consent"] == "b" and served["/oauth/box/callback"] == "b"
            assert served["/token"] == "b"

            tokens = bob.storage.tokens
            assert tokens is not None and tokens.refresh_token
            with anyio.fail_after(60):
                assert await _who(a, tokens.access_token) == "bob@acme.example"
                assert await _who(b, tokens.access_token) == "bob@acme.example"

            # One family for both replicas: rotated on A, the old refresh token is a reuse on B, which
            # revokes the sign-in everywhere (A refuses the rotated access token too, within its 2 s cache).
            client_id = bob.storage.client.client_id if bob.storage.client else ""
            async with httpx2.AsyncClient(timeout=30) as http:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": tokens.refresh_token,
                    "client_id": client_id,
                }
                rotated = await http.post(f"{a.base}/token", data=form)
                assert rotated.status_code == 200, rotated.text
                reused = await http.post(f"{b.base}/token", data=form)
                assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
                assert "already used" in reused.json()["error_description"]
                fresh = rotated.json()["access_token"]
                for replica in (b, a):
                    after = await http.post(
                        replica.url,
                        content=encode(init_message()),
                        headers=HEADERS | {"Authorization": f"Bearer {fresh}"},
                    )
                    assert after.status_code == 401, (replica.name, after.status_code)
        for member in members:
            assert not (member.data_dir / "oauth.sqlite3").exists()  # nothing kept per replica

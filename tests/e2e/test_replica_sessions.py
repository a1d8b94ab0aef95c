"""Two real `box-mcp serve --transport http` replicas on one PostgreSQL database, behind a plain
round-robin balancer (tests/e2e/balancer.py) with no sticky sessions, and a real MCP client that opens
one connection per request, so consecutive requests alternate replicas.

A legacy session (2025-11-25, Mcp-Session-Id) lives on the replica that opened it; the other forwards
its requests there: every call runs on the owner (its audit log has them all), an approval's
elicitation answer finds the waiting call, a GET stream comes through unbuffered and closing it closes
it on the owner. A session whose replica was killed answers 404 and the client initializes again on
the survivor. The 2026-07-28 era is stateless and works on either replica as it comes.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import psycopg
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from box_mcp.broker.crypto import new_key_text
from box_mcp.state.audit import PostgresAuditReader
from tests.e2e.balancer import Balancer
from tests.server.hostile_servers import HttpServer, http_server, open_http_session
from tests.state.pg import fresh_database

pytestmark = pytest.mark.anyio

ALICE, CAROL = "bmcp_alice_key_for_the_replica_test", "bmcp_carol_key_for_the_replica_test"
ONE_REQUEST_PER_CONNECTION = httpx2.Limits(max_keepalive_connections=0)


def _digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _policy(tmp_path: Path, emulator: Any) -> Path:
    ada = emulator.user_id("ada")
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\nagents:\n"
        f"  alice: {{keys: ['{_digest(ALICE)}'], acts_as: {{as_user: '{ada}'}}}}\n"
        f"  carol: {{keys: ['{_digest(CAROL)}'], acts_as: {{as_user: '{ada}'}}}}\n"
        "rules:\n"
        "  - {id: alice-reads, effect: permit, agents: [alice], access: read}\n"
        "  - {id: carol-reads, effect: permit, agents: [carol], access: read}\n"
        "  - {id: carol-asks, effect: require_approval, agents: [carol], tools: [who_am_i]}\n"
    )
    return path


@dataclass
class Replicas:
    servers: list[HttpServer]
    data: list[Path]
    balancer: Balancer
    database: str

    @property
    def url(self) -> str:
        return self.balancer.url + "/mcp"

    def tool_calls(self) -> list[dict[str, Any]]:
        """The deployment's tool-call records (one audit chain in the database for both replicas)."""
        with PostgresAuditReader.open(SecretStr(self.database)) as reader:
            return [r for r in reader.query() if r["kind"] in ("call", "intent")]

    def replica_urls(self) -> list[str]:
        with psycopg.connect(self.database, autocommit=True) as conn:
            return [str(row[0]) for row in conn.execute("SELECT url FROM replicas ORDER BY url")]

    def owner_of(self, session_id: str) -> int:
        """Which replica (index) the registry says holds `session_id`."""
        with psycopg.connect(self.database, autocommit=True) as conn:
            row = conn.execute(
                "SELECT r.url FROM mcp_sessions s JOIN replicas r USING (replica_id) WHERE session_id = %s",
                (session_id,),
            ).fetchone()
        assert row is not None, f"session {session_id} is not in the registry"
        port = int(str(row[0]).rsplit(":", 1)[1])
        return [s.port for s in self.servers].index(port)


@asynccontextmanager
async def replicas(emulator: Any, tmp_path: Path) -> AsyncIterator[Replicas]:
    policy = _policy(tmp_path, emulator)
    with fresh_database("replicas") as database:
        env = {"BOX_MCP_DATABASE_URL": database, "BOX_MCP_VAULT_KEY": new_key_text()}
        async with AsyncExitStack() as stack:
            data = [tmp_path / "a", tmp_path / "b"]
            servers = [
                await stack.enter_async_context(http_server(emulator, d, "--policy", str(policy), env=env))
                for d in data
            ]
            balancer = await stack.enter_async_context(Balancer([("127.0.0.1", s.port) for s in servers]))
            yield Replicas(servers, data, balancer, database)


def _client(url: str, key: str, **kwargs: Any) -> tuple[httpx2.AsyncClient, Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, limits=ONE_REQUEST_PER_CONNECTION)
    return http, Client(streamable_http_client(url, http_client=http), **kwargs)


async def test_a_legacy_session_works_with_every_request_alternating_replicas(
    emulator: Any, tmp_path: Path
) -> None:
    asked: list[str] = []

    async def approve(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    with anyio.fail_after(90):
        async with replicas(emulator, tmp_path) as rs:
            http, client = _client(rs.url, ALICE, mode="legacy")
            async with http, client:
                assert client.protocol_version == "2025-11-25"
                names = [t.name for t in (await client.list_tools()).tools]
                results = [await client.call_tool("get_folder_details", {"folder_id": "0"}) for _ in range(6)]
            http, asking = _client(rs.url, CAROL, mode="legacy", elicitation_callback=approve)
            async with http, asking:
                approved = [await asking.call_tool("who_am_i", {}) for _ in range(2)]
            routed = list(rs.balancer.routed)
            calls = rs.tool_calls()
            stopped = rs.servers[1].proc
            stopped.terminate()  # a graceful stop takes the replica's row with it
            await stopped.wait()
            left = rs.replica_urls()
    assert "get_folder_details" in names
    assert all(not r.is_error for r in results)
    assert left == [f"http://127.0.0.1:{rs.servers[0].port}"], [r.content for r in results]
    assert all(not r.is_error for r in approved), [r.content for r in approved]
    assert len(asked) == 2
    assert {0, 1} <= set(routed) and -1 not in routed  # both replicas took connections
    # Each client's calls all ran in its one session, so on the replica holding it (a session lives in
    # one process's memory), though half its requests reached the other replica.
    sessions = {
        agent: {r.get("session_id") for r in calls if r["agent"] == agent} for agent in ("alice", "carol")
    }
    agents = [r["agent"] for r in calls]
    assert agents.count("alice") == 6 and agents.count("carol") == 2
    assert all(len(ids) == 1 and None not in ids for ids in sessions.values()), sessions


async def test_a_get_stream_is_forwarded_unbuffered_and_closing_it_closes_it_on_the_owner(
    emulator: Any, tmp_path: Path
) -> None:
    with anyio.fail_after(60):
        async with replicas(emulator, tmp_path) as rs:
            owner, other = (f"http://127.0.0.1:{s.port}/mcp" for s in rs.servers)
            async with httpx2.AsyncClient(timeout=10) as http:
                session = await open_http_session(http, owner, {"Authorization": f"Bearer {ALICE}"})
                stream = session | {"Accept": "text/event-stream"}
                statuses = []
                for _ in range(3):  # opened and closed again through the other replica
                    # The owner allows one GET stream per session (409 for a second): each round's GET
                    # succeeds only once the previous round's close has reached the owner.
                    for _ in range(100):  # bounded: 100 x 20 ms
                        async with http.stream("GET", other, headers=stream) as response:
                            status = response.status_code
                            kind = response.headers.get("content-type", "")
                            opened = response.headers.get("mcp-session-id")
                        if status != 409:
                            break
                        await anyio.sleep(0.02)
                    statuses.append(status)
                    assert opened == session["mcp-session-id"]
                ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
                as_carol = await http.post(
                    other, json=ping, headers=session | {"Authorization": f"Bearer {CAROL}"}
                )
                as_alice = await http.post(other, json=ping, headers=session)
                stranger = await http.get(other, headers=stream | {"Authorization": "Bearer bmcp_not_a_key"})
                deleted = await http.delete(other, headers=session)
                after = await http.post(
                    other, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=session
                )
    assert statuses == [200, 200, 200]
    assert kind.startswith("text/event-stream")
    assert as_carol.status_code == 404  # the owner binds the session to alice's key, forwarded or not
    assert as_alice.status_code == 200
    assert stranger.status_code == 401  # the forwarding replica authenticates too
    assert deleted.status_code in (200, 204)
    assert after.status_code == 404


async def test_a_session_of_a_killed_replica_answers_404_and_the_client_starts_again(
    emulator: Any, tmp_path: Path
) -> None:
    with anyio.fail_after(90):
        async with replicas(emulator, tmp_path) as rs:
            urls = [f"http://127.0.0.1:{s.port}/mcp" for s in rs.servers]
            async with httpx2.AsyncClient(timeout=10) as http:
                session = await open_http_session(http, rs.url, {"Authorization": f"Bearer {ALICE}"})
                owner = rs.owner_of(session["mcp-session-id"])
                survivor = urls[1 - owner]
                rs.servers[owner].proc.kill()
                await rs.servers[owner].proc.wait()
                call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "who_am_i"}}
                lost = await http.post(survivor, json=call, headers=session)
            http, client = _client(rs.url, ALICE, mode="legacy")
            async with http, client:  # every connection now reaches the survivor
                again = await client.call_tool("get_folder_details", {"folder_id": "0"})
    assert lost.status_code == 404 and lost.json()["error"]["message"] == "Session not found"
    assert not again.is_error


async def test_the_2026_era_is_stateless_and_served_by_either_replica(emulator: Any, tmp_path: Path) -> None:
    with anyio.fail_after(60):
        async with replicas(emulator, tmp_path) as rs:
            http, client = _client(rs.url, ALICE, mode="2026-07-28")
            async with http, client:
                names = [t.name for t in (await client.list_tools()).tools]
                results = [await client.call_tool("get_folder_details", {"folder_id": "0"}) for _ in range(4)]
            routed = list(rs.balancer.routed)
            calls = rs.tool_calls()
            stopped = rs.servers[1].proc
            stopped.terminate()  # a graceful stop takes the replica's row with it
            await stopped.wait()
            left = rs.replica_urls()
    assert "get_folder_details" in names
    assert all(not r.is_error for r in results)
    assert left == [f"http://127.0.0.1:{rs.servers[0].port}"]
    assert {0, 1} <= set(routed)
    assert len(calls) == 4 and {r.get("session_id") for r in calls} == {None}  # no session: nobody owns it

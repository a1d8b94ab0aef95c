"""API keys through the door a platform team uses: `box-mcp serve --transport http` with a keyed policy.

The SDK's bearer backend and session manager do the work (box_mcp.http.auth is the TokenVerifier): no
key or a wrong key gets 401 with a Bearer challenge; each key is its agent (tools/list and decisions
differ); a session opened with one key is unknown (404) to another key and to no key; the audit names
the agent of every call. Over stdio-free HTTP, so a real MCP client library drives the good paths.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.server.hostile_servers import (
    HEADERS,
    encode,
    http_server,
    init_message,
    open_http_session,
    rpc_message,
    tool_call,
    tool_call_records,
)

pytestmark = pytest.mark.anyio

ALICE, BOB = "bmcp_alice_key_for_the_e2e_test", "bmcp_bob_key_for_the_e2e_test"


def _policy(tmp_path: Path, emulator: Any) -> Path:
    def digest(key: str) -> str:
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()

    ada = emulator.user_id("ada")
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\nagents:\n"
        f"  alice: {{keys: ['{digest(ALICE)}'], acts_as: {{as_user: '{ada}'}}}}\n"
        f"  bob: {{keys: ['{digest(BOB)}'], acts_as: {{as_user: '{ada}'}}}}\n"
        "rules:\n"
        "  - {id: alice-me, effect: permit, agents: [alice], tools: [who_am_i], access: read}\n"
        "  - {id: bob-reads, effect: permit, agents: [bob], access: read}\n"
    )
    return path


async def test_each_key_is_its_agent_and_a_session_belongs_to_the_key_that_opened_it(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    async with http_server(emulator, data, "--policy", str(_policy(tmp_path, emulator))) as server:
        async with httpx2.AsyncClient() as http:
            bare = await http.post(server.url, content=encode(init_message()), headers=HEADERS)
            wrong = await http.post(
                server.url,
                content=encode(init_message()),
                headers=HEADERS | {"Authorization": "Bearer bmcp_not_a_key"},
            )
            alice_session = await open_http_session(http, server.url, {"Authorization": f"Bearer {ALICE}"})
            as_bob = alice_session | {"Authorization": f"Bearer {BOB}"}
            hijack = await http.post(server.url, content=encode(tool_call(5, "who_am_i", {})), headers=as_bob)
            no_key = {k: v for k, v in alice_session.items() if k != "Authorization"}
            anonymous = await http.post(
                server.url, content=encode(tool_call(6, "who_am_i", {})), headers=no_key
            )
            own = await http.post(
                server.url, content=encode(tool_call(7, "who_am_i", {})), headers=alice_session
            )
        for key, agent in ((ALICE, "alice"), (BOB, "bob")):
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http:
                async with Client(streamable_http_client(server.url, http_client=http)) as client:
                    names = [t.name for t in (await client.list_tools()).tools]
                    folder = await client.call_tool("get_folder_details", {"folder_id": "0"})
            if agent == "alice":
                assert names == ["who_am_i"]
                assert folder.is_error and folder.content[0].text.startswith("Denied: ")
            else:
                assert "get_folder_details" in names and "who_am_i" in names
                assert not folder.is_error, folder.content[0].text
    for response in (bare, wrong, anonymous):
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer ")
    # RFC 6750 §3.1: an error code only when a token was presented.
    assert (
        'error="invalid_token"' in wrong.headers["www-authenticate"]
        and wrong.json()["error"] == "invalid_token"
    )
    for response in (bare, anonymous):
        assert "error=" not in response.headers["www-authenticate"]
        assert "bearer token" in response.json()["error_description"]
    assert hijack.status_code == 404  # as if the session did not exist: nothing about it leaks
    assert not rpc_message(own)["result"]["isError"]
    calls = tool_call_records(data)
    assert [(r["agent"], r["tool"]) for r in calls] == [
        ("alice", "who_am_i"),
        ("alice", "get_folder_details"),
        ("bob", "get_folder_details"),
    ]
    assert ALICE.encode() not in b"".join(p.read_bytes() for p in (data / "audit").glob("*"))

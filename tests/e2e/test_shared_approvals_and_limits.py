"""Approvals and rate limits through the door, on the 2026-07-28 protocol: real `box-mcp serve --transport
http` processes and the SDK's MCP client driving the input_required round itself.

An approved call runs once; the same sealed request_state and answer sent again are refused (and the
audit says why). Two replicas on one PostgreSQL database (one BOX_MCP_VAULT_KEY) behave as one process:
a round asked on A is answered on B, a replay on A is refused, and an agent limited to N calls a minute
gets exactly N across both. With the embedded default, a round outlives a restart of the server.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from box_mcp.broker.crypto import new_key_text
from tests.server.hostile_servers import (
    assert_audit_verifies,
    ccg_env,
    http_server,
    server_env,
    tool_call_records,
)
from tests.state.pg import fresh_database

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"
ASKS, COUNTED = "bmcp_asks_key_for_the_shared_state_test", "bmcp_counted_key_for_the_shared_state_test"
LIMIT = 5
APPROVED = types.ElicitResult(action="accept", content={"approve": True})
CLI = [sys.executable, "-m", "box_mcp.cli"]


def _digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\nagents:\n"
        f"  asks: {{keys: ['{_digest(ASKS)}']}}\n"
        f"  counted: {{keys: ['{_digest(COUNTED)}'], limits: {{calls_per_minute: {LIMIT}}}}}\n"
        "rules:\n"
        "  - {id: reads, effect: permit, agents: [asks, counted], access: read}\n"
        "  - {id: ask-me, effect: require_approval, agents: [asks], tools: [who_am_i]}\n"
    )
    return path


async def _never_asked(context: Any, params: Any) -> types.ElicitResult:
    raise AssertionError("the test answers the input_required round itself")


@asynccontextmanager
async def _client(url: str, key: str) -> AsyncIterator[Client]:
    """An MCP client of the 2026-07-28 era that can elicit (so the server asks it to approve)."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=20) as http,
        Client(
            streamable_http_client(url, http_client=http), mode=MODERN, elicitation_callback=_never_asked
        ) as c,
    ):
        yield c


async def _asked(client: Client) -> types.InputRequiredResult:
    first = await client.session.call_tool("who_am_i", {}, allow_input_required=True)
    assert isinstance(first, types.InputRequiredResult), first
    assert first.request_state and first.input_requests and "approval" in first.input_requests
    return first


async def _answer(client: Client, state: str) -> types.CallToolResult:
    result = await client.session.call_tool(
        "who_am_i", {}, input_responses={"approval": APPROVED}, request_state=state, allow_input_required=True
    )
    assert isinstance(result, types.CallToolResult), result
    return result


def _spent(result: types.CallToolResult) -> bool:
    text = result.content[0].text if isinstance(result.content[0], types.TextContent) else ""
    return bool(result.is_error) and "already used" in text and "approve this call again" in text


def _audit_cli(env: dict[str, str], data: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`box-mcp audit ...` as an auditor runs it on the deployment's database, from a data dir of its own."""
    env = {k: v for k, v in env.items() if k != "BOX_MCP_DATA_DIR"} | {"BOX_MCP_DATA_DIR": str(data)}
    return subprocess.run(  # noqa: S603
        [*CLI, "audit", *argv, "--json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _who_am_i_outcomes(data: Path) -> list[tuple[str, str]]:
    return [
        (r["outcome"]["status"], r["outcome"].get("message") or "")
        for r in tool_call_records(data)
        if r["tool"] == "who_am_i"
    ]


async def test_an_approved_call_runs_once_and_the_same_answer_sent_again_is_refused(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    async with http_server(
        emulator, data, "--policy", str(_policy(tmp_path)), env=ccg_env(emulator)
    ) as server:
        async with _client(server.url, ASKS) as client:
            with anyio.fail_after(30):
                asked = await _asked(client)
                assert asked.request_state is not None
                approved = await _answer(client, asked.request_state)
                replayed = await _answer(client, asked.request_state)
                again = await _answer(client, asked.request_state)
    assert not approved.is_error, approved.content
    assert (approved.structured_content or {}).get("login", "").startswith("AutomationUser_")
    assert _spent(replayed) and _spent(again)
    outcomes = _who_am_i_outcomes(data)
    assert [status for status, _ in outcomes] == ["ok", "denied", "denied"]  # the round itself is no call
    assert all("already used" in message for _, message in outcomes[1:])
    assert_audit_verifies(data)


async def test_two_replicas_on_one_database_share_approvals_and_rate_limits(
    emulator: Any, tmp_path: Path
) -> None:
    policy = _policy(tmp_path)
    with fresh_database("e2e_shared") as database:
        env = ccg_env(emulator) | {"BOX_MCP_DATABASE_URL": database, "BOX_MCP_VAULT_KEY": new_key_text()}
        served_env: dict[str, str] = {}
        async with (
            http_server(emulator, tmp_path / "a", "--policy", str(policy), env=env) as a,
            http_server(emulator, tmp_path / "b", "--policy", str(policy), env=env) as b,
        ):
            served_env = server_env(emulator, tmp_path / "auditor", **env)
            async with _client(a.url, ASKS) as on_a, _client(b.url, ASKS) as on_b:
                with anyio.fail_after(30):
                    asked = await _asked(on_a)
                    assert asked.request_state is not None
                    approved = await _answer(on_b, asked.request_state)  # asked on A, answered on B
                    replayed = await _answer(on_a, asked.request_state)  # A knows B spent it
            assert not approved.is_error, approved.content
            assert _spent(replayed)

            results: list[types.CallToolResult] = []
            async with _client(a.url, COUNTED) as counted_a, _client(b.url, COUNTED) as counted_b:

                async def call(client: Client) -> None:
                    results.append(await client.call_tool("get_folder_details", {"folder_id": "0"}))

                with anyio.fail_after(30):
                    async with anyio.create_task_group() as tg:
                        for i in range(3 * LIMIT):  # concurrently, half on each replica
                            tg.start_soon(call, counted_a if i % 2 else counted_b)
        auditor = tmp_path / "auditor"
        verify = await anyio.to_thread.run_sync(_audit_cli, served_env, auditor, "verify")
        query = await anyio.to_thread.run_sync(_audit_cli, served_env, auditor, "query", "--tool", "who_am_i")
    admitted = [r for r in results if not r.is_error]
    refused = [
        r.content[0].text for r in results if r.is_error and isinstance(r.content[0], types.TextContent)
    ]
    assert len(admitted) == LIMIT and len(refused) == 2 * LIMIT
    assert all(
        t.startswith(f"Denied: counted reached its limit of {LIMIT} calls per minute; retry in ")
        for t in refused
    )
    assert verify.returncode == 0 and json.loads(verify.stdout)["status"] == "ok", (
        verify.stdout + verify.stderr
    )
    found = [json.loads(line) for line in query.stdout.splitlines()]  # one chain for both
    calls = [r["outcome"] for r in found if r["kind"] in ("call", "outcome")]
    assert [c["status"] for c in calls] == ["ok", "denied"]  # approved on B, then the replay on A
    assert "already used" in calls[1]["message"]
    steps = [r["detail"]["action"] for r in found if r["kind"] == "approval"]
    assert steps == ["created", "approved", "used"]  # asked on A; decided and used on B
    assert not (tmp_path / "a" / "request_state.key").exists()  # the key is the database's, not a file


async def test_an_approval_round_outlives_a_restart_of_the_server(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ("--policy", str(_policy(tmp_path)))
    async with http_server(emulator, data, *args, env=ccg_env(emulator)) as first:
        async with _client(first.url, ASKS) as client:
            with anyio.fail_after(30):
                asked = await _asked(client)
    assert asked.request_state is not None
    async with http_server(emulator, data, *args, env=ccg_env(emulator)) as second:  # same data dir
        async with _client(second.url, ASKS) as client:
            with anyio.fail_after(30):
                approved = await _answer(client, asked.request_state)
    async with http_server(emulator, data, *args, env=ccg_env(emulator)) as third:  # and again
        async with _client(third.url, ASKS) as client:
            with anyio.fail_after(30):
                replayed = await _answer(client, asked.request_state)
    assert not approved.is_error, approved.content
    assert _spent(replayed)  # the use was remembered across the restart too
    assert [s for s, _ in _who_am_i_outcomes(data)] == ["ok", "denied"]

"""Approvals by an admin through the door: real `box-mcp serve --transport http` processes, the SDK's MCP
client over HTTP, and the `box-mcp approvals` command an admin runs on the server's state.

A call held for an admin answers "waiting for approval" with the record's id and the console URL; the
approval, given with the CLI while the server is down, outlives the restart and lets the retried call
run once. A call held with `hold:` waits while the admin approves it from the CLI, then runs. A client
of the 2026-07-28 era that declared no elicitation gets -32021 (HTTP 400) when only the caller may
approve.
"""

from __future__ import annotations

import hashlib
import json
import re
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
from mcp.shared.exceptions import MCPError

from tests.server.hostile_servers import (
    assert_audit_verifies,
    audit_records,
    ccg_env,
    http_server,
    server_env,
)

pytestmark = pytest.mark.anyio

MODERN = "2026-07-28"
KEY = "bmcp_admin_approvals_key_for_the_e2e_test"
CLI = [sys.executable, "-m", "box_mcp.cli"]


def _policy(tmp_path: Path, approval: str) -> Path:
    digest = "sha256:" + hashlib.sha256(KEY.encode()).hexdigest()
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\nagents:\n"
        f"  asks: {{keys: ['{digest}']}}\n"
        "rules:\n"
        "  - {id: reads, effect: permit, agents: [asks], access: read}\n"
        "  - {id: ask-admin, effect: require_approval, agents: [asks], tools: [who_am_i],\n"
        f"     approval: {approval}}}\n"
    )
    return path


@asynccontextmanager
async def _client(url: str, statuses: list[int] | None = None) -> AsyncIterator[Client]:
    """A 2026-07-28 MCP client with no elicitation callback (so it declares no elicitation)."""

    async def seen(response: httpx2.Response) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    async with (
        httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {KEY}"}, timeout=30, event_hooks={"response": [seen]}
        ) as http,
        Client(streamable_http_client(url, http_client=http), mode=MODERN) as c,
    ):
        yield c


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [*CLI, "approvals", *argv], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _text(result: types.CallToolResult) -> str:
    first = result.content[0]
    return first.text if isinstance(first, types.TextContent) else ""


async def test_an_admin_approval_given_while_the_server_is_down_runs_the_call_once(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    args = ("--policy", str(_policy(tmp_path, "{by: [admin]}")))
    env = server_env(emulator, data, **ccg_env(emulator))
    async with http_server(emulator, data, *args, env=ccg_env(emulator)) as first:
        async with _client(first.url) as client:
            with anyio.fail_after(30):
                waiting = await client.call_tool("who_am_i", {})
    text = _text(waiting)
    assert waiting.is_error and text.startswith("Waiting for approval"), text
    found = re.search(r"(apr_[A-Za-z0-9_-]{22})", text)
    assert found is not None
    approval_id = found.group(1)
    assert f"http://127.0.0.1:{first.port}/console/approvals/{approval_id}" in text

    listed = await anyio.to_thread.run_sync(_cli, env, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["id"] == approval_id and row["status"] == "pending" and row["approvers"] == ["admin"]
    shown = await anyio.to_thread.run_sync(_cli, env, "show", approval_id)
    assert "who_am_i" in shown.stdout and "an admin of this server" in shown.stdout
    approved = await anyio.to_thread.run_sync(_cli, env, "approve", approval_id, "--reason", "checked")
    assert approved.returncode == 0, approved.stderr
    twice = await anyio.to_thread.run_sync(_cli, env, "deny", approval_id, "--reason", "changed my mind")
    assert twice.returncode == 1 and "already decided: approved by admin:" in twice.stderr
    unknown = await anyio.to_thread.run_sync(
        _cli, env, "approve", "apr_nosuchidnosuchidnosuch", "--reason", "x"
    )
    assert unknown.returncode == 1 and "unknown id" in unknown.stderr

    async with http_server(emulator, data, *args, env=ccg_env(emulator)) as second:  # a restart
        async with _client(second.url) as client:
            with anyio.fail_after(30):
                ran = await client.call_tool("who_am_i", {})
                again = await client.call_tool("who_am_i", {})
    assert not ran.is_error, _text(ran)
    assert (ran.structured_content or {}).get("login", "").startswith("AutomationUser_")
    assert (
        again.is_error and _text(again).startswith("Waiting for approval") and approval_id not in _text(again)
    )
    used = await anyio.to_thread.run_sync(_cli, env, "list", "--status", "used", "--json")
    assert [json.loads(line)["id"] for line in used.stdout.splitlines()] == [approval_id]
    steps = [
        (r["detail"]["action"], r["detail"].get("by")) for r in audit_records(data) if r["kind"] == "approval"
    ]
    assert [a for a, _ in steps] == ["created", "approved", "used", "created"]
    assert steps[1][1] is not None and steps[1][1].startswith("admin:")  # the CLI's decision, audited
    [ran_record] = [r for r in audit_records(data) if r["kind"] == "call" and r["outcome"]["status"] == "ok"]
    assert ran_record["detail"]["approval"] == {"id": approval_id, "by": steps[1][1]}
    assert_audit_verifies(data)


async def test_a_held_call_runs_when_an_admin_approves_it_with_the_cli_while_it_waits(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = server_env(emulator, data, **ccg_env(emulator))
    policy = _policy(tmp_path, "{by: [admin], hold: 30}")
    progress: list[str] = []

    async def seen(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async def approve_when_pending() -> str:
        for _ in range(200):  # bounded: 200 x 50 ms
            listed = await anyio.to_thread.run_sync(_cli, env, "list", "--status", "pending", "--json")
            rows = [json.loads(line) for line in listed.stdout.splitlines()]
            if rows:
                done = await anyio.to_thread.run_sync(_cli, env, "approve", rows[0]["id"], "--reason", "ok")
                assert done.returncode == 0, done.stderr
                return str(rows[0]["id"])
            await anyio.sleep(0.05)
        raise AssertionError("no pending approval appeared")

    result: list[types.CallToolResult] = []
    async with http_server(emulator, data, "--policy", str(policy), env=ccg_env(emulator)) as server:
        async with _client(server.url) as client:

            async def call() -> None:
                result.append(await client.call_tool("who_am_i", {}, progress_callback=seen))

            with anyio.fail_after(40):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call)
                    approval_id = await approve_when_pending()
    [ran] = result
    assert not ran.is_error, _text(ran)
    assert any(approval_id in m and "waiting for approval" in m for m in progress)
    assert_audit_verifies(data)


async def test_a_2026_client_without_elicitation_gets_missing_capability_over_http(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    policy = _policy(tmp_path, "{by: [caller]}")
    statuses: list[int] = []
    async with http_server(emulator, data, "--policy", str(policy), env=ccg_env(emulator)) as server:
        async with _client(server.url, statuses) as client:
            with anyio.fail_after(30), pytest.raises(MCPError) as raised:
                await client.call_tool("who_am_i", {})
    assert raised.value.error.code == -32021
    assert "elicitation" in raised.value.error.message
    assert raised.value.error.data == {"requiredCapabilities": {"elicitation": {"form": {}}}}
    assert statuses[-1] == 400

"""Two real `box-mcp serve --transport http` replicas on one PostgreSQL, as a team runs them: a person's
Box grant rotated by replica A is used by replica B without a second refresh, and calls made through
both are one history that `box-mcp audit verify` (the real command) proves intact."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from box_mcp.broker.vault import GrantRecord
from box_mcp.emulator.testing import running_emulator
from box_mcp.state.vault import PostgresVault
from tests.e2e.replicas import WRITER_KEY, headers, key_digest, replicas
from tests.e2e.test_tool_matrix import sign_in
from tests.state.pg import fresh_database

pytestmark = pytest.mark.anyio

CLI = [sys.executable, "-m", "box_mcp.cli"]
GRANT = "user:default"
TTL = 128  # seconds an emulator access token lives (B must call within TTL - 120 s of A's refresh)
STALE_AFTER = TTL - 120  # the broker's renewal margin is 120 s


def _person_policy(path: Path) -> Path:
    path.write_text(
        "version: 1\nagents:\n"
        f"  person: {{keys: ['{key_digest(WRITER_KEY)}'], acts_as: {{user_grant: default}}}}\n"
        "rules:\n  - {id: account, effect: permit, agents: [person], tools: [who_am_i]}\n"
    )
    return path


async def _who_am_i(url: str) -> dict[str, Any]:
    async with httpx2.AsyncClient(headers=headers(), timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("who_am_i", {})
    assert not result.is_error, result.content
    return result.structured_content or {}


def _token_requests(log: Any, mark: int) -> int:
    return sum(1 for method, path in log.since(mark) if method == "POST" and path == "/oauth2/token")


def _read_audit(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], ...]:
    """`box-mcp audit verify` and `audit query` as an auditor runs them, on another data dir."""
    return tuple(
        subprocess.run(  # noqa: S603
            [*CLI, "audit", *argv, "--json"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        for argv in (["verify"], ["query", "--tool", "who_am_i"])
    )


async def test_a_grant_rotated_by_one_replica_is_used_by_the_other_and_both_write_one_chain(
    tmp_path: Path,
) -> None:
    with (
        running_emulator(
            memory=True, seed="demo", rate_limits=False, count_requests=True, token_ttl=TTL
        ) as box,
        fresh_database("replicas") as database,
    ):
        log = box.app.state.request_log
        policy = _person_policy(tmp_path / "policy.yaml")
        oauth = box.credentials["oauth"]
        extra = {
            "BOX_OAUTH_CLIENT_ID": oauth["client_id"],
            "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"],
            "BOX_MCP_DOWNSCOPE": "false",  # so every POST /oauth2/token counted below is a refresh
        }
        async with replicas(box, tmp_path, database, policy, extra_env=extra) as group:
            env = group[0].env
            bob = next(u for u in box.credentials["users"] if u["role"] == "user")
            await anyio.to_thread.run_sync(sign_in, box, env, bob["id"])  # into the database's vault
            signed_in = time.monotonic()
            # Box issues access tokens for TTL seconds; a replica renews one 120 s before it expires, so
            # the token the sign-in stored is stale for every replica STALE_AFTER seconds later.
            await anyio.sleep(max(0.0, signed_in + STALE_AFTER + 0.2 - time.monotonic()))
            vault = PostgresVault.open(SecretStr(database), SecretStr(group.vault_key))
            try:
                stored = vault.get(GRANT)
                assert isinstance(stored, GrantRecord) and stored.refresh_token
                mark = log.mark()
                assert (await _who_am_i(group[0].url))["login"] == "bob@acme.example"
                assert _token_requests(log, mark) == 1
                rotated = vault.get(GRANT)
                assert rotated is not None and rotated.refresh_token != stored.refresh_token
                # ... and B uses what A stored: no second refresh, the grant's generation unchanged.
                mark = log.mark()
                assert (await _who_am_i(group[1].url))["login"] == "bob@acme.example"
                assert _token_requests(log, mark) == 0  # B found A's fresh token in the vault
                after = vault.get(GRANT)
                assert after is not None and after.generation == rotated.generation
            finally:
                vault.close()
        env = {k: v for k, v in env.items() if k != "BOX_MCP_DATA_DIR"} | {
            "BOX_MCP_DATA_DIR": str(tmp_path / "auditor")
        }
        verify, query = await anyio.to_thread.run_sync(_read_audit, env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    report = json.loads(verify.stdout)
    assert report["status"] == "ok" and report["files"] == 1
    calls = [json.loads(line) for line in query.stdout.splitlines()]
    assert len(calls) == 2 and all(c["outcome"]["status"] == "ok" for c in calls)
    assert {c["kind"] for c in calls} == {"call"}
    assert not (tmp_path / "replica-a" / "audit").exists() and not (tmp_path / "replica-b" / "audit").exists()

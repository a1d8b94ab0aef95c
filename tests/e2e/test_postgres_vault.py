"""The token vault on PostgreSQL, end to end: `box-mcp auth login --database-url ...` stores a person's
grant in the database, a real `box-mcp serve --transport stdio` with BOX_MCP_DATABASE_URL acts as that
person, no SQLite vault is ever created, and a refresh-token rotation by one broker is used by another
on the same database without a second refresh."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from box_mcp.box.client import BoxClient
from box_mcp.broker.broker import Broker, IdentitySpec
from box_mcp.broker.crypto import new_key_text
from box_mcp.config import Settings
from box_mcp.emulator.testing import RunningEmulator, running_emulator
from box_mcp.state.vault import PostgresVault
from tests.e2e.test_tool_matrix import sign_in
from tests.state.pg import fresh_database

pytestmark = pytest.mark.anyio

CLI = [sys.executable, "-m", "box_mcp.cli"]
PERSON = IdentitySpec(kind="user_grant")
KEY = "user:default"


def _env(home: Path, box: RunningEmulator, database: str) -> dict[str, str]:
    oauth = box.credentials["oauth"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    return env | {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "xdg"),
        "BOX_MCP_DATA_DIR": str(home / "data"),
        "BOX_MCP_DATABASE_URL": database,
        "BOX_MCP_VAULT_KEY": new_key_text(),
        "BOX_OAUTH_CLIENT_ID": oauth["client_id"],
        "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"],
    }


def _sign_in(box: RunningEmulator, env: dict[str, str], user_id: str) -> None:
    """`box-mcp auth login`, the database named by the flag (the environment's variable removed)."""
    flag_env = {k: v for k, v in env.items() if k != "BOX_MCP_DATABASE_URL"}
    sign_in(box, flag_env, user_id, "--database-url", env["BOX_MCP_DATABASE_URL"])


def _policy(path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "default_agent": "person",
                "agents": {
                    "person": {
                        "description": "acts as the signed-in person",
                        "acts_as": {"user_grant": "default"},
                    }
                },
                "rules": [{"id": "account", "effect": "permit", "agents": ["person"], "tools": ["who_am_i"]}],
            }
        )
    )
    return path


async def _who_am_i(env: dict[str, str], box: RunningEmulator, policy: Path) -> dict[str, Any]:
    args = ["serve", "--transport", "stdio", "--box-url", box.base_url, "--policy", str(policy)]
    params = StdioServerParameters(command=CLI[0], args=[*CLI[1:], *args], env=env)
    async with Client(params) as client:
        result = await client.call_tool("who_am_i", {})
    assert not result.is_error, result.content
    return result.structured_content or {}


async def _login_of(broker: Broker, box: RunningEmulator) -> str:
    source = await broker.token_source(PERSON)
    async with BoxClient(token_source=source, base_url=box.base_url, max_attempts=1) as client:
        me = await client.get("/users/me", params={"fields": "login"})
    return str(me["login"])


async def test_a_grant_signed_in_to_postgresql_serves_calls_and_one_rotation_serves_every_broker(
    tmp_path: Path,
) -> None:
    with (
        running_emulator(memory=True, seed="demo", rate_limits=False) as box,
        fresh_database("e2e_vault") as database,
    ):
        env = _env(tmp_path, box, database)
        bob = next(u for u in box.credentials["users"] if u["role"] == "user")
        await anyio.to_thread.run_sync(_sign_in, box, env, bob["id"])

        with anyio.fail_after(60):
            me = await _who_am_i(env, box, _policy(tmp_path / "policy.yaml"))
        assert me["login"] == "bob@acme.example"
        data = tmp_path / "data"
        assert not (data / "vault.sqlite3").exists() and not (data / "vault.key").exists()

        # Two replicas' brokers on the one database. The stored access token runs out: A rotates.
        settings = Settings.load(env=env, box_url=box.base_url)
        replica_a, replica_b = Broker.from_settings(settings), Broker.from_settings(settings)
        try:
            vault = replica_a.vault
            assert isinstance(vault, PostgresVault)
            stored = vault.get(KEY)
            assert stored is not None and stored.refresh_token
            vault.put(replace(stored, access_expires_at=0.0), expect_generation=stored.generation)
            stale = vault.get(KEY)
            assert stale is not None

            assert await _login_of(replica_a, box) == "bob@acme.example"
            rotated = vault.get(KEY)
            assert rotated is not None and rotated.generation == stale.generation + 1
            assert rotated.refresh_token != stale.refresh_token  # Box rotated it; the old one is spent

            # B uses what A stored: the same access token, no refresh (the generation stays).
            assert await _login_of(replica_b, box) == "bob@acme.example"
            assert await replica_b.session(PERSON).access_token() == rotated.access_token
            after = replica_b.vault.get(KEY)
            assert after is not None and after.generation == rotated.generation
            assert after.refresh_token == rotated.refresh_token
        finally:
            await replica_a.aclose()
            await replica_b.aclose()

        with anyio.fail_after(60):  # and a fresh server process still acts as the person
            assert (await _who_am_i(env, box, tmp_path / "policy.yaml"))["login"] == "bob@acme.example"
        assert not (data / "vault.sqlite3").exists()

"""`box-mcp auth login | status | logout` as a person runs them: real processes, a loopback emulator."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from box_mcp.broker.crypto import new_key_text
from tests.broker.conftest import emptied_vault

pytestmark = pytest.mark.anyio


def _env(emulator: Any, tmp_path: Path) -> dict[str, str]:
    oauth = emulator.credentials["oauth"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    return env | {
        "BOX_OAUTH_CLIENT_ID": oauth["client_id"],
        "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"],
        "BOX_MCP_VAULT_KEY": new_key_text(),
        "BOX_MCP_DATA_DIR": str(tmp_path),
        "BOX_MCP_BOX_URL": emulator.base_url,
    }


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = await anyio.run_process([sys.executable, "-m", "box_mcp.cli", "auth", *args], env=env, check=False)
    return done.returncode or 0, done.stdout.decode(), done.stderr.decode()


async def test_login_status_and_logout_from_the_command_line(
    emulator: Any, tmp_path: Path, approve: Any
) -> None:
    env = _env(emulator, tmp_path)
    with anyio.fail_after(60):
        async with await anyio.open_process(
            [sys.executable, "-m", "box_mcp.cli", "auth", "login", "--no-browser", "--user-label", "work"],
            env=env,
        ) as process:
            assert process.stderr is not None and process.stdout is not None
            seen = b""
            while (match := re.search(rb"(http://\S+/oauth2/authorize\?\S+)", seen)) is None:
                seen += await process.stderr.receive()
            async with httpx2.AsyncClient() as http:
                await http.get(await approve(http, match.group(1).decode()))
            out = b""
            async for chunk in process.stdout:
                out += chunk
            assert await process.wait() == 0
    assert "Signed in as ada@acme.example" in out.decode() and "user_grant, label: work" in out.decode()
    assert (tmp_path / "vault.sqlite3").stat().st_mode & 0o777 == 0o600

    code, status, _ = await _cli(env, "status", "--check")
    assert code == 0, status
    assert re.search(r"work\s+ada@acme.example\s+ok", status) and "check work: ok" in status

    code, out_text, _ = await _cli(env, "logout", "--user-label", "work")
    assert code == 0 and "revoked at Box and deleted" in out_text
    code, status, _ = await _cli(env, "status")
    assert "Stored sign-ins: none" in status


async def test_login_without_an_oauth_app_says_what_to_set(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    code, _, err = await _cli(env | {"BOX_MCP_DATA_DIR": str(tmp_path)}, "login", "--no-browser")
    assert code == 2 and "BOX_OAUTH_CLIENT_ID" in err and "Traceback" not in err


async def test_bad_vault_key_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "vault.sqlite3").touch(mode=0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    env |= {"BOX_MCP_DATA_DIR": str(tmp_path), "BOX_MCP_VAULT_KEY": "short"}
    code, _, err = await _cli(env, "status")
    assert code == 2 and "BOX_MCP_VAULT_KEY" in err and "Traceback" not in err


async def test_status_and_logout_on_the_postgresql_vault_show_the_url_masked(
    emulator: Any, tmp_path: Path, broker_database: str
) -> None:
    from pydantic import SecretStr

    from box_mcp.broker.vault import GrantRecord
    from box_mcp.state.vault import PostgresVault

    env = _env(emulator, tmp_path)
    url = broker_database.replace("postgres@", "postgres:db-pass-secret@", 1)  # trust auth ignores it
    emptied_vault(broker_database)  # the worker's database holds other tests' grants, under other keys
    vault = PostgresVault.open(SecretStr(url), SecretStr(env["BOX_MCP_VAULT_KEY"]))
    vault.put(
        GrantRecord(
            key="user:pg",
            kind="user_grant",
            access_token="AT-pg",
            access_expires_at=0.0,
            refresh_token="RT-pg",
            user_login="ada@acme.example",
        ),
        expect_generation=None,
    )
    vault.close()

    code, status, err = await _cli(env, "status", "--database-url", url)
    assert code == 0, err
    assert "db-pass-secret" not in status + err
    assert "vault: postgresql://postgres:***@127.0.0.1" in status
    assert re.search(r"pg\s+ada@acme.example\s+ok", status), status

    code, out_text, err = await _cli(
        env | {"BOX_MCP_DATABASE_URL": url}, "logout", "--user-label", "pg", "--forget"
    )
    assert code == 0, err
    assert "Signed out 'pg'" in out_text and "db-pass-secret" not in out_text + err
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240  # no SQLite vault, no key file

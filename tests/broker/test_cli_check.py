"""`box-mcp auth status --check` asks Box about every identity: the real command against a real emulator."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import SecretStr

from box_mcp.broker.crypto import new_key_text
from box_mcp.broker.vault import GrantRecord, SQLiteVault

pytestmark = pytest.mark.anyio


def _env(emulator: Any, tmp_path: Path, **box: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_", "XDG_"))}
    return (
        env
        | box
        | {
            "BOX_MCP_DATA_DIR": str(tmp_path),
            "BOX_MCP_BOX_URL": emulator.base_url,
            "HOME": str(tmp_path),
            "BOX_MCP_VAULT_KEY": box.get("BOX_MCP_VAULT_KEY", new_key_text()),
        }
    )


async def _check(env: dict[str, str]) -> tuple[int, list[str]]:
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-m", "box_mcp.cli", "auth", "status", "--check"], env=env, check=False
        )
    assert b"Traceback" not in done.stderr, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    return done.returncode or 0, [line for line in lines if line.startswith("check")]


def _user(emulator: Any, role: str) -> dict[str, str]:
    return dict(next(u for u in emulator.credentials["users"] if u["role"] == role))


async def test_a_wrong_developer_token_is_not_ok_and_exits_1(emulator: Any, tmp_path: Path) -> None:
    code, lines = await _check(_env(emulator, tmp_path, BOX_DEVELOPER_TOKEN="not-a-token-box-knows"))
    assert code == 1
    assert lines == [
        "check developer_token: FAILED: Box refused the developer token (they expire 60 minutes after they "
        "are made): generate a new one in the Box developer console and set BOX_DEVELOPER_TOKEN, then "
        "restart box-mcp"
    ]


async def test_a_right_developer_token_is_ok_and_names_the_user_box_sees(
    emulator: Any, tmp_path: Path
) -> None:
    ada = _user(emulator, "admin")
    code, lines = await _check(_env(emulator, tmp_path, BOX_DEVELOPER_TOKEN=ada["developer_token"]))
    ok = f"check developer_token: ok, Box says this is {ada['login']} (user id {ada['id']})"
    assert (code, lines) == (0, [ok])


async def test_client_credentials_are_checked_with_a_token_request_and_users_me(
    emulator: Any, tmp_path: Path
) -> None:
    ccg = emulator.credentials["ccg"]
    service = _user(emulator, "service_account")
    good = {
        "BOX_CLIENT_ID": ccg["client_id"],
        "BOX_CLIENT_SECRET": ccg["client_secret"],
        "BOX_ENTERPRISE_ID": ccg["enterprise_id"],
    }
    code, lines = await _check(_env(emulator, tmp_path, **good))
    assert (code, lines) == (
        0,
        [f"check service_account: ok, Box says this is {service['login']} (user id {service['id']})"],
    )
    code, lines = await _check(_env(emulator, tmp_path, **good | {"BOX_CLIENT_SECRET": "wrong-secret"}))
    assert (code, lines) == (
        1,
        [
            "check service_account: FAILED: Box refused the client credentials grant for client credentials "
            f"(enterprise {ccg['enterprise_id']}): invalid_client (The client credentials are invalid)"
        ],
    )


async def test_jwt_is_checked_and_one_failing_identity_fails_the_command(
    emulator: Any, tmp_path: Path
) -> None:
    config = tmp_path / "box_config.json"
    config.write_text(json.dumps(emulator.credentials["jwt_config"]))
    service = _user(emulator, "service_account")
    env = _env(emulator, tmp_path, BOX_JWT_CONFIG_FILE=str(config), BOX_DEVELOPER_TOKEN="expired-long-ago")
    code, lines = await _check(env)
    assert code == 1
    assert lines[0].startswith("check developer_token: FAILED: Box refused the developer token")
    assert lines[1] == (
        f"check service_account: ok, Box says this is {service['login']} (user id {service['id']})"
    )


def _store_grant(tmp_path: Path, key: str, access_token: str) -> None:
    vault = SQLiteVault.open(tmp_path, SecretStr(key))
    try:
        vault.put(
            GrantRecord(
                key="user:work",
                kind="user_grant",
                access_token=access_token,
                access_expires_at=time.time() + 3000,
                refresh_token="RT-that-box-never-issued",
                client_id="no-such-app",
                user_login="ada@acme.example",
            ),
            expect_generation=None,
        )
    finally:
        vault.close()


async def test_a_user_grant_with_a_fresh_token_is_checked_without_a_refresh(
    emulator: Any, tmp_path: Path
) -> None:
    # The stored refresh token is one Box never issued: a refresh would fail, so "ok" proves there was none.
    key = new_key_text()
    ada = _user(emulator, "admin")
    _store_grant(tmp_path, key, ada["developer_token"])
    code, lines = await _check(_env(emulator, tmp_path, BOX_MCP_VAULT_KEY=key))
    assert (code, lines) == (0, [f"check work: ok, Box says this is {ada['login']} (user id {ada['id']})"])


async def test_a_user_grant_whose_token_box_refuses_says_to_sign_in_again(
    emulator: Any, tmp_path: Path
) -> None:
    key = new_key_text()
    _store_grant(tmp_path, key, "AT-revoked-at-box")
    oauth = emulator.credentials["oauth"]
    env = _env(
        emulator,
        tmp_path,
        BOX_MCP_VAULT_KEY=key,
        BOX_OAUTH_CLIENT_ID=oauth["client_id"],
        BOX_OAUTH_CLIENT_SECRET=oauth["client_secret"],
    )
    code, lines = await _check(env)
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("check work: FAILED: the Box sign-in for 'work' stopped working"), lines
    assert lines[0].endswith("run `box-mcp auth login --user-label work`")


async def test_check_with_no_identity_at_all_says_so_and_exits_1(emulator: Any, tmp_path: Path) -> None:
    code, lines = await _check(_env(emulator, tmp_path))
    none = "check: no identity to check (set a credential, or run `box-mcp auth login`)"
    assert (code, lines) == (1, [none])
